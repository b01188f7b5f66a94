"""Which of the registry's statements keep their plan on the connection (crm.core.transactions.prepared, the seventh
provincial-scale pass): a commissioner's list without a search term and every statement of 一企一档 — never a name
search nor a county's or the city's list, whose best plans depend on the values."""

from __future__ import annotations

from crm.extensions import db
from tests.conftest import assign, login, make_enterprise, make_user


def _page_statement(statements: list[str]) -> list[str]:
    return [s for s in statements if " ".join(s.split()).startswith("SELECT enterprises.id, enterprises.name, "
                                                                    "enterprises.uscc")]


def _list(client, count_queries, user, path: str = "/enterprises/"):
    login(client, user)
    with count_queries() as queries:
        html = client.get(path).get_data(as_text=True)
    return html, queries


def test_a_commissioners_list_page_is_prepared(client, count_queries):
    commissioner = make_user("commissioner", specialties=["tech"])
    firm = make_enterprise("遵义计划保留测试有限公司")
    assign(firm, commissioner)
    db.session.commit()
    html, queries = _list(client, count_queries, commissioner)
    assert "遵义计划保留测试有限公司" in html
    page = _page_statement(queries.statements)
    assert len(page) == 1 and page == _page_statement(queries.prepared)


def test_a_commissioners_search_plans_anew(client, count_queries):
    commissioner = make_user("commissioner", specialties=["tech"])
    firm = make_enterprise("遵义计划保留测试有限公司")
    assign(firm, commissioner)
    db.session.commit()
    html, queries = _list(client, count_queries, commissioner, "/enterprises/?q=计划保留")
    assert "遵义计划保留测试有限公司" in html
    assert len(_page_statement(queries.statements)) == 1
    assert _page_statement(queries.prepared) == []


def test_a_county_or_the_city_list_plans_anew(client, count_queries):
    make_enterprise("遵义计划保留测试有限公司", county="汇川区")
    db.session.commit()
    for user in (make_user("coordinator", county="汇川区"), make_user("coordinator"), make_user("admin")):
        db.session.commit()
        html, queries = _list(client, count_queries, user)
        assert "遵义计划保留测试有限公司" in html
        assert len(_page_statement(queries.statements)) == 1
        assert _page_statement(queries.prepared) == []
        client.post("/logout")


def test_every_statement_of_a_record_is_prepared(client, count_queries):
    commissioner = make_user("commissioner", specialties=["tech"])
    firm = make_enterprise("遵义一企一档计划测试有限公司")
    assign(firm, commissioner)
    db.session.commit()
    login(client, commissioner)
    path = f"/enterprises/{firm.id}"
    client.get(path)
    with count_queries() as queries:
        html = client.get(path).get_data(as_text=True)
    assert "遵义一企一档计划测试有限公司" in html
    assert len(queries.statements) >= 10
    assert queries.prepared == queries.statements  # each by the enterprise's id (or the session's key)
