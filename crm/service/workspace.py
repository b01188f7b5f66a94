"""The commissioner's workspace (我的企业): their enterprises, sorted by what needs attention first.

Shared by the workspace page and anything else that wants the same view (a fixed number of queries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import aliased, contains_eager, joinedload

from crm.auth.models import Role, Specialty, User
from crm.core.access import scope_enterprises
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import interactions as interaction_domain
from crm.service.assignments import SPECIALTIES
from crm.service.models import Assignment, Interaction, RequestStatus, ServiceRequest
from crm.service.requests import OPEN_STATUSES as OPEN

S = RequestStatus


def _is_commissioner(user: object) -> bool:
    return getattr(user, "role", None) is Role.COMMISSIONER


@dataclass
class WorkspaceRow:
    """One enterprise on the workspace with what needs attention."""

    enterprise: Enterprise
    assignments: list[Assignment] = field(default_factory=list)
    last_contact: date | None = None
    days_since: int | None = None
    overdue_follow_ups: int = 0
    follow_up_due: date | None = None  # the earliest follow-up date missed
    open_requests: int = 0
    overdue_requests: int = 0
    next_due: date | None = None  # the nearest due date of an open request
    awaiting_visit: int = 0  # resolved, waiting for the 回访 that closes them

    @property
    def specialties(self) -> list[Specialty]:
        return sorted({a.specialty for a in self.assignments}, key=SPECIALTIES.index)

    @property
    def log_specialty(self) -> Specialty | None:
        found = self.specialties
        return found[0] if found else None

    @property
    def next_due_overdue(self) -> bool:
        return self.overdue_requests > 0

    def attention(self) -> tuple:
        """Sort key: overdue requests, then missed follow-ups, then the longest since the last contact (never
        contacted first), then the nearest due date."""
        never = 10**6
        return (self.overdue_requests == 0, self.overdue_follow_ups == 0,
                -(never if self.days_since is None else self.days_since),
                self.next_due or date.max, self.enterprise.name_pinyin, self.enterprise.id)


def workspace_rows(user: User, commissioner: User | None, today: date) -> list[WorkspaceRow]:
    """The enterprises under active assignment that ``user`` may see (a commissioner: their own; else those
    of ``commissioner``, or all), with the assignments shown, sorted by :meth:`WorkspaceRow.attention`.

    A fixed number of queries whatever the number of enterprises: the assignments (with enterprise and
    commissioner), the last contacts, the missed follow-ups, the request counts.
    """
    stmt = (sa.select(Assignment).join(Enterprise, Assignment.enterprise_id == Enterprise.id)
            .where(Assignment.ended_on.is_(None))
            .options(contains_eager(Assignment.enterprise), joinedload(Assignment.commissioner)))
    stmt = scope_enterprises(user, stmt)
    who = user if _is_commissioner(user) else commissioner
    if who is not None:
        stmt = stmt.where(Assignment.commissioner_id == who.id)
    rows: dict[int, WorkspaceRow] = {}
    for a in db.session.scalars(stmt).unique():
        rows.setdefault(a.enterprise_id, WorkspaceRow(a.enterprise)).assignments.append(a)
    if not rows:
        return []
    ids = list(rows)
    for enterprise_id, day in interaction_domain.last_contact(ids).items():
        rows[enterprise_id].last_contact = day
        rows[enterprise_id].days_since = (today - day).days
    for enterprise_id, count, earliest in db.session.execute(_missed_follow_ups(ids, today)):
        rows[enterprise_id].overdue_follow_ups, rows[enterprise_id].follow_up_due = count, earliest
    for enterprise_id, open_count, overdue, next_due, awaiting in db.session.execute(_request_counts(ids, today)):
        row = rows[enterprise_id]
        row.open_requests, row.overdue_requests = int(open_count or 0), int(overdue or 0)
        row.next_due, row.awaiting_visit = next_due, int(awaiting or 0)
    for row in rows.values():
        row.assignments.sort(key=lambda a: (SPECIALTIES.index(a.specialty), a.id))
    return sorted(rows.values(), key=WorkspaceRow.attention)


def _missed_follow_ups(ids: list[int], today: date) -> sa.Select:
    """Per enterprise: interactions whose ``next_follow_up`` has passed with no later interaction since."""
    later = aliased(Interaction)
    followed = sa.exists().where(
        later.enterprise_id == Interaction.enterprise_id,
        sa.or_(later.occurred_on > Interaction.occurred_on,
               sa.and_(later.occurred_on == Interaction.occurred_on, later.id > Interaction.id)))
    return (sa.select(Interaction.enterprise_id, sa.func.count(), sa.func.min(Interaction.next_follow_up))
            .where(Interaction.enterprise_id.in_(ids), Interaction.next_follow_up < today, ~followed)
            .group_by(Interaction.enterprise_id))


def _request_counts(ids: list[int], today: date) -> sa.Select:
    is_open = ServiceRequest.status.in_(OPEN)
    return (sa.select(ServiceRequest.enterprise_id,
                      sa.func.sum(sa.case((is_open, 1), else_=0)),
                      sa.func.sum(sa.case((sa.and_(is_open, ServiceRequest.due_date < today), 1), else_=0)),
                      sa.func.min(sa.case((is_open, ServiceRequest.due_date), else_=None)),
                      sa.func.sum(sa.case((ServiceRequest.status == S.RESOLVED, 1), else_=0)))
            .where(ServiceRequest.enterprise_id.in_(ids), ServiceRequest.status.in_((*OPEN, S.RESOLVED)))
            .group_by(ServiceRequest.enterprise_id))
