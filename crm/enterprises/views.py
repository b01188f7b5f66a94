"""Enterprise pages (一企一档): the list, the record, create and edit, and the record's small forms.

Each view parses, loads, asks ``access.require``, calls a domain function, commits once and renders or
redirects. Rules live in ``crm.enterprises.domain``; a refused change is rolled back whole.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, lazyload

from crm.auth.models import User
from crm.core.access import Action, can, require
from crm.core.audit import history_for_enterprise
from crm.core.errors import DomainError
from crm.core.messages import STALE_MESSAGE
from crm.core.pages import attempt, load, page
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

# --- loading and checking ----------------------------------------------------------------------------------

def _load(enterprise_id: int, action: Action) -> Enterprise:
    return load(Enterprise, enterprise_id, action)  # 404 when the user may not see it, 403 when only not change it


def _load_child(model: type, child_id: int, enterprise_id: int) -> Any:
    """A contact, figure or partner link of this enterprise that the user may edit (access via its enterprise)."""
    child = load(model, child_id, Action.EDIT)
    if child.enterprise_id != enterprise_id:
        abort(404)
    return child


def _detail_url(enterprise_id: int, anchor: str | None = None) -> str:
    return url_for("enterprises.detail", enterprise_id=enterprise_id, _anchor=anchor)


# --- list ----------------------------------------------------------------------------------------------------

@bp.route("/")
@login_required
@page
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
@page
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

@bp.route("/new", methods=["GET", "POST"])
@login_required
@page
def create():
    require(current_user, Action.CREATE)
    form = EnterpriseForm()
    form.fill_choices(current_user)
    created = attempt(lambda: domain.create_enterprise(current_user, form.to_data()), form,
                      success=lambda enterprise: f"已新建企业档案“{enterprise.name}”")
    if created:
        return redirect(_detail_url(created.value.id))
    return render_template("enterprises/form.html", form=form, enterprise=None), created.status


@bp.route("/<int:enterprise_id>/edit", methods=["GET", "POST"])
@login_required
@page
def edit(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = EnterpriseForm(data=EnterpriseForm.initial(enterprise) if request.method == "GET" else None)
    form.fill_choices(current_user)
    saved = attempt(lambda: domain.update_enterprise(current_user, enterprise, form.to_data(with_version=True),
                                                     partial=False),
                    form, conflict=STALE_MESSAGE, success="企业档案已保存")
    if saved:
        return redirect(_detail_url(enterprise_id))
    stale = saved.error is not None and saved.error.code == "stale"
    return render_template("enterprises/form.html", form=form, enterprise=enterprise, stale=stale), saved.status


# --- the detail page's small forms: a refusal is flashed and the record shown again ---------------------------

@bp.route("/<int:enterprise_id>/contacts", methods=["POST"])
@login_required
@page
def contact_add(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = ContactForm(prefix="contact")
    attempt(lambda: domain.add_contact(current_user, enterprise, form.to_data()), form, show="flash",
            invalid="联系人信息有误", success=f"已添加联系人 {form.name.data}")
    return redirect(_detail_url(enterprise_id, "contacts"))


@bp.route("/<int:enterprise_id>/contacts/<int:contact_id>/delete", methods=["POST"])
@login_required
@page
def contact_delete(enterprise_id: int, contact_id: int):
    contact = _load_child(EnterpriseContact, contact_id, enterprise_id)
    attempt(lambda: domain.delete_contact(current_user, contact), DeleteForm(), show="flash",
            success=f"已删除联系人 {contact.name}")
    return redirect(_detail_url(enterprise_id, "contacts"))


@bp.route("/<int:enterprise_id>/figures", methods=["POST"])
@login_required
@page
def figure_set(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = FigureForm(prefix="figure")
    attempt(lambda: domain.set_figure(current_user, enterprise, form.year.data, form.to_data()), form,
            show="flash", invalid="产值数据有误", success=lambda _figure: f"已保存{form.year.data}年产值")
    return redirect(_detail_url(enterprise_id, "figures"))


@bp.route("/<int:enterprise_id>/figures/<int:figure_id>/delete", methods=["POST"])
@login_required
@page
def figure_delete(enterprise_id: int, figure_id: int):
    figure = _load_child(EnterpriseFigure, figure_id, enterprise_id)
    attempt(lambda: domain.delete_figure(current_user, figure), DeleteForm(), show="flash",
            success=f"已删除{figure.year}年产值")
    return redirect(_detail_url(enterprise_id, "figures"))


@bp.route("/<int:enterprise_id>/partners", methods=["POST"])
@login_required
@page
def partner_link(enterprise_id: int):
    enterprise = _load(enterprise_id, Action.EDIT)
    form = PartnerLinkForm(prefix="partner")
    form.fill_choices()
    attempt(lambda: domain.link_partner(current_user, enterprise, form.partner.data, form.supplies.data), form,
            show="flash", invalid="配套关系有误", success=lambda _link: f"已关联成渝企业 {form.partner.data}")
    return redirect(_detail_url(enterprise_id, "partners"))


@bp.route("/<int:enterprise_id>/partners/<int:link_id>/delete", methods=["POST"])
@login_required
@page
def partner_unlink(enterprise_id: int, link_id: int):
    link = _load_child(EnterprisePartner, link_id, enterprise_id)
    attempt(lambda: domain.unlink_partner(current_user, link), DeleteForm(), show="flash",
            success=f"已解除与 {link.partner.name} 的配套关系")
    return redirect(_detail_url(enterprise_id, "partners"))
