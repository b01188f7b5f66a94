"""Assignment endpoints (API.md, Service): PUT/GET/DELETE an enterprise's assignments, coverage, suggestion."""

from __future__ import annotations

import pytest

from crm.auth.models import Specialty
from crm.core.time import local_today
from crm.extensions import db
from crm.rosters.models import RosterKind
from crm.service import assignments as domain
from tests.api.support import bearer, error_of
from tests.conftest import assign, make_enterprise, make_user
from tests.rosters.factories import published_edition

PREFIX = "/api/v1"
TECH = Specialty.TECH


def url(enterprise, tail: str = "") -> str:
    return f"{PREFIX}/enterprises/{enterprise.id}/assignments{tail}"


def commissioner(*specialties: str, **kwargs):
    return make_user("commissioner", specialties=list(specialties) or ["tech"], **kwargs)


def active(enterprise, specialty=TECH):
    db.session.expire_all()
    return domain.active_for(enterprise, specialty)


@pytest.fixture
def city():
    return bearer(make_user("coordinator"))


# --- PUT and GET -------------------------------------------------------------------------------------------

def test_put_assigns_and_get_lists_the_history(client, city):
    ent = make_enterprise()
    zhang = commissioner("tech", username="api-zhang")
    li = commissioner("tech", username="api-li")
    db.session.commit()
    response = client.put(url(ent, "/tech"), json={"commissioner": "api-zhang"}, headers=city)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert {k: body[k] for k in ("specialty", "commissioner", "ended_on")} == {
        "specialty": "tech", "commissioner": "api-zhang", "ended_on": None}
    assert body["started_on"] == local_today().isoformat()
    again = client.put(url(ent, "/tech"), json={"commissioner": "api-zhang"}, headers=city)
    assert again.status_code == 200 and again.get_json()["id"] == body["id"]  # same one: nothing changes
    handed = client.put(url(ent, "/tech"), json={"commissioner": "api-li"}, headers=city).get_json()
    assert handed["commissioner"] == "api-li" and handed["ended_on"] is None
    listing = client.get(url(ent), headers=city)
    assert listing.status_code == 200
    items = listing.get_json()["items"]
    assert [(i["commissioner"], i["ended_on"] is None) for i in items] == [("api-li", True), ("api-zhang", False)]
    assert items[1]["end_reason"] == "交接" and listing.get_json()["total"] == 2
    assert set(items[0]) >= {"specialty", "commissioner", "started_on", "ended_on"}
    assert "交接" in listing.get_data(as_text=True)  # Chinese unescaped
    assert active(ent).commissioner_id == li.id and zhang.id != li.id


def test_put_with_a_start_date(client, city):
    ent = make_enterprise()
    commissioner("tech", username="api-start")
    db.session.commit()
    body = client.put(url(ent, "/tech"), json={"commissioner": "api-start", "started_on": "2026-02-03"},
                      headers=city).get_json()
    assert body["started_on"] == "2026-02-03"
    ent2 = make_enterprise()
    db.session.commit()
    error = error_of(client.put(url(ent2, "/tech"), json={"commissioner": "api-start", "started_on": "昨天"},
                                headers=city), 422)
    assert "started_on" in error["fields"]


def test_put_refuses_bad_input(client, city):
    ent = make_enterprise()
    make_user("leader", username="api-a-leader")
    commissioner("finance", username="api-financier")
    commissioner("tech", county="桐梓县", username="api-tongzi")
    db.session.commit()
    error_of(client.put(url(ent, "/cooking"), json={"commissioner": "api-financier"}, headers=city), 404)
    cases = [({"commissioner": "api-a-leader"}, "不是服务专员"), ({"commissioner": "api-financier"}, "没有科技专长"),
             ({"commissioner": "api-tongzi"}, "限于桐梓县"), ({"commissioner": "ghost"}, "没有用户名为"),
             ({"commissioner": ""}, "请填写"), ({"commissioner": 7}, "请填写"), ({}, "请填写")]
    for payload, words in cases:
        error = error_of(client.put(url(ent, "/tech"), json=payload, headers=city), 422)
        assert words in error["fields"]["commissioner"], payload
    error = error_of(client.put(url(ent, "/tech"), json={"commissioner": "api-financier", "color": "red"},
                                headers=city), 422)
    assert "color" in error["fields"]
    error_of(client.put(url(ent, "/tech"), data="[1]", headers=city), 400)
    error_of(client.put(url(ent, "/tech"), data="not json", headers=city), 400)
    error_of(client.put(f"{PREFIX}/enterprises/99999999/assignments/tech", json={"commissioner": "x"},
                        headers=city), 404)
    error_of(client.put(f"{PREFIX}/enterprises/99999999999/assignments/tech", json={"commissioner": "x"},
                        headers=city), 404)
    assert active(ent) is None


