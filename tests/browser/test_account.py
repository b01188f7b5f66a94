"""我的账户 in a real browser: a user opens it from the user menu, sees their live sessions (this one marked), changes
their password (a weak one refused under its field, then a strong one), and their other browser is signed out by
the change; signed in again there, "退出所有登录" signs out both. Desktop, strict CSP, CSRF on."""

from __future__ import annotations

import re

from playwright.sync_api import Page

from tests.browser.conftest import open_page, shot, sign_in
from tests.conftest import TEST_PASSWORD, make_user

STRONG = "Zunyi-Chengdu-2026!"


def _sign_in_with(page: Page, url: str, password: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", "a_user")
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url


def _signed_out(page: Page, url: str) -> bool:
    page.goto(f"{url}/account")
    return "/login" in page.url and page.locator("input[name=password]").count() == 1


def test_a_user_changes_their_password_and_signs_out_everywhere(site, browser):
    site.run(lambda: make_user("coordinator", username="a_user"))
    other, other_problems = open_page(browser)  # the same user's second browser
    sign_in(other, site, "a_user")
    page, problems = open_page(browser)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, site, "a_user")

    page.click("nav a[title^='我的账户']")  # the user menu: name · role
    page.wait_for_load_state()
    assert page.url == f"{site.url}/account"
    assert page.locator("h1").inner_text() == "我的账户"
    rows = page.locator("table tbody tr")
    assert rows.count() == 2 and rows.filter(has_text="当前设备").count() == 1
    assert all(re.search(r"Chrom(e|ium)", t) for t in rows.all_inner_texts())
    shot(page, "account-1-sessions")

    page.click("a:has-text('修改密码')")
    page.wait_for_load_state()
    assert page.url.endswith("/account/password")
    page.fill("input[name=current_password]", TEST_PASSWORD)
    page.fill("input[name=new_password]", "abc123")
    page.fill("input[name=new_password2]", "abc123")
    page.click("main form [type=submit]")
    page.wait_for_load_state()
    assert page.locator("input[name=new_password] ~ .invalid-feedback").inner_text() == "密码至少需要12个字符"
    assert "is-invalid" in page.locator("input[name=new_password]").get_attribute("class")
    shot(page, "account-2-weak-password")
    assert not _signed_out(other, site.url)  # a refused change signs nobody out

    page.fill("input[name=current_password]", TEST_PASSWORD)
    page.fill("input[name=new_password]", STRONG)
    page.fill("input[name=new_password2]", STRONG)
    page.click("main form [type=submit]")
    page.wait_for_load_state()
    assert page.url == f"{site.url}/account"
    assert "密码已修改,其他设备上的登录均已退出" in page.locator(".alert-success").inner_text()
    assert page.locator("table tbody tr").count() == 1  # only this browser is left
    shot(page, "account-3-password-changed")
    assert _signed_out(other, site.url)
    shot(other, "account-4-other-browser-signed-out")

    _sign_in_with(other, site.url, STRONG)
    page.reload()
    assert page.locator("table tbody tr").count() == 2
    page.click("button:has-text('退出所有登录')")  # confirmed in a dialog: the form posts after click returns
    page.wait_for_url("**/login**")
    assert "已退出所有设备上的登录" in page.content()
    shot(page, "account-5-signed-out-everywhere")
    assert _signed_out(page, site.url) and _signed_out(other, site.url)
    assert [p for p in problems if "422" not in p] == [] and other_problems == []  # 422: the refused password
