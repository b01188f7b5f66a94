"""Scheduler endpoints (API.md, "Scheduler (admin)"): the jobs with their next fire time, and the runs."""

from __future__ import annotations

from typing import Any

from flask import request

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import page_of
from crm.api.openapi import PAGE_PARAMS, add_paths, add_schemas, errors, nullable, ok, query, ref
from crm.api.openapi import page_of as page_schema
from crm.core.access import Action, require
from crm.core.errors import DomainError
from crm.core.parsing import parse_enum
from crm.core.time import isoformat_local
from crm.scheduler.models import JobRun, RunOutcome
from crm.scheduler.runner import job_rows, runs_statement

OUTCOMES = [o.value for o in RunOutcome]


def run_json(run: JobRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "job": run.job_id,
        "fire_time": isoformat_local(run.fire_time),
        "started_at": isoformat_local(run.started_at),
        "finished_at": isoformat_local(run.finished_at),
        "outcome": run.outcome.value,
        "error": run.error or None,
        "summary": run.summary,
        "host": run.host,
    }


@bp.get("/scheduler/jobs")
def scheduler_jobs():
    """Every job of the registry (admin only)."""
    require(current_user(), Action.MANAGE_USERS)
    items = [{
        "id": row["spec"].id,
        "trigger": row["spec"].schedule,
        "cron": str(row["spec"].trigger),
        "description": row["spec"].description,
        "next_fire_time": isoformat_local(row["next_fire_time"]),
        "last_run": run_json(row["last_run"]) if row["last_run"] else None,
    } for row in job_rows()]
    return {"items": items, "total": len(items)}


@bp.get("/scheduler/runs")
def scheduler_runs():
    """Recorded runs, newest first; ``?job=`` and ``?outcome=`` filter (admin only)."""
    require(current_user(), Action.MANAGE_USERS)
    job = request.args.get("job", "").strip()
    outcome = request.args.get("outcome", "").strip()
    fields: dict[str, str] = {}
    if len(job) > 64:
        fields["job"] = "任务标识最长64个字符"
    run_outcome = parse_enum(RunOutcome, outcome, field="outcome", what="运行结果", fields=fields)
    if fields:
        raise DomainError("查询参数不正确", fields)
    return page_of(runs_statement(job or None, run_outcome), run_json)


# --- OpenAPI -------------------------------------------------------------------------------------------------

_TIME = {"type": "string", "format": "date-time", "example": "2026-07-01T00:05:00+08:00"}

add_schemas({
    "SchedulerRun": {
        "type": "object",
        "required": ["job", "fire_time", "started_at", "finished_at", "outcome", "error"],
        "properties": {
            "id": {"type": "integer"},
            "job": {"type": "string", "example": "open_half_year_refresh"},
            "fire_time": {**_TIME, "description": "计划触发时间"},
            "started_at": _TIME,
            "finished_at": nullable("string", format="date-time"),
            "outcome": {"type": "string", "enum": OUTCOMES,
                        "description": "success 成功;failed 失败(认领已撤销,可重试);skipped 该触发时间已被认领"},
            "error": nullable("string", description="失败时的错误信息"),
            "summary": {"type": "string", "description": "任务返回的中文摘要"},
            "host": {"type": "string", "description": "执行的主机与进程"},
        },
    },
    "SchedulerJob": {
        "type": "object",
        "required": ["id", "trigger", "next_fire_time"],
        "properties": {
            "id": {"type": "string", "example": "open_half_year_refresh"},
            "trigger": {"type": "string", "description": "计划(中文)", "example": "每年1月1日、7月1日 00:05"},
            "cron": {"type": "string", "description": "APScheduler 触发器"},
            "description": {"type": "string"},
            "next_fire_time": nullable("string", format="date-time"),
            "last_run": {"oneOf": [ref("SchedulerRun"), {"type": "null"}],
                         "description": "最近一次执行(成功或失败;不含已跳过)"},
        },
    },
})

add_paths({
    "/scheduler/jobs": {
        "get": {
            "tags": ["scheduler"], "operationId": "listSchedulerJobs", "summary": "定时任务及下次触发时间(管理员)",
            "responses": {
                "200": ok("任务列表", {"type": "object", "required": ["items", "total"],
                                       "properties": {"items": {"type": "array", "items": ref("SchedulerJob")},
                                                      "total": {"type": "integer"}}}),
                **errors(401, 403),
            },
        },
    },
    "/scheduler/runs": {
        "get": {
            "tags": ["scheduler"], "operationId": "listSchedulerRuns", "summary": "定时任务运行记录,最新在前(管理员)",
            "parameters": [query("job", "按任务标识筛选"),
                           query("outcome", "按结果筛选", {"type": "string", "enum": OUTCOMES}), *PAGE_PARAMS],
            "responses": {"200": ok("运行记录", page_schema("SchedulerRun")), **errors(400, 401, 403)},
        },
    },
})
