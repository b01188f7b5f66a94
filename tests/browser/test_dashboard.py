"""The targets dashboard in a real browser: ECharts renders under the strict CSP (no console errors, no CSP
violations, the tooltip included), the bars get their widths, a number drills down to the firms and on to the
一企一档; a county coordinator on a phone sees their county and the city."""

from __future__ import annotations

import pytest

from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import make_user
from tests.dashboard import targets_world


@pytest.fixture(scope="module")
def loaded(site):
    site.run(lambda: (targets_world.build(), make_user("leader", username="targets_leader"),
                      make_user("coordinator", username="targets_tz", county="桐梓县"),
                      make_user("admin", username="targets_admin")))
    return site


def test_leader_reads_the_targets_and_drills_down(loaded, browser):
    site = loaded
    page, problems = open_page(browser)
    sign_in(page, site, "targets_leader")
    page.goto(f"{site.url}/dashboard/targets/2025")
    page.wait_for_selector("#targets-chart[data-rendered] canvas")
    assert page.locator('#targets-table tbody tr').count() == 3  # the city, 汇川区, 桐梓县
    width = page.locator('tr[data-unit="汇川区"] .progress-bar').first.evaluate("el => el.style.width")
    assert width == "33%"  # 2 of 6 firms
    box = page.locator("#targets-chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # the tooltip, on the canvas
    page.wait_for_timeout(300)
    shot(page, "targets-desktop")
    page.click('tr[data-unit="汇川区"] a[data-drill="firms"]')
    page.wait_for_selector("#drill-table")
    assert page.locator("#drill-table tbody tr").count() == 2
    page.locator('#drill-table a[href^="/enterprises/"]').first.click()
    page.wait_for_load_state()
    assert "/enterprises/" in page.url and "遵义甲配套有限公司" in page.content()
    assert problems == [], problems


def test_county_coordinator_on_a_phone(loaded, browser):
    site = loaded
    page, problems = open_page(browser, phone=True)
    sign_in(page, site, "targets_tz")
    page.goto(f"{site.url}/dashboard/")
    page.wait_for_selector("#targets-chart[data-rendered] canvas")
    assert page.locator("#targets-table tbody tr").count() == 2  # the city and 桐梓县
    assert no_horizontal_scroll(page)
    shot(page, "targets-phone")
    assert problems == [], problems


def test_admin_sets_the_counting_rules(loaded, browser):
    site = loaded
    page, problems = open_page(browser)
    sign_in(page, site, "targets_admin")
    page.goto(f"{site.url}/dashboard/")
    page.click("text=统计口径设置")
    page.wait_for_selector("select[name=output_measure]")
    page.select_option("select[name=output_measure]", "chengyu_output_value")
    page.fill("input[name=settled_since]", "2024-12-01")
    shot(page, "targets-rules")
    page.click("#save-rules")
    page.wait_for_selector(".alert-success")
    assert "2024年12月1日至" in page.content() and "成渝配套产值,由万元折算" in page.content()
    page.goto(f"{site.url}/dashboard/targets/2025")
    assert page.locator('[data-number="settled_from_chengyu"] .fs-5 a').inner_text() == "3"  # S1 now counts
    assert problems == [], problems
