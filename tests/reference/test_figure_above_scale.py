"""A figure's 规上 of its year (``EnterpriseFigure.above_scale``): the domain, the API and the 一企一档 form."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import ValidationFailed
from crm.enterprises import domain
from crm.enterprises.models import EnterpriseFigure
from crm.extensions import db
from tests.api.support import bearer, error_of
from tests.conftest import login, make_enterprise, make_user


def figure_audits(figure: EnterpriseFigure) -> list[dict]:
    return [row.changes for row in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "figure", AuditLog.entity_id == figure.id)
        .order_by(AuditLog.id))]


def test_set_change_keep_and_clear_with_audit():
    ent = make_enterprise(above_scale=True)
    figure = domain.set_figure(None, ent, 2024, {"output_value": "1800", "above_scale": False})
    assert figure.above_scale is False
    domain.set_figure(None, ent, 2024, {"output_value": "1900"})  # not given: unchanged
    assert figure.above_scale is False
    domain.set_figure(None, ent, 2024, {"output_value": "2100", "above_scale": True})
    domain.set_figure(None, ent, 2024, {"output_value": "2100", "above_scale": None})  # cleared: not recorded
    assert figure.above_scale is None
    assert [c.get("above_scale") for c in figure_audits(figure)] == [[None, False], None, [False, True], [True, None]]
    plain = domain.set_figure(None, ent, 2025, {"output_value": "3000"})
    assert plain.above_scale is None and "above_scale" not in figure_audits(plain)[0]


def test_a_value_that_is_not_yes_or_no_is_refused_on_its_field():
    ent = make_enterprise()
    with pytest.raises(ValidationFailed) as err:
        domain.set_figure(None, ent, 2025, {"output_value": "100", "above_scale": "yes"})
    assert "above_scale" in err.value.fields


def test_api_put_takes_and_returns_above_scale(client):
    coordinator = make_user("coordinator")
    ent = make_enterprise()
    url = f"/api/v1/enterprises/{ent.id}/figures/2025"
    created = client.put(url, json={"output_value": 2500, "above_scale": True}, headers=bearer(coordinator))
    assert created.status_code == 201 and created.get_json()["above_scale"] is True
    kept = client.put(url, json={"output_value": 2600}, headers=bearer(coordinator))
    assert kept.status_code == 200 and kept.get_json()["above_scale"] is True
    cleared = client.put(url, json={"output_value": 2600, "above_scale": None}, headers=bearer(coordinator))
    assert cleared.get_json()["above_scale"] is None
    error = error_of(client.put(url, json={"output_value": 1, "above_scale": "是"}, headers=bearer(coordinator)), 422)
    assert "above_scale" in error["fields"]
    assert db.session.scalar(sa.select(EnterpriseFigure.above_scale).where(EnterpriseFigure.enterprise_id == ent.id)) \
        is None
    detail = client.get(f"/api/v1/enterprises/{ent.id}", headers=bearer(coordinator)).get_json()
    assert detail["figures"][0]["above_scale"] is None


def test_the_figures_form_sets_it_and_the_table_shows_it(client):
    coordinator = make_user("coordinator")
    ent = make_enterprise(above_scale=True)
    login(client, coordinator)
    response = client.post(f"/enterprises/{ent.id}/figures", data={
        "figure-year": "2024", "figure-output_value": "1500", "figure-chengyu_output_value": "0",
        "figure-above_scale": "no"})
    assert response.status_code == 302
    figure = db.session.scalar(sa.select(EnterpriseFigure).where(EnterpriseFigure.enterprise_id == ent.id))
    assert figure.above_scale is False
    page = client.get(f"/enterprises/{ent.id}?figure_year=2024").get_data(as_text=True)
    assert "当年规上" in page and '<td class="text-center figure-above-scale">否</td>' in page
    assert '<option selected value="no">否</option>' in page
    client.post(f"/enterprises/{ent.id}/figures", data={
        "figure-year": "2024", "figure-output_value": "1500", "figure-above_scale": ""})
    db.session.refresh(figure)
    assert figure.above_scale is None
