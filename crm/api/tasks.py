"""The plan's tasks and their progress reports (API.md, "The plan's tasks and the departments").

- ``GET /api/v1/tasks``: the 18 重点任务 (``kind`` ``task``) and 3 保障措施 (``kind`` ``safeguard``) with their
  责任单位 in the plan's order; ``GET /api/v1/tasks/<id>`` one, with its text and milestones. Everyone signed in.
- ``GET|POST /api/v1/tasks/<id>/reports``: the reports the caller may read; file one ``{"unit", "status",
  "text"}`` (``period`` optional: the ended period while still within its grace, else the current one). A
  liaison files for their own department only, on tasks that name it (another unit of the task → 403, a unit the
  task does not name → 422, an unknown unit → 422, each on the field ``unit``). Filing again for the same period
  amends the report (200 instead of 201).
- ``POST /api/v1/tasks/<id>/reports/<rid>/attachments`` (multipart, one or more ``file`` parts) and
  ``GET …/attachments/<aid>`` (the file).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app, request
from pydantic import Field
from werkzeug.exceptions import RequestEntityTooLarge

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import page_of
from crm.api.loading import found, get_or_404
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    File,
    Input,
    PageQuery,
    Parsed,
    Shape,
    body,
    code,
    dump,
    operation,
    page_model,
)
from crm.core.access import Action, scope
from crm.core.errors import DomainError, Forbidden, ValidationFailed
from crm.core.spreadsheet import download
from crm.core.time import isoformat_local
from crm.extensions import db
from crm.reference.models import Department
from crm.tasks import domain
from crm.tasks.access import filing_units
from crm.tasks.attachments import FIELD, stored_name
from crm.tasks.models import ProgressReport, ReportAttachment, ReportStatus, Task, TaskKind
from crm.tasks.periods import label_of


class TooLarge(DomainError):
    status = 413
    code = "too_large"


# --- shapes ---------------------------------------------------------------------------------------------------

class Milestone(Shape):
    due_on: DateStr
    county: str | None = Field(description="区县(全市为 null)")
    metric: str | None = Field(
        description="可统计的指标:firms、output、settled_from_chengyu、parks、meetings、list_refresh")
    target: float | None
    text: str


class TaskItem(Shape):
    """方案任务"""

    id: int
    number: int = Field(description="重点任务 1–18,保障措施 1–3")
    kind: code(TaskKind)
    label: str = Field(examples=["重点任务16"])
    section: str
    title: str
    units: list[str] = Field(description="责任单位,按方案顺序(各县(市、区)人民政府已展开)")
    figures: list[str] = Field(description="平台已统计的相关数字:rosters、meetings、settled、service、targets、parks")

    @classmethod
    def of(cls, task: Task) -> TaskItem:
        return cls(id=task.id, number=task.number, kind=task.kind.value, label=task.label, section=task.section,
                   title=task.title, units=[d.name for d in task.units], figures=list(task.figures or []))


class TaskDetail(TaskItem):
    """方案任务(含原文和节点目标)"""

    text: str
    milestones: list[Milestone]

    @classmethod
    def of(cls, task: Task) -> TaskDetail:
        base = TaskItem.of(task).model_dump()
        return cls(**base, text=task.text, milestones=[
            Milestone(due_on=m.due_on.isoformat(), county=m.county.name if m.county else None, metric=m.metric,
                      target=float(m.target) if m.target is not None else None, text=m.text)
            for m in task.milestones])


class TaskList(Shape):
    items: list[TaskItem]
    total: int


class Attachment(Shape):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_at: DateTimeStr

    @classmethod
    def of(cls, a: ReportAttachment) -> Attachment:
        return cls(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size, sha256=a.sha256,
                   uploaded_at=isoformat_local(a.created_at))


class Report(Shape):
    """进展报告"""

    id: int
    task_id: int
    unit: str
    period: str = Field(examples=["2026-11", "2026Q4", "2026H2"])
    period_label: str
    status: code(ReportStatus)
    text: str
    author: str | None
    created_at: DateTimeStr
    updated_at: DateTimeStr
    version: int
    attachments: list[Attachment]

    @classmethod
    def of(cls, r: ProgressReport) -> Report:
        return cls(id=r.id, task_id=r.task_id, unit=r.department.name, period=r.period,
                   period_label=label_of(r.period), status=r.status.value, text=r.text,
                   author=r.author.display_name if r.author else None, created_at=isoformat_local(r.created_at),
                   updated_at=isoformat_local(r.updated_at), version=r.version,
                   attachments=[Attachment.of(a) for a in r.attachments])


class ReportCreate(Input):
    """报送进展(同一报送期再次报送即修改)"""

    INVALID = domain.INVALID
    unit: Parsed[str] = Field(description="责任单位名称(该任务的责任单位之一;联络员只能报送本单位)")
    status: Parsed[code(ReportStatus)] = Field(description="on_track 按计划推进、behind 滞后、done 已完成")
    text: Parsed[str] = Field(description=f"进展情况,不超过 {domain.TEXT_MAX} 字")
    period: Parsed[str | None] = Field(None, description="报送期(默认:宽限期内未报的上一期,否则本期)")


class AttachmentUpload(Input):
    """multipart/form-data"""

    file: bytes = Field(description="附件(可多个 file 字段):PDF、DOCX、XLSX、JPEG、PNG,每个不超过 10 MB")


# --- endpoints -------------------------------------------------------------------------------------------------

def _task(task_id: int) -> Task:
    return get_or_404(Task, task_id, Action.VIEW)


def _unit(task: Task, raw: Any) -> Department:
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed(domain.INVALID, {"unit": "请填写责任单位名称"})
    department = db.session.scalar(sa.select(Department).where(Department.name == raw.strip()))
    if department is None:
        shown = raw.strip()[:40]
        raise ValidationFailed(domain.INVALID, {"unit": f"未知责任单位:{shown}"})
    return department


@bp.get("/tasks")
@operation("方案的重点任务和保障措施(含责任单位)", ok=TaskList)
def list_tasks():
    tasks = list(db.session.scalars(scope(current_user(), Task, domain.tasks_statement())))
    return dump(TaskList(items=[TaskItem.of(t) for t in tasks], total=len(tasks)))


@bp.get("/tasks/<int:task_id>")
@operation("一项任务(原文、责任单位、节点目标)", ok=TaskDetail, errors=(404,))
def get_task(task_id: int):
    return dump(TaskDetail.of(_task(task_id)))


@bp.get("/tasks/<int:task_id>/reports")
@operation("任务的进展报告(调用者可查看的)", ok=page_model(Report, "ReportPage"), query=PageQuery, errors=(404,))
def list_reports(task_id: int):
    task = _task(task_id)
    stmt = scope(current_user(), ProgressReport, sa.select(ProgressReport).where(ProgressReport.task_id == task.id)
                 .order_by(ProgressReport.period.desc(), ProgressReport.id))
    return page_of(stmt, lambda r: dump(Report.of(r)))


@bp.post("/tasks/<int:task_id>/reports")
@operation("报送进展(联络员只能报送本单位、且是该任务的责任单位);同期再次报送为修改(200)", ok=Report, status=201,
           responses={200: Report}, body=ReportCreate, errors=(403, 404, 409, 422))
def file_report(task_id: int):
    task = _task(task_id)
    if not filing_units(current_user(), task):  # a leader, a commissioner, a liaison of a unit the task does not name
        raise Forbidden(domain.NOT_YOURS)
    data = body(ReportCreate)
    department = _unit(task, data.get("unit"))
    existed = {r.id for r in db.session.scalars(sa.select(ProgressReport).where(
        ProgressReport.task_id == task.id, ProgressReport.department_id == department.id))}
    report = domain.file_report(current_user(), task, department, data.get("status"), data.get("text"),
                                period=data.get("period"))
    db.session.commit()
    return dump(Report.of(report)), 200 if report.id in existed else 201


def _report(task_id: int, report_id: int, action: Action) -> ProgressReport:
    task = _task(task_id)
    report = get_or_404(ProgressReport, report_id, action)
    if report.task_id != task.id:
        raise found(None, Action.VIEW)
    return report


@bp.post("/tasks/<int:task_id>/reports/<int:report_id>/attachments")
@operation("为进展报告上传附件(multipart,file 字段可多个;按内容判断类型)", ok=Report, status=201,
           multipart=AttachmentUpload, errors=(403, 404, 413, 422))
def upload_attachments(task_id: int, report_id: int):
    report = _report(task_id, report_id, Action.EDIT)
    try:
        uploads = request.files.getlist("file")
    except RequestEntityTooLarge:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        raise TooLarge("上传的文件过大", {FIELD: f"一次上传合计不能超过 {limit / 1024 / 1024:g} MB"}) from None
    domain.add_attachments(current_user(), report, uploads)
    db.session.commit()
    return dump(Report.of(report)), 201


@bp.get("/tasks/<int:task_id>/reports/<int:report_id>/attachments/<int:attachment_id>")
@operation("下载附件", ok=File("application/octet-stream"), errors=(404,))
def get_attachment(task_id: int, report_id: int, attachment_id: int):
    report = _report(task_id, report_id, Action.VIEW)
    row = get_or_404(ReportAttachment, attachment_id, Action.VIEW)
    if row.report_id != report.id:
        raise found(None, Action.VIEW)
    data = db.session.scalar(sa.select(ReportAttachment.data).where(ReportAttachment.id == row.id))
    return download(data, row.content_type, stored_name(row.filename, row.content_type))  # rows before the fix
