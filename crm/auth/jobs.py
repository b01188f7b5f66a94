"""Scheduled upkeep of sign-in data (registered by name in :mod:`crm.scheduler.registry`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from crm.auth.models import UserSession
from crm.core.time import utcnow
from crm.extensions import db

KEEP_ENDED_DAYS = 30  # an ended session stays this long (who signed in from where, for an inquiry), then goes


def purge_sessions(fire_time: datetime) -> str:
    """Daily: delete session rows ended more than ``KEEP_ENDED_DAYS`` ago, or expired that long ago (one row per
    sign-in would otherwise grow for ever); live sessions are never touched."""
    now = utcnow()
    ended_before = now - timedelta(days=KEEP_ENDED_DAYS)
    created_before = ended_before - timedelta(days=current_app.config["SESSION_MAX_DAYS"])
    deleted = db.session.execute(sa.delete(UserSession).where(sa.or_(
        UserSession.ended_at < ended_before, UserSession.created_at < created_before))).rowcount
    return f"删除过期登录会话 {deleted} 条"
