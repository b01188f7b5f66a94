"""The commissioners' daily pages (blueprint ``service``): 诉求 from raising to closure with the ledger (诉求台账)
and its Excel export here; the workspace (我的企业) and 服务记录 in :mod:`crm.service.interaction_views`.

Each view parses, loads, asks ``access.require`` (404 when the user may not see the record, 403 when they may
see but not change it: leaders read only), calls :mod:`crm.service.interactions` /
:mod:`crm.service.requests`, commits once and renders or redirects. A refusal is rolled back whole and shown in
Chinese next to its field, at the top of the form or flashed; bad input never answers 500.

A change loads its record with ``lock_request`` / ``lock_interaction`` (:mod:`crm.core.transactions`), then
access is checked, then the domain function runs, then one commit. Two people writing at once therefore queue,
and the second one is told "该记录已被他人修改,请刷新后重试" (a stale ``version``) instead of overwriting the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote_plus

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup, escape
from sqlalchemy.orm import joinedload, selectinload
from wtforms.fields.choices import SelectChoice

from crm.auth.models import Role, User
from crm.core import cache, spreadsheet
from crm.core.access import Action, can, require, scope, who_may
from crm.core.errors import DomainError, Forbidden, ValidationFailed
from crm.core.messages import FORM_EXPIRED, STALE_MESSAGE
from crm.core.pages import attempt, csrf_failed, error_text, load, page, place_errors
from crm.core.pagination import Page, parse_page_args
from crm.core.parsing import MAX_ID, parse_id
from crm.core.time import local_today
from crm.core.urls import IdUrls
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import County, Department, all_of, names_of
from crm.service import policy as policy_domain
from crm.service import requests as request_domain
from crm.service import routing
from crm.service.access import is_liaison
from crm.service.forms import (
    DUE_DATE_HINT,
    RequestFilterForm,
    RequestForm,
    RouteForm,
    TransitionForm,
)
from crm.service.ledger import XLSX_MIMETYPE, ledger_filename, ledger_xlsx
from crm.service.models import (
    Interaction,
    RequestEvent,
    RequestStatus,
    ServiceRequest,
)

bp = Blueprint("service", __name__, url_prefix="/service")

S = RequestStatus
OPEN = request_domain.OPEN_STATUSES
# The satisfaction field on the transition form: needed to close, optional when reopening after a 回访.
SATISFACTION_RULE = {(S.RESOLVED, S.CLOSED): "required", (S.RESOLVED, S.IN_PROGRESS): "optional"}
STATUS_BADGES = {S.RAISED: "text-bg-secondary", S.ACCEPTED: "text-bg-info", S.IN_PROGRESS: "text-bg-primary",
                 S.RESOLVED: "text-bg-warning", S.CLOSED: "text-bg-success"}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"STATUS_BADGES": STATUS_BADGES, "is_overdue": request_domain.is_overdue, "today": local_today()}


# The query-string quoting of werkzeug's URL building (werkzeug.urls._urlencode: urlencode with these safe
# characters), for a value put into a URL built once around a marker (templates/service/_by_department.html).
QUERY_SAFE = "!$'()*,/:;?@"


@bp.app_template_filter("query_value")
def query_value(value: Any) -> str:
    """``value`` quoted as ``url_for`` quotes a query-string value (tested against it)."""
    return quote_plus(str(value), safe=QUERY_SAFE)


# --- small helpers -------------------------------------------------------------------------------------------

def _arg_id(name: str) -> int | None:
    """A positive id from the query string; ``None`` when absent; 404 when it cannot be a record's id."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    number = parse_id(raw)
    if number is None:
        abort(404)
    return number


def _load_enterprise(enterprise_id: int, action: Action) -> Enterprise:
    return load(Enterprise, enterprise_id, action)  # 404 when not visible, 403 when visible but not changeable


def _found(obj: Any, action: Action) -> Any:
    if obj is None:
        abort(404)
    require(current_user, action, obj)
    return obj


def _is_commissioner(user: Any) -> bool:
    return getattr(user, "role", None) is Role.COMMISSIONER


