"""The scheduler process (``flask --app wsgi scheduler run``): one APScheduler 3 ``BlockingScheduler``.

Never started inside web workers (PITFALLS: a scheduler per worker, and ``--preload`` kills its thread).

Start-up: on PostgreSQL, become the active scheduler by holding ``pg_try_advisory_lock`` on a dedicated
connection for the life of the process (another process waits as a standby and retries); then catch up on
missed fire times; then schedule every job of the registry. Each firing runs the job through
:func:`crm.scheduler.runner.run_job`, whose claim keeps the work exactly-once even if two schedulers were
active (SQLite has no advisory lock; there the claim alone does it).

Heartbeat: from its start to its end (standby, catch-up and active alike) the process keeps its row of
``scheduler_heartbeats`` (its name — the host name unless ``--name`` / ``CRM_SCHEDULER_NAME`` says otherwise —
pid, active or standby, started at) and beats it every ``HEARTBEAT_SECONDS`` from a thread of its own; on a
clean stop the row says "not active". ``/healthz`` reports the active scheduler and the age of its last beat.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from datetime import datetime

import sqlalchemy as sa
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.pool import NullPool

from crm.core.time import utcnow
from crm.extensions import db
from crm.scheduler import registry
from crm.scheduler.models import SchedulerHeartbeat
from crm.scheduler.runner import catch_up, default_host, last_fire_time, run_job

log = logging.getLogger("crm.scheduler")

# pg advisory lock key of the active scheduler (per database): "crmSCHED" as a 64-bit integer.
ADVISORY_LOCK_KEY = 0x63726D5343484544
HEARTBEAT_JOB_ID = "_scheduler_lock_heartbeat"
HEARTBEAT_SECONDS = max(1, int(os.environ.get("CRM_SCHEDULER_HEARTBEAT_SECONDS", "60")))
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}


class LeaderLock:
    """The active scheduler's advisory lock, on a connection of its own (not from the app's pool)."""

    def __init__(self, url: sa.URL):
        self._engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self._conn: sa.Connection | None = None

    def try_acquire(self) -> bool:
        conn = self._engine.connect()
        try:
            got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}).scalar())
        except Exception:
            conn.close()
            raise
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    def alive(self) -> bool:
        """Is the lock connection still there (and so the lock still ours)?"""
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1"))
            return True
        except Exception:
            log.exception("调度器锁的数据库连接已断开")
            return False

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # closing the session releases its advisory locks
            except Exception:
                log.warning("关闭调度器锁连接时出错", exc_info=True)
            self._conn = None
        self._engine.dispose()


class Heartbeat:
    """This process's row of ``scheduler_heartbeats``, written now and then every ``interval`` seconds from a
    daemon thread until :meth:`stop`. A beat that cannot reach the database is logged and tried again at the
    next interval; it never stops the scheduler."""

    def __init__(self, app: Flask, name: str, *, interval: float | None = None):
        self.app = app
        self.name = name[:120]
        self.pid = os.getpid()
        self.interval = interval if interval is not None else HEARTBEAT_SECONDS
        self.active = False
        self.started_at = utcnow()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One beat at a time, its values read under the lock: a thread's beat built before ``set_active`` cannot
        # commit after it and write the old state back.
        self._writing = threading.Lock()

    def beat(self) -> bool:
        """Upsert the row (one per name) with ``beat_at`` now; False when the database could not be written."""
        with self._writing:
            return self._beat()

    def _beat(self) -> bool:
        values = {"pid": self.pid, "active": self.active, "started_at": self.started_at, "beat_at": utcnow()}
        try:
            with self.app.app_context():
                try:
                    updated = db.session.execute(sa.update(SchedulerHeartbeat)
                                                 .where(SchedulerHeartbeat.host == self.name).values(**values))
                    if not updated.rowcount:
                        db.session.add(SchedulerHeartbeat(host=self.name, **values))
                    db.session.commit()
                    return True
                except Exception:
                    db.session.rollback()
                    raise
                finally:
                    db.session.remove()
        except Exception as err:
            log.warning("无法写入调度器心跳(%s):%s", self.name, err.__class__.__name__)
            return False

    def set_active(self, active: bool) -> None:
        """Record the change at once (not at the next beat)."""
        with self._writing:
            self.active = active
            self._beat()

    def start(self) -> Heartbeat:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="scheduler-heartbeat", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        """Stop beating; the row then says this process is no longer active."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 5)
        self.set_active(False)


def default_name() -> str:
    """The heartbeat row's name: the host name (one scheduler process per host)."""
    return socket.gethostname()[:120]


def become_active(app: Flask, standby_retry: float) -> LeaderLock | None:
    """On PostgreSQL, wait until this process holds the scheduler lock; ``None`` on other databases."""
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() != "postgresql":
        log.info("数据库为 %s:不使用咨询锁,仅靠任务认领保证每个触发时间只执行一次", url.get_backend_name())
        return None
    lock = LeaderLock(url)
    announced = False
    while True:
        try:
            if lock.try_acquire():
                log.info("已取得调度器锁,本进程为活动调度器")
                return lock
            if not announced:
                log.info("另一个调度器进程正在运行:本进程待命(standby),每 %s 秒重试一次", standby_retry)
                announced = True
        except Exception as err:
            log.warning("无法连接数据库以取得调度器锁(%s),%s 秒后重试", err.__class__.__name__, standby_retry)
        time.sleep(standby_retry)


