"""The dashboard as the leadership meeting takes it: a print layout (A4, the date and the rules in the footer) and
one XLSX, for the target year and service period chosen, as the viewer may see them."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from crm.core import spreadsheet
from crm.core.errors import ValidationFailed
from crm.core.pages import page
from crm.core.time import format_local

from . import reports, service

bp = Blueprint("reports", __name__, url_prefix="/dashboard/report")


def _year() -> int | None:
    raw = (request.args.get("year") or "").strip()
    if not raw:
        return None
    if len(raw) <= 4 and raw.isascii() and raw.isdigit() and 2000 <= int(raw) <= 2100:
        return int(raw)
    raise ValidationFailed("年份不正确", {"year": "年份应为 2000–2100 之间的数字"})


def _report() -> reports.Report:
    start, end = service.parse_period(request.args.get("from"), request.args.get("to"))
    county = (request.args.get("county") or "").strip() or None
    return reports.build(current_user, year=_year(), start=start, end=end, county=county)


@bp.route("/")
@login_required
@page
def show():
    report = _report()
    return render_template("dashboard/report.html", report=report, title=reports.title(report),
                           made_at=format_local(report.made_at), shown=reports.shown,
                           SERVICE_KEYS=reports.SERVICE_KEYS, COMMISSIONER_KEYS=reports.COMMISSIONER_KEYS,
                           RANKINGS=reports.RANKINGS, STATUS_TEXT=reports.STATUS_TEXT,
                           args={k: v for k, v in request.args.items() if k in ("year", "from", "to", "county")})


@bp.route("/download.xlsx")
@login_required
@page
def workbook():
    report = _report()
    return spreadsheet.download(reports.xlsx(report), spreadsheet.XLSX_MIMETYPE, reports.filename(report))
