"""Access rules of 专项督导 (supervision visits and their rectification items), registered with
:mod:`crm.core.access`.

Who does what (issue 12, item 4):

- admins and city-wide coordinators record, edit and read every visit and item;
- a county-scoped coordinator records and reads the visits of their own county only (a visit to their county's
  government or to a unit of that county: ``SupervisionVisit.county_id``), and the items of those visits — the
  city's own departments are supervised by the city (decided here: a county supervises its own units, the
  city supervises everyone);
- leaders read every visit and item and change nothing; the situation report goes to the city government, so
  only city-wide readers (no ``county_id``) get it (:func:`may_read_report`);
- a department liaison (``liaison``) reads and moves only the items owned by their department, and reads the
  visits those items belong to; which moves they may make (start, report done) is the domain's rule
  (:func:`crm.tasks.supervision.may_move`);
- commissioners see nothing of it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action, Condition
from crm.tasks.models import RectificationItem, SupervisionVisit

WRITERS = (Role.ADMIN, Role.COORDINATOR)
READERS = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)


def _role(user: Any) -> Role | None:
    return getattr(user, "role", None)


def may_record(user: Any) -> bool:
    """Whether the user records supervision visits at all (the 新建督导 button, ``POST``)."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "active", False)
                and _role(user) in WRITERS)


def may_read_all(user: Any) -> bool:
    """Admins, city-wide coordinators and leaders: every visit and item (the situation report's readers are
    :func:`may_read_report`)."""
    role = _role(user)
    return role in (Role.ADMIN, Role.LEADER) or (role is Role.COORDINATOR and user.county_id is None)


def may_read_report(user: Any) -> bool:
    """The situation report to the city government (every county's overdue items): city-wide leaders,
    coordinators and admins; a county-scoped one (``county_id`` set) is refused like anyone else."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "active", False)
                and _role(user) in READERS and getattr(user, "county_id", None) is None)


def _liaison_department(user: Any) -> int | None:
    return user.department_id if _role(user) is Role.LIAISON else None


class VisitRule:
    def can(self, user: Any, action: Action, visit: SupervisionVisit) -> bool:
        role = _role(user)
        if action not in (Action.VIEW, Action.EDIT):
            return False
        if role is Role.ADMIN or (role is Role.COORDINATOR and user.county_id is None):
            return True
        if role is Role.COORDINATOR:
            return visit.county_id == user.county_id
        if role is Role.LEADER:
            return action is Action.VIEW
        department_id = _liaison_department(user)
        if department_id is not None and action is Action.VIEW:
            return any(item.department_id == department_id for item in visit.items)
        return False

    def where(self, user: Any, action: Action) -> Condition:
        role = _role(user)
        if action not in (Action.VIEW, Action.EDIT):
            return sa.false()
        if role is Role.ADMIN or (role is Role.COORDINATOR and user.county_id is None):
            return None
        if role is Role.COORDINATOR:
            return SupervisionVisit.county_id == user.county_id
        if role is Role.LEADER:
            return None if action is Action.VIEW else sa.false()
        department_id = _liaison_department(user)
        if department_id is not None and action is Action.VIEW:
            return SupervisionVisit.id.in_(
                sa.select(RectificationItem.supervision_id)
                .where(RectificationItem.department_id == department_id).correlate(None))
        return sa.false()


class ItemRule:
    def can(self, user: Any, action: Action, item: RectificationItem) -> bool:
        role = _role(user)
        if action not in (Action.VIEW, Action.EDIT):
            return False
        if role is Role.ADMIN or (role is Role.COORDINATOR and user.county_id is None):
            return True
        if role is Role.COORDINATOR:
            return item.supervision.county_id == user.county_id
        if role is Role.LEADER:
            return action is Action.VIEW
        department_id = _liaison_department(user)
        return department_id is not None and item.department_id == department_id

    def where(self, user: Any, action: Action) -> Condition:
        role = _role(user)
        if action not in (Action.VIEW, Action.EDIT):
            return sa.false()
        if role is Role.ADMIN or (role is Role.COORDINATOR and user.county_id is None):
            return None
        if role is Role.COORDINATOR:
            return RectificationItem.supervision_id.in_(
                sa.select(SupervisionVisit.id).where(SupervisionVisit.county_id == user.county_id)
                .correlate(None))
        if role is Role.LEADER:
            return None if action is Action.VIEW else sa.false()
        department_id = _liaison_department(user)
        if department_id is not None:
            return RectificationItem.department_id == department_id
        return sa.false()


access.register(SupervisionVisit, VisitRule())
access.register(RectificationItem, ItemRule())
