"""Aware timestamps: stored UTC, naive values refused, shown in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from crm.auth.models import ApiToken
from crm.core.time import format_local, isoformat_local, local_today, to_local
from crm.extensions import db
from tests.conftest import make_user


def test_aware_time_round_trips_as_utc():
    user = make_user("leader")
    shanghai_morning = datetime(2026, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=8)))
    token = ApiToken(user_id=user.id, token_hash="x" * 64, expires_at=shanghai_morning)
    db.session.add(token)
    db.session.flush()
    db.session.expire(token)
    stored = db.session.scalar(sa.select(ApiToken.expires_at).where(ApiToken.id == token.id))
    assert stored == datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    assert stored.tzinfo is not None


def test_naive_time_is_refused():
    user = make_user("leader")
    db.session.add(ApiToken(user_id=user.id, token_hash="y" * 64, expires_at=datetime(2026, 7, 1, 9, 0)))
    with pytest.raises(sa.exc.StatementError):
        db.session.flush()
    db.session.rollback()


def test_display_in_shanghai():
    utc = datetime(2026, 6, 30, 16, 5, tzinfo=UTC)
    assert format_local(utc) == "2026-07-01 00:05"
    assert isoformat_local(utc) == "2026-07-01T00:05:00+08:00"
    assert to_local(None) is None


TODAY = date(2000, 1, 1)  # stands for a module collected the day before its tests run


@pytest.mark.usefixtures("live_today")
def test_live_today_dates_a_module_from_when_the_test_starts():
    """A run crossing Shanghai midnight must not date records from the collection day (CI failed on it)."""
    assert local_today() == TODAY


def test_a_module_without_live_today_keeps_its_fixed_day():
    assert date(2000, 1, 1) == TODAY
