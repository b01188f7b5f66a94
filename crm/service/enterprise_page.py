"""What the service shows on the 一企一档 page: commissioners per specialty, the latest interactions, open and
recent requests, policy deliveries (registered as a page section in :mod:`crm.service.subscribers`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import request
from sqlalchemy.orm import joinedload, lazyload

from crm.auth.models import User
from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import assignments, interactions, policy, requests
from crm.service.models import Interaction, PolicyDelivery, ServiceRequest

SECTION_ROWS = 10  # interactions, requests and deliveries shown on the record (the rest on their own pages)
RECENT_REQUEST_DAYS = 180


def enterprise_sections(enterprise: Enterprise, viewer: Any, editable: bool) -> dict[str, Any]:
    """一企一档's service part: commissioners per specialty, the latest interactions, open and recent requests,
    policy deliveries. A fixed number of queries whatever the record holds (about eight)."""
    today = local_today()
    no_specialties = lazyload(User.specialty_rows)  # names and phones only
    # The timeline is paged (?interactions_page=N, links 较新 / 更早 under the card, no script): a record with
    # years of visits stays a page of SECTION_ROWS, the older ones a click away. The count and the last contact
    # come from one aggregate (ix_interactions_enterprise_id_occurred_on), whatever page is shown.
    interaction_total, last_contact = db.session.execute(
        sa.select(sa.func.count(Interaction.id), sa.func.max(Interaction.occurred_on))
        .where(Interaction.enterprise_id == enterprise.id)).one()
    interaction_total = interaction_total or 0
    pages = max(1, -(-interaction_total // SECTION_ROWS))
    page_no = min(max(request.args.get("interactions_page", 1, type=int) or 1, 1), pages)
    latest = list(db.session.scalars(
        interactions.interactions_statement(viewer, enterprise_id=enterprise.id)
        .options(joinedload(Interaction.created_by).options(no_specialties))
        .limit(SECTION_ROWS).offset((page_no - 1) * SECTION_ROWS)))
    recent = sa.or_(ServiceRequest.status.in_(requests.OPEN_STATUSES),
                    ServiceRequest.raised_on >= today - timedelta(days=RECENT_REQUEST_DAYS))
    found = list(db.session.scalars(
        requests.requests_statement(viewer, enterprise_id=enterprise.id, today=today).where(recent)
        .options(joinedload(ServiceRequest.owner).options(no_specialties)).limit(50)))
    open_rows = sorted((r for r in found if r.status in requests.OPEN_STATUSES), key=lambda r: (r.due_date, r.id))
    done_rows = [r for r in found if r.status not in requests.OPEN_STATUSES]
    deliveries = list(db.session.scalars(
        policy.deliveries_statement(viewer, enterprise_id=enterprise.id, today=today)
        .options(joinedload(PolicyDelivery.owner).options(no_specialties)).limit(SECTION_ROWS * 2)))
    return {
        "today": today,
        "recent_days": RECENT_REQUEST_DAYS,
        "commissioners": assignments.active_by_specialty(enterprise),
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
