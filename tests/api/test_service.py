"""Interaction and request endpoints: the lifecycle through the API, refusals per record (commissioner A against
commissioner B's enterprise, leaders, county coordinators), versions, errors in API.md's shape, the ledger."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.core.audit import AuditLog
from crm.core.time import local_today
from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.service import requests as request_domain
from crm.service.models import Interaction, RequestEvent, ServiceRequest
from tests.api.support import bearer, error_of
from tests.conftest import assign, make_enterprise, make_user

INTERACTIONS = "/api/v1/interactions"
REQUESTS = "/api/v1/requests"
INTERACTION_KEYS = {"id", "enterprise_id", "enterprise", "date", "channel", "channel_label", "specialty",
                    "specialty_label", "participants", "summary", "next_follow_up", "created_by", "created_by_name",
                    "created_at", "version"}
REQUEST_KEYS = {"id", "enterprise_id", "enterprise", "county", "category", "description", "interaction_id", "owner",
                "owner_name", "department", "raised_on", "due_date", "due_date_note", "status", "status_label",
                "overdue", "allowed_next", "satisfaction", "resolved_at", "closed_at", "created_by", "created_at",
                "updated_at", "version"}


def days_ago(n: int) -> str:
    return (local_today() - timedelta(days=n)).isoformat()


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def snapshot() -> tuple[int, int, int, int]:
    """Rows that any write would add to."""
    return count(Interaction), count(ServiceRequest), count(RequestEvent), count(AuditLog)


def interaction_body(enterprise_id: int, **overrides):
    data = {"enterprise_id": enterprise_id, "date": days_ago(2), "channel": "visit", "specialty": "tech",
            "summary": "走访企业,了解技改项目", "next_follow_up": days_ago(-10), "participants": "王五"}
    data.update(overrides)
    return data


def request_body(enterprise_id: int, **overrides):
    data = {"enterprise_id": enterprise_id, "category": "培育项目申报", "description": "申报省级专精特新企业"}
    data.update(overrides)
    return data


@pytest.fixture
def world():
    """Enterprise A (汇川区) served by commissioner A, enterprise B (桐梓县) by commissioner B, one request and one
    interaction on each, everything committed (an error handler's rollback keeps it)."""
    a, b = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    ca = make_user("commissioner", specialties=["tech"])
    cb = make_user("commissioner", specialties=["tech"])
    assign(a, ca)
    assign(b, cb)
    from crm.service.interactions import log_interaction

    data = {"date": days_ago(5), "channel": "call", "specialty": "tech", "summary": "电话回访"}
    ia, ib = log_interaction(ca, a, data), log_interaction(cb, b, data)
    ra = request_domain.raise_request(ca, a, {"category": "融资服务", "description": "A 的诉求"})
    rb = request_domain.raise_request(cb, b, {"category": "用地", "description": "B 的诉求"})
    world = SimpleNamespace(a=a, b=b, ca=ca, cb=cb, ia=ia, ib=ib, ra=ra, rb=rb,
                            ha=bearer(ca), hb=bearer(cb))
    db.session.commit()
    return world


# --- interactions ----------------------------------------------------------------------------------------------

def test_log_read_and_list_an_interaction(client, world):
    response = client.post(INTERACTIONS, json=interaction_body(world.a.id), headers=world.ha)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == INTERACTION_KEYS
    assert response.headers["Location"].endswith(f"{INTERACTIONS}/{body['id']}")
    assert (body["channel"], body["channel_label"], body["specialty_label"]) == ("visit", "走访", "科技")
    assert body["created_by"] == world.ca.username and body["version"] == 1 and body["enterprise"] == world.a.name
    assert "走访企业" in response.get_data(as_text=True)  # Chinese unescaped
    assert client.get(f"{INTERACTIONS}/{body['id']}", headers=world.ha).get_json() == body
    listed = client.get(f"{INTERACTIONS}?enterprise_id={world.a.id}", headers=world.ha).get_json()
    assert [i["id"] for i in listed["items"]] == [body["id"], world.ia.id] and listed["total"] == 2
    since = client.get(f"{INTERACTIONS}?since={days_ago(3)}", headers=world.ha).get_json()
    assert [i["id"] for i in since["items"]] == [body["id"]]
    row = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "interaction",
                                                      AuditLog.entity_id == body["id"]))
    assert row.enterprise_id == world.a.id and row.actor_id == world.ca.id


