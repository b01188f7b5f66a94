"""The park upkeep page in a real browser (strict CSP): a city coordinator recognises the plan's park as a
配套产业园区, on a desktop and on a phone; a stale second tab is refused with its input kept."""

from __future__ import annotations

import pytest

from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import make_user


@pytest.fixture(scope="module")
def keeper(site):
    site.run(lambda: make_user("coordinator", username="ref_keeper"))
    return site


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_a_coordinator_recognises_a_park(keeper, browser, phone):
    site = keeper
    page, problems = open_page(browser, phone=phone)
    sign_in(page, site, "ref_keeper")
    page.goto(f"{site.url}/reference/parks")
    assert "桐梓(重庆)工业园" in page.content()
    shot(page, f"reference-parks-{'phone' if phone else 'desktop'}")
    page.locator("#parks a", has_text="修改").first.click()
    page.wait_for_selector("#park-form")
    other, _ = open_page(browser, phone=phone)  # a second tab opened on the same version
    sign_in(other, site, "ref_keeper")
    other.goto(page.url)
    page.check("#supporting")
    page.fill("#recognised_on", "2026-06-30")
    page.fill("#recognition_document", f"遵工信发〔2026〕{20 + phone}号")
    page.click("#park-form button[type=submit], #park-form input[type=submit]")
    page.wait_for_load_state()
    assert "园区信息已保存" in page.content() and "已认定" in page.content()
    other.fill("#recognition_document", "另一份文件")
    other.click("#park-form button[type=submit], #park-form input[type=submit]")
    other.wait_for_load_state()
    assert "该记录已被他人修改" in other.content()
    assert other.input_value("#recognition_document") == "另一份文件"
    shot(other, f"reference-park-stale-{'phone' if phone else 'desktop'}")
    if phone:
        assert no_horizontal_scroll(page)
    assert problems == []
