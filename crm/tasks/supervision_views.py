"""专项督导 pages (blueprint ``supervision``, ``/supervision/``): the visits, a visit with its rectification items,
the items ledger (整改台账: filter by unit, status, overdue; open and overdue counts per unit) and an item with
its transitions and history.

Each view loads, asks the access rules (:mod:`crm.tasks.supervision_access`: 404 when the user may not see the
record, 403 when they may see but not change it), calls :mod:`crm.tasks.supervision` through ``attempt`` (one
commit) and renders or redirects.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from crm.auth.models import Role, User
from crm.core.access import Action, can
from crm.core.audit import AuditEntity, AuditLog
from crm.core.errors import DomainError, ValidationFailed
from crm.core.messages import FORM_EXPIRED, STALE_MESSAGE
from crm.core.pages import attempt, csrf_failed, error_text, load, page, place_errors
from crm.core.pagination import paginate, parse_page_args
from crm.core.parsing import MAX_ID
from crm.core.time import local_today
from crm.extensions import db
from crm.reference.models import County, Department, all_of
from crm.tasks import supervision as domain
from crm.tasks.models import RectificationItem, RectificationStatus, SupervisionVisit, Task
from crm.tasks.supervision_access import may_read_report, may_record
from crm.tasks.supervision_forms import ItemFilterForm, ItemForm, ItemTransitionForm, VisitForm

bp = Blueprint("supervision", __name__, url_prefix="/supervision")

S = RectificationStatus
STATUS_BADGES = {S.OPEN: "text-bg-secondary", S.IN_PROGRESS: "text-bg-primary", S.DONE: "text-bg-warning",
                 S.CLOSED: "text-bg-success"}
READERS = (Role.ADMIN, Role.COORDINATOR, Role.LEADER, Role.LIAISON)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"STATUS_BADGES": STATUS_BADGES, "is_overdue": domain.is_overdue, "today": local_today(),
            "may_read_report": may_read_report(current_user)}


def _gate() -> None:
    """Commissioners have no part in 专项督导."""
    if current_user.role not in READERS:
        abort(403)


def _history(entity: AuditEntity, ids: list[int]) -> list[AuditLog]:
    if not ids:
        return []
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.entity_type == entity, AuditLog.entity_id.in_(ids)).order_by(AuditLog.at.desc(), AuditLog.id.desc())))


def _department_names(user: Any) -> list[str]:
    departments = all_of(Department)
    if domain.county_scoped(user):
        departments = [d for d in departments if d.county_id == user.county_id]
    return [d.name for d in departments]


def _county_names(user: Any) -> list[str]:
    counties = all_of(County)
    if getattr(user, "role", None) is Role.COORDINATOR and user.county_id is not None:
        counties = [c for c in counties if c.id == user.county_id]
    return [c.name for c in counties]


def _task_choices() -> list[tuple[int, str]]:
    tasks = db.session.scalars(sa.select(Task).order_by(Task.kind.desc(), Task.number))
    return [(t.id, f"{t.label} {t.title}") for t in tasks]


def _visit_form(**kwargs: Any) -> VisitForm:
    form = VisitForm(**kwargs)
    form.fill_choices(_department_names(current_user), _county_names(current_user), _task_choices())
    return form


# --- visits --------------------------------------------------------------------------------------------------

@bp.route("/")
@login_required
@page
def index():
    _gate()
    errors: list[DomainError] = []
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        errors.append(err)
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    stmt = domain.visits_statement(current_user).options(
        selectinload(SupervisionVisit.items), selectinload(SupervisionVisit.department),
        selectinload(SupervisionVisit.task))
    visits = paginate(stmt, page_no, per_page)
    return render_template("supervision/index.html", page=visits, errors=errors, may_record=may_record(current_user),
                           counts=domain.overdue_counts(current_user)), (400 if errors else 200)


@bp.route("/new", methods=["GET", "POST"])
@login_required
@page
def new():
    if not may_record(current_user):
        abort(403)
    form = _visit_form()
    if request.method == "GET" and not form.visited_on.data:
        form.visited_on.data = local_today().isoformat()
    saved = attempt(lambda: domain.create_visit(current_user, form.data_for_domain()), form,
                    success="专项督导已记录")
    if saved:
        return redirect(url_for(".detail", supervision_id=saved.value.id), 303)
    return render_template("supervision/form.html", form=form, visit=None), saved.status


@bp.route("/<int:supervision_id>")
@login_required
@page
def detail(supervision_id: int):
    visit = load(SupervisionVisit, supervision_id, Action.VIEW)
    items = [i for i in visit.items if can(current_user, Action.VIEW, i)]
    editable = can(current_user, Action.EDIT, visit)
    item_form = _item_form(visit) if editable else None
    return render_template("supervision/detail.html", visit=visit, items=items, editable=editable,
                           item_form=item_form,
                           history=_history(AuditEntity.SUPERVISION, [visit.id]) if editable or
                           current_user.role is Role.LEADER else [])


def _item_form(visit: SupervisionVisit, formdata: Any = None) -> ItemForm:
    form = ItemForm(formdata=formdata) if formdata is not None else ItemForm()
    owners = db.session.scalars(sa.select(User).where(User.role == Role.LIAISON, User.active.is_(True))
                                .order_by(User.department_id, User.username))
    departments = _department_names(current_user)  # a county coordinator: their county's units only
    allowed = set(departments)
    form.fill_choices(departments,
                      [(u.username, f"{u.display_name}({u.department.name if u.department else '—'})")
                       for u in owners if u.department is not None and u.department.name in allowed])
    return form


@bp.route("/<int:supervision_id>/edit", methods=["GET", "POST"])
@login_required
@page
def edit(supervision_id: int):
    visit = load(SupervisionVisit, supervision_id, Action.EDIT)
    form = _visit_form(obj=None)
    if request.method == "GET":
        form.visited_on.data = visit.visited_on.isoformat()
        form.department.data = visit.department.name if visit.department else ""
        form.task.data = str(visit.task_id or "")
        form.subject.data, form.findings.data, form.version.data = visit.subject, visit.findings, str(visit.version)
    saved = attempt(lambda: domain.update_visit(current_user, visit, form.data_for_domain(),
                                                version=form.version.data or "missing"),
                    form, conflict=STALE_MESSAGE, success="专项督导已保存")
    if saved:
        return redirect(url_for(".detail", supervision_id=visit.id), 303)
    return render_template("supervision/form.html", form=form, visit=visit), saved.status


@bp.route("/<int:supervision_id>/items", methods=["POST"])
@login_required
@page
def item_new(supervision_id: int):
    visit = domain.lock_visit(supervision_id) if supervision_id <= MAX_ID else None
    if visit is None:
        abort(404)
    load(SupervisionVisit, supervision_id, Action.EDIT)
    form = _item_form(visit, request.form)
    saved = attempt(lambda: domain.add_item(current_user, visit, form.data_for_domain()), form,
                    success="整改事项已添加,已通知责任单位联络员")
    if saved:
        return redirect(url_for(".detail", supervision_id=visit.id) + "#items", 303)
    items = [i for i in visit.items if can(current_user, Action.VIEW, i) and i.id is not None]
    return render_template("supervision/detail.html", visit=visit, items=items, editable=True, item_form=form,
                           history=_history(AuditEntity.SUPERVISION, [visit.id])), saved.status


# --- items ---------------------------------------------------------------------------------------------------

def _item_filters(form: ItemFilterForm) -> dict[str, Any]:
    statuses = [v.strip() for raw in (form.status.data or []) for v in str(raw).split(",") if v.strip()]
    return {"department": (form.department.data or "").strip() or None, "status": statuses or None,
            "overdue": {"1": True, "0": False}.get(form.overdue.data or "")}


@bp.route("/items/")
@login_required
@page
def items():
    _gate()
    errors: list[DomainError] = []
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        errors.append(err)
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    form = ItemFilterForm(formdata=request.args)
    form.fill_choices([d.name for d in all_of(Department)])
    filters = _item_filters(form)
    try:
        stmt = domain.items_statement(current_user, **filters)
    except DomainError as err:
        errors.append(err)
        filters = {}
        stmt = domain.items_statement(current_user)
    stmt = stmt.options(selectinload(RectificationItem.supervision), selectinload(RectificationItem.department),
                        selectinload(RectificationItem.owner))
    listed = paginate(stmt, page_no, per_page)
    args = {k: v for k, v in {"department": filters.get("department"), "status": filters.get("status"),
                              "overdue": {True: "1", False: "0"}.get(filters.get("overdue"))}.items() if v}
    return render_template("supervision/items.html", form=form, page=listed, errors=errors, args=args,
                           counts=domain.overdue_counts(current_user)), (400 if errors else 200)


def _transition_form(item: RectificationItem, formdata: Any = None) -> ItemTransitionForm:
    form = ItemTransitionForm(formdata=formdata) if formdata is not None else ItemTransitionForm()
    form.to.choices = [(s.value, domain.ACTION_LABELS[(item.status, s)] + f"({s.label})")
                       for s in domain.allowed_next(item, current_user)]
    if formdata is None:
        form.version.data = str(item.version)
    return form


def _render_item(item: RectificationItem, form: ItemTransitionForm | None, status: int = 200):
    editable = can(current_user, Action.EDIT, item)
    if form is None and editable and domain.allowed_next(item, current_user):
        form = _transition_form(item)
    return render_template("supervision/item.html", item=item, form=form if editable else None,
                           overdue=domain.is_overdue(item),
                           visit_visible=can(current_user, Action.VIEW, item.supervision),
                           history=_history(AuditEntity.RECTIFICATION, [item.id])), status


@bp.route("/items/<int:item_id>")
@login_required
@page
def item_detail(item_id: int):
    return _render_item(load(RectificationItem, item_id, Action.VIEW), None)


@bp.route("/items/<int:item_id>/transition", methods=["POST"])
@login_required
@page
def item_transition(item_id: int):
    item = domain.lock_item(item_id) if item_id <= MAX_ID else None
    if item is None:
        abort(404)
    load(RectificationItem, item_id, Action.EDIT)
    form = _transition_form(item, request.form)
    detail_url = url_for(".item_detail", item_id=item_id)
    if not form.validate_on_submit():
        flash(FORM_EXPIRED if csrf_failed(form) else "请检查状态变更的内容", "danger")
        return redirect(detail_url, 303)
    if not form.to.data:
        form.to.errors = ["请选择要变更的状态"]
        return _render_item(item, form, 422)
    before = item.status
    moved = attempt(lambda: domain.transition(current_user, item, form.to.data, note=form.note.data or "",
                                              version=form.version.data or "missing"),
                    form, validate=False, show="caller", notice="page", conflict=STALE_MESSAGE)
    err = moved.error
    if isinstance(err, ValidationFailed) and not ("to" in err.fields or "version" in err.fields):
        place_errors(form, err)
        return _render_item(item, form, err.status)
    if err is not None:
        flash(error_text(err) if isinstance(err, ValidationFailed) else err.message, "danger")
        return redirect(detail_url, 303)
    flash(f"整改事项已{domain.ACTION_LABELS[(before, item.status)]}:{before.label} → {item.status.label}", "success")
    return redirect(detail_url, 303)
