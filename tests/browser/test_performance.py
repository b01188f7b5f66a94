"""Service performance in a real browser: the ECharts chart renders under the strict CSP (no console errors, no
CSP violations), the drill-down reaches the 一企一档; a commissioner's own page on a phone."""

from __future__ import annotations

import pytest

from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import make_user
from tests.dashboard.service_data import build

QUERY = "?from=2026-10-01&to=2026-11-30"


@pytest.fixture(scope="module")
def loaded(site):
    site.run(lambda: (build(), make_user("leader", username="perf_leader")))
    return site


def test_leader_reads_the_dashboard_and_drills_down(loaded, browser):
    site = loaded
    page, problems = open_page(browser)
    sign_in(page, site, "perf_leader")
    page.goto(f"{site.url}/dashboard/service/{QUERY}")
    page.wait_for_selector("#visits-chart[data-rendered] svg")
    assert page.locator("#visits-chart svg path").count() > 0
    assert page.locator('[data-kpi="requests_overdue"]').inner_text().strip().endswith("3")
    assert page.locator('[data-table="visits-by-month"] tbody tr').count() == 2
    shot(page, "performance-desktop")
    page.click('[data-kpi="requests_overdue"] a')
    page.wait_for_selector('[data-table="records"]')
    assert page.locator('[data-table="records"] tbody tr').count() == 3
    page.locator('[data-table="records"] tbody tr a[href^="/enterprises/"]').first.click()
    page.wait_for_load_state()
    assert "/enterprises/" in page.url
    assert problems == [], problems


def test_commissioner_on_a_phone(loaded, browser):
    site = loaded
    page, problems = open_page(browser, phone=True)
    sign_in(page, site, "perf_a")
    page.goto(f"{site.url}/dashboard/service/{QUERY}")
    page.wait_for_selector("#visits-chart[data-rendered] svg")
    content = page.content()
    assert "我的服务绩效" in content and "专员乙" not in content
    assert no_horizontal_scroll(page)
    shot(page, "performance-phone")
    assert problems == [], problems
