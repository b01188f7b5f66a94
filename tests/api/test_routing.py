"""Department routing through the API (API.md, "The plan's tasks and the departments"): ``POST
/api/v1/requests/<id>/route`` and ``/api/v1/policy-deliveries/<id>/route`` ``{"department","note"}``; a liaison
sees and moves only what is routed to their department and is refused everything else of the enterprises; the
lists filter by ``department``."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.time import local_today
from crm.extensions import db
from crm.reference.models import Department, by_name
from crm.service.models import DeliveryStatus, PolicyDelivery, PolicyKind, RequestStatus, ServiceRequest
from tests.api.support import bearer, error_of
from tests.conftest import assign, make_enterprise, make_user

LAND, INDUSTRY = "市自然资源局", "市工业和科学技术局"
TODAY = local_today()  # set again as each test starts: the live_today fixture
pytestmark = pytest.mark.usefixtures("live_today")
FENCED = "部门联络员只能查看和办理转办至本单位的诉求与政策兑现"


@pytest.fixture
def world():
    commissioner = make_user("commissioner", specialties=["tech"])
    people = {"coordinator": make_user("coordinator"), "county coordinator": make_user("coordinator", county="汇川区"),
              "commissioner": commissioner, "leader": make_user("leader"),
              "land": make_user("liaison", department=LAND), "industry": make_user("liaison", department=INDUSTRY)}
    firm = make_enterprise(county="汇川区")
    other = make_enterprise(county="桐梓县")
    for enterprise in (firm, other):
        assign(enterprise, commissioner)
    land = by_name(Department, LAND)
    records = {
        "ours": ServiceRequest(enterprise=firm, category="用地", description="新增工业用地", owner=commissioner,
                               raised_on=TODAY, due_date=TODAY + timedelta(days=9), status=RequestStatus.RAISED,
                               department=land),
        "elsewhere": ServiceRequest(enterprise=other, category="用地", description="桐梓用地", owner=commissioner,
                                    raised_on=TODAY, due_date=TODAY + timedelta(days=9), status=RequestStatus.RAISED),
        "delivery": PolicyDelivery(enterprise=firm, kind=PolicyKind.LAND, promised="保障用地", owner=commissioner,
                                   promised_date=TODAY + timedelta(days=9), status=DeliveryStatus.PROMISED,
                                   department=land),
    }
    db.session.add_all(records.values())
    db.session.commit()
    return people, firm, other, records


def test_a_coordinator_routes_a_request_and_visibility_moves(client, world):
    people, _, _, records = world
    req_id = records["ours"].id
    land, industry = bearer(people["land"]), bearer(people["industry"])
    assert client.get(f"/api/v1/requests/{req_id}", headers=land).status_code == 200
    assert client.get(f"/api/v1/requests/{req_id}", headers=industry).status_code == 404
    answer = client.post(f"/api/v1/requests/{req_id}/route", headers=bearer(people["coordinator"]),
                         json={"department": INDUSTRY, "note": "属工信职能"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["department"] == INDUSTRY and body["events"][-1]["note"] == f"由{LAND}改派至{INDUSTRY}:属工信职能"
    assert client.get(f"/api/v1/requests/{req_id}", headers=industry).status_code == 200
    gone = client.get(f"/api/v1/requests/{req_id}", headers=land)
    assert error_of(gone, 404) == error_of(client.get("/api/v1/requests/999999", headers=land), 404)
    assert [r["id"] for r in client.get("/api/v1/requests", headers=industry).get_json()["items"]] == [req_id]
    assert client.get("/api/v1/requests", headers=land).get_json()["items"] == []
    rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "service_request",
                                                        AuditLog.entity_id == req_id, AuditLog.action == "route"))
    assert [row.changes["department"] for row in rows] == [[LAND, INDUSTRY]]
    kinds = [n["kind"] for n in client.get("/api/v1/notifications", headers=industry).get_json()["items"]]
    assert kinds == ["request_routed"]


def test_routing_a_delivery(client, world):
    people, _, _, records = world
    delivery_id = records["delivery"].id
    answer = client.post(f"/api/v1/policy-deliveries/{delivery_id}/route", headers=bearer(people["coordinator"]),
                         json={"department": INDUSTRY})
    assert answer.status_code == 200 and answer.get_json()["department"] == INDUSTRY
    assert client.get(f"/api/v1/policy-deliveries/{delivery_id}", headers=bearer(people["land"])).status_code == 404
    assert client.get(f"/api/v1/policy-deliveries/{delivery_id}",
                      headers=bearer(people["industry"])).status_code == 200


@pytest.mark.parametrize("path", ["requests/{ours}", "policy-deliveries/{delivery}"])
def test_bad_input_answers_422_with_the_field_and_writes_nothing(client, world, path):
    people, _, _, records = world
    url = "/api/v1/" + path.format(ours=records["ours"].id, delivery=records["delivery"].id) + "/route"
    headers = bearer(people["coordinator"])
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    for data, field, words in (({"department": "市不存在局"}, "department", "未知责任单位:市不存在局"),
                               ({"department": LAND}, "department", f"已由{LAND}办理"),
                               ({"department": INDUSTRY, "note": "长" * 2001}, "note", "最长2000个字符"),
                               ({"department": INDUSTRY, "extra": 1}, "extra", None)):
        error = error_of(client.post(url, headers=headers, json=data), 422)
        assert field in error["fields"] and (words is None or words in error["fields"][field])
    error = error_of(client.post(url, headers=headers, json={}), 422)
    assert "department" in error["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before


def test_who_may_not_route(client, world):
    people, _, _, records = world
    ours, elsewhere = records["ours"].id, records["elsewhere"].id
    body = {"department": INDUSTRY}
    for who, req_id, status in (("land", ours, 403), ("commissioner", ours, 403), ("leader", ours, 403),
                                ("county coordinator", elsewhere, 404), ("industry", ours, 404)):
        response = client.post(f"/api/v1/requests/{req_id}/route", headers=bearer(people[who]), json=body)
        assert response.status_code == status, who
    assert client.post(f"/api/v1/requests/{ours}/route", headers=bearer(people["county coordinator"]),
                       json=body).status_code == 200  # in their county


def test_a_liaison_is_refused_everything_else_of_the_enterprises(client, world):
    people, firm, _, records = world
    land = bearer(people["land"])
    for url in (f"/api/v1/enterprises/{firm.id}", "/api/v1/enterprises", f"/api/v1/enterprises/{firm.id}/history",
                f"/api/v1/enterprises/{firm.id}/assignments", "/api/v1/interactions", "/api/v1/meetings",
                "/api/v1/rosters/supplier_list/editions", "/api/v1/dashboard/service", "/api/v1/partners"):
        error = error_of(client.get(url, headers=land), 403)
        assert error["message"] == FENCED, url
    created = client.post("/api/v1/requests", headers=land,
                          json={"enterprise_id": firm.id, "category": "用地", "description": "联络员登记"})
    assert created.status_code == 404  # the enterprise is not theirs to see


def test_a_liaison_moves_their_request_and_records_their_delivery(client, world):
    people, _, _, records = world
    land = bearer(people["land"])
    url = f"/api/v1/requests/{records['ours'].id}/transition"
    for to in ("accepted", "in_progress", "resolved"):
        moved = client.post(url, headers=land, json={"to": to})
        assert moved.status_code == 200, to
    # the moves offered are the liaison's own: the 回访 that closes it (or a reopening) stays with the owner
    assert moved.get_json()["allowed_next"] == []
    owner_view = client.get(f"/api/v1/requests/{records['ours'].id}", headers=bearer(people["coordinator"]))
    assert set(owner_view.get_json()["allowed_next"]) == {"closed", "in_progress"}
    error_of(client.post(url, headers=land, json={"to": "closed", "note": "回访", "satisfaction": 5}), 403)
    delivery = f"/api/v1/policy-deliveries/{records['delivery'].id}"
    error_of(client.patch(delivery, headers=land, json={"promised": "改承诺"}), 403)
    done = client.patch(delivery, headers=land, json={"status": "delivered", "delivered_date": TODAY.isoformat(),
                                                      "evidence": "批复文件"})
    assert done.status_code == 200 and done.get_json()["status"] == "delivered"


def test_the_lists_filter_by_department(client, world):
    people, _, _, records = world
    headers = bearer(people["coordinator"])
    items = client.get("/api/v1/requests", headers=headers, query_string={"department": LAND}).get_json()["items"]
    assert [r["id"] for r in items] == [records["ours"].id]
    error = error_of(client.get("/api/v1/requests", headers=headers, query_string={"department": "市不存在局"}), 422)
    assert error["fields"]["department"] == "未知责任单位:市不存在局"
    items = client.get("/api/v1/policy-deliveries", headers=headers,
                       query_string={"department": INDUSTRY}).get_json()["items"]
    assert items == []
    error_of(client.get("/api/v1/policy-deliveries", headers=headers, query_string={"department": "无"}), 422)


def test_the_route_endpoints_are_documented(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path in ("/requests/{request_id}/route", "/policy-deliveries/{delivery_id}/route"):
        operation = doc["paths"][path]["post"]
        assert {"200", "403", "404", "422"} <= set(operation["responses"])
        assert "requestBody" in operation
