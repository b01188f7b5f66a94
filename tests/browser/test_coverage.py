"""The coverage matrix in a real browser (strict CSP): its rows drawn compactly (fourth provincial-scale pass),
the bulk chooser written from plain columns and filtered by the chosen specialty (crm/static/js/assignments.js),
"select all" and a bulk assignment that lands."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.service.models import Assignment
from tests.browser.conftest import open_page, shot, sign_in
from tests.conftest import assign, make_enterprise, make_user
from tests.rosters.factories import published_edition


def test_a_coordinator_assigns_from_the_matrix(site, browser):
    def setup():
        from crm.rosters.models import RosterKind

        firms = [make_enterprise(f"遵义覆盖浏览{n}有限公司", county="汇川区") for n in range(3)]
        published_edition(RosterKind.SUPPLIER_LIST, "2026H1", firms)
        tech = make_user("commissioner", username="cov_tech", county="汇川区", specialties=["tech"])
        make_user("commissioner", username="cov_fin", county="汇川区", specialties=["finance"])
        make_user("coordinator", username="cov_coord")
        assign(firms[0], tech, "tech")
        return [f.id for f in firms]

    ids = site.run(setup)
    page, problems = open_page(browser)
    sign_in(page, site, "cov_coord")
    page.goto(f"{site.url}/assignments/?county=汇川区")
    assert page.locator(".coverage-table tbody tr").count() == 3
    first = page.locator(f'tr[data-enterprise="{ids[0]}"]')
    assert first.locator('td[data-specialty="tech"]').inner_text().strip() != "未分配"
    assert first.locator("td[data-gap]").count() == 4
    assert page.locator('[data-gap="tech"] [data-count]').inner_text() == "2"

    # The chooser offers only the chosen specialty's commissioners (and 自动建议).
    page.select_option("[data-bulk-specialty]", "finance")
    visible = page.eval_on_selector_all("[data-bulk-commissioner] option",
                                        "options => options.filter(o => !o.hidden).map(o => o.value)")
    assert visible == ["", "cov_fin"]
    page.select_option("[data-bulk-commissioner]", "cov_fin")
    page.check("[data-select-all]")
    assert page.locator('input[name="enterprise_ids"]:checked').count() == 3
    shot(page, "coverage-1-matrix-desktop")
    page.click("#bulk-form button[type=submit], #bulk-form input[type=submit]")
    page.wait_for_load_state()
    assert page.locator("[data-done]").inner_text() == "3"
    assert site.run(lambda: db.session.scalar(sa.select(sa.func.count(Assignment.id)).where(
        Assignment.enterprise_id.in_(ids), Assignment.specialty == "finance", Assignment.ended_on.is_(None)))) == 3
    page.goto(f"{site.url}/assignments/?county=汇川区")
    assert page.locator('[data-gap="finance"] [data-count]').inner_text() == "0"
    shot(page, "coverage-2-after-bulk-desktop")
    assert problems == []
