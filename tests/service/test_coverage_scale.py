"""The coverage matrix after the fourth provincial-scale pass (benchmarks/README.md, "Fourth pass: coverage and
一企一档"): "listed" as one EXISTS over the published editions (the same rows as the rosters' rule), the page's
enterprises read as plain columns with their ids in a subquery, the bulk chooser written from plain columns."""

from __future__ import annotations

import html as html_lib
import re

from crm.core import cache
from crm.extensions import db
from crm.rosters import domain as rosters
from crm.rosters.models import RosterKind
from crm.service import coverage
from crm.service.assignments import SPECIALTIES
from tests.conftest import assign, login, make_enterprise, make_user
from tests.rosters.factories import published_edition

SUPPLIER, POOL = RosterKind.SUPPLIER_LIST, RosterKind.CULTIVATION_POOL


def _members(kinds) -> set[int]:
    return {i for k in kinds for i in db.session.scalars(rosters.published_member_ids(k))}


def test_listed_is_the_current_published_edition_of_either_list_once():
    both, supplier_only, pool_only, dropped, drafted = (make_enterprise(county="汇川区") for _ in range(5))
    elsewhere = make_enterprise(county="桐梓县")
    published_edition(SUPPLIER, "2026H1", [both, supplier_only, dropped, elsewhere])
    published_edition(POOL, "2026H1", [both, pool_only])
    newer = rosters.open_edition(None, SUPPLIER, "2026H2")  # supersedes 2026H1: `dropped` is only on the old one
    rosters.remove_entry(None, newer, dropped, "迁出")
    rosters.submit(None, newer)
    rosters.publish(None, newer)
    draft = rosters.open_edition(None, POOL, "2026H2")  # a draft: `drafted` is not listed yet
    rosters.add_entry(None, draft, drafted, "拟入库")
    db.session.flush()
    admin = make_user("admin")

    for roster, kinds in (("", [SUPPLIER, POOL]), ("supplier_list", [SUPPLIER]), ("cultivation_pool", [POOL])):
        expected = _members(kinds)
        ids = list(db.session.scalars(coverage.coverage_statement(admin, roster=roster)))
        assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids)), roster  # each once
        page = coverage.coverage_page(admin, 1, 50, roster=roster, county="汇川区")
        assert {r.enterprise.id for r in page.page.items} == expected - {elsewhere.id}
        assert page.page.total == len(expected - {elsewhere.id})
    assert dropped.id not in _members([SUPPLIER, POOL]) and drafted.id not in _members([SUPPLIER, POOL])
    rows = {r.enterprise.id: r for r in coverage.coverage_page(admin, 1, 50).page.items}
    assert rows[both.id].lists == (SUPPLIER, POOL)
    assert rows[supplier_only.id].lists == (SUPPLIER,) and rows[pool_only.id].lists == (POOL,)


def test_a_page_is_the_same_rows_and_cells_as_the_whole_matrix_in_three_statements(app, count_queries):
    firms = [make_enterprise(f"遵义分页{n:02d}有限公司", county="汇川区") for n in range(9)]
    published_edition(SUPPLIER, "2026H1", firms[:6])
    published_edition(POOL, "2026H1", firms[4:])
    techs = [make_user("commissioner", specialties=["tech", "legal"]) for _ in range(2)]
    for n, firm in enumerate(firms):
        assign(firm, techs[n % 2], "tech")
        if n % 3 == 0:
            assign(firm, techs[n % 2], "legal")
    admin = make_user("admin")
    everything = coverage.coverage(admin)
    seen = []
    for page_no in (1, 2, 3):
        with count_queries() as queries:
            result = coverage.coverage_page(admin, page_no, 4)
        # and on PostgreSQL the data versions the count is cached under (crm/core/cache.py), read once per
        # transaction while it only reads (this one wrote the firms before: each count is computed, none kept)
        assert queries.count == (3 if result.page.items else 1) + (cache.enabled() and page_no == 1)
        seen += result.page.items
        assert result.gap_counts == coverage.gap_counts(everything)
    assert [(r.enterprise, r.lists, r.cells) for r in seen] == [(r.enterprise, r.lists, r.cells) for r in everything]
    one = seen[0]
    assert one.enterprise.county.name == "汇川区" and one.enterprise.cluster.name == "装备制造"
    assert one.cells[SPECIALTIES[0]].commissioner.username in {t.username for t in techs}


def test_a_commissioner_sees_only_their_enterprises_on_the_matrix():
    mine, theirs = make_enterprise(), make_enterprise()
    published_edition(SUPPLIER, "2026H1", [mine, theirs])
    me, other = make_user("commissioner", specialties=["tech"]), make_user("commissioner", specialties=["tech"])
    assign(mine, me)
    assign(theirs, other)
    result = coverage.coverage_page(me, 1, 50)
    assert [r.enterprise.id for r in result.page.items] == [mine.id] and result.page.total == 1


def test_the_chooser_escapes_what_people_typed(client):
    published_edition(SUPPLIER, "2026H1", [make_enterprise(county="汇川区")])
    odd = make_user("commissioner", username="odd-one", specialties=["media", "tech"])
    odd.display_name = '王<b>"五"</b>&'
    db.session.commit()
    login(client, make_user("coordinator"))
    page = client.get("/assignments/").get_data(as_text=True)
    option = re.search(r'<option data-specialties="([^"]*)" value="odd-one">([^<]*)</option>', page)
    assert option, "the commissioner's option, escaped"
    assert option.group(1) == "tech media"  # in the specialties' order
    assert html_lib.unescape(option.group(2)) == '王<b>"五"</b>&(odd-one) · 科技/媒体 · 全市'
    assert "<b>" not in option.group(0)


def test_the_matrix_rows_link_to_each_enterprise_and_mark_gaps(client):
    firm = make_enterprise("遵义链接测试有限公司", county="汇川区")
    published_edition(SUPPLIER, "2026H1", [firm])
    tech = make_user("commissioner", specialties=["tech"])
    assign(firm, tech)
    db.session.commit()
    login(client, make_user("coordinator"))
    page = client.get("/assignments/?county=汇川区").get_data(as_text=True)
    row = re.search(rf'<tr data-enterprise="{firm.id}">(.*?)</tr>', page, re.S).group(1)
    assert f'<a href="/assignments/enterprise/{firm.id}">遵义链接测试有限公司</a>' in row
    assert f'title="{tech.display_name}({tech.username}),自 2026-01-01 起">{tech.display_name}</td>' in row
    assert row.count("data-gap") == len(SPECIALTIES) - 1


def test_the_matrix_links_keep_the_apps_prefix(client):
    """Served under a prefix (SCRIPT_NAME), each row's link is what url_for makes, prefix included."""
    firm = make_enterprise("遵义前缀测试有限公司", county="汇川区")
    published_edition(SUPPLIER, "2026H1", [firm])
    db.session.commit()
    login(client, make_user("coordinator"))
    page = client.get("/assignments/?county=汇川区", environ_overrides={"SCRIPT_NAME": "/crm"}).get_data(as_text=True)
    assert f'<a href="/crm/assignments/enterprise/{firm.id}">遵义前缀测试有限公司</a>' in page
