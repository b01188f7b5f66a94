"""The leadership calendar in a real browser: the leader's home, FullCalendar's month / week / list views under the
strict CSP, the kind filter, a click through to the meeting, the list view on a phone, the private feed URL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from crm.core.time import local_today
from crm.meetings import domain
from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import make_user
from tests.meetings.factories import make_meeting, partner


def _day(offset: int, hour: int = 9) -> str:
    return f"{local_today() + timedelta(days=offset)} {hour:02d}:00"


@pytest.fixture(scope="module")
def planned(site):
    """The leader and a week of meetings, put in once for the module's tests."""
    site.run(_plan)
    return site


def _plan():
    make_user("leader", username="c_leader")
    make_meeting(title="遵义—成都产销对接会", starts=_day(2), city="成都", partners=[partner()])
    make_meeting(title="重庆供应链洽谈会", kind="supply_chain", starts=_day(3), city="重庆", status="confirmed")
    domain.cancel_meeting(None, make_meeting(title="取消的座谈会", kind="entrepreneur_forum", starts=_day(4),
                                             city="绵阳"), "改期")


def test_a_leader_lands_on_their_home_and_reads_the_calendar(planned, browser):
    site = planned
    page, problems = open_page(browser)
    sign_in(page, site, "c_leader")
    assert page.url.endswith("/calendar/home")
    home = page.content()
    assert "遵义—成都产销对接会" in home and "重庆供应链洽谈会" in home
    assert page.locator('[data-rule-kind="supply_demand"]').count() == 1
    shot(page, "calendar-leader-home")

    page.goto(f"{site.url}/calendar/")
    page.wait_for_selector(".fc-event")
    titles = page.locator(".fc-event").all_inner_texts()
    assert any("遵义—成都产销对接会" in t for t in titles) and any("重庆供应链洽谈会" in t for t in titles)
    shot(page, "calendar-month")
    page.click(".fc-timeGridWeek-button")
    page.wait_for_selector(".fc-timegrid")
    page.click(".fc-listMonth-button")
    page.wait_for_selector(".fc-list")
    page.select_option("#filter-kind", "supply_chain")
    page.wait_for_timeout(600)
    filtered = page.locator(".fc-event").all_inner_texts()
    assert filtered and all("重庆供应链洽谈会" in t for t in filtered)
    page.locator(".fc-event").first.click()
    page.wait_for_load_state()
    assert "/meetings/" in page.url and "重庆供应链洽谈会" in page.content()
    assert problems == []  # FullCalendar injects no inline style or script the CSP would block


def test_a_phone_gets_the_list_view_and_a_private_feed_url(planned, browser):
    site = planned
    phone, problems = open_page(browser, phone=True)
    sign_in(phone, site, "c_leader")
    phone.goto(f"{site.url}/calendar/")
    phone.wait_for_selector(".fc-list")
    assert phone.locator(".fc-dayGridMonth-view").count() == 0
    assert no_horizontal_scroll(phone)
    shot(phone, "calendar-phone")
    phone.goto(f"{site.url}/calendar/feed")
    phone.click("form[action$='/calendar/feed/create'] button")
    phone.wait_for_load_state()
    assert ".ics" in phone.content() and "/calendar/" in phone.content()
    assert problems == []
