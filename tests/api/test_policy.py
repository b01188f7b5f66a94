"""Policy delivery endpoints: each role's allowed and refused paths, validation, versions, filters, the late flag."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.time import local_today
from crm.extensions import db
from crm.service.models import DeliveryStatus, PolicyDelivery, PolicyKind
from tests.api.support import bearer, error_of
from tests.conftest import assign, make_enterprise, make_user

URL = "/api/v1/policy-deliveries"
KEYS = {"id", "enterprise_id", "enterprise_name", "county", "kind", "promised", "amount", "promised_date",
        "delivered_date", "status", "status_label", "late", "evidence", "warnings", "owner", "department",
        "version", "created_at", "updated_at"}


def payload(enterprise, **overrides):
    data = {"enterprise_id": enterprise.id, "kind": "用地", "promised": "保障新增工业用地50亩", "amount": 120.5,
            "promised_date": "2026-03-31", "delivered_date": None, "evidence": ""}
    data.update(overrides)
    return data


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(PolicyDelivery))


def audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.entity_type == "policy_delivery"))


def make_delivery(enterprise, *, promised_date=date(2026, 3, 31), status=DeliveryStatus.PROMISED,
                  delivered_date=None, kind=PolicyKind.LAND) -> PolicyDelivery:
    row = PolicyDelivery(enterprise=enterprise, kind=kind, promised="电价优惠", promised_date=promised_date,
                         status=status, delivered_date=delivered_date)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def world():
    """Two enterprises (汇川区, 桐梓县); commissioner A assigned to the first, B to the second."""
    huichuan = make_enterprise("遵义政策兑现测试航空零部件有限公司", county="汇川区")
    tongzi = make_enterprise(county="桐梓县")
    a = make_user("commissioner")
    b = make_user("commissioner")
    assign(huichuan, a, "finance")
    assign(tongzi, b, "finance")
    return {"huichuan": huichuan, "tongzi": tongzi, "a": a, "b": b}


# --- create ------------------------------------------------------------------------------------------------

def test_coordinator_creates(client, world):
    headers = bearer(make_user("coordinator"))
    response = client.post(URL, json=payload(world["huichuan"], owner=world["a"].username,
                                             department="市工业和科学技术局"), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == KEYS
    assert response.headers["Location"].endswith(f"{URL}/{body['id']}")
    assert body["enterprise_id"] == world["huichuan"].id and body["county"] == "汇川区"
    assert body["enterprise_name"] == "遵义政策兑现测试航空零部件有限公司"
    assert body["kind"] == "用地" and body["amount"] == 120.5 and body["promised_date"] == "2026-03-31"
    assert body["status"] == "promised" and body["status_label"] == "待兑现" and body["delivered_date"] is None
    assert body["late"] is (date(2026, 3, 31) < local_today())
    assert body["owner"] == world["a"].username and body["department"] == "市工业和科学技术局"
    assert body["version"] == 1 and body["created_at"].endswith("+08:00") and body["warnings"] == []
    assert "用地" in response.get_data(as_text=True)  # Chinese unescaped
    assert client.get(response.headers["Location"], headers=headers).get_json() == body


def test_assigned_commissioner_creates_delivered(client, world):
    response = client.post(URL, json=payload(world["huichuan"], delivered_date="2026-04-02", kind="融资",
                                             amount="300"), headers=bearer(world["a"]))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "delivered" and body["delivered_date"] == "2026-04-02" and body["late"] is True
    assert body["warnings"] and "佐证" in body["warnings"][0]


def test_commissioner_cannot_create_on_another_enterprise(client, world):
    response = client.post(URL, json=payload(world["tongzi"]), headers=bearer(world["a"]))
    error_of(response, 404, "not_found")
    assert count() == 0 and audit_count() == 0


def test_leader_cannot_create(client, world):
    response = client.post(URL, json=payload(world["huichuan"]), headers=bearer(make_user("leader")))
    error_of(response, 403, "forbidden")
    assert count() == 0


def test_county_coordinator_cannot_create_in_another_county(client, world):
    headers = bearer(make_user("coordinator", county="汇川区"))
    error_of(client.post(URL, json=payload(world["tongzi"]), headers=headers), 404)
    assert client.post(URL, json=payload(world["huichuan"]), headers=headers).status_code == 201


@pytest.mark.parametrize("overrides, field, words", [
    ({"kind": "补贴"}, "kind", "可选:税收、用地、用电、用气、用水、用矿、融资、引才"),
    ({"promised": ""}, "promised", "请填写承诺内容"),
    ({"amount": -1}, "amount", "不能为负数"),
    ({"amount": "1.005"}, "amount", "最多保留两位小数"),
    ({"promised_date": "明天"}, "promised_date", "YYYY-MM-DD"),
    ({"delivered_date": "2099-01-01"}, "delivered_date", "不能晚于今天"),
    ({"owner": "no-such-user"}, "owner", "“no-such-user”不是可负责该企业的在职用户"),
    ({"status": "delivered"}, "status", "不支持的字段"),
    ({"enterprise_id": "abc"}, "enterprise_id", "整数"),
    ({"enterprise_id": None}, "enterprise_id", "企业 id"),
])
def test_create_validation(client, world, overrides, field, words):
    headers = bearer(make_user("coordinator"))
    error = error_of(client.post(URL, json=payload(world["huichuan"], **overrides), headers=headers), 422,
                     "invalid")
    assert words in error["fields"][field]
    assert count() == 0


def test_create_missing_enterprise_and_malformed_bodies(client, world):
    headers = bearer(make_user("coordinator"))
    error_of(client.post(URL, json=payload(world["huichuan"], enterprise_id=999999), headers=headers), 404)
    error_of(client.post(URL, json=payload(world["huichuan"], enterprise_id=2**40), headers=headers), 404)
    error_of(client.post(URL, data="[1]", headers=headers, content_type="application/json"), 400)
    error_of(client.post(URL, data="{", headers=headers, content_type="application/json"), 400)
    error_of(client.post(URL, json=payload(world["huichuan"])), 401)


# --- read ----------------------------------------------------------------------------------------------------

def test_refusals_on_another_commissioners_record(client, world):
    theirs = make_delivery(world["tongzi"])
    headers = bearer(world["a"])
    error_of(client.get(f"{URL}/{theirs.id}", headers=headers), 404)
    error_of(client.patch(f"{URL}/{theirs.id}", json={"promised": "改"}, headers=headers), 404)
    assert client.get(URL, headers=headers).get_json()["total"] == 0
    assert client.get(f"{URL}?enterprise_id={world['tongzi'].id}", headers=headers).get_json()["items"] == []
    db.session.refresh(theirs)
    assert theirs.promised == "电价优惠" and theirs.version == 1
    error_of(client.get(f"{URL}/999999", headers=headers), 404)


def test_leader_reads_but_does_not_write(client, world):
    row = make_delivery(world["huichuan"])
    headers = bearer(make_user("leader"))
    assert client.get(f"{URL}/{row.id}", headers=headers).status_code == 200
    assert client.get(URL, headers=headers).get_json()["total"] == 1
    error_of(client.patch(f"{URL}/{row.id}", json={"promised": "改"}, headers=headers), 403, "forbidden")
    db.session.refresh(row)
    assert row.version == 1


def test_county_scope(client, world):
    mine = make_delivery(world["huichuan"])
    other = make_delivery(world["tongzi"])
    headers = bearer(make_user("coordinator", county="桐梓县"))
    assert [i["id"] for i in client.get(URL, headers=headers).get_json()["items"]] == [other.id]
    error_of(client.get(f"{URL}/{mine.id}", headers=headers), 404)
    error_of(client.patch(f"{URL}/{mine.id}", json={"evidence": "x"}, headers=headers), 404)


def test_list_filters_and_late_flag(client, world):
    today = local_today()
    late = make_delivery(world["huichuan"], promised_date=today - timedelta(days=3))
    future = make_delivery(world["huichuan"], promised_date=today + timedelta(days=30), kind=PolicyKind.TALENT)
    delivered_late = make_delivery(world["tongzi"], promised_date=today - timedelta(days=40),
                                   status=DeliveryStatus.DELIVERED, delivered_date=today - timedelta(days=20))
    headers = bearer(make_user("coordinator"))

    def ids(query: str = "") -> list[int]:
        response = client.get(f"{URL}{query}", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["items"]]

    assert ids() == [future.id, late.id, delivered_late.id]
    body = client.get(URL, headers=headers).get_json()
    assert set(body) == {"items", "total", "page", "per_page"} and body["total"] == 3
    assert {i["id"]: i["late"] for i in body["items"]} == {late.id: True, future.id: False, delivered_late.id: True}
    assert ids("?late=true") == [late.id, delivered_late.id]
    assert ids("?late=false") == [future.id]
    assert ids("?kind=引才") == [future.id]
    assert ids("?status=delivered") == [delivered_late.id]
    assert ids("?county=桐梓县") == [delivered_late.id]
    assert ids(f"?enterprise_id={world['huichuan'].id}&late=true") == [late.id]
    assert ids("?per_page=1&page=2") == [late.id]
    error_of(client.get(f"{URL}?late=maybe", headers=headers), 400)
    error_of(client.get(f"{URL}?enterprise_id=x", headers=headers), 400)
    error_of(client.get(f"{URL}?per_page=500", headers=headers), 400)
    assert "kind" in error_of(client.get(f"{URL}?kind=补贴", headers=headers), 422)["fields"]
    assert "county" in error_of(client.get(f"{URL}?county=火星区", headers=headers), 422)["fields"]


# --- update --------------------------------------------------------------------------------------------------

def test_patch_deliver_then_stale_version_conflicts(client, world):
    row = make_delivery(world["huichuan"])
    headers = bearer(world["a"])
    url = f"{URL}/{row.id}"
    response = client.patch(url, json={"status": "delivered", "delivered_date": "2026-04-10",
                                       "evidence": "遵自然资〔2026〕12号", "version": 1}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "delivered" and body["status_label"] == "已兑现" and body["version"] == 2
    assert body["late"] is True and body["warnings"] == []
    error = error_of(client.patch(url, json={"evidence": "覆盖", "version": 1}, headers=headers), 409, "stale")
    assert "已被他人修改" in error["message"]
    db.session.refresh(row)
    assert row.evidence == "遵自然资〔2026〕12号" and row.version == 2
    assert audit_count() == 1


def test_patch_rules(client, world):
    row = make_delivery(world["huichuan"])
    headers = bearer(make_user("coordinator"))
    url = f"{URL}/{row.id}"
    error = error_of(client.patch(url, json={"status": "delivered"}, headers=headers), 422)
    assert error["fields"] == {"delivered_date": "标记为已兑现须填写兑现日期"}
    error = error_of(client.patch(url, json={"status": "cancelled"}, headers=headers), 422)
    assert "原因" in error["fields"]["evidence"]
    error = error_of(client.patch(url, json={"enterprise_id": world["tongzi"].id}, headers=headers), 422)
    assert error["fields"] == {"enterprise_id": "不支持的字段"}
    error_of(client.patch(url, json={"version": "x"}, headers=headers), 422)
    response = client.patch(url, json={"status": "cancelled", "evidence": "企业主动放弃"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "cancelled"
    assert response.get_json()["late"] is False
    response = client.patch(url, json={"status": "promised", "promised_date": "2026-12-31"}, headers=headers)
    assert response.get_json()["status"] == "promised"


def test_openapi_documents_the_endpoints(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert set(doc["paths"]["/policy-deliveries"]) >= {"get", "post"}
    assert set(doc["paths"]["/policy-deliveries/{delivery_id}"]) >= {"get", "patch", "parameters"}
    schema = doc["components"]["schemas"]["PolicyDelivery"]
    assert set(schema["properties"]) == KEYS
    create = doc["components"]["schemas"]["PolicyDeliveryCreate"]
    assert set(create["properties"]) >= {"enterprise_id", "kind", "promised", "amount", "promised_date",
                                         "delivered_date", "evidence"}
