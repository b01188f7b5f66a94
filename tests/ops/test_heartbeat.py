"""The scheduler process keeps its heartbeat row (name, pid, active, started at, last beat) from start to stop —
as a standby too — and ``/healthz`` reports it. Real ``flask scheduler run`` processes on a database of the
test's own, beating every second (``CRM_SCHEDULER_HEARTBEAT_SECONDS``)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from crm.core.time import utcnow
from crm.extensions import db
from crm.scheduler import process
from crm.scheduler.models import SchedulerHeartbeat
from crm.scheduler.process import Heartbeat
from tests.conftest import BACKEND, make_app
from tests.ops.support import poll, scheduler
from tests.ops.test_health import unreachable_url


def rows(app: Flask) -> dict[str, SchedulerHeartbeat]:
    with app.app_context():
        found = {row.host: row for row in db.session.scalars(sa.select(SchedulerHeartbeat))}
        db.session.expunge_all()
        db.session.remove()
    return found


def _url(app: Flask) -> str:
    with app.app_context():
        return db.engine.url.render_as_string(hide_password=False)


def test_the_scheduler_process_beats_from_start_to_stop(fresh_app, tmp_path):
    sched = scheduler(_url(fresh_app), tmp_path / "sched.log", "ops-host-a")
    try:
        sched.wait_for("调度器已启动")
        first = poll(lambda: rows(fresh_app).get("ops-host-a"))
        assert first.pid == sched.pid and first.active is True
        assert utcnow() - timedelta(minutes=2) < first.started_at <= first.beat_at <= utcnow()
        later = poll(lambda: (r := rows(fresh_app)["ops-host-a"]).beat_at > first.beat_at and r)
        assert later.started_at == first.started_at and later.active is True
        health = fresh_app.test_client().get("/healthz").get_json()["scheduler"]
        assert health["status"] == "ok" and health["active_host"] == "ops-host-a"
        assert health["last_beat_age_seconds"] < 5
    finally:
        assert sched.stop() == 0, sched.text()
    stopped = rows(fresh_app)["ops-host-a"]
    assert stopped.active is False and stopped.beat_at >= later.beat_at  # a clean stop: no longer active
    assert fresh_app.test_client().get("/healthz").get_json()["scheduler"]["status"] == "stale"


def test_a_standby_scheduler_beats_too(fresh_app, tmp_path):
    url = _url(fresh_app)
    first = scheduler(url, tmp_path / "first.log", "ops-host-a")
    second = None
    try:
        first.wait_for("调度器已启动")
        second = scheduler(url, tmp_path / "second.log", "ops-host-b")
        if BACKEND == "postgres":
            second.wait_for("本进程待命(standby)")
            standby = poll(lambda: rows(fresh_app).get("ops-host-b"))
            assert standby.active is False and standby.pid == second.pid
            beat = standby.beat_at
            poll(lambda: rows(fresh_app)["ops-host-b"].beat_at > beat)  # standby, and beating
            health = fresh_app.test_client().get("/healthz").get_json()["scheduler"]
            assert health["active_host"] == "ops-host-a" and health["standby_hosts"] == ["ops-host-b"]
            assert first.stop() == 0
            second.wait_for("已取得调度器锁")
            poll(lambda: rows(fresh_app)["ops-host-b"].active)
            assert rows(fresh_app)["ops-host-a"].active is False
            health = fresh_app.test_client().get("/healthz").get_json()["scheduler"]
            assert health["status"] == "ok" and health["active_host"] == "ops-host-b"
        else:  # SQLite: no lock, no standby; each process is active and the claims keep every run single
            second.wait_for("调度器已启动")
            both = poll(lambda: (found := rows(fresh_app)).keys() >= {"ops-host-a", "ops-host-b"} and found)
            assert both["ops-host-a"].active and both["ops-host-b"].active
    finally:
        assert first.stop() == 0, first.text()
        if second is not None:
            assert second.stop() == 0, second.text()


def test_a_beat_that_cannot_reach_the_database_is_logged_not_raised(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="crm.scheduler")
    logging.getLogger("crm.scheduler").disabled = False
    heartbeat = Heartbeat(make_app(unreachable_url(tmp_path)), "nowhere")
    assert heartbeat.beat() is False
    assert "无法写入调度器心跳(nowhere):OperationalError" in caplog.text


def test_the_heartbeat_thread_beats_every_interval_and_stops(fresh_app):
    heartbeat = Heartbeat(fresh_app, "thread-host", interval=0.2).start()
    try:
        first = rows(fresh_app)["thread-host"]
        assert first.active is False  # not active until it says so (a standby, or before the lock)
        heartbeat.set_active(True)
        assert rows(fresh_app)["thread-host"].active is True
        poll(lambda: rows(fresh_app)["thread-host"].beat_at > first.beat_at, timeout=5, interval=0.05)
    finally:
        heartbeat.stop()
    assert not any(t.name == "scheduler-heartbeat" and t.is_alive() for t in threading.enumerate())
    last = rows(fresh_app)["thread-host"]
    assert last.active is False
    time.sleep(0.5)
    assert rows(fresh_app)["thread-host"].beat_at == last.beat_at  # stopped: no more beats


def test_one_row_per_name_however_often_it_restarts(fresh_app):
    for _ in range(3):
        Heartbeat(fresh_app, "restarting-host").beat()
    assert list(rows(fresh_app)) == ["restarting-host"]


def test_the_default_name_is_the_host_name(monkeypatch):
    monkeypatch.setattr(process.socket, "gethostname", lambda: "web-03.example")
    assert process.default_name() == "web-03.example"
