"""The workspace's one markup per enterprise (issue 11, fourth pass): a card on a phone, a table row on a desktop,
laid out by crm/static/css/workspace.css alone (strict CSP, no script involved)."""

from __future__ import annotations

from datetime import timedelta

from crm.core.time import local_today
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import assign, make_enterprise, make_user


def _world():
    commissioner = make_user("commissioner", username="layout_commissioner", specialties=["tech", "finance"])
    make_user("coordinator", username="layout_coordinator")
    late = make_enterprise("遵义布局诉求逾期精密制造股份有限公司")
    never = make_enterprise("遵义布局从未联系有限公司", county="桐梓县", cluster="电子信息")
    recent = make_enterprise("遵义布局近期联系有限公司")
    for firm in (late, never, recent):
        assign(firm, commissioner, "tech")
    assign(late, commissioner, "finance")
    today = local_today()
    for firm, days in ((late, 40), (recent, 2)):
        interaction_domain.log_interaction(commissioner, firm, {
            "date": (today - timedelta(days=days)).isoformat(), "channel": "visit", "specialty": "tech",
            "summary": "走访", "next_follow_up": ""}, today=today)
    request_domain.raise_request(commissioner, late, {
        "category": "用地", "description": "用地指标", "raised_on": (today - timedelta(days=40)).isoformat(),
        "due_date": (today - timedelta(days=20)).isoformat()}, today=today)
    return late.id, never.id, recent.id


def test_one_markup_is_a_card_on_a_phone_and_a_row_on_a_desktop(site, browser):
    late_id, never_id, recent_id = site.run(_world)

    page, problems = open_page(browser, phone=True)
    sign_in(page, site, "layout_commissioner")
    page.goto(f"{site.url}/service/")
    cards = page.locator(".workspace-cards [data-card]")
    assert cards.count() == 3
    assert [cards.nth(i).get_attribute("data-card") for i in range(3)] == [str(late_id), str(never_id),
                                                                             str(recent_id)]
    width = page.viewport_size["width"]
    for i in range(3):
        card = cards.nth(i)
        assert card.is_visible()
        assert card.evaluate("e => getComputedStyle(e).display") == "block"
        box = card.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        button = card.locator("[data-log]")
        button_box = button.bounding_box()
        assert button_box["width"] >= box["width"] - 40 and button_box["height"] >= 44  # within reach of a thumb
    header = page.locator(".workspace-cards thead")
    assert header.bounding_box()["height"] <= 1  # hidden from sight, still read by screen readers
    label = cards.first.locator('td[data-label="最近联系"]').evaluate(
        "e => getComputedStyle(e, '::before').content")
    assert "最近联系" in label
    assert "遵义布局诉求逾期精密制造股份有限公司" in cards.first.inner_text()
    assert no_horizontal_scroll(page)
    shot(page, "workspace-layout-phone")

    desk, desk_problems = open_page(browser)
    sign_in(desk, site, "layout_coordinator")
    desk.goto(f"{site.url}/service/")
    rows = desk.locator(".workspace-table tbody tr")
    assert rows.count() == 3
    assert rows.first.evaluate("e => getComputedStyle(e).display") == "table-row"
    assert desk.locator(".workspace-table thead th").first.is_visible()
    tops = {round(cell.bounding_box()["y"]) for cell in rows.first.locator("td").all()}
    assert len(tops) == 1  # the cells side by side: one row
    assert no_horizontal_scroll(desk)
    shot(desk, "workspace-layout-desktop")
    assert problems == [] and desk_problems == []
