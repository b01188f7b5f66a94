"""purge_sessions: old ended or expired session rows go; live ones stay."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.auth import domain
from crm.auth.jobs import KEEP_ENDED_DAYS, purge_sessions
from crm.auth.models import UserSession
from crm.core.time import utcnow
from crm.extensions import db
from crm.scheduler import registry
from tests.conftest import make_user


def _session(user, *, created_days_ago: float, ended_days_ago: float | None = None) -> int:
    domain.start_session(user)
    row = db.session.get(UserSession, user.session_row_id)
    now = utcnow()
    row.created_at = now - timedelta(days=created_days_ago)
    row.ended_at = None if ended_days_ago is None else now - timedelta(days=ended_days_ago)
    db.session.flush()
    return row.id


def test_purge_keeps_live_and_recent_sessions_and_deletes_old_ones(app):
    user = make_user("commissioner")
    max_days = app.config["SESSION_MAX_DAYS"]
    live = _session(user, created_days_ago=1)
    ended_lately = _session(user, created_days_ago=5, ended_days_ago=KEEP_ENDED_DAYS - 1)
    expired_lately = _session(user, created_days_ago=max_days + KEEP_ENDED_DAYS - 1)
    ended_long_ago = _session(user, created_days_ago=60, ended_days_ago=KEEP_ENDED_DAYS + 1)
    expired_long_ago = _session(user, created_days_ago=max_days + KEEP_ENDED_DAYS + 1)

    assert purge_sessions(utcnow()) == "删除过期登录会话 2 条"
    left = set(db.session.scalars(sa.select(UserSession.id).where(UserSession.user_id == user.id)))
    assert left == {live, ended_lately, expired_lately}
    assert not left & {ended_long_ago, expired_long_ago}


def test_purge_runs_daily_through_the_registry():
    spec = registry.get_job("purge_sessions")
    assert spec.trigger.get_next_fire_time(None, utcnow()) is not None
    assert registry.JOBS["purge_sessions"].description.startswith("清理登录会话")
