"""Access rules of the users capability, registered with :mod:`crm.core.access`: what a role may do with no
record in particular (the roles are defined here), and who reads and changes user records (admins).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core import access
from crm.core.access import Action, Condition


def general(user: Any, action: Action) -> bool:
    """Admins everything; only admins manage users; leaders only read; coordinators create records; only a
    city-wide coordinator opens, submits, returns and publishes list editions; reading and changing in general
    is open to the other roles (each record's own rule then decides)."""
    if user.is_admin:
        return True
    if action is Action.MANAGE_USERS:
        return False
    if user.role is Role.LEADER and action is not Action.VIEW:
        return False
    if action is Action.CREATE:
        return user.role is Role.COORDINATOR
    if action is Action.PUBLISH:
        return user.role is Role.COORDINATOR and user.county_id is None
    return True


class UserRecords:
    """User records are read and changed by who manages users: admins."""

    def can(self, user: Any, action: Action, record: User) -> bool:
        return action in (Action.VIEW, Action.EDIT) and general(user, Action.MANAGE_USERS)

    def where(self, user: Any, action: Action) -> Condition:
        return None if action in (Action.VIEW, Action.EDIT) and general(user, Action.MANAGE_USERS) else sa.false()


access.register_general(general)
access.register(User, UserRecords())