def test_put_respects_the_cap(client, city, app, monkeypatch):
    monkeypatch.setitem(app.config, "ASSIGNMENT_CAP", 1)
    busy = commissioner("tech", username="api-busy")
    assign(make_enterprise(), busy)
    ent = make_enterprise()
    db.session.commit()
    error = error_of(client.put(url(ent, "/tech"), json={"commissioner": "api-busy"}, headers=city), 422)
    assert "上限1家" in error["fields"]["commissioner"]


def test_who_may_not_assign(client):
    home, away = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    mine = commissioner("tech", "finance", username="api-mine")
    assign(home, mine)
    other = commissioner("finance", username="api-other")
    headers = {"commissioner": bearer(mine), "other": bearer(other), "leader": bearer(make_user("leader")),
               "county": bearer(make_user("coordinator", county="汇川区"))}
    body = {"commissioner": "api-other"}
    error_of(client.put(url(home, "/finance"), json=body, headers=headers["commissioner"]), 403)
    error_of(client.put(url(home, "/finance"), json=body, headers=headers["other"]), 404)
    error_of(client.put(url(home, "/finance"), json=body, headers=headers["leader"]), 403)
    error_of(client.put(url(away, "/finance"), json=body, headers=headers["county"]), 404)
    error_of(client.delete(url(home, "/tech"), json={"reason": "x"}, headers=headers["commissioner"]), 403)
    error_of(client.delete(url(home, "/tech"), json={"reason": "x"}, headers=headers["leader"]), 403)
    error_of(client.get(url(away), headers=headers["county"]), 404)
    error_of(client.get(url(away), headers=headers["other"]), 404)
    assert client.get(url(home), headers=headers["commissioner"]).status_code == 200
    assert client.get(url(home), headers=headers["leader"]).status_code == 200
    assert active(home, Specialty.FINANCE) is None and active(home).commissioner_id == mine.id
    assert client.put(url(home, "/finance"), json=body, headers=headers["county"]).status_code == 200
    error_of(client.put(url(home, "/finance"), json=body), 401)


def test_a_commissioner_gets_and_loses_the_enterprise(client, city):
    ent = make_enterprise()
    tech = commissioner("tech", username="api-reach")
    mine = bearer(tech)
    error_of(client.get(f"{PREFIX}/enterprises/{ent.id}", headers=mine), 404)
    assert client.put(url(ent, "/tech"), json={"commissioner": "api-reach"}, headers=city).status_code == 200
    assert client.get(f"{PREFIX}/enterprises/{ent.id}", headers=mine).status_code == 200
    assert client.delete(url(ent, "/tech"), json={"reason": "人员调整"}, headers=city).status_code == 204
    error_of(client.get(f"{PREFIX}/enterprises/{ent.id}", headers=mine), 404)


# --- DELETE ------------------------------------------------------------------------------------------------

def test_delete_ends_the_active_assignment_with_a_reason(client, city):
    ent = make_enterprise()
    assign(ent, commissioner("tech"))
    db.session.commit()
    error = error_of(client.delete(url(ent, "/tech"), headers=city), 422)
    assert "reason" in error["fields"]
    error_of(client.delete(url(ent, "/tech"), json={"reason": "  "}, headers=city), 422)
    error_of(client.delete(url(ent, "/tech"), json={"reason": "x" * 201}, headers=city), 422)
    error_of(client.delete(url(ent, "/tech"), data="[]", headers=city), 400)
    error_of(client.delete(url(ent, "/cooking"), json={"reason": "x"}, headers=city), 404)
    response = client.delete(url(ent, "/tech"), json={"reason": "企业诉求已办结"}, headers=city)
    assert response.status_code == 204 and response.get_data() == b""
    items = client.get(url(ent), headers=city).get_json()["items"]
    assert items[0]["ended_on"] == local_today().isoformat() and items[0]["end_reason"] == "企业诉求已办结"
    error = error_of(client.delete(url(ent, "/tech"), json={"reason": "再来"}, headers=city), 404)
    assert "没有科技服务专员" in error["message"]


# --- coverage and suggestion ---------------------------------------------------------------------------------

