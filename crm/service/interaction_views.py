"""The workspace (我的企业) and 服务记录 pages of the ``service`` blueprint: the commissioner's enterprises with
their visit cadence, logging a 服务记录 (with a 诉求 raised at the same time, both or neither) and correcting one.

Each view loads, checks access, calls :mod:`crm.service.interactions` through :func:`crm.core.pages.attempt`
(one commit; a refusal rolled back and shown next to its field) and renders or redirects.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from crm.auth.models import Role, Specialty, User
from crm.core import cache
from crm.core.access import Action, can
from crm.core.errors import DomainError, Forbidden, ValidationFailed
from crm.core.messages import FIX_FIELDS, STALE_MESSAGE
from crm.core.pages import attempt, load, page, place_errors
from crm.core.pagination import parse_page_args
from crm.core.parsing import MAX_ID
from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import County
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from crm.service.access import authored
from crm.service.assignments import SPECIALTIES
from crm.service.forms import InteractionForm, WorkspaceFilterForm
from crm.service.models import Assignment, Interaction, ServiceRequest
from crm.service.views import (
    IdUrls,
    _arg_id,
    _found,
    _is_commissioner,
    _load_enterprise,
    _may_log,
    bp,
    options_html,
    user_label,
    with_selected,
)
from crm.service.workspace import ROW_KINDS, workspace_page

# Each row is drawn twice (a card for phones, a table row for desktops): at 50 rows a coordinator's view, five
# commissioners an enterprise, was 171 KB. At provincial scale (500 commissioners: the chooser alone is 35 KB) 40
# rows were 181 KB; 30 keep every page under issue 11's 150 KB (about 145 KB; tests/perf/test_scale_behaviour.py).
WORKSPACE_PER_PAGE = 30


# --- the workspace (我的企业) ------------------------------------------------------------------------------

def _visible_commissioners(user: User) -> tuple[tuple[tuple[int, str, str, str | None], ...], Markup]:
    """Active commissioners a coordinator, admin or leader may pick on the workspace (a county-scoped one:
    their county's and the city-wide ones), as what the chooser shows: ``(id, username, name, county name)``, and
    the chooser's options drawn with none selected (:func:`_chooser_options`).

    Plain columns, not users: at provincial scale there are 500 of them, and loading whole users with their
    county and specialties cost ≈ 15–30 ms a view; the one chosen is loaded as a user. Both are kept per process
    while the users and counties are unchanged (kind ``reference``, migration b4e1d7a9c3f2; crm/core/cache.py):
    the statement and the 500 escaped options were ≈ 3 ms of every coordinator's view."""
    stmt = (sa.select(User.id, User.username, User.display_name, County.name)
            .outerjoin(County, User.county_id == County.id)
            .where(User.role == Role.COMMISSIONER, User.active.is_(True)).order_by(User.username))
    if user.county_id is not None:
        stmt = stmt.where(sa.or_(User.county_id.is_(None), User.county_id == user.county_id))
    return cache.cached_built("workspace.chooser", ("reference",), stmt, lambda rows: (rows, _chooser_options(rows)))


def _chooser_options(commissioners: Iterable[tuple[int, str, str, str | None]]) -> Markup:
    """The chooser's ``<option>``s: 全部服务专员, then each commissioner labelled ``name(username) · county`` —
    joined in Python (:func:`crm.service.views.options_html`), not 500 ``SelectChoice``s looped over in the
    template; the one chosen is marked per view (:func:`crm.service.views.with_selected`)."""
    return options_html([("", "全部服务专员"), *((username, user_label(username, name, county))
                                                for _, username, name, county in commissioners)], None)


def _row_urls() -> dict[str, Any]:
    """The links of each workspace row, each built once for the page (:class:`crm.service.views.IdUrls`): the
    enterprise's page, its open requests in the ledger, 记录走访 (with the specialty preselected on 我的企业)."""
    log = {None: IdUrls("service.interaction_new", "enterprise_id")}
    log.update({s.value: IdUrls("service.interaction_new", "enterprise_id", specialty=s.value) for s in SPECIALTIES})
    return {"enterprise": IdUrls("enterprises.detail", "enterprise_id"),
            "open_requests": IdUrls("service.requests_index", "enterprise_id",
                                    status=[s.value for s in request_domain.OPEN_STATUSES]),
            "log": log}


@bp.route("/")
@login_required
@page
def workspace():
    today = local_today()
    notes: list[str] = []
    try:
        page_no, per_page = parse_page_args(request.args, WORKSPACE_PER_PAGE)
    except DomainError as err:
        notes.append(f"{err.message}:{';'.join(err.fields.values())}。已按默认值显示。")
        page_no, per_page = 1, WORKSPACE_PER_PAGE
    chooser, chosen = None, None
    if not _is_commissioner(current_user):
        chooser = WorkspaceFilterForm(formdata=request.args)  # parses ?commissioner=; its options: below
        commissioners, all_options = _visible_commissioners(current_user)
        wanted = (chooser.commissioner.data or "").strip()
        if wanted:
            found = next((row[0] for row in commissioners if row[1] == wanted), None)
            chosen = db.session.get(User, found) if found is not None else None
            if chosen is None:
                notes.append(f"没有可查看的服务专员“{wanted[:64]}”,已显示全部。")
                chooser.commissioner.data = ""
    result = workspace_page(current_user, chosen, today, page_no, per_page)  # past the end: the last page
    link_args = {"commissioner": chosen.username} if chosen else {}
    options = with_selected(all_options, chooser.commissioner.data) if chooser is not None else None
    mine, may_log = _is_commissioner(current_user), _may_log(current_user)
    cadence = int(current_app.config.get("VISIT_CADENCE_DAYS", 60))
    # The rows drawn are kept with the rows read (crm.core.cache.cached_markup): the same page statement (scope,
    # commissioner, today, page) and the same view of them (mine, may_log, the cadence), under the same data
    # versions. Drawing 50 rows was ≈ 8 ms of a commissioner's view (benchmarks/README.md, "Eighth pass").
    rows_markup = cache.cached_markup(
        "workspace.rows", ROW_KINDS,
        None if result.key is None else (request.script_root, today, mine, may_log, cadence, *result.key),
        lambda: render_template("service/_workspace_rows.html", rows=result.page.items, urls=_row_urls(), mine=mine,
                                may_log=may_log, cadence=cadence))
    return render_template("service/workspace.html", page=result.page, chooser=chooser, chosen=chosen,
                           chooser_options=options, rows_markup=rows_markup,
                           notes=notes, link_args=link_args, summary=result.summary, may_log=may_log,
                           mine=mine), (400 if notes else 200)


# --- 服务记录 ------------------------------------------------------------------------------------------------

def _loggable_specialties(user: User) -> list[Specialty]:
    """A commissioner logs their own specialties; coordinators and admins any."""
    return list(user.specialties) if _is_commissioner(user) else list(SPECIALTIES)


def _default_specialty(user: User, enterprise: Enterprise, choices: list[Specialty]) -> Specialty | None:
    """The specialty of the user's own active assignment for the enterprise, else their first one."""
    wanted = request.args.get("specialty", "").strip()
    for s in choices:
        if s.value == wanted:
            return s
    if _is_commissioner(user):
        mine = set(db.session.scalars(sa.select(Assignment.specialty).where(
            Assignment.enterprise_id == enterprise.id, Assignment.commissioner_id == user.id,
            Assignment.ended_on.is_(None))))
        for s in choices:
            if s in mine:
                return s
    return choices[0] if len(choices) == 1 else None


@bp.route("/interactions/new", methods=["GET", "POST"])
@login_required
@page
def interaction_new():
    enterprise_id = _arg_id("enterprise_id")
    if enterprise_id is None:
        flash("请先在“我的企业”中选择要记录的企业", "warning")
        return redirect(url_for(".workspace"))
    enterprise = _load_enterprise(enterprise_id, Action.EDIT)
    choices = _loggable_specialties(current_user)
    form = InteractionForm()
    form.fill_choices(choices)
    status = 200
    if request.method == "GET":
        form.date.data = local_today().isoformat()
        default = _default_specialty(current_user, enterprise, choices)
        form.specialty.data = default.value if default else None
    else:
        stage: list[str] = []

        def log() -> tuple[Interaction, ServiceRequest | None]:
            interaction = interaction_domain.log_interaction(current_user, enterprise, form.interaction_data())
            if not form.also_request.data:
                return interaction, None
            stage.append("request")
            return interaction, request_domain.raise_request(current_user, enterprise,
                                                             form.request_data(interaction.id))

        # Both or neither: the 服务记录 is not kept when its 诉求 is refused.
        logged = attempt(log, form, aliases={"category": "request_category", "description": "request_description"},
                         invalid=None)
        if logged:
            interaction, req = logged.value
            message = f"已记录“{enterprise.name}”的{interaction.channel.label}({interaction.occurred_on.isoformat()})"
            if req is not None:
                note = request_domain.due_note(req)
                message += f";已登记诉求,办理时限 {req.due_date.isoformat()}" + (f"({note})" if note else "")
            flash(message, "success")
            return redirect(url_for(".workspace"))
        status = logged.status
        if stage and logged.status != 409:
            form.form_errors.append("诉求有误,服务记录和诉求均未保存")
        if logged.invalid:
            # The form refused a 诉求 field: check the 服务记录's fields too, so every problem shows at once.
            try:
                interaction_domain.validate_interaction(current_user, form.interaction_data())
            except ValidationFailed as err:
                place_errors(form, err)
            if FIX_FIELDS not in form.form_errors:
                form.form_errors.insert(0, FIX_FIELDS)
    return render_template("service/interactions/new.html", form=form, enterprise=enterprise), status


def _may_edit_interaction(user: User, interaction: Interaction) -> bool:
    """Those who may edit the enterprise; a commissioner only what they logged themselves."""
    return can(user, Action.EDIT, interaction) and authored(user, interaction)


def _interaction_initial(interaction: Interaction) -> dict[str, Any]:
    return {"date": interaction.occurred_on.isoformat(), "channel": interaction.channel.value,
            "specialty": interaction.specialty.value, "participants": interaction.participants,
            "summary": interaction.summary,
            "next_follow_up": interaction.next_follow_up.isoformat() if interaction.next_follow_up else "",
            "version": str(interaction.version)}


@bp.route("/interactions/<int:interaction_id>", methods=["GET", "POST"])
@login_required
@page
def interaction_detail(interaction_id: int):
    status, stale = 200, False
    if request.method == "POST":
        interaction = interaction_domain.lock_interaction(interaction_id) if interaction_id <= MAX_ID else None
        _found(interaction, Action.EDIT)
        if not _may_edit_interaction(current_user, interaction):
            raise Forbidden("只能修改本人登记的服务记录")
    else:
        interaction = load(Interaction, interaction_id, Action.VIEW)
    editable = _may_edit_interaction(current_user, interaction)
    form = InteractionForm(data=_interaction_initial(interaction) if request.method == "GET" else None)
    form.fill_choices(_loggable_specialties(current_user))
    if request.method == "POST":
        saved = attempt(lambda: interaction_domain.update_interaction(
            current_user, interaction, form.interaction_data(with_version=True)), form, conflict=STALE_MESSAGE,
            success="服务记录已保存")
        if saved:
            return redirect(url_for(".interaction_detail", interaction_id=interaction_id))
        status, stale = saved.status, saved.error is not None and saved.error.code == "stale"
    raised = list(db.session.scalars(
        sa.select(ServiceRequest).where(ServiceRequest.interaction_id == interaction.id)
        .order_by(ServiceRequest.id)))
    return render_template("service/interactions/detail.html", interaction=interaction, form=form,
                           editable=editable, stale=stale, raised=raised,
                           may_raise=can(current_user, Action.EDIT, interaction)), status
