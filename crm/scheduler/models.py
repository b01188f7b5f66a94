"""Claims and runs of scheduled jobs."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db


class JobClaim(db.Model):
    """(job, scheduled fire time), claimed once: the unique key is what makes a job run exactly once.

    The claim is inserted in the same transaction as the job's work, so a run that fails (or loses the database)
    leaves no claim behind and the fire time can be run again.
    """

    __tablename__ = "job_claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(64))
    fire_time: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str] = mapped_column(sa.String(120), default="")

    __table_args__ = (sa.UniqueConstraint("job_id", "fire_time"),)


class RunOutcome(LabelledEnum):
    SUCCESS = "success", "成功"
    FAILED = "failed", "失败"
    SKIPPED = "skipped", "已跳过"  # the claim was already taken


class JobRun(db.Model):
    """Every attempt to run a job, whatever its outcome."""

    __tablename__ = "job_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    fire_time: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[RunOutcome] = mapped_column(enum_column(RunOutcome, "run_outcome"))
    error: Mapped[str] = mapped_column(sa.Text, default="")
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    host: Mapped[str] = mapped_column(sa.String(120), default="")


class SchedulerHeartbeat(db.Model):
    """The scheduler process's sign of life, one row per host: ``/healthz`` reports how old the newest beat is."""

    __tablename__ = "scheduler_heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    host: Mapped[str] = mapped_column(sa.String(120), unique=True)
    pid: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=False)  # holds the scheduler lock (PostgreSQL) / runs jobs
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