def _may_log(user: Any) -> bool:
    """Whether the user writes 服务记录 and 诉求 at all (not a leader); per enterprise ``can(EDIT)`` decides."""
    return can(user, Action.EDIT)


# --- 诉求: the ledger ------------------------------------------------------------------------------------

def _request_filters(form: RequestFilterForm) -> dict[str, Any]:
    statuses = [value.strip() for raw in (form.status.data or []) for value in str(raw).split(",")
                if value.strip()]
    enterprise_id = None
    raw = (form.enterprise_id.data or "").strip()
    if raw:
        enterprise_id = parse_id(raw)
        if enterprise_id is None:
            raise ValidationFailed("筛选条件不正确", {"enterprise_id": "企业编号不正确"})
    return {"status": statuses or None, "overdue": {"1": True, "0": False}.get(form.overdue.data or ""),
            "county": (form.county.data or "").strip() or None,
            "category": (form.category.data or "").strip() or None,
            "owner": (form.owner.data or "").strip() or None, "enterprise_id": enterprise_id,
            "department": (form.department.data or "").strip() or None}


def _ledger_statement(form: RequestFilterForm, errors: list[DomainError]) -> tuple[sa.Select, dict[str, Any]]:
    """The filtered, scoped statement; a bad filter is reported in ``errors`` and dropped."""
    filters: dict[str, Any] = {}
    try:
        filters = _request_filters(form)
    except DomainError as err:
        errors.append(err)
        form.enterprise_id.data = ""
        filters = _request_filters(form)
    for _ in range(len(filters) + 1):
        try:
            return request_domain.requests_statement(current_user, **filters), filters
        except DomainError as err:
            errors.append(err)
            dropped = [name for name in err.fields if name in filters] or list(filters)
            for name in dropped:
                filters[name] = None
                if name in form._fields:
                    form._fields[name].data = [] if name == "status" else ""
    return request_domain.requests_statement(current_user), {}


def _with_relations(stmt: sa.Select) -> sa.Select:
    return stmt.options(
        selectinload(ServiceRequest.enterprise), selectinload(ServiceRequest.owner),
        selectinload(ServiceRequest.department))


def _request_owners(user: User) -> sa.Select:
    """The owners of the requests ``user`` may see (the owner filter's choices) as a statement of
    ``(username, name, county)``.

    Plain columns: at provincial scale there are 500 of them, and whole users (with their county and, by a second
    statement, their specialties) cost ≈ 10 ms a view."""
    visible = scope(user, ServiceRequest, sa.select(ServiceRequest.owner_id).where(
        ServiceRequest.owner_id.is_not(None)))
    return (sa.select(User.username, User.display_name, County.name).outerjoin(County, County.id == User.county_id)
            .where(User.id.in_(visible)).order_by(User.username))


def options_html(choices: Iterable[tuple[str, str]], selected: Any) -> Markup:
    """``<option>``s of ``(value, label)`` choices, the one whose value equals ``selected`` (a field's ``data``)
    marked: the same bytes as the templates' loop over a field's ``iter_choices()``, joined in Python. The owner
    filter and the workspace's commissioner chooser have 500 options at provincial scale: 500 ``SelectChoice``s
    and a template loop over them cost ≈ 3–5 ms a view (benchmarks/README.md, "Fourth pass: workspace and
    ledger")."""
    return Markup("".join(  # noqa: S704 - every value and label is escaped
        f'<option {"selected " if value == selected else ""}value="{escape(value)}">{escape(label)}</option>'
        for value, label in choices))


def user_label(username: str, name: str, county: str | None) -> str:
    """:func:`crm.service.forms.user_choice`'s label from plain columns: ``name(username) · county``."""
    return f"{name}({username})" + (f" · {county}" if county else "")


def with_selected(options: Markup, selected: Any) -> Markup:
    """``options`` (from :func:`options_html` with nothing selected) with the option whose value is ``selected``
    marked: the same bytes as :func:`options_html` with ``selected``, for options kept drawn (values are unique
    and every label escaped, so the first ``<option value="…">`` of that value is the one)."""
    if not isinstance(selected, str):
        return options
    value = escape(selected)  # str's replace: Markup's would escape the tags it is given
    return Markup(str.replace(options, f'<option value="{value}">', f'<option selected value="{value}">', 1))  # noqa: S704


