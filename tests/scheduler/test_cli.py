"""``flask scheduler run-job`` and ``flask scheduler jobs`` (in process, through app.test_cli_runner)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.rosters.models import RosterEdition
from crm.scheduler import registry
from crm.scheduler.models import JobRun, RunOutcome
from tests.conftest import make_user
from tests.scheduler import sample_jobs
from tests.scheduler.conftest import work_done


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["scheduler", *args])


def test_run_job_success_then_skipped(app, jobs_for_tests):
    first = invoke(app, "run-job", "half_year", "--at", "2026-07-01T00:05:00+08:00")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("成功:half_year(计划触发时间 2026-07-01 00:05:00 +0800)")
    second = invoke(app, "run-job", "half_year", "--at", "2026-06-30T16:05:00Z")  # the same instant in UTC
    assert second.exit_code == 0, second.output
    assert second.stdout.startswith("已跳过:half_year")
    assert "已被认领" in second.stdout
    assert len(work_done("half_year")) == 1


def test_run_job_failure_exits_1(app, jobs_for_tests):
    sample_jobs.FAIL.add("daily")
    result = invoke(app, "run-job", "daily", "--at", "2026-11-20T08:30:00+08:00")
    assert result.exit_code == 1
    assert "失败:daily" in result.stderr and "模拟失败" in result.stderr
    assert db.session.scalars(sa.select(JobRun.outcome)).all() == [RunOutcome.FAILED]


def test_run_job_without_at_runs_the_latest_scheduled_time(app, jobs_for_tests):
    result = invoke(app, "run-job", "half_year")
    assert result.exit_code == 0, result.output
    assert len(work_done("half_year")) == 1
    assert invoke(app, "run-job", "half_year").stdout.startswith("已跳过")


@pytest.mark.parametrize("args, message", [
    (["nope", "--at", "2026-07-01T00:05:00+08:00"], "没有名为 'nope' 的定时任务"),
    (["half_year", "--at", "2026-07-01T00:05:00"], "--at 必须带时区"),
    (["half_year", "--at", "2026-07-01 00:05"], "--at 必须带时区"),
    (["half_year", "--at", "7月1日"], "--at 的时间格式不正确"),
    (["half_year", "--at", "2026-13-01T00:05:00+08:00"], "--at 的时间格式不正确"),
    (["half_year", "--at", "2026-07-01T00:06:00+08:00"], "不是任务 half_year 的计划触发时间"),
])
def test_run_job_usage_errors_exit_2(app, jobs_for_tests, args, message):
    result = invoke(app, "run-job", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stderr.startswith("错误:")
    assert work_done() == [] and db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 0


def test_jobs_lists_the_registry_with_next_fire_time(app):
    result = invoke(app, "jobs")
    assert result.exit_code == 0
    lines = {line.split("\t")[0]: line.split("\t") for line in result.stdout.splitlines()}
    assert list(lines) == list(registry.JOBS)
    half = lines["open_half_year_refresh"]
    assert half[1] == "每年1月1日、7月1日 00:05"
    assert half[2].startswith("下次:") and half[2].endswith(" 00:05:00 +0800")
    assert lines["refresh_deadline_reminder"][2].endswith(" 08:30:00 +0800")


def test_run_job_of_the_real_half_year_refresh(app):
    make_user("coordinator")
    db.session.commit()
    first = invoke(app, "run-job", "open_half_year_refresh", "--at", "2026-07-01T00:05:00+08:00")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith("成功:open_half_year_refresh")
    assert "2026H2" in first.stdout
    second = invoke(app, "run-job", "open_half_year_refresh", "--at", "2026-07-01T00:05:00+08:00")
    assert second.stdout.startswith("已跳过")
    periods = db.session.scalars(sa.select(RosterEdition.period).order_by(RosterEdition.kind)).all()
    assert periods == ["2026H2", "2026H2"]
