"""A leader's home: today's meetings, the next 90 days', this year's rule at a glance; a leader reads the
calendar, the home page and the feed, and changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

from icalendar import Calendar

from crm.core.time import SHANGHAI, local_today
from crm.extensions import db
from crm.meetings import domain, ics
from tests.conftest import assign, login, make_enterprise, make_user
from tests.meetings.factories import make_meeting, partner


def day(offset: int, hour: int = 9) -> str:
    return f"{local_today() + timedelta(days=offset)} {hour:02d}:00"


def test_a_leader_lands_on_their_home(client):
    leader = make_user("leader")
    db.session.commit()
    login(client, leader)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/calendar/home")
    assert client.get("/calendar/home").status_code == 200


def test_others_keep_their_landing_pages(client):
    coordinator = make_user("coordinator")
    commissioner = make_user("commissioner", specialties=["tech"])
    db.session.commit()
    login(client, coordinator)
    assert client.get("/").headers["Location"].endswith("/enterprises/")
    client.post("/logout")
    login(client, commissioner)
    assert "/calendar/home" not in client.get("/").headers["Location"]


def test_home_shows_today_the_next_90_days_and_the_yearly_rule(client):
    leader = make_user("leader")
    today = make_meeting(starts=day(0, 10), hours=1, title="今天的座谈会", kind="entrepreneur_forum", city="遵义")
    soon = make_meeting(starts=day(30), title="一个月后的对接会", city="重庆")
    late = make_meeting(starts=day(95), title="三个月以后的会")
    past = make_meeting(starts=day(-3), title="前几天的会")
    held = make_meeting(starts=f"{local_today().year}-01-05 09:00", status="held", kind="supply_chain",
                        title="年初供应链洽谈会", city="遵义", partners=[partner()])
    db.session.commit()
    login(client, leader)
    html = client.get("/calendar/home").get_data(as_text=True)
    today_part = html.split('id="today-meetings"')[1].split('id="upcoming-meetings"')[0]
    upcoming_part = html.split('id="upcoming-meetings"')[1].split('id="yearly-rule"')[0]
    assert today.title in today_part and soon.title not in today_part
    assert soon.title in upcoming_part and today.title not in upcoming_part
    for other in (late, past):  # not in the lists (the rule card may name a past meeting of this year)
        assert other.title not in today_part and other.title not in upcoming_part
    assert f'href="/meetings/{soon.id}"' in upcoming_part
    # The yearly rule: each required kind with its state, and why a meeting counts.
    rule_part = html.split('id="yearly-rule"')[1]
    rows = {row.kind.value: row for row in domain.yearly_rule(local_today().year)}
    for kind, row in rows.items():
        assert f'data-rule-kind="{kind}" data-rule-state="{row.state}"' in rule_part
    assert rows["supply_chain"].state == "held"
    assert held.title in rule_part and "1 家成渝企业参加" in rule_part
    assert domain.chengyu_reason(held) in rule_part
    assert "会议日历" in html and "/calendar/feed" in html


def test_a_cancelled_meeting_today_is_shown_as_cancelled(client):
    leader = make_user("leader")
    meeting = make_meeting(starts=day(0, 15), hours=1, title="临时取消的会")
    domain.cancel_meeting(None, meeting, "改期")
    db.session.commit()
    login(client, leader)
    today_part = client.get("/calendar/home").get_data(as_text=True).split('id="upcoming-meetings"')[0]
    assert f"<s>{meeting.title}</s>" in today_part and "已取消" in today_part


def test_a_commissioner_sees_only_their_meetings_and_no_rule(client):
    commissioner = make_user("commissioner", specialties=["tech"])
    mine = make_enterprise()
    assign(mine, commissioner)
    theirs = make_meeting(starts=day(5), title="我的企业参加的会", enterprises=[mine])
    other = make_meeting(starts=day(6), title="别人的会")
    db.session.commit()
    login(client, commissioner)
    html = client.get("/calendar/home").get_data(as_text=True)
    assert theirs.title in html and other.title not in html
    assert 'id="yearly-rule"' not in html


def test_a_leader_reads_calendar_home_and_feed_but_changes_no_meeting(client):
    leader = make_user("leader")
    meeting = make_meeting(starts=day(7), title="领导关注的会")
    db.session.commit()
    login(client, leader)
    assert client.get("/calendar/").status_code == 200
    start, end = local_today().isoformat(), (local_today() + timedelta(days=30)).isoformat()
    events = client.get("/calendar/events.json", query_string={"start": start, "end": end}).get_json()
    assert str(meeting.id) in {e["id"] for e in events}
    assert meeting.title in client.get("/calendar/home").get_data(as_text=True)
    created = client.post("/calendar/feed/create").get_data(as_text=True)
    match = re.search(r"/calendar/([A-Za-z0-9_-]{20,})\.ics", created)
    assert match and "新的订阅地址已生成" in created
    token = match.group(1)
    client.post("/logout")
    feed = client.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200
    uids = {str(e["UID"]) for e in Calendar.from_ical(feed.data).walk("VEVENT")}
    assert ics.meeting_uid(meeting) in uids
    # A leader changes nothing: the meeting pages refuse them.
    login(client, leader)
    assert client.get(f"/meetings/{meeting.id}/edit").status_code == 403
    assert client.post(f"/meetings/{meeting.id}/cancel", data={"reason": "x"}).status_code in (403, 404)
    assert client.get("/meetings/new").status_code == 403
    db.session.refresh(meeting)
    assert meeting.status.value == "planned"


def test_the_next_meetings_come_10_a_page_with_this_weeks_marked_and_the_rest_one_click_away(client):
    """Issue 11: the home listed every meeting of the next 90 days (158 at provincial scale, 99 KB)."""
    leader = make_user("leader")
    ahead = [make_meeting(starts=day(1 + n // 2, 9 + n % 2 * 4), hours=2, title=f"第{n:02d}场对接会")
             for n in range(25)]
    db.session.commit()
    login(client, leader)

    def upcoming(query: str = "") -> str:
        html = client.get(f"/calendar/home{query}").get_data(as_text=True)
        return html.split('id="upcoming-meetings"')[1].split('id="yearly-rule"')[0]

    pages = [upcoming(), upcoming("?page=2"), upcoming("?page=3")]
    shown = [re.findall(r'data-meeting="(\d+)"', part) for part in pages]
    assert [len(ids) for ids in shown] == [10, 10, 5]
    assert [int(i) for ids in shown for i in ids] == [m.id for m in ahead]  # by start time, each once
    assert '<span class="badge text-bg-secondary">25</span>' in pages[0]
    assert 'href="/calendar/home?page=2"' in pages[0] and 'href="/calendar/home?page=1"' in pages[1]
    assert 'href="/calendar/"' in pages[0]  # the calendar itself, one click away
    # Those of this week (until Sunday night) are marked.
    week_end = local_today() + timedelta(days=6 - local_today().weekday())
    for meeting in ahead[:10]:
        item = pages[0].split(f'data-meeting="{meeting.id}"')[1].split("</a>")[0]
        assert ("本周" in item) is (meeting.starts_at.astimezone(SHANGHAI).date() <= week_end)
    # A malformed page number shows the first page rather than an error; a page past the end shows none.
    assert re.findall(r'data-meeting="(\d+)"', upcoming("?page=abc")) == shown[0]
    past_end = upcoming("?page=9")
    assert "data-meeting=" not in past_end and '<span class="badge text-bg-secondary">25</span>' in past_end


def test_a_meeting_running_past_midnight_is_one_of_todays_and_not_also_upcoming(client):
    leader = make_user("leader")
    late = make_meeting(starts=day(0, 21), hours=5, title="跨夜的会")
    next_day = make_meeting(starts=day(1, 9), title="明天的会")
    db.session.commit()
    login(client, leader)
    html = client.get("/calendar/home").get_data(as_text=True)
    today_part, upcoming_part = html.split('id="upcoming-meetings"')
    assert late.title in today_part and late.title not in upcoming_part.split('id="yearly-rule"')[0]
    assert next_day.title in upcoming_part and next_day.title not in today_part


def test_the_rule_card_names_a_few_meetings_a_kind_and_links_to_the_rest(client):
    leader = make_user("leader")
    year = local_today().year
    held = [make_meeting(starts=f"{year}-01-{5 + n:02d} 09:00", status="held", kind="supply_chain", city="成都",
                         title=f"已举办的洽谈会{n}") for n in range(5)]
    elsewhere = [make_meeting(starts=f"{year}-02-{5 + n:02d} 09:00", status="held", kind="supply_chain",
                              city="贵阳", title=f"不计入的洽谈会{n}") for n in range(4)]
    db.session.commit()
    login(client, leader)
    html = client.get("/calendar/home").get_data(as_text=True)
    card = html.split('id="yearly-rule"')[1]
    row = card.split('data-rule-kind="supply_chain"')[1].split("</li>")[0]
    assert 'data-rule-state="held"' in card
    assert "计入 5 场(已举办 5 场),不计入 4 场" in row
    assert [m.title in row for m in held] == [True] * domain.RULE_SHOWN + [False] * 2
    assert [m.title in row for m in elsewhere] == [True] * domain.RULE_SHOWN + [False]
    assert f'href="/meetings/?year={year}&amp;kind=supply_chain"' in row and "另有 3 场" in row
    listed = client.get(f"/meetings/?year={year}&kind=supply_chain").get_data(as_text=True)
    assert all(m.title in listed for m in (*held, *elsewhere))
