"""Access rules of the "一对一" service, registered with :mod:`crm.core.access`.

- One-to-one: a commissioner reads and changes only the enterprises actively assigned to them (added to the
  enterprise registry's own rule, ``crm.enterprises.access``, so both hold).
- Assignments are seen with their enterprise; only admins and coordinators who may change the enterprise
  assign (a commissioner may edit their enterprises but never reassign them).
- 服务记录, 诉求 and 政策兑现 are judged by their enterprise; a commissioner corrects only the 服务记录 they
  logged themselves (:func:`authored`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action, Condition, Through
from crm.enterprises import access as _registry  # noqa: F401  (its rule first: the county before the EXISTS)
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service.models import Assignment, Interaction, PolicyDelivery, ServiceRequest

ASSIGNERS = (Role.ADMIN, Role.COORDINATOR)


def assigned_enterprise_ids(user: Any) -> sa.Select:
    """``SELECT enterprise_id`` of the user's active assignments."""
    return sa.select(Assignment.enterprise_id).where(
        Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None))


class OneToOne:
    """A commissioner's enterprises are the ones actively assigned to them; no restriction for other roles."""

    def can(self, user: Any, action: Action, enterprise: Enterprise) -> bool:
        if user.role is not Role.COMMISSIONER:
            return True
        return bool(db.session.scalar(sa.select(sa.exists().where(  # one EXISTS, not all of their ids
            Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None),
            Assignment.enterprise_id == enterprise.id))))

    def where(self, user: Any, action: Action) -> Condition:
        if user.role is not Role.COMMISSIONER:
            return None
        return Enterprise.id.in_(assigned_enterprise_ids(user))


def may_assign(user: Any) -> bool:
    """Whether the user assigns at all (shows the bulk tools); per enterprise see :func:`can_assign`."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.active
                and user.role in ASSIGNERS)


def can_assign(user: Any, enterprise: Enterprise) -> bool:
    """Admins and coordinators who may change the enterprise (a county coordinator: their county's).

    ``can(EDIT)`` alone is not enough: a commissioner may edit their enterprises but must not reassign them.
    """
    return may_assign(user) and access.can(user, Action.EDIT, enterprise)


class AssignmentRule:
    """Seen with the enterprise; changed (ended, handed over) by who may assign for the enterprise."""

    def can(self, user: Any, action: Action, assignment: Assignment) -> bool:
        if action is Action.EDIT:
            return can_assign(user, assignment.enterprise)
        return action is Action.VIEW and access.can(user, action, assignment.enterprise)

    def where(self, user: Any, action: Action) -> Condition:
        if action is Action.EDIT and not may_assign(user):
            return sa.false()
        if action not in (Action.VIEW, Action.EDIT):
            return sa.false()
        return access.within(user, Assignment.enterprise_id, Enterprise, action)


def authored(user: Any, interaction: Interaction) -> bool:
    """A commissioner corrects only the 服务记录 they logged (or one logged by nobody); other roles any they may
    change."""
    return getattr(user, "role", None) is not Role.COMMISSIONER or interaction.created_by_id in (None, user.id)


access.register(Enterprise, OneToOne())
access.register(Assignment, AssignmentRule())
for _model in (Interaction, ServiceRequest, PolicyDelivery):
    access.register(_model, Through("enterprise", Enterprise, _model.enterprise_id))
