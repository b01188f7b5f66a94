"""Every main page runs a bounded number of SQL statements whatever the data size (issue 11, item 3).

Each page is requested on a small data set, the data set is grown (more enterprises, assignments, interactions,
requests, audit rows, meetings; a longer record; larger list editions), and the page is requested again: the
number of statements must not change. A count that grows with the rows is an N+1 (one query per row).
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.extensions import db
from crm.rosters.models import RosterKind
from crm.service.models import Channel, Interaction, RequestCategory, RequestStatus, ServiceRequest
from tests.conftest import assign, login, make_enterprise, make_user
from tests.meetings.factories import make_meeting
from tests.rosters.factories import published_edition

_n = itertools.count(1)
TODAY = date(2026, 12, 6)


class World:
    def __init__(self) -> None:
        self.admin = make_user("admin")
        self.coordinator = make_user("coordinator")
        self.leader = make_user("leader")
        self.tech = make_user("commissioner", specialties=["tech"])
        self.finance = make_user("commissioner", specialties=["finance"])
        self.liaison = make_user("liaison")  # 市自然资源局
        self.enterprises: list = []
        self.rich = None
        self.visits = 0
        from crm.meetings.feed import issue_feed_token

        self.feed = f"/calendar/{issue_feed_token(self.leader)}.ics"

    def grow(self, enterprises: int, interactions: int, audit_rows: int, meetings: int) -> None:
        """Add ``enterprises`` served enterprises (two commissioners each, an open overdue and a closed request,
        an interaction), ``interactions`` and ``audit_rows`` more on the first one, and ``meetings`` meetings."""
        for _ in range(enterprises):
            e = make_enterprise()
            assign(e, self.tech, "tech")
            assign(e, self.finance, "finance")
            self.enterprises.append(e)
            n = next(_n)
            db.session.add_all([
                Interaction(enterprise_id=e.id, occurred_on=TODAY - timedelta(days=n % 90), channel=Channel.VISIT,
                            specialty="tech", summary=f"走访{n}", created_by_id=self.tech.id,
                            next_follow_up=TODAY - timedelta(days=3)),
                ServiceRequest(enterprise_id=e.id, category=RequestCategory.FINANCING, description="融资",
                               raised_on=TODAY - timedelta(days=40), due_date=TODAY - timedelta(days=5),
                               status=RequestStatus.ACCEPTED, owner_id=self.tech.id, created_by_id=self.tech.id),
                ServiceRequest(enterprise_id=e.id, category=RequestCategory.FINANCING, description="已办结",
                               raised_on=TODAY - timedelta(days=60), due_date=TODAY - timedelta(days=30),
                               status=RequestStatus.CLOSED, satisfaction=5, owner_id=self.tech.id,
                               created_by_id=self.tech.id),
            ])
        if self.rich is None:
            self.rich = self.enterprises[0]
        for _ in range(interactions):
            n = next(_n)
            db.session.add(Interaction(enterprise_id=self.rich.id, occurred_on=TODAY - timedelta(days=n % 700),
                                       channel=Channel.CALL, specialty="finance", summary=f"电话{n}" * 20,
                                       created_by_id=self.finance.id))
        for _ in range(audit_rows):
            n = next(_n)
            db.session.add(AuditLog(actor_id=self.admin.id, actor_name="admin", entity_type=AuditEntity.ENTERPRISE,
                                    entity_id=self.rich.id, enterprise_id=self.rich.id, action=AuditAction.UPDATE,
                                    summary=f"修改企业信息{n}", changes={"main_products": [f"旧{n}", f"新{n}"]}))
        for _ in range(meetings):
            n = next(_n)
            make_meeting(title=f"对接会{n}", starts=f"2026-12-{10 + n % 15:02d} 09:00",
                         enterprises=self.enterprises[-2:], officials=[self.leader])
        db.session.flush()


    def grow_tasks(self, units: int, periods: int, visits: int, routed: int) -> None:
        """Progress reports (one attachment each) of the first ``units`` units of every task for ``periods``
        months before December 2026, ``visits`` supervision visits with two rectification items each, and
        ``routed`` 诉求 routed to the liaison's unit (市自然资源局)."""
        from crm.tasks import supervision
        from crm.tasks.models import ProgressReport, Task
        from tests.tasks.factories import make_report, safeguard

        self.task_id = safeguard(2).id  # names 市自然资源局, the liaison's unit

        have = {(r.task_id, r.department_id, r.period) for r in db.session.scalars(sa.select(ProgressReport))}
        months = [f"{2026 - (m // 12)}-{12 - m % 12:02d}" for m in range(1, periods + 1)]
        for task in db.session.scalars(sa.select(Task)):
            for link in task.unit_links[:units]:
                for key in months:
                    if (task.id, link.department_id, key) not in have:
                        make_report(task, link.department, period=key, author=self.liaison)
        for _ in range(visits):
            self.visits += 1
            visit = supervision.create_visit(self.coordinator, {
                "visited_on": "2026-11-20", "department": "市自然资源局", "subject": f"专项督导{self.visits}",
                "findings": "用地报批滞后"}, today=TODAY)
            for n in range(2):
                supervision.add_item(self.coordinator, visit, {"description": f"整改{self.visits}-{n}",
                                                               "due_workdays": 3}, today=TODAY)
        department_id = self.liaison.department_id
        for _ in range(routed):
            e = make_enterprise()
            self.enterprises.append(e)
            db.session.add(ServiceRequest(
                enterprise_id=e.id, category=RequestCategory.FINANCING, description="用地", department_id=department_id,
                raised_on=TODAY - timedelta(days=20), due_date=TODAY - timedelta(days=2),
                status=RequestStatus.ACCEPTED, owner_id=self.tech.id, created_by_id=self.tech.id))
        db.session.flush()


