"""The targets dashboard pages (blueprint ``dashboard``, under /dashboard/): a year's targets against the counted
actuals with the rule beside each number, its chart, the drill-down to the enterprises behind each number, and the
admins' page for the settable counting rules. Views parse, call :mod:`crm.dashboard.targets` and render."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField
from wtforms.fields.choices import SelectChoice

from crm.core.errors import Forbidden
from crm.core.pages import attempt, page
from crm.core.pagination import Page, parse_page_args
from crm.core.time import local_today
from crm.dashboard import rules as rules_domain
from crm.dashboard import targets
from crm.dashboard.models import OutputMeasure

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

STATUS_CLASSES = {targets.GREEN: "success", targets.AMBER: "warning", targets.RED: "danger"}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_class": lambda s: STATUS_CLASSES.get(s, "secondary"),
            "status_label": lambda s: targets.STATUS_LABELS.get(s, "无目标"), "percent": _percent}


def _percent(actual: float | int | None, target: float | int | None) -> int:
    """The bar's width in percent (0–100)."""
    if not target:
        return 100 if actual else 0
    return max(0, min(100, round(100 * float(actual or 0) / float(target))))


def _chart(data: dict[str, Any]) -> str:
    """The chart's data: the very rows of the table (the same query)."""
    rows = [data["city"], *data["units"]]
    return json.dumps({
        "units": [row["unit"] for row in rows],
        "target_firms": [row["target_firms"] for row in rows], "actual_firms": [row["actual_firms"] for row in rows],
        "target_output": [row["target_output"] for row in rows],
        "actual_output": [row["actual_output"] for row in rows],
        "labels": {"target_firms": "企业目标(家)", "actual_firms": "实际企业(家)",
                   "target_output": "产值目标(亿元)", "actual_output": "实际产值(亿元)"},
    }, ensure_ascii=False)


@bp.route("/")
@bp.route("/targets/<int:year>")
@login_required
@page
def index(year: int | None = None):
    targets.require_view(current_user)
    years = targets.target_years()
    if year is None:
        year = targets.default_year(years=years)
        if year is None:
            return render_template("dashboard/targets.html", data=None, years=years, year=None, chart="{}")
    data = targets.dashboard(year, current_user)
    return render_template("dashboard/targets.html", data=data, years=years, year=year, chart=_chart(data),
                           may_edit_rules=rules_domain.may_edit(current_user), today=local_today())


DRILL_PER_PAGE = 50


def _page_of(rows: list[dict[str, Any]]) -> Page:
    """One page (``?page=``, ``?per_page=``, 50 by default) of a drill-down's rows: the city's list counts 8,000
    firms at provincial scale (1.4 MB drawn whole); the count and the sums stay those of every row. The API still
    answers the whole list."""
    number, per_page = parse_page_args(request.args, DRILL_PER_PAGE)
    start = (number - 1) * per_page
    return Page(items=rows[start:start + per_page], total=len(rows), page=number, per_page=per_page)


@bp.route("/targets/<int:year>/firms")
@login_required
@page
def firms(year: int):
    county = request.args.get("county", "").strip() or None
    rows = targets.drill_firms(year, current_user, county=county)
    sums = {"output": sum(row["output"] for row in rows), "chengyu_output": sum(row["chengyu_output"] for row in rows)}
    return render_template("dashboard/target_firms.html", year=year, county=county, page=_page_of(rows), sums=sums,
                           frozen=targets.snapshot_of(year) is not None,
                           link_args={"year": year, **({"county": county} if county else {})})


@bp.route("/targets/<int:year>/settled")
@login_required
@page
def settled(year: int):
    rows = targets.drill_settled(year, current_user)
    return render_template("dashboard/target_settled.html", year=year, page=_page_of(rows),
                           county=targets.county_scope(current_user), link_args={"year": year})


@bp.route("/targets/<int:year>/parks")
@login_required
@page
def parks(year: int):
    rows = targets.drill_parks(year, current_user)
    return render_template("dashboard/target_parks.html", year=year, rows=rows)


class RulesForm(FlaskForm):
    output_measure = SelectField("产值口径", choices=[SelectChoice(m.value, m.label) for m in OutputMeasure],
                                 validate_choice=False)
    settled_since = DateField("成渝落户企业起算日期", format="%Y-%m-%d")
    trajectory_start = DateField("直线进度起算日期", format="%Y-%m-%d")
    version = HiddenField()

    def to_data(self) -> dict[str, Any]:
        return {"output_measure": self.output_measure.data, "settled_since": self.settled_since.data,
                "trajectory_start": self.trajectory_start.data}


@bp.route("/rules", methods=["GET", "POST"])
@login_required
@page
def rules():
    if not rules_domain.may_edit(current_user):
        if targets.may_view(current_user):
            raise Forbidden("只有管理员可以修改统计口径")
        abort(403)
    current = rules_domain.current_rules()
    form = RulesForm(data={"output_measure": current.output_measure.value, "settled_since": current.settled_since,
                           "trajectory_start": current.trajectory_start, "version": current.version})
    saved = attempt(lambda: rules_domain.update_rules(current_user, form.to_data(), version=form.version.data),
                    form, success="统计口径已保存")
    if saved:
        return redirect(url_for(".rules"))
    year = targets.default_year()
    statements = rules_domain.describe(current, year) if year is not None else None
    return render_template("dashboard/rules.html", form=form, rules=current, statements=statements,
                           year=year), saved.status
