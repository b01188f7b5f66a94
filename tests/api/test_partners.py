"""Partner catalogue endpoints: read by everyone, kept by admins and coordinators; validation, versions, the
plan's firms kept as the plan names them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.reference.models import Partner
from tests.api.support import bearer, error_of
from tests.conftest import make_uscc, make_user
from tests.meetings.factories import partner

URL = "/api/v1/partners"
KEYS = {"id", "name", "region", "city", "industry_chain", "uscc", "in_plan", "version", "created_at", "updated_at"}


def payload(**overrides):
    data = {"name": "成都测试汽车零部件有限公司", "city": "成都", "region": "四川", "industry_chain": "汽车",
            "uscc": make_uscc()}
    data.update(overrides)
    return data


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Partner))


def audits(partner_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "partner", AuditLog.entity_id == partner_id))


def test_coordinator_adds_a_partner(client):
    headers = bearer(make_user("coordinator"))
    data = payload(uscc=" " + make_uscc().lower() + " ")
    response = client.post(URL, json=data, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == KEYS
    assert response.headers["Location"].endswith(f"{URL}/{body['id']}")
    assert body["name"] == "成都测试汽车零部件有限公司" and body["region"] == "四川" and body["city"] == "成都"
    assert body["industry_chain"] == "汽车" and body["uscc"] == data["uscc"].strip().upper()
    assert body["in_plan"] is False and body["version"] == 1 and body["created_at"].endswith("+08:00")
    assert client.get(response.headers["Location"], headers=headers).get_json() == body
    assert audits(body["id"]) == 1


def test_the_uscc_is_optional(client):
    headers = bearer(make_user("admin"))
    response = client.post(URL, json=payload(uscc=None, name="重庆测试配套有限公司", region="重庆", city="重庆"),
                           headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["uscc"] is None
    response = client.post(URL, json={"name": "无代码企业", "city": "绵阳", "region": "四川"}, headers=headers)
    assert response.status_code == 201 and response.get_json()["industry_chain"] == ""


def test_list_search_and_region(client):
    headers = bearer(make_user("commissioner"))  # everyone signed in reads the catalogue
    listed = client.get(URL, headers=headers).get_json()
    assert listed["total"] == count() >= 12 and listed["items"][0]["in_plan"] is True
    assert set(listed["items"][0]) == KEYS
    names = [p["name"] for p in client.get(URL, query_string={"q": "长安"}, headers=headers).get_json()["items"]]
    assert names == ["重庆长安汽车股份有限公司"]
    sichuan = client.get(URL, query_string={"region": "四川", "per_page": 200}, headers=headers).get_json()["items"]
    assert sichuan and {p["region"] for p in sichuan} == {"四川"}
    assert client.get(URL, query_string={"q": "没有这家"}, headers=headers).get_json()["total"] == 0
    assert "region" in error_of(client.get(URL, query_string={"region": "贵州"}, headers=headers), 400)["fields"]


@pytest.mark.parametrize(("change", "field"), [
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"name": "名" * 121}, "name"),
    ({"city": ""}, "city"),
    ({"city": 5}, "city"),
    ({"region": "贵州"}, "region"),
    ({"region": None}, "region"),
    ({"uscc": "91500000000000000A"}, "uscc"),
    ({"uscc": "123"}, "uscc"),
    ({"uscc": 915000}, "uscc"),
    ({"industry_chain": "链" * 81}, "industry_chain"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_is_422_naming_the_field(client, change, field):
    headers = bearer(make_user("coordinator"))
    before = count()
    error = error_of(client.post(URL, json=payload(**change), headers=headers), 422)
    assert field in error["fields"], error
    assert count() == before


def test_duplicates_are_409(client):
    headers = bearer(make_user("coordinator"))
    error = error_of(client.post(URL, json=payload(name="重庆长安汽车股份有限公司"), headers=headers), 409)
    assert "name" in error["fields"]
    code = make_uscc()
    assert client.post(URL, json=payload(uscc=code), headers=headers).status_code == 201
    error = error_of(client.post(URL, json=payload(name="另一家", uscc=code), headers=headers), 409)
    assert "uscc" in error["fields"]


def test_patch_then_a_stale_version_is_409(client):
    headers = bearer(make_user("coordinator"))
    created = client.post(URL, json=payload(), headers=headers).get_json()
    url = f"{URL}/{created['id']}"
    response = client.patch(url, json={"industry_chain": "新能源汽车", "city": "宜宾", "version": 1}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["industry_chain"] == "新能源汽车" and body["city"] == "宜宾" and body["version"] == 2
    assert body["name"] == created["name"]  # untouched
    error = error_of(client.patch(url, json={"city": "覆盖", "version": 1}, headers=headers), 409, "stale")
    assert "version" in error["fields"]
    row = db.session.get(Partner, created["id"])
    db.session.refresh(row)
    assert row.city == "宜宾" and row.version == 2 and audits(row.id) == 2
    assert "region" in error_of(client.patch(url, json={"region": "云南"}, headers=headers), 422)["fields"]


def test_the_plans_firms_keep_their_name_and_region(client):
    changan = partner()
    headers = bearer(make_user("coordinator"))
    url = f"{URL}/{changan.id}"
    assert "name" in error_of(client.patch(url, json={"name": "改名"}, headers=headers), 422)["fields"]
    assert "region" in error_of(client.patch(url, json={"region": "四川"}, headers=headers), 422)["fields"]
    code = make_uscc()
    body = client.patch(url, json={"uscc": code}, headers=headers).get_json()
    assert body["uscc"] == code and body["in_plan"] is True and body["name"] == "重庆长安汽车股份有限公司"


@pytest.mark.parametrize("role", ["leader", "commissioner"])
def test_leaders_and_commissioners_only_read(client, role):
    changan = partner()
    headers = bearer(make_user(role))
    before = count()
    assert client.get(f"{URL}/{changan.id}", headers=headers).status_code == 200
    error_of(client.post(URL, json=payload(), headers=headers), 403)
    error_of(client.patch(f"{URL}/{changan.id}", json={"city": "重庆渝北"}, headers=headers), 403)
    assert count() == before
    db.session.refresh(changan)
    assert changan.city == "重庆"


def test_missing_partner_is_404_and_no_token_401(client):
    headers = bearer(make_user("coordinator"))
    error_of(client.get(f"{URL}/999999", headers=headers), 404)
    error_of(client.get(f"{URL}/99999999999999999999", headers=headers), 404)
    error_of(client.patch(f"{URL}/999999", json={"city": "x"}, headers=headers), 404)
    error_of(client.get(URL), 401)


def test_odd_values_never_answer_500(client):
    headers = bearer(make_user("coordinator"))
    changan = partner()
    odd = [None, True, 1e308, -1, 99999999999999999999, "", "字" * 5000, [], {}, ["x"], "\x00", "NaN"]
    for name in ("name", "city", "region", "industry_chain", "uscc"):
        for value in odd:
            response = client.post(URL, json={**payload(), name: value}, headers=headers)
            assert response.status_code < 500, (name, value)
            response = client.patch(f"{URL}/{changan.id}", json={name: value}, headers=headers)
            assert response.status_code < 500, (name, value)
    for value in odd:
        assert client.patch(f"{URL}/{changan.id}", json={"version": value}, headers=headers).status_code < 500
    for params in ({"q": "%_\\"}, {"region": ""}, {"q": "\x00"}, {"page": "x"}):
        assert client.get(URL, query_string=params, headers=headers).status_code < 500, params
