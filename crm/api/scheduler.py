"""Scheduler endpoints (API.md, "Scheduler (admin)"): the jobs with their next fire time, and the runs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import page_of
from crm.api.schema import (
    DateTimeStr,
    Msg,
    PageQuery,
    Shape,
    choice,
    code,
    dump,
    operation,
    page_model,
    query,
)
from crm.core.access import Action, require
from crm.core.time import isoformat_local
from crm.scheduler.models import JobRun, RunOutcome
from crm.scheduler.runner import job_rows, runs_statement

OUTCOMES = [o.value for o in RunOutcome]


class SchedulerRun(Shape):
    """一次定时任务运行"""

    id: int
    job: str = Field(examples=["open_half_year_refresh"])
    fire_time: DateTimeStr = Field(description="计划触发时间")
    started_at: DateTimeStr
    finished_at: DateTimeStr | None
    outcome: code(RunOutcome) = Field(
        description="success 成功;failed 失败(认领已撤销,可重试);skipped 该触发时间已被认领")
    error: str | None = Field(description="失败时的错误信息")
    summary: str = Field(description="任务返回的中文摘要")
    host: str = Field(description="执行的主机与进程")

    @classmethod
    def of(cls, run: JobRun) -> SchedulerRun:
        return cls(id=run.id, job=run.job_id, fire_time=isoformat_local(run.fire_time),
                   started_at=isoformat_local(run.started_at), finished_at=isoformat_local(run.finished_at),
                   outcome=run.outcome.value, error=run.error or None, summary=run.summary, host=run.host)


class SchedulerJob(Shape):
    """一个定时任务"""

    id: str = Field(examples=["open_half_year_refresh"])
    trigger: str = Field(description="计划(中文)", examples=["每年1月1日、7月1日 00:05"])
    cron: str = Field(description="APScheduler 触发器")
    description: str
    next_fire_time: DateTimeStr | None
    last_run: SchedulerRun | None = Field(description="最近一次执行(成功或失败;不含已跳过)")


class SchedulerJobList(Shape):
    """任务列表"""

    items: list[SchedulerJob]
    total: int


class RunsQuery(PageQuery):
    job: Annotated[str, Field(max_length=64), Msg("任务标识最长64个字符")] = Field("", description="按任务标识筛选")
    outcome: Annotated[choice(RunOutcome) | None, Msg("outcome 只能是 " + "、".join(OUTCOMES))] = Field(
        None, description="按结果筛选")


def run_json(run: JobRun) -> dict[str, Any]:
    return dump(SchedulerRun.of(run))


@bp.get("/scheduler/jobs")
@operation("定时任务及下次触发时间(管理员)", ok=SchedulerJobList, errors=(403,))
def scheduler_jobs():
    """Every job of the registry (admin only)."""
    require(current_user(), Action.MANAGE_USERS)
    items = [SchedulerJob(
        id=row["spec"].id, trigger=row["spec"].schedule, cron=str(row["spec"].trigger),
        description=row["spec"].description, next_fire_time=isoformat_local(row["next_fire_time"]),
        last_run=SchedulerRun.of(row["last_run"]) if row["last_run"] else None,
    ) for row in job_rows()]
    return dump(SchedulerJobList(items=items, total=len(items)))


@bp.get("/scheduler/runs")
@operation("定时任务运行记录,最新在前(管理员)", ok=page_model(SchedulerRun), query=RunsQuery, errors=(403, 422))
def scheduler_runs():
    """Recorded runs, newest first; ``?job=`` and ``?outcome=`` filter (admin only)."""
    require(current_user(), Action.MANAGE_USERS)
    args = query(RunsQuery)
    return page_of(runs_statement(args.job or None, RunOutcome(args.outcome) if args.outcome else None), run_json)
