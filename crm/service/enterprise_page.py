"""What the service shows on the 一企一档 page: commissioners per specialty, the latest interactions, open and
recent requests, policy deliveries (registered as a page section in :mod:`crm.service.subscribers`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import request

from crm.auth.models import Specialty, User
from crm.core.cache import built_for
from crm.core.time import local_today
from crm.core.transactions import prepared
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import assignments, interactions, policy, requests
from crm.service.models import Assignment, Interaction, PolicyDelivery, ServiceRequest

SECTION_ROWS = 10  # interactions, requests and deliveries shown on the record (the rest on their own pages)
RECENT_REQUEST_DAYS = 180


def _plain(stmt: sa.Select, *columns: Any) -> sa.Select:
    """``stmt`` (a scoped, filtered, ordered statement of one model) reading only ``columns``: the same rows, as
    plain named rows instead of entities (its joins, scope and order stay)."""
    return stmt.with_only_columns(*columns, maintain_column_froms=True)


# Every statement here is by the enterprise's id (and the viewer's scope): prepared, one plan for any record and
# viewer (crm.core.transactions.prepared; the seventh provincial-scale pass), and built once per process for each
# viewer with the id, the page and the limits as parameters (crm.core.cache.built_for; the eleventh pass).
_ENTERPRISE = sa.bindparam("enterprise_id", type_=sa.Integer)
_LIMIT = sa.bindparam("limit", type_=sa.Integer)
_OFFSET = sa.bindparam("offset", type_=sa.Integer)

# Per specialty, the active assignment's commissioner as the card shows them (name, phone, since when): no scope,
# built once a process.
_COMMISSIONERS = prepared(
    sa.select(Assignment.specialty, Assignment.started_on, User.display_name, User.phone)
    .join(User, Assignment.commissioner_id == User.id)
    .where(Assignment.enterprise_id == _ENTERPRISE, Assignment.ended_on.is_(None)))


def _active_commissioners(enterprise: Enterprise) -> dict[Specialty, Any]:
    """Per specialty (科技 融资 法务 媒体 人才) the active assignment's commissioner as the card shows them (name,
    phone, since when) or ``None``: :func:`crm.service.assignments.active_by_specialty` as plain columns (it loaded
    each commissioner as a user, with their specialties in a second statement)."""
    found = {row.specialty: row for row in db.session.execute(_COMMISSIONERS, {"enterprise_id": enterprise.id})}
    return {s: found.get(s) for s in assignments.SPECIALTIES}


def _timeline(viewer: Any) -> sa.Select:
    """A page of the enterprise's 服务记录 the viewer may see, with their count and the last contact (window
    aggregates over the enterprise's rows, read from ix_interactions_enterprise_id_occurred_on)."""
    return prepared(
        _plain(interactions.interactions_statement(viewer, enterprise_id=_ENTERPRISE),
               Interaction.id, Interaction.occurred_on, Interaction.channel, Interaction.specialty,
               Interaction.summary, Interaction.next_follow_up, User.display_name.label("author"),
               sa.func.count().over().label("total"), sa.func.max(Interaction.occurred_on).over().label("last"))
        .outerjoin(User, Interaction.created_by_id == User.id).limit(_LIMIT).offset(_OFFSET))


_COUNTED = prepared(sa.select(sa.func.count(Interaction.id), sa.func.max(Interaction.occurred_on))
                    .where(Interaction.enterprise_id == _ENTERPRISE))


def _requests(viewer: Any, today: date) -> sa.Select:
    """The open requests and those raised in the last ``RECENT_REQUEST_DAYS`` the viewer may see."""
    recent = sa.or_(ServiceRequest.status.in_(requests.OPEN_STATUSES),
                    ServiceRequest.raised_on >= today - timedelta(days=RECENT_REQUEST_DAYS))
    return prepared(
        _plain(requests.requests_statement(viewer, enterprise_id=_ENTERPRISE, today=today).where(recent),
               ServiceRequest.id, ServiceRequest.category, ServiceRequest.description, ServiceRequest.status,
               ServiceRequest.raised_on, ServiceRequest.due_date, ServiceRequest.satisfaction,
               User.display_name.label("owner"))
        .outerjoin(User, ServiceRequest.owner_id == User.id).limit(50))


