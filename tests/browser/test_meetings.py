"""Meetings in a real browser: a coordinator plans one through the form (CSRF, strict CSP), a leader reads it on a
phone and finds no way to change it, a commissioner's phone shows their meetings."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.meetings.models import Meeting
from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import assign, make_enterprise, make_user
from tests.meetings.factories import make_meeting


def test_a_coordinator_plans_a_meeting_and_a_leader_reads_it_on_a_phone(site, browser):
    def setup():
        make_user("coordinator", username="b_coordinator")
        make_user("leader", username="b_leader")

    site.run(setup)
    page, problems = open_page(browser)
    sign_in(page, site, "b_coordinator")
    page.goto(f"{site.url}/meetings/new")
    page.select_option("select[name=kind]", "supply_chain")
    page.fill("input[name=title]", "遵义—成都航空零部件供应链洽谈会")
    page.fill("input[name=starts_at]", "2026-07-08T09:30")
    page.fill("input[name=ends_at]", "2026-07-08T12:00")
    page.fill("input[name=city]", "成都")
    page.fill("input[name=venue]", "成都世纪城会展中心")
    page.click("#meeting-form [type=submit]")
    page.wait_for_load_state()
    assert "会议已安排" in page.content()
    assert page.locator("[data-chengyu]").inner_text().startswith("计入成渝活动")
    shot(page, "meeting-planned-coordinator")
    meeting_id = site.run(lambda: db.session.scalar(sa.select(Meeting.id).where(
        Meeting.title == "遵义—成都航空零部件供应链洽谈会")))
    assert meeting_id and problems == []

    phone, phone_problems = open_page(browser, phone=True)
    sign_in(phone, site, "b_leader")
    phone.goto(f"{site.url}/meetings/{meeting_id}")
    assert "遵义—成都航空零部件供应链洽谈会" in phone.content()
    assert phone.locator("text=修改").count() == 0 and phone.locator("#cancel-form").count() == 0
    assert no_horizontal_scroll(phone)
    shot(phone, "meeting-leader-phone")
    phone.goto(f"{site.url}/meetings/new")
    assert "没有权限" in phone.content() or "只有协调员" in phone.content()
    assert phone_problems == [] or all("403" in p for p in phone_problems)


def test_a_holiday_is_refused_in_the_browser_with_the_message_next_to_the_field(site, browser):
    site.run(lambda: make_user("coordinator", username="b_coordinator2"))
    page, problems = open_page(browser)
    sign_in(page, site, "b_coordinator2")
    page.goto(f"{site.url}/meetings/new")
    page.select_option("select[name=kind]", "supply_demand")
    page.fill("input[name=title]", "节日测试")
    page.fill("input[name=starts_at]", "2026-10-03T09:00")  # a Saturday; the test database has no holiday table
    page.fill("input[name=ends_at]", "2026-10-03T11:00")
    page.fill("input[name=city]", "重庆")
    page.click("#meeting-form [type=submit]")
    page.wait_for_load_state()
    feedback = page.locator("#starts_at + .invalid-feedback, .invalid-feedback").first.inner_text()
    assert "2026-10-03" in feedback and "确认在非工作日举办" in feedback
    page.check("input[name=allow_non_working_day]")
    page.click("#meeting-form [type=submit]")
    page.wait_for_load_state()
    assert "会议已安排" in page.content()
    assert [p for p in problems if "422" not in p] == []


def test_a_commissioner_sees_their_meetings_on_a_phone(site, browser):
    def setup():
        firm = make_enterprise()
        commissioner = make_user("commissioner", username="b_commissioner", specialties=["tech"])
        assign(firm, commissioner)
        make_meeting(title="专员企业参加的对接会", enterprises=[firm], starts="2026-08-04 09:00")
        make_meeting(title="与专员无关的座谈会", kind="entrepreneur_forum", starts="2026-08-05 09:00")

    site.run(setup)
    page, problems = open_page(browser, phone=True)
    sign_in(page, site, "b_commissioner")
    page.goto(f"{site.url}/meetings/?year=2026")
    html = page.content()
    assert "专员企业参加的对接会" in html and "与专员无关的座谈会" not in html
    assert no_horizontal_scroll(page)
    shot(page, "meetings-commissioner-phone")
    assert problems == []