@pytest.fixture
def world():
    return World()


def _statements(app, count_queries, user, path: str) -> int:
    """Statements of one request of ``path`` as ``user`` (signed in; after a first request that warms up)."""
    client = app.test_client()
    if user is not None:
        login(client, user)
    assert client.get(path).status_code == 200, path
    db.session.expire_all()  # the request shares the test's session: nothing the data set loaded may hide an N+1
    with count_queries() as queries:
        response = client.get(path)
    assert response.status_code == 200, path
    return queries.count


def _pages(w: World) -> dict[str, tuple]:
    return {
        "enterprise list (admin)": (w.admin, "/enterprises/"),
        "enterprise list, search (coordinator)": (w.coordinator, "/enterprises/?q=遵义测试"),
        "一企一档, the long record (coordinator)": (w.coordinator, f"/enterprises/{w.rich.id}"),
        "一企一档, the long record (commissioner)": (w.tech, f"/enterprises/{w.rich.id}"),
        "workspace (commissioner)": (w.tech, "/service/"),
        "workspace (coordinator)": (w.coordinator, "/service/"),
        "coverage, one county": (w.coordinator, "/assignments/?county=汇川区"),
        "request ledger, overdue": (w.coordinator, "/service/requests/?overdue=1"),
        "targets dashboard (leader)": (w.leader, "/dashboard/"),
        "service dashboard (leader)": (w.leader, "/dashboard/service/"),
        "leader home": (w.leader, "/calendar/home"),
        "calendar feed": (None, w.feed),
        "task ledger (coordinator)": (w.coordinator, "/tasks/"),
        "task ledger (liaison)": (w.liaison, "/tasks/"),
        "a task with its reports (coordinator)": (w.coordinator, f"/tasks/{w.task_id}"),
        "supervision visits (coordinator)": (w.coordinator, "/supervision/"),
        "situation report (leader)": (w.leader, "/situation/"),
        "department home (liaison)": (w.liaison, "/service/department"),
    }


def test_every_main_page_runs_the_same_statements_at_two_sizes(app, count_queries, world):
    world.grow(enterprises=3, interactions=2, audit_rows=2, meetings=1)
    world.grow_tasks(units=1, periods=1, visits=1, routed=1)
    small = {name: _statements(app, count_queries, user, path)
             for name, (user, path) in _pages(world).items()}
    world.grow(enterprises=12, interactions=60, audit_rows=60, meetings=4)
    world.grow_tasks(units=4, periods=15, visits=4, routed=5)
    large = {name: _statements(app, count_queries, user, path)
             for name, (user, path) in _pages(world).items()}
    grown = {name: (small[name], large[name]) for name in small if large[name] != small[name]}
    assert not grown, f"statements grew with the data (small, large): {grown}"


def test_the_roster_diff_runs_the_same_statements_for_small_and_large_editions(app, count_queries, world):
    world.grow(enterprises=16, interactions=0, audit_rows=0, meetings=0)
    few, many = world.enterprises[:2], world.enterprises
    published_edition(RosterKind.SUPPLIER_LIST, "2025H1", few[:1])
    published_edition(RosterKind.SUPPLIER_LIST, "2025H2", few)
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", many[:6])
    published_edition(RosterKind.SUPPLIER_LIST, "2026H2", many)
    db.session.flush()
    small = _statements(app, count_queries, world.coordinator,
                        "/rosters/supplier_list/diff?from=2025H1&to=2025H2")
    large = _statements(app, count_queries, world.coordinator,
                        "/rosters/supplier_list/diff?from=2026H1&to=2026H2")
    assert small == large


def test_the_task_ledger_computes_the_deadline_once(app, count_queries, world):
    """/tasks/ built a holiday calendar from the database for every unit of every task (~390 statements); the
    ledger computes the ended period's deadline once."""
    world.grow_tasks(units=2, periods=2, visits=0, routed=0)
    assert _statements(app, count_queries, world.coordinator, "/tasks/") < 60
    assert _statements(app, count_queries, world.coordinator, "/situation/") < 100
