"""The coordinator's workspace statements are built once per process and scope (fourth pass of issue 11): two
scopes never share one, a scope reuses its own, and the page and summary follow today and the page asked for."""

from __future__ import annotations

from datetime import timedelta

from crm.core.time import local_today
from crm.extensions import db
from crm.service import workspace
from crm.service.requests import raise_request
from crm.service.workspace import workspace_page
from tests.conftest import assign, make_enterprise, make_user


def test_each_scope_has_its_own_statement_and_sees_only_its_enterprises(app):
    commissioner = make_user("commissioner", specialties=["tech"])
    hc = [make_enterprise(county="汇川区") for _ in range(3)]
    tz = [make_enterprise(county="桐梓县") for _ in range(2)]
    for firm in hc + tz:
        assign(firm, commissioner)
    city = make_user("coordinator")
    hc_coordinator = make_user("coordinator", county="汇川区")
    tz_coordinator = make_user("coordinator", county="桐梓县")
    db.session.flush()
    today = local_today()
    workspace._STATEMENTS.clear()

    def shown(user, page=1, per_page=10, day=today):
        result = workspace_page(user, None, day, page, per_page)
        return {row.enterprise.id for row in result.page.items}, result.summary["enterprises"]

    for _ in range(2):  # the second round reads the statements built by the first
        assert shown(hc_coordinator) == ({e.id for e in hc}, 3)
        assert shown(tz_coordinator) == ({e.id for e in tz}, 2)
        assert shown(city) == ({e.id for e in hc + tz}, 5)
    assert len(workspace._STATEMENTS) == 6  # summary and page for each of the three scopes
    assert len({id(stmt) for stmt in workspace._STATEMENTS.values()}) == 6

    # the page and its size are parameters of the statement, not part of it
    first, _ = shown(city, 1, 2)
    second, _ = shown(city, 2, 2)
    third, _ = shown(city, 3, 2)
    assert len(first) == len(second) == 2 and len(third) == 1
    assert first | second | third == {e.id for e in hc + tz}
    assert len(workspace._STATEMENTS) == 6

    # so is today: a request due tomorrow is overdue the day after
    raise_request(commissioner, hc[0], {"category": "用地", "description": "用地", "raised_on": today.isoformat(),
                                        "due_date": (today + timedelta(days=1)).isoformat()}, today=today)
    db.session.flush()
    due = workspace_page(city, None, today, 1, 10)
    assert due.summary["overdue_requests"] == 0
    later = today + timedelta(days=30)
    overdue = workspace_page(city, None, later, 1, 10)
    assert overdue.summary["overdue_requests"] == 1
    assert overdue.page.items[0].enterprise.id == hc[0].id and overdue.page.items[0].overdue_requests == 1


def test_the_statement_cache_is_bounded(app, monkeypatch):
    monkeypatch.setattr(workspace, "_STATEMENTS_MAX", 2)
    workspace._STATEMENTS.clear()
    users = [make_user("coordinator", county=county) for county in ("汇川区", "桐梓县", "播州区")]
    db.session.flush()
    for user in users:
        workspace_page(user, None, local_today(), 1, 10)
        assert len(workspace._STATEMENTS) <= 2


def test_a_commissioners_page_keeps_its_plan_and_everyones_page_plans_anew(client, count_queries):
    """crm.core.transactions.prepared (the seventh provincial-scale pass): one commissioner's enterprises (their
    assignments) have one plan for any commissioner and page; everyone's served enterprises are planned per view."""
    from tests.conftest import login

    commissioner = make_user("commissioner", specialties=["tech"])
    firm = make_enterprise("遵义工作台计划测试有限公司", county="汇川区")
    assign(firm, commissioner)
    coordinator = make_user("coordinator")
    db.session.commit()

    def workspace_statements(user):
        login(client, user)
        with count_queries() as queries:
            html = client.get("/service/").get_data(as_text=True)
        client.post("/logout")
        assert "遵义工作台计划测试有限公司" in html
        return queries

    own = workspace_statements(commissioner)
    pages = [s for s in own.statements if "FROM enterprises" in s and "attention" in s]
    assert pages and all(s in own.prepared for s in pages)
    assert any("FROM assignments JOIN users" in " ".join(s.split()) for s in own.prepared)
    everyone = workspace_statements(coordinator)
    grouped = [s for s in everyone.statements if "group_0" in s]
    assert grouped and not any(s in everyone.prepared for s in grouped)
