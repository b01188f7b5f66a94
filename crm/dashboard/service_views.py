"""The service-performance pages (blueprint ``performance``): ``/dashboard/service`` (KPI cards, the chart of
visits per month with its table, the tables per county / department / commissioner, the rankings) and
``/dashboard/service/records`` (the records behind any number, each linked to its enterprise's 一企一档).

Both call :mod:`crm.dashboard.service`, the functions the API calls. A bad period or filter shows the page
with its Chinese message and 400 (never a 500); a county-scoped user asking for another county, or anyone
without a role that sees performance, gets 403.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_login import current_user, login_required

from crm.core import cache
from crm.core.errors import ValidationFailed
from crm.core.pages import page
from crm.dashboard import service
from crm.reference.models import County, names_of

bp = Blueprint("performance", __name__, url_prefix="/dashboard/service")

KPIS = (  # (metric, kind): what the cards show, in order
    ("visits", "count"), ("interactions", "count"), ("requests_raised", "count"), ("requests_closed", "count"),
    ("requests_overdue", "count"), ("median_days_to_close", "days"), ("on_time_rate", "rate"),
    ("mean_satisfaction", "score"), ("deliveries_on_time_rate", "rate"), ("coverage", "rate"),
    ("meetings_chengyu", "count"), ("visit_coverage", "rate"),
)
DRILL = {  # a metric → the drill-down measure behind it
    "visits": "visits", "interactions": "interactions", "requests_raised": "requests_raised",
    "requests_closed": "requests_closed", "requests_overdue": "requests_overdue",
    "deliveries_delivered": "deliveries_delivered", "fully_covered": "uncovered", "listed": "uncovered",
    "assigned_enterprises": "unvisited", "visited_enterprises": "visits", "meetings_chengyu": "meetings_chengyu",
}


def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "days":
        return f"{value:g} 天"
    if kind == "score":
        return f"{value:.2f}"
    return str(value)


def _period_args() -> tuple[date, date, str | None, list[str]]:
    """The period and county asked for; a refused value is reported and the default used instead."""
    errors: list[str] = []
    try:
        start, end = service.parse_period(request.args.get("from", ""), request.args.get("to", ""))
    except ValidationFailed as err:
        errors += [f"{err.message}:{text}" for text in err.fields.values()]
        start, end = service.default_period()
    county = request.args.get("county", "").strip() or None
    return start, end, county, errors


# The per-commissioner table, a page at a time: at provincial scale (500 commissioners, ≈ 1.5 KB a row with its
# drill-down links) the whole table was 742 KB of the page's 796 KB. The figures are still computed in SQL for all
# of them (the rankings need them all; the API returns them all); the page draws 40 rows, by name, with plain
# links to the other pages (``?commissioners_page=N``, no script).
COMMISSIONERS_PER_PAGE = 40


def _commissioners_page(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int]:
    """The rows of ``?commissioners_page=N`` (a bad or too large number: the nearest page), the page and the
    number of pages."""
    pages = max(1, -(-len(rows) // COMMISSIONERS_PER_PAGE))
    raw = request.args.get("commissioners_page", "").strip()
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 7 else 1
    number = min(max(number, 1), pages)
    start = (number - 1) * COMMISSIONERS_PER_PAGE
    return rows[start:start + COMMISSIONERS_PER_PAGE], number, pages


# The tables' columns, in order: (metric, how it is shown). Which ones a table has: ``_columns``.
VISIT_COLUMNS = (("visits", "count"), ("interactions", "count"))
REQUEST_COLUMNS = (
    ("requests_raised", "count"), ("requests_closed", "count"), ("requests_overdue", "count"),
    ("median_days_to_close", "days"), ("on_time_rate", "rate"), ("mean_satisfaction", "score"),
    ("deliveries_delivered", "count"), ("deliveries_on_time_rate", "rate"),
)
COVERAGE_COLUMNS = (("listed", "count"), ("coverage", "rate"), ("meetings_chengyu", "count"))
PEOPLE_COLUMNS = (("assigned_enterprises", "count"), ("visited_enterprises", "count"), ("visit_coverage", "rate"))
_MEASURE = "__measure__"  # stands for the drill-down measure in a row's link (URL-safe: quoted as it is)


def _columns(*, visits: bool = True, coverage: bool = False, people: bool = False) -> tuple[tuple[str, str], ...]:
    return ((VISIT_COLUMNS if visits else ()) + REQUEST_COLUMNS + (COVERAGE_COLUMNS if coverage else ())
            + (PEOPLE_COLUMNS if people else ()))


def _cells(row: dict[str, Any], columns: tuple[tuple[str, str], ...], base_args: dict[str, str],
           extra: dict[str, Any] | None) -> list[tuple[str, str | None, str]]:
    """A table row's cells as ``(text, drill-down link or None, metric)``, drawn by a plain loop in the template.

    Issue 11, fourth pass: the template's macro per cell built each link with ``url_for`` — ≈ 500 calls and
    1,500 macro calls a view at provincial scale, ≈ 50 ms of the page's 150. Now one ``url_for`` per row, with a
    stand-in for the measure replaced per cell: the same links, byte for byte (the measure is the first query
    argument and an ASCII word, quoted as it is). A number links to its records when it has a drill-down and is
    not 0 or empty, as before; ``extra`` ``None``: no links (a county user's city row)."""
    head = tail = ""
    if extra is not None:
        head, tail = url_for("performance.records", measure=_MEASURE, **{**base_args, **extra}).split(_MEASURE, 1)
    cells = []
    for metric, kind in columns:
        value = row[metric]
        text = _fmt(value, kind)
        measure = DRILL.get(metric) if value and extra is not None else None
        cells.append((text, f"{head}{measure}{tail}" if measure else None, metric))
    return cells


def _tables(result: dict[str, Any], commissioner_rows: list[dict[str, Any]],
            base_args: dict[str, str]) -> dict[str, Any]:
    """The counties', departments' and commissioners' tables as header text and cells (:func:`_cells`)."""
    county_columns = _columns(coverage=True)
    counties = [(row["county"], _cells(row, county_columns, base_args, {"county": row["county"]}))
                for row in result["counties"]]
    city = None
    if result["city"] and result["counties"]:
        city = _cells(result["city"], county_columns, base_args,
                      {"county": ""} if result["scope"] == "city" else None)
    department_columns = _columns(visits=False)
    departments = [(row["department"], _cells(row, department_columns, base_args, {
        "department": row["department_id"] if row["department_id"] is not None else "none"}))
        for row in result["departments"]]
    people_columns = _columns(people=True)
    commissioners = [(row["name"], _cells(row, people_columns, base_args, {"commissioner": row["user_id"]}))
                     for row in commissioner_rows]
    return {"counties": counties, "city": city, "departments": departments, "commissioners": commissioners,
            "county_columns": county_columns, "department_columns": department_columns,
            "people_columns": people_columns}


def _counties() -> list[str]:
    return [name for _, name in names_of(County)]


@bp.route("/")
@login_required
@page
def index():
    start, end, county, errors = _period_args()
    service.scope_of(current_user)  # 403 before anything else for a role that sees no performance
    try:
        result = service.performance(current_user, start, end, county)
    except ValidationFailed as err:
        errors += [f"{err.message}:{text}" for text in err.fields.values()]
        county = None
        result = service.performance(current_user, start, end)
    months = result["visits_by_month"]
    chart = json.dumps({"months": [m["month"] for m in months], "visits": [m["visits"] for m in months],
                        "interactions": [m["interactions"] for m in months],
                        "labels": {"visits": service.LABELS["visits"],
                                   "interactions": service.LABELS["interactions"]}}, ensure_ascii=False)
    base_args = {"from": start.isoformat(), "to": end.isoformat()}
    if result["county"]:
        base_args["county"] = result["county"]
    commissioner_rows, commissioners_page, commissioners_pages = _commissioners_page(result["commissioners"])
    own = result["scope"] == "own"

    def draw() -> str:
        return render_template(
            "dashboard/_service_body.html", result=result, chart=chart, commissioner_rows=commissioner_rows,
            commissioners_page=commissioners_page, commissioners_pages=commissioners_pages,
            tables=_tables(result, commissioner_rows, base_args), kpis=KPIS, drill=DRILL, fmt=_fmt,
            labels=service.LABELS, base_args=base_args, own=own)

    # Drawn once per change of what it shows (crm.core.cache.cached_markup): the figures are kept under
    # SHOWN_KINDS' versions for the scope, county and period, and the body is drawn from them alone, with the
    # commissioners' page. Its ≈ 600 cells and their links were ≈ 11 of the view's 27 ms at provincial scale
    # (benchmarks/README.md, "Eighth pass"). A commissioner's own figures are drawn each time (theirs alone).
    body = cache.cached_markup(
        "performance.body", service.SHOWN_KINDS,
        None if own else (request.script_root, result["scope"], result["county"], start, end, commissioners_page),
        draw)
    return render_template(
        "dashboard/service.html", result=result, start=start, end=end, errors=errors, body=body,
        counties=_counties() if result["scope"] == "city" else [], own=own), (400 if errors else 200)


@bp.route("/records")
@login_required
@page
def records():
    start, end, county, errors = _period_args()
    service.scope_of(current_user)
    measure = request.args.get("measure", "").strip()
    department = request.args.get("department", "").strip() or None
    raw_commissioner = request.args.get("commissioner", "").strip()
    commissioner = None
    if raw_commissioner:
        if raw_commissioner.isascii() and raw_commissioner.isdigit() and len(raw_commissioner) < 10:
            commissioner = int(raw_commissioner)
        else:
            errors.append("专员编号不正确")
    found = None
    if not errors:
        try:
            found = service.records(current_user, measure, start, end, county=county, department=department,
                                    commissioner=commissioner)
        except ValidationFailed as err:
            errors += [f"{err.message}:{text}" for text in err.fields.values()]
    back = {"from": start.isoformat(), "to": end.isoformat()}
    if county:
        back["county"] = county
    return render_template("dashboard/service_records.html", found=found, errors=errors, start=start, end=end,
                           back=back, county=county), (400 if errors else 200)
