"""The private calendar feed: a token kept hashed, replaced and revoked, audited; the URL that reads one feed
(and nothing else); the page that manages it; one meeting as .ics."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from icalendar import Calendar

from crm.auth.domain import set_active
from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.core.time import local_today
from crm.extensions import db
from crm.meetings import domain, feed, ics
from crm.meetings.models import CalendarFeedToken
from tests.conftest import assign, csrf_token_from, login, make_enterprise, make_user
from tests.meetings.factories import make_meeting


def soon(days: int, hour: int = 9) -> str:
    return f"{local_today() + timedelta(days=days)} {hour:02d}:00"


def feed_path(token: str) -> str:
    return f"/calendar/{token}.ics"


def token_in(html: str) -> str:
    match = re.search(r"/calendar/([A-Za-z0-9_-]{20,})\.ics", html)
    assert match, "no feed URL on the page"
    return match.group(1)


def audit_rows(user) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.entity_type == AuditEntity.CALENDAR_FEED, AuditLog.actor_id == user.id).order_by(AuditLog.id)))


# --- the token -------------------------------------------------------------------------------------------------

def test_a_token_is_kept_hashed_replaced_and_revoked_with_audit():
    user = make_user("coordinator")
    first = feed.issue_feed_token(user)
    row = db.session.scalar(sa.select(CalendarFeedToken).where(CalendarFeedToken.user_id == user.id))
    assert row.token_hash == feed.token_hash(first) and first not in row.token_hash
    assert feed.resolve_feed_token(first) == user
    second = feed.issue_feed_token(user)
    assert second != first
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarFeedToken)
                             .where(CalendarFeedToken.user_id == user.id)) == 1
    assert feed.resolve_feed_token(first) is None  # the old URL stops working at once
    assert feed.resolve_feed_token(second) == user
    assert feed.revoke_feed_token(user) is True
    assert feed.resolve_feed_token(second) is None
    assert feed.revoke_feed_token(user) is False  # nothing left to revoke, nothing audited
    assert [r.action for r in audit_rows(user)] == [AuditAction.CREATE, AuditAction.CREATE, AuditAction.REVOKE]
    assert all(first not in str(r.changes) and second not in str(r.changes) for r in audit_rows(user))


def test_resolving_notes_the_time_and_refuses_strangers_and_deactivated_users():
    admin = make_user("admin")
    user = make_user("leader")
    token = feed.issue_feed_token(user)
    row = feed.current_feed(user)
    assert row.last_used_at is None
    assert feed.resolve_feed_token(token) == user
    first = row.last_used_at
    assert first is not None
    # Written again only once it is LAST_USED_STEP old (a poll of the feed is not a write each time).
    assert feed.resolve_feed_token(token, now=first + feed.LAST_USED_STEP - timedelta(seconds=1)) == user
    assert row.last_used_at == first and not db.session.dirty
    later = first + feed.LAST_USED_STEP
    assert feed.resolve_feed_token(token, now=later) == user and row.last_used_at == later
    for bad in ("", "x" * 500, token[:-1], token + "A", None, 42):
        assert feed.resolve_feed_token(bad) is None
    set_active(admin, user, False)
    assert feed.resolve_feed_token(token) is None


# --- the feed URL ----------------------------------------------------------------------------------------------

def test_the_feed_url_reads_the_owners_calendar_without_signing_in(client):
    leader = make_user("leader")
    meeting = make_meeting(starts=soon(10), title="订阅测试会")
    cancelled = make_meeting(starts=soon(12), title="已取消的会")
    domain.cancel_meeting(None, cancelled, "改期")
    token = feed.issue_feed_token(leader)
    db.session.commit()
    response = client.get(feed_path(token))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    found = {str(e["UID"]): e for e in Calendar.from_ical(response.data).walk("VEVENT")}
    assert ics.meeting_uid(meeting) in found
    assert str(found[ics.meeting_uid(cancelled)]["STATUS"]) == "CANCELLED"
    assert str(found[ics.meeting_uid(meeting)]["URL"]) == f"http://localhost/meetings/{meeting.id}"
    db.session.expire_all()
    assert feed.current_feed(leader).last_used_at is not None  # committed by the page
    # The feed signs no one in.
    assert client.get("/calendar/feed").status_code == 302


def test_an_unchanged_feed_answers_304_and_a_change_is_never_served_stale(client):
    """Calendars poll: the ETag is the body's hash, If-None-Match → 304 without a body. Each event's text is
    memoised per process on everything it is written from, so an edit, a cancellation or a meeting leaving the
    reader's reach shows at once."""
    coordinator = make_user("coordinator")
    commissioner = make_user("commissioner", specialties=["tech"])
    firm = make_enterprise()
    assign(firm, commissioner)
    meeting = make_meeting(coordinator, starts=soon(10), title="原来的标题", enterprises=[firm])
    token = feed.issue_feed_token(commissioner)
    db.session.commit()
    first = client.get(feed_path(token))
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag and first.headers["Cache-Control"] == "private, no-cache"
    assert client.get(feed_path(token)).data == first.data  # the memoised events: the same bytes

    again = client.get(feed_path(token), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    db.session.expire_all()
    assert feed.current_feed(commissioner).last_used_at is not None  # a 304 is a read too

    domain.update_meeting(coordinator, meeting, {"title": "改过的标题", "venue": "新会场"})
    db.session.commit()
    changed = client.get(feed_path(token), headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    (event,) = Calendar.from_ical(changed.data).walk("VEVENT")
    assert "改过的标题" in str(event["SUMMARY"]) and "新会场" in str(event["LOCATION"])
    assert int(event["SEQUENCE"]) > 0

    domain.cancel_meeting(coordinator, meeting, "改期")
    db.session.commit()
    cancelled = client.get(feed_path(token))
    (event,) = Calendar.from_ical(cancelled.data).walk("VEVENT")
    assert str(event["STATUS"]) == "CANCELLED"

    other = make_meeting(coordinator, starts=soon(20), title="另一个会", enterprises=[firm])
    db.session.commit()
    assert len(Calendar.from_ical(client.get(feed_path(token)).data).walk("VEVENT")) == 2
    domain.set_participants(coordinator, other, {"enterprises": [], "partners": [], "officials": []})
    db.session.commit()  # no longer one of the commissioner's meetings: the feed is as before
    assert client.get(feed_path(token), headers={"If-None-Match": cancelled.headers["ETag"]}).status_code == 304


def test_a_commissioners_feed_url_holds_only_their_enterprises_meetings(client):
    commissioner = make_user("commissioner", specialties=["tech"])
    mine, other = make_enterprise(), make_enterprise()
    assign(mine, commissioner)
    with_mine = make_meeting(starts=soon(5), enterprises=[mine])
    with_other = make_meeting(starts=soon(6), enterprises=[other])
    token = feed.issue_feed_token(commissioner)
    db.session.commit()
    response = client.get(feed_path(token))
    uids = {str(e["UID"]) for e in Calendar.from_ical(response.data).walk("VEVENT")}
    assert uids == {ics.meeting_uid(with_mine)}
    assert ics.meeting_uid(with_other) not in uids


def test_revoked_replaced_and_guessed_tokens_are_404(client):
    user = make_user("coordinator")
    old = feed.issue_feed_token(user)
    new = feed.issue_feed_token(user)
    db.session.commit()
    assert client.get(feed_path(old)).status_code == 404
    assert client.get(feed_path(new)).status_code == 200
    for guess in ("guess", "A" * 43, "x" * 300, new.upper() if new.upper() != new else new[::-1]):
        assert client.get(feed_path(guess)).status_code == 404
    feed.revoke_feed_token(user)
    db.session.commit()
    assert client.get(feed_path(new)).status_code == 404


def test_the_feed_token_is_refused_by_the_api(client):
    user = make_user("admin")
    token = feed.issue_feed_token(user)
    db.session.commit()
    response = client.get("/api/v1/enterprises", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert client.get(feed_path(token)).status_code == 200


# --- the page --------------------------------------------------------------------------------------------------

def test_the_page_shows_a_new_url_once_and_revokes_it(client):
    user = make_user("leader")
    db.session.commit()
    login(client, user)
    page = client.get("/calendar/feed")
    assert page.status_code == 200 and "生成订阅地址" in page.get_data(as_text=True)
    created = client.post("/calendar/feed/create")
    html = created.get_data(as_text=True)
    assert created.status_code == 200 and "新的订阅地址已生成" in html
    token = token_in(html)
    assert f"webcal://localhost/calendar/{token}.ics" in html
    assert "iPhone" in html
    assert client.get(feed_path(token)).status_code == 200
    later = client.get("/calendar/feed").get_data(as_text=True)
    assert token not in later and "已开通" in later  # shown once only
    revoked = client.post("/calendar/feed/revoke")
    assert revoked.status_code == 303
    assert "日历订阅地址已撤销" in client.get("/calendar/feed").get_data(as_text=True)
    assert client.get(feed_path(token)).status_code == 404


def test_the_page_needs_a_signed_in_user_and_a_csrf_token(client, app, monkeypatch):
    assert client.get("/calendar/feed").status_code == 302
    assert client.post("/calendar/feed/create").status_code in (302, 400)
    user = make_user("commissioner", specialties=["tech"])
    db.session.commit()
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    login_page = client.get("/login")
    client.post("/login", data={"username": user.username, "password": "Passw0rd-test",
                                "csrf_token": csrf_token_from(login_page.get_data(as_text=True))})
    refused = client.post("/calendar/feed/create")
    assert refused.status_code == 400
    assert feed.current_feed(user) is None
    token = csrf_token_from(client.get("/calendar/feed").get_data(as_text=True))
    accepted = client.post("/calendar/feed/create", data={"csrf_token": token})
    assert accepted.status_code == 200
    db.session.expire_all()
    assert feed.current_feed(user) is not None


# --- one meeting as .ics ---------------------------------------------------------------------------------------

def test_one_meeting_downloads_as_ics_for_those_who_may_read_it(client):
    coordinator = make_user("coordinator")
    commissioner = make_user("commissioner", specialties=["tech"])
    meeting = make_meeting(starts=soon(20), title="下载测试会")
    db.session.commit()
    assert client.get(f"/meetings/{meeting.id}.ics").status_code == 302  # sign in first
    login(client, coordinator)
    response = client.get(f"/meetings/{meeting.id}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert f'filename="meeting-{meeting.id}.ics"' in response.headers["Content-Disposition"]
    (event,) = Calendar.from_ical(response.data).walk("VEVENT")
    assert str(event["UID"]) == ics.meeting_uid(meeting)
    assert client.get("/meetings/999999.ics").status_code == 404
    assert f'href="/meetings/{meeting.id}.ics"' in client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    client.post("/logout")
    login(client, commissioner)
    assert client.get(f"/meetings/{meeting.id}.ics").status_code == 404  # not theirs: not even its existence