# What the owner filter reads: the requests' owners within the user's scope (through the enterprises' assignments
# for a commissioner) and the users' names and counties.
OWNER_KINDS = ("requests", "assignments", "reference")


def _owner_markup(rows: tuple[tuple[Any, ...], ...]) -> Markup:
    return options_html([("", "全部负责人"), *((username, user_label(username, name, county))
                                               for username, name, county in rows)], None)


def _owner_options(form: RequestFilterForm) -> Markup:
    """The owner filter's options (:func:`crm.service.forms.user_choice`'s labels) for the ledger page, drawn once
    per change of what they read (:data:`OWNER_KINDS`; crm/core/cache.py): the statement (≈ 3 ms at provincial
    scale: 500 owners among 300,000 requests) and 500 escaped options were read and drawn on every view."""
    options = cache.cached_built("requests.owner_options", OWNER_KINDS, _request_owners(current_user), _owner_markup)
    return with_selected(options, form.owner.data)


def _filter_form() -> RequestFilterForm:
    """The ledger's filter form, its county and department choices filled; the owner's 500 are drawn by
    :func:`_owner_options` on the page (the export only reads the chosen one)."""
    form = RequestFilterForm(formdata=request.args)
    own = current_user.county_id
    departments = [] if is_liaison(current_user) else [name for _, name in names_of(Department)]
    form.fill_choices([name for id_, name in names_of(County) if own is None or id_ == own], [], departments)
    return form


def _link_args(filters: dict[str, Any]) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if filters.get("status"):
        args["status"] = list(filters["status"])
    if filters.get("overdue") is not None:
        args["overdue"] = "1" if filters["overdue"] else "0"
    for name in ("county", "category", "owner", "enterprise_id", "department"):
        if filters.get(name):
            args[name] = filters[name]
    return args


@bp.route("/requests/")
@login_required
@page
def requests_index():
    errors: list[DomainError] = []
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        errors.append(err)
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    form = _filter_form()
    stmt, filters = _ledger_statement(form, errors)
    # The per-department counts group exactly the rows the list shows: their totals add up to its count, so the
    # 46,000 rows of the city-wide overdue ledger are counted once (an index-only scan), not twice.
    by_department = request_domain.department_counts(stmt, local_today(), only_overdue=filters.get("overdue") is True)
    page = Page(items=request_domain.ledger_rows(stmt, page_no, per_page),  # plain columns, one statement
                total=sum(row["total"] for row in by_department), page=page_no, per_page=per_page)
    today = local_today()
    # The rows drawn are kept with the rows read (crm.core.cache.cached_markup): the same page, scope and filters,
    # the same day (what is overdue), under the same data versions. Drawing 50 rows was ≈ 5 ms of a view.
    rows_markup = cache.cached_markup(
        "requests.ledger", request_domain.COUNT_KINDS,
        (request.script_root, today, *request_domain.ledger_key(stmt, page_no, per_page)) if page.items else None,
        lambda: render_template("service/requests/_rows.html", rows=page.items, today=today,
                                detail_url=IdUrls("service.request_detail", "request_id")))
    enterprise = None
    if filters.get("enterprise_id"):
        found = db.session.get(Enterprise, filters["enterprise_id"])
        enterprise = found if found is not None and can(current_user, Action.VIEW, found) else None
    link_args = _link_args(filters)
    page_args = dict(link_args, per_page=per_page) if request.args.get("per_page") and not errors else link_args
    return render_template("service/requests/index.html", form=form, page=page, errors=errors,
                           owner_options=_owner_options(form), rows_markup=rows_markup,
                           link_args=link_args, page_args=page_args, enterprise=enterprise,
                           may_raise=enterprise is not None and can(current_user, Action.EDIT, enterprise),
                           filtered=bool(link_args), today=today,
                           by_department=by_department,
                           liaison=is_liaison(current_user)), (400 if errors else 200)


