"""The dashboard report printed for the leadership meeting: print media hides the navigation, shows the footer
with the date, and the page renders under the strict CSP."""

from __future__ import annotations

from tests.browser.conftest import SHOTS, open_page, shot, sign_in
from tests.conftest import make_user


def test_the_report_prints_on_a4_without_navigation(site, browser):
    site.run(lambda: make_user("leader", username="r_leader"))
    page, problems = open_page(browser)
    sign_in(page, site, "r_leader")
    page.goto(f"{site.url}/dashboard/report/?year=2025&from=2026-01-01&to=2026-01-31")
    assert page.locator("[data-report-targets]").is_visible()
    assert page.locator(".print-footer").is_hidden()
    page.emulate_media(media="print")
    assert page.locator("nav.navbar").is_hidden()
    assert page.locator(".print-footer").is_visible()
    assert "生成于" in page.locator(".print-footer").inner_text()
    shot(page, "report-print")
    SHOTS.mkdir(parents=True, exist_ok=True)
    pdf = page.pdf(path=str(SHOTS / "report.pdf"), format="A4", print_background=True)
    assert pdf.startswith(b"%PDF")
    assert problems == []
