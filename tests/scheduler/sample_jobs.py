"""Test-only jobs (never in the real registry): their work is one audit row, so it can be counted.

The row is a "holiday_year" "seed" row of year 0 (audit entity types and actions are enumerations, and no real
run writes year 0); its ``changes`` name the job.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from crm.core.audit import AuditAction, AuditEntity, record
from crm.scheduler.registry import JobSpec, cron

ENTITY, ENTITY_ID, ACTION = AuditEntity.HOLIDAY_YEAR, 0, AuditAction.SEED
FAIL: set[str] = set()  # job ids that raise after doing their work (the work must be rolled back)
HOOKS: dict[str, Callable[[], object]] = {}  # job id → called after the work (e.g. to lose the database)


def write_row(job_id: str, fire_time: datetime) -> str:
    record(None, ENTITY, ENTITY_ID, ACTION, {"job": job_id}, summary=fire_time.isoformat())
    if job_id in HOOKS:
        HOOKS[job_id]()
    if job_id in FAIL:
        raise RuntimeError(f"模拟失败:{job_id}")
    return f"已写入 {fire_time.isoformat()}"


def daily(fire_time: datetime) -> str:
    return write_row("daily", fire_time)


def half_year(fire_time: datetime) -> str:
    return write_row("half_year", fire_time)


def _spec(job_id: str, trigger, schedule: str) -> tuple[str, JobSpec]:
    return job_id, JobSpec(job_id, f"tests.scheduler.sample_jobs:{job_id}", trigger, f"测试任务 {job_id}", schedule)


SPECS = dict([
    _spec("daily", cron(hour=8, minute=30), "每天 08:30"),
    _spec("half_year", cron(month="1,7", day=1, hour=0, minute=5), "每年1月1日、7月1日 00:05"),
])
