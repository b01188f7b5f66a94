"""A commissioner logs a visit (服务记录) on a phone: from their workspace card to the form, a refusal shown next to
its field in Chinese, then a saved record seen in the workspace and on the enterprise's page. Strict CSP, CSRF on."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.core.time import local_today
from crm.extensions import db
from crm.service.models import Interaction
from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import assign, make_enterprise, make_user

SUMMARY = "走访企业总经理,了解二季度订单与配套需求,企业希望对接成都整车厂。"


def test_a_commissioner_logs_a_visit_on_a_phone(site, browser):
    def setup():
        firm = make_enterprise("遵义精密齿轮有限公司")
        other = make_enterprise("与专员无关的铸造有限公司")
        commissioner = make_user("commissioner", username="v_commissioner", specialties=["tech"])
        assign(firm, commissioner)
        return firm.id, other.id

    firm_id, other_id = site.run(setup)
    page, problems = open_page(browser, phone=True)
    sign_in(page, site, "v_commissioner")
    page.goto(f"{site.url}/service/")
    card = page.locator(f'.workspace-cards [data-card="{firm_id}"]')
    assert card.is_visible() and "遵义精密齿轮有限公司" in card.inner_text()
    assert page.locator(f'[data-card="{other_id}"]').count() == 0  # only the enterprises assigned to them
    assert no_horizontal_scroll(page)
    shot(page, "visit-1-workspace-phone")

    card.locator("[data-log]").click()
    page.wait_for_load_state()
    assert f"/service/interactions/new?enterprise_id={firm_id}" in page.url
    assert page.input_value("input[name=date]") == local_today().isoformat()
    assert page.locator("input[name=channel][value=visit]").is_checked()
    assert page.locator("input[name=specialty][value=tech]").is_checked()
    assert no_horizontal_scroll(page)
    shot(page, "visit-2-form-phone")

    # A date tomorrow and no summary: both refused, each message under its own field, nothing saved.
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    page.fill("input[name=date]", tomorrow)
    page.fill("input[name=participants]", "企业总经理王某")
    page.click("form[data-log-form] button[type=submit]")
    page.wait_for_load_state()
    date_error = page.locator("input[name=date] ~ .invalid-feedback").inner_text()
    summary_error = page.locator("textarea[name=summary] ~ .invalid-feedback").inner_text()
    assert date_error == f"服务日期不能晚于今天({local_today().isoformat()})"
    assert summary_error == "请填写服务内容摘要"
    assert page.locator("input[name=date]").get_attribute("class").count("is-invalid") == 1
    assert page.input_value("input[name=participants]") == "企业总经理王某"  # what was typed is kept
    assert no_horizontal_scroll(page)
    shot(page, "visit-3-refused-phone")
    assert site.run(lambda: db.session.scalar(sa.select(sa.func.count(Interaction.id)).where(
        Interaction.enterprise_id == firm_id))) == 0

    page.fill("input[name=date]", local_today().isoformat())
    page.fill("textarea[name=summary]", SUMMARY)
    page.click("form[data-log-form] button[type=submit]")
    page.wait_for_load_state()
    assert page.url.rstrip("/").endswith("/service")
    flash = page.locator(".alert-success").inner_text()
    assert "遵义精密齿轮有限公司" in flash and local_today().isoformat() in flash
    card = page.locator(f'.workspace-cards [data-card="{firm_id}"]')
    assert local_today().strftime("%m-%d") in card.inner_text() or local_today().isoformat() in card.inner_text()
    assert no_horizontal_scroll(page)
    shot(page, "visit-4-saved-phone")

    saved = site.run(lambda: db.session.execute(sa.select(
        Interaction.summary, Interaction.occurred_on, Interaction.participants).where(
        Interaction.enterprise_id == firm_id)).all())
    assert [tuple(row) for row in saved] == [
        (SUMMARY, local_today(), "企业总经理王某")]

    page.goto(f"{site.url}/enterprises/{firm_id}")
    assert "走访企业总经理" in page.locator("main").inner_text()
    assert no_horizontal_scroll(page)
    shot(page, "visit-5-enterprise-record-phone")
    assert [p for p in problems if "422" not in p] == []
