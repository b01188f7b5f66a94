"""Enterprise pages (一企一档): the list, the record, create and edit, and the record's small forms.

Each view parses, loads, asks ``access.require``, calls a domain function, commits once and renders or
redirects. Rules live in ``crm.enterprises.domain``; a refused change is rolled back whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from wtforms import Field

from crm.core.access import Action, can, require
from crm.core.errors import Conflict, DomainError
from crm.core.pagination import paginate, parse_page_args
from crm.enterprises import domain, hooks
from crm.enterprises.forms import (
    ContactForm,
    DeleteForm,
    EnterpriseForm,
    FigureForm,
    PartnerLinkForm,
    search_form,
)
from crm.enterprises.models import (
    Enterprise,
    EnterpriseContact,
    EnterpriseFigure,
    EnterprisePartner,
)
from crm.extensions import db

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
    form = search_form(request.args)
    form.fill_choices(current_user, per_page)
    filters = form.filters()
    try:
        stmt = domain.search_statement(current_user, **filters)
    except DomainError as err:  # a value a filter refuses (an unknown list): shown, and that filter dropped
        arg_errors.append(err)
        filters.update((name, "") for name in err.fields if name in filters)
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
    # The cards of the capabilities built on the registry (service, lists …) come from crm.enterprises.hooks.
    return render_template("enterprises/detail.html", enterprise=enterprise, forms=forms,
                           history=domain.history(enterprise.id, viewer=current_user),
                           sections=hooks.sections(enterprise, viewer=current_user, editable=editable))


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
