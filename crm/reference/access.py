"""Access rules of the reference data, registered with :mod:`crm.core.access`.

- Parks, departments and targets are reference data: everyone signed in reads them (the enterprise form offers the
  parks, the dashboard shows the targets).
- Admins and city-wide coordinators keep them (the upkeep pages under ``/reference``, with audit); a county
  coordinator, a commissioner and a leader change none of them.
- The upkeep pages themselves are for who keeps the data and for who oversees it: admins and coordinators (a
  county coordinator reads them) and leaders (read only). Commissioners are refused them: their work is their
  enterprises.

Roles are read by duck typing (``is_admin``, ``role.value``, ``county_id``): this layer sits beside ``crm.auth``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.core import access
from crm.core.access import Action, Condition
from crm.reference.models import Department, Park, PlanTarget, Target

KEPT = (Park, Department, Target, PlanTarget)


def _role(user: Any) -> str | None:
    return getattr(getattr(user, "role", None), "value", None)


def keeps_reference(user: Any) -> bool:
    """Admins and city-wide coordinators keep parks, departments and targets."""
    if not access.can(user, Action.CREATE):
        return False
    return bool(getattr(user, "is_admin", False)) or (_role(user) == "coordinator"
                                                      and getattr(user, "county_id", None) is None)


def reads_upkeep(user: Any) -> bool:
    """Who sees the upkeep pages: admins, coordinators (a county one read only) and leaders (read only)."""
    return access.can(user, Action.VIEW) and (bool(getattr(user, "is_admin", False))
                                              or _role(user) in ("coordinator", "leader"))


class ReferenceRule:
    """Everyone signed in reads; admins and city-wide coordinators change."""

    def can(self, user: Any, action: Action, record: Any) -> bool:
        return self.where(user, action) is None

    def where(self, user: Any, action: Action) -> Condition:
        if action is Action.VIEW:
            return None
        if action is Action.EDIT and keeps_reference(user):
            return None
        return sa.false()


RULE = ReferenceRule()
for _model in KEPT:
    access.register(_model, RULE)
