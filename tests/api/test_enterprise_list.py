"""The enterprise list (GET /api/v1/enterprises) read as plain columns says exactly what each record says.

The list builds its items from rows (``Enterprise.page_of_rows``, the fifth provincial-scale pass) and the record
from the entity (``Enterprise.of``): the two must not drift. Run on SQLite and PostgreSQL (the nested rows are
read with an expanded IN on one and an array parameter on the other).
"""

from __future__ import annotations

import pytest

from crm.api.enterprises import Enterprise as EnterpriseShape
from crm.api.schema import dump, dump_many
from crm.enterprises import domain
from crm.extensions import db
from tests.api.support import bearer
from tests.conftest import make_enterprise, make_park, make_user

URL = "/api/v1/enterprises"


@pytest.fixture
def registry():
    """Enterprises with everything the record shows: contacts, figures (规上 recorded or not), partner links, a
    park, no supply category, a settled date, a demo one, a status other than active, two 万元 values with cents."""
    park = make_park("测试列表园区")
    rich = make_enterprise("列表测试甲有限公司", park=park.name, supply_category=None, settled_from_chengyu=True,
                           settled_on="2025-06-30", status="suspended", main_products="壳体\n线束 <b>&</b>")
    plain = make_enterprise("列表测试乙有限公司", county="桐梓县", above_scale=False)
    demo = make_enterprise("列表测试丙有限公司")
    demo.is_demo = True  # as the demo loader marks its records
    for name in ("王五", "张三"):
        domain.add_contact(None, rich, {"name": name, "post": "经理", "phone": "0851-1234567"})
    domain.add_contact(None, demo, {"name": "李四", "post": "", "phone": ""})
    domain.set_figure(None, rich, 2024, {"output_value": "1234.50", "chengyu_output_value": "99.99",
                                         "above_scale": True})
    domain.set_figure(None, rich, 2026, {"output_value": "0.01", "chengyu_output_value": "0"})
    domain.set_figure(None, rich, 2025, {"output_value": "99999999999.99", "chengyu_output_value": "12",
                                         "above_scale": False})
    domain.set_figure(None, plain, 2025, {"output_value": "10", "chengyu_output_value": "1"})
    domain.link_partner(None, rich, "赛力斯集团股份有限公司", "线束")
    domain.link_partner(None, rich, "重庆长安汽车股份有限公司", "壳体")
    db.session.flush()
    return [rich, plain, demo]


@pytest.mark.parametrize("query", ["", "&sort=-name", "&sort=county", "&sort=-updated", "&q=列表测试",
                                   "&q=lbcs", "&above_scale=0"])
def test_each_item_of_the_list_is_the_record_as_get_answers_it(client, registry, query):
    admin = make_user("admin")
    body = client.get(f"{URL}?per_page=200{query}", headers=bearer(admin)).get_json()
    ours = {e.id for e in registry}
    listed = [item for item in body["items"] if item["id"] in ours]
    assert listed, query
    for item in listed:
        record = client.get(f"{URL}/{item['id']}", headers=bearer(admin)).get_json()
        assert item == record, item["name"]


def test_the_nested_lists_keep_the_records_order(client, registry):
    rich = registry[0]
    body = client.get(f"{URL}?q=列表测试甲", headers=bearer(make_user("admin"))).get_json()
    (item,) = body["items"]
    assert item["id"] == rich.id
    assert [c["name"] for c in item["contacts"]] == ["王五", "张三"]  # by id: as entered
    assert [f["year"] for f in item["figures"]] == [2026, 2025, 2024]  # newest year first
    assert [f["above_scale"] for f in item["figures"]] == [None, False, True]
    assert [f["output_value"] for f in item["figures"]] == [0.01, 99999999999.99, 1234.5]
    assert [p["partner"] for p in item["partners"]] == ["赛力斯集团股份有限公司", "重庆长安汽车股份有限公司"]
    assert item["park"] == "测试列表园区" and item["supply_category"] is None and item["status"] == "suspended"
    assert item["settled_on"] == "2025-06-30"


def test_a_page_without_children_and_an_empty_page(client, registry):
    admin = make_user("admin")
    body = client.get(f"{URL}?q=列表测试乙", headers=bearer(admin)).get_json()
    assert [(i["contacts"], i["partners"], len(i["figures"])) for i in body["items"]] == [([], [], 1)]
    body = client.get(f"{URL}?q=没有这样的企业", headers=bearer(admin)).get_json()
    assert body == {"items": [], "total": 0, "page": 1, "per_page": 50}
    assert domain.children_of([]).contacts == {}


def test_a_county_user_lists_only_their_county_with_the_same_items(client, registry):
    coordinator = make_user("coordinator", county="汇川区")
    body = client.get(f"{URL}?q=列表测试&per_page=200", headers=bearer(coordinator)).get_json()
    assert sorted(i["name"] for i in body["items"]) == ["列表测试丙有限公司", "列表测试甲有限公司"]
    for item in body["items"]:
        assert item == client.get(f"{URL}/{item['id']}", headers=bearer(coordinator)).get_json()


def test_dump_many_is_dump_of_each_and_refuses_what_the_model_refuses(registry):
    values = [dump(EnterpriseShape.of(e)) for e in registry]
    assert dump_many(EnterpriseShape, values) == values
    with pytest.raises(ValueError):
        dump_many(EnterpriseShape, [{**values[0], "unknown": 1}])
    with pytest.raises(ValueError):
        dump_many(EnterpriseShape, [{k: v for k, v in values[0].items() if k != "uscc"}])


def _enterprise_counts(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().startswith("SELECT count(*)") and "enterprises" in s]


def test_a_search_is_counted_by_its_page_statement(client, registry, count_queries):
    """With q, the total comes with the page (``count(*) OVER ()``, paginate's ``count_with_page``): no count of
    its own; past the end it is counted on its own and is still the total."""
    headers = bearer(make_user("admin"))
    with count_queries() as queries:
        body = client.get(f"{URL}?q=列表测试&per_page=2", headers=headers).get_json()
    assert body["total"] == 3 and len(body["items"]) == 2 and not _enterprise_counts(queries.statements)
    second = client.get(f"{URL}?q=列表测试&per_page=2&page=2", headers=headers).get_json()
    everything = client.get(f"{URL}?q=列表测试&per_page=200", headers=headers).get_json()["items"]
    assert body["items"] + second["items"] == everything and second["total"] == 3
    with count_queries() as queries:
        body = client.get(f"{URL}?q=列表测试&per_page=2&page=5", headers=headers).get_json()
    assert body == {"items": [], "total": 3, "page": 5, "per_page": 2}
    assert len(_enterprise_counts(queries.statements)) == 1
    with count_queries() as queries:  # without q: a count, then the page read in its index's order
        body = client.get(f"{URL}?county=桐梓县", headers=headers).get_json()
    assert body["total"] >= 1 and len(_enterprise_counts(queries.statements)) == 1
