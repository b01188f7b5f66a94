"""Access rules of the enterprise registry, registered with :mod:`crm.core.access`.

- admin: every enterprise;
- coordinator: reads and changes enterprises, within their county when county-scoped;
- commissioner: reads and changes enterprises within their county when scoped (the service capability adds
  its one-to-one rule: only those actively assigned to them, see ``crm.service.access``);
- leader: reads (within their county when scoped), changes nothing.

Contacts, yearly figures and partner links are judged by their enterprise.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action, Condition, Through
from crm.enterprises.models import Enterprise, EnterpriseContact, EnterpriseFigure, EnterprisePartner

ROLES = {
    Action.VIEW: (Role.COORDINATOR, Role.COMMISSIONER, Role.LEADER),
    Action.EDIT: (Role.COORDINATOR, Role.COMMISSIONER),
}


def covers_county(user: Any, county_id: int | None) -> bool:
    """Whether ``user`` acts in that county: admins and city-wide users anywhere, a county-scoped one only in
    theirs. Also what keeps a county coordinator from moving an enterprise out of their county."""
    scope = getattr(user, "county_id", None)
    return scope is None or scope == county_id or bool(getattr(user, "is_admin", False))


class EnterpriseRule:
    def can(self, user: Any, action: Action, enterprise: Enterprise) -> bool:
        if user.is_admin:
            return True
        return user.role in ROLES.get(action, ()) and covers_county(user, enterprise.county_id)

    def where(self, user: Any, action: Action) -> Condition:
        if user.is_admin:
            return None
        if user.role not in ROLES.get(action, ()):
            return sa.false()
        if user.county_id is None:
            return None
        return Enterprise.county_id == user.county_id


access.register(Enterprise, EnterpriseRule())
for _child in (EnterpriseContact, EnterpriseFigure, EnterprisePartner):
    access.register(_child, Through("enterprise", Enterprise, _child.enterprise_id))