def test_interaction_validation_is_field_level(client, world):
    before = snapshot()
    error = error_of(client.post(INTERACTIONS, json=interaction_body(world.a.id, date=days_ago(-1), channel="fax",
                                                                     specialty="legal", summary=""),
                                 headers=world.ha), 422, "invalid")
    assert set(error["fields"]) == {"date", "channel", "specialty", "summary"}
    assert "不能晚于今天" in error["fields"]["date"]
    error = error_of(client.post(INTERACTIONS, json={**interaction_body(world.a.id), "mood": "good"},
                                 headers=world.ha), 422)
    assert error["fields"] == {"mood": "不支持的字段"}
    error = error_of(client.post(INTERACTIONS, json=interaction_body("abc"), headers=world.ha), 422)
    assert "enterprise_id" in error["fields"]
    error_of(client.post(INTERACTIONS, data="not json", headers=world.ha), 400)
    error_of(client.post(INTERACTIONS, json=interaction_body(world.a.id)), 401)
    assert snapshot() == before


def test_patch_with_version_and_stale_version(client, world):
    url = f"{INTERACTIONS}/{world.ia.id}"
    response = client.patch(url, json={"summary": "电话回访,企业反映用电问题", "version": 1}, headers=world.ha)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["version"] == 2 and response.get_json()["summary"] == "电话回访,企业反映用电问题"
    before = snapshot()
    error = error_of(client.patch(url, json={"summary": "基于旧版本", "version": 1}, headers=world.ha), 409, "stale")
    assert error["message"] == "该记录已被他人修改,请刷新后重试"
    assert snapshot() == before
    assert client.get(url, headers=world.ha).get_json()["summary"] == "电话回访,企业反映用电问题"
    error = error_of(client.patch(url, json={"enterprise_id": world.b.id}, headers=world.ha), 422)
    assert error["fields"] == {"enterprise_id": "不支持的字段"}


# --- requests ----------------------------------------------------------------------------------------------------

def test_raise_a_request_with_a_computed_due_date(client, world):
    load_from_chinese_calendar([2025])
    db.session.commit()
    body = request_body(world.a.id, raised_on="2025-09-30", interaction_id=world.ia.id,
                        department="市工业和科学技术局")
    response = client.post(REQUESTS, json=body, headers=world.ha)
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert set(created) == REQUEST_KEYS | {"events"}
    assert response.headers["Location"].endswith(f"{REQUESTS}/{created['id']}")
    assert created["due_date"] == "2025-10-21"  # 10 working days over National Day 2025
    assert created["due_date_note"] == "办理时限按10个工作日计算"
    assert (created["status"], created["owner"], created["allowed_next"]) == ("raised", world.ca.username,
                                                                              ["accepted"])
    assert created["department"] == "市工业和科学技术局" and created["interaction_id"] == world.ia.id
    assert created["county"] == "汇川区" and created["overdue"] is True
    assert [(e["from"], e["to"]) for e in created["events"]] == [(None, "raised")]


def test_a_due_date_in_2027_says_the_holiday_data_is_missing(app, monkeypatch, client, world):
    monkeypatch.setitem(app.config, "REQUEST_DUE_WORKDAYS_DEFAULT", 60)  # from today (late 2026) into 2027
    created = client.post(REQUESTS, json=request_body(world.a.id), headers=world.ha).get_json()
    assert created["due_date"].startswith("2027-")
    assert "2027年节假日安排尚未录入" in created["due_date_note"]


def test_request_validation(client, world):
    before = snapshot()
    error = error_of(client.post(REQUESTS, json=request_body(world.a.id, category="看病", description=""),
                                 headers=world.ha), 422, "invalid")
    assert "培育项目申报" in error["fields"]["category"] and "其他" in error["fields"]["category"]
    assert "description" in error["fields"]
    error = error_of(client.post(REQUESTS, json=request_body(world.a.id, interaction_id=world.ib.id),
                                 headers=world.ha), 422)
    assert "interaction_id" in error["fields"]  # B's interaction, not A's
    error = error_of(client.post(REQUESTS, json=request_body(world.a.id, owner=world.cb.username),
                                 headers=world.ha), 422)
    assert "owner" in error["fields"]
    assert snapshot() == before


