"""API: GET /api/v1/dashboard/targets (API.md's shape, validated against the document by the test client) and the
counting rules endpoints."""

from __future__ import annotations

from datetime import date
from unittest import mock

import pytest

from crm.dashboard import rules as rules_domain
from crm.dashboard import targets
from crm.extensions import db
from tests.conftest import api_token, make_user
from tests.dashboard import targets_world


@pytest.fixture
def world():
    return targets_world.build()


@pytest.fixture(autouse=True)
def _today():
    with mock.patch.object(targets, "local_today", return_value=date(2026, 12, 6)), \
            mock.patch.object(rules_domain, "local_today", return_value=date(2026, 12, 6)):
        yield


def get(client, user, url):
    return client.get(url, headers=api_token(user))


def test_api_md_shape(client, world):
    response = get(client, make_user("leader"), "/api/v1/dashboard/targets?year=2025")
    assert response.status_code == 200
    data = response.get_json()
    assert {"year", "city", "units", "parks", "settled_from_chengyu", "rules"} <= set(data)
    assert data["year"] == 2025
    row_keys = {"target_firms", "actual_firms", "target_output", "actual_output"}
    assert row_keys <= set(data["city"])
    assert data["city"]["actual_firms"] == 3 and data["city"]["actual_output"] == 3.734567
    assert [u["unit"] for u in data["units"]] == ["汇川区", "桐梓县"]
    assert all(row_keys <= set(u) for u in data["units"])
    hc = data["units"][0]
    assert (hc["target_firms"], hc["actual_firms"], hc["target_output"], hc["actual_output"]) == (6, 2, 6.0, 2.5)
    assert data["parks"]["target"] == 2 and data["parks"]["actual"] == 1
    assert data["settled_from_chengyu"]["target"] == 4 and data["settled_from_chengyu"]["actual"] == 2
    assert data["rules"]["list_edition"] == "2025H2" and data["rules"]["settled_since"] == "2024-12-03"
    assert "配套企业名单" in data["rules"]["firms"]


def test_default_year_is_the_first_not_over(client, world):
    assert get(client, make_user("admin"), "/api/v1/dashboard/targets").get_json()["year"] == 2027


def test_in_the_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert "get" in doc["paths"]["/dashboard/targets"]
    assert {"get", "patch"} <= set(doc["paths"]["/dashboard/rules"])


@pytest.mark.parametrize("year", ["abc", "1999", "2101", "2025.5", "２０２５"])
def test_a_bad_year_names_the_field(client, world, year):
    response = get(client, make_user("admin"), f"/api/v1/dashboard/targets?year={year}")
    assert response.status_code in (400, 422)
    assert "year" in response.get_json()["error"]["fields"]


def test_a_year_without_targets_is_404(client, world):
    assert get(client, make_user("admin"), "/api/v1/dashboard/targets?year=2026").status_code == 404


def test_a_county_scoped_caller_gets_only_their_unit(client, world):
    data = get(client, make_user("coordinator", county="桐梓县"), "/api/v1/dashboard/targets?year=2025").get_json()
    assert [u["unit"] for u in data["units"]] == ["桐梓县"]
    assert data["city"]["actual_firms"] == 3


@pytest.mark.parametrize("county", [None, "汇川区"])
def test_commissioners_are_refused(client, world, county):
    commissioner = make_user("commissioner", county=county, specialties=["tech"])
    assert get(client, commissioner, "/api/v1/dashboard/targets?year=2025").status_code == 403
    assert get(client, commissioner, "/api/v1/dashboard/rules").status_code == 403


def test_without_a_token(client):
    assert client.get("/api/v1/dashboard/targets?year=2025").status_code == 401


def test_rules_read_and_changed_by_an_admin(client):
    admin = make_user("admin")
    data = get(client, make_user("leader"), "/api/v1/dashboard/rules").get_json()
    assert data["output_measure"] == "output_value" and data["updated_by"] is None
    response = client.patch("/api/v1/dashboard/rules", json={"settled_since": "2025-01-01", "version": 1},
                            headers=api_token(admin))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["settled_since"] == "2025-01-01"
    assert response.get_json()["updated_by"] == admin.username
    stale = client.patch("/api/v1/dashboard/rules", json={"settled_since": "2025-02-01", "version": 1},
                         headers=api_token(admin))
    assert stale.status_code == 409
    db.session.expire_all()
    assert rules_domain.current_rules().settled_since == date(2025, 1, 1)


@pytest.mark.parametrize(("payload", "field"), [({"output_measure": "利润"}, "output_measure"),
                                                ({"settled_since": "明天"}, "settled_since"),
                                                ({"unknown": 1}, "unknown")])
def test_bad_rules_are_refused(client, payload, field):
    response = client.patch("/api/v1/dashboard/rules", json=payload, headers=api_token(make_user("admin")))
    assert response.status_code == 422
    assert field in response.get_json()["error"]["fields"]


def test_only_admins_change_the_rules(client):
    response = client.patch("/api/v1/dashboard/rules", json={"settled_since": "2025-01-01"},
                            headers=api_token(make_user("leader")))
    assert response.status_code == 403


def test_drill_down_to_the_firms(client, world):
    f = world.firms
    data = get(client, make_user("leader"), "/api/v1/dashboard/targets/2025/firms?county=汇川区").get_json()
    assert data["year"] == 2025 and data["county"] == "汇川区"
    assert [(i["id"], i["output"]) for i in data["items"]] == [(f["A"].id, 2.5), (f["F"].id, 0.0)]
    scoped = make_user("coordinator", county="桐梓县")
    assert get(client, scoped, "/api/v1/dashboard/targets/2025/firms?county=汇川区").status_code == 403
    mine = get(client, scoped, "/api/v1/dashboard/targets/2025/firms").get_json()
    assert mine["county"] == "桐梓县" and [i["id"] for i in mine["items"]] == [f["C"].id]
    commissioner = make_user("commissioner", specialties=["tech"])
    assert get(client, commissioner, "/api/v1/dashboard/targets/2025/firms").status_code == 403
    assert get(client, make_user("admin"), "/api/v1/dashboard/targets/2026/firms").status_code == 404
