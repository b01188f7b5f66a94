"""政策兑现 pages: the list with its filters and totals, the create form, and one record (edit, mark delivered,
cancel with a reason, put back to promised).

Each view loads, asks ``access.require`` (a record the user may not see → 404; a change they may not make → 403:
leaders read everything and change nothing; commissioners only their enterprises), calls
:mod:`crm.service.policy`, commits once and renders or redirects. The domain's refusals are shown in Chinese next
to their fields; a stale version (someone else saved first) is refused with a clear message and nothing written.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, lazyload

from crm.auth.models import Role, User
from crm.core.access import Action, can, require, scope, who_may
from crm.core.audit import AuditLog
from crm.core.errors import DomainError, Forbidden
from crm.core.messages import FORM_EXPIRED, STALE_MESSAGE
from crm.core.pages import attempt, csrf_failed, load, page, place_errors
from crm.core.pagination import paginate, parse_page_args
from crm.core.parsing import MAX_ID, parse_id
from crm.core.time import local_today
from crm.core.transactions import lock_for_update
from crm.enterprises.domain import search_statement
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import County, Department, all_of
from crm.service import policy, routing
from crm.service.access import is_liaison
from crm.service.forms import RouteForm
from crm.service.models import DeliveryStatus, PolicyDelivery
from crm.service.policy_forms import (
    CancelForm,
    CreateDeliveryForm,
    DeliverForm,
    EditDeliveryForm,
    PickEnterpriseForm,
    PolicyFilterForm,
    ReopenForm,
)

bp = Blueprint("policy", __name__, url_prefix="/policy")

BOOL_ARGS = {"": None, "1": True, "0": False}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"LATE_LABEL": policy.LATE_LABEL, "money": money}


def money(value: Decimal | None) -> str:
    """An amount in 万元 as people read it (``1,234.5``); ``—`` when there is none."""
    if value is None:
        return "—"
    text = f"{value:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- helpers -------------------------------------------------------------------------------------------------

def _int_arg(value: str | None) -> int | None:
    return parse_id(value or "")


def _load(delivery_id: int) -> PolicyDelivery:
    return load(PolicyDelivery, delivery_id, Action.VIEW)  # 404 when the user may not see its enterprise


def _owners(enterprise: Enterprise, current: User | None) -> list[User]:
    """Who may be put in charge: the active commissioners and coordinators who may change the enterprise (its
    registered access rule, judged in one query), the signed-in user when they may, and the present owner.
    The domain has the last word."""
    offered = db.session.scalars(
        sa.select(User).where(User.role.in_((Role.COMMISSIONER, Role.COORDINATOR)), User.active.is_(True))
        .options(lazyload(User.specialty_rows)))
    found = {user.id: user for user in who_may([*offered, current_user._get_current_object()], Action.EDIT,
                                               enterprise)}
    if current is not None:
        found.setdefault(current.id, current)
    return sorted(found.values(), key=lambda u: (u.role is not Role.COMMISSIONER, u.username))


# --- the list ------------------------------------------------------------------------------------------------

def _totals(stmt: sa.Select, today: date) -> dict[str, Any]:
    """Count, promised amount (cancelled ones left out), delivered amount and late count of the filtered rows."""
    ids = stmt.order_by(None).with_only_columns(PolicyDelivery.id)
    status = PolicyDelivery.status
    row = db.session.execute(sa.select(
        sa.func.count(PolicyDelivery.id),
        sa.func.sum(sa.case((status != DeliveryStatus.CANCELLED, PolicyDelivery.amount), else_=0)),
        sa.func.sum(sa.case((status == DeliveryStatus.DELIVERED, PolicyDelivery.amount), else_=0)),
        sa.func.sum(sa.case((policy.late_clause(today), 1), else_=0)),
    ).where(PolicyDelivery.id.in_(ids))).one()
    return {"count": row[0] or 0, "promised": Decimal(row[1] or 0), "delivered": Decimal(row[2] or 0),
            "late": int(row[3] or 0)}


@bp.route("/")
@login_required
@page
def index():
    today = local_today()
    arg_errors: list[str] = []
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        arg_errors.extend(err.fields.values())
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    form = PolicyFilterForm(formdata=request.args)
    form.fill_choices(current_user)
    filters = form.filters()
    if filters["late"] not in BOOL_ARGS:
        arg_errors.append("逾期筛选只能是 1(只看逾期)或 0(未逾期)")
        filters["late"] = form.late.data = ""
    enterprise_id = _int_arg(filters["enterprise_id"])
    if filters["enterprise_id"] and enterprise_id is None:
        arg_errors.append("企业编号不正确")
        filters["enterprise_id"] = form.enterprise_id.data = ""
    query = {"enterprise_id": enterprise_id, "kind": filters["kind"], "status": filters["status"],
             "late": BOOL_ARGS[filters["late"]], "county": filters["county"], "department": filters["department"],
             "today": today}
    try:
        stmt = policy.deliveries_statement(current_user, **query)
    except DomainError as err:  # an unknown kind, status or county in the address: say so, drop it
        arg_errors.extend(err.fields.values())
        for name in err.fields:
            if name in query:
                query[name] = None
                filters[name] = ""
                getattr(form, name).data = ""
        stmt = policy.deliveries_statement(current_user, **query)
    if filters["q"] and is_liaison(current_user):  # no registry search for them: the names of their records
        stmt = stmt.where(Enterprise.name.contains(filters["q"], autoescape=True))
    elif filters["q"]:
        matching = search_statement(current_user, q=filters["q"]).order_by(None).with_only_columns(Enterprise.id)
        stmt = stmt.where(PolicyDelivery.enterprise_id.in_(matching))
    totals = _totals(stmt, today)
    by_department = [] if is_liaison(current_user) else routing.delivery_counts(stmt, today)
    page = paginate(stmt.options(joinedload(PolicyDelivery.enterprise).joinedload(Enterprise.county),
                                 joinedload(PolicyDelivery.owner).lazyload(User.specialty_rows)),
                    page_no, per_page)
    enterprise = db.session.get(Enterprise, enterprise_id) if enterprise_id else None
    if enterprise is not None and not can(current_user, Action.VIEW, enterprise):
        enterprise = None  # its name is not shown to someone who may not see it
    link_args = {k: v for k, v in filters.items() if v}
    if request.args.get("per_page") and not arg_errors:
        link_args["per_page"] = per_page
    return render_template(
        "service/policy/index.html", form=form, page=page, totals=totals, today=today, link_args=link_args,
        arg_errors=arg_errors, enterprise=enterprise, filtered=any(filters.values()),
        may_create=can(current_user, Action.EDIT) and not is_liaison(current_user), is_late=policy.is_late,
        by_department=by_department, liaison=is_liaison(current_user),
    ), (400 if arg_errors else 200)


# --- create --------------------------------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@login_required
@page
def new():
    raw = request.args.get("enterprise_id", "")
    if not raw.strip():
        return _pick_enterprise()
    enterprise_id = _int_arg(raw)
    enterprise = db.session.get(Enterprise, enterprise_id) if enterprise_id else None
    if enterprise is None:
        abort(404)
    require(current_user, Action.EDIT, enterprise)  # 404 out of scope, 403 for leaders
    form = CreateDeliveryForm()
    form.fill_choices(_owners(enterprise, None))
    created = attempt(lambda: policy.create_delivery(current_user, enterprise, form.to_data()), form,
                      notice="page", invalid=None,
                      success=lambda delivery: f"已登记政策兑现({delivery.kind.value})")
    if created:
        return redirect(url_for(".detail", delivery_id=created.value.id))
    if not form.is_submitted() and current_user.role is Role.COMMISSIONER:
        form.owner.data = current_user.username
    return render_template("service/policy/form.html", form=form, enterprise=enterprise, delivery=None,
                           page_error=created.notice), created.status


def _pick_enterprise():
    """``/policy/new`` without an enterprise: choose one of those the user may change."""
    require(current_user, Action.EDIT)  # leaders change nothing
    stmt = scope(current_user, Enterprise, sa.select(Enterprise).join(Enterprise.county)).order_by(
        County.sort_order, Enterprise.name_pinyin, Enterprise.id).options(joinedload(Enterprise.county))
    form = PickEnterpriseForm(formdata=None)
    form.fill_choices(list(db.session.scalars(stmt)))
    return render_template("service/policy/pick.html", form=form)


# --- one record ----------------------------------------------------------------------------------------------

FORMS = {"edit": EditDeliveryForm, "deliver": DeliverForm, "cancel": CancelForm, "reopen": ReopenForm}
# Which status changes a record offers, by its status.
OFFERED = {
    DeliveryStatus.PROMISED: ("edit", "deliver", "cancel"),
    DeliveryStatus.DELIVERED: ("edit", "reopen"),
    DeliveryStatus.CANCELLED: ("edit", "reopen"),
}


def _initial(name: str, delivery: PolicyDelivery) -> dict[str, Any]:
    version = str(delivery.version)
    if name == "edit":
        return EditDeliveryForm.initial(delivery)
    if name == "deliver":
        return {"delivered_date": local_today().isoformat(), "evidence": delivery.evidence or "",
                "version": version}
    return {"version": version}


def _submitted() -> tuple[str | None, Any]:
    """Which of the page's forms was posted (by its submit button), bound to the request's data."""
    for name, cls in FORMS.items():
        form = cls(prefix=name)
        if form.submit.data:
            return name, form
    return None, None


# A liaison records the delivery (or puts a mistaken one back); the promise and a cancellation are not theirs.
LIAISON_OFFERED = {DeliveryStatus.PROMISED: ("deliver",), DeliveryStatus.DELIVERED: ("reopen",),
                   DeliveryStatus.CANCELLED: ()}


def _page_forms(delivery: PolicyDelivery, posted_name: str | None, posted: Any) -> dict[str, Any]:
    forms: dict[str, Any] = {}
    owners = None
    offered = LIAISON_OFFERED if is_liaison(current_user) else OFFERED
    for name in offered[delivery.status]:
        form = posted if name == posted_name else FORMS[name](prefix=name, formdata=None,
                                                              data=_initial(name, delivery))
        if name == "edit":
            owners = owners or _owners(delivery.enterprise, delivery.owner)
            form.fill_choices(owners)
        forms[name] = form
    if posted_name and posted_name not in forms:  # the status moved on meanwhile: keep showing the refusal
        forms[posted_name] = posted
        if posted_name == "edit":
            posted.fill_choices(_owners(delivery.enterprise, delivery.owner))
    return forms


@bp.route("/<int:delivery_id>", methods=["GET", "POST"])
@login_required
@page
def detail(delivery_id: int):
    delivery = _load(delivery_id)
    posted_name, posted, status, page_error = None, None, 200, None
    if request.method == "POST":
        require(current_user, Action.EDIT, delivery)  # 403 for leaders
        posted_name, posted = _submitted()
        if posted is None:
            flash("请选择要执行的操作", "warning")
            return redirect(url_for(".detail", delivery_id=delivery.id))
        saved = attempt(lambda: _save(posted_name, posted, delivery.id), posted, show="caller", notice="page",
                        conflict=STALE_MESSAGE, invalid=None)
        if saved:
            before, delivery = saved.value
            flash(_done_message(posted_name, before, delivery), "success")
            return redirect(url_for(".detail", delivery_id=delivery.id))
        status, page_error = saved.status, saved.notice
        if saved.error is not None and saved.error.code == "stale":
            page_error = STALE_MESSAGE  # someone else saved first: one message above the page's forms
        elif saved.error is not None:
            place_errors(posted, saved.error, {"evidence": "reason"} if posted_name == "cancel" else None)
    return _render_detail(delivery, posted_name, posted, status, page_error)


def _render_detail(delivery: PolicyDelivery, posted_name: str | None, posted: Any, status: int,
                   page_error: str | None, route_form: RouteForm | None = None):
    editable = can(current_user, Action.EDIT, delivery)
    forms = _page_forms(delivery, posted_name, posted) if editable else {}
    history = list(db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == policy.ENTITY, AuditLog.entity_id == delivery.id)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())))
    routable = routing.may_route(current_user, delivery)
    if routable and route_form is None:
        route_form = _route_form(delivery)
    return render_template(
        "service/policy/detail.html", delivery=delivery, forms=forms, editable=editable, page_error=page_error,
        late=policy.is_late(delivery), warnings=policy.warnings_of(delivery), history=history,
        route_form=route_form if routable else None,
        shows_enterprise=can(current_user, Action.VIEW, delivery.enterprise),
        contacts=routing.contacts_for(current_user, delivery.enterprise),
    ), status


def _route_form(delivery: PolicyDelivery, formdata: Any = None) -> RouteForm:
    form = RouteForm(formdata=formdata)
    form.fill_choices([d.name for d in all_of(Department)], delivery.department.name if delivery.department else None)
    return form


@bp.route("/<int:delivery_id>/route", methods=["POST"])
@login_required
@page
def route(delivery_id: int):
    """转办 / 改派: a coordinator or an admin sends the 政策兑现 to a department with a note."""
    delivery = lock_for_update(PolicyDelivery, delivery_id) if delivery_id <= MAX_ID else None
    if delivery is None:
        abort(404)
    require(current_user, Action.VIEW, delivery)  # 404 when not visible
    if not routing.may_route(current_user, delivery):
        raise Forbidden(routing.NOT_ROUTER)
    form = _route_form(delivery, request.form)
    before = delivery.department.name if delivery.department else None
    routed = attempt(lambda: routing.route_delivery(current_user, delivery, form.department.data, form.note.data),
                     form, invalid=None)
    if routed:
        flash(f"政策兑现已转办至{delivery.department.name}" if before is None
              else f"政策兑现已由{before}改派至{delivery.department.name}", "success")
        return redirect(url_for(".detail", delivery_id=delivery_id), 303)
    if csrf_failed(form):
        flash(FORM_EXPIRED, "danger")
        return redirect(url_for(".detail", delivery_id=delivery_id), 303)
    return _render_detail(delivery, None, None, routed.status, None, route_form=form)


def _save(name: str, form: Any, delivery_id: int) -> tuple[DeliveryStatus, PolicyDelivery]:
    """Apply the posted form to the record read afresh and held (PostgreSQL: FOR UPDATE), so the version check
    sees the latest save."""
    delivery = lock_for_update(PolicyDelivery, delivery_id)
    if delivery is None:
        abort(404)
    before = delivery.status
    data = form.to_data(with_delivered_date=before is DeliveryStatus.DELIVERED) if name == "edit" else form.to_data()
    policy.update_delivery(current_user, delivery, data)
    return before, delivery


def _done_message(name: str, before: DeliveryStatus, delivery: PolicyDelivery) -> str:
    if delivery.status is before:
        return "已保存修改" if name == "edit" else "没有需要保存的改动"
    return {DeliveryStatus.DELIVERED: f"已标记为已兑现(兑现日期 {delivery.delivered_date})",
            DeliveryStatus.CANCELLED: "已取消该项政策兑现",
            DeliveryStatus.PROMISED: "已改回待兑现"}[delivery.status]