def test_the_whole_lifecycle_through_the_api(client, world):
    url = f"{REQUESTS}/{world.ra.id}"
    steps = [({"to": "accepted", "version": 1}, "accepted"),
             ({"to": "in_progress", "note": "已联系银行"}, "in_progress"),
             ({"to": "resolved", "note": "贷款已获批"}, "resolved")]
    for payload, status in steps:
        response = client.post(f"{url}/transition", json=payload, headers=world.ha)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["status"] == status
    error = error_of(client.post(f"{url}/transition", json={"to": "closed", "note": "回访"}, headers=world.ha), 422)
    assert "satisfaction" in error["fields"]
    for bad in (0, 6):
        error = error_of(client.post(f"{url}/transition", json={"to": "closed", "note": "回访", "satisfaction": bad},
                                     headers=world.ha), 422)
        assert "1到5" in error["fields"]["satisfaction"]
    response = client.post(f"{url}/transition", json={"to": "closed", "note": "电话回访,满意", "satisfaction": 4},
                           headers=world.ha)
    done = response.get_json()
    assert response.status_code == 200 and done["status"] == "closed" and done["satisfaction"] == 4
    assert done["closed_at"].endswith("+08:00") and done["resolved_at"] and done["version"] == 5
    assert [(e["from"], e["to"]) for e in done["events"]] == [
        (None, "raised"), ("raised", "accepted"), ("accepted", "in_progress"), ("in_progress", "resolved"),
        ("resolved", "closed")]
    assert all(e["actor"] == world.ca.username for e in done["events"])
    assert done["events"][-1]["satisfaction"] == 4 and done["allowed_next"] == ["in_progress"]
    reopened = client.post(f"{url}/transition", json={"to": "in_progress", "note": "企业再次反映"},
                           headers=world.ha).get_json()
    assert (reopened["status"], reopened["closed_at"], reopened["satisfaction"]) == ("in_progress", None, None)
    assert client.get(url, headers=world.ha).get_json() == reopened


@pytest.mark.parametrize(("to", "message"), [
    ("in_progress", "当前状态“已提出”只能变更为:已受理"),
    ("closed", "当前状态“已提出”只能变更为:已受理"),
    ("raised", "当前状态“已提出”只能变更为:已受理"),
])
def test_an_illegal_transition_is_409_naming_the_allowed_ones(client, world, to, message):
    before = snapshot()
    error = error_of(client.post(f"{REQUESTS}/{world.ra.id}/transition", json={"to": to}, headers=world.ha), 409,
                     "illegal_transition")
    assert error["message"] == message
    assert snapshot() == before


def test_transition_input_errors(client, world):
    url = f"{REQUESTS}/{world.ra.id}/transition"
    error_of(client.post(url, json={}, headers=world.ha), 422)
    error_of(client.post(url, json={"to": "done"}, headers=world.ha), 422)
    error_of(client.post(url, json={"to": "accepted", "note": 5}, headers=world.ha), 422)
    error_of(client.post(url, json={"to": "accepted", "why": "x"}, headers=world.ha), 422)
    error_of(client.post(url, json={"to": "accepted", "version": "v1"}, headers=world.ha), 422)
    error_of(client.post(url, json=["accepted"], headers=world.ha), 400)
    error_of(client.post(f"{REQUESTS}/999999999/transition", json={"to": "accepted"}, headers=world.ha), 404)
    error_of(client.post(f"{REQUESTS}/99999999999/transition", json={"to": "accepted"}, headers=world.ha), 404)


def test_a_stale_version_is_409_and_nothing_is_written(client, world):
    url = f"{REQUESTS}/{world.ra.id}"
    assert client.post(f"{url}/transition", json={"to": "accepted", "version": 1}, headers=world.ha).status_code == 200
    before = snapshot()
    error = error_of(client.post(f"{url}/transition", json={"to": "in_progress", "version": 1}, headers=world.ha),
                     409, "stale")
    assert error["message"] == "该记录已被他人修改,请刷新后重试" and error["fields"]["version"]
    assert snapshot() == before
    assert client.get(url, headers=world.ha).get_json()["status"] == "accepted"


def test_an_update_that_slips_past_the_version_check_is_409_json(client, world, monkeypatch):
    """Another writer commits between the check and the UPDATE: the model's version column catches it
    (StaleDataError), and the answer is API.md's error JSON, with nothing written."""
    real_utcnow = request_domain.utcnow

    def someone_else_writes_first():
        db.session.execute(sa.text("UPDATE service_requests SET version = version + 1 WHERE id = :id"),
                           {"id": world.ra.id})
        return real_utcnow()

    monkeypatch.setattr(request_domain, "utcnow", someone_else_writes_first)
    before = snapshot()
    error = error_of(client.post(f"{REQUESTS}/{world.ra.id}/transition", json={"to": "accepted", "version": 1},
                                 headers=world.ha), 409, "stale")
    assert error["message"] == "该记录已被他人修改,请刷新后重试"
    monkeypatch.undo()
    assert snapshot() == before
    assert client.get(f"{REQUESTS}/{world.ra.id}", headers=world.ha).get_json()["status"] == "raised"


