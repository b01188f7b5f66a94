"""A user's private calendar feed token: ``/calendar/<token>.ics`` for phone and desktop calendars.

One row per user (:class:`CalendarFeedToken`); only the SHA-256 of the token is kept, like the API tokens, so a
database copy reveals no feed. Issuing a new token replaces the old one (the old URL stops working at once);
revoking deletes it. The token reads that one feed and nothing else: it is not an API token and never signs
anyone in. Audited; nothing here commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from crm.auth.models import User
from crm.core.audit import AuditAction, AuditEntity, record
from crm.core.time import utcnow
from crm.extensions import db
from crm.meetings.models import CalendarFeedToken

TOKEN_BYTES = 32
MAX_TOKEN_LENGTH = 128  # anything longer is not one of ours: refused before hashing
# "Last read" is written when it is older than this (issue 11): writing it on every read made each poll of the
# feed an UPDATE and a committed (flushed to disk) transaction, and concurrent reads of one feed queue on its row
# lock. The page says the time is to the minutes; a calendar polls hourly.
LAST_USED_STEP = timedelta(minutes=5)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def current_feed(user: Any) -> CalendarFeedToken | None:
    """The user's feed token row (``None``: no feed)."""
    return db.session.scalar(sa.select(CalendarFeedToken).where(CalendarFeedToken.user_id == user.id))


def issue_feed_token(actor: Any) -> str:
    """A new private feed token for ``actor``; it replaces the old one, whose URL stops working. Returned once:
    only its hash is kept."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    row = current_feed(actor)
    replaced = row is not None
    if row is None:
        row = CalendarFeedToken(user_id=actor.id, token_hash=token_hash(token))
        db.session.add(row)
    else:
        row.token_hash = token_hash(token)
        row.created_at = utcnow()
        row.last_used_at = None
    db.session.flush()
    record(actor, AuditEntity.CALENDAR_FEED, row.id, AuditAction.CREATE, {"replaced": [None, replaced]},
           summary="重新生成日历订阅地址" if replaced else "生成日历订阅地址")
    return token


def revoke_feed_token(actor: Any) -> bool:
    """Revoke ``actor``'s feed (its URL answers 404 from now on); ``False`` when there was none."""
    row = current_feed(actor)
    if row is None:
        return False
    row_id = row.id
    db.session.delete(row)
    db.session.flush()
    record(actor, AuditEntity.CALENDAR_FEED, row_id, AuditAction.REVOKE, {}, summary="撤销日历订阅地址")
    return True


def resolve_feed_token(token: Any, *, now: datetime | None = None) -> User | None:
    """The active user whose feed ``token`` opens (``None`` for an unknown, revoked or malformed token, or a
    deactivated user); notes when the feed was last read, to :data:`LAST_USED_STEP`."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = db.session.scalar(sa.select(CalendarFeedToken).options(joinedload(CalendarFeedToken.user))
                            .where(CalendarFeedToken.token_hash == token_hash(token)))  # and its user, one statement
    if row is None or not row.user.active:
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_STEP:
        row.last_used_at = now
    return row.user
