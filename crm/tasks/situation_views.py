"""The situation report to the city government (blueprint ``situation``, ``/situation/``): one page that prints as
it is (A4, print CSS, no inline script) and one XLSX, both from :func:`crm.tasks.situation.situation_report`.
City-wide leaders, coordinators and admins read it (a county-scoped one
does not: every county's overdue items are in it); anyone else is refused (403)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from crm.core import spreadsheet
from crm.core.errors import ValidationFailed
from crm.core.pages import page
from crm.core.time import format_local, local_today, utcnow
from crm.tasks import situation
from crm.tasks.supervision_access import may_read_report

bp = Blueprint("situation", __name__, url_prefix="/situation")


def _as_of() -> date:
    raw = (request.args.get("as_of") or "").strip()
    if not raw:
        return local_today()
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 and raw.isascii() else None
    except ValueError:
        day = None
    if day is None or not date(2020, 1, 1) <= day <= local_today():
        raise ValidationFailed("报告日期不正确", {"as_of": "报告日期应为 2020-01-01 至今天之间的日期(YYYY-MM-DD)"})
    return day


def _report() -> dict:
    if not may_read_report(current_user):
        abort(403)
    return situation.situation_report(_as_of())


@bp.route("/")
@login_required
@page
def show():
    report = _report()
    return render_template("situation/report.html", report=report, title=situation.title(report),
                           made_at=format_local(utcnow()), as_of=report["as_of"].isoformat())


@bp.route("/report.xlsx")
@login_required
@page
def workbook():
    report = _report()
    return spreadsheet.download(situation.xlsx(report), spreadsheet.XLSX_MIMETYPE, situation.filename(report))
