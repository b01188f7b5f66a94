"""Enterprise pages (一企一档): the list, the record, create and edit, and the record's small forms.

Each view parses, loads, asks ``access.require``, calls a domain function, commits once and renders or
redirects. Rules live in ``crm.enterprises.domain``; a refused change is rolled back whole.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from crm.core import cache
from crm.core.access import Action, can, require, shared_probes
from crm.core.errors import DomainError
from crm.core.messages import STALE_MESSAGE
from crm.core.pages import attempt, load, page
from crm.core.pagination import Page, paginate, parse_page_args
from crm.core.parsing import MAX_ID
from crm.core.transactions import prepared
from crm.core.urls import IdUrls
from crm.enterprises import domain, hooks
from crm.enterprises.forms import (
    FILTER_NAME_KINDS,
    ContactForm,
    DeleteForm,
    EnterpriseForm,
    FigureForm,
    PartnerLinkForm,
    filled_search_form,
    read_filters,
)
from crm.enterprises.models import (
    Enterprise,
    EnterpriseContact,
    EnterpriseFigure,
    EnterprisePartner,
)
from crm.enterprises.page_forms import page_forms
from crm.extensions import db

bp = Blueprint("enterprises", __name__, url_prefix="/enterprises")
HISTORY_ROWS = 20  # 变更记录 entries per page of 一企一档

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

# The columns the list's table shows (with the county, cluster and category names domain.listed adds).
LIST_COLUMNS = (Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.above_scale, Enterprise.status,
                Enterprise.is_demo)


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
    filters, drawn = read_filters(request.args, current_user, per_page)
    try:
        stmt = domain.kept_search_statement(current_user._get_current_object(), filters)
    except DomainError as err:  # a value a filter refuses (an unknown list): shown, and that filter dropped
        arg_errors.append(err)
        filters.update((name, "") for name in err.fields if name in filters)
        stmt = domain.kept_search_statement(current_user._get_current_object(), filters)
    # deep pages by key, the unfiltered city-wide total estimated on a large registry (paginate says when); the
    # page's rows as plain columns (what the table shows), not entities (crm.enterprises.domain.listed)
    # The page (its rows and count) and its drawn rows are kept per process while nothing they read changes
    # (domain.LIST_KINDS; keyed by the statement: the user's scope, the filters, the sort; and the page): a list is
    # read many times between two edits, and its rows' SQL and drawing were ≈ 60 % of a view at provincial scale
    # (benchmarks/README.md, "Eighth pass").
    page = paginate(stmt, page_no, per_page, key=Enterprise.id, estimate=Enterprise.__tablename__,
                    rows=lambda narrowed: domain.listed(narrowed, *LIST_COLUMNS),
                    count_with_page=domain.counted_with_page(filters), kept=("enterprises.list", domain.LIST_KINDS))
    link_args = {k: v for k, v in filters.items() if v and not (k == "sort" and v == "name")}
    if request.args.get("per_page") and not arg_errors:
        link_args["per_page"] = per_page
    # The filters drawn (≈ 40 options: ≈ 1.2 ms of a 5 ms view, issue 11, ninth pass) are kept like the rows.
    filters_markup = cache.cached_markup(
        "enterprises.filters", FILTER_NAME_KINDS, (request.script_root, *drawn),
        lambda: render_template("enterprises/_filters.html",
                                form=filled_search_form(request.args, current_user, per_page)))
    rows_markup = cache.cached_markup(
        "enterprises.rows", domain.LIST_KINDS, None if page.key is None else (request.script_root, *page.key),
        lambda: render_template("enterprises/_rows.html", rows=page.items,
                                detail_url=IdUrls("enterprises.detail", "enterprise_id")))  # one url_for a page
    return render_template(
        "enterprises/index.html", page=page, link_args=link_args, arg_errors=arg_errors,
        filtered=any(v for k, v in filters.items() if k != "sort"), rows_markup=rows_markup,
        filters_markup=filters_markup,
    ), (400 if arg_errors else 200)


# --- detail --------------------------------------------------------------------------------------------------

@bp.route("/<int:enterprise_id>")
@login_required
@page
def detail(enterprise_id: int):
    # The record with its park in one statement (two before): ``load`` then finds it in the session (held here: the
    # session keeps only what is referenced), checks access and answers 404 / 403 as for any record.
    # Every statement of the page is by the enterprise's id (and the viewer's scope): each is prepared
    # (crm.core.transactions.prepared), one plan for any record and viewer — planning was ≈ 4 ms of the page's
    # ≈ 8 ms of SQL on the rich record (the seventh provincial-scale pass).
    _held = db.session.scalar(_WITH_PARK, {"enterprise_id": enterprise_id}) if 0 < enterprise_id <= MAX_ID else None
    viewer = current_user._get_current_object()  # the user, not the proxy: the cards ask for it ~100 times
    with shared_probes():  # may see, may change: the rules' probes asked once for both (a commissioner's EXISTS)
        enterprise = _load(enterprise_id, Action.VIEW)
        editable = can(viewer, Action.EDIT, enterprise)
    # Contacts, figures, partner links (and, for an editor, the partner catalogue) as plain rows in one statement
    # (domain.record_children); they were three lazy loads of entities and a fourth statement. With the forms drawn
    # by page_forms (≈ 2.7 ms → ≈ 0.05 ms): the rich record as a commissioner 16 → 13 statements, CPU ≈ 21 → 16 ms,
    # in-process ≈ 32 → 25 ms (medians, same machine back to back; the sixth provincial-scale pass).
    record = domain.record_children(enterprise.id, with_partners=editable)
    forms = page_forms(record, request.args.get("figure_year", type=int)) if editable else None
    # The cards of the capabilities built on the registry (service, lists …) come from crm.enterprises.hooks.
    history = _history_page(enterprise.id, max(request.args.get("history_page", 1, type=int) or 1, 1), viewer)
    return render_template("enterprises/detail.html", enterprise=enterprise, record=record, editable=editable,
                           forms=forms, history=history.items, history_page=history,
                           sections=hooks.sections(enterprise, viewer=viewer, editable=editable))


def _history_page(enterprise_id: int, page_no: int, viewer: Any) -> Page:
    """The 变更记录 card: the audit trail a page at a time (?history_page=N, links under the card), so a record with
    hundreds of changes stays under 150 KB (issue 11); ix_audit_log_enterprise_id_at reads it newest first. A page
    past the end shows the last one.

    The page and the total in one statement (``count(*) OVER ()`` on the page's rows; the fourth provincial-scale
    pass, benchmarks/README.md): the count and the page were two. Only a page past the end (or an empty trail)
    counts again."""
    rows = db.session.execute(cache.built_for(viewer, "enterprises.history", lambda: _history_statement(viewer)),
                              {"enterprise_id": enterprise_id, "offset": (page_no - 1) * HISTORY_ROWS}).all()
    if rows:
        return Page(items=[row[0] for row in rows], total=rows[0][1], page=page_no, per_page=HISTORY_ROWS)
    stmt = domain.history_statement(enterprise_id, viewer=viewer)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return paginate(stmt, max(1, -(-total // HISTORY_ROWS)), HISTORY_ROWS)  # the last page (or an empty first)


# The record with its park, by its id (a parameter): prepared and built once a process, as the page's other statements
# (the sections build theirs once per viewer: crm.core.cache.built_for).
_WITH_PARK = prepared(sa.select(Enterprise).options(joinedload(Enterprise.park))
                      .where(Enterprise.id == sa.bindparam("enterprise_id", type_=sa.Integer)))


def _history_statement(viewer: Any) -> sa.Select:
    """A page of the trail ``viewer`` may see with the count of all of it; the enterprise's id and the offset are
    parameters."""
    stmt = domain.history_statement(sa.bindparam("enterprise_id", type_=sa.Integer), viewer=viewer)
    return prepared(stmt.add_columns(sa.func.count().over()).limit(HISTORY_ROWS)
                    .offset(sa.bindparam("offset", type_=sa.Integer)))


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
