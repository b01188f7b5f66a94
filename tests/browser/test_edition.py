"""A list's new edition in a real browser, the whole workflow: the city coordinator opens a draft of 配套企业名单
(a copy of the published one), a county coordinator adds an enterprise and edits an entry's reason but finds no way
to submit or publish, the city coordinator submits it for review and publishes it (confirming the dialog), and the
published list shows the change. Desktop, strict CSP, CSRF on."""

from __future__ import annotations

import sqlalchemy as sa
from playwright.sync_api import expect

from crm.extensions import db
from crm.rosters import domain
from crm.rosters.models import EditionStatus, RosterEdition, RosterEntry, RosterKind
from tests.browser.conftest import open_page, shot, sign_in
from tests.conftest import make_enterprise, make_user

KIND = RosterKind.SUPPLIER_LIST.value
NEW_REASON = "已为长安汽车批量配套变速箱齿轮"


def _published_base():
    city = make_user("coordinator", username="e_city")
    make_user("coordinator", username="e_county", county="汇川区")
    kept = make_enterprise("遵义老牌配套有限公司")
    added = make_enterprise("遵义新晋齿轮有限公司")
    base = domain.open_edition(city, KIND, "2025H2")
    domain.add_entry(city, base, kept, "原有配套企业")
    domain.submit(city, base)
    domain.publish(city, base)
    return kept.id, added.id


def _state(period: str) -> tuple[str, dict[int, str]]:
    edition = db.session.scalar(sa.select(RosterEdition).where(RosterEdition.kind == RosterKind.SUPPLIER_LIST,
                                                               RosterEdition.period == period))
    reasons = dict(db.session.execute(sa.select(RosterEntry.enterprise_id, RosterEntry.reason)
                                      .where(RosterEntry.edition_id == edition.id)).all())
    return edition.status.value, reasons


def test_a_coordinator_opens_edits_submits_and_publishes_an_edition(site, browser):
    kept_id, added_id = site.run(_published_base)
    edition_url = f"{site.url}/rosters/{KIND}/2026H1"

    city, city_problems = open_page(browser)
    city.on("dialog", lambda dialog: dialog.accept())
    sign_in(city, site, "e_city")
    city.goto(f"{site.url}/rosters/{KIND}/")
    city.fill("input[name=period]", "2026H1")
    city.click("form:has(input[name=period]) [type=submit]")
    city.wait_for_load_state()
    assert city.url == edition_url
    assert "已开启" in city.locator(".alert-success").inner_text()
    assert city.locator("h1 [data-status]").inner_text() == "草稿"
    assert city.locator(f'tr[data-enterprise="{kept_id}"]').count() == 1  # a copy of the published 2025H2
    shot(city, "edition-1-opened-draft")

    county, county_problems = open_page(browser)
    sign_in(county, site, "e_county")
    county.goto(edition_url)
    assert county.locator("#review").count() == 0  # a county coordinator edits, but may not submit or publish
    county.fill("input[name=q]", "新晋齿轮")
    county.click("form[role=search] [type=submit]")
    county.wait_for_load_state()
    county.click(f'a[href$="/entries/add/{added_id}"]')
    county.wait_for_load_state()
    county.click("form[action*='/entries/add/'] [type=submit]")  # no reason: refused next to the field
    county.wait_for_load_state()
    assert county.locator("textarea[name=reason] ~ .invalid-feedback").inner_text() == "请填写入库理由"
    shot(county, "edition-2-reason-required")
    county.fill("textarea[name=reason]", "新认定省级专精特新企业")
    county.click("form[action*='/entries/add/'] [type=submit]")
    county.wait_for_load_state()
    assert county.url.startswith(edition_url)
    assert "已将“遵义新晋齿轮有限公司”加入" in county.locator(".alert-success").inner_text()
    assert county.locator(f'tr[data-enterprise="{added_id}"]').count() == 1

    county.click(f'tr[data-enterprise="{kept_id}"] a:has-text("修改/移出")')
    county.wait_for_load_state()
    county.fill("textarea[name=reason]", NEW_REASON)
    county.click(f"form[action$='/entries/{kept_id}'] [type=submit]")
    county.wait_for_load_state()
    assert "已保存“遵义老牌配套有限公司”的入库信息" in county.locator(".alert-success").inner_text()
    assert NEW_REASON in county.locator(f'tr[data-enterprise="{kept_id}"]').inner_text()
    shot(county, "edition-3-county-edited")
    assert site.run(lambda: _state("2026H1")) == ("draft", {kept_id: NEW_REASON, added_id: "新认定省级专精特新企业"})

    city.goto(edition_url)
    city.click("#review button:has-text('提交审核')")
    city.wait_for_load_state()
    assert "版本已提交审核" in city.locator(".alert-success").inner_text()
    assert city.locator("h1 [data-status]").inner_text() == "审核中"
    shot(city, "edition-4-in-review")
    county.goto(edition_url)
    assert "正在审核中" in county.content() and county.locator(f'a[href*="/entries/{kept_id}"]').count() == 0

    city.click("#review button:has-text('发布')")  # confirmed in a dialog: the form posts after click returns
    expect(city.locator(".alert-success")).to_contain_text("版本已发布")
    assert city.locator("h1 [data-status]").inner_text() == EditionStatus.PUBLISHED.label
    assert city.locator("#review").count() == 0
    shot(city, "edition-5-published")
    assert site.run(lambda: _state("2026H1"))[0] == "published"
    assert site.run(lambda: _state("2025H2"))[0] == "superseded"

    city.goto(f"{site.url}/rosters/?kind={KIND}")
    listed = city.locator("main").inner_text()
    assert "遵义新晋齿轮有限公司" in listed and NEW_REASON in listed
    shot(city, "edition-6-published-list")
    assert city_problems == [] and [p for p in county_problems if "422" not in p] == []
