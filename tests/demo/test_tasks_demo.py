"""``seed-demo``'s task ledger (crm/demo/tasks.py): months of progress reports (some 滞后, some missing) filed by the
demo liaisons, three 专项督导 with items in several statuses (one overdue), all audited, and a second run that
changes nothing.

The seed runs twice through the CLI into a fresh database made by the migrations; the tests read that database
inside its own app context. The plan's tasks come with ``seed-reference``; where they are not loaded (yet), the
fixture adds the few tasks the demo reports on, so the reports are checked either way.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.core.audit import AuditLog
from crm.core.time import local_today
from crm.demo.tasks import MARK, months_before
from crm.extensions import db
from crm.notifications.models import Notification
from crm.reference.models import Department
from crm.tasks import situation
from crm.tasks import supervision as supervision_domain
from crm.tasks.models import (
    ProgressReport,
    RectificationItem,
    RectificationStatus,
    ReportStatus,
    SupervisionVisit,
    Task,
    TaskKind,
    TaskUnit,
)
from tests.conftest import own_database

MODELS = (ProgressReport, SupervisionVisit, RectificationItem, AuditLog, Notification)
# The tasks the demo reports on, with the units it reports for (a subset of the plan's), when the plan's tasks
# are not loaded by seed-reference.
FALLBACK_TASKS = {
    (TaskKind.TASK, 16): ["市工业和科学技术局", "汇川区人民政府"], (TaskKind.TASK, 2): ["汇川区人民政府"],
    (TaskKind.SAFEGUARD, 2): ["市自然资源局"], (TaskKind.SAFEGUARD, 3): ["市工业和科学技术局"],
}


def _counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in MODELS}


def _ensure_tasks() -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(Task)):
        return
    for (kind, number), units in FALLBACK_TASKS.items():
        task = Task(kind=kind, number=number, title=f"任务{number}", figures=[])
        for n, name in enumerate(units):
            department = db.session.scalar(sa.select(Department).where(Department.name == name))
            task.unit_links.append(TaskUnit(department=department, position=n))
        db.session.add(task)
    db.session.commit()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    with own_database(tmp_path_factory, "tasksdemo", reference_data=False) as application:
        runner = application.test_cli_runner()
        reference = runner.invoke(args=["seed-reference"])
        with application.app_context():
            _ensure_tasks()
        first = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_first = _counts()
        second = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_second = _counts()
        yield SimpleNamespace(app=application, reference=reference, first=first, second=second,
                              after_first=after_first, after_second=after_second)


@pytest.fixture
def ctx(seeded):
    with seeded.app.app_context():
        yield seeded


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def test_it_loads_once(ctx):
    assert ctx.reference.exit_code == 0, ctx.reference.output
    assert ctx.first.exit_code == 0, ctx.first.output
    assert ctx.second.exit_code == 0, ctx.second.output
    assert ctx.after_first == ctx.after_second
    assert ctx.after_first["SupervisionVisit"] == 3 and ctx.after_first["RectificationItem"] == 6
    assert "进展报告" in ctx.first.output and "专项督导" in ctx.first.output


def test_months_of_reports_some_behind_some_missing(ctx):
    periods = months_before(local_today())
    reports = list(db.session.scalars(sa.select(ProgressReport)))
    assert len(reports) >= 10
    assert {r.period for r in reports} <= set(periods) and len({r.period for r in reports}) == 4
    statuses = Counter(r.status for r in reports)
    assert statuses[ReportStatus.BEHIND] >= 2 and statuses[ReportStatus.ON_TRACK] > statuses[ReportStatus.BEHIND]
    by_unit = {(r.task.kind, r.task.number, r.department.name, r.period): r for r in reports}
    # 汇川区人民政府 on task 16: the last month not filed (the report of a month before it was 滞后)
    assert (TaskKind.TASK, 16, "汇川区人民政府", periods[-1]) not in by_unit
    assert by_unit[(TaskKind.TASK, 16, "汇川区人民政府", periods[-2])].status is ReportStatus.BEHIND
    # the authors are the units' liaisons
    liaisons = {"市自然资源局": "liaison_zrzy", "市工业和科学技术局": "liaison_gxj", "汇川区人民政府": "liaison_hc"}
    for r in reports:
        if r.department.name in liaisons:
            assert r.author.username == liaisons[r.department.name]
    audited = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "task_report"))
    assert audited >= len(reports)


def test_visits_with_items_in_several_statuses_one_overdue(ctx):
    visits = list(db.session.scalars(sa.select(SupervisionVisit).order_by(SupervisionVisit.visited_on)))
    assert all(v.subject.endswith(MARK) for v in visits)
    assert {v.department.name for v in visits} == {"市自然资源局", "汇川区人民政府", "市工业和科学技术局"}
    items = list(db.session.scalars(sa.select(RectificationItem)))
    statuses = Counter(i.status for i in items)
    assert statuses == {RectificationStatus.OPEN: 1, RectificationStatus.IN_PROGRESS: 2,
                        RectificationStatus.DONE: 1, RectificationStatus.CLOSED: 2}
    overdue = [i for i in items if supervision_domain.is_overdue(i)]
    assert len(overdue) == 1 and overdue[0].department.name == "市自然资源局"
    assert overdue[0].owner.username == "liaison_zrzy"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.kind == "rectification_assigned", Notification.user_id == _user("liaison_hc").id)) == 3
    moves = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "rectification", AuditLog.action == "transition"))
    assert moves == 10


def test_the_situation_report_reads_the_demo(ctx):
    report = situation.situation_report(local_today())
    assert report["totals"]["items_overdue"] == 1
    assert report["totals"]["behind"] >= 1
    assert any(t["late"] for t in report["tasks"])
