"""Running a job exactly once per scheduled fire time, and recording every attempt.

How exactly-once works: :func:`run_job` inserts ``JobClaim(job_id, fire_time)`` (unique key) and flushes it
*in the same transaction* as the job's work and its ``JobRun`` row, then commits all three together.

- A second attempt at the same (job, fire time) — a second scheduler process, a restart, a manual
  ``scheduler run-job`` — fails on the unique key and is recorded as ``skipped``; the work is not done again.
  On PostgreSQL a concurrent second INSERT of the same key waits until the first transaction ends: if it
  commits, the waiting INSERT fails (→ skipped); if it rolls back, the waiting one proceeds and does the work.
  On SQLite the second writer waits for the database lock (busy timeout below) and then sees the same key.
- If the work raises, or the database goes away mid-run, the transaction rolls back: the claim disappears
  with the half-done work, so the fire time can be run again (the next start's catch-up, or ``run-job``). The
  failure is recorded as ``failed`` in a new transaction; if even that is impossible (database unreachable)
  it is logged and :class:`RunNotRecorded` is raised for the caller (the scheduler loop logs it and goes on).

Fire times are aware datetimes, stored in UTC truncated to the second, and must be scheduled fire times of the
job's trigger (:class:`OffSchedule` otherwise): ``00:06`` instead of ``00:05`` would be another key and would
let the same half year's work run twice.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.exc import IntegrityError

from crm.core.time import SHANGHAI, utcnow
from crm.extensions import db
from crm.scheduler import registry
from crm.scheduler.models import JobClaim, JobRun, RunOutcome

log = logging.getLogger("crm.scheduler")

# How far back to look for the latest fire time, smallest window first (a daily job is found in the second).
LOOKBACKS = (timedelta(hours=2), timedelta(days=2), timedelta(days=32), timedelta(days=370), timedelta(days=3700))
# SQLite: how long a second writer waits for the first job's transaction, set on the job's connection whatever
# the app's engine set up (pysqlite's own default is 5 s).
SQLITE_BUSY_TIMEOUT_MS = 60_000
MAX_ERROR_CHARS = 8000

SKIPPED_SUMMARY = "该触发时间已被认领(已执行过或正由其他进程执行),本次未重复执行"


class OffSchedule(ValueError):
    """The fire time is not one of the job's scheduled fire times."""


class RunNotRecorded(RuntimeError):
    """The run could not even be recorded (the database is unreachable); nothing was committed."""

    def __init__(self, job_id: str, fire_time: datetime, error: BaseException, record_error: BaseException):
        super().__init__(
            f"定时任务 {job_id}(触发时间 {_local_text(fire_time)})未能完成,且无法写入运行记录(数据库不可用?):"
            f"{_one_line(error)};记录失败的原因:{_one_line(record_error)}"
        )
        self.job_id = job_id
        self.fire_time = fire_time
        self.error = error
        self.record_error = record_error


# --- time ----------------------------------------------------------------------------------------------------

def normalise_fire_time(value: datetime) -> datetime:
    """Aware → UTC, truncated to the second. A naive value is refused: its time zone would be a guess."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("触发时间必须带时区,例如 2026-07-01T00:05:00+08:00")
    return value.astimezone(UTC).replace(microsecond=0)


def last_fire_time(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The latest scheduled fire time ≤ ``now`` (in the trigger's time zone), or ``None`` within ten years."""
    if now.tzinfo is None:
        raise ValueError("now must be aware")
    for lookback in LOOKBACKS:
        latest = trigger.get_next_fire_time(None, now - lookback)
        if latest is None or latest > now:
            continue
        while True:
            following = trigger.get_next_fire_time(latest, latest)
            if following is None or following > now:
                return latest
            latest = following
    return None


def next_fire_time(trigger: BaseTrigger, now: datetime | None = None) -> datetime | None:
    """The next scheduled fire time ≥ ``now``, in Asia/Shanghai."""
    upcoming = trigger.get_next_fire_time(None, now or utcnow())
    return upcoming.astimezone(SHANGHAI) if upcoming else None


