"""The holiday table's admin page at /admin/holidays.

Admins change it (add or delete a day, import a year from the State Council's notice, seed from
chinese-calendar); coordinators and leaders may read it, since their due dates and meetings follow it;
commissioners are refused. Rules live in ``crm.holidays.domain``; each view parses, asks, calls, commits once.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from werkzeug.exceptions import RequestEntityTooLarge

from crm.auth.models import Role
from crm.core.access import Action, can, require
from crm.core.errors import Forbidden, NotFound
from crm.core.pages import attempt, page
from crm.core.parsing import MAX_ID
from crm.core.time import local_today
from crm.extensions import db
from crm.holidays import domain
from crm.holidays.forms import ActionForm, DayForm, ImportForm
from crm.holidays.models import SpecialDay

bp = Blueprint("holidays", __name__, url_prefix="/admin/holidays")

VIEW_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)
SEED_YEARS = range(2024, 2027)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DAY_TAKEN = "该日期已在节假日安排中,请刷新后重试"


def can_view(user: Any) -> bool:
    """Who may open the page (the nav link shows for them)."""
    return can(user, Action.VIEW) and user.role in VIEW_ROLES


def _require_view() -> None:
    if not can_view(current_user):
        raise Forbidden("您没有权限查看节假日安排")


def _require_manage() -> None:
    require(current_user, Action.MANAGE_USERS)


def _year_arg(default: int | None = None) -> int:
    raw = request.values.get("year")
    if raw in (None, ""):
        return default or local_today().year
    return domain.check_year(raw)


def _too_large_message() -> str:
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit:
        return f"上传的文件过大:不能超过 {domain.format_bytes(limit)},请检查文件后重试"
    return "上传的文件过大"


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_err: RequestEntityTooLarge):
    """Werkzeug refuses an over-size upload before the view runs: say so on the page, in Chinese."""
    db.session.rollback()
    flash(_too_large_message(), "danger")
    return redirect(url_for("holidays.index"), code=303)


def _render(year: int, *, day_form: DayForm | None = None, import_form: ImportForm | None = None,
            report: domain.ImportRejected | None = None, status: int = 200):
    statuses = domain.year_statuses()
    selected = next((s for s in statuses if s.year == year), None) or domain.YearStatus(
        year=year, loaded=domain.year_has_data(year))
    manage = can(current_user, Action.MANAGE_USERS)
    if import_form is None:
        import_form = ImportForm(formdata=None)
        import_form.year.data = year
    return render_template(
        "holidays/index.html",
        statuses=statuses,
        selected=selected,
        days=domain.days_of_year(year),
        manage=manage,
        day_form=day_form or DayForm(formdata=None),
        import_form=import_form,
        action_form=ActionForm(),
        report=report,
        weekday_label=domain.weekday_label,
        missing_message=domain.missing_data_message([year]) if not selected.loaded else "",
        max_upload=domain.format_bytes(current_app.config["MAX_CONTENT_LENGTH"])
        if current_app.config.get("MAX_CONTENT_LENGTH") else "",
    ), status


@bp.route("/")
@login_required
@page
def index():
    _require_view()
    return _render(_year_arg())


def _label(row: SpecialDay) -> str:
    return f"{row.day.isoformat()} {row.kind.label} {row.name}".rstrip()


@bp.route("/days", methods=["POST"])
@login_required
@page
def add_day():
    _require_manage()
    form = DayForm()
    year = local_today().year
    parsed = domain.parse_day(form.day.data)
    if parsed is not None:
        year = parsed.year
    added = attempt(lambda: domain.add_day(current_user, form.day.data, form.kind.data, form.name.data or ""),
                    form, invalid=None, conflict=DAY_TAKEN,  # the same date added by someone else a moment ago
                    success=lambda row: f"已新增 {_label(row)}")
    if added:
        return redirect(url_for("holidays.index", year=added.value.day.year), code=303)
    return _render(year, day_form=form, status=422)


@bp.route("/days/<int:day_id>/delete", methods=["POST"])
@login_required
@page
def delete_day(day_id: int):
    _require_manage()
    row = db.session.get(SpecialDay, day_id) if day_id <= MAX_ID else None
    if row is None:
        raise NotFound("该日期不在节假日安排中,可能已被删除")
    year = row.day.year
    attempt(lambda: domain.delete_day(current_user, row), ActionForm(), show="flash", success=f"已删除 {_label(row)}")
    return redirect(url_for("holidays.index", year=year), code=303)


@bp.route("/import", methods=["POST"])
@login_required
@page
def import_file():
    _require_manage()
    form = ImportForm()
    year = form.year.data
    if not isinstance(year, int) or not domain.MIN_YEAR <= year <= domain.MAX_YEAR:
        year = local_today().year
    if not form.validate_on_submit():
        return _render(year, import_form=form, status=422)
    upload = form.file.data
    imported = attempt(lambda: domain.import_year(current_user, form.year.data, domain.read_rows(
        upload.filename or "", upload.read(), max_bytes=current_app.config.get("MAX_CONTENT_LENGTH"))),
        form, validate=False, show="caller",
        success=lambda result: f"已导入{result.year}年节假日安排:放假{result.holidays}天,调休上班{result.workdays}天")
    if imported:
        return redirect(url_for("holidays.index", year=imported.value.year), code=303)
    report = imported.error if isinstance(imported.error, domain.ImportRejected) else None
    if imported.error is not None and report is None:  # the file itself was refused: say so at the file field
        form.file.errors = [*form.file.errors, imported.error.message]
    return _render(year, import_form=form, report=report, status=422)


@bp.route("/seed", methods=["POST"])
@login_required
@page
def seed():
    _require_manage()
    seeded = attempt(lambda: domain.load_from_chinese_calendar(SEED_YEARS, actor=current_user), ActionForm(),
                     show="flash")
    if not seeded:
        return redirect(url_for("holidays.index"), code=303)
    result = seeded.value
    parts = []
    if result.loaded:
        parts.append("已载入 " + "、".join(f"{y}年" for y in result.loaded))
    if result.skipped:
        parts.append("已有数据未改动:" + "、".join(f"{y}年" for y in result.skipped))
    if result.unavailable:
        parts.append("chinese-calendar 无数据:" + "、".join(f"{y}年" for y in result.unavailable))
    flash(";".join(parts) or "没有需要载入的年份", "success")
    return redirect(url_for("holidays.index"), code=303)


@bp.route("/template.<fmt>")
@login_required
@page
def template(fmt: str):
    _require_view()
    if fmt == "xlsx":
        data, mimetype = domain.template_xlsx(), XLSX_MIME
    elif fmt == "csv":
        data, mimetype = domain.template_csv(), "text/csv; charset=utf-8"
    else:
        raise NotFound("模板只有 XLSX 和 CSV 两种")
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"节假日安排导入模板.{fmt}")