def test_the_list_and_its_filters(client, world):
    coordinator = make_user("coordinator")
    late = request_domain.raise_request(world.ca, world.a, {"category": "用电", "description": "逾期的",
                                                            "raised_on": days_ago(30), "due_date": days_ago(10)})
    headers = bearer(coordinator)

    def ids(query: str, h=headers):
        response = client.get(f"{REQUESTS}?{query}", headers=h)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["items"]]

    assert set(ids("")) >= {world.ra.id, world.rb.id, late.id}
    assert ids(f"overdue=true&enterprise_id={world.a.id}") == [late.id]
    assert ids(f"overdue=false&enterprise_id={world.a.id}") == [world.ra.id]
    assert world.rb.id in ids("county=桐梓县") and world.ra.id not in ids("county=桐梓县")
    assert ids(f"category=用地&owner={world.cb.username}") == [world.rb.id]
    assert ids(f"status=raised,accepted&owner={world.ca.username}") == [world.ra.id, late.id]
    assert ids(f"status=raised&status=in_progress&owner={world.ca.username}") == [world.ra.id, late.id]
    item = client.get(f"{REQUESTS}?enterprise_id={world.a.id}&per_page=1", headers=headers).get_json()
    assert item["total"] == 2 and item["per_page"] == 1 and set(item["items"][0]) == REQUEST_KEYS
    assert item["items"][0]["overdue"] is False
    error_of(client.get(f"{REQUESTS}?overdue=maybe", headers=headers), 400)
    error_of(client.get(f"{REQUESTS}?enterprise_id=x", headers=headers), 400)
    error_of(client.get(f"{REQUESTS}?status=done", headers=headers), 422)
    error_of(client.get(f"{REQUESTS}?category=看病", headers=headers), 422)
    error_of(client.get(f"{INTERACTIONS}?since=yesterday", headers=headers), 400)


@pytest.mark.parametrize(("path", "override"), [
    ("requests", {"category": ["用地"]}), ("requests", {"description": {"a": 1}}), ("requests", {"owner": 5}),
    ("requests", {"department": ["市财政局"]}), ("requests", {"interaction_id": 1.5}),
    ("requests", {"interaction_id": -3}), ("requests", {"due_date": 20260101}), ("requests", {"raised_on": True}),
    ("requests", {"enterprise_id": 1.0}), ("requests", {"enterprise_id": None}), ("requests", {"enterprise_id": True}),
    ("interactions", {"date": ["2026-01-01"]}), ("interactions", {"specialty": {"tech": 1}}),
    ("interactions", {"next_follow_up": 3}), ("interactions", {"enterprise_id": "-1"}),
    ("transition", {"to": {"a": 1}}), ("transition", {"satisfaction": [5]}), ("transition", {"version": [1]}),
])
def test_odd_values_are_422_never_500(client, world, path, override):
    before = snapshot()
    if path == "requests":
        response = client.post(REQUESTS, json={**request_body(world.a.id), **override}, headers=world.ha)
    elif path == "interactions":
        response = client.post(INTERACTIONS, json={**interaction_body(world.a.id), **override}, headers=world.ha)
    else:
        response = client.post(f"{REQUESTS}/{world.ra.id}/transition", json={"to": "accepted", **override},
                               headers=world.ha)
    error = error_of(response, 422)
    assert set(override) <= set(error["fields"]), error
    assert snapshot() == before


# --- refusals ------------------------------------------------------------------------------------------------------

def test_commissioner_a_cannot_touch_commissioner_b_s_enterprise(client, world):
    h = world.ha
    before = snapshot()
    error_of(client.get(f"{INTERACTIONS}/{world.ib.id}", headers=h), 404)
    error_of(client.get(f"{REQUESTS}/{world.rb.id}", headers=h), 404)
    assert client.get(f"{INTERACTIONS}?enterprise_id={world.b.id}", headers=h).get_json()["items"] == []
    assert client.get(f"{REQUESTS}?enterprise_id={world.b.id}", headers=h).get_json()["items"] == []
    assert {i["id"] for i in client.get(INTERACTIONS, headers=h).get_json()["items"]} == {world.ia.id}
    assert {r["id"] for r in client.get(REQUESTS, headers=h).get_json()["items"]} == {world.ra.id}
    error_of(client.patch(f"{INTERACTIONS}/{world.ib.id}", json={"summary": "改B的"}, headers=h), 404)
    error_of(client.post(INTERACTIONS, json=interaction_body(world.b.id), headers=h), 404)
    error_of(client.post(REQUESTS, json=request_body(world.b.id), headers=h), 404)
    error_of(client.post(f"{REQUESTS}/{world.rb.id}/transition", json={"to": "accepted"}, headers=h), 404)
    # The refusals do not differ from a record that does not exist.
    missing = error_of(client.get(f"{REQUESTS}/999999", headers=h), 404)
    hidden = error_of(client.get(f"{REQUESTS}/{world.rb.id}", headers=h), 404)
    assert missing == hidden
    ledger = load_workbook(io.BytesIO(client.get(f"{REQUESTS}/export.xlsx", headers=h).data)).active
    assert [row[4] for row in ledger.iter_rows(min_row=2, values_only=True)] == ["A 的诉求"]
    assert snapshot() == before
    db.session.refresh(world.ib)
    db.session.refresh(world.rb)
    assert world.ib.summary == "电话回访" and world.rb.status.value == "raised" and world.rb.version == 1


