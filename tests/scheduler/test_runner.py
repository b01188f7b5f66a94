"""run_job: the claim, the run record, failure and retry, and what is refused before any work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.scheduler import registry
from crm.scheduler.models import JobClaim, JobRun, RunOutcome
from crm.scheduler.runner import OffSchedule, normalise_fire_time, run_job
from tests.scheduler import sample_jobs
from tests.scheduler.conftest import work_done

JULY = datetime(2026, 7, 1, 0, 5, tzinfo=SHANGHAI)
MORNING = datetime(2026, 11, 20, 8, 30, tzinfo=SHANGHAI)


def claims(job_id: str) -> list[JobClaim]:
    return list(db.session.scalars(sa.select(JobClaim).where(JobClaim.job_id == job_id)))


def runs(job_id: str) -> list[JobRun]:
    return list(db.session.scalars(sa.select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.id)))


def test_success_then_the_same_fire_time_again_is_skipped(jobs_for_tests):
    first = run_job("half_year", JULY, host="test-a")
    assert first.outcome is RunOutcome.SUCCESS
    assert first.fire_time == datetime(2026, 6, 30, 16, 5, tzinfo=UTC)
    assert first.summary == "已写入 2026-07-01T00:05:00+08:00"
    assert first.finished_at is not None and first.finished_at >= first.started_at
    assert first.host == "test-a" and first.error == ""

    second = run_job("half_year", JULY, host="test-b")
    assert second.outcome is RunOutcome.SKIPPED
    assert "已被认领" in second.summary

    assert work_done("half_year") == ["2026-07-01T00:05:00+08:00"]  # the work, once
    assert [c.fire_time for c in claims("half_year")] == [first.fire_time]
    assert [r.outcome for r in runs("half_year")] == [RunOutcome.SUCCESS, RunOutcome.SKIPPED]


def test_the_same_instant_written_differently_is_the_same_claim(jobs_for_tests):
    assert run_job("half_year", JULY).outcome is RunOutcome.SUCCESS
    same_in_utc = datetime(2026, 6, 30, 16, 5, tzinfo=UTC)
    with_microseconds = JULY + timedelta(microseconds=999_999)
    assert run_job("half_year", same_in_utc).outcome is RunOutcome.SKIPPED
    assert run_job("half_year", with_microseconds).outcome is RunOutcome.SKIPPED
    assert len(work_done("half_year")) == 1


def test_other_fire_times_and_other_jobs_are_other_claims(jobs_for_tests):
    assert run_job("daily", MORNING).outcome is RunOutcome.SUCCESS
    assert run_job("daily", MORNING + timedelta(days=1)).outcome is RunOutcome.SUCCESS
    assert run_job("half_year", JULY).outcome is RunOutcome.SUCCESS
    assert work_done("daily") == ["2026-11-20T08:30:00+08:00", "2026-11-21T08:30:00+08:00"]
    assert len(work_done("half_year")) == 1


def test_the_job_gets_its_fire_time_in_shanghai(jobs_for_tests):
    run_job("half_year", datetime(2026, 6, 30, 16, 5, tzinfo=UTC))
    # 16:05 UTC on 30 June is 00:05 on 1 July in Zunyi: the second half year, not the first.
    assert work_done("half_year") == ["2026-07-01T00:05:00+08:00"]


def test_a_failed_run_is_recorded_leaves_no_claim_and_can_be_retried(jobs_for_tests):
    sample_jobs.FAIL.add("half_year")
    failed = run_job("half_year", JULY)
    assert failed.outcome is RunOutcome.FAILED
    assert failed.error.startswith("RuntimeError: 模拟失败:half_year")
    assert "Traceback" in failed.error
    assert failed.finished_at is not None
    assert claims("half_year") == []  # rolled back with the work
    assert work_done("half_year") == []  # the row the job wrote before failing is gone

    sample_jobs.FAIL.clear()
    retried = run_job("half_year", JULY)
    assert retried.outcome is RunOutcome.SUCCESS
    assert len(claims("half_year")) == 1
    assert work_done("half_year") == ["2026-07-01T00:05:00+08:00"]
    assert [r.outcome for r in runs("half_year")] == [RunOutcome.FAILED, RunOutcome.SUCCESS]
    assert run_job("half_year", JULY).outcome is RunOutcome.SKIPPED


def test_a_job_whose_function_cannot_be_imported_fails_cleanly(jobs_for_tests, monkeypatch):
    broken = registry.JobSpec("broken", "crm.no_such_module:job", registry.cron(hour=1), "坏任务", "每天 01:00")
    monkeypatch.setitem(registry.JOBS, "broken", broken)
    run = run_job("broken", datetime(2026, 11, 20, 1, 0, tzinfo=SHANGHAI))
    assert run.outcome is RunOutcome.FAILED
    assert run.error.startswith("ModuleNotFoundError")
    assert claims("broken") == []


@pytest.mark.parametrize("fire_time, error", [
    (datetime(2026, 7, 1, 0, 5), ValueError),  # naive
    (datetime(2026, 7, 1, 0, 6, tzinfo=SHANGHAI), OffSchedule),  # not a scheduled fire time
    (datetime(2026, 7, 2, 0, 5, tzinfo=SHANGHAI), OffSchedule),
    (datetime(2026, 7, 1, 0, 5, tzinfo=UTC), OffSchedule),  # 08:05 in Zunyi
])
def test_refused_before_any_work(jobs_for_tests, fire_time, error):
    with pytest.raises(error):
        run_job("half_year", fire_time)
    assert runs("half_year") == [] and claims("half_year") == [] and work_done() == []


def test_off_schedule_names_the_nearest_scheduled_time(jobs_for_tests):
    with pytest.raises(OffSchedule, match="2026-07-01T00:05:00\\+08:00"):
        run_job("half_year", datetime(2026, 7, 1, 0, 6, tzinfo=SHANGHAI))


def test_unknown_job_is_refused(jobs_for_tests):
    with pytest.raises(registry.UnknownJob, match="没有名为 'nope' 的定时任务"):
        run_job("nope", JULY)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 0


def test_unsaved_changes_are_refused(jobs_for_tests):
    from crm.core.audit import record

    record(None, "user", 1, "update")
    with pytest.raises(RuntimeError, match="干净的会话"):
        run_job("half_year", JULY)


def test_normalise_fire_time():
    assert normalise_fire_time(datetime(2026, 7, 1, 0, 5, 0, 123456, tzinfo=SHANGHAI)) == datetime(
        2026, 6, 30, 16, 5, tzinfo=UTC)
    with pytest.raises(ValueError, match="必须带时区"):
        normalise_fire_time(datetime(2026, 7, 1))


def test_the_real_registry():
    assert {"open_half_year_refresh", "refresh_deadline_reminder"} <= set(registry.JOBS)
    for spec in registry.JOBS.values():
        assert str(spec.trigger.timezone) == "Asia/Shanghai"
        assert callable(spec.load())
    half = registry.JOBS["open_half_year_refresh"]
    assert half.func == "crm.rosters.jobs:open_half_year_refresh"
    fires = [half.trigger.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=SHANGHAI))]
    for _ in range(3):
        fires.append(half.trigger.get_next_fire_time(fires[-1], fires[-1]))
    assert [f.isoformat() for f in fires] == ["2026-01-01T00:05:00+08:00", "2026-07-01T00:05:00+08:00",
                                             "2027-01-01T00:05:00+08:00", "2027-07-01T00:05:00+08:00"]
    daily = registry.JOBS["refresh_deadline_reminder"].trigger
    assert daily.get_next_fire_time(None, datetime(2026, 11, 27, 9, 0, tzinfo=SHANGHAI)).isoformat() == (
        "2026-11-28T08:30:00+08:00")
