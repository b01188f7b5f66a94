"""Meetings as iCalendar: valid RFC 5545 parsed back with ``icalendar``; stable UIDs, SEQUENCE, cancelled kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from icalendar import Calendar, Event

from crm.core.time import SHANGHAI, to_local
from crm.extensions import db
from crm.meetings import domain, ics
from crm.meetings.models import MeetingKind, MeetingStatus
from tests.conftest import assign, make_enterprise, make_user
from tests.meetings.factories import at, make_meeting

BASE = "https://crm.example.cn/"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=SHANGHAI)


def parse(body: bytes) -> Calendar:
    assert isinstance(body, bytes)
    return Calendar.from_ical(body)


def events(cal: Calendar) -> dict[str, object]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_one_meeting_is_a_valid_calendar_in_shanghai_time():
    meeting = make_meeting(title="2026年遵义—成渝产销对接会", city="成都", venue="世纪城会展中心",
                           agenda="一、开幕致辞\n二、企业推介", starts="2026-07-01 09:00", hours=3)
    raw = ics.meeting_ics(meeting, BASE)
    cal = parse(raw)
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == ics.PRODID
    assert str(cal["X-WR-TIMEZONE"]) == "Asia/Shanghai"
    assert "产销对接会" in str(cal["X-WR-CALNAME"])
    zones = cal.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Asia/Shanghai"]
    (event,) = cal.walk("VEVENT")
    assert str(event["UID"]) == f"meeting-{meeting.id}@zunyi-crm"
    assert int(event["SEQUENCE"]) == 0
    start, end = event.decoded("DTSTART"), event.decoded("DTEND")
    assert start == at("2026-07-01 09:00") and end == at("2026-07-01 12:00")
    assert start.utcoffset() == timedelta(hours=8)
    assert b"DTSTART;TZID=Asia/Shanghai:20260701T090000" in raw
    assert b"DTEND;TZID=Asia/Shanghai:20260701T120000" in raw
    assert event.decoded("DTSTAMP").utcoffset() == timedelta(0)
    assert str(event["SUMMARY"]) == "产销对接会:2026年遵义—成渝产销对接会"
    assert str(event["LOCATION"]) == "成都 世纪城会展中心"
    assert "一、开幕致辞\n二、企业推介" in str(event["DESCRIPTION"])
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["URL"]) == f"https://crm.example.cn/meetings/{meeting.id}"


def test_status_maps_to_rfc5545():
    planned = make_meeting(starts="2027-03-02 09:00")
    confirmed = make_meeting(starts="2027-03-03 09:00", status="confirmed")
    held = make_meeting(starts="2026-03-03 09:00", status="held")
    cancelled = make_meeting(starts="2027-03-04 09:00")
    domain.cancel_meeting(None, cancelled, "场地冲突")
    found = {m.id: str(parse(ics.meeting_ics(m, BASE)).walk("VEVENT")[0]["STATUS"])
             for m in (planned, confirmed, held, cancelled)}
    assert found == {planned.id: "TENTATIVE", confirmed.id: "CONFIRMED", held.id: "CONFIRMED",
                     cancelled.id: "CANCELLED"}


def test_uid_is_stable_and_sequence_rises_with_each_change():
    coordinator = make_user("coordinator")
    meeting = make_meeting(coordinator, starts="2027-04-06 09:00")
    first = parse(ics.meeting_ics(meeting, BASE)).walk("VEVENT")[0]
    domain.update_meeting(coordinator, meeting, {"title": "改名后的对接会"})
    db.session.flush()
    second = parse(ics.meeting_ics(meeting, BASE)).walk("VEVENT")[0]
    domain.update_meeting(coordinator, meeting, {"starts_at": "2027-04-06 14:00", "ends_at": "2027-04-06 17:00"})
    third = parse(ics.meeting_ics(meeting, BASE)).walk("VEVENT")[0]
    domain.cancel_meeting(coordinator, meeting, "领导行程调整")
    fourth = parse(ics.meeting_ics(meeting, BASE)).walk("VEVENT")[0]
    assert {str(e["UID"]) for e in (first, second, third, fourth)} == {f"meeting-{meeting.id}@zunyi-crm"}
    sequences = [int(e["SEQUENCE"]) for e in (first, second, third, fourth)]
    assert sequences == sorted(set(sequences)) and sequences[0] == 0
    assert "改名后的对接会" in str(second["SUMMARY"])
    assert third.decoded("DTSTART") == at("2027-04-06 14:00")
    assert str(fourth["STATUS"]) == "CANCELLED"
    assert "领导行程调整" in str(fourth["DESCRIPTION"])


def test_feed_holds_every_readable_meeting_of_the_last_90_days_and_ahead_cancelled_included():
    coordinator = make_user("coordinator")
    kept = [make_meeting(starts="2026-09-10 09:00", status="held"),  # 87 days before NOW
            make_meeting(starts="2027-01-05 09:00", kind="entrepreneur_forum"),
            make_meeting(starts="2027-02-02 09:00", kind="supply_chain", city="重庆")]
    cancelled = make_meeting(starts="2027-03-02 09:00")
    domain.cancel_meeting(None, cancelled, "取消")
    too_old = make_meeting(starts="2025-10-09 09:00", status="held")
    last_quarter_but_one = make_meeting(starts="2026-09-03 09:00", status="held")  # 94 days before NOW
    cal = parse(ics.feed_ics(coordinator, BASE, now=NOW))
    found = events(cal)
    wanted = {ics.meeting_uid(m) for m in (*kept, cancelled)}
    assert wanted <= set(found)
    assert ics.meeting_uid(too_old) not in found and ics.meeting_uid(last_quarter_but_one) not in found
    assert timedelta(days=90) == ics.FEED_HISTORY
    assert str(found[ics.meeting_uid(cancelled)]["STATUS"]) == "CANCELLED"
    assert str(cal["X-WR-CALNAME"]) == ics.FEED_NAME
    assert [str(z["TZID"]) for z in cal.walk("VTIMEZONE")] == ["Asia/Shanghai"]
    for event in found.values():
        assert event.decoded("DTSTART").utcoffset() == timedelta(hours=8)


def test_the_feed_does_not_grow_with_years_of_history():
    coordinator = make_user("coordinator")
    ahead = make_meeting(starts="2027-01-05 09:00")
    before = ics.feed_ics(coordinator, BASE, now=NOW)
    for year in (2024, 2025):  # two more years of held meetings, every month
        for month in range(1, 13):
            make_meeting(starts=f"{year}-{month:02d}-10 09:00", status="held", title=f"{year}年{month}月的会")
    after = ics.feed_ics(coordinator, BASE, now=NOW)
    assert after == before and ics.meeting_uid(ahead) in events(parse(after))


def test_a_commissioners_feed_holds_only_the_meetings_of_their_enterprises():
    commissioner = make_user("commissioner", specialties=["tech"])
    mine, other = make_enterprise(), make_enterprise()
    assign(mine, commissioner)
    with_mine = make_meeting(starts="2027-01-12 09:00", enterprises=[mine])
    with_other = make_meeting(starts="2027-01-13 09:00", enterprises=[other])
    without = make_meeting(starts="2027-01-14 09:00")
    booked = make_meeting(starts="2027-01-15 09:00", officials=[commissioner])
    found = events(parse(ics.feed_ics(commissioner, BASE, now=NOW)))
    assert set(found) == {ics.meeting_uid(with_mine), ics.meeting_uid(booked)}
    assert ics.meeting_uid(with_other) not in found and ics.meeting_uid(without) not in found


def test_an_empty_feed_is_still_a_valid_calendar():
    nobody = make_user("commissioner", specialties=["tech"])
    cal = parse(ics.feed_ics(nobody, BASE, now=NOW))
    assert cal.walk("VEVENT") == []
    assert str(cal["VERSION"]) == "2.0"


# --- the writer against icalendar ------------------------------------------------------------------------------
# ics.py writes the text itself (issue 11: icalendar's object model cost ≈ 0.75 ms an event). This is the former
# icalendar implementation, kept as the reference: the writer must produce the very same bytes.

def _reference_event(meeting, base_url: str) -> Event:
    def utc(value):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    event = Event()
    event.add("uid", ics.meeting_uid(meeting))
    event.add("sequence", meeting.sequence or 0)
    event.add("dtstamp", utc(meeting.updated_at))
    event.add("created", utc(meeting.created_at))
    event.add("last-modified", utc(meeting.updated_at))
    event.add("dtstart", to_local(meeting.starts_at))
    event.add("dtend", to_local(meeting.ends_at))
    event.add("summary", ics.summary(meeting))
    if ics.location(meeting):
        event.add("location", ics.location(meeting))
    description = [meeting.agenda.strip()] if meeting.agenda and meeting.agenda.strip() else []
    if meeting.status is MeetingStatus.CANCELLED and meeting.cancel_reason:
        description.insert(0, f"会议已取消:{meeting.cancel_reason}")
    url = base_url.rstrip("/") + f"/meetings/{meeting.id}"
    description.append(f"详情:{url}")
    event.add("description", "\n\n".join(description))
    event.add("status", ics.STATUS[meeting.status])
    event.add("categories", [meeting.kind.label])
    event.add("url", url)
    event.add("transp", "TRANSPARENT" if meeting.status is MeetingStatus.CANCELLED else "OPAQUE")
    return event


def _reference_calendar(meetings, base_url: str, name: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", ics.PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", ics.TIMEZONE)
    cal.add("x-published-ttl", "PT1H")
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    for meeting in meetings:
        cal.add_component(_reference_event(meeting, base_url))
    cal.add_missing_timezones()
    return cal.to_ical()


def _odd(number: int, **fields) -> SimpleNamespace:
    made = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
    values = {"id": number, "kind": MeetingKind.SUPPLY_CHAIN, "title": "对接会", "starts_at": at("2027-01-05 09:00"),
              "ends_at": at("2027-01-05 12:30"), "venue": "", "city": "", "status": MeetingStatus.PLANNED,
              "agenda": "", "cancel_reason": "", "sequence": 0, "created_at": made, "updated_at": made, **fields}
    return SimpleNamespace(**values)


ODD_MEETINGS = [
    _odd(1),
    _odd(2, title="逗号,分号;反斜杠\\和冒号:还有\\N与\\n" * 3, city=" 重庆市 ", venue="A;B,C",
         agenda="第一行\r\n第二行\r第三行\n\n" + "很长的议程" * 40 + "\\" * 30, status=MeetingStatus.CANCELLED,
         cancel_reason="场地,冲突;改期", sequence=7),
    _odd(3, title="x" * 65 + "\\,\\;" + "é" * 30 + "😀" * 20 + "^" * 10, venue="😀" * 40, status=MeetingStatus.HELD,
         starts_at=datetime(2027, 1, 5, 16, 0, 59, tzinfo=UTC), ends_at=datetime(2027, 1, 5, 17, 0, tzinfo=UTC)),
    _odd(123456789, title="a" * 200, agenda="b" * 4000, status=MeetingStatus.CONFIRMED, kind=MeetingKind.OTHER),
    *(_odd(10 + n, title="x" * n + "\\" + "中" * 5, agenda="^" * n + "中文,\\") for n in range(60, 80)),
]


@pytest.mark.parametrize("base", [BASE, "http://localhost/", "https://crm.example.cn/sub/path/"])
def test_the_writer_gives_icalendars_bytes_for_odd_text_and_long_lines(base):
    for meeting in ODD_MEETINGS:
        assert ics.event_ical(meeting, base) == _reference_event(meeting, base).to_ical(), meeting.id
    name = "会议,名称;很长" * 12
    body = ics.calendar_ical([ics.event_ical(m, base) for m in ODD_MEETINGS], name=name, method="PUBLISH")
    assert body == _reference_calendar(ODD_MEETINGS, base, name)
    for line in body.split(b"\r\n"):
        assert len(line) <= 75  # RFC 5545 §3.1: 75 octets a line at most
        line.decode()  # never split inside a UTF-8 character
    cal = parse(body)
    summary = str(events(cal)[ics.meeting_uid(ODD_MEETINGS[1])]["SUMMARY"])
    assert summary.startswith("[已取消] 供应链洽谈会:逗号,分号;反斜杠\\和")
    assert str(cal["X-WR-CALNAME"]) == name


def test_a_line_break_in_the_calendar_name_cannot_add_a_property():
    body = ics.calendar_ical([], name="会议\r\nX-INJECTED:1\n第二行", method="PUBLISH")
    assert b"\r\nX-INJECTED" not in body and b"X-WR-CALNAME:\xe4" in body
    assert str(parse(body)["X-WR-CALNAME"]) == "会议 X-INJECTED:1 第二行"


def test_the_feed_is_icalendars_calendar_of_the_same_meetings():
    coordinator = make_user("coordinator")
    made = [make_meeting(starts="2026-10-10 09:00", status="held", agenda="议程一\n议程二,附件;说明"),
            make_meeting(starts="2027-01-05 09:00", kind="entrepreneur_forum", venue="", city="遵义"),
            make_meeting(starts="2027-02-02 09:00", kind="supply_chain", city="重庆", title="很长的标题" * 30)]
    domain.cancel_meeting(None, made[1], "领导行程调整,改期")
    db.session.flush()
    body = ics.feed_ics(coordinator, BASE, now=NOW)
    assert body == _reference_calendar(made, BASE, ics.FEED_NAME)
    one = ics.meeting_ics(made[2], BASE)
    assert one == _reference_calendar([made[2]], BASE, f"{made[2].kind.label}:{made[2].title}")


def test_postgresql_serves_an_unchanged_feed_from_its_rows_hash_and_never_a_changed_one(count_queries):
    """On PostgreSQL, in a transaction that wrote meetings itself (no data versions to keep the feed by: see
    tests/meetings/test_kept_feed.py for the kept feed), the worker keeps the feeds it wrote by the sha256 of their
    rows (computed by the database in the same statement as the rows); an unchanged feed costs one narrow statement
    besides the versions. SQLite always writes it."""
    coordinator = make_user("coordinator")
    meeting = make_meeting(coordinator, starts="2027-01-05 09:00", title="哈希测试会")
    make_meeting(coordinator, starts="2027-01-06 09:00", title="另一个会")
    db.session.flush()
    first = ics.feed_ics(coordinator, BASE, now=NOW)
    with count_queries() as queries:
        again = ics.feed_ics(coordinator, BASE, now=NOW)
    assert again == first
    # PostgreSQL: the versions (none: this transaction wrote meetings) and the rows' hash; SQLite: the rows
    assert queries.count == (2 if db.engine.dialect.name == "postgresql" else 1), queries.statements
    assert (ics._BODIES.get((_digest(coordinator), BASE)) == first) is (db.engine.dialect.name == "postgresql")
    assert ics.feed_ics(coordinator, "https://other.example.cn/", now=NOW) != first  # by base URL too

    domain.update_meeting(coordinator, meeting, {"agenda": "新增议程"})
    db.session.flush()
    changed = ics.feed_ics(coordinator, BASE, now=NOW)
    assert changed != first and "新增议程" in str(events(parse(changed))[ics.meeting_uid(meeting)]["DESCRIPTION"])
    assert _reference_calendar(sorted(events_of(coordinator), key=lambda m: (m.starts_at, m.id)), BASE,
                               ics.FEED_NAME) == changed
    # A later moment: the meeting left the 90 days; the feed is written anew, not taken for the old one.
    later = ics.feed_ics(coordinator, BASE, now=NOW + timedelta(days=120))
    assert ics.meeting_uid(meeting) not in events(parse(later))


def _digest(user):
    if db.engine.dialect.name != "postgresql":
        return None
    return db.session.scalar(sa.select(ics._rows_hash(ics.feed_statement(user, now=NOW).order_by(None)
                                                      .subquery("feed"))))


def events_of(user):
    return list(db.session.scalars(domain.meetings_statement(user, start=NOW - ics.FEED_HISTORY)))


def test_the_kept_feeds_stay_within_their_budget_least_recently_used_out():
    bodies = ics._Bodies(100)
    bodies.put((b"a", "x"), b"1" * 40)
    bodies.put((b"b", "x"), b"2" * 40)
    assert bodies.get((b"a", "x")) == b"1" * 40  # a is now the most recent
    bodies.put((b"c", "x"), b"3" * 40)
    assert bodies.get((b"b", "x")) is None and bodies.get((b"a", "x")) and bodies.get((b"c", "x"))
    assert bodies.size == 80
    bodies.put((b"d", "x"), b"4" * 101)  # larger than the whole budget: not kept
    assert bodies.get((b"d", "x")) is None and bodies.size == 80
