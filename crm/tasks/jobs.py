"""The progress-report reminder (declared in crm/scheduler/registry.py as ``task_report_reminders``).

``func(fire_time) -> str``: runs inside the scheduler's exactly-once claim and transaction, never commits. "Today"
is the fire time's date in Asia/Shanghai; the job acts on working days only (the app's holiday table).

What it does, for the period that just ended (the one before today's, in the cadence of the settings):

- every task × unit with no report for that period (and whose latest report does not say 已完成) is *due*: the
  unit's active liaison officers are told once (TASK_REPORT_DUE, one notification per officer listing their
  tasks; a unit without an active liaison gets no REMIND row, so a liaison added later is still told), on the
  first working day after the period's end (the report may still be filed until
  ``grace_working_days`` working days after that end);
- once that deadline has passed with still no report, the unit is *overdue*: the city-wide coordinators are told
  once (TASK_REPORT_OVERDUE, one notification listing the late units and their tasks) — also for a unit without
  an active liaison.

Each reminder and escalation is a ``ReportReminder`` row (unique task, unit, period, kind) inserted in the same
transaction as its notifications, so a second run, a restart or a manual run tells nobody twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.holidays.workdays import is_working_day
from crm.notifications.domain import notify
from crm.notifications.models import NotificationKind
from crm.reference.models import Department
from crm.tasks.domain import current_settings, owes_report, reports_since
from crm.tasks.models import ProgressReport, ReminderKind, ReportReminder, ReportStatus, Task
from crm.tasks.periods import Period, period_of

MAX_LISTED = 40


def _today(fire_time: datetime) -> date:
    return fire_time.astimezone(SHANGHAI).date()


def owed_units(period: Period) -> list[tuple[Task, Department]]:
    """Every (task, unit) that owes its report for ``period`` (:func:`crm.tasks.domain.owes_report`, the
    ledger's rule)."""
    tasks = list(db.session.scalars(sa.select(Task).order_by(Task.kind.desc(), Task.number)))
    statuses: dict[tuple[int, int], dict[str, ReportStatus]] = defaultdict(dict)
    for task_id, department_id, key, status in db.session.execute(
            sa.select(ProgressReport.task_id, ProgressReport.department_id, ProgressReport.period,
                      ProgressReport.status)):
        statuses[(task_id, department_id)][key] = status
    return [(task, link.department) for task in tasks for link in task.unit_links
            if owes_report(statuses.get((task.id, link.department_id), {}), period)]


def _lines(pairs: list[tuple[Task, Department]]) -> str:
    by_unit: dict[str, list[str]] = defaultdict(list)
    for task, department in pairs:
        by_unit[department.name].append(task.label)
    lines = [f"{unit}:{'、'.join(labels)}" for unit, labels in by_unit.items()]
    shown = lines[:MAX_LISTED]
    if len(lines) > MAX_LISTED:
        shown.append(f"……另有 {len(lines) - MAX_LISTED} 个单位")
    return "\n".join(shown)


def remind_task_reports(fire_time: datetime) -> str:
    today = _today(fire_time)
    if not is_working_day(today):
        return "今天不是工作日,未发送提醒"
    settings = current_settings()
    ended = period_of(today, settings.cadence).previous()
    since = reports_since()
    if since is not None and ended.start < since:
        return f"{ended.label}:早于报送起始日 {since.isoformat()}(CRM_TASK_REPORTS_SINCE),无需提醒"
    deadline = ended.deadline(settings.grace_working_days)
    owed = owed_units(ended)
    sent = set(db.session.execute(
        sa.select(ReportReminder.task_id, ReportReminder.department_id, ReportReminder.kind)
        .where(ReportReminder.period == ended.key)))

    candidates = [(t, d) for t, d in owed if (t.id, d.id, ReminderKind.REMIND) not in sent]
    to_escalate = [(t, d) for t, d in owed if today > deadline and (t.id, d.id, ReminderKind.ESCALATE) not in sent]
    by_department: dict[int, list[tuple[Task, Department]]] = defaultdict(list)
    for task, department in candidates:
        by_department[department.id].append((task, department))
    liaisons = list(db.session.scalars(sa.select(User).where(
        User.role == Role.LIAISON, User.active.is_(True), User.department_id.in_(list(by_department)))
        .order_by(User.id))) if by_department else []
    told = {user.department_id for user in liaisons}
    # a REMIND row only where somebody was told: a liaison added later is still reminded for the period
    to_remind = [(t, d) for t, d in candidates if d.id in told]
    for kind, pairs in ((ReminderKind.REMIND, to_remind), (ReminderKind.ESCALATE, to_escalate)):
        db.session.add_all(ReportReminder(task_id=t.id, department_id=d.id, period=ended.key, kind=kind)
                           for t, d in pairs)

    reminded_people = 0
    for user in liaisons:
        pairs = by_department[user.department_id]
        body = (f"{ended.label}({ended.key})的进展报告尚未报送,请于 {deadline.isoformat()} 前报送"
                f"(逾期将上报协调员):\n" + "、".join(f"{t.label} {t.title}" for t, _ in pairs))
        link = f"/tasks/{pairs[0][0].id}" if len(pairs) == 1 else "/tasks/"
        notify([user], NotificationKind.TASK_REPORT_DUE, f"进展报告待报送:{ended.label}({len(pairs)} 项任务)",
               body, link)
        reminded_people += 1

    if to_escalate:
        coordinators = list(db.session.scalars(sa.select(User).where(
            User.role == Role.COORDINATOR, User.active.is_(True), User.county_id.is_(None)).order_by(User.id)))
        units = len({d.id for _, d in to_escalate})
        notify(coordinators, NotificationKind.TASK_REPORT_OVERDUE,
               f"进展报告逾期:{ended.label} {units} 个单位未报送",
               f"以下单位 {ended.label}({ended.key})的进展报告超过 {deadline.isoformat()} 仍未报送:\n"
               + _lines(to_escalate), "/tasks/")

    parts = []
    if to_remind:
        units = len({d.id for _, d in to_remind})
        parts.append(f"提醒 {units} 个单位的 {len(to_remind)} 项报告(通知 {reminded_people} 人)")
    if to_escalate:
        parts.append(f"上报逾期 {len({d.id for _, d in to_escalate})} 个单位的 {len(to_escalate)} 项报告")
    return f"{ended.label}:" + (";".join(parts) if parts else "无需提醒")