def fire(app: Flask, job_id: str, host: str) -> None:
    """What the scheduler calls: the job's scheduled fire time (the latest ≤ now), run through ``run_job``."""
    try:
        spec = registry.get_job(job_id)
        fire_time = last_fire_time(spec.trigger, utcnow())
        if fire_time is None:
            log.warning("定时任务 %s 没有已到期的触发时间", job_id)
            return
        with app.app_context():
            run_job(job_id, fire_time, host=host)
    except Exception:  # never let one job's trouble reach the scheduler loop
        log.exception("定时任务 %s 执行出错", job_id)


def build_scheduler(app: Flask, *, host: str, after: datetime, lock: LeaderLock | None = None,
                    lock_lost: threading.Event | None = None,
                    scheduler_cls: type[BaseScheduler] = BlockingScheduler) -> BaseScheduler:
    """A scheduler with every registry job; each first fires at its first fire time after ``after``.

    ``after`` is the instant catch-up looked at, so a fire time passing while catch-up ran is not lost. With a
    ``lock``, a heartbeat checks its connection every minute and stops the scheduler (setting ``lock_lost``)
    when it is gone.
    """
    scheduler = scheduler_cls(timezone=registry.TIMEZONE, job_defaults=JOB_DEFAULTS)
    for spec in registry.JOBS.values():
        scheduler.add_job(fire, trigger=spec.trigger, args=[app, spec.id, host], id=spec.id,
                          name=spec.description, next_run_time=spec.trigger.get_next_fire_time(None, after))
    if lock is not None:
        scheduler.add_job(_heartbeat, "interval", seconds=HEARTBEAT_SECONDS, id=HEARTBEAT_JOB_ID,
                          name="检查调度器锁连接", args=[scheduler, lock, lock_lost or threading.Event()])
    return scheduler


def _heartbeat(scheduler: BaseScheduler, lock: LeaderLock, lock_lost: threading.Event) -> None:
    if not lock.alive():
        # The lock went with the connection: another process may become active. Stop, and let the supervisor
        # start us again (we then wait as a standby). The claims keep any overlap harmless.
        log.error("调度器锁已丢失,停止本调度器进程")
        lock_lost.set()
        scheduler.shutdown(wait=False)


def run_scheduler(app: Flask, *, standby_retry: float = 30, host: str | None = None,
                  name: str | None = None) -> int:
    """Run the scheduler until stopped (SIGTERM / SIGINT); the exit status (1 if the lock was lost).
    ``name`` names its heartbeat row (default: the host name)."""
    _configure_logging()
    host = host or default_host()
    early = _EarlyStop().install()
    heartbeat = Heartbeat(app, name or default_name()).start()
    try:
        return _run(app, standby_retry=standby_retry, host=host, heartbeat=heartbeat, early=early)
    finally:
        heartbeat.stop()


class _EarlyStop:
    """SIGTERM / SIGINT before the scheduler runs. Until now the default action applied there: a stop while waiting
    as standby or catching up (``systemctl stop``, a deploy) killed the process (status -SIGTERM) halfway through,
    its heartbeat row still saying "active" and a catch-up run cut off in its transaction. Now a standby leaves at
    once (``SystemExit(0)``: nothing runs); a catch-up finishes the run in progress, then the process leaves without
    starting the scheduler (:attr:`requested`). A second signal while it finishes kills the process as usual.
    :func:`_stop_on_signals` takes over once the scheduler exists."""

    def __init__(self) -> None:
        self.requested = False
        self.deferred = False  # a catch-up is running: let it finish

    def install(self) -> _EarlyStop:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handle)
            signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, _frame: object) -> None:
        self.requested = True
        if not self.deferred:
            log.info("收到信号 %s,调度器未启动,进程退出", signal.Signals(signum).name)
            raise SystemExit(0)
        log.info("收到信号 %s,启动补执行完成后退出(不启动调度器)", signal.Signals(signum).name)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _run(app: Flask, *, standby_retry: float, host: str, heartbeat: Heartbeat, early: _EarlyStop) -> int:
    lock = become_active(app, standby_retry)
    heartbeat.set_active(True)
    try:
        started = utcnow()
        early.deferred = True
        try:
            with app.app_context():
                runs = catch_up(started, host=host)
                if runs:
                    log.info("启动补执行:%s", ",".join(f"{r.job_id}={r.outcome.value}" for r in runs))
        finally:
            early.deferred = False
        if early.requested:
            log.info("调度器已停止(未启动)")
            return 0
        lock_lost = threading.Event()
        scheduler = build_scheduler(app, host=host, after=started, lock=lock, lock_lost=lock_lost)
        try:
            _stop_on_signals(scheduler)
            log.info("调度器已启动(Asia/Shanghai),任务:%s", ",".join(registry.JOBS))
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            if scheduler.state != STATE_STOPPED:
                scheduler.shutdown(wait=False)
        log.info("调度器已停止")
        return 1 if lock_lost.is_set() else 0
    finally:
        heartbeat.set_active(False)  # before the lock goes: never "active" without it
        if lock is not None:
            lock.release()


def _stop_on_signals(scheduler: BaseScheduler) -> None:
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, _frame: object) -> None:
        log.info("收到信号 %s,停止调度器(正在运行的任务会先完成)", signal.Signals(signum).name)
        if scheduler.state != STATE_STOPPED:
            # Wait for running jobs before the lock is released (the handler runs in the main thread, not in a
            # worker, so waiting cannot deadlock). A second signal during the wait kills the process as usual.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            scheduler.shutdown(wait=True)
        else:
            # Not started yet (the signal came between installing this handler and ``start()``): leave now,
            # or ``start()`` would block with nobody left to stop it.
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _configure_logging() -> None:
    logger = logging.getLogger("crm.scheduler")
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
