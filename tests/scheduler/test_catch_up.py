"""last_fire_time, the half-year edges in Zunyi time, catch-up on start, and the scheduler's wiring."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from crm.core.time import SHANGHAI
from crm.rosters.domain import period_of
from crm.scheduler import registry
from crm.scheduler.models import RunOutcome
from crm.scheduler.process import HEARTBEAT_JOB_ID, build_scheduler, fire
from crm.scheduler.runner import catch_up, is_claimed, last_fire_time, next_fire_time, run_job
from tests.scheduler import sample_jobs
from tests.scheduler.conftest import work_done

HALF_YEAR = registry.JOBS["open_half_year_refresh"].trigger
DAILY = registry.JOBS["refresh_deadline_reminder"].trigger


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# --- last_fire_time ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("now, expected", [
    (sh(2026, 6, 30, 23, 59), sh(2026, 1, 1, 0, 5)),
    (sh(2026, 7, 1, 0, 4, 59), sh(2026, 1, 1, 0, 5)),
    (sh(2026, 7, 1, 0, 5), sh(2026, 7, 1, 0, 5)),  # a fire time is its own latest
    (sh(2026, 7, 1, 0, 5, 1), sh(2026, 7, 1, 0, 5)),
    (sh(2026, 12, 31, 23, 59), sh(2026, 7, 1, 0, 5)),
    (sh(2027, 1, 1, 0, 5), sh(2027, 1, 1, 0, 5)),
    (datetime(2026, 6, 30, 16, 5, tzinfo=UTC), sh(2026, 7, 1, 0, 5)),  # the same instant given in UTC
    (datetime(2026, 6, 30, 16, 4, tzinfo=UTC), sh(2026, 1, 1, 0, 5)),
])
def test_last_fire_time_of_the_half_year_trigger(now, expected):
    assert last_fire_time(HALF_YEAR, now) == expected


def test_30_june_2359_and_1_july_0005_are_different_half_years():
    before = last_fire_time(HALF_YEAR, datetime.fromisoformat("2026-06-30T23:59:00+08:00"))
    after = last_fire_time(HALF_YEAR, datetime.fromisoformat("2026-07-01T00:05:00+08:00"))
    assert before != after
    assert (period_of(before), period_of(after)) == ("2026H1", "2026H2")
    # In UTC both instants fall on 30 June; only Zunyi time tells the half years apart.
    assert datetime.fromisoformat("2026-07-01T00:05:00+08:00").astimezone(UTC).month == 6


def test_last_fire_time_of_the_daily_trigger():
    assert last_fire_time(DAILY, sh(2026, 11, 27, 8, 29)) == sh(2026, 11, 26, 8, 30)
    assert last_fire_time(DAILY, sh(2026, 11, 27, 8, 30)) == sh(2026, 11, 27, 8, 30)
    assert last_fire_time(DAILY, sh(2026, 11, 27, 23, 0)) == sh(2026, 11, 27, 8, 30)
    with pytest.raises(ValueError):
        last_fire_time(DAILY, datetime(2026, 11, 27))


def test_next_fire_time_is_in_shanghai():
    upcoming = next_fire_time(HALF_YEAR, datetime(2026, 11, 26, 17, 0, tzinfo=UTC))
    assert upcoming.isoformat() == "2027-01-01T00:05:00+08:00"


# --- catch-up ------------------------------------------------------------------------------------------------

def test_a_missed_fire_time_is_caught_up_once_coalesced(jobs_for_tests):
    now = sh(2026, 11, 20, 12, 0)  # several daily fire times were missed; the half year's too
    runs = catch_up(now, host="start-1")
    assert sorted((r.job_id, r.outcome) for r in runs) == [("daily", RunOutcome.SUCCESS),
                                                           ("half_year", RunOutcome.SUCCESS)]
    assert work_done("daily") == ["2026-11-20T08:30:00+08:00"]  # only the latest missed time
    assert work_done("half_year") == ["2026-07-01T00:05:00+08:00"]

    assert catch_up(now + timedelta(minutes=5), host="start-2") == []  # a second start: nothing again
    assert len(work_done()) == 2

    later = catch_up(sh(2026, 11, 21, 9, 0), host="start-3")  # the next day's fire time was missed
    assert [(r.job_id, r.fire_time) for r in later] == [("daily", sh(2026, 11, 21, 8, 30))]
    assert work_done("daily") == ["2026-11-20T08:30:00+08:00", "2026-11-21T08:30:00+08:00"]


def test_catch_up_skips_what_the_scheduler_already_ran(jobs_for_tests):
    run_job("daily", sh(2026, 11, 20, 8, 30))
    run_job("half_year", sh(2026, 7, 1, 0, 5))
    assert catch_up(sh(2026, 11, 20, 12, 0)) == []
    assert len(work_done()) == 2


def test_catch_up_retries_a_failed_run_and_goes_on_with_the_other_jobs(jobs_for_tests):
    now = sh(2026, 11, 20, 12, 0)
    sample_jobs.FAIL.add("daily")
    runs = {r.job_id: r.outcome for r in catch_up(now)}
    assert runs == {"daily": RunOutcome.FAILED, "half_year": RunOutcome.SUCCESS}
    assert not is_claimed("daily", sh(2026, 11, 20, 8, 30))

    sample_jobs.FAIL.clear()
    assert {r.job_id: r.outcome for r in catch_up(now)} == {"daily": RunOutcome.SUCCESS}
    assert work_done("daily") == ["2026-11-20T08:30:00+08:00"]


def test_catch_up_survives_a_job_that_cannot_even_start(jobs_for_tests, monkeypatch, caplog):
    def explode(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("crm.scheduler.runner.is_claimed", explode)
    with caplog.at_level(logging.ERROR, logger="crm.scheduler"):
        assert catch_up(sh(2026, 11, 20, 12, 0)) == []
    assert "补执行定时任务 daily 时出错" in caplog.text


# --- the scheduler's wiring ----------------------------------------------------------------------------------

def test_build_scheduler_schedules_every_job(app):
    after = sh(2026, 11, 27, 1, 0)
    scheduler = build_scheduler(app, host="h", after=after, scheduler_cls=BackgroundScheduler)
    scheduler.start(paused=True)  # job defaults are applied when the scheduler starts
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
    finally:
        scheduler.shutdown(wait=False)
    assert set(jobs) == set(registry.JOBS)
    assert HEARTBEAT_JOB_ID not in jobs  # no lock, no heartbeat
    half = jobs["open_half_year_refresh"]
    assert half.trigger is HALF_YEAR
    assert (half.coalesce, half.max_instances, half.misfire_grace_time) == (True, 1, 3600)
    assert half.next_run_time == sh(2027, 1, 1, 0, 5)
    assert jobs["refresh_deadline_reminder"].next_run_time == sh(2026, 11, 27, 8, 30)
    assert half.args == (app, "open_half_year_refresh", "h")
    assert str(scheduler.timezone) == "Asia/Shanghai"


def test_fire_runs_the_latest_scheduled_time(app, jobs_for_tests, monkeypatch):
    monkeypatch.setattr("crm.scheduler.process.utcnow", lambda: sh(2026, 11, 20, 8, 30, 0) + timedelta(
        milliseconds=20))
    fire(app, "daily", "sched-host")
    fire(app, "daily", "sched-host")  # a second firing of the same time (another scheduler): skipped
    assert work_done("daily") == ["2026-11-20T08:30:00+08:00"]


def test_fire_never_raises(app, jobs_for_tests, caplog):
    with caplog.at_level(logging.ERROR, logger="crm.scheduler"):
        fire(app, "no_such_job", "h")
    assert "定时任务 no_such_job 执行出错" in caplog.text
