"""The 专项督导 job (declared in crm/scheduler/registry.py): ``func(fire_time) -> str``, run inside the scheduler's
exactly-once claim, never committing.

``rectification_overdue`` (daily): a rectification item still open or in progress after its due date tells the
owning unit (its liaisons and its named owner) and the coordinators (the city-wide ones and those of the visit's
county) once: ``overdue_notified_on`` marks it, so a second run, a catch-up or a manual run tells nobody twice.
Sending an item back (``done``/``closed`` → ``in_progress``) or changing its due date clears the mark.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from crm.auth.models import Role, User
from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.notifications.domain import notify, users_with_role
from crm.tasks.models import RectificationItem
from crm.tasks.supervision import OPEN_STATUSES, item_link, liaisons_of


def rectification_overdue(fire_time: datetime) -> str:
    today = fire_time.astimezone(SHANGHAI).date()
    items = list(db.session.scalars(
        sa.select(RectificationItem)
        .options(joinedload(RectificationItem.supervision), joinedload(RectificationItem.department),
                 joinedload(RectificationItem.owner))
        .where(RectificationItem.status.in_(OPEN_STATUSES), RectificationItem.due_date < today,
               RectificationItem.overdue_notified_on.is_(None))
        .order_by(RectificationItem.due_date, RectificationItem.id)
    ))
    coordinators: dict[int | None, list[User]] = {}
    unit_people: dict[int | None, list[User]] = defaultdict(list)
    sent = 0
    for item in items:
        county_id = item.supervision.county_id
        if county_id not in coordinators:  # the city-wide ones, and the county's for a county's visit
            coordinators[county_id] = [u for u in users_with_role(Role.COORDINATOR, county_id=county_id)
                                       if u.county_id in (None, county_id)]
        if item.department_id not in unit_people:
            unit_people[item.department_id] = liaisons_of(item.department_id)
        owner = [item.owner] if item.owner is not None and item.owner.active else []
        days = (today - item.due_date).days
        unit = item.department.name if item.department else "(未指定单位)"
        body = (f"专项督导“{item.supervision.subject}”的整改事项:{item.description[:120]}\n"
                f"责任单位:{unit};整改时限 {item.due_date.isoformat()},已逾期 {days} 天,"
                f"当前状态“{item.status.label}”。请尽快整改并报告整改情况。")
        sent += len(notify(unit_people[item.department_id] + owner + coordinators[county_id],
                           "rectification_overdue", f"整改事项逾期:{unit}", body, item_link(item)))
        item.overdue_notified_on = today
    return f"{today.isoformat()}:逾期整改事项 {len(items)} 项,发出提醒 {sent} 条"