@bp.route("/requests/export.xlsx")
@login_required
@page
def requests_export():
    """The 诉求台账 of every request the list shows with the same filters (oldest raised first)."""
    form = _filter_form()
    stmt = request_domain.requests_statement(current_user, **_request_filters(form))  # bad filter: 422 page
    stmt = _with_relations(stmt.order_by(None).order_by(ServiceRequest.raised_on, ServiceRequest.id))
    today = local_today()
    data = ledger_xlsx(db.session.scalars(stmt), today=today)
    return spreadsheet.download(data, XLSX_MIMETYPE, ledger_filename(today))


# --- 诉求: raising -------------------------------------------------------------------------------------------

def _eligible_owners(enterprise: Enterprise) -> list[User]:
    """Users who may own a request of ``enterprise`` (the domain's rule: may edit it): admins, coordinators of
    its county or city-wide, and its active commissioners; judged by the registered access rule in one query."""
    order = [Role.COMMISSIONER, Role.COORDINATOR, Role.ADMIN]
    users = db.session.scalars(sa.select(User).where(User.active.is_(True)).options(joinedload(User.county)))
    return sorted(who_may(users, Action.EDIT, enterprise), key=lambda u: (order.index(u.role), u.username))


@bp.route("/requests/new", methods=["GET", "POST"])
@login_required
@page
def request_new():
    enterprise_id = _arg_id("enterprise_id")
    if enterprise_id is None:
        flash("请先在“我的企业”中选择要登记诉求的企业", "warning")
        return redirect(url_for(".workspace"))
    enterprise = _load_enterprise(enterprise_id, Action.EDIT)
    form = RequestForm()
    form.fill_choices(_eligible_owners(enterprise), [d.name for d in all_of(Department)])
    status = 200
    if request.method == "GET":
        form.owner.data = current_user.username if _is_commissioner(current_user) else ""
        interaction_id = request.args.get("interaction_id", "").strip()
        form.interaction_id.data = interaction_id if interaction_id.isascii() and interaction_id.isdigit() else ""
    else:
        raised = attempt(lambda: request_domain.raise_request(current_user, enterprise, form.to_data()), form)
        if raised:
            req = raised.value
            note = request_domain.due_note(req)
            flash(f"已登记诉求,办理时限 {req.due_date.isoformat()}" + (f"({note})" if note else ""), "success")
            return redirect(url_for(".request_detail", request_id=req.id))
        status = raised.status
    source = None
    interaction_id = parse_id(form.interaction_id.data or "")
    if interaction_id is not None:
        found = db.session.get(Interaction, interaction_id)
        source = found if found is not None and found.enterprise_id == enterprise.id else None
    return render_template("service/requests/new.html", form=form, enterprise=enterprise, source=source,
                           due_date_hint=DUE_DATE_HINT), status


# --- 诉求: one request, its timeline and its transitions -------------------------------------------------------

def _transition_form(req: ServiceRequest, formdata: Any = None) -> TransitionForm:
    form = TransitionForm(formdata=formdata) if formdata is not None else TransitionForm(formdata=None)
    form.to.choices = [
        SelectChoice(s.value, f"{request_domain.ACTION_LABELS[(req.status, s)]}(→ {s.label})",
                     render_kw={"data-satisfaction": SATISFACTION_RULE.get((req.status, s), "none")})
        for s in request_domain.allowed_for(current_user, req)]
    if formdata is None:
        form.version.data = str(req.version)
        if len(form.to.choices) == 1:
            form.to.data = form.to.choices[0].value
    return form


def _route_form(current: Department | None, formdata: Any = None) -> RouteForm:
    form = RouteForm(formdata=formdata)
    form.fill_choices([d.name for d in all_of(Department)], current.name if current else None)
    return form