def _deliveries(viewer: Any, today: date) -> sa.Select:
    return prepared(
        _plain(policy.deliveries_statement(viewer, enterprise_id=_ENTERPRISE, today=today),
               PolicyDelivery.id, PolicyDelivery.kind, PolicyDelivery.promised, PolicyDelivery.amount,
               PolicyDelivery.promised_date, PolicyDelivery.delivered_date, PolicyDelivery.status)
        .limit(SECTION_ROWS * 2))


def enterprise_sections(enterprise: Enterprise, viewer: Any, editable: bool) -> dict[str, Any]:
    """一企一档's service part: commissioners per specialty, the latest interactions, open and recent requests,
    policy deliveries. Four statements whatever the record holds (six for a page of 服务记录 past the end).

    Each list is read through its capability's scoped statement (the same rows as before) but as plain columns,
    only those the cards show: loading 10 interactions, up to 50 requests and 20 deliveries as entities with their
    authors and owners as users cost more Python than the page's SQL (benchmarks/README.md, "Fourth pass:
    coverage and 一企一档")."""
    today = local_today()
    # The timeline is paged (?interactions_page=N, links 较新 / 更早 under the card, no script): a record with
    # years of visits stays a page of SECTION_ROWS, the older ones a click away. The count and the last contact
    # come with the page; only a page past the end counts apart, and then shows the last page.
    timeline = built_for(viewer, "service.enterprise_timeline", lambda: _timeline(viewer))
    page_no = max(request.args.get("interactions_page", 1, type=int) or 1, 1)

    def page_of_timeline(number: int) -> list[Any]:
        return db.session.execute(timeline, {"enterprise_id": enterprise.id, "limit": SECTION_ROWS,
                                             "offset": (number - 1) * SECTION_ROWS}).all()

    latest = page_of_timeline(page_no)
    if latest:
        interaction_total, last_contact = latest[0].total, latest[0].last
    elif page_no == 1:  # no 服务记录 at all
        interaction_total, last_contact = 0, None
    else:
        interaction_total, last_contact = db.session.execute(_COUNTED, {"enterprise_id": enterprise.id}).one()
        interaction_total = interaction_total or 0
        page_no = max(1, -(-interaction_total // SECTION_ROWS))
        if interaction_total:
            latest = page_of_timeline(page_no)
    pages = max(1, -(-interaction_total // SECTION_ROWS))
    found = db.session.execute(built_for(viewer, "service.enterprise_requests", lambda: _requests(viewer, today),
                                         today), {"enterprise_id": enterprise.id}).all()
    open_rows = sorted((r for r in found if r.status in requests.OPEN_STATUSES), key=lambda r: (r.due_date, r.id))
    done_rows = [r for r in found if r.status not in requests.OPEN_STATUSES]
    deliveries = db.session.execute(
        built_for(viewer, "service.enterprise_deliveries", lambda: _deliveries(viewer, today), today),
        {"enterprise_id": enterprise.id}).all()
    return {
        "today": today,
        "recent_days": RECENT_REQUEST_DAYS,
        "commissioners": _active_commissioners(enterprise),
        "may_assign": assignments.can_assign(viewer, enterprise),
        "may_edit": editable,
        "interactions": latest,
        "interaction_total": interaction_total,
        "interaction_page": page_no,
        "interaction_pages": pages,
        "last_contact": last_contact,
        # a follow-up date that has passed with no contact since
        "follow_up_overdue": {i.id for i in latest if i.next_follow_up and i.next_follow_up < today
                              and (last_contact is None or last_contact < i.next_follow_up)},
        "requests": (open_rows + done_rows)[:SECTION_ROWS * 2],
        "overdue": {r.id for r in open_rows if requests.is_overdue(r, today)},
        "deliveries": deliveries,
        "late": {d.id for d in deliveries if policy.is_late(d, today)},
    }
