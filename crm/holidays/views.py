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
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from crm.auth.models import Role
from crm.core.access import Action, can, require
from crm.core.errors import DomainError, Forbidden, NotFound
from crm.core.time import local_today
from crm.extensions import db
from crm.holidays import domain
from crm.holidays.forms import ActionForm, DayForm, ImportForm
from crm.holidays.models import SpecialDay

bp = Blueprint("holidays", __name__, url_prefix="/admin/holidays")

VIEW_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)
SEED_YEARS = range(2024, 2027)
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_ID = 2**31 - 1  # larger ids cannot exist, and PostgreSQL would refuse them in the query


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
def index():
    _require_view()
    return _render(_year_arg())


@bp.route("/days", methods=["POST"])
@login_required
def add_day():
    _require_manage()
    form = DayForm()
    year = local_today().year
    parsed = domain.parse_day(form.day.data)
    if parsed is not None:
        year = parsed.year
    if form.validate_on_submit():
        try:
            row = domain.add_day(current_user, form.day.data, form.kind.data, form.name.data or "")
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            _attach_errors(form, err)
        except IntegrityError:  # the same date added by someone else a moment ago
            db.session.rollback()
            form.day.errors = [*form.day.errors, "该日期已在节假日安排中,请刷新后重试"]
        else:
            flash(f"已新增 {row.day.isoformat()} {row.kind.label} {row.name}".rstrip(), "success")
            return redirect(url_for("holidays.index", year=row.day.year), code=303)
    return _render(year, day_form=form, status=422)


@bp.route("/days/<int:day_id>/delete", methods=["POST"])
@login_required
def delete_day(day_id: int):
    _require_manage()
    row = db.session.get(SpecialDay, day_id) if day_id <= MAX_ID else None
    if row is None:
        raise NotFound("该日期不在节假日安排中,可能已被删除")
    year = row.day.year
    form = ActionForm()
    if not form.validate_on_submit():
        flash("表单已过期或缺少安全令牌,请刷新页面后重新提交", "danger")
        return redirect(url_for("holidays.index", year=year), code=303)
    label = f"{row.day.isoformat()} {row.kind.label} {row.name}".rstrip()
    domain.delete_day(current_user, row)
    db.session.commit()
    flash(f"已删除 {label}", "success")
    return redirect(url_for("holidays.index", year=year), code=303)


@bp.route("/import", methods=["POST"])
@login_required
def import_file():
    _require_manage()
    form = ImportForm()
    year = form.year.data
    if not isinstance(year, int) or not domain.MIN_YEAR <= year <= domain.MAX_YEAR:
        year = local_today().year
    if not form.validate_on_submit():
        return _render(year, import_form=form, status=422)
    upload = form.file.data
    report = None
    try:
        rows = domain.read_rows(upload.filename or "", upload.read(),
                                max_bytes=current_app.config.get("MAX_CONTENT_LENGTH"))
        result = domain.import_year(current_user, form.year.data, rows)
        db.session.commit()
    except domain.ImportRejected as err:
        db.session.rollback()
        report = err
    except DomainError as err:
        db.session.rollback()
        form.file.errors = [*form.file.errors, err.message]
    else:
        flash(f"已导入{result.year}年节假日安排:放假{result.holidays}天,调休上班{result.workdays}天", "success")
        return redirect(url_for("holidays.index", year=result.year), code=303)
    return _render(year, import_form=form, report=report, status=422)


@bp.route("/seed", methods=["POST"])
@login_required
def seed():
    _require_manage()
    form = ActionForm()
    if not form.validate_on_submit():
        flash("表单已过期或缺少安全令牌,请刷新页面后重新提交", "danger")
        return redirect(url_for("holidays.index"), code=303)
    result = domain.load_from_chinese_calendar(SEED_YEARS, actor=current_user)
    db.session.commit()
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


def _attach_errors(form: Any, err: DomainError) -> None:
    placed = False
    for name, message in err.fields.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*field.errors, message]
            placed = True
    if not placed:
        form.form_errors.append(err.message)
