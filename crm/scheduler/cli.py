"""``flask --app wsgi scheduler ...``: the scheduler process, one manual run, the job list.

Exit status of ``run-job``: 0 success or skipped (the fire time was already claimed), 1 failed, 2 usage error
(unknown job, malformed or naive ``--at``, a time that is not a scheduled fire time of the job).
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import NoReturn

import click
from flask import current_app
from flask.cli import AppGroup

from crm.core.time import SHANGHAI, utcnow
from crm.scheduler import registry
from crm.scheduler.models import RunOutcome
from crm.scheduler.runner import OffSchedule, RunNotRecorded, last_fire_time, next_fire_time, run_job

scheduler_cli = AppGroup("scheduler", help="定时任务:调度进程(run)、手动执行一次(run-job)、任务列表(jobs)。")

OUTCOME_TEXT = {RunOutcome.SUCCESS: "成功", RunOutcome.FAILED: "失败", RunOutcome.SKIPPED: "已跳过"}


def _usage_error(message: str) -> NoReturn:
    click.echo(f"错误:{message}", err=True)
    sys.exit(2)


def _local(value: datetime) -> str:
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S %z")


def parse_at(text: str) -> datetime:
    """An ISO 8601 time with an offset; a naive or malformed one is refused (ValueError, Chinese message)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--at 的时间格式不正确:{text!r},应为 ISO 8601,例如 2026-07-01T00:05:00+08:00") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"--at 必须带时区:{text!r},例如 2026-07-01T00:05:00+08:00")
    return value


@scheduler_cli.command("run")
@click.option("--standby-retry", default=30, show_default=True, type=click.IntRange(1, 3600),
              help="PostgreSQL 上已有活动调度器时,待命进程重试取得锁的间隔(秒)")
@click.option("--name", envvar="CRM_SCHEDULER_NAME", default=None, metavar="NAME",
              help="心跳记录中本调度进程的名称(默认主机名;同一主机运行多个调度进程时须各不相同)")
def run_command(standby_retry: int, name: str | None) -> None:
    """运行调度进程(前台;SIGTERM/Ctrl-C 停止)。不要在 Web 进程中启动。"""
    from crm.scheduler.process import run_scheduler

    try:
        code = run_scheduler(current_app._get_current_object(), standby_retry=standby_retry,  # type: ignore[attr-defined]
                             name=(name or "").strip() or None)
    except KeyboardInterrupt:
        code = 0
    sys.exit(code)


@scheduler_cli.command("run-job")
@click.argument("job_id")
@click.option("--at", "at", metavar="ISO8601",
              help="按该计划触发时间执行(带时区,例如 2026-07-01T00:05:00+08:00);省略则取最近一次已到的计划触发时间")
def run_job_command(job_id: str, at: str | None) -> None:
    """按计划触发时间执行一次任务,与调度器使用同一认领:同一触发时间只会执行一次。"""
    try:
        spec = registry.get_job(job_id)
    except registry.UnknownJob as err:
        _usage_error(str(err))
    if at is None:
        fire_time = last_fire_time(spec.trigger, utcnow())
        if fire_time is None:
            _usage_error(f"任务 {job_id} 还没有已到的计划触发时间,请用 --at 指定")
    else:
        try:
            fire_time = parse_at(at)
        except ValueError as err:
            _usage_error(str(err))
    try:
        run = run_job(job_id, fire_time)
    except OffSchedule as err:
        _usage_error(str(err))
    except RunNotRecorded as err:
        click.echo(f"失败:{err}", err=True)
        sys.exit(1)
    head = f"{OUTCOME_TEXT[run.outcome]}:{job_id}(计划触发时间 {_local(run.fire_time)})"
    if run.outcome is RunOutcome.SUCCESS:
        click.echo(f"{head} {run.summary}".rstrip())
    elif run.outcome is RunOutcome.SKIPPED:
        click.echo(f"{head} {run.summary}")
    else:
        click.echo(f"{head} {run.error.splitlines()[0] if run.error else ''}".rstrip(), err=True)
        sys.exit(1)


@scheduler_cli.command("jobs")
def jobs_command() -> None:
    """列出定时任务及下次触发时间(北京时间)。"""
    now = utcnow()
    for spec in registry.JOBS.values():
        upcoming = next_fire_time(spec.trigger, now)
        click.echo(f"{spec.id}\t{spec.schedule}\t下次:{_local(upcoming) if upcoming else '无'}\t{spec.description}")
