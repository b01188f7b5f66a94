"""Demo data of the task ledger: a few months of progress reports and three 专项督导 with their rectification items.

Called at the end of :func:`crm.demo.seed.seed_demo`, after the reference data (which loads the plan's tasks) and
the demo users (the liaisons liaison_zrzy 市自然资源局, liaison_gxj 市工业和科学技术局, liaison_hc 汇川区人民政府).

- Progress reports, monthly, for the last four months before today's: several units on several tasks, filed by
  the unit's demo liaison (else the city coordinator); some 滞后, some missing — an earlier month missing is
  overdue (the reminder job would escalate it), the last month may still be open. A unit reports only on a task
  it is a 责任单位 of; tasks are looked up by kind and number, and a task not loaded is skipped.
- 专项督导 through :mod:`crm.tasks.supervision` (audited, the liaisons told): a visit to 市自然资源局 two months
  ago with one item overdue (in progress past its due date) and one closed; a visit to 汇川区 three weeks ago with
  items open, in progress and done (waiting for closing); a visit to 市工业和科学技术局 five weeks ago whose item
  is closed. Their subjects end with "(演示数据)".

Idempotent: a report that exists for its task, unit and month is left alone; when a demo visit exists no visit is
added.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from crm.auth.domain import get_user
from crm.core import audit
from crm.core.time import local_today
from crm.extensions import db
from crm.reference.models import Department, by_name
from crm.tasks import supervision
from crm.tasks.models import ProgressReport, ReportStatus, SupervisionVisit, Task, TaskKind

MARK = "(演示数据)"
MONTHS = 4
T, G = TaskKind.TASK, TaskKind.SAFEGUARD
ON, BEHIND, DONE, MISSING = ReportStatus.ON_TRACK, ReportStatus.BEHIND, ReportStatus.DONE, None
LIAISONS = {"市自然资源局": "liaison_zrzy", "市工业和科学技术局": "liaison_gxj", "汇川区人民政府": "liaison_hc"}
# (task kind, number, unit, statuses of the last four months, oldest first; None: not filed)
REPORTS: tuple[tuple[TaskKind, int, str, tuple[ReportStatus | None, ...]], ...] = (
    (T, 16, "市工业和科学技术局", (ON, ON, ON, ON)),
    (T, 16, "汇川区人民政府", (ON, ON, BEHIND, MISSING)),
    (T, 18, "市工业和科学技术局", (ON, BEHIND, ON, ON)),
    (T, 18, "汇川区人民政府", (ON, ON, MISSING, MISSING)),
    (T, 1, "桐梓县人民政府", (ON, BEHIND, MISSING, MISSING)),
    (T, 1, "市工业和科学技术局", (ON, ON, ON, ON)),
    (T, 2, "汇川区人民政府", (ON, ON, ON, BEHIND)),
    (T, 17, "市工业和科学技术局", (ON, ON, BEHIND, ON)),
    (G, 2, "市自然资源局", (ON, BEHIND, BEHIND, ON)),
    (G, 3, "市工业和科学技术局", (ON, ON, DONE, DONE)),
)
TEXTS = {
    ON: "本月按计划推进:已完成阶段性工作,下月继续推进。",
    BEHIND: "进度滞后:部分事项受用地、资金等因素影响未按期完成,已制定整改措施。",
    DONE: "本项工作已完成,转入常态化推进。",
}


def months_before(today: date, count: int = MONTHS) -> list[str]:
    """The ``count`` calendar months before today's, oldest first (``2026-08`` …)."""
    keys, year, month = [], today.year, today.month
    for _ in range(count):
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        keys.append(f"{year}-{month:02d}")
    return list(reversed(keys))


def _task(kind: TaskKind, number: int) -> Task | None:
    return db.session.scalar(sa.select(Task).where(Task.kind == kind, Task.number == number))


def _author(unit: str) -> Any:
    return get_user(LIAISONS.get(unit, "coordinator")) or get_user("coordinator")


