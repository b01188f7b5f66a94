"""What the service shows on the 一企一档 page: commissioners per specialty, the latest interactions, open and
recent requests, policy deliveries (registered as a page section in :mod:`crm.service.subscribers`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import request

from crm.auth.models import Specialty, User
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


def _active_commissioners(enterprise: Enterprise) -> dict[Specialty, Any]:
    """Per specialty (科技 融资 法务 媒体 人才) the active assignment's commissioner as the card shows them (name,
    phone, since when) or ``None``: :func:`crm.service.assignments.active_by_specialty` as plain columns (it loaded
    each commissioner as a user, with their specialties in a second statement)."""
    found = {row.specialty: row for row in db.session.execute(prepared(
        sa.select(Assignment.specialty, Assignment.started_on, User.display_name, User.phone)
        .join(User, Assignment.commissioner_id == User.id)
        .where(Assignment.enterprise_id == enterprise.id, Assignment.ended_on.is_(None))))}
    return {s: found.get(s) for s in assignments.SPECIALTIES}


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
    # come with the page (window aggregates over the enterprise's rows, read from
    # ix_interactions_enterprise_id_occurred_on: one statement, was a separate aggregate); only a page past the end
    # counts apart, and then shows the last page.
    # Every statement here is by the enterprise's id (and the viewer's scope): prepared, one plan for any record
    # and viewer (crm.core.transactions.prepared; the seventh provincial-scale pass).
    timeline = prepared(
        _plain(interactions.interactions_statement(viewer, enterprise_id=enterprise.id),
               Interaction.id, Interaction.occurred_on, Interaction.channel, Interaction.specialty,
               Interaction.summary, Interaction.next_follow_up, User.display_name.label("author"),
               sa.func.count().over().label("total"), sa.func.max(Interaction.occurred_on).over().label("last"))
        .outerjoin(User, Interaction.created_by_id == User.id))
    page_no = max(request.args.get("interactions_page", 1, type=int) or 1, 1)
    latest = db.session.execute(timeline.limit(SECTION_ROWS).offset((page_no - 1) * SECTION_ROWS)).all()
    if latest:
        interaction_total, last_contact = latest[0].total, latest[0].last
    elif page_no == 1:  # no 服务记录 at all
        interaction_total, last_contact = 0, None
    else:
        interaction_total, last_contact = db.session.execute(
            sa.select(sa.func.count(Interaction.id), sa.func.max(Interaction.occurred_on))
            .where(Interaction.enterprise_id == enterprise.id)).one()
        interaction_total = interaction_total or 0
        page_no = max(1, -(-interaction_total // SECTION_ROWS))
        if interaction_total:
            latest = db.session.execute(timeline.limit(SECTION_ROWS).offset((page_no - 1) * SECTION_ROWS)).all()
    pages = max(1, -(-interaction_total // SECTION_ROWS))
    recent = sa.or_(ServiceRequest.status.in_(requests.OPEN_STATUSES),
                    ServiceRequest.raised_on >= today - timedelta(days=RECENT_REQUEST_DAYS))
    found = db.session.execute(prepared(
        _plain(requests.requests_statement(viewer, enterprise_id=enterprise.id, today=today).where(recent),
               ServiceRequest.id, ServiceRequest.category, ServiceRequest.description, ServiceRequest.status,
               ServiceRequest.raised_on, ServiceRequest.due_date, ServiceRequest.satisfaction,
               User.display_name.label("owner"))
        .outerjoin(User, ServiceRequest.owner_id == User.id).limit(50))).all()
    open_rows = sorted((r for r in found if r.status in requests.OPEN_STATUSES), key=lambda r: (r.due_date, r.id))
    done_rows = [r for r in found if r.status not in requests.OPEN_STATUSES]
    deliveries = db.session.execute(prepared(
        _plain(policy.deliveries_statement(viewer, enterprise_id=enterprise.id, today=today),
               PolicyDelivery.id, PolicyDelivery.kind, PolicyDelivery.promised, PolicyDelivery.amount,
               PolicyDelivery.promised_date, PolicyDelivery.delivered_date, PolicyDelivery.status)
        .limit(SECTION_ROWS * 2))).all()
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