def check_scheduled(spec: registry.JobSpec, fire_time: datetime) -> None:
    """Refuse a fire time that the job's trigger never produces (it would be a second key for the same work)."""
    latest = last_fire_time(spec.trigger, fire_time)
    if latest is None or normalise_fire_time(latest) != normalise_fire_time(fire_time):
        hint = f"最近一次计划触发时间是 {_local_text(latest)}" if latest else "该时间之前没有计划触发时间"
        raise OffSchedule(f"{_local_text(fire_time)} 不是任务 {spec.id} 的计划触发时间({spec.schedule});{hint}")


# --- running ---------------------------------------------------------------------------------------------------

def default_host() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def run_job(job_id: str, fire_time: datetime, *, host: str | None = None) -> JobRun:
    """Run ``job_id`` as fired at ``fire_time``, at most once per (job, fire time); return its run record.

    Needs an app context. It ends the caller's transaction first (refusing unsaved changes), and owns the
    session's transactions until it returns. The job function gets the fire time in Asia/Shanghai.

    Raises :class:`~crm.scheduler.registry.UnknownJob`, :class:`OffSchedule` or ``ValueError`` (naive time)
    before touching the database, and :class:`RunNotRecorded` when the database cannot record the outcome.
    """
    spec = registry.get_job(job_id)
    fire_time = normalise_fire_time(fire_time)
    check_scheduled(spec, fire_time)
    host = (host or default_host())[:120]
    _start_clean()
    started = utcnow()
    # The claim's owner, so an ambiguous commit (connection lost during COMMIT) can be resolved afterwards.
    token = f"{uuid.uuid4().hex[:16]} {host}"[:120]

    try:
        _prepare_connection()
        db.session.add(JobClaim(job_id=job_id, fire_time=fire_time, claimed_at=started, claimed_by=token))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        log.info("定时任务 %s(%s)已被认领,跳过", job_id, _local_text(fire_time))
        return _record_skipped(job_id, fire_time, started, host)
    except Exception as err:  # the database refused or vanished before any work
        return _record_failure(job_id, fire_time, started, host, err, token)

    try:
        func = spec.load()
        summary = func(fire_time.astimezone(SHANGHAI))
        run = JobRun(job_id=job_id, fire_time=fire_time, started_at=started, finished_at=utcnow(),
                     outcome=RunOutcome.SUCCESS, summary=str(summary or "")[:MAX_ERROR_CHARS], host=host)
        db.session.add(run)
        _commit()  # claim + work + run row, together or not at all
    except Exception as err:
        return _record_failure(job_id, fire_time, started, host, err, token)
    log.info("定时任务 %s(%s)成功:%s", job_id, _local_text(fire_time), run.summary)
    return run


def _commit() -> None:
    """Commit, keeping the run record's values loaded: the caller can read it without another query (the
    database may be gone by then) and after the app context has ended."""
    session = db.session()
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


def _start_clean() -> None:
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("run_job 需要干净的会话:请先提交或回滚未保存的更改")
    # End any open (read) transaction so the claim is the first statement of a fresh one: on SQLite a
    # transaction that has already read cannot wait for the write lock (it would deadlock and fail at once).
    session.commit()


