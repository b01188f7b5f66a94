"""One active scheduler per database on PostgreSQL (advisory lock on a connection of its own); none on SQLite."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED

from crm.core.time import utcnow
from crm.extensions import db
from crm.scheduler.process import (
    HEARTBEAT_JOB_ID,
    LeaderLock,
    _heartbeat,
    _stop_on_signals,
    become_active,
    build_scheduler,
)
from tests.conftest import BACKEND


def _become_active_in_thread(app) -> tuple[threading.Thread, dict]:
    result: dict = {}
    thread = threading.Thread(target=lambda: result.setdefault("lock", become_active(app, 0.1)), daemon=True)
    thread.start()
    return thread, result


def test_one_active_scheduler_the_other_waits_as_standby(fresh_app, caplog):
    caplog.set_level(logging.INFO, logger="crm.scheduler")
    if BACKEND != "postgres":
        assert become_active(fresh_app, 0.1) is None  # SQLite: no advisory lock; the claims alone do it
        assert "不使用咨询锁" in caplog.text
        return
    first = become_active(fresh_app, 0.1)
    assert first is not None and first.alive()
    thread, result = _become_active_in_thread(fresh_app)
    time.sleep(0.5)
    assert thread.is_alive()  # standby
    assert "本进程待命(standby)" in caplog.text
    first.release()
    thread.join(10)
    second = result["lock"]
    assert second is not None and second.alive()
    second.release()


def test_losing_the_lock_connection_stops_the_scheduler(fresh_app):
    if BACKEND == "postgres":
        lock = become_active(fresh_app, 0.1)
        with fresh_app.app_context():
            db.session.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                                       "WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"))
            db.session.commit()
    else:
        lock = _DeadLock()
    assert not lock.alive()
    lost = threading.Event()
    scheduler = build_scheduler(fresh_app, host="h", after=utcnow(), lock=lock, lock_lost=lost,
                                scheduler_cls=BackgroundScheduler)
    assert HEARTBEAT_JOB_ID in {job.id for job in scheduler.get_jobs()}
    scheduler.start(paused=True)
    _heartbeat(scheduler, lock, lost)
    assert lost.is_set() and scheduler.state == STATE_STOPPED
    lock.release()


def test_a_live_lock_keeps_the_scheduler_running(fresh_app):
    lock = _LiveLock()
    lost = threading.Event()
    scheduler = BackgroundScheduler()
    scheduler.start(paused=True)
    try:
        _heartbeat(scheduler, lock, lost)
        assert not lost.is_set() and scheduler.state != STATE_STOPPED
    finally:
        scheduler.shutdown(wait=False)


class _DeadLock(LeaderLock):
    def __init__(self):  # no engine: stands for a lock whose connection has gone
        self._conn = None

    def release(self) -> None:
        pass


class _LiveLock(_DeadLock):
    def alive(self) -> bool:
        return True


def test_a_stop_signal_before_the_scheduler_started_ends_the_process(fresh_app):
    """SIGTERM between installing the handler and ``start()`` must not leave ``start()`` blocking for ever."""
    scheduler = build_scheduler(fresh_app, host="test", after=utcnow(), scheduler_cls=BackgroundScheduler)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        _stop_on_signals(scheduler)
        with pytest.raises(SystemExit) as stopped:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler runs at the next bytecode boundary; never reached when it raised
        assert stopped.value.code == 0
        assert scheduler.state == STATE_STOPPED
    finally:
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])


def _restore_signals():
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

    def restore():
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
    return restore


def test_a_stop_signal_while_catching_up_lets_the_run_finish_and_never_starts_the_scheduler(fresh_app, monkeypatch):
    """SIGTERM during the start-up catch-up (``systemctl stop`` or a deploy at that moment): the run in progress
    finishes, the process leaves with status 0 without starting the scheduler, its heartbeat row no longer active.
    (It used to die of the signal halfway through, the row left "active": tests/ops/test_heartbeat.py saw -15.)"""
    from crm.scheduler import process
    from crm.scheduler.models import SchedulerHeartbeat

    done = []

    def catch_up(now, *, host):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)  # the handler runs meanwhile: deferred, so the run goes on
        done.append(host)
        return []

    def build_scheduler(*_args, **_kwargs):
        raise AssertionError("the scheduler must not start after a stop signal")

    monkeypatch.setattr(process, "catch_up", catch_up)
    monkeypatch.setattr(process, "build_scheduler", build_scheduler)
    restore = _restore_signals()
    try:
        assert process.run_scheduler(fresh_app, standby_retry=1, name="early-stop") == 0
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # a second signal would have killed it
    finally:
        restore()
    assert done == [process.default_host()]
    with fresh_app.app_context():
        row = db.session.scalars(sa.select(SchedulerHeartbeat).where(SchedulerHeartbeat.host == "early-stop")).one()
        assert row.active is False
        db.session.rollback()


def test_a_stop_signal_while_waiting_as_standby_leaves_at_once(fresh_app, monkeypatch):
    """SIGTERM while waiting for the lock (another scheduler is active): the process leaves with status 0."""
    from crm.scheduler import process

    def become_active(app, retry):  # waits as a standby does, until the signal
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM)).start()
        time.sleep(10)
        raise AssertionError("the signal did not stop the standby")

    monkeypatch.setattr(process, "become_active", become_active)
    restore = _restore_signals()
    started = time.monotonic()
    try:
        with pytest.raises(SystemExit) as stopped:
            process.run_scheduler(fresh_app, standby_retry=1, name="standby-stop")
    finally:
        restore()
    assert stopped.value.code == 0 and time.monotonic() - started < 5