def test_coverage(client, city):
    a, b = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县", cluster="电子信息")
    unlisted = make_enterprise()
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [a])
    published_edition(RosterKind.CULTIVATION_POOL, "2026H1", [b])
    assign(a, commissioner("tech", username="api-cov"))
    db.session.commit()
    response = client.get(f"{PREFIX}/assignments/coverage", headers=city)
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 2 and unlisted.id not in {i["enterprise_id"] for i in body["items"]}
    row = next(i for i in body["items"] if i["enterprise_id"] == a.id)
    assert row["assignments"]["tech"]["commissioner"] == "api-cov" and row["assignments"]["finance"] is None
    assert row["gaps"] == ["finance", "legal", "media", "talent"] and row["lists"] == ["supplier_list"]
    assert body["gap_counts"] == {"tech": 1, "finance": 2, "legal": 2, "media": 2, "talent": 2}

    def ids(query: str) -> set[int]:
        got = client.get(f"{PREFIX}/assignments/coverage?{query}", headers=city)
        assert got.status_code == 200, got.get_data(as_text=True)
        return {i["enterprise_id"] for i in got.get_json()["items"]}

    assert ids("roster=cultivation_pool") == {b.id}
    assert ids("county=汇川区") == {a.id}
    assert ids("cluster=电子信息") == {b.id}
    assert ids("missing=tech") == {b.id}
    assert len(ids("per_page=1&page=2")) == 1
    paged = client.get(f"{PREFIX}/assignments/coverage?per_page=1&page=2", headers=city).get_json()
    assert paged["total"] == 2 and paged["page"] == 2 and paged["per_page"] == 1
    assert paged["gap_counts"] == body["gap_counts"]  # over every page
    assert client.get(f"{PREFIX}/assignments/coverage?page=3&per_page=1", headers=city).get_json()["items"] == []
    error_of(client.get(f"{PREFIX}/assignments/coverage?roster=nope", headers=city), 422)
    error_of(client.get(f"{PREFIX}/assignments/coverage?per_page=0", headers=city), 400)
    county = bearer(make_user("coordinator", county="桐梓县"))
    assert {i["enterprise_id"] for i in client.get(f"{PREFIX}/assignments/coverage", headers=county)
            .get_json()["items"]} == {b.id}


def test_suggestion(client, city, app, monkeypatch):
    ent = make_enterprise(county="汇川区")
    busy = commissioner("tech", username="api-sug-busy", county="汇川区")
    commissioner("tech", username="api-sug-city")
    assign(make_enterprise(), busy)
    db.session.commit()
    query = f"{PREFIX}/assignments/suggestion?enterprise_id={ent.id}&specialty=tech"
    body = client.get(query, headers=city).get_json()
    assert body["commissioner"]["username"] == "api-sug-busy"  # same county first, whatever the load
    assert body["commissioner"]["active_assignments"] == 1 and body["cap"] == 40 and body["current"] is None
    monkeypatch.setitem(app.config, "ASSIGNMENT_CAP", 1)
    assert client.get(query, headers=city).get_json()["commissioner"]["username"] == "api-sug-city"
    body = client.get(f"{PREFIX}/assignments/suggestion?enterprise_id={ent.id}&specialty=media",
                      headers=city).get_json()
    assert body["commissioner"] is None
    error = error_of(client.get(f"{PREFIX}/assignments/suggestion?specialty=cooking", headers=city), 422)
    assert set(error["fields"]) == {"enterprise_id", "specialty"}
    for bad in ("²", "0", "-3", "abc", "99999999999"):
        error_of(client.get(f"{PREFIX}/assignments/suggestion?enterprise_id={bad}&specialty=tech", headers=city), 422)
    error_of(client.get(f"{PREFIX}/assignments/suggestion?enterprise_id=99999999&specialty=tech", headers=city),
             404)
    error_of(client.get(query, headers=bearer(make_user("leader"))), 403)
    error_of(client.get(query, headers=bearer(busy)), 404)


def test_routes_are_documented(client):
    doc = client.get(f"{PREFIX}/openapi.json").get_json()
    assert {"put", "delete"} <= set(doc["paths"]["/enterprises/{enterprise_id}/assignments/{specialty}"])
    assert "get" in doc["paths"]["/enterprises/{enterprise_id}/assignments"]
    assert "get" in doc["paths"]["/assignments/coverage"] and "get" in doc["paths"]["/assignments/suggestion"]
    assert {"Assignment", "AssignmentPut", "CoveragePage", "AssignmentSuggestion"} <= set(
        doc["components"]["schemas"])


def test_a_suggestion_for_an_id_of_thousands_of_digits_is_422(client, city):
    # int() refuses more than 4300 digits with a ValueError: it was a 500
    error = error_of(client.get(f"{PREFIX}/assignments/suggestion?enterprise_id={'9' * 4400}&specialty=tech",
                                headers=city), 422)
    assert "enterprise_id" in error["fields"]