def seed_reports(report: Any, today: date) -> None:
    periods = months_before(today)
    existing = {tuple(row) for row in db.session.execute(
        sa.select(ProgressReport.task_id, ProgressReport.department_id, ProgressReport.period))}
    for kind, number, unit, statuses in REPORTS:
        task, department = _task(kind, number), by_name(Department, unit)
        if task is None or department is None or department.id not in {link.department_id for link in task.unit_links}:
            continue
        author = _author(unit)
        for period, status in zip(periods, statuses, strict=True):
            if status is None:
                continue
            if (task.id, department.id, period) in existing:
                report.existing["progress_reports"] += 1
                continue
            year, month = (int(part) for part in period.split("-"))
            filed = datetime.combine(date(year + month // 12, month % 12 + 1, 3), time(2, 0), UTC)  # the 3rd, 10:00
            row = ProgressReport(task_id=task.id, department_id=department.id, period=period, status=status,
                                 text=TEXTS[status] + MARK, author_id=getattr(author, "id", None),
                                 created_at=filed, updated_at=filed)
            db.session.add(row)
            db.session.flush()
            audit.record(author, "task_report", row.id, "create",
                         {"period": [None, period], "status": [None, status], "department": [None, unit]},
                         summary=f"{task.label}进展报告({period},{unit}):{status.label}")
            report.created["progress_reports"] += 1


def _visit(coordinator: Any, today: date, days_ago: int, data: dict[str, Any]) -> SupervisionVisit:
    return supervision.create_visit(coordinator, {**data, "visited_on": today - timedelta(days=days_ago),
                                                  "subject": data["subject"] + MARK}, today=today)


def seed_supervisions(report: Any, today: date) -> None:
    if db.session.scalar(sa.select(sa.func.count()).select_from(SupervisionVisit)
                         .where(SupervisionVisit.subject.like(f"%{MARK}"))):
        report.existing["supervisions"] += 1
        return
    coordinator, zrzy, gxj, hc = (get_user(n) for n in ("coordinator", "liaison_zrzy", "liaison_gxj", "liaison_hc"))
    if coordinator is None:
        return
    safeguard2, task2, task16 = _task(G, 2), _task(T, 2), _task(T, 16)

    land = _visit(coordinator, today, 60, {
        "department": "市自然资源局", "task": safeguard2.id if safeguard2 else None,
        "subject": "配套产业园区用地保障专项督导",
        "findings": "园区新增用地报批进度滞后于计划;部分项目用地需求底数不清。"})
    late = supervision.add_item(coordinator, land, {
        "description": "加快汇川区配套产业园区二期用地报批,明确完成时限", "due_workdays": 10,
        "owner": "liaison_zrzy" if zrzy else None})
    ledger = supervision.add_item(coordinator, land, {"description": "建立重点项目用地需求台账,按月更新",
                                                      "due_workdays": 15})
    actor = zrzy or coordinator
    supervision.transition(actor, late, "in_progress", note="已对接园区管委会,正在补充报批材料")
    supervision.transition(actor, ledger, "in_progress")
    supervision.transition(actor, ledger, "done", note="用地需求台账已建立,共梳理项目23个")
    supervision.transition(coordinator, ledger, "closed", note="经核查属实,予以销号")

    county = _visit(coordinator, today, 21, {
        "county": "汇川区", "task": task2.id if task2 else None, "subject": "中心城区率先融入专项督导",
        "findings": "配套企业培育工作推进有力,但企业名单申报材料质量参差不齐,成渝对接活动参与面不广。"})
    supervision.add_item(coordinator, county, {"description": "组织辖区企业参加成渝供应链洽谈会不少于10家",
                                               "due_workdays": 30, "owner": "liaison_hc" if hc else None})
    materials = supervision.add_item(coordinator, county, {"description": "补齐配套企业名单申报材料",
                                                           "due_workdays": 25})
    figures = supervision.add_item(coordinator, county, {"description": "核实并更新规上配套企业产值数据",
                                                         "due_workdays": 10})
    actor = hc or coordinator
    supervision.transition(actor, materials, "in_progress", note="已通知相关企业补充材料")
    supervision.transition(actor, figures, "in_progress")
    supervision.transition(actor, figures, "done", note="产值数据已与统计部门核对更新")

    platform = _visit(coordinator, today, 35, {
        "department": "市工业和科学技术局", "task": task16.id if task16 else None,
        "subject": "协同平台建设专项督导", "findings": "两份名单按期更新;会议活动台账需完善。"})
    meetings = supervision.add_item(coordinator, platform, {"description": "完善会议活动台账,补录签约成果",
                                                            "due_workdays": 10})
    actor = gxj or coordinator
    supervision.transition(actor, meetings, "in_progress")
    supervision.transition(actor, meetings, "done", note="已补录2025年以来全部会议签约成果")
    supervision.transition(coordinator, meetings, "closed", note="予以销号")
    report.created["supervisions"] += 3
    report.created["rectification_items"] += 6


def seed_tasks(report: Any, today: date | None = None) -> None:
    """Progress reports and 专项督导 of the demo (module docstring); the caller commits."""
    today = today or local_today()
    seed_reports(report, today)
    seed_supervisions(report, today)
    db.session.flush()
