"""The calendar feed kept per process (crm/meetings/ics.py ``feed_ics``; the eighth provincial-scale pass): on
PostgreSQL the body is kept under the data versions of ``FEED_KINDS``, keyed by the user's scope, until its
earliest-ending meeting leaves the 90 days. With real commits on a database of the module's own: a meeting written
shows at the next read; time alone drops a meeting exactly when it ended 90 days ago; each commissioner gets their
own feed. Every kept body equals the one written with nothing kept; on SQLite nothing is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from crm.core import cache
from crm.core.time import utcnow
from crm.extensions import db
from crm.meetings import ics
from crm.meetings.models import MeetingOfficial
from tests.conftest import assign, counting_queries, in_both_orders, make_enterprise, make_user
from tests.meetings.factories import make_meeting

BASE = "https://crm.example.cn/"


def _uids(body: bytes) -> set[str]:
    return {str(event["UID"]) for event in Calendar.from_ical(body).walk("VEVENT")}


def _feed(user, now: datetime) -> tuple[bytes, list[str]]:
    db.session.commit()  # a new transaction: what was committed since
    with counting_queries() as queries:
        body = ics.feed_ics(user, BASE, now=now)
    return body, [s for s in queries.statements if "FROM meetings" in s]


def _fresh(user, now: datetime) -> bytes:
    db.session.commit()
    cache.clear()
    return ics.feed_ics(user, BASE, now=now)


def _local(days: int) -> str:
    return (utcnow() + timedelta(days=days)).astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def test_the_feed_is_kept_until_a_meeting_is_written_or_leaves_the_90_days(committed):
    leader = make_user("leader")
    old = make_meeting(starts=_local(-80), title="八十天前的会")  # ends 3 hours after it starts
    db.session.commit()
    now = utcnow()
    cache.clear()
    body, read = _feed(leader, now)
    assert read and ics.meeting_uid(old) in _uids(body)
    again, read_again = _feed(leader, now + timedelta(hours=1))
    assert again == body
    assert (read_again == []) if cache.enabled() else read_again

    ahead = make_meeting(starts=_local(3), title="三天后的会")
    db.session.commit()
    body, read = _feed(leader, now)
    assert read and {ics.meeting_uid(old), ics.meeting_uid(ahead)} <= _uids(body)
    assert body == _fresh(leader, now)

    # nothing written: the old meeting leaves exactly 90 days after its end
    _feed(leader, now)
    end = old.ends_at
    before, _ = _feed(leader, end + ics.FEED_HISTORY - timedelta(seconds=1))
    assert ics.meeting_uid(old) in _uids(before)
    after, read = _feed(leader, end + ics.FEED_HISTORY)
    assert read and ics.meeting_uid(old) not in _uids(after) and ics.meeting_uid(ahead) in _uids(after)
    assert after == _fresh(leader, end + ics.FEED_HISTORY)
    # and the feed kept at that later moment is never served for an earlier one, which still holds the meeting
    assert ics.meeting_uid(old) in _uids(_feed(leader, end + ics.FEED_HISTORY - timedelta(seconds=1))[0])


def test_each_commissioner_gets_their_own_feed(committed):
    one, two = (make_user("commissioner", specialties=["tech"]) for _ in range(2))
    firm = make_enterprise()
    assign(firm, one)
    theirs = make_meeting(starts=_local(5), title="甲的企业参加的会", enterprises=[firm])
    booked = make_meeting(starts=_local(6), title="乙去当嘉宾的会")
    db.session.commit()
    now = utcnow()
    for user in in_both_orders(one, two):
        assert (ics.meeting_uid(theirs) in _uids(_feed(user, now)[0])) is (user is one)
    db.session.add(MeetingOfficial(meeting_id=booked.id, user_id=two.id))  # a booking moves ``meetings``
    db.session.commit()
    assert ics.meeting_uid(booked) in _uids(_feed(two, now)[0])
    assign(firm, two, "finance")  # an assignment moves ``assignments``
    db.session.commit()
    body = _feed(two, now)[0]
    assert ics.meeting_uid(theirs) in _uids(body)
    assert body == _fresh(two, now)