def test_a_leader_reads_but_every_write_is_403(client, world):
    h = bearer(make_user("leader"))
    assert client.get(f"{REQUESTS}/{world.rb.id}", headers=h).status_code == 200
    assert client.get(f"{INTERACTIONS}/{world.ib.id}", headers=h).status_code == 200
    before = snapshot()
    error_of(client.post(INTERACTIONS, json=interaction_body(world.a.id), headers=h), 403)
    error_of(client.patch(f"{INTERACTIONS}/{world.ia.id}", json={"summary": "领导改"}, headers=h), 403)
    error_of(client.post(REQUESTS, json=request_body(world.a.id), headers=h), 403)
    error_of(client.post(f"{REQUESTS}/{world.ra.id}/transition", json={"to": "accepted"}, headers=h), 403)
    assert snapshot() == before


def test_a_county_coordinator_works_only_in_their_county(client, world):
    h = bearer(make_user("coordinator", county="桐梓县"))
    assert {r["id"] for r in client.get(REQUESTS, headers=h).get_json()["items"]} == {world.rb.id}
    assert {i["id"] for i in client.get(INTERACTIONS, headers=h).get_json()["items"]} == {world.ib.id}
    error_of(client.get(f"{REQUESTS}/{world.ra.id}", headers=h), 404)
    error_of(client.post(f"{REQUESTS}/{world.ra.id}/transition", json={"to": "accepted"}, headers=h), 404)
    error_of(client.post(INTERACTIONS, json=interaction_body(world.a.id), headers=h), 404)
    response = client.post(f"{REQUESTS}/{world.rb.id}/transition", json={"to": "accepted"}, headers=h)
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"
    created = client.post(INTERACTIONS, json=interaction_body(world.b.id, specialty="legal"), headers=h)
    assert created.status_code == 201  # not a commissioner: any specialty


def test_a_commissioner_cannot_correct_a_colleague_s_record(client, world):
    colleague = make_user("commissioner", specialties=["finance"])
    assign(world.a, colleague, "finance")
    headers = bearer(colleague)
    error = error_of(client.patch(f"{INTERACTIONS}/{world.ia.id}", json={"summary": "改同事的"}, headers=headers),
                     403)
    assert "本人" in error["message"]


# --- the ledger ------------------------------------------------------------------------------------------------------

def test_the_ledger_export(client, world):
    request_domain.raise_request(world.ca, world.a, {"category": "法务", "description": "=cmd|' /C calc'!A0",
                                                     "department": "市财政局"})
    db.session.commit()
    response = client.get(f"{REQUESTS}/export.xlsx?enterprise_id={world.a.id}", headers=world.ha)
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:5] == ("序号", "企业名称", "区县", "类别", "诉求内容") and len(rows[0]) == 13
    assert [row[4] for row in rows[1:]] == ["A 的诉求", "=cmd|' /C calc'!A0"]  # oldest first
    assert ws["E3"].data_type == "s" and ws["E3"].quotePrefix
    assert all(cell.data_type == "s" for row in ws.iter_rows() for cell in row if cell.value is not None)
    filtered = load_workbook(io.BytesIO(client.get(f"{REQUESTS}/export.xlsx?category=法务",
                                                   headers=world.ha).data)).active
    assert [row[3] for row in filtered.iter_rows(min_row=2, values_only=True)] == ["法务"]
    error_of(client.get(f"{REQUESTS}/export.xlsx?overdue=perhaps", headers=world.ha), 400)


def test_the_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/interactions"])
    assert {"get", "patch"} <= set(paths["/interactions/{interaction_id}"])
    assert {"get", "post"} <= set(paths["/requests"]) and "post" in paths["/requests/{request_id}/transition"]
    assert "get" in paths["/requests/{request_id}"] and "get" in paths["/requests/export.xlsx"]
