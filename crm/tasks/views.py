"""The task ledger pages (blueprint ``tasks``, under /tasks/): the plan's tasks grouped by section with each
unit's state, a task's text, units, milestones and reports per period with the form to file one, attachment
downloads, and the admins' reporting settings. Views load, check, call :mod:`crm.tasks.domain` and render."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from crm.auth.models import Role
from crm.core.access import Action, can, scope
from crm.core.errors import Forbidden
from crm.core.pages import attempt, load, page
from crm.core.spreadsheet import download as send_bytes
from crm.core.spreadsheet import size_text
from crm.core.time import local_today
from crm.extensions import db
from crm.reference.models import Department
from crm.tasks import domain
from crm.tasks.access import filing_units, may_detach, may_edit_settings
from crm.tasks.attachments import stored_name
from crm.tasks.forms import ActionForm, ReportForm, SettingsForm
from crm.tasks.models import ProgressReport, ReportAttachment, Task, TaskKind
from crm.tasks.periods import label_of, parse_period

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
REPORT_PERIODS_SHOWN = 12  # reporting periods per page of a task's reports (older ones: ?page=2, …)


@bp.app_template_filter("period_label")
def _period_label(key: str) -> str:
    return label_of(key)


@bp.app_template_filter("filesize")
def _filesize(size: int) -> str:
    return size_text(size)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_err: RequestEntityTooLarge):
    """Werkzeug refuses an over-size upload before the view reads it: say so, in Chinese."""
    db.session.rollback()
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    flash(f"上传的文件过大:一次提交的附件合计不能超过 {size_text(limit)}" if limit else "上传的文件过大", "danger")
    return redirect(request.referrer if request.referrer and request.referrer.startswith(request.host_url)
                    else url_for("tasks.index"), code=303)


def _sees_unit(user: Any, department_id: int) -> bool:
    """Whether the viewer reads this unit's reports (and so its state)."""
    if user.role in (Role.ADMIN, Role.COORDINATOR, Role.LEADER):
        return True
    return user.role is Role.LIAISON and user.department_id == department_id


@bp.route("/")
@login_required
@page
def index():
    tasks = list(db.session.scalars(scope(current_user, Task, domain.tasks_statement())))
    sections: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        sections[task.section].append(task)
    states = domain.ledger_states(tasks)
    mine = current_user.department_id if current_user.role is Role.LIAISON else None
    settings = domain.current_settings()
    current = domain.current_period(settings=settings)
    return render_template("tasks/index.html", sections=sections, states=states, sees_unit=_sees_unit,
                           mine=mine, settings=settings, current=current, TaskKind=TaskKind,
                           may_edit_settings=may_edit_settings(current_user))


def _report_form(task: Task, units: list[Department], unit_id: int | None = None) -> ReportForm:
    form = ReportForm()
    form.unit.choices = [(str(d.id), d.name) for d in units]
    periods = domain.open_periods()
    form.period.choices = [(p.key, f"{p.label}({p.key})") for p in periods]
    if not form.is_submitted() and units:
        unit = next((d for d in units if d.id == unit_id), units[0])
        form.unit.data = str(unit.id)
        form.period.data = domain.default_period(task, unit).key
    return form


def _render_detail(task: Task, form: ReportForm | None, status: int = 200):
    """The task's page; its reports ``REPORT_PERIODS_SHOWN`` periods a page, newest first (``?page=2``: older)."""
    visible = scope(current_user, ProgressReport, sa.select(ProgressReport).where(ProgressReport.task_id == task.id))
    keys = sorted(db.session.scalars(visible.with_only_columns(ProgressReport.period).distinct()),
                  key=lambda k: (parse_period(k).start if parse_period(k) else date.min, k), reverse=True)
    pages = max(1, -(-len(keys) // REPORT_PERIODS_SHOWN))
    page_no = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    shown = keys[(page_no - 1) * REPORT_PERIODS_SHOWN:page_no * REPORT_PERIODS_SHOWN]
    reports = db.session.scalars(visible.where(ProgressReport.period.in_(shown)).options(
        selectinload(ProgressReport.attachments), selectinload(ProgressReport.author)))
    by_period: dict[str, list[ProgressReport]] = {key: [] for key in shown}
    positions = {link.department_id: link.position for link in task.unit_links}
    for report in reports:
        by_period[report.period].append(report)
    for rows in by_period.values():
        rows.sort(key=lambda r: positions.get(r.department_id, 999))
    states = domain.ledger_states([task])[task.id]
    return render_template(
        "tasks/detail.html", task=task, form=form, by_period=by_period, states=states, sees_unit=_sees_unit,
        may_detach=lambda a: may_detach(current_user, a), action_form=ActionForm(),
        may_edit=lambda r: can(current_user, Action.EDIT, r), settings=domain.current_settings(),
        today=local_today(), page_no=page_no, pages=pages, per_page=REPORT_PERIODS_SHOWN), status


@bp.route("/<int:task_id>")
@login_required
@page
def detail(task_id: int):
    task = load(Task, task_id)
    units = filing_units(current_user, task)
    unit_id = request.args.get("unit", type=int)
    return _render_detail(task, _report_form(task, units, unit_id) if units else None)


@bp.route("/<int:task_id>/reports", methods=["POST"])
@login_required
@page
def file_report(task_id: int):
    task = load(Task, task_id)
    units = filing_units(current_user, task)
    if not units:
        raise Forbidden(domain.NOT_YOURS)
    form = _report_form(task, units)
    department = next((d for d in units if str(d.id) == (form.unit.data or "")), None)
    if department is None:
        form.unit.errors = [domain.NOT_YOURS]
        return _render_detail(task, form, 422)
    saved = attempt(lambda: domain.file_report(current_user, task, department, form.status.data, form.text.data,
                                               request.files.getlist("attachments"), period=form.period.data or None),
                    form, success=lambda r: f"已报送 {department.name} {label_of(r.period)}的进展")
    if saved:
        return redirect(url_for(".detail", task_id=task.id, _anchor=f"report-{saved.value.id}"), code=303)
    return _render_detail(task, form, saved.status)


@bp.route("/attachments/<int:attachment_id>")
@login_required
@page
def attachment(attachment_id: int):
    row = load(ReportAttachment, attachment_id)
    data = db.session.scalar(sa.select(ReportAttachment.data).where(ReportAttachment.id == row.id))
    return send_bytes(data, row.content_type, stored_name(row.filename, row.content_type))  # rows before the fix


@bp.route("/attachments/<int:attachment_id>/delete", methods=["POST"])
@login_required
@page
def delete_attachment(attachment_id: int):
    row = load(ReportAttachment, attachment_id)
    task_id = row.report.task_id
    if not may_detach(current_user, row):
        raise Forbidden("只有上传者或协调员可以删除该附件")
    attempt(lambda: domain.remove_attachment(current_user, row), ActionForm(), show="flash",
            success="附件已删除")
    return redirect(url_for(".detail", task_id=task_id), code=303)


@bp.route("/settings", methods=["GET", "POST"])
@login_required
@page
def settings():
    if not may_edit_settings(current_user):
        abort(403)
    current = domain.current_settings()
    form = SettingsForm(data={"cadence": current.cadence.value, "grace_working_days": current.grace_working_days,
                              "version": current.version})
    saved = attempt(lambda: domain.update_settings(current_user, form.to_data(), version=form.version.data),
                    form, success="报送设置已保存")
    if saved:
        return redirect(url_for(".settings"), code=303)
    return render_template("tasks/settings.html", form=form, settings=current,
                           current=domain.current_period(settings=current)), saved.status
