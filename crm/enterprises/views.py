"""Enterprise pages (一企一档): the list, the record, create and edit, and the record's small forms.

Each view parses, loads, asks ``access.require``, calls a domain function, commits once and renders or
redirects. Rules live in ``crm.enterprises.domain``; a refused change is rolled back whole.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload
from sqlalchemy.orm.exc import StaleDataError
from wtforms import Field

from crm.auth.models import User
from crm.core.access import Action, can, require
from crm.core.audit import history_for_enterprise
from crm.core.errors import Conflict, DomainError
from crm.core.pagination import paginate, parse_page_args
from crm.core.time import local_today
from crm.enterprises import domain
from crm.enterprises.forms import (
    ContactForm,
    DeleteForm,
    EnterpriseForm,
    FigureForm,
    PartnerLinkForm,
    SearchForm,
)
from crm.enterprises.models import (
    Enterprise,
    EnterpriseContact,
    EnterpriseFigure,
    EnterprisePartner,
)
from crm.extensions import db
from crm.service import assignments, interactions, policy, requests
from crm.service.models import (
    Interaction,
    PolicyDelivery,
    ServiceRequest,
)

bp = Blueprint("enterprises", __name__, url_prefix="/enterprises")

STALE_MESSAGE = "该企业档案已被他人修改,请刷新后重试"
RACE_MESSAGE = "数据刚被他人修改或录入,未保存,请刷新后重试"
FORM_EXPIRED = "表单已过期或缺少安全令牌,请刷新页面后重新提交"

# --- loading and checking ----------------------------------------------------------------------------------

def _load(enterprise_id: int, action: Action) -> Enterprise:
    enterprise = db.session.get(Enterprise, enterprise_id)
    if enterprise is None:
        abort(404)
    require(current_user, action, enterprise)  # 404 when the user may not see it, 403 when only not change it
    return enterprise


def _load_child(model: type, child_id: int, enterprise_id: int) -> Any:
    """A contact, figure or partner link of this enterprise that the user may edit (access via its enterprise)."""
    child = db.session.get(model, child_id)
    if child is None:
        abort(404)
    require(current_user, Action.EDIT, child)
    if child.enterprise_id != enterprise_id:
        abort(404)
    return child


def _detail_url(enterprise_id: int, anchor: str | None = None) -> str:
    return url_for("enterprises.detail", enterprise_id=enterprise_id, _anchor=anchor)


# --- list ----------------------------------------------------------------------------------------------------

@bp.route("/")
@login_required
def index():
    # Bad arguments never give a 500: the page says what was wrong and shows the list without them (400).
    arg_errors: list[DomainError] = []
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        arg_errors.append(err)
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    form = SearchForm(formdata=request.args)
    form.fill_choices(current_user, per_page)
    filters = form.filters()
    try:
        stmt = domain.search_statement(current_user, **filters)
    except DomainError as err:  # an unknown roster kind
        arg_errors.append(err)
        filters["roster"] = ""
        stmt = domain.search_statement(current_user, **filters)
    page = paginate(stmt, page_no, per_page)
    link_args = {k: v for k, v in filters.items() if v and not (k == "sort" and v == "name")}
    if request.args.get("per_page") and not arg_errors:
        link_args["per_page"] = per_page
    return render_template(
        "enterprises/index.html", form=form, page=page, link_args=link_args, arg_errors=arg_errors,
        filtered=any(v for k, v in filters.items() if k != "sort"),
    ), (400 if arg_errors else 200)


# --- detail --------------------------------------------------------------------------------------------------

@bp.route("/<int:enterprise_id>")
@login_required
def detail(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.VIEW)
    forms: dict[str, Any] = {}
    editable = can(current_user, Action.EDIT, enterprise)
    if editable:
        figure_form = FigureForm(prefix="figure")
        edit_year = request.args.get("figure_year", type=int)
        current = next((f for f in enterprise.figures if f.year == edit_year), None)
        if current is not None:  # "修改" on a row fills the form with that year's values
            figure_form.year.data = current.year
            figure_form.output_value.data = str(current.output_value)
            figure_form.chengyu_output_value.data = str(current.chengyu_output_value)
        figure_form.set_defaults()
        partner_form = PartnerLinkForm(prefix="partner")
        partner_form.fill_choices()
        # Delete buttons carry csrf_token() themselves; their POSTs are checked with DeleteForm.
        forms = {"contact": ContactForm(prefix="contact"), "figure": figure_form, "partner": partner_form}
    from crm.rosters.domain import enterprise_timeline, period_label

    return render_template("enterprises/detail.html", enterprise=enterprise, forms=forms,
                           history=history_for_enterprise(enterprise.id, viewer=current_user),
                           roster_timeline=enterprise_timeline(enterprise.id, viewer=current_user),
                           period_label=period_label,
                           service=_service_sections(enterprise, editable))


SECTION_ROWS = 10  # interactions, requests and deliveries shown on the record (the rest on their own pages)
RECENT_REQUEST_DAYS = 180


def _service_sections(enterprise: Enterprise, editable: bool) -> dict[str, Any]:
    """一企一档's service part: commissioners per specialty, the latest interactions, open and recent requests,
    policy deliveries. A fixed number of queries whatever the record holds (about eight)."""
    today = local_today()
    no_specialties = lazyload(User.specialty_rows)  # names and phones only
    latest = list(db.session.scalars(
        interactions.interactions_statement(current_user, enterprise_id=enterprise.id)
        .options(joinedload(Interaction.created_by).options(no_specialties)).limit(SECTION_ROWS)))
    interaction_total = db.session.scalar(
        sa.select(sa.func.count(Interaction.id)).where(Interaction.enterprise_id == enterprise.id)) or 0
    recent = sa.or_(ServiceRequest.status.in_(requests.OPEN_STATUSES),
                    ServiceRequest.raised_on >= today - timedelta(days=RECENT_REQUEST_DAYS))
    found = list(db.session.scalars(
        requests.requests_statement(current_user, enterprise_id=enterprise.id, today=today).where(recent)
        .options(joinedload(ServiceRequest.owner).options(no_specialties)).limit(50)))
    open_rows = sorted((r for r in found if r.status in requests.OPEN_STATUSES), key=lambda r: (r.due_date, r.id))
    done_rows = [r for r in found if r.status not in requests.OPEN_STATUSES]
    deliveries = list(db.session.scalars(
        policy.deliveries_statement(current_user, enterprise_id=enterprise.id, today=today)
        .options(joinedload(PolicyDelivery.owner).options(no_specialties)).limit(SECTION_ROWS * 2)))
    last_contact = latest[0].occurred_on if latest else None
    return {
        "today": today,
        "recent_days": RECENT_REQUEST_DAYS,
        "commissioners": assignments.active_by_specialty(enterprise),
        "may_assign": assignments.can_assign(current_user, enterprise),
        "may_edit": editable,
        "interactions": latest,
        "interaction_total": interaction_total,
        "last_contact": last_contact,
        # a follow-up date that has passed with no contact since
        "follow_up_overdue": {i.id for i in latest if i.next_follow_up and i.next_follow_up < today
                              and (last_contact is None or last_contact < i.next_follow_up)},
        "requests": (open_rows + done_rows)[:SECTION_ROWS * 2],
        "overdue": {r.id for r in open_rows if requests.is_overdue(r, today)},
        "deliveries": deliveries,
        "late": {d.id for d in deliveries if policy.is_late(d, today)},
    }


# --- create and edit -----------------------------------------------------------------------------------------

def _attach_errors(form: EnterpriseForm, err: DomainError) -> None:
    """Each message next to its field; hidden fields (the version) and unknown keys at the top of the form."""
    for name, message in err.fields.items():
        field = getattr(form, name, None)
        if isinstance(field, Field) and field.type != "HiddenField":
            field.errors = [*field.errors, message]
        elif message not in form.form_errors:
            form.form_errors.append(message)
    form.form_errors.insert(0, err.message)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    require(current_user, Action.CREATE)
    form = EnterpriseForm()
    form.fill_choices(current_user)
    status = 200
    if form.validate_on_submit():
        try:
            enterprise = domain.create_enterprise(current_user, form.to_data())
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            _attach_errors(form, err)
            status = err.status
        except IntegrityError:  # a concurrent save took the name or code between our check and the insert
            db.session.rollback()
            _attach_errors(form, Conflict(RACE_MESSAGE))
            status = 409
        else:
            flash(f"已新建企业档案“{enterprise.name}”", "success")
            return redirect(_detail_url(enterprise.id))
    elif form.is_submitted():
        form.form_errors.append("请修改标出的字段后重新提交")
        status = 422
    return render_template("enterprises/form.html", form=form, enterprise=None), status


@bp.route("/<int:enterprise_id>/edit", methods=["GET", "POST"])
@login_required
def edit(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = EnterpriseForm(data=EnterpriseForm.initial(enterprise) if request.method == "GET" else None)
    form.fill_choices(current_user)
    status = 200
    stale = False
    if form.validate_on_submit():
        try:
            domain.update_enterprise(current_user, enterprise, form.to_data(with_version=True), partial=False)
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            _attach_errors(form, err)
            status, stale = err.status, err.code == "stale"
        except (StaleDataError, IntegrityError):  # changed by someone else between our check and the write
            db.session.rollback()
            _attach_errors(form, Conflict(STALE_MESSAGE, code="stale"))
            status, stale = 409, True
        else:
            flash("企业档案已保存", "success")
            return redirect(_detail_url(enterprise.id))
    elif form.is_submitted():
        form.form_errors.append("请修改标出的字段后重新提交")
        status = 422
    return render_template("enterprises/form.html", form=form, enterprise=enterprise, stale=stale), status


# --- the detail page's small forms ---------------------------------------------------------------------------

def _run(action: Callable[[], Any], success: str) -> None:
    """Call a domain function, commit, flash; a refusal is rolled back whole and flashed in Chinese."""
    try:
        action()
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        details = ";".join(dict.fromkeys(err.fields.values()))
        flash(f"{err.message}:{details}" if details else err.message, "danger")
    except (IntegrityError, StaleDataError):
        db.session.rollback()
        flash(RACE_MESSAGE, "danger")
    else:
        flash(success, "success")


def _flash_form_errors(form: Any, title: str) -> None:
    messages = [message for errors in form.errors.values() for message in errors]
    flash(f"{title}:{';'.join(dict.fromkeys(messages))}", "danger")


@bp.route("/<int:enterprise_id>/contacts", methods=["POST"])
@login_required
def contact_add(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = ContactForm(prefix="contact")
    if form.validate_on_submit():
        _run(lambda: domain.add_contact(current_user, enterprise, form.to_data()), f"已添加联系人 {form.name.data}")
    else:
        _flash_form_errors(form, "联系人信息有误")
    return redirect(_detail_url(enterprise.id, "contacts"))


@bp.route("/<int:enterprise_id>/contacts/<int:contact_id>/delete", methods=["POST"])
@login_required
def contact_delete(enterprise_id: int, contact_id: int):
    contact = _load_child(EnterpriseContact, contact_id, enterprise_id)
    if DeleteForm().validate_on_submit():
        _run(lambda: domain.delete_contact(current_user, contact), f"已删除联系人 {contact.name}")
    else:
        flash(FORM_EXPIRED, "danger")
    return redirect(_detail_url(enterprise_id, "contacts"))


@bp.route("/<int:enterprise_id>/figures", methods=["POST"])
@login_required
def figure_set(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = FigureForm(prefix="figure")
    if form.validate_on_submit():
        _run(lambda: domain.set_figure(current_user, enterprise, form.year.data, form.to_data()),
             f"已保存{form.year.data}年产值")
    else:
        _flash_form_errors(form, "产值数据有误")
    return redirect(_detail_url(enterprise.id, "figures"))


@bp.route("/<int:enterprise_id>/figures/<int:figure_id>/delete", methods=["POST"])
@login_required
def figure_delete(enterprise_id: int, figure_id: int):
    figure = _load_child(EnterpriseFigure, figure_id, enterprise_id)
    if DeleteForm().validate_on_submit():
        _run(lambda: domain.delete_figure(current_user, figure), f"已删除{figure.year}年产值")
    else:
        flash(FORM_EXPIRED, "danger")
    return redirect(_detail_url(enterprise_id, "figures"))


@bp.route("/<int:enterprise_id>/partners", methods=["POST"])
@login_required
def partner_link(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = PartnerLinkForm(prefix="partner")
    form.fill_choices()
    if form.validate_on_submit():
        _run(lambda: domain.link_partner(current_user, enterprise, form.partner.data, form.supplies.data),
             f"已关联成渝企业 {form.partner.data}")
    else:
        _flash_form_errors(form, "配套关系有误")
    return redirect(_detail_url(enterprise.id, "partners"))


@bp.route("/<int:enterprise_id>/partners/<int:link_id>/delete", methods=["POST"])
@login_required
def partner_unlink(enterprise_id: int, link_id: int):
    link = _load_child(EnterprisePartner, link_id, enterprise_id)
    if DeleteForm().validate_on_submit():
        name = link.partner.name
        _run(lambda: domain.unlink_partner(current_user, link), f"已解除与 {name} 的配套关系")
    else:
        flash(FORM_EXPIRED, "danger")
    return redirect(_detail_url(enterprise_id, "partners"))
