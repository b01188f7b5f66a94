"""Real processes on a fresh database: ``flask scheduler run-job`` twice at the same moment, and
``flask scheduler run`` catching up once across restarts (one active scheduler on PostgreSQL).

Each subprocess gets ``DATABASE_URL`` of the fresh database and ``CRM_ENV=development``.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.extensions import db
from crm.notifications.models import Notification
from crm.rosters.models import RosterEdition, RosterKind
from crm.scheduler.models import JobClaim, JobRun, RunOutcome
from tests.conftest import BACKEND, make_user
from tests.ops.support import BIN, ROOT, Process, process_env, scheduler

FLASK = str(BIN / "flask")
AT = "2026-07-01T00:05:00+08:00"
JULY_UTC = datetime(2026, 6, 30, 16, 5, tzinfo=UTC)


def flask(url: str, *args: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen([FLASK, "--app", "wsgi", *args], cwd=ROOT, env=process_env(url), text=True, **popen)


@pytest.fixture
def fresh(fresh_app: Flask) -> Iterator[tuple[str, Flask]]:
    with fresh_app.app_context():
        make_user("coordinator", username="coordinator-procs")
        db.session.commit()
        url = db.engine.url.render_as_string(hide_password=False)
    yield url, fresh_app


def _count(app: Flask, stmt: sa.Select) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))


# --- two run-job processes -----------------------------------------------------------------------------------

class Gate:
    """Holds the claims table shut so both processes reach their claim before either can take it."""

    def __init__(self, app: Flask):
        with app.app_context():
            self.engine = db.engine
        self.conn = self.engine.connect()
        self.tx = self.conn.begin()
        if self.engine.dialect.name == "postgresql":
            self.conn.execute(sa.text("LOCK TABLE job_claims IN ACCESS EXCLUSIVE MODE"))
        else:  # the database write lock
            self.conn.execute(sa.text("DELETE FROM job_claims WHERE 1 = 0"))

    def wait_for(self, waiters: int, procs: list[subprocess.Popen], timeout: float = 60) -> None:
        """Until ``waiters`` processes are blocked at the gate (PostgreSQL shows them; SQLite does not)."""
        deadline = time.monotonic() + timeout
        if self.engine.dialect.name != "postgresql":
            time.sleep(6)  # start-up is ~1–2 s; they then wait on the lock (busy timeout 60 s)
            assert all(p.poll() is None for p in procs)
            return
        # pg_stat_activity is a snapshot per transaction: poll outside any (autocommit).
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as probe:
            while time.monotonic() < deadline:
                blocked = probe.scalar(sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO job_claims%'"))
                if blocked >= waiters:
                    return
                assert all(p.poll() is None for p in procs), "a process ended before reaching its claim"
                time.sleep(0.1)
            activity = probe.execute(sa.text(
                "SELECT state, wait_event_type, wait_event, left(query, 80) FROM pg_stat_activity "
                "WHERE datname = current_database()")).all()
        raise AssertionError(f"the processes never reached their claim: {activity}")

    def open(self) -> None:
        self.tx.rollback()
        self.conn.close()


def test_two_run_job_processes_at_the_same_moment_do_the_work_once(fresh):
    url, app = fresh
    gate = Gate(app)
    procs = []
    try:
        procs = [flask(url, "scheduler", "run-job", "open_half_year_refresh", "--at", AT,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        gate.wait_for(2, procs)
    except AssertionError:
        for proc in procs:
            proc.kill()
        raise
    finally:
        gate.open()
    results = [p.communicate(timeout=120) for p in procs]
    codes = [p.returncode for p in procs]
    outs = sorted(out for out, _err in results)
    assert codes == [0, 0], results
    assert outs[0].startswith("已跳过:open_half_year_refresh(计划触发时间 2026-07-01 00:05:00 +0800)"), results
    assert outs[1].startswith("成功:open_half_year_refresh(计划触发时间 2026-07-01 00:05:00 +0800)"), results

    with app.app_context():
        runs = db.session.execute(sa.select(JobRun.job_id, JobRun.fire_time, JobRun.outcome)).all()
        assert sorted(r.outcome.value for r in runs) == ["skipped", "success"]
        assert {(r.job_id, r.fire_time) for r in runs} == {("open_half_year_refresh", JULY_UTC)}
        assert db.session.scalars(sa.select(JobClaim.fire_time)).all() == [JULY_UTC]
        # The work, once: one draft per list for the second half of 2026, one notice to the coordinator.
        editions = db.session.execute(sa.select(RosterEdition.kind, RosterEdition.period)).all()
        assert sorted(editions) == sorted([(kind, "2026H2") for kind in RosterKind])
    assert _count(app, sa.select(Notification).where(Notification.kind == "refresh_opened")) == 1


def test_run_job_process_exit_codes(fresh):
    url, _app = fresh
    unknown = flask(url, "scheduler", "run-job", "no_such_job", "--at", AT, stderr=subprocess.PIPE)
    naive = flask(url, "scheduler", "run-job", "open_half_year_refresh", "--at", "2026-07-01T00:05:00",
                  stderr=subprocess.PIPE)
    assert unknown.wait(60) == 2 and "没有名为 'no_such_job' 的定时任务" in unknown.stderr.read()
    assert naive.wait(60) == 2 and "--at 必须带时区" in naive.stderr.read()


def test_run_job_with_the_database_unreachable_exits_1(tmp_path):
    if BACKEND == "postgres":
        url = "postgresql://postgres@127.0.0.1:9/unreachable"  # nothing listens on port 9
    else:
        url = f"sqlite:///{tmp_path}/missing-dir/crm.sqlite3"  # cannot be opened
    proc = flask(url, "scheduler", "run-job", "open_half_year_refresh", "--at", AT,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "失败:定时任务 open_half_year_refresh(触发时间 2026-07-01T00:05:00+08:00)未能完成,且无法写入运行记录" in err
    assert "OperationalError" in err


# --- the scheduler process -----------------------------------------------------------------------------------

def Scheduler(url: str, log: Path) -> Process:  # noqa: N802 — reads as the process it starts
    """``flask --app wsgi scheduler run`` against ``url``, logging to ``log`` (its heartbeat named after the log)."""
    return scheduler(url, log, log.stem)


def test_scheduler_catches_up_once_across_restarts(fresh, tmp_path):
    url, app = fresh
    half_year = sa.select(JobRun).where(JobRun.job_id == "open_half_year_refresh")
    first = Scheduler(url, tmp_path / "first.log")
    try:
        first.wait_for("调度器已启动")
        # A missed fire time is caught up on start: the latest half year (coalesced), and today's reminder.
        assert "补执行错过的定时任务 open_half_year_refresh" in first.text()
        assert _count(app, half_year.where(JobRun.outcome == RunOutcome.SUCCESS)) == 1
        assert _count(app, sa.select(JobRun).where(JobRun.job_id == "refresh_deadline_reminder")) == 1

        second = Scheduler(url, tmp_path / "second.log")
        try:
            if BACKEND == "postgres":
                second.wait_for("本进程待命(standby)")
                assert "调度器已启动" not in second.text()
                assert first.stop() == 0
                second.wait_for("已取得调度器锁")
            second.wait_for("调度器已启动")
            assert "补执行错过的定时任务 open_half_year_refresh" not in second.text()  # done already: not again
            assert "补执行错过的定时任务 refresh_deadline_reminder" not in second.text()
        finally:
            assert second.stop() == 0, second.text()
    finally:
        assert first.stop() == 0, first.text()
    third = Scheduler(url, tmp_path / "third.log")
    try:
        third.wait_for("调度器已启动")
    finally:
        assert third.stop() == 0, third.text()
    assert "补执行错过的定时任务 open_half_year_refresh" not in third.text()
    assert _count(app, half_year) == 1  # once, however many starts
    with app.app_context():
        periods = db.session.scalars(sa.select(RosterEdition.period)).all()
    assert periods == ["2026H2", "2026H2"]
    assert "调度器已停止" in first.text()
