"""Assignment pages: the coverage matrix (listed enterprises × 科技 融资 法务 媒体 人才), one enterprise's
commissioners with the suggestion and the history, and bulk assignment from the matrix.

Each view loads, checks access (``crm.service.assignments.require_assign`` for writes: admins and coordinators
only), calls the domain, commits once and renders or redirects. A refusal is rolled back whole and shown in
Chinese next to its field or flashed; nothing here answers 500 for bad input.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from crm.auth.models import Role, Specialty, User, UserSpecialty
from crm.core import cache
from crm.core.access import Action, scope
from crm.core.errors import Conflict, DomainError, Forbidden
from crm.core.pages import attempt, load, page
from crm.core.pagination import parse_page_args
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import County
from crm.service import assignments as domain
from crm.service import coverage as coverage_domain
from crm.service.assignment_forms import AUTO_SUGGEST, AssignForm, BulkAssignForm, CoverageFilterForm, EndForm
from crm.service.views import IdUrls

bp = Blueprint("assignments", __name__, url_prefix="/assignments")

COVERAGE_PER_PAGE = 50


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"SPECIALTIES": domain.SPECIALTIES, "who": domain.who}


# --- the coverage matrix -------------------------------------------------------------------------------------

def _chooser(user: Any) -> Markup:
    """The bulk form's commissioner ``<option>``s: :func:`crm.service.assignments.assignable_commissioners` (the
    same users, order and labels as :meth:`BulkAssignForm.fill_choices`: name, username, specialties, county;
    ``data-specialties`` for the page's script), first "自动建议".

    Read as plain columns in one statement (the specialties aggregated per user) and written as markup here: at
    provincial scale that is 500 commissioners, and as users with their county and specialty rows, then 500 WTForms
    choices drawn by a template loop, it cost ≈ 8 ms of the page's Python (benchmarks/README.md, "Fourth pass")."""
    stmt = (sa.select(User.username, User.display_name, County.name,
                      sa.func.aggregate_strings(UserSpecialty.specialty, " "))
            .outerjoin(County, User.county_id == County.id)
            .outerjoin(UserSpecialty, UserSpecialty.user_id == User.id)
            .where(User.role == Role.COMMISSIONER, User.active.is_(True))
            .group_by(User.id, User.username, User.display_name, County.name).order_by(User.username))
    if getattr(user, "county_id", None) is not None:
        stmt = stmt.where(sa.or_(User.county_id.is_(None), User.county_id == user.county_id))
    # Kept per process while the users, their specialties and the counties are unchanged (kind ``reference``,
    # migration b4e1d7a9c3f2): the statement and the 500 escaped options were ≈ 4 ms of every view.
    return cache.cached_built("assignments.chooser", ("reference",), stmt, _chooser_markup)


def _chooser_markup(rows: tuple[tuple[Any, ...], ...]) -> Markup:
    """The options of :func:`_chooser` from its rows ``(username, name, county, specialty codes)``."""
    order = {s.value: n for n, s in enumerate(Specialty)}
    shown: dict[str | None, tuple[str, str]] = {}  # aggregated codes → (codes in order, labels): few distinct sets
    parts = [f'<option value="">{AUTO_SUGGEST}</option>']
    for username, name, county, codes in rows:
        found = shown.get(codes)
        if found is None:
            specialties = [Specialty(c) for c in sorted(set((codes or "").split()), key=order.__getitem__)]
            found = shown[codes] = (str(escape(" ".join(s.value for s in specialties))),
                                    "/".join(s.label for s in specialties) or "无专长")
        label = escape(f"{name}({username}) · {found[1]} · {county or '全市'}")
        parts.append(f'<option data-specialties="{found[0]}" value="{escape(username)}">{label}</option>')
    return Markup("".join(parts))  # noqa: S704  (every value escaped above)


@bp.route("/")
@login_required
@page
def index():
    form = CoverageFilterForm(formdata=request.args)
    form.fill_choices(current_user)
    filters = form.filters()
    status, arg_errors = 200, []
    try:
        page_no, per_page = parse_page_args(request.args, COVERAGE_PER_PAGE)
    except DomainError as err:  # a bad page number: say so, show the first page
        arg_errors.append(err)
        status, page_no, per_page = 400, 1, COVERAGE_PER_PAGE
    try:
        result = coverage_domain.coverage_page(current_user, page_no, per_page, clamp=True, **filters)
    except DomainError as err:  # an unknown list or gap filter in the address: say so, show everything
        arg_errors.insert(0, err)
        status = 400
        filters.update(roster="", missing="")
        form.roster.data = form.missing.data = ""
        result = coverage_domain.coverage_page(current_user, page_no, per_page, clamp=True, **filters)
    bulk = chooser = None
    if domain.may_assign(current_user):
        bulk = BulkAssignForm(formdata=None)
        chooser = _chooser(current_user)
    link_args: dict[str, Any] = {name: value for name, value in filters.items() if value}
    if per_page != COVERAGE_PER_PAGE:
        link_args["per_page"] = per_page
    rows = result.page.items
    # The rows drawn are kept with the rows read (crm.core.cache.cached_markup): the same page, scope and filters
    # (the key), the check boxes or not, under the same data versions. Drawing 50 rows × 5 cells was ≈ 14 ms of a
    # view at provincial scale (benchmarks/README.md, "Eighth pass").
    rows_markup = cache.cached_markup(
        "coverage.rows", coverage_domain.COUNT_KINDS,
        None if result.key is None else (request.script_root, bulk is not None, *result.key),
        lambda: render_template("service/assignments/_rows.html", rows=rows, bulk=bulk is not None,
                                enterprise_url=IdUrls("assignments.enterprise", "enterprise_id")))
    return render_template(
        "service/assignments/index.html", form=form, page=result.page, rows=rows, rows_markup=rows_markup,
        gap_counts=result.gap_counts, bulk=bulk, chooser=chooser, arg_errors=arg_errors, filtered=any(filters.values()),
        link_args=link_args, cap=domain.cap(),
    ), status


