"""The request ledger's one-table statement and its per-department counts: the same rows and numbers as the
joined, per-row computation, for every filter and scope; the overdue ledger pages in the ledger's order."""

from __future__ import annotations

import re
from datetime import timedelta
from itertools import cycle

import pytest
import sqlalchemy as sa

from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Department, by_name
from crm.service import routing
from crm.service.models import RequestStatus, ServiceRequest
from crm.service.requests import OPEN_STATUSES, department_counts, requests_statement
from tests.conftest import assign, login, make_enterprise, make_user

S = RequestStatus
TODAY = local_today()  # set again as each test starts: the live_today fixture
pytestmark = pytest.mark.usefixtures("live_today")
DEPARTMENTS = [None, "市自然资源局", "市工业和科学技术局"]


@pytest.fixture
def ledger():
    commissioner = make_user("commissioner", specialties=["tech"])
    firms = [make_enterprise(county="汇川区"), make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")]
    assign(firms[0], commissioner)
    departments = cycle(DEPARTMENTS)
    for n, (firm, status) in enumerate((f, s) for f in firms for s in S):
        for due in (TODAY - timedelta(days=3 + n), TODAY + timedelta(days=4 + n)):
            name = next(departments)
            db.session.add(ServiceRequest(
                enterprise=firm, category="用地", description=f"诉求 {n}", raised_on=TODAY - timedelta(days=30 - n),
                due_date=due, status=status, department=by_name(Department, name) if name else None))
    db.session.flush()
    return {"commissioner": commissioner, "firms": firms, "coordinator": make_user("coordinator"),
            "county": make_user("coordinator", county="汇川区"),
            "liaison": make_user("liaison", department="市自然资源局")}


def joined(user, **filters) -> list[int]:
    """The ledger's ids computed the long way: every visible request joined to its enterprise, filtered in
    Python, newest raised first."""
    visible = set(db.session.scalars(requests_statement(user).with_only_columns(ServiceRequest.id)))
    rows = db.session.execute(sa.select(ServiceRequest, Enterprise.county_id).join(
        Enterprise, ServiceRequest.enterprise_id == Enterprise.id)).all()
    wanted = []
    for req, county_id in rows:
        if req.id not in visible:
            continue
        overdue = req.status in OPEN_STATUSES and req.due_date < TODAY
        if "overdue" in filters and overdue is not filters["overdue"]:
            continue
        if "county" in filters and county_id != filters["county"]:
            continue
        if "status" in filters and req.status.value != filters["status"]:
            continue
        wanted.append(req)
    return [r.id for r in sorted(wanted, key=lambda r: (r.raised_on, r.id), reverse=True)]


@pytest.mark.parametrize("who", ["coordinator", "county", "commissioner", "liaison"])
@pytest.mark.parametrize("filters", [{}, {"overdue": True}, {"overdue": False}, {"county": "汇川区"},
                                     {"status": "resolved"}, {"overdue": True, "county": "桐梓县"}])
def test_the_statement_and_the_department_counts_match_the_joined_computation(ledger, who, filters):
    user = ledger[who]
    stmt = requests_statement(user, today=TODAY, **filters)
    expected_filters = dict(filters)
    if "county" in filters:
        from crm.reference.models import County

        expected_filters["county"] = by_name(County, filters["county"]).id
    ids = joined(user, **expected_filters)
    assert [r.id for r in db.session.scalars(stmt)] == ids
    assert department_counts(stmt, TODAY) == routing.request_counts(stmt, TODAY) == counted(ids)
    if filters.get("overdue") is True:  # the overdue ledger counts its rows once: all of them open and overdue
        assert department_counts(stmt, TODAY, only_overdue=True) == counted(ids)


def counted(ids: list[int]) -> list[dict]:
    """The per-department counts of the requests ``ids`` the long way: each request read, counted in Python,
    departments in their reference order, not routed last."""
    groups: dict = {}
    for req in db.session.scalars(sa.select(ServiceRequest).where(ServiceRequest.id.in_(ids))):
        row = groups.setdefault(req.department, {"department": req.department.name if req.department else None,
                                                 "total": 0, "open": 0, "overdue": 0})
        row["total"] += 1
        row["open"] += req.status in OPEN_STATUSES
        row["overdue"] += req.status in OPEN_STATUSES and req.due_date < TODAY
    order = sorted(groups, key=lambda d: (d is None, d.sort_order if d else 0, d.id if d else 0))
    return [groups[d] for d in order]


def test_the_overdue_ledger_pages_in_order(client, ledger):
    login(client, ledger["coordinator"])
    expected = joined(ledger["coordinator"], overdue=True)
    assert len(expected) == 9
    seen = []
    for page in (1, 2, 3):
        html = client.get(f"/service/requests/?overdue=1&per_page=4&page={page}").get_data(as_text=True)
        assert f"第 {page} / 3 页,共 9 条" in html  # the total: the per-department counts added up
        seen += [int(i) for i in re.findall(r'href="/service/requests/(\d+)"', html)]
    assert list(dict.fromkeys(seen)) == expected


def test_the_filters_show_what_is_chosen(client, ledger):
    login(client, ledger["coordinator"])
    owner = make_user("commissioner", username="ledger-owner", specialties=["tech"])
    db.session.add(ServiceRequest(enterprise=ledger["firms"][0], category="用地", description="有负责人", owner=owner,
                                  raised_on=TODAY, due_date=TODAY + timedelta(days=3), status=S.RAISED))
    db.session.commit()
    html = client.get("/service/requests/?overdue=0&county=汇川区&owner=ledger-owner").get_data(as_text=True)
    for name, value in (("overdue", "0"), ("county", "汇川区"), ("owner", "ledger-owner")):
        select = re.search(rf'<select[^>]* name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
        assert re.findall(r'<option selected value="([^"]*)">', select) == [value], name
    assert f">{owner.display_name}(ledger-owner)<" in html
