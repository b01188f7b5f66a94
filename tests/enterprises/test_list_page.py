"""The list page's rows, read as plain columns, say what the enterprises say; its filter choices come from one
statement and are the reference tables' (the fifth provincial-scale pass)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import url_for
from markupsafe import escape

from crm.enterprises import forms
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Cluster, County, SupplyCategory, all_of
from tests.conftest import login, make_enterprise, make_park, make_user


def _row(html: str, enterprise: Enterprise) -> str:
    start = html.index(f'<a href="/enterprises/{enterprise.id}">')
    return html[html.rindex("<tr>", 0, start):html.index("</tr>", start)]


@pytest.fixture
def listed():
    park = make_park("列表页园区")
    rich = make_enterprise("列表页<甲>&有限公司", park=park.name, supply_category=None, status="suspended",
                           above_scale=False)
    rich.is_demo = True
    plain = make_enterprise("列表页乙有限公司", county="桐梓县", cluster="电子信息")
    db.session.commit()
    return rich, plain


def test_each_row_shows_the_enterprise(app, client, listed):
    login(client, make_user("admin"))
    html = client.get("/enterprises/?q=列表页&per_page=200").get_data(as_text=True)
    with app.test_request_context():
        for enterprise in listed:
            row = _row(html, enterprise)
            assert f'<a href="{url_for("enterprises.detail", enterprise_id=enterprise.id)}">' \
                   f'{escape(enterprise.name)}</a>' in row
            assert ('<span class="badge text-bg-warning ms-1">演示</span>' in row) is enterprise.is_demo
            assert f"{enterprise.uscc} · {escape(enterprise.cluster.name)}</div>" in row
            assert f'<td class="d-none d-md-table-cell font-monospace small">{enterprise.uscc}</td>' in row
            assert f'<td class="text-nowrap">{enterprise.county.name}</td>' in row
            assert f'<td class="d-none d-sm-table-cell">{enterprise.cluster.name}</td>' in row
            category = enterprise.supply_category.name if enterprise.supply_category else "—"
            assert f'<td class="d-none d-lg-table-cell">{category}</td>' in row
            assert ("规上</span>" if enterprise.above_scale else "规下</span>") in row
            badge = "text-bg-primary" if enterprise.status.value == "active" else "text-bg-secondary"
            assert f'<span class="badge {badge}">{enterprise.status.label}</span>' in row
    rich, plain = listed
    assert "正常经营" in _row(html, plain) and "停产" in _row(html, rich) and "—" in _row(html, rich)


def test_the_list_is_sorted_as_before_by_pinyin_with_a_search(client, listed):
    login(client, make_user("admin"))
    more = [make_enterprise(f"列表页排序{n}有限公司") for n in ("丙", "甲", "乙")]
    db.session.commit()
    names = re.findall(r'<a href="/enterprises/\d+">([^<]+)</a>',
                       client.get("/enterprises/?q=列表页排序").get_data(as_text=True))
    assert names == [e.name for e in sorted(more, key=lambda e: (e.name_pinyin, e.id))]
    names = re.findall(r'<a href="/enterprises/\d+">([^<]+)</a>',
                       client.get("/enterprises/?q=列表页排序&sort=-name").get_data(as_text=True))
    assert names == [e.name for e in sorted(more, key=lambda e: (e.name_pinyin, e.id), reverse=True)]


def _options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select [^>]*name="{name}">(.*?)</select>', html).group(1)
    return re.findall(r"<option [^>]*>([^<]*)</option>", select)


@pytest.mark.parametrize("county", [None, "桐梓县"])
def test_the_filter_choices_are_the_reference_tables(client, county):
    login(client, make_user("coordinator", county=county))
    html = client.get("/enterprises/").get_data(as_text=True)
    counties = [c.name for c in all_of(County) if county is None or c.name == county]
    assert _options(html, "county") == ["全部区县", *counties]
    assert _options(html, "cluster") == ["全部集群", *(c.name for c in all_of(Cluster))]
    assert _options(html, "supply_category") == ["全部类别", *(c.name for c in all_of(SupplyCategory))]


def test_the_filter_choices_follow_the_tables_order(app):
    db.session.execute(sa.update(Cluster).where(Cluster.name == "电子信息").values(sort_order=-1))
    user = make_user("admin")
    names = forms._filter_names(user)
    assert names[1][0] == "电子信息"
    assert names == tuple([row.name for row in all_of(model)] for model in (County, Cluster, SupplyCategory))


def test_a_search_page_reads_its_total_with_its_rows(app, client, listed, count_queries):
    """q=: the page's statement counts the matches too (``count(*) OVER ()``), no ``count(*)`` of its own; the
    total and the rows are what two statements gave, for a county user's scope as well."""
    login(client, make_user("admin"))
    with count_queries() as queries:
        html = client.get("/enterprises/?q=列表页&per_page=1").get_data(as_text=True)
    assert not [s for s in queries.statements if s.lstrip().startswith("SELECT count(*)") and "enterprises" in s]
    assert "第 1 / 2 页,共 2 条" in html
    county_client = app.test_client()
    login(county_client, make_user("coordinator", county="桐梓县"))
    html = county_client.get("/enterprises/?q=列表页").get_data(as_text=True)
    assert "共 1 条" in html and "列表页乙有限公司" in html and "列表页&lt;甲&gt;" not in html


def test_a_countys_rows_have_an_index_of_their_own(app):
    """ix_enterprises_county_id (county_id alone, beside the sorted composite): a county user's search and a
    county's count read it (migration f2b9c4e7a1d6)."""
    indexes = {i["name"]: i["column_names"] for i in sa.inspect(db.session.connection()).get_indexes("enterprises")}
    assert indexes.get("ix_enterprises_county_id") == ["county_id"]
    assert indexes.get("ix_enterprises_county_id_name_pinyin") == ["county_id", "name_pinyin", "id"]
