"""The database going away in the middle of a run (own database; the outage is simulated on the engine:
the job's connection is killed mid-work and every new connection is refused until it "comes back")."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest
import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.scheduler.models import JobClaim, JobRun, RunOutcome
from crm.scheduler.process import fire
from crm.scheduler.runner import RunNotRecorded, run_job
from tests.scheduler import sample_jobs
from tests.scheduler.conftest import work_done

JULY = datetime(2026, 7, 1, 0, 5, tzinfo=SHANGHAI)


class Outage:
    """While ``down``, every new connection fails as the driver fails when the server is unreachable."""

    def __init__(self, engine: sa.Engine):
        self.down = False
        sa.event.listen(engine, "do_connect", self._connect)
        self.engine = engine

    def _connect(self, dialect, _conn_rec, _cargs, _cparams):
        if self.down:
            raise dialect.loaded_dbapi.OperationalError("模拟:数据库服务器不可达(connection refused)")

    def lose_connection_now(self) -> None:
        """Called from inside a job: the server goes away under the running transaction."""
        self.down = True
        if self.engine.dialect.name == "postgresql":
            db.session.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        else:
            db.session.connection().invalidate()
        db.session.execute(sa.text("SELECT 1"))

    def remove(self) -> None:
        sa.event.remove(self.engine, "do_connect", self._connect)


@pytest.fixture
def outage(fresh_app, jobs_for_tests):
    with fresh_app.app_context():
        switch = Outage(db.engine)
    sample_jobs.HOOKS["half_year"] = switch.lose_connection_now
    yield switch
    sample_jobs.HOOKS.clear()
    switch.remove()


def _state(app) -> tuple[list, list, list]:
    with app.app_context():
        return (db.session.scalars(sa.select(JobClaim.job_id)).all(),
                db.session.scalars(sa.select(JobRun.outcome)).all(), work_done())


def test_database_lost_mid_run_nothing_committed_and_retry_works(fresh_app, outage, caplog):
    with (fresh_app.app_context(), caplog.at_level(logging.CRITICAL, logger="crm.scheduler"),
          pytest.raises(RunNotRecorded) as raised):
        run_job("half_year", JULY, host="h")
    message = str(raised.value)
    assert "无法写入运行记录" in message and "模拟:数据库服务器不可达" in message
    assert "定时任务 half_year(2026-07-01T00:05:00+08:00)失败,且无法写入运行记录" in caplog.text

    outage.down = False  # the database is back
    assert _state(fresh_app) == ([], [], [])  # no claim, no half-done work, no run row: nothing committed

    sample_jobs.HOOKS.clear()
    with fresh_app.app_context():
        assert run_job("half_year", JULY).outcome is RunOutcome.SUCCESS  # the fire time can be run again
    assert _state(fresh_app) == (["half_year"], [RunOutcome.SUCCESS], ["2026-07-01T00:05:00+08:00"])


def test_connection_lost_mid_run_but_database_reachable_records_failed(fresh_app, outage):
    def blip() -> None:  # the connection dies, the server is reachable again at once
        try:
            outage.lose_connection_now()
        finally:
            outage.down = False

    sample_jobs.HOOKS["half_year"] = blip
    with fresh_app.app_context():
        run = run_job("half_year", JULY)
        assert run.outcome is RunOutcome.FAILED
        assert run.error
    assert _state(fresh_app) == ([], [RunOutcome.FAILED], [])


def test_the_scheduler_loop_survives_an_unreachable_database(fresh_app, outage, monkeypatch, caplog):
    monkeypatch.setattr("crm.scheduler.process.utcnow", lambda: JULY)
    with caplog.at_level(logging.ERROR, logger="crm.scheduler"):
        fire(fresh_app, "half_year", "h")  # does not raise
    assert "定时任务 half_year 执行出错" in caplog.text
    outage.down = False
    assert _state(fresh_app) == ([], [], [])


def test_database_unreachable_from_the_start(fresh_app, outage):
    outage.down = True
    with fresh_app.app_context():
        db.engine.dispose()  # no pooled connection survives the outage
        with pytest.raises(RunNotRecorded, match="数据库服务器不可达"):
            run_job("half_year", JULY)
    outage.down = False
    assert _state(fresh_app) == ([], [], [])


def test_a_commit_that_fails_after_the_server_committed_is_not_reported_as_failed(fresh_app, jobs_for_tests,
                                                                                 monkeypatch):
    """The ambiguous case: the server commits but the client gets an error. The claim tells the truth."""
    armed: list[bool] = []
    sample_jobs.HOOKS["half_year"] = lambda: armed.append(True)  # the job has done its work

    with fresh_app.app_context():
        dialect = db.engine.dialect
        real_commit = dialect.do_commit

        def commit_then_fail(dbapi_connection):
            real_commit(dbapi_connection)
            if armed:
                armed.clear()
                raise dialect.loaded_dbapi.OperationalError("模拟:提交后连接中断")

        monkeypatch.setattr(dialect, "do_commit", commit_then_fail)
        run = run_job("half_year", JULY)
        assert run.outcome is RunOutcome.SUCCESS
    assert _state(fresh_app) == (["half_year"], [RunOutcome.SUCCESS], ["2026-07-01T00:05:00+08:00"])


def test_the_returned_run_needs_no_database_to_be_read(fresh_app, jobs_for_tests):
    with fresh_app.app_context():
        run = run_job("half_year", JULY)
    # The app context (and its session) is gone: the record's values were kept, nothing is reloaded.
    assert (run.outcome, run.summary, run.job_id) == (RunOutcome.SUCCESS, "已写入 2026-07-01T00:05:00+08:00",
                                                       "half_year")
    assert run.id is not None and run.finished_at is not None
