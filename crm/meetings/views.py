"""Meeting pages: the list with this year's rule, plan a meeting, one meeting (participants, outcomes, history),
edit, cancel, book participants or invite a whole list, record agreements and follow-up 诉求.

Each view loads, checks this record (``load``: a meeting the user may not see → 404; a change they may not make →
403: leaders read everything and change nothing), calls :mod:`crm.meetings.domain` through ``attempt`` (commit
once; refusals next to their fields; a stale version → the conflict message, nothing written) and renders.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload, selectinload
from wtforms.fields.choices import SelectChoice

from crm.auth.models import Role, User
from crm.core.access import Action, can, scope
from crm.core.audit import AuditLog
from crm.core.errors import DomainError, Forbidden
from crm.core.messages import STALE_MESSAGE
from crm.core.pages import attempt, load, page
from crm.core.pagination import paginate, parse_page_args
from crm.core.time import local_today
from crm.core.transactions import lock_for_update
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import County, Partner
from crm.service.models import RequestCategory

from . import domain
from .access import may_plan
from .forms import (
    AgreementForm,
    CancelForm,
    FollowUpForm,
    InviteListForm,
    MeetingFilterForm,
    MeetingForm,
    ParticipantsForm,
    city_suggestions,
)
from .models import Meeting, MeetingKind, MeetingStatus

bp = Blueprint("meetings", __name__, url_prefix="/meetings")

STATUS_BADGES = {"planned": "text-bg-info", "confirmed": "text-bg-primary", "held": "text-bg-success",
                 "cancelled": "text-bg-secondary"}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"STATUS_BADGES": STATUS_BADGES, "chengyu_reason": domain.chengyu_reason,
            "city_suggestions": city_suggestions(), "has_calendar": "calendar.index" in current_app.view_functions}


def _load(meeting_id: int, action: Action = Action.VIEW) -> Meeting:
    return load(Meeting, meeting_id, action)


# --- the list ------------------------------------------------------------------------------------------------

def _year(raw: str | None, errors: list[str]) -> int:
    text = (raw or "").strip()
    if not text:
        return local_today().year
    if len(text) <= 4 and text.isascii() and text.isdigit() and domain.EARLIEST_YEAR <= int(text) <= domain.LATEST_YEAR:
        return int(text)
    errors.append(f"年份应为 {domain.EARLIEST_YEAR}–{domain.LATEST_YEAR} 之间的数字")
    return local_today().year


@bp.route("/")
@login_required
@page
def index():
    errors: list[str] = []
    form = MeetingFilterForm(formdata=request.args)
    year = _year(form.year.data, errors)
    form.year.data = str(year)
    kind = status = None
    try:
        kind = MeetingKind(form.kind.data) if form.kind.data else None
    except ValueError:
        errors.append(f"未知会议类型;可选:{MeetingKind.allowed_text()}")
        form.kind.data = ""
    try:
        status = MeetingStatus(form.status.data) if form.status.data else None
    except ValueError:
        errors.append(f"未知会议状态;可选:{MeetingStatus.allowed_text()}")
        form.status.data = ""
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        errors.extend(err.fields.values())
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    start, end = domain.year_bounds(year)
    stmt = domain.meetings_statement(current_user, start=start, end=end, kind=kind,
                                     city=(form.city.data or "").strip() or None, status=status)
    result = paginate(stmt.options(joinedload(Meeting.department)), page_no, per_page)
    link_args = {k: v for k, v in {"year": year, "kind": form.kind.data, "status": form.status.data,
                                   "city": form.city.data}.items() if v}
    show_rule = current_user.role in (Role.ADMIN, Role.COORDINATOR, Role.LEADER)
    return render_template(
        "meetings/index.html", form=form, page=result, year=year, link_args=link_args, errors=errors,
        rule=domain.yearly_rule(year) if show_rule else None, may_plan=may_plan(current_user),
    ), (400 if errors else 200)


# --- plan and edit -------------------------------------------------------------------------------------------

@bp.route("/new", methods=["GET", "POST"])
@login_required
@page
def new():
    if not may_plan(current_user):  # leaders and commissioners
        raise Forbidden("只有协调员和管理员可以安排会议")
    form = MeetingForm()
    saved = attempt(lambda: domain.create_meeting(current_user, form.to_data()), form)
    if saved:
        _flash_saved("会议已安排", saved.value)
        return redirect(url_for(".detail", meeting_id=saved.value.meeting.id))
    return render_template("meetings/form.html", form=form, meeting=None), saved.status


def _flash_saved(message: str, result: domain.Saved) -> None:
    flash(message, "success")
    for warning in result.warnings:
        flash(warning, "warning")


@bp.route("/<int:meeting_id>/edit", methods=["GET", "POST"])
@login_required
@page
def edit(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    if meeting.status is MeetingStatus.CANCELLED:
        flash("会议已取消,不能再修改", "warning")
        return redirect(url_for(".detail", meeting_id=meeting.id))
    form = MeetingForm(meeting=meeting, data=MeetingForm.initial(meeting) if request.method == "GET" else None)
    saved = attempt(lambda: _update(meeting_id, form), form, conflict=STALE_MESSAGE)
    if saved:
        _flash_saved("会议已保存", saved.value)
        return redirect(url_for(".detail", meeting_id=meeting_id))
    return render_template("meetings/form.html", form=form, meeting=meeting), saved.status


def _update(meeting_id: int, form: MeetingForm) -> domain.Saved:
    meeting = lock_for_update(Meeting, meeting_id)  # read afresh and held, so the version check sees the latest
    return domain.update_meeting(current_user, meeting, form.to_data(), version=form.version.data)


@bp.route("/<int:meeting_id>/cancel", methods=["POST"])
@login_required
@page
def cancel(meeting_id: int):
    _load(meeting_id, Action.EDIT)
    form = CancelForm()
    attempt(lambda: domain.cancel_meeting(current_user, lock_for_update(Meeting, meeting_id),
                                                 form.reason.data, version=form.version.data),
                   form, show="flash", notice="flash", conflict=STALE_MESSAGE, success="会议已取消,参会人员已收到通知")
    return redirect(url_for(".detail", meeting_id=meeting_id))


# --- one meeting ---------------------------------------------------------------------------------------------

def _history(meeting: Meeting) -> list[AuditLog]:
    return list(db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "meeting", AuditLog.entity_id == meeting.id)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())))


def _detail(meeting: Meeting, *, agreement_form: AgreementForm | None = None,
            follow_up_form: FollowUpForm | None = None, status: int = 200):
    editable = can(current_user, Action.EDIT, meeting)
    enterprises, hidden = domain.visible_enterprises(current_user, meeting)
    forms: dict[str, Any] = {}
    if editable and meeting.status in domain.UPCOMING:
        forms["cancel"] = CancelForm(formdata=None, data={"version": str(meeting.version)})
    if editable and meeting.status is MeetingStatus.HELD:
        changeable = [e for e in enterprises if can(current_user, Action.EDIT, e)]
        forms["agreement"] = agreement_form or AgreementForm(formdata=None)
        forms["agreement"].enterprise_id.choices = _enterprise_choices(changeable)
        forms["agreement"].partner_id.choices = [SelectChoice("", "请选择成渝企业")] + [
            SelectChoice(str(p.id), p.name, optgroup=p.region.value)
            for p in db.session.scalars(sa.select(Partner).order_by(Partner.region, Partner.id))]
        forms["follow_up"] = follow_up_form or FollowUpForm(formdata=None)
        forms["follow_up"].enterprise_id.choices = _enterprise_choices(changeable)
        forms["follow_up"].category.choices = [SelectChoice("", "请选择")] + [
            SelectChoice(c.value, c.value) for c in RequestCategory]
    readable = domain.readable_ids(current_user, [f.request.enterprise_id for f in meeting.follow_ups]
                                   + [a.enterprise_id for a in meeting.agreements])
    follow_ups = [f.request for f in meeting.follow_ups if f.request.enterprise_id in readable]
    agreements = [a for a in meeting.agreements if a.enterprise_id in readable]
    return render_template(
        "meetings/detail.html", meeting=meeting, enterprises=enterprises, hidden_enterprises=hidden,
        editable=editable, forms=forms, conflicts=domain.official_conflicts(meeting), follow_ups=follow_ups,
        agreements=agreements, hidden_agreements=len(meeting.agreements) - len(agreements),
        history=_history(meeting) if _sees_every_enterprise(current_user) else [],
    ), status


def _sees_every_enterprise(user: Any) -> bool:
    """The history names every participant: shown only to who may read every enterprise (admins, city-wide
    coordinators and leaders)."""
    return user.is_admin or (user.role in (Role.COORDINATOR, Role.LEADER) and user.county_id is None)


def _enterprise_choices(enterprises: list[Enterprise]) -> list[SelectChoice]:
    return [SelectChoice("", "请选择参会企业")] + [SelectChoice(str(e.id), e.name) for e in enterprises]


@bp.route("/<int:meeting_id>")
@login_required
@page
def detail(meeting_id: int):
    return _detail(_load(meeting_id))


@bp.route("/<int:meeting_id>/agreements", methods=["POST"])
@login_required
@page
def add_agreement(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    form = AgreementForm()
    saved = attempt(lambda: domain.add_agreement(current_user, meeting, form.to_data()), form,
                    validate=True, success=lambda a: f"已登记与{a.partner.name}的{a.kind.value}协议")
    if saved:
        return redirect(url_for(".detail", meeting_id=meeting_id) + "#outcomes")
    if saved.error is not None and saved.error.status == 409 and not saved.error.fields:
        flash(saved.error.message, "danger")
        return redirect(url_for(".detail", meeting_id=meeting_id))
    return _detail(_load(meeting_id), agreement_form=form, status=saved.status)


@bp.route("/<int:meeting_id>/follow-ups", methods=["POST"])
@login_required
@page
def add_follow_up(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    form = FollowUpForm()
    saved = attempt(lambda: domain.raise_follow_up(current_user, meeting, form.to_data()), form,
                    success=lambda r: f"已登记会后诉求,办理时限 {r.due_date.isoformat()}")
    if saved:
        return redirect(url_for(".detail", meeting_id=meeting_id) + "#outcomes")
    if saved.error is not None and saved.error.status == 409 and not saved.error.fields:
        flash(saved.error.message, "danger")
        return redirect(url_for(".detail", meeting_id=meeting_id))
    return _detail(_load(meeting_id), follow_up_form=form, status=saved.status)


# --- participants --------------------------------------------------------------------------------------------

def _participant_choices(form: ParticipantsForm, invite: InviteListForm, meeting: Meeting) -> None:
    stmt = scope(current_user, Enterprise, sa.select(Enterprise).join(Enterprise.county)).order_by(
        County.sort_order, Enterprise.name_pinyin, Enterprise.id).options(joinedload(Enterprise.county))
    form.enterprises.choices = [SelectChoice(str(e.id), e.name, optgroup=e.county.name)
                                for e in db.session.scalars(stmt)]
    form.partners.choices = [SelectChoice(str(p.id), f"{p.name}({p.city or p.region.value})", optgroup=p.region.value)
                             for p in db.session.scalars(sa.select(Partner).order_by(Partner.region, Partner.id))]
    users = db.session.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.username)
                               .options(selectinload(User.specialty_rows)))
    order = [Role.LEADER, Role.COORDINATOR, Role.ADMIN, Role.COMMISSIONER]  # who usually attends first
    form.officials.choices = [
        SelectChoice(u.username, f"{u.display_name}({u.role.label})", optgroup=u.role.label)
        for u in sorted(users, key=lambda u: order.index(u.role) if u.role in order else len(order))]
    invite.fill_choices(current_user)


@bp.route("/<int:meeting_id>/participants", methods=["GET", "POST"])
@login_required
@page
def participants(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    if meeting.status is MeetingStatus.CANCELLED:
        flash("会议已取消,不能再修改参会名单", "warning")
        return redirect(url_for(".detail", meeting_id=meeting.id))
    form = ParticipantsForm(prefix="p")
    invite = InviteListForm(prefix="invite")
    if request.method == "GET":
        form.enterprises.data = [str(link.enterprise_id) for link in meeting.enterprise_links]
        form.partners.data = [str(link.partner_id) for link in meeting.partner_links]
        form.officials.data = [link.user.username for link in meeting.official_links]
    _participant_choices(form, invite, meeting)
    status = 200
    if invite.submit.data:
        added = attempt(lambda: domain.invite_list(current_user, meeting, invite.roster.data,
                                                   cluster=invite.cluster.data, county=invite.county.data), invite)
        if added:
            flash(f"已按名单邀请 {added.value} 家企业" if added.value else "名单中的企业都已在参会名单中", "success")
            return redirect(url_for(".participants", meeting_id=meeting_id))
        status = added.status
    elif form.submit.data:
        saved = attempt(lambda: domain.set_participants(current_user, meeting, form.to_data()), form)
        if saved:
            _flash_saved("参会名单已保存", saved.value)
            return redirect(url_for(".detail", meeting_id=meeting_id))
        status = saved.status
    links = sorted(meeting.enterprise_links, key=lambda link: link.enterprise.name_pinyin or "")
    readable = domain.readable_ids(current_user, (link.enterprise_id for link in links))
    visible_links = [link for link in links if link.enterprise_id in readable]
    return render_template("meetings/participants.html", meeting=meeting, form=form, invite=invite,
                           links=visible_links, hidden=len(links) - len(visible_links)), status
