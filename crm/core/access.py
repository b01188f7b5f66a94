"""Per-record access, in one place: every view, API endpoint and CLI command asks here.

Rules (DEVELOPERS.md, quality bar):
- admin: everything;
- coordinator: reads and changes enterprises, within their county when county-scoped;
- commissioner: reads and changes only the enterprises actively assigned to them;
- leader: reads everything (within their county when scoped), changes nothing.
"""

from __future__ import annotations

import enum
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.errors import Forbidden, NotFound
from crm.extensions import db


class Action(enum.StrEnum):
    VIEW = "view"
    EDIT = "edit"
    CREATE = "create"
    MANAGE_USERS = "manage_users"
    PUBLISH = "publish"  # submit, return and publish a roster edition


def assigned_enterprise_ids(user: User) -> sa.Select:
    from crm.service.models import Assignment

    return sa.select(Assignment.enterprise_id).where(
        Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None)
    )


def _enterprise_of(obj: Any) -> Any:
    from crm.enterprises.models import Enterprise

    if isinstance(obj, Enterprise):
        return obj
    return getattr(obj, "enterprise", None)


def _in_scope(user: User, enterprise: Any) -> bool:
    if user.county_id is not None and enterprise.county_id != user.county_id:
        return False
    if user.role is Role.COMMISSIONER:  # one EXISTS, not all of their assigned ids
        from crm.service.models import Assignment

        return bool(db.session.scalar(sa.select(sa.exists().where(
            Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None),
            Assignment.enterprise_id == enterprise.id))))
    return True


def can(user: User | None, action: Action | str, obj: Any = None) -> bool:
    """May ``user`` do ``action`` to ``obj`` (a record, or ``None`` for "in general")?"""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return False
    action = Action(action)
    if user.role is Role.ADMIN:
        return True
    if action is Action.MANAGE_USERS:
        return False
    if _is_edition(obj):
        return _can_edition(user, action, obj)
    if user.role is Role.LEADER and action is not Action.VIEW:
        return False
    if action in (Action.CREATE, Action.PUBLISH):
        return user.role is Role.COORDINATOR and (action is Action.CREATE or user.county_id is None)
    if obj is None:
        return True
    enterprise = _enterprise_of(obj)
    if enterprise is None:
        return False
    return _in_scope(user, enterprise)


def _is_edition(obj: Any) -> bool:
    from crm.rosters.models import RosterEdition

    return isinstance(obj, RosterEdition)


def _can_edition(user: User, action: Action, edition: Any) -> bool:
    """Everyone reads published lists; drafts are for coordinators and leaders; coordinators edit them;
    only a city-wide coordinator opens, submits, returns and publishes (a county coordinator proposes entries)."""
    from crm.rosters.models import FROZEN

    if action is Action.VIEW:
        return edition.status in FROZEN or user.role in (Role.COORDINATOR, Role.LEADER)
    if user.role is not Role.COORDINATOR:
        return False
    if action is Action.PUBLISH:
        return user.county_id is None
    return action in (Action.EDIT, Action.CREATE)


def require(user: User | None, action: Action | str, obj: Any = None) -> None:
    """Raise unless allowed. A record the user may not even see answers 404, so its existence does not leak."""
    if can(user, action, obj):
        return
    if obj is not None and Action(action) is not Action.VIEW and can(user, Action.VIEW, obj):
        raise Forbidden("您没有权限修改该记录")
    if obj is not None:
        raise NotFound("记录不存在或您无权查看")
    raise Forbidden("您没有权限执行此操作")


def scope_enterprises(user: User, stmt: sa.Select) -> sa.Select:
    """Restrict an enterprise query to what ``user`` may see."""
    from crm.enterprises.models import Enterprise

    if user.role is Role.ADMIN:
        return stmt
    if user.county_id is not None:
        stmt = stmt.where(Enterprise.county_id == user.county_id)
    if user.role is Role.COMMISSIONER:
        stmt = stmt.where(Enterprise.id.in_(assigned_enterprise_ids(user)))
    return stmt
