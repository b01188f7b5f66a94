"""Two attempts at the same (job, fire time) at once, in one process with two connections (own database).

The first attempt is played by a connection holding an uncommitted claim; the second is ``run_job`` in a
thread. PostgreSQL: its INSERT waits on the first transaction (a lock wait on the transaction id), then fails on
the unique key → skipped; or, if the first rolls back, proceeds and does the work. SQLite: it waits for the
database write lock, then sees the same.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.scheduler.models import JobClaim, JobRun, RunOutcome
from crm.scheduler.runner import run_job
from tests.scheduler.conftest import work_done

JULY = datetime(2026, 7, 1, 0, 5, tzinfo=SHANGHAI)


def _hold_claim(engine: sa.Engine) -> tuple[sa.Connection, sa.Transaction]:
    conn = engine.connect()
    tx = conn.begin()
    conn.execute(sa.insert(JobClaim).values(job_id="half_year", fire_time=JULY, claimed_by="first attempt",
                                            claimed_at=datetime.now(UTC)))
    return conn, tx


def _second_attempt(app) -> tuple[threading.Thread, dict]:
    result: dict = {}

    def attempt() -> None:
        with app.app_context():
            run = run_job("half_year", JULY, host="second")
            result["outcome"] = run.outcome

    thread = threading.Thread(target=attempt)
    thread.start()
    return thread, result


def _assert_waiting(engine: sa.Engine, thread: threading.Thread) -> None:
    """The second attempt is blocked by the first (not failed, not done)."""
    if engine.dialect.name == "postgresql":
        deadline = time.monotonic() + 20
        waits: list = []
        # pg_stat_activity is a snapshot per transaction: poll outside any (autocommit).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
            while time.monotonic() < deadline:
                waits = probe.execute(sa.text(
                    "SELECT wait_event_type, wait_event FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'")).all()
                if waits:
                    break
                time.sleep(0.05)
        # Waiting on the first attempt's transaction: the unique index check of the same key.
        assert [tuple(w) for w in waits] == [("Lock", "transactionid")]
    else:
        time.sleep(1.0)
    assert thread.is_alive()


def test_second_attempt_waits_for_the_first_then_is_skipped(fresh_app, jobs_for_tests):
    with fresh_app.app_context():
        engine = db.engine
    conn, tx = _hold_claim(engine)
    thread, result = _second_attempt(fresh_app)
    try:
        _assert_waiting(engine, thread)
    finally:
        tx.commit()  # the first attempt finishes its work
        conn.close()
    thread.join(60)
    assert not thread.is_alive()
    assert result["outcome"] is RunOutcome.SKIPPED
    with fresh_app.app_context():
        assert work_done() == []  # the second attempt did no work
        assert db.session.scalars(sa.select(JobRun.outcome)).all() == [RunOutcome.SKIPPED]


def test_second_attempt_does_the_work_when_the_first_rolls_back(fresh_app, jobs_for_tests):
    with fresh_app.app_context():
        engine = db.engine
    conn, tx = _hold_claim(engine)
    thread, result = _second_attempt(fresh_app)
    try:
        _assert_waiting(engine, thread)
    finally:
        tx.rollback()  # the first attempt failed: its claim went with its work
        conn.close()
    thread.join(60)
    assert result["outcome"] is RunOutcome.SUCCESS
    with fresh_app.app_context():
        assert work_done() == ["2026-07-01T00:05:00+08:00"]
        claims = db.session.scalars(sa.select(JobClaim.claimed_by)).all()
        assert len(claims) == 1 and claims[0].endswith("second")
