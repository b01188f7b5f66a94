"""专项督导 over the API: record a visit with items, the ledger, transitions, and the refusals (another unit's
liaison: 404; a commissioner: nothing; a leader: reads only)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core.time import local_today
from crm.extensions import db
from crm.notifications.models import Notification
from crm.tasks.models import RectificationItem, SupervisionVisit
from tests.api.support import bearer, error_of
from tests.conftest import make_user


@pytest.fixture
def people():
    made = {
        "coordinator": make_user("coordinator"),
        "county_coordinator": make_user("coordinator", county="汇川区"),
        "leader": make_user("leader"),
        "commissioner": make_user("commissioner", specialties=["tech"]),
        "liaison": make_user("liaison", department="市自然资源局"),
        "other_liaison": make_user("liaison", department="市工业和科学技术局"),
    }
    return {name: (user, bearer(user)) for name, user in made.items()}


def visit_body(**extra):
    body = {"visited_on": local_today().isoformat(), "department": "市自然资源局", "subject": "用地保障专项督导",
            "findings": "报批滞后", "items": [{"description": "加快用地报批", "due_workdays": 5},
                                              {"description": "建立台账", "department": "市工业和科学技术局",
                                               "due_date": "2099-01-05"}]}
    body.update(extra)
    return body


def test_record_read_and_move(client, people):
    _, coordinator = people["coordinator"]
    made = client.post("/api/v1/supervisions", json=visit_body(), headers=coordinator)
    assert made.status_code == 201, made.get_json()
    visit = made.get_json()
    assert made.headers["Location"].endswith(f"/api/v1/supervisions/{visit['id']}")
    assert visit["department"] == "市自然资源局" and visit["items_open"] == 2 and len(visit["items"]) == 2
    land, industry = visit["items"]
    assert land["status"] == "open" and land["allowed_next"] == ["in_progress"]

    liaison_user, liaison = people["liaison"]
    seen = client.get(f"/api/v1/supervisions/{visit['id']}", headers=liaison).get_json()
    assert [i["id"] for i in seen["items"]] == [land["id"]]  # their unit's only
    listed = client.get("/api/v1/rectification-items", headers=liaison).get_json()
    assert [i["id"] for i in listed["items"]] == [land["id"]] and listed["total"] == 1
    url = f"/api/v1/rectification-items/{land['id']}/transition"
    moved = client.post(url, json={"to": "in_progress", "version": land["version"]}, headers=liaison)
    assert moved.status_code == 200 and moved.get_json()["status"] == "in_progress"
    error = error_of(client.post(url, json={"to": "done"}, headers=liaison), 422, "invalid")
    assert error["fields"] == {"note": "请填写整改情况"}
    done = client.post(url, json={"to": "done", "note": "已报批"}, headers=liaison).get_json()
    assert done["resolution"] == "已报批" and done["allowed_next"] == []
    error_of(client.post(url, json={"to": "closed"}, headers=liaison), 403, "forbidden")
    error_of(client.post(url, json={"to": "open"}, headers=coordinator), 409, "illegal_transition")
    error_of(client.post(url, json={"to": "closed", "version": 1}, headers=coordinator), 409, "stale")
    error = error_of(client.post(url, json={"to": "bogus"}, headers=coordinator), 422)
    assert "to" in error["fields"]
    closed = client.post(url, json={"to": "closed", "version": done["version"]}, headers=coordinator)
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"

    added = client.post(f"/api/v1/supervisions/{visit['id']}/items",
                        json={"description": "补充事项", "due_workdays": 3, "owner": liaison_user.username},
                        headers=coordinator)
    assert added.status_code == 201 and added.get_json()["owner"] == liaison_user.username
    patched = client.patch(f"/api/v1/supervisions/{visit['id']}",
                           json={"subject": "新主题", "version": visit["version"]}, headers=coordinator)
    assert patched.status_code == 200 and patched.get_json()["subject"] == "新主题"
    error_of(client.patch(f"/api/v1/supervisions/{visit['id']}", json={"subject": "x", "version": 1},
                          headers=coordinator), 409, "stale")


def test_field_named_chinese_errors(client, people):
    _, coordinator = people["coordinator"]
    error = error_of(client.post("/api/v1/supervisions", json={"visited_on": "2026-13-01", "subject": ""},
                                 headers=coordinator), 422)
    assert set(error["fields"]) == {"visited_on", "department", "subject"}
    error = error_of(client.post("/api/v1/supervisions", json=visit_body(items=[{"description": "x"}]),
                                 headers=coordinator), 422)
    assert error["fields"] == {"items.0.due_date": "请填写整改时限(工作日数或日期)"}
    error = error_of(client.post("/api/v1/supervisions", json=visit_body(bogus=1), headers=coordinator), 422)
    assert "bogus" in error["fields"]
    _, county = people["county_coordinator"]
    error = error_of(client.post("/api/v1/supervisions", json=visit_body(), headers=county), 422)
    assert error["fields"] == {"department": "只能督导本区县的单位"}
    mine = visit_body(department=None, county="汇川区", items=[{"description": "加快用地报批", "due_workdays": 5}])
    assert client.post("/api/v1/supervisions", json=mine, headers=county).status_code == 201
    error_of(client.get("/api/v1/rectification-items?overdue=maybe", headers=coordinator), 400)


def test_refusals(client, people):
    _, coordinator = people["coordinator"]
    visit = client.post("/api/v1/supervisions", json=visit_body(), headers=coordinator).get_json()
    land, industry = visit["items"]
    _, other = people["other_liaison"]
    missing = error_of(client.get("/api/v1/rectification-items/99999999", headers=other), 404)
    assert error_of(client.get(f"/api/v1/rectification-items/{land['id']}", headers=other), 404) == missing
    error_of(client.post(f"/api/v1/rectification-items/{land['id']}/transition", json={"to": "in_progress"},
                         headers=other), 404)
    assert client.get(f"/api/v1/rectification-items/{industry['id']}", headers=other).status_code == 200
    _, commissioner = people["commissioner"]
    assert client.get("/api/v1/supervisions", headers=commissioner).get_json()["total"] == 0
    assert client.get("/api/v1/rectification-items", headers=commissioner).get_json()["total"] == 0
    error_of(client.get(f"/api/v1/supervisions/{visit['id']}", headers=commissioner), 404)
    error_of(client.post("/api/v1/supervisions", json=visit_body(), headers=commissioner), 403)
    _, leader = people["leader"]
    assert client.get(f"/api/v1/supervisions/{visit['id']}", headers=leader).status_code == 200
    assert client.get("/api/v1/rectification-items?overdue=false", headers=leader).get_json()["total"] == 2
    error_of(client.post("/api/v1/supervisions", json=visit_body(), headers=leader), 403)
    error_of(client.post(f"/api/v1/rectification-items/{land['id']}/transition", json={"to": "in_progress"},
                         headers=leader), 403)
    error_of(client.post(f"/api/v1/supervisions/{visit['id']}/items", json={"description": "x", "due_workdays": 1},
                         headers=leader), 403)


def test_in_the_openapi_document(client, people):
    _, coordinator = people["coordinator"]
    doc = client.get("/api/v1/openapi.json", headers=coordinator).get_json()
    for path in ("/supervisions", "/supervisions/{supervision_id}", "/supervisions/{supervision_id}/items",
                 "/rectification-items", "/rectification-items/{item_id}",
                 "/rectification-items/{item_id}/transition"):
        assert path in doc["paths"], path


def test_a_county_coordinator_assigns_items_to_their_countys_units_only(client, people):
    _, county = people["county_coordinator"]
    other_user, _ = people["other_liaison"]
    refused = "整改责任单位须为本区县的单位"
    body = visit_body(department=None, county="汇川区",
                      items=[{"description": "建立台账", "department": "市工业和科学技术局", "due_workdays": 5}])
    error = error_of(client.post("/api/v1/supervisions", json=body, headers=county), 422)
    assert error["fields"] == {"items.0.department": refused}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SupervisionVisit)) == 0  # nothing saved
    made = client.post("/api/v1/supervisions", json=visit_body(department=None, county="汇川区", items=[]),
                       headers=county)
    assert made.status_code == 201
    url = f"/api/v1/supervisions/{made.get_json()['id']}/items"
    error = error_of(client.post(url, json={"description": "建立台账", "department": "市工业和科学技术局",
                                            "due_workdays": 5}, headers=county), 422)
    assert error["fields"] == {"department": refused}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RectificationItem)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.user_id == other_user.id)) == 0
    added = client.post(url, json={"description": "建立台账", "due_workdays": 5}, headers=county)
    assert added.status_code == 201 and added.get_json()["department"] == "汇川区人民政府"
