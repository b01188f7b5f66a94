"""一企一档's own reads after the fourth provincial-scale pass (benchmarks/README.md, "Fourth pass: coverage and
一企一档"): the record with its park in one statement, the 变更记录 page with its total in one; the same page, the
same 404s."""

from __future__ import annotations

import re

from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.extensions import db
from tests.conftest import assign, login, make_enterprise, make_park, make_user


def _history(enterprise, n: int, admin) -> None:
    for i in range(n):
        db.session.add(AuditLog(actor_id=admin.id, actor_name="admin", entity_type=AuditEntity.ENTERPRISE,
                                entity_id=enterprise.id, enterprise_id=enterprise.id, action=AuditAction.UPDATE,
                                summary=f"第{i}次修改", changes={"main_products": [f"旧{i}", f"新{i}"]}))
    db.session.flush()


def test_the_record_and_its_park_are_one_statement_and_the_history_page_one_more(client, count_queries):
    park = make_park("遵义测试园区一企一档")
    firm = make_enterprise("遵义园区一企一档测试有限公司", county="汇川区", park=park.name)
    admin = make_user("admin")
    _history(firm, 45, admin)
    db.session.commit()
    login(client, make_user("coordinator"))
    path = f"/enterprises/{firm.id}"
    client.get(path)
    db.session.expire_all()  # (reading firm.id now would load it again: the path is made before)
    with count_queries() as queries:
        html = client.get(path).get_data(as_text=True)
    assert "遵义测试园区一企一档" in html
    reads = [" ".join(s.split()) for s in queries.statements]
    assert not any(s.startswith("SELECT parks.") for s in reads)  # joined to the record
    assert sum(1 for s in reads if "FROM audit_log" in s) == 1  # the page and its total together
    assert sum(1 for s in reads if s.startswith("SELECT enterprises.id, enterprises.name,")) == 1  # loaded once


def test_the_history_pages_and_clamps_as_before(client):
    firm = make_enterprise(county="汇川区")
    admin = make_user("admin")
    _history(firm, 45, admin)
    db.session.commit()
    login(client, make_user("coordinator"))

    def card(path: str) -> tuple[list[str], str]:
        html = client.get(path).get_data(as_text=True)
        nav = re.search(r"data-history-pages>(.*?)</nav>", html, re.S)
        return re.findall(r"第(\d+)次修改", html), nav.group(1) if nav else ""

    rows, nav = card(f"/enterprises/{firm.id}")
    assert rows[:2] == ["44", "43"] and len(rows) == 20 and "第 1 / 3 页,共" in nav
    assert "data-older-history" in nav
    rows, nav = card(f"/enterprises/{firm.id}?history_page=3")
    assert "第 3 / 3 页" in nav and rows[-1] == "0"
    assert card(f"/enterprises/{firm.id}?history_page=50") == (rows, nav)  # past the end: the last page
    empty = make_enterprise(county="汇川区")
    db.session.commit()
    rows, nav = card(f"/enterprises/{empty.id}?history_page=4")
    assert nav == ""  # one page: no pager


def test_out_of_scope_and_unknown_records_are_404_as_before(client):
    firm = make_enterprise(county="汇川区")
    other = make_enterprise(county="桐梓县")
    tech = make_user("commissioner", specialties=["tech"])
    assign(firm, tech)
    db.session.commit()
    login(client, tech)
    assert client.get(f"/enterprises/{firm.id}").status_code == 200
    for path in (f"/enterprises/{other.id}", "/enterprises/0", "/enterprises/99999999", "/enterprises/4294967296"):
        assert client.get(path).status_code == 404, path
