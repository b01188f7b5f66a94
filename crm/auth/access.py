"""Access rules of the users capability: what a role may do with no record in particular.

Rules for records live with their models (``crm/<feature>/access.py``) and are registered with
:mod:`crm.core.access`; this module registers the general one (the roles are defined here).
"""

from __future__ import annotations

from typing import Any

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action


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


access.register_general(general)
