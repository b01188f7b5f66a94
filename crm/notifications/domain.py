"""The in-app inbox: jobs and workflows notify users; each user reads and marks only their own.

None of these functions commits: a notification is written in the same transaction as the change (or the job
run) that caused it, so it exists exactly when that change does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from crm.auth.domain import session_figure
from crm.auth.models import Role, User
from crm.core.access import Action, can, scope
from crm.core.errors import NotFound
from crm.core.parsing import MAX_ID
from crm.core.time import utcnow
from crm.core.transactions import prepared
from crm.extensions import db
from crm.notifications.models import Notification, NotificationKind

NOT_FOUND = "记录不存在或您无权查看"  # the same words as access.require: another user's id must not leak
TITLE_MAX, LINK_MAX = 200, 300


def is_local_link(link: str) -> bool:
    """A path inside this app ("/rosters/…"): never another host, scheme or backslash trick."""
    if not link:
        return True
    if not link.startswith("/") or link.startswith("//") or "\\" in link:
        return False
    return not any(ord(ch) < 32 or ch.isspace() for ch in link)


def _clip(text: str, limit: int) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def notify(users: Iterable[User], kind: NotificationKind | str, title: str, body: str = "",
           link: str = "") -> list[Notification]:
    """One notification per distinct user (the same user twice gets one). Adds to the session; no commit.

    ``link`` must be a local path (it becomes a link in the inbox); a long title is shortened, not refused, so a
    job never fails on wording.
    """
    kind = NotificationKind(kind)  # ValueError for an unknown kind
    if not (title or "").strip():
        raise ValueError("notification title is required")
    link = (link or "").strip()
    if len(link) > LINK_MAX or not is_local_link(link):
        raise ValueError(f"notification link must be a local path: {link!r}")
    title = _clip(title, TITLE_MAX)
    rows: list[Notification] = []
    seen: set[int] = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        row = Notification(user_id=user.id, kind=kind, title=title, body=body or "", link=link, created_at=utcnow())
        db.session.add(row)
        rows.append(row)
    return rows


def users_with_role(role: Role | str, *, county_id: int | None = None) -> list[User]:
    """Active users of ``role``; with ``county_id``, those scoped to that county and the city-wide ones."""
    stmt = sa.select(User).where(User.role == Role(role), User.active.is_(True))
    if county_id is not None:
        stmt = stmt.where(sa.or_(User.county_id == county_id, User.county_id.is_(None)))
    return list(db.session.scalars(stmt.order_by(User.id)))


def notify_role(role: Role | str, kind: NotificationKind | str, title: str, body: str = "", link: str = "", *,
                county_id: int | None = None) -> list[Notification]:
    """Notify every active user of ``role`` (e.g. all coordinators when a half-year refresh opens)."""
    return notify(users_with_role(role, county_id=county_id), kind, title, body, link)


def inbox_statement(user: User, *, unread_only: bool = False) -> sa.Select:
    """The user's own notifications, newest first."""
    stmt = scope(user, Notification, sa.select(Notification))  # the inbox's access rule: one's own
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt.order_by(Notification.created_at.desc(), Notification.id.desc())


def _unread_of(user_id: Any, _dialect: str) -> Any:
    return (sa.select(sa.func.count()).select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None)).scalar_subquery())


# The navigation's badge, read with the session's user on every page (crm.auth.domain.session_figure): by the
# user's index (ix_notifications_user_unread), a column of the statement every page runs first.
UNREAD_FIGURE = "unread_notifications"
session_figure(UNREAD_FIGURE, _unread_of)


def unread_count(user: Any) -> int:
    if user is None or getattr(user, "id", None) is None:
        return 0
    return db.session.scalar(prepared(  # on every page; by the user's index whatever the user
        sa.select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None)))) or 0


def get_own(user: User, notification_id: int) -> Notification:
    """The user's notification with that id; 404 for a missing one and for another user's alike."""
    row = db.session.get(Notification, notification_id) if 0 < notification_id <= MAX_ID else None
    if row is None or not can(user, Action.VIEW, row):
        raise NotFound(NOT_FOUND)
    return row


def mark_read(user: User, notification: Notification) -> Notification:
    """Mark one of the user's own notifications read (the first read time is kept); another's → 404."""
    if not can(user, Action.EDIT, notification):
        raise NotFound(NOT_FOUND)
    if notification.read_at is None:
        notification.read_at = utcnow()
    return notification


def mark_all_read(user: User) -> int:
    """Mark all the user's unread notifications read; returns how many were unread."""
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow()),
        execution_options={"synchronize_session": "fetch"},
    )
    return result.rowcount or 0
