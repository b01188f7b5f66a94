"""The 成渝 partner catalogue pages: the list (search, region), add, one partner (its local suppliers, agreements
and meetings — the partner's side of the supply links) and edit. Everyone signed in reads; admins and
coordinators keep it (``crm.meetings.access``)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.core.access import Action, can, scope
from crm.core.audit import AuditLog
from crm.core.errors import DomainError, Forbidden
from crm.core.messages import STALE_MESSAGE
from crm.core.pages import attempt, load, page
from crm.core.pagination import paginate, parse_page_args
from crm.core.transactions import lock_for_update
from crm.extensions import db
from crm.reference.models import Partner, Region

from . import partners as domain
from .access import may_keep_partners
from .domain import readable_ids
from .forms import PartnerForm
from .models import Meeting, MeetingPartner

bp = Blueprint("partners", __name__, url_prefix="/partners")


@bp.route("/")
@login_required
@page
def index():
    errors: list[str] = []
    q = (request.args.get("q") or "").strip()[:60]
    region = Region.find(request.args.get("region") or "")
    if request.args.get("region") and region is None:
        errors.append(f"未知省市;可选:{Region.allowed_text()}")
    try:
        page_no, per_page = parse_page_args(request.args)
    except DomainError as err:
        errors.extend(err.fields.values())
        page_no, per_page = 1, current_app.config["PER_PAGE_DEFAULT"]
    result = paginate(domain.partners_statement(q=q, region=region), page_no, per_page)
    link_args = {k: v for k, v in {"q": q, "region": region.value if region else ""}.items() if v}
    return render_template("meetings/partners/index.html", page=result, q=q, region=region, regions=list(Region),
                           link_args=link_args, errors=errors,
                           may_keep=may_keep_partners(current_user)), (400 if errors else 200)


@bp.route("/new", methods=["GET", "POST"])
@login_required
@page
def new():
    if not may_keep_partners(current_user):
        raise Forbidden("只有协调员和管理员可以维护成渝企业目录")
    form = PartnerForm()
    saved = attempt(lambda: domain.create_partner(current_user, form.to_data()), form,
                    success=lambda p: f"已将 {p.name} 加入成渝企业目录")
    if saved:
        return redirect(url_for(".detail", partner_id=saved.value.id))
    return render_template("meetings/partners/form.html", form=form, partner=None), saved.status


@bp.route("/<int:partner_id>")
@login_required
@page
def detail(partner_id: int):
    partner = load(Partner, partner_id, Action.VIEW)
    links = domain.supply_links(partner)
    signed = domain.agreements(partner)
    readable = readable_ids(current_user, [link.enterprise_id for link in links] + [a.enterprise_id for a in signed])
    visible_links = [link for link in links if link.enterprise_id in readable]
    agreements = [a for a in signed if a.enterprise_id in readable]
    meetings = list(db.session.scalars(scope(current_user, Meeting, sa.select(Meeting).join(
        MeetingPartner, MeetingPartner.meeting_id == Meeting.id).where(MeetingPartner.partner_id == partner.id)
        .order_by(Meeting.starts_at.desc()), Action.VIEW).limit(50)))
    history = list(db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "partner", AuditLog.entity_id == partner.id)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())))
    return render_template("meetings/partners/detail.html", partner=partner, links=visible_links,
                           hidden_links=len(links) - len(visible_links), agreements=agreements, meetings=meetings,
                           history=history, editable=can(current_user, Action.EDIT, partner))


@bp.route("/<int:partner_id>/edit", methods=["GET", "POST"])
@login_required
@page
def edit(partner_id: int):
    partner = load(Partner, partner_id, Action.EDIT)
    form = PartnerForm(data=PartnerForm.initial(partner) if request.method == "GET" else None)
    saved = attempt(lambda: domain.update_partner(current_user, lock_for_update(Partner, partner_id), form.to_data(),
                                                  version=form.version.data),
                    form, conflict=STALE_MESSAGE, success="成渝企业信息已保存")
    if saved:
        return redirect(url_for(".detail", partner_id=partner_id))
    return render_template("meetings/partners/form.html", form=form, partner=partner), saved.status
