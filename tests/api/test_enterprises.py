"""Enterprise endpoints: each role's allowed and refused paths, validation, versions, history, figures."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.enterprises import domain
from crm.enterprises.models import Enterprise, EnterpriseFigure
from crm.extensions import db
from tests.api.support import bearer, error_of, lettered_uscc, payload
from tests.conftest import assign, make_enterprise, make_uscc, make_user

URL = "/api/v1/enterprises"
ENTERPRISE_KEYS = {
    "id", "name", "uscc", "county", "park", "cluster", "supply_category", "above_scale", "main_products",
    "settled_from_chengyu", "settled_on", "status", "is_demo", "version", "created_at", "updated_at", "contacts",
    "figures", "partners",
}


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def audit_count(enterprise_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.enterprise_id == enterprise_id))


@pytest.fixture
def world():
    """One enterprise in 汇川区 and one in 桐梓县."""
    return make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")


# --- create ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "coordinator"])
def test_admin_and_coordinator_create(client, role):
    user = make_user(role)
    data = payload(settled_from_chengyu=True, settled_on="2025-06-30")
    response = client.post(URL, json=data, headers=bearer(user))
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == ENTERPRISE_KEYS
    assert response.headers["Location"].endswith(f"/api/v1/enterprises/{body['id']}")
    for key in ("name", "uscc", "county", "cluster", "supply_category", "above_scale", "main_products",
                "settled_from_chengyu", "settled_on"):
        assert body[key] == data[key], key
    assert body["status"] == "active" and body["version"] == 1 and body["is_demo"] is False
    assert body["park"] is None and body["contacts"] == [] and body["figures"] == [] and body["partners"] == []
    for key in ("created_at", "updated_at"):
        assert body[key].endswith("+08:00") and datetime.fromisoformat(body[key]).tzinfo is not None
    # Chinese text travels unescaped.
    raw = response.get_data(as_text=True)
    assert "汇川区" in raw and "\\u" not in raw
    stored = db.session.get(Enterprise, body["id"])
    assert stored is not None and stored.name == data["name"]
    assert client.get(response.headers["Location"], headers=bearer(user)).get_json() == body


@pytest.mark.parametrize("role", ["commissioner", "leader"])
def test_commissioner_and_leader_cannot_create(client, role):
    user = make_user(role, specialties=["tech"] if role == "commissioner" else None)
    before = count(Enterprise)
    error_of(client.post(URL, json=payload(), headers=bearer(user)), 403, "forbidden")
    assert count(Enterprise) == before


def test_create_lists_every_missing_field_at_once(client):
    error = error_of(client.post(URL, json={}, headers=bearer(make_user("admin"))), 422, "invalid")
    assert {"name", "uscc", "county", "cluster"} <= set(error["fields"])


# --- validation --------------------------------------------------------------------------------------------

def test_bad_uscc_check_digit_is_422(client):
    good = make_uscc(987654)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    error = error_of(client.post(URL, json=payload(uscc=bad), headers=bearer(make_user("admin"))), 422, "invalid")
    assert "校验位" in error["fields"]["uscc"]


@pytest.mark.parametrize("uscc", ["91520300", "9152030000000000011", ""])
def test_wrong_length_uscc_is_422(client, uscc):
    error = error_of(client.post(URL, json=payload(uscc=uscc), headers=bearer(make_user("admin"))), 422)
    assert "uscc" in error["fields"]


def test_lower_case_uscc_is_normalised_to_upper_case(client):
    code = lettered_uscc()
    sent = " ".join([code[:6].lower(), code[6:].lower()])
    response = client.post(URL, json=payload(uscc=sent), headers=bearer(make_user("admin")))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["uscc"] == code


def test_duplicate_uscc_is_409(client, world):
    error = error_of(client.post(URL, json=payload(uscc=world[0].uscc), headers=bearer(make_user("admin"))),
                     409, "duplicate")
    assert world[0].name in error["fields"]["uscc"]


def test_duplicate_name_is_409_even_with_other_brackets_and_spaces(client):
    make_enterprise("遵义长征(集团)精密零件有限公司")
    data = payload(name="遵义长征(集团) 精密零件有限公司")
    error = error_of(client.post(URL, json=data, headers=bearer(make_user("admin"))), 409, "duplicate")
    assert "name" in error["fields"]


@pytest.mark.parametrize(("field", "value"), [
    ("county", "成都市"),
    ("cluster", "纺织服装"),
    ("supply_category", "关键软件"),
    ("settled_on", "2025-13-01"),
    ("status", "bankrupt"),
    ("name", "长" * 121),
    ("main_products", "品" * 2001),
    ("nickname", "遵义厂"),
    ("name", "遵义\x00零件厂"),
])
def test_invalid_field_values_are_422_with_fields(client, field, value):
    error = error_of(client.post(URL, json=payload(**{field: value}), headers=bearer(make_user("admin"))), 422)
    assert field in error["fields"]


def test_settled_from_chengyu_needs_a_date(client):
    data = payload(settled_from_chengyu=True, settled_on=None)
    error = error_of(client.post(URL, json=data, headers=bearer(make_user("admin"))), 422)
    assert "settled_on" in error["fields"]


@pytest.mark.parametrize("kwargs", [
    {"data": "name=遵义厂", "content_type": "application/x-www-form-urlencoded"},
    {"data": "not json at all", "content_type": "text/plain"},
    {"data": '{"name": "遵义厂",', "content_type": "application/json"},
    {"data": b"\xff\xfe{}", "content_type": "application/json"},
    {"data": "[" * 100000 + "]" * 100000, "content_type": "application/json"},
    {"json": [{"name": "遵义厂"}]},
    {"json": "遵义厂"},
    {"json": 42},
    {"json": None},
    {},
])
def test_non_json_object_body_is_400_never_500(client, world, kwargs):
    headers = bearer(make_user("admin"))
    target = world[0]
    for method, url in (("POST", URL), ("PATCH", f"{URL}/{target.id}"), ("PUT", f"{URL}/{target.id}/figures/2025")):
        error_of(client.open(url, method=method, headers=headers, **kwargs), 400, "bad_request")


def test_json_body_without_content_type_is_accepted(client):
    response = client.post(URL, data=json.dumps(payload()), content_type="text/plain",
                           headers=bearer(make_user("admin")))
    assert response.status_code == 201


# --- read, scope and roles ---------------------------------------------------------------------------------

def test_commissioner_sees_and_edits_only_assigned_enterprises(client, world):
    commissioner = make_user("commissioner", specialties=["tech"])
    mine, theirs = world
    assign(mine, commissioner)
    headers = bearer(commissioner)
    assert client.get(f"{URL}/{mine.id}", headers=headers).status_code == 200
    response = client.patch(f"{URL}/{mine.id}", json={"main_products": "新产品"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["main_products"] == "新产品"
    for method, url, body in (("GET", f"{URL}/{theirs.id}", None),
                              ("PATCH", f"{URL}/{theirs.id}", {"main_products": "不该写入"}),
                              ("GET", f"{URL}/{theirs.id}/history", None),
                              ("PUT", f"{URL}/{theirs.id}/figures/2025", {"output_value": 1})):
        error = error_of(client.open(url, method=method, json=body, headers=headers), 404, "not_found")
        assert error["message"] == "记录不存在或您无权查看"
    listed = client.get(URL, headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [mine.id] and listed["total"] == 1
    db.session.expire_all()
    assert theirs.main_products == "测试产品"


def test_commissioner_loses_access_when_the_assignment_ends(client, world):
    commissioner = make_user("commissioner", specialties=["tech"])
    row = assign(world[0], commissioner)
    headers = bearer(commissioner)
    assert client.get(f"{URL}/{world[0].id}", headers=headers).status_code == 200
    row.ended_on = row.started_on
    db.session.commit()
    error_of(client.get(f"{URL}/{world[0].id}", headers=headers), 404)


def test_county_coordinator_cannot_see_another_county(client, world):
    huichuan, tongzi = world
    coordinator = make_user("coordinator", county="汇川区")
    headers = bearer(coordinator)
    assert client.get(f"{URL}/{huichuan.id}", headers=headers).status_code == 200
    error_of(client.get(f"{URL}/{tongzi.id}", headers=headers), 404)
    error_of(client.patch(f"{URL}/{tongzi.id}", json={"main_products": "x"}, headers=headers), 404)
    ids = {item["id"] for item in client.get(URL, headers=headers, query_string={"per_page": 200}).get_json()["items"]}
    assert huichuan.id in ids and tongzi.id not in ids
    asked = client.get(URL, headers=headers, query_string={"county": "桐梓县"}).get_json()
    assert asked["items"] == [] and asked["total"] == 0


def test_county_coordinator_creates_and_moves_only_within_their_county(client, world):
    huichuan, _ = world
    coordinator = make_user("coordinator", county="汇川区")
    headers = bearer(coordinator)
    before = count(Enterprise)
    error = error_of(client.post(URL, json=payload(county="桐梓县"), headers=headers), 422)
    assert "汇川区" in error["fields"]["county"]
    assert count(Enterprise) == before
    error_of(client.patch(f"{URL}/{huichuan.id}", json={"county": "桐梓县"}, headers=headers), 422)
    db.session.expire_all()
    assert huichuan.county.name == "汇川区" and huichuan.version == 1
    assert client.post(URL, json=payload(county="汇川区"), headers=headers).status_code == 201
    same = client.patch(f"{URL}/{huichuan.id}", json={"county": "汇川区", "main_products": "x"}, headers=headers)
    assert same.status_code == 200
    admin_moves = client.patch(f"{URL}/{huichuan.id}", json={"county": "桐梓县"}, headers=bearer(make_user("admin")))
    assert admin_moves.status_code == 200 and admin_moves.get_json()["county"] == "桐梓县"


def test_leader_reads_but_every_write_is_403_and_nothing_changes(client, world):
    leader = make_user("leader")
    target = world[0]
    headers = bearer(leader)
    before = (target.name, target.version, target.main_products, audit_count(target.id), count(EnterpriseFigure),
              count(Enterprise))
    assert client.get(f"{URL}/{target.id}", headers=headers).status_code == 200
    assert client.get(f"{URL}/{target.id}/history", headers=headers).status_code == 200
    assert client.get(URL, headers=headers).status_code == 200
    writes = (("POST", URL, payload()),
              ("PATCH", f"{URL}/{target.id}", {"main_products": "领导改的", "version": target.version}),
              ("PUT", f"{URL}/{target.id}/figures/2025", {"output_value": 100, "chengyu_output_value": 10}))
    for method, url, body in writes:
        error_of(client.open(url, method=method, json=body, headers=headers), 403, "forbidden")
    db.session.expire_all()
    after = (target.name, target.version, target.main_products, audit_count(target.id), count(EnterpriseFigure),
             count(Enterprise))
    assert after == before


def test_county_leader_sees_only_their_county(client, world):
    leader = make_user("leader", county="桐梓县")
    headers = bearer(leader)
    error_of(client.get(f"{URL}/{world[0].id}", headers=headers), 404)
    error_of(client.patch(f"{URL}/{world[1].id}", json={"main_products": "x"}, headers=headers), 403)


@pytest.mark.parametrize("enterprise_id", ["999999", "99999999999999999999999"])
def test_unknown_enterprise_is_404(client, enterprise_id):
    headers = bearer(make_user("admin"))
    error_of(client.get(f"{URL}/{enterprise_id}", headers=headers), 404, "not_found")
    error_of(client.patch(f"{URL}/{enterprise_id}", json={"main_products": "x"}, headers=headers), 404)


def test_unknown_route_and_method_answer_json(client):
    headers = bearer(make_user("admin"))
    error_of(client.get("/api/v1/no-such-thing", headers=headers), 404)
    error_of(client.delete(URL, headers=headers), 405)


def test_enterprise_json_carries_contacts_figures_and_partners(client):
    admin = make_user("admin")
    enterprise = make_enterprise()
    domain.add_contact(admin, enterprise, {"name": "张伟", "post": "总经理", "phone": "0851-28888888"})
    domain.set_figure(admin, enterprise, 2024, {"output_value": "1234.5", "chengyu_output_value": "200"})
    domain.link_partner(admin, enterprise, "重庆长安汽车股份有限公司", "车门铰链")
    body = client.get(f"{URL}/{enterprise.id}", headers=bearer(admin)).get_json()
    assert [{k: c[k] for k in ("name", "post", "phone")} for c in body["contacts"]] == [
        {"name": "张伟", "post": "总经理", "phone": "0851-28888888"}]
    assert isinstance(body["contacts"][0]["id"], int)
    assert body["figures"] == [{"year": 2024, "output_value": 1234.5, "chengyu_output_value": 200, "above_scale": None}]
    assert body["partners"] == [{"partner": "重庆长安汽车股份有限公司", "supplies": "车门铰链"}]


# --- list ----------------------------------------------------------------------------------------------------

def test_list_filters_and_search(client):
    admin = make_user("admin")
    zunyi = make_enterprise("遵义航天精工有限公司", county="汇川区", cluster="航空航天装备")
    other = make_enterprise("桐梓电池材料有限公司", county="桐梓县", cluster="汽车及电池材料", above_scale=False)
    headers = bearer(admin)

    def ids(**query) -> set[int]:
        response = client.get(URL, headers=headers, query_string={"per_page": 200, **query})
        assert response.status_code == 200, response.get_data(as_text=True)
        return {item["id"] for item in response.get_json()["items"]}

    assert ids(q="航天精工") >= {zunyi.id} and other.id not in ids(q="航天精工")
    assert zunyi.id in ids(q="zyhtjg")  # pinyin initials
    assert ids(q=other.uscc.lower()) == {other.id}
    assert other.id in ids(county="桐梓县") and zunyi.id not in ids(county="桐梓县")
    assert zunyi.id in ids(cluster="航空航天装备") and other.id not in ids(cluster="航空航天装备")
    assert other.id in ids(above_scale="false") and other.id not in ids(above_scale="true")
    assert ids(county="不存在的县") == set()


def test_list_sorts_by_name_by_default_and_on_request(client):
    admin = make_user("admin")
    make_enterprise("遵义甲零件有限公司")
    make_enterprise("遵义乙零件有限公司")
    headers = bearer(admin)
    names = [i["name"] for i in client.get(URL, headers=headers, query_string={"q": "零件有限"}).get_json()["items"]]
    desc = [i["name"] for i in client.get(URL, headers=headers,
                                          query_string={"q": "零件有限", "sort": "-name"}).get_json()["items"]]
    assert len(names) >= 2 and names == list(reversed(desc))


@pytest.mark.parametrize(("query", "field"), [
    ({"per_page": 500}, "per_page"),
    ({"per_page": 0}, "per_page"),
    ({"per_page": "lots"}, "per_page"),
    ({"page": 0}, "page"),
    ({"page": "first"}, "page"),
    ({"sort": "uscc; drop table enterprises"}, "sort"),
    ({"above_scale": "maybe"}, "above_scale"),
])
def test_bad_list_parameters_are_400_with_fields(client, query, field):
    response = client.get(URL, headers=bearer(make_user("admin")), query_string=query)
    assert field in error_of(response, 400, "bad_request")["fields"]


def test_pagination_envelope_and_limits(client):
    admin = make_user("admin")
    for n in range(3):
        make_enterprise(f"遵义分页测试企业{n}有限公司")
    headers = bearer(admin)
    first = client.get(URL, headers=headers, query_string={"q": "分页测试", "per_page": 2}).get_json()
    assert set(first) == {"items", "total", "page", "per_page"}
    assert (first["total"], first["page"], first["per_page"], len(first["items"])) == (3, 1, 2, 2)
    second = client.get(URL, headers=headers, query_string={"q": "分页测试", "per_page": 2, "page": 2}).get_json()
    assert len(second["items"]) == 1
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})
    beyond = client.get(URL, headers=headers, query_string={"q": "分页测试", "per_page": 2, "page": 9}).get_json()
    assert beyond["items"] == [] and beyond["total"] == 3
    assert client.get(URL, headers=headers, query_string={"per_page": 200}).status_code == 200
    default = client.get(URL, headers=headers).get_json()
    assert default["per_page"] == 50 and default["page"] == 1


def test_unknown_roster_is_refused_not_ignored(client):
    response = client.get(URL, headers=bearer(make_user("admin")), query_string={"roster": "nonsense"})
    assert "roster" in error_of(response, 422)["fields"]


# --- patch and versions --------------------------------------------------------------------------------------

def test_patch_is_partial_and_bumps_the_version(client, world):
    target = world[0]
    headers = bearer(make_user("coordinator"))
    before = client.get(f"{URL}/{target.id}", headers=headers).get_json()
    response = client.patch(f"{URL}/{target.id}", headers=headers,
                            json={"main_products": "钛合金紧固件", "version": before["version"]})
    assert response.status_code == 200, response.get_data(as_text=True)
    after = response.get_json()
    assert after["main_products"] == "钛合金紧固件"
    assert after["version"] == before["version"] + 1
    unchanged = {k: v for k, v in before.items() if k not in {"main_products", "version", "updated_at"}}
    assert {k: after[k] for k in unchanged} == unchanged


def test_patch_without_changes_writes_nothing(client, world):
    target = world[0]
    headers = bearer(make_user("coordinator"))
    rows = audit_count(target.id)
    response = client.patch(f"{URL}/{target.id}", headers=headers, json={"main_products": target.main_products})
    assert response.status_code == 200 and response.get_json()["version"] == target.version
    assert audit_count(target.id) == rows


def test_stale_version_is_409_and_nothing_is_written(client, world):
    target = world[0]
    headers = bearer(make_user("coordinator"))
    first = client.patch(f"{URL}/{target.id}", headers=headers, json={"main_products": "第一次", "version": 1})
    assert first.status_code == 200
    rows = audit_count(target.id)
    stale = client.patch(f"{URL}/{target.id}", headers=headers,
                         json={"main_products": "第二次", "name": "改名企业", "version": 1})
    assert "version" in error_of(stale, 409, "stale")["fields"]
    db.session.expire_all()
    assert (target.main_products, target.version, audit_count(target.id)) == ("第一次", 2, rows)
    assert client.get(f"{URL}/{target.id}", headers=headers).get_json()["main_products"] == "第一次"


@pytest.mark.parametrize("version", ["two", [1], {"v": 1}])
def test_malformed_version_is_422(client, world, version):
    response = client.patch(f"{URL}/{world[0].id}", headers=bearer(make_user("admin")),
                            json={"main_products": "x", "version": version})
    assert "version" in error_of(response, 422)["fields"]


def test_patch_refuses_duplicates_and_bad_values(client, world):
    headers = bearer(make_user("admin"))
    a, b = world
    error_of(client.patch(f"{URL}/{a.id}", headers=headers, json={"uscc": b.uscc}), 409, "duplicate")
    error_of(client.patch(f"{URL}/{a.id}", headers=headers, json={"name": b.name}), 409, "duplicate")
    assert "county" in error_of(client.patch(f"{URL}/{a.id}", headers=headers, json={"county": "重庆市"}),
                                422)["fields"]
    db.session.expire_all()
    assert a.version == 1


# --- history -------------------------------------------------------------------------------------------------

def test_history_shows_create_and_update_with_old_and_new(client):
    coordinator = make_user("coordinator")
    headers = bearer(coordinator)
    created = client.post(URL, json=payload(main_products="旧产品"), headers=headers).get_json()
    client.patch(f"{URL}/{created['id']}", json={"main_products": "新产品", "county": "播州区"}, headers=headers)
    response = client.get(f"{URL}/{created['id']}/history", headers=headers)
    assert response.status_code == 200
    page = response.get_json()
    assert page["total"] == 2 and page["page"] == 1
    update, create = page["items"]  # newest first
    for item in (update, create):
        assert set(item) == {"at", "actor", "entity_type", "entity_id", "action", "summary", "changes"}
        assert item["at"].endswith("+08:00")
        assert item["actor"] == coordinator.display_name
        assert (item["entity_type"], item["entity_id"]) == ("enterprise", created["id"])
    assert update["action"] == "update" and create["action"] == "create"
    assert update["changes"]["main_products"] == ["旧产品", "新产品"]
    assert update["changes"]["county"] == ["汇川区", "播州区"]
    assert create["changes"]["name"] == [None, created["name"]]
    assert create["changes"]["county"] == [None, "汇川区"]
    assert "旧产品" in response.get_data(as_text=True)  # unescaped


def test_history_is_paginated(client, world):
    target = world[0]
    headers = bearer(make_user("admin"))
    for n in range(3):
        client.patch(f"{URL}/{target.id}", json={"main_products": f"产品{n}"}, headers=headers)
    page = client.get(f"{URL}/{target.id}/history", headers=headers, query_string={"per_page": 2}).get_json()
    assert page["total"] == 4 and len(page["items"]) == 2
    assert page["items"][0]["changes"]["main_products"] == ["产品1", "产品2"]
    error_of(client.get(f"{URL}/{target.id}/history", headers=headers, query_string={"per_page": 500}), 400)


# --- figures -------------------------------------------------------------------------------------------------

def test_figures_put_creates_then_updates_and_shows_in_history(client, world):
    target = world[0]
    headers = bearer(make_user("coordinator"))
    url = f"{URL}/{target.id}/figures/2025"
    first = client.put(url, json={"output_value": 12000, "chengyu_output_value": "3500.5"}, headers=headers)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert first.get_json() == {"year": 2025, "output_value": 12000, "chengyu_output_value": 3500.5,
                                "above_scale": None}
    second = client.put(url, json={"output_value": 15000.25, "chengyu_output_value": 4000}, headers=headers)
    assert second.status_code == 200
    assert second.get_json() == {"year": 2025, "output_value": 15000.25, "chengyu_output_value": 4000,
                                 "above_scale": None}
    figures = client.get(f"{URL}/{target.id}", headers=headers).get_json()["figures"]
    assert figures == [{"year": 2025, "output_value": 15000.25, "chengyu_output_value": 4000, "above_scale": None}]
    assert all(isinstance(v, int | float) for k, v in figures[0].items() if k != "above_scale")
    history = client.get(f"{URL}/{target.id}/history", headers=headers).get_json()["items"]
    update, create = history[0], history[1]
    assert (update["entity_type"], update["action"]) == ("figure", "update")
    assert update["changes"]["output_value"] == ["12000", "15000.25"]
    assert (create["entity_type"], create["action"]) == ("figure", "create")
    assert create["changes"]["year"] == [None, 2025]


@pytest.mark.parametrize(("year", "body", "field"), [
    ("2025", {"output_value": 100, "chengyu_output_value": 200}, "chengyu_output_value"),
    ("2025", {"output_value": -1}, "output_value"),
    ("2025", {"output_value": "很多"}, "output_value"),
    ("2025", {"output_value": 1.234}, "output_value"),
    ("2025", {"output_value": True}, "output_value"),
    ("2025", {}, "output_value"),
    ("2025", {"output_value": 1, "unit": "亿元"}, "unit"),
    ("1999", {"output_value": 1}, "year"),
    ("next", {"output_value": 1}, "year"),
])
def test_bad_figures_are_422(client, world, year, body, field):
    headers = bearer(make_user("admin"))
    response = client.put(f"{URL}/{world[0].id}/figures/{year}", json=body, headers=headers)
    assert field in error_of(response, 422)["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EnterpriseFigure)
                             .where(EnterpriseFigure.enterprise_id == world[0].id)) == 0


@pytest.mark.parametrize("url", [
    f"{URL}?q=%00", f"{URL}?county=%E6%B1%87%00", f"{URL}?cluster=a%00b", f"{URL}?per_page=2&%00=1",
    f"{URL}?supply_category=%00&roster=%00",
])
def test_nul_in_the_query_is_400_not_a_database_error(client, url):
    error_of(client.get(url, headers=bearer(make_user("admin"))), 400, "bad_request")


def test_nul_in_a_path_argument_is_400(client, world):
    response = client.put(f"{URL}/{world[0].id}/figures/20%0025", json={"output_value": 1},
                          headers=bearer(make_user("admin")))
    assert "year" in error_of(response, 400)["fields"]


def test_a_duplicate_that_slips_past_the_check_is_409_not_500(client, world, monkeypatch):
    """Two simultaneous creates both pass the duplicate check; the unique key then decides."""
    monkeypatch.setattr(domain, "_check_duplicates", lambda *args: None)
    response = client.post(URL, json=payload(uscc=world[0].uscc), headers=bearer(make_user("admin")))
    error_of(response, 409, "duplicate")
