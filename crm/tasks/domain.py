"""What changes the task ledger: progress reports (file, amend), their attachments, the reporting settings; and
what the ledger pages, the API and the reminder job read (each unit's state for the current period).

Which period a report is for: the current period of the cadence, except while the period that just ended is
still within its grace (``grace_working_days`` working days after its end, :mod:`crm.tasks.periods`): a unit
then files for that period (it may choose the current one instead). Filing again for the same period amends
the report (audited old → new). A unit whose latest report says 已完成 owes no further reports on the task.
Whether a unit owes the report of a period is one rule (:func:`owes_report`) for the ledger, the situation
report and the reminder job.

Every function checks the rules (:mod:`crm.tasks.access`), writes, audits in the same transaction and never
commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app

from crm.core import audit
from crm.core.audit import AuditAction, AuditEntity
from crm.core.errors import Forbidden, ValidationFailed
from crm.core.parsing import check_version, parse_enum
from crm.core.time import local_today
from crm.core.transactions import lock_for_update
from crm.extensions import db
from crm.reference.models import Department
from crm.tasks import attachments as files
from crm.tasks.access import may_detach, may_edit_settings, may_file, may_file_for
from crm.tasks.models import (
    ProgressReport,
    ReportAttachment,
    ReportCadence,
    ReportStatus,
    Task,
    TaskSettings,
)
from crm.tasks.periods import Period, parse_period, period_of

SETTINGS_ID = 1
DEFAULT_GRACE = 5
MAX_GRACE = 60
# The grace must end well inside the next period: the reminder job only looks at the period just before today's,
# so a deadline past the next period's end would never be escalated. Limits below the shortest period in working
# days (a February with the Spring Festival has about 16, a quarter with it or with National Day about 55, a
# half year about 115), leaving working days in the next period to escalate on.
GRACE_LIMITS = {ReportCadence.MONTHLY: 15, ReportCadence.QUARTERLY: 40, ReportCadence.HALF_YEARLY: MAX_GRACE}
TEXT_MAX = 5000
INVALID = "进展报告有误"
SETTINGS_INVALID = "报送设置有误"
NOT_A_UNIT = "该任务的责任单位中没有“{name}”"
NOT_YOURS = "只能为本单位报送该任务的进展"

# Unit states beyond a report's own status
DUE, OVERDUE = "due", "overdue"
STATE_LABELS = {**{s.value: s.label for s in ReportStatus}, DUE: "未报送", OVERDUE: "逾期"}
STATE_CLASSES = {"on_track": "success", "behind": "warning", "done": "primary", DUE: "secondary", OVERDUE: "danger"}


# --- settings ---------------------------------------------------------------------------------------------------

def current_settings() -> TaskSettings:
    """The saved row, or (never saved) the defaults in an unsaved row: monthly, 5 working days."""
    row = db.session.get(TaskSettings, SETTINGS_ID)
    if row is None:
        row = TaskSettings(id=SETTINGS_ID, cadence=ReportCadence.MONTHLY, grace_working_days=DEFAULT_GRACE, version=1)
    return row


def update_settings(actor: Any, data: dict[str, Any], *, version: Any = None) -> TaskSettings:
    """Admins set the cadence and the grace in working days (at most ``GRACE_LIMITS`` of the cadence, checked
    again when only the cadence changes); audited old → new; a stale version → 409."""
    if not may_edit_settings(actor):
        raise Forbidden("只有管理员可以修改报送设置")
    fields: dict[str, str] = {}
    unknown = sorted(set(data) - {"cadence", "grace_working_days"})
    if unknown:
        raise ValidationFailed(SETTINGS_INVALID, {name: "不能修改该项" for name in unknown})
    values: dict[str, Any] = {}
    if "cadence" in data:
        values["cadence"] = parse_enum(ReportCadence, data["cadence"], field="cadence", what="报送周期",
                                       fields=fields, required=True, by_label=True)
    if "grace_working_days" in data:
        raw = data["grace_working_days"]
        grace = raw if isinstance(raw, int) and not isinstance(raw, bool) else (
            int(raw.strip()) if isinstance(raw, str) and raw.strip().isdigit() else None)
        if grace is None or not 0 <= grace <= MAX_GRACE:
            fields["grace_working_days"] = f"宽限工作日须为 0 至 {MAX_GRACE} 的整数"
        values["grace_working_days"] = grace
    if fields:
        raise ValidationFailed(SETTINGS_INVALID, fields)
    row = lock_for_update(TaskSettings, SETTINGS_ID)
    if row is None:
        row = current_settings()
        db.session.add(row)
        db.session.flush()
    check_version(row, version)
    cadence = values.get("cadence", row.cadence)
    grace = values.get("grace_working_days", row.grace_working_days)
    if grace > GRACE_LIMITS[cadence]:  # also when only the cadence changes
        field = "grace_working_days" if "grace_working_days" in values else "cadence"
        raise ValidationFailed(SETTINGS_INVALID, {field: (
            f"{cadence.label}报送时宽限工作日不超过 {GRACE_LIMITS[cadence]} 天"
            f"(宽限须在下一个报送周期内结束,否则逾期无法上报);当前宽限 {grace} 个工作日")})
    changes = audit.diff(row, values)
    if changes:
        for key, value in values.items():
            setattr(row, key, value)
        row.updated_by_id = getattr(actor, "id", None)
        db.session.flush()
        audit.record(actor, AuditEntity.TASK_SETTINGS, row.id, AuditAction.UPDATE, changes, summary="修改报送设置")
    return row


# --- periods ------------------------------------------------------------------------------------------------------

def current_period(today: date | None = None, settings: TaskSettings | None = None) -> Period:
    settings = settings or current_settings()
    return period_of(today or local_today(), settings.cadence)


def open_periods(today: date | None = None, settings: TaskSettings | None = None) -> list[Period]:
    """The periods a report may be filed for today: the one that just ended while within its grace, and the
    current one."""
    settings = settings or current_settings()
    today = today or local_today()
    current = period_of(today, settings.cadence)
    previous = current.previous()
    ended = [previous] if today <= previous.deadline(settings.grace_working_days) else []
    return [*ended, current]


def default_period(task: Task, department: Department, today: date | None = None,
                   settings: TaskSettings | None = None) -> Period:
    """The ended period while it is still owed (within its grace, no report yet), else the current one."""
    periods = open_periods(today, settings)
    if len(periods) > 1 and find_report(task, department, periods[0].key) is None:
        return periods[0]
    return periods[-1]


def find_report(task: Task, department: Department, period: str) -> ProgressReport | None:
    return db.session.scalar(sa.select(ProgressReport).where(
        ProgressReport.task_id == task.id, ProgressReport.department_id == department.id,
        ProgressReport.period == period))


# --- reports --------------------------------------------------------------------------------------------------------

def check_filer(actor: Any, task: Task, department: Department) -> None:
    if not any(link.department_id == department.id for link in task.unit_links):
        raise ValidationFailed(INVALID, {"unit": NOT_A_UNIT.format(name=department.name)})
    if not may_file(actor, task, department):
        raise Forbidden(NOT_YOURS, {"unit": NOT_YOURS})


def file_report(actor: Any, task: Task, department: Department, status: Any, text: Any, attachments: Any = (),
                *, period: Any = None, today: date | None = None) -> ProgressReport:
    """File ``department``'s report on ``task`` for ``period`` (default: :func:`default_period`); a second
    filing for the same period amends it. Attachments (``FileStorage`` or ``(name, bytes)``) are checked before
    anything is written: one refused file saves nothing."""
    check_filer(actor, task, department)
    settings = current_settings()
    fields: dict[str, str] = {}
    parsed_status = parse_enum(ReportStatus, status, field="status", what="进展状态", fields=fields, required=True,
                               by_label=True)
    if not isinstance(text, str) or not text.strip():
        fields["text"] = "请填写进展情况"
    elif len(text.strip()) > TEXT_MAX:
        fields["text"] = f"进展情况不超过 {TEXT_MAX} 字"
    allowed = open_periods(today, settings)
    if period is None or period == "":
        chosen = default_period(task, department, today, settings)
    else:
        chosen = parse_period(period) if isinstance(period, str) else None
        if chosen is None or chosen.key not in {p.key for p in allowed}:
            chosen = None
            fields["period"] = "只能报送" + "、".join(f"{p.label}({p.key})" for p in allowed) + "的进展"
    if fields:
        raise ValidationFailed(INVALID, fields)
    report = find_report(task, department, chosen.key)
    already = len(report.attachments) if report is not None else 0
    uploads = files.check_uploads(attachments, already=already)
    values = {"status": parsed_status, "text": text.strip()}
    if report is None:
        report = ProgressReport(task_id=task.id, department_id=department.id, period=chosen.key,
                                author_id=getattr(actor, "id", None), **values)
        db.session.add(report)
        db.session.flush()
        audit.record(actor, AuditEntity.TASK_REPORT, report.id, AuditAction.CREATE,
                     {"task": task.label, "unit": department.name, "period": chosen.key, "status": parsed_status,
                      "text": values["text"]},
                     summary=f"{task.label} {department.name} 报送{chosen.label}进展:{parsed_status.label}")
    else:
        report = lock_for_update(ProgressReport, report.id) or report
        changes = audit.diff(report, values)
        if changes:
            for key, value in values.items():
                setattr(report, key, value)
            report.author_id = getattr(actor, "id", None)
            db.session.flush()
            audit.record(actor, AuditEntity.TASK_REPORT, report.id, AuditAction.UPDATE, changes,
                         summary=f"{task.label} {department.name} 修改{chosen.label}进展")
    _attach(actor, report, uploads)
    return report


def _attach(actor: Any, report: ProgressReport, uploads: list[files.Upload]) -> list[ReportAttachment]:
    rows = []
    for upload in uploads:
        row = ReportAttachment(report_id=report.id, filename=upload.filename, content_type=upload.content_type,
                               size=upload.size, sha256=upload.sha256, data=upload.data,
                               uploaded_by_id=getattr(actor, "id", None))
        report.attachments.append(row)
        db.session.flush()
        audit.record(actor, AuditEntity.TASK_REPORT, report.id, AuditAction.ATTACH,
                     {"attachment": [None, upload.filename], "size": upload.size, "sha256": upload.sha256},
                     summary=f"上传附件 {upload.filename}")
        rows.append(row)
    return rows


def add_attachments(actor: Any, report: ProgressReport, uploads: Any) -> list[ReportAttachment]:
    """Attach files to an existing report (who may file for its unit); all checked before any is stored."""
    if not may_file_for(actor, report.department):
        raise Forbidden(NOT_YOURS)
    checked = files.check_uploads(uploads, already=len(report.attachments))
    if not checked:
        raise ValidationFailed(files.REFUSED, {files.FIELD: "请选择要上传的文件"})
    return _attach(actor, report, checked)


def remove_attachment(actor: Any, attachment: ReportAttachment) -> None:
    if not may_detach(actor, attachment):
        raise Forbidden("只有上传者或协调员可以删除该附件")
    report = attachment.report
    audit.record(actor, AuditEntity.TASK_REPORT, report.id, AuditAction.DETACH,
                 {"attachment": [attachment.filename, None], "sha256": attachment.sha256},
                 summary=f"删除附件 {attachment.filename}")
    report.attachments.remove(attachment)
    db.session.flush()


# --- the ledger's view of each unit ----------------------------------------------------------------------------

@dataclass
class UnitState:
    department: Department
    state: str  # on_track / behind / done / due / overdue
    latest: ProgressReport | None
    owed: Period | None  # the period whose report is missing (due or overdue)

    @property
    def label(self) -> str:
        return STATE_LABELS[self.state]

    @property
    def css(self) -> str:
        return STATE_CLASSES[self.state]


def reports_since(*, strict: bool = True) -> date | None:
    """``TASK_REPORTS_SINCE`` as a date (config.py says why); ``None`` when unset. A malformed value is a
    configuration error the job reports rather than a reason to remind everybody (``strict``); a page showing the
    ledger ignores it instead of failing."""
    raw = (current_app.config.get("TASK_REPORTS_SINCE") or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        if not strict:
            return None
        raise ValueError(f"CRM_TASK_REPORTS_SINCE 不是有效日期(YYYY-MM-DD):{raw!r}") from None


def owes_report(statuses: Mapping[str, ReportStatus], period: Period) -> bool:
    """THE rule of the ledger, the situation report and the reminder job (:mod:`crm.tasks.jobs`): a unit owes
    its report for ``period`` unless it has a report for that period key, or its latest report up to that period
    (by period start; a later report does not count) says 已完成, which ends its obligation on the task.
    ``statuses``: the unit's report status by period key. A period that began before ``CRM_TASK_REPORTS_SINCE``
    (go-live) is owed by nobody."""
    if period.key in statuses:
        return False
    since = reports_since(strict=False)
    if since is not None and period.start < since:
        return False
    latest: tuple[date, ReportStatus] | None = None
    for key, status in statuses.items():
        start = (parse_period(key) or period).start
        if start <= period.start and (latest is None or latest[0] <= start):
            latest = (start, status)
    return latest is None or latest[1] is not ReportStatus.DONE


def unit_state(department: Department, reports: dict[str, ProgressReport], current: Period, deadline: date,
               today: date) -> UnitState:
    """A unit's state on a task. The just-ended period decides first (:func:`owes_report`): still owed → 未报送
    until ``deadline`` (that period's, computed once by the caller), 逾期 after — even when a later report exists;
    otherwise the status of its report for the current period, else the ended one's, else its latest (an earlier
    已完成). ``latest`` is always the latest report, shown separately."""
    latest = max(reports.values(), key=lambda r: (parse_period(r.period) or current, r.updated_at), default=None)
    previous = current.previous()
    if owes_report({key: r.status for key, r in reports.items()}, previous):
        return UnitState(department, OVERDUE if today > deadline else DUE, latest, previous)
    shown = reports.get(current.key) or reports.get(previous.key) or latest
    return UnitState(department, shown.status.value, latest, None)


def ledger_states(tasks: list[Task], viewer_reports: Any = None, today: date | None = None
                  ) -> dict[int, list[UnitState]]:
    """Each task's units with their state (one query for the reports); ``viewer_reports`` restricts which reports
    are shown (a SQL condition, e.g. the viewer's scope), ``None``: all."""
    today = today or local_today()
    settings = current_settings()
    current = period_of(today, settings.cadence)
    stmt = sa.select(ProgressReport).where(ProgressReport.task_id.in_([t.id for t in tasks]))
    if viewer_reports is not None:
        stmt = stmt.where(viewer_reports)
    by_pair: dict[tuple[int, int], dict[str, ProgressReport]] = defaultdict(dict)
    for report in db.session.scalars(stmt):
        by_pair[(report.task_id, report.department_id)][report.period] = report
    deadline = current.previous().deadline(settings.grace_working_days)  # once: it reads the holiday table
    return {task.id: [unit_state(link.department, by_pair.get((task.id, link.department_id), {}), current,
                                 deadline, today) for link in task.unit_links]
            for task in tasks}


def tasks_statement() -> sa.Select:
    return sa.select(Task).order_by(Task.kind.desc(), Task.number)