# --- bulk ------------------------------------------------------------------------------------------------

@bp.route("/bulk", methods=["POST"])
@login_required
@page
def bulk():
    if not domain.may_assign(current_user):
        raise Forbidden(domain.FORBIDDEN_MESSAGE)
    form = BulkAssignForm()
    form.fill_choices([])
    found: dict[int, Enterprise] = {}

    def assign() -> Any:
        ids = form.ids()
        stmt = scope(current_user, Enterprise, sa.select(Enterprise).where(Enterprise.id.in_(ids)))
        found.update((e.id, e) for e in db.session.scalars(stmt))
        commissioner = domain.commissioner_by_username(form.commissioner.data) if form.commissioner.data else None
        return domain.bulk_assign(current_user, [found[i] for i in ids if i in found],
                                  Specialty(form.specialty.data), commissioner)

    # A concurrent assignment that took a slot between check and write is the conflict message, flashed.
    assigned = attempt(assign, form, show="flash", invalid="请检查批量分配的选择")
    if not assigned:
        return redirect(url_for(".index"))
    missing = [i for i in form.ids() if i not in found]  # not there, or not visible: the page does not say which
    return render_template("service/assignments/bulk_result.html", result=assigned.value, missing=missing)


# --- one enterprise --------------------------------------------------------------------------------------

def _load(enterprise_id: int) -> Enterprise:
    return load(Enterprise, enterprise_id, Action.VIEW)  # 404 when the user may not see it


def _forms(enterprise: Enterprise, submitted: tuple[str, Specialty] | None, posted: Any) -> dict[str, Any]:
    """Per specialty: the assign and end forms, filled for the page (the submitted one keeps its input)."""
    active = domain.active_by_specialty(enterprise)
    found = domain.candidates_by_specialty(enterprise)
    forms: dict[str, Any] = {"assign": {}, "end": {}, "active": active, "candidates": found, "suggested": {}}
    for s in domain.SPECIALTIES:
        suggested = next((c.user for c in found[s] if not c.at_cap), None)
        forms["suggested"][s] = suggested
        assign_form = posted if submitted == ("assign", s) else AssignForm(prefix=f"assign-{s.value}", formdata=None)
        end_form = posted if submitted == ("end", s) else EndForm(prefix=f"end-{s.value}", formdata=None)
        current = active[s].commissioner if active[s] else None
        assign_form.fill_choices(s, found[s], suggested, current)
        forms["assign"][s] = assign_form
        forms["end"][s] = end_form
    return forms


def _submitted() -> tuple[tuple[str, Specialty] | None, Any]:
    """Which of the page's forms was posted (by its submit button), bound to the request's data."""
    for s in domain.SPECIALTIES:
        assign_form = AssignForm(prefix=f"assign-{s.value}")
        if assign_form.submit.data:
            return ("assign", s), assign_form
        end_form = EndForm(prefix=f"end-{s.value}")
        if end_form.submit.data:
            return ("end", s), end_form
    return None, None


@bp.route("/enterprise/<int:enterprise_id>", methods=["GET", "POST"])
@login_required
@page
def enterprise(enterprise_id: int):
    enterprise = _load(enterprise_id)
    editable = domain.can_assign(current_user, enterprise)
    submitted, posted, status, page_error = None, None, 200, None
    if request.method == "POST":
        domain.require_assign(current_user, enterprise)  # 403 for commissioners and leaders
        submitted, posted = _submitted()
        if posted is None:
            flash("请选择要执行的操作", "warning")
            return redirect(url_for(".enterprise", enterprise_id=enterprise.id))
        action, specialty = submitted
        done = attempt(lambda: (_assign if action == "assign" else _end)(enterprise, specialty, posted), posted,
                       notice="page", invalid=None, success=lambda message: message)
        if done:
            return redirect(url_for(".enterprise", enterprise_id=enterprise_id, _anchor=f"s-{specialty.value}"))
        status, page_error = done.status, done.notice
    forms = _forms(enterprise, submitted, posted)
    return render_template("service/assignments/enterprise.html", enterprise=enterprise, editable=editable,
                           forms=forms, history=domain.history(enterprise), page_error=page_error,
                           cap=domain.cap()), status


def _assign(enterprise: Enterprise, specialty: Specialty, form: AssignForm) -> str:
    commissioner = domain.commissioner_by_username(form.commissioner.data)
    before = domain.active_for(enterprise, specialty)
    before_id = before.commissioner_id if before else None
    domain.assign(current_user, enterprise, specialty, commissioner)
    if before_id == commissioner.id:
        return f"{specialty.label}服务专员仍为 {domain.who(commissioner)},未作更改"
    if before_id is not None:
        return f"{specialty.label}服务已交接给 {domain.who(commissioner)}"
    return f"已将{specialty.label}服务分配给 {domain.who(commissioner)}"


def _end(enterprise: Enterprise, specialty: Specialty, form: EndForm) -> str:
    current = domain.active_for(enterprise, specialty)
    if current is None:
        raise Conflict(f"该企业当前没有{specialty.label}服务专员", code="not_assigned")
    name = domain.who(current.commissioner)
    domain.end_assignment(current_user, current, form.reason.data)
    return f"已结束 {name} 的{specialty.label}服务分配"
