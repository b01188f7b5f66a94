"""A leader's home read and drawn once per change of the meetings (crm.core.cache.cached_markup, the eighth
provincial-scale pass): with real commits on a database of the module's own, a second view while nothing changed
reads no meeting (PostgreSQL); a meeting planned, renamed or cancelled shows at the next view, which equals the
page drawn with nothing kept; a commissioner (their own meetings, no rule) is never served a leader's home, nor the
reverse; another day is another page. On SQLite nothing is kept and the pages are the same."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from crm.core import cache
from crm.core.time import local_today
from crm.extensions import db
from crm.meetings import calendar_views
from crm.meetings.models import Meeting, MeetingOfficial
from tests.conftest import assign, counting_queries, in_both_orders, login, make_enterprise, make_user
from tests.meetings.factories import make_meeting

HOME = "/calendar/home"
CSRF = re.compile(r'(name="csrf_token"[^>]*value=|content=)"[^"]*"')


def _day(offset: int, hour: int = 10) -> str:
    return f"{local_today() + timedelta(days=offset)} {hour:02d}:00"


def _view(client) -> tuple[str, list[str]]:
    db.session.commit()  # a new transaction: what was committed since
    with counting_queries() as queries:
        response = client.get(HOME)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    return CSRF.sub(r'\1""', html), [s for s in queries.statements if "FROM meetings" in s]


def _fresh(client) -> str:
    db.session.commit()
    cache.clear()
    return _view(client)[0]


def test_the_home_is_kept_until_a_meeting_changes(committed):
    leader = make_user("leader")
    make_meeting(starts=_day(2), title="后天的产销对接会", city="重庆")
    db.session.commit()
    client = committed.test_client()
    login(client, leader)
    client.get(HOME)  # the welcome shown
    cache.clear()
    first, read = _view(client)
    assert read and "后天的产销对接会" in first
    again, read_again = _view(client)
    assert again == first
    assert (read_again == []) if cache.enabled() else read_again

    today = make_meeting(starts=_day(0, 15), hours=1, title="今天下午的座谈会", kind="entrepreneur_forum")
    db.session.commit()
    html, read = _view(client)
    todays = html.split('id="today-meetings"')[1].split('id="upcoming-meetings"')[0]
    assert read and "今天下午的座谈会" in todays
    assert html == _fresh(client)

    db.session.execute(sa.update(Meeting).where(Meeting.id == today.id).values(title="改期后的座谈会"))
    db.session.commit()
    html = _view(client)[0]
    assert "改期后的座谈会" in html and "今天下午的座谈会" not in html
    db.session.execute(sa.update(Meeting).where(Meeting.id == today.id).values(status="cancelled"))
    db.session.commit()
    html = _view(client)[0]
    assert "<s>改期后的座谈会</s>" in html
    assert html == _fresh(client)


def test_each_viewer_and_day_gets_their_own_home(committed, monkeypatch):
    leader = make_user("leader")
    commissioner = make_user("commissioner", specialties=["tech"])
    make_meeting(starts=_day(3), title="三天后的产销对接会", city="重庆")
    db.session.commit()
    lead, own = committed.test_client(), committed.test_client()
    login(lead, leader)
    login(own, commissioner)
    lead.get(HOME), own.get(HOME)  # the welcome shown
    for client in in_both_orders(lead, own):
        html = _view(client)[0]
        # a commissioner reads their own meetings only (none here) and no rule card
        assert ("三天后的产销对接会" in html) is (client is lead)
        assert ('id="yearly-rule"' in html) is (client is lead)

    cache.clear()
    upcoming = _view(lead)[0].split('id="upcoming-meetings"')[1]
    assert "三天后的产销对接会" in upcoming
    later = local_today() + timedelta(days=3)
    monkeypatch.setattr(calendar_views, "local_today", lambda: later)  # three days on: it is today's
    html = _view(lead)[0]
    todays = html.split('id="today-meetings"')[1].split('id="upcoming-meetings"')[0]
    assert "三天后的产销对接会" in todays
    assert html == _fresh(lead)


def test_two_commissioners_never_share_a_home(committed):
    """Same role, same day, same page: what differs is the scope in the statement (each one's meetings)."""
    a, b = make_user("commissioner", specialties=["tech"]), make_user("commissioner", specialties=["tech"])
    firm = make_enterprise()
    assign(firm, a)
    make_meeting(starts=_day(5), title="甲的企业参加的会", enterprises=[firm])
    db.session.commit()
    first, second = committed.test_client(), committed.test_client()
    login(first, a)
    login(second, b)
    first.get(HOME), second.get(HOME)  # the welcome shown
    for client in in_both_orders(first, second):
        assert ("甲的企业参加的会" in _view(client)[0]) is (client is first)


def test_a_commissioners_kept_home_follows_their_bookings_and_assignments(committed):
    """A commissioner's meetings are those of their enterprises and those they are booked into as an official
    (crm/meetings/access.py): a booking (``meeting_officials``, migration e8b3f1c6a2d4) and a new assignment each
    show at the next view of a kept home."""
    commissioner = make_user("commissioner", specialties=["tech"])
    firm = make_enterprise()
    booked = make_meeting(starts=_day(4), title="要去当嘉宾的会")
    theirs = make_meeting(starts=_day(6), title="新分管企业参加的会", enterprises=[firm])
    db.session.commit()
    client = committed.test_client()
    login(client, commissioner)
    client.get(HOME)
    cache.clear()
    first = _view(client)[0]
    assert booked.title not in first and theirs.title not in first
    assert _view(client)[0] == first

    db.session.add(MeetingOfficial(meeting_id=booked.id, user_id=commissioner.id))
    db.session.commit()
    html = _view(client)[0]
    assert booked.title in html and theirs.title not in html

    assign(firm, commissioner)
    db.session.commit()
    html = _view(client)[0]
    assert theirs.title in html
    assert html == _fresh(client)