def _render_request(req: ServiceRequest, form: TransitionForm | None, status: int = 200, *,
                    route_form: RouteForm | None = None):
    events = list(db.session.scalars(
        sa.select(RequestEvent).where(RequestEvent.request_id == req.id)
        .options(joinedload(RequestEvent.actor)).order_by(RequestEvent.id)))
    editable = can(current_user, Action.EDIT, req)
    if editable and form is None:
        form = _transition_form(req)
    if form is not None and not form.to.choices and not form.errors:
        form = None  # a liaison's request awaiting its 回访: nothing for them to do
    routable = routing.may_route(current_user, req)
    if routable and route_form is None:
        route_form = _route_form(req.department)
    return render_template("service/requests/detail.html", req=req, events=events,
                           form=form if editable else None, due_note=request_domain.due_note(req),
                           overdue=request_domain.is_overdue(req), editable=editable,
                           route_form=route_form if routable else None,
                           shows_enterprise=can(current_user, Action.VIEW, req.enterprise),
                           shows_interaction=req.interaction is not None
                           and can(current_user, Action.VIEW, req.interaction),
                           contacts=routing.contacts_for(current_user, req.enterprise)), status


@bp.route("/requests/<int:request_id>")
@login_required
@page
def request_detail(request_id: int):
    return _render_request(load(ServiceRequest, request_id, Action.VIEW), None)


@bp.route("/requests/<int:request_id>/transition", methods=["POST"])
@login_required
@page
def request_transition(request_id: int):
    req = request_domain.lock_request(request_id) if request_id <= MAX_ID else None
    _found(req, Action.EDIT)  # 404 when not visible, 403 for a leader
    form = _transition_form(req, request.form)
    detail = url_for(".request_detail", request_id=request_id)
    if not form.validate_on_submit():
        flash(FORM_EXPIRED if csrf_failed(form) else "请检查状态变更的内容", "danger")
        return redirect(detail, 303)
    if not form.to.data:
        form.to.errors = ["请选择要变更的状态"]
        return _render_request(req, form, 422)
    before = req.status
    moved = attempt(lambda: request_domain.transition(
        current_user, req, form.to.data, note=form.note.data or "", satisfaction=form.satisfaction.data or None,
        version=form.version.data or "missing"), form, validate=False, show="caller", notice="page",
        conflict=STALE_MESSAGE)
    err = moved.error
    if isinstance(err, ValidationFailed) and not ("to" in err.fields or "version" in err.fields):
        place_errors(form, err)  # a note or a satisfaction score to correct on the form
        return _render_request(req, form, err.status)
    if err is not None:  # not a status code, a tampered or stale version, an illegal transition: say why
        flash(error_text(err) if isinstance(err, ValidationFailed) else err.message, "danger")
        return redirect(detail, 303)
    label = request_domain.ACTION_LABELS[(before, req.status)]
    flash(f"诉求已{label}:{before.label} → {req.status.label}", "success")
    return redirect(detail, 303)


@bp.route("/requests/<int:request_id>/route", methods=["POST"])
@login_required
@page
def request_route(request_id: int):
    """转办 / 改派: a coordinator or an admin sends the request to a department with a note."""
    req = request_domain.lock_request(request_id) if request_id <= MAX_ID else None
    _found(req, Action.VIEW)  # 404 when not visible; the domain refuses who may not route (403)
    if not routing.may_route(current_user, req):
        raise Forbidden(routing.NOT_ROUTER)
    form = _route_form(req.department, request.form)
    before = req.department.name if req.department else None
    routed = attempt(lambda: routing.route_request(current_user, req, form.department.data, form.note.data),
                     form, invalid=None)
    if routed:
        flash(f"诉求已转办至{req.department.name}" if before is None
              else f"诉求已由{before}改派至{req.department.name}", "success")
        return redirect(url_for(".request_detail", request_id=request_id), 303)
    if csrf_failed(form):
        flash(FORM_EXPIRED, "danger")
        return redirect(url_for(".request_detail", request_id=request_id), 303)
    return _render_request(req, None, routed.status, route_form=form)


# --- the liaison's home: their department's routed records, overdue first --------------------------------------

@bp.route("/department")
@login_required
@page
def department_home():
    if not is_liaison(current_user):
        return redirect(url_for(".requests_index"))
    today = local_today()
    requests_ = routing.department_requests(current_user, today)
    deliveries = routing.department_deliveries(current_user, today)
    return render_template("service/department.html", requests=requests_, deliveries=deliveries, today=today,
                           department=current_user.department, is_late=policy_domain.is_late)


# The workspace and 服务记录 pages register on ``bp`` too (they use the helpers above).
from crm.service import interaction_views as _interaction_views  # noqa: E402, F401
