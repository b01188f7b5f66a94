"""The calendar page (FullCalendar served by the app, strict CSP) and its events: scoped, filtered, refusing
bad arguments with 400."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crm.extensions import db
from crm.meetings import domain
from tests.conftest import assign, login, make_enterprise, make_user
from tests.meetings.factories import make_meeting

STATIC = Path(__file__).resolve().parents[2] / "crm" / "static"
RANGE = {"start": "2027-03-01T00:00:00", "end": "2027-04-12T00:00:00"}


def get_events(client, **args):
    response = client.get("/calendar/events.json", query_string={**RANGE, **args})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_the_page_serves_fullcalendar_from_the_app_without_inline_script_or_style(client):
    leader = make_user("leader")
    make_meeting(starts="2027-03-02 09:00", city="重庆")
    db.session.commit()
    login(client, leader)
    response = client.get("/calendar/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for asset in ("vendor/fullcalendar/csp-shim.js", "vendor/fullcalendar/index.global.min.js",
                  "vendor/fullcalendar/locales/zh-cn.global.min.js",
                  "vendor/fullcalendar/fullcalendar.css", "js/calendar.js", "css/calendar.css"):
        assert f"/static/{asset}" in html
        assert (STATIC / asset).is_file()
        assert client.get(f"/static/{asset}").status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)  # every script is a file
    assert "<style" not in html and not re.search(r'\sstyle="', html)
    assert html.index("csp-shim.js") < html.index("index.global.min.js")  # FullCalendar injects no <style>
    assert client.get("/static/vendor/fullcalendar/fcicons.ttf").status_code == 200
    assert "data:" not in (STATIC / "vendor" / "fullcalendar" / "fullcalendar.css").read_text(encoding="utf-8")
    assert 'data-events-url="/calendar/events.json"' in html
    assert 'data-phone-query="(max-width: 767.98px)"' in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html  # no CDN
    for label in ("产销对接会", "企业家座谈会", "供应链洽谈会"):
        assert label in html  # the kind filter and legend
    assert '<option value="重庆">重庆</option>' in html  # the city filter
    assert "会议日历" in html  # the nav link


def test_the_calendar_script_has_month_week_list_views_and_a_phone_list_view():
    script = (STATIC / "js" / "calendar.js").read_text(encoding="utf-8")
    for view in ("dayGridMonth", "timeGridWeek", "listMonth"):
        assert view in script
    assert 'phone.matches ? "listMonth"' in script
    bundle = (STATIC / "vendor" / "fullcalendar" / "index.global.min.js").read_text(encoding="utf-8")
    assert "FullCalendar" in bundle and "6.1.22" in bundle
    css = (STATIC / "css" / "calendar.css").read_text(encoding="utf-8")
    for kind in ("supply_demand", "entrepreneur_forum", "supply_chain", "other"):
        assert f".meeting-kind-{kind}" in css


def test_the_page_needs_a_signed_in_user(client):
    assert client.get("/calendar/").status_code == 302
    assert client.get("/calendar/events.json", query_string=RANGE).status_code == 302


def test_events_are_in_shanghai_time_with_kind_classes_and_link_to_the_meeting(client):
    leader = make_user("leader")
    meeting = make_meeting(starts="2027-03-02 09:30", hours=2, kind="supply_chain", title="供应链洽谈")
    cancelled = make_meeting(starts="2027-03-03 09:00", title="取消的会")
    domain.cancel_meeting(None, cancelled, "改期")
    outside = make_meeting(starts="2027-05-03 09:00")
    db.session.commit()
    login(client, leader)
    found = {e["id"]: e for e in get_events(client)}
    assert str(outside.id) not in found
    event = found[str(meeting.id)]
    assert event["start"] == "2027-03-02T09:30" and event["end"] == "2027-03-02T11:30"
    assert event["url"] == f"/meetings/{meeting.id}"
    assert "meeting-kind-supply_chain" in event["classNames"]
    assert event["extendedProps"]["kindLabel"] == "供应链洽谈会"
    assert found[str(cancelled.id)]["extendedProps"]["status"] == "cancelled"
    assert "meeting-status-cancelled" in found[str(cancelled.id)]["classNames"]
    # An offset is honoured: 2027-03-02 01:30 UTC is 09:30 in Shanghai.
    narrow = client.get("/calendar/events.json", query_string={
        "start": "2027-03-02T01:00:00Z", "end": "2027-03-02T02:00:00Z"}).get_json()
    assert [e["id"] for e in narrow] == [str(meeting.id)]


def test_events_filter_by_kind_and_city(client):
    coordinator = make_user("coordinator")
    forum = make_meeting(starts="2027-03-09 09:00", kind="entrepreneur_forum", city="重庆")
    fair = make_meeting(starts="2027-03-10 09:00", kind="supply_demand", city="成都")
    db.session.commit()
    login(client, coordinator)
    assert [e["id"] for e in get_events(client, kind="entrepreneur_forum")] == [str(forum.id)]
    assert [e["id"] for e in get_events(client, city="成都")] == [str(fair.id)]
    assert get_events(client, kind="entrepreneur_forum", city="成都") == []
    assert {e["id"] for e in get_events(client, kind="", city="")} >= {str(forum.id), str(fair.id)}


def test_a_commissioner_sees_only_the_meetings_of_their_enterprises(client):
    commissioner = make_user("commissioner", specialties=["tech"])
    mine, other = make_enterprise(), make_enterprise()
    assign(mine, commissioner)
    with_mine = make_meeting(starts="2027-03-16 09:00", enterprises=[mine], city="泸州")
    make_meeting(starts="2027-03-17 09:00", enterprises=[other], city="绵阳")
    make_meeting(starts="2027-03-18 09:00")
    db.session.commit()
    login(client, commissioner)
    assert [e["id"] for e in get_events(client)] == [str(with_mine.id)]
    html = client.get("/calendar/").get_data(as_text=True)
    assert '<option value="泸州">' in html and '<option value="绵阳">' not in html  # cities of their meetings only


@pytest.mark.parametrize("args", [
    {},
    {"start": "2027-03-01"},
    {"start": "yesterday", "end": "2027-04-01"},
    {"start": "2027-04-01", "end": "2027-03-01"},
    {"start": "2027-03-01", "end": "2027-03-01"},
    {"start": "1900-01-01", "end": "1900-02-01"},
    {"start": "2027-01-01", "end": "2029-01-01"},
    {"start": "2027-03-01", "end": "2027-04-01", "kind": "party"},
    {"start": "2027-03-01", "end": "2027-04-01", "city": "城" * 41},
    {"start": "2027-03-01T25:00:00", "end": "2027-04-01"},
    {"start": "9" * 40, "end": "2027-04-01"},
])
def test_bad_event_arguments_are_400_json(client, args):
    user = make_user("coordinator")
    db.session.commit()
    login(client, user)
    response = client.get("/calendar/events.json", query_string=args)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_argument" and body["message"]


def test_nul_in_arguments_is_refused_not_a_500(client):
    user = make_user("coordinator")
    db.session.commit()
    login(client, user)
    response = client.get("/calendar/events.json", query_string={**RANGE, "city": "成\x00都"})
    assert response.status_code == 400
