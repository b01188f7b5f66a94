"""``paginate(..., count_with_page=True)``: the page and its exact total in one statement (a search's matches are
read once, not by a ``count(*)`` and again by the page's sort) — the same items, order and total as the two
statements it replaces, on every sort, on deep pages, past the end and with nothing found."""

from __future__ import annotations

import pytest

from crm.core.pagination import paginate
from crm.enterprises.domain import SORTS, listed, search_statement
from crm.enterprises.models import Enterprise
from crm.extensions import db
from tests.conftest import make_enterprise, make_user

COUNTIES = ("红花岗区", "汇川区", "桐梓县")


@pytest.fixture
def found():
    names = ("甲", "乙", "丙", "丁", "戊", "己", "庚")
    for n, name in enumerate(names):
        make_enterprise(f"一并计数{name}机械有限公司", county=COUNTIES[n % 3])
        make_enterprise(f"一并计数{name}{name}电子有限公司", county=COUNTIES[(n + 1) % 3])
    make_enterprise("不相干的有限公司")
    db.session.commit()
    return make_user("admin")


def _ids(page) -> list[int]:
    return [item.id for item in page.items]


@pytest.mark.parametrize("sort", list(SORTS))
@pytest.mark.parametrize("plain_rows", [True, False])
def test_the_same_pages_as_a_count_then_the_page(found, sort, plain_rows):
    stmt = search_statement(found, q="一并计数", sort=sort)
    rows = (lambda narrowed: listed(narrowed, Enterprise.id, Enterprise.name)) if plain_rows else None
    for number in range(1, 7):  # 14 matches, 3 a page: pages 1–5, then one past the end
        two = paginate(stmt, number, 3, key=Enterprise.id, rows=rows)
        one = paginate(stmt, number, 3, key=Enterprise.id, rows=rows, count_with_page=True)
        assert _ids(one) == _ids(two) and (one.total, one.has_next, one.pages) == (two.total, two.has_next, two.pages)
        assert one.total == 14
        if plain_rows:
            assert [(i.name, i.county) for i in one.items] == [(i.name, i.county) for i in two.items]
        else:
            assert all(isinstance(item, Enterprise) for item in one.items)


def test_a_scope_and_a_filter_narrow_the_count_too(found):
    county_user = make_user("coordinator", county="汇川区")
    for stmt in (search_statement(county_user, q="一并计数"), search_statement(found, q="一并计数", county="汇川区")):
        page = paginate(stmt, 1, 50, key=Enterprise.id, count_with_page=True)
        assert page.total == len(page.items) == 5 and {e.county.name for e in page.items} == {"汇川区"}


def test_one_statement_for_a_page_with_rows_a_count_more_only_past_the_end(found, count_queries):
    stmt = search_statement(found, q="一并计数")
    with count_queries() as queries:
        page = paginate(stmt, 2, 3, key=Enterprise.id, count_with_page=True)
    assert queries.count == 1 and page.total == 14 and len(page.items) == 3
    # the outer query does not test the search again: the pattern is matched in the keys' subquery only
    assert queries.statements[0].count("LIKE") == 1
    with count_queries() as queries:
        page = paginate(stmt, 9, 3, key=Enterprise.id, count_with_page=True)
    assert queries.count == 2 and page.total == 14 and page.items == [] and not page.has_next
    with count_queries() as queries:
        page = paginate(search_statement(found, q="没有这样的企业"), 1, 3, key=Enterprise.id, count_with_page=True)
    assert queries.count == 1 and page.total == 0 and page.items == []


def test_an_unfiltered_estimated_list_keeps_its_estimate(app, found, monkeypatch):
    """``count_with_page`` is for a filtered list: an unfiltered one with an estimated total keeps that path."""
    from crm.core import pagination

    monkeypatch.setattr(pagination, "_estimated_rows", lambda table: 1000)
    page = paginate(search_statement(found), 1, 3, key=Enterprise.id, estimate="enterprises", count_with_page=True)
    assert page.estimated and page.total == 1000 and page.has_next


def test_an_order_it_cannot_carry_out_is_counted_as_before(found, count_queries):
    """NULLS FIRST (or any ORDER BY other than columns ascending / descending): the count and the page as before."""
    stmt = search_statement(found, q="一并计数").order_by(None).order_by(Enterprise.settled_on.desc().nulls_first(),
                                                                          Enterprise.id)
    with count_queries() as queries:
        page = paginate(stmt, 2, 3, key=Enterprise.id, count_with_page=True)
    assert queries.count == 2 and page.total == 14
    assert _ids(page) == [e.id for e in db.session.scalars(stmt)][3:6]
