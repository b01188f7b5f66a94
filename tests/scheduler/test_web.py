"""The admin page /admin/scheduler and GET /api/v1/scheduler/jobs|runs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from crm.core.time import SHANGHAI
from crm.scheduler import registry
from crm.scheduler.runner import run_job
from tests.api.support import bearer, error_of
from tests.conftest import login, make_user
from tests.scheduler import sample_jobs

PAGE = "/admin/scheduler/"
JOBS_API = "/api/v1/scheduler/jobs"
RUNS_API = "/api/v1/scheduler/runs"


def _some_runs() -> None:
    sample_jobs.FAIL.add("daily")
    run_job("daily", datetime(2026, 11, 20, 8, 30, tzinfo=SHANGHAI), host="host-a")
    sample_jobs.FAIL.clear()
    run_job("daily", datetime(2026, 11, 20, 8, 30, tzinfo=SHANGHAI), host="host-a")
    run_job("half_year", datetime(2026, 7, 1, 0, 5, tzinfo=SHANGHAI), host="host-a")
    run_job("half_year", datetime(2026, 7, 1, 0, 5, tzinfo=SHANGHAI), host="host-b")


# --- page ----------------------------------------------------------------------------------------------------

def test_admin_sees_jobs_and_runs(client, jobs_for_tests):
    _some_runs()
    login(client, make_user("admin"))
    response = client.get(PAGE)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "定时任务" in html and "运行记录" in html
    assert "每年1月1日、7月1日 00:05" in html and "每天 08:30" in html
    assert "2026-07-01 00:05" in html  # fire times in Zunyi time
    for label in ("成功", "失败", "已跳过"):
        assert label in html
    assert "RuntimeError: 模拟失败:daily" in html
    assert "<details>" in html
    # Strict CSP: no inline scripts or styles.
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "style=" not in html and "<style" not in html
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_page_filters_and_paginates(client, jobs_for_tests):
    _some_runs()
    login(client, make_user("admin"))
    failed = client.get(PAGE + "?outcome=failed").get_data(as_text=True)
    assert "模拟失败" in failed and "已写入" not in failed
    only_half = client.get(PAGE + "?job=half_year").get_data(as_text=True)
    assert "RuntimeError" not in only_half and "已写入 2026-07-01T00:05:00+08:00" in only_half
    paged = client.get(PAGE + "?per_page=1&page=2").get_data(as_text=True)
    assert "第 2 / 4 页,共 4 条" in paged
    bad = client.get(PAGE + "?page=0")
    assert bad.status_code == 400 and "已显示第 1 页" in bad.get_data(as_text=True)
    empty = client.get(PAGE + "?job=nothing-here").get_data(as_text=True)
    assert "没有符合条件的运行记录" in empty


def test_the_page_without_any_run(client):
    login(client, make_user("admin"))
    html = client.get(PAGE).get_data(as_text=True)
    assert "open_half_year_refresh" in html and "暂无运行记录" in html and "尚未运行" in html


@pytest.mark.parametrize("role", ["coordinator", "commissioner", "leader"])
def test_others_get_403(client, role):
    login(client, make_user(role))
    assert client.get(PAGE).status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get(PAGE)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- API -----------------------------------------------------------------------------------------------------

def test_api_jobs(client):
    headers = bearer(make_user("admin"))
    response = client.get(JOBS_API, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    items = {item["id"]: item for item in body["items"]}
    assert list(items) == list(registry.JOBS) and body["total"] == len(registry.JOBS)
    assert {"open_half_year_refresh", "refresh_deadline_reminder"} <= set(items)
    half = items["open_half_year_refresh"]
    assert half["trigger"] == "每年1月1日、7月1日 00:05"
    assert "month='1,7'" in half["cron"]
    upcoming = datetime.fromisoformat(half["next_fire_time"])
    assert half["next_fire_time"].endswith("+08:00")
    assert (upcoming.month, upcoming.day, upcoming.hour, upcoming.minute) in {(1, 1, 0, 5), (7, 1, 0, 5)}
    assert upcoming - datetime.now(SHANGHAI) < timedelta(days=185)
    assert half["last_run"] is None


def test_api_runs(client, jobs_for_tests):
    _some_runs()
    headers = bearer(make_user("admin"))
    body = client.get(RUNS_API, headers=headers).get_json()
    assert (body["total"], body["page"], body["per_page"]) == (4, 1, 50)
    newest = body["items"][0]
    assert set(newest) >= {"job", "fire_time", "started_at", "finished_at", "outcome", "error"}
    assert newest["job"] == "half_year" and newest["outcome"] == "skipped" and newest["error"] is None
    assert newest["fire_time"] == "2026-07-01T00:05:00+08:00"
    assert newest["started_at"].endswith("+08:00") and newest["finished_at"].endswith("+08:00")
    outcomes = [item["outcome"] for item in body["items"]]
    assert outcomes == ["skipped", "success", "success", "failed"]
    assert body["items"][-1]["error"].startswith("RuntimeError: 模拟失败:daily")

    failed = client.get(RUNS_API + "?outcome=failed", headers=headers).get_json()
    assert [i["job"] for i in failed["items"]] == ["daily"] and failed["total"] == 1
    daily = client.get(RUNS_API + "?job=daily&per_page=1&page=2", headers=headers).get_json()
    assert (daily["total"], len(daily["items"]), daily["items"][0]["outcome"]) == (2, 1, "failed")

    jobs = {i["id"]: i for i in client.get(JOBS_API, headers=headers).get_json()["items"]}
    # The latest run that did (or tried) the work; a skipped one says nothing about the job's health.
    assert jobs["half_year"]["last_run"]["outcome"] == "success"
    assert jobs["daily"]["last_run"]["outcome"] == "success"


def test_api_bad_query(client):
    headers = bearer(make_user("admin"))
    assert "outcome" in error_of(client.get(RUNS_API + "?outcome=maybe", headers=headers), 400)["fields"]
    assert "per_page" in error_of(client.get(RUNS_API + "?per_page=500", headers=headers), 400)["fields"]


@pytest.mark.parametrize("role", ["coordinator", "commissioner", "leader"])
@pytest.mark.parametrize("url", [JOBS_API, RUNS_API])
def test_api_others_get_403(client, role, url):
    error_of(client.get(url, headers=bearer(make_user(role))), 403, "forbidden")


@pytest.mark.parametrize("url", [JOBS_API, RUNS_API])
def test_api_without_token_401(client, url):
    error_of(client.get(url), 401)
    error_of(client.get(url, headers={"Authorization": "Bearer not-a-token"}), 401)


def test_api_is_in_the_openapi_document(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert "get" in document["paths"]["/scheduler/jobs"] and "get" in document["paths"]["/scheduler/runs"]
    assert {"SchedulerJob", "SchedulerRun"} <= set(document["components"]["schemas"])