def _prepare_connection() -> None:
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.connection().exec_driver_sql(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _record_skipped(job_id: str, fire_time: datetime, started: datetime, host: str) -> JobRun:
    try:
        run = JobRun(job_id=job_id, fire_time=fire_time, started_at=started, finished_at=utcnow(),
                     outcome=RunOutcome.SKIPPED, summary=SKIPPED_SUMMARY, host=host)
        db.session.add(run)
        _commit()
        return run
    except Exception as record_err:
        _rollback_quietly()
        log.critical("无法记录定时任务 %s 的跳过: %s", job_id, _one_line(record_err))
        raise RunNotRecorded(job_id, fire_time, record_err, record_err) from record_err


def _record_failure(job_id: str, fire_time: datetime, started: datetime, host: str, err: BaseException,
                    token: str) -> JobRun:
    """Roll the work (and its claim) back, then record the failure in a transaction of its own."""
    _rollback_quietly()
    try:
        run = JobRun(job_id=job_id, fire_time=fire_time, started_at=started, finished_at=utcnow(),
                     outcome=RunOutcome.FAILED, error=describe_error(err), host=host)
        db.session.add(run)
        # Write before reading: on SQLite a transaction that has read cannot wait for the write lock.
        db.session.flush()
        # A lost connection during COMMIT is ambiguous: the server may have committed. Our claim tells.
        if db.session.scalar(sa.select(JobClaim.id).where(JobClaim.claimed_by == token)) is not None:
            db.session.rollback()
            done = db.session.scalar(sa.select(JobRun).where(
                JobRun.job_id == job_id, JobRun.fire_time == fire_time, JobRun.outcome == RunOutcome.SUCCESS,
                JobRun.host == host).order_by(JobRun.id.desc()).limit(1))
            if done is not None:
                log.warning("定时任务 %s 提交时报错,但工作已提交:%s", job_id, _one_line(err))
                return done
            raise RuntimeError("claim present without its run record")  # cannot happen: same transaction
        _commit()
    except Exception as record_err:
        _rollback_quietly()
        log.critical("定时任务 %s(%s)失败,且无法写入运行记录", job_id, _local_text(fire_time), exc_info=err)
        raise RunNotRecorded(job_id, fire_time, err, record_err) from err
    log.error("定时任务 %s(%s)失败,认领已撤销,可重试", job_id, _local_text(fire_time), exc_info=err)
    return run


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except Exception:  # a dead connection; the server rolls the transaction back when it notices
        log.warning("回滚失败(连接可能已断开)", exc_info=True)


def describe_error(err: BaseException) -> str:
    """First line "Type: message", then the traceback (for the admin page), bounded in length."""
    text = f"{_one_line(err)}\n\n" + "".join(traceback.format_exception(err))
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 20] + "\n…(已截断)"


def _one_line(err: BaseException) -> str:
    message = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def _local_text(value: datetime | None) -> str:
    return value.astimezone(SHANGHAI).isoformat(timespec="seconds") if value else "—"


# --- catch-up ------------------------------------------------------------------------------------------------

def is_claimed(job_id: str, fire_time: datetime) -> bool:
    fire_time = normalise_fire_time(fire_time)
    return db.session.scalar(sa.select(sa.exists().where(
        JobClaim.job_id == job_id, JobClaim.fire_time == fire_time))) or False


def catch_up(now: datetime | None = None, *, host: str | None = None) -> list[JobRun]:
    """Run each job's latest fire time ≤ ``now`` if nobody has claimed it (coalesced: once, not per missed time).

    Called when the scheduler starts, so a fire time missed while nothing was running is not lost; a failed
    run left no claim, so it is retried here too. One job's trouble does not stop the others.
    """
    now = now or utcnow()
    runs: list[JobRun] = []
    for spec in list(registry.JOBS.values()):
        try:
            fire_time = last_fire_time(spec.trigger, now)
            if fire_time is None or is_claimed(spec.id, fire_time):
                continue
            log.info("补执行错过的定时任务 %s(%s)", spec.id, _local_text(fire_time))
            runs.append(run_job(spec.id, fire_time, host=host))
        except Exception:
            _rollback_quietly()
            log.exception("补执行定时任务 %s 时出错", spec.id)
    return runs


# --- queries for the admin page and the API ------------------------------------------------------------------

def runs_statement(job_id: str | None = None, outcome: RunOutcome | None = None) -> sa.Select:
    stmt = sa.select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc())
    if job_id:
        stmt = stmt.where(JobRun.job_id == job_id)
    if outcome is not None:
        stmt = stmt.where(JobRun.outcome == outcome)
    return stmt


def latest_runs() -> dict[str, JobRun]:
    """The most recent run of each job id that did or tried the work (success or failed, not skipped)."""
    newest = (sa.select(JobRun.job_id, sa.func.max(JobRun.id).label("id"))
              .where(JobRun.outcome != RunOutcome.SKIPPED).group_by(JobRun.job_id).subquery())
    rows = db.session.scalars(sa.select(JobRun).join(newest, JobRun.id == newest.c.id))
    return {run.job_id: run for run in rows}


def job_rows(now: datetime | None = None) -> list[dict[str, Any]]:
    """Each job of the registry with its next fire time (Asia/Shanghai) and its latest run."""
    now = now or utcnow()
    latest = latest_runs()
    return [{"spec": spec, "next_fire_time": next_fire_time(spec.trigger, now), "last_run": latest.get(spec.id)}
            for spec in registry.JOBS.values()]
