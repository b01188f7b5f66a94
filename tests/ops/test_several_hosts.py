"""Several hosts (README, "Production"): two gunicorn instances on two loopback ports against one PostgreSQL
database share sign-in sessions and API tokens (both live in the database, signed with the one SECRET_KEY), and
two ``flask scheduler run`` processes started at once elect one active scheduler (the advisory lock) and run no
job twice.

PostgreSQL only: SQLite is the single-site database (one host; its scheduler needs no lock, the claims alone keep
each fire time single). Under SQLite the test asserts exactly that instead — it is not skipped.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Flask

from crm.extensions import db
from crm.scheduler.models import JobClaim, JobRun, SchedulerHeartbeat
from crm.scheduler.process import become_active
from tests.conftest import BACKEND, TEST_PASSWORD, csrf_token_from, make_user, own_database
from tests.ops.support import BIN, Process, free_port, poll, process_env, scheduler

USERNAME = "coordinator-hosts"


class Host:
    """One gunicorn instance (2 workers) serving ``wsgi:app`` in production configuration on a loopback port."""

    def __init__(self, url: str, log: Path):
        self.port = free_port()
        self.process = Process([str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{self.port}",
                                "--graceful-timeout", "5", "wsgi:app"], process_env(url, "production"), log)

    def request(self, method: str, path: str, *, cookies: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, form: dict[str, str] | None = None,
                body: Any = None) -> tuple[int, http.client.HTTPMessage, str]:
        sent = dict(headers or {})
        data = None
        if cookies:
            # Sent by hand: the production cookies are ``Secure`` and this is plain http on loopback (PITFALLS).
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        if form is not None:
            data = urlencode(form).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return response.status, response.headers, response.read().decode()
        finally:
            conn.close()

    def ready(self) -> bool:
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            assert self.process.proc.poll() is None, self.process.text()
            return False


def cookies_from(headers: http.client.HTTPMessage, jar: dict[str, str]) -> dict[str, str]:
    for line in headers.get_all("Set-Cookie") or []:
        name, _, rest = line.partition("=")
        value = rest.split(";", 1)[0]
        if "expires=Thu, 01 Jan 1970" in line or not value:
            jar.pop(name, None)
        else:
            jar[name] = value
    return jar


def sign_in(host: Host) -> dict[str, str]:
    """Fetch the sign-in page, post the form with its CSRF token: the signed-in cookies."""
    status, headers, html = host.request("GET", "/login")
    assert status == 200, html[:500]
    jar = cookies_from(headers, {})
    status, headers, html = host.request("POST", "/login", cookies=jar, form={
        "csrf_token": csrf_token_from(html), "username": USERNAME, "password": TEST_PASSWORD})
    assert status == 302, html[:800]
    assert headers["Strict-Transport-Security"].startswith("max-age=")  # production settings are what serve
    return cookies_from(headers, jar)


def _sqlite_has_one_host_and_no_lock(tmp_path_factory) -> None:
    assert BACKEND == "sqlite"
    with own_database(tmp_path_factory, "hosts", reference_data=False) as application:
        said: list[str] = []
        handler = logging.Handler(logging.INFO)
        handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
        logger = logging.getLogger("crm.scheduler")
        level, logger.disabled = logger.level, False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            assert become_active(application, 0.1) is None  # no advisory lock: nothing to elect
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        assert any("不使用咨询锁,仅靠任务认领保证每个触发时间只执行一次" in message for message in said)


def test_two_hosts_share_sessions_tokens_and_elect_one_scheduler(tmp_path_factory, tmp_path):
    if BACKEND != "postgres":
        _sqlite_has_one_host_and_no_lock(tmp_path_factory)
        return
    with own_database(tmp_path_factory, "hosts") as application:
        with application.app_context():
            make_user("coordinator", username=USERNAME)
            db.session.commit()
            url = db.engine.url.render_as_string(hide_password=False)
        hosts = [Host(url, tmp_path / "a.log"), Host(url, tmp_path / "b.log")]
        try:
            for host in hosts:
                poll(host.ready, timeout=90)
            _sessions_and_tokens_cross_hosts(*hosts)
            _one_scheduler_and_no_job_twice(application, url, tmp_path)
            # Both hosts read the same scheduler state from the one database: both schedulers have stopped, so no
            # active host, both standing by (stale) — and the web hosts still answer 200.
            answers = [h.request("GET", "/healthz") for h in hosts]
            assert [status for status, _, _ in answers] == [200, 200]
            reports = [json.loads(text)["scheduler"] for _, _, text in answers]
            for report in reports:
                assert report["status"] == "stale" and report["active_host"] is None, report
                assert sorted(report["standby_hosts"]) == ["sched-host-a", "sched-host-b"], report
        finally:
            for host in hosts:
                host.process.stop(30)


def _sessions_and_tokens_cross_hosts(a: Host, b: Host) -> None:
    # Not signed in: host B sends the browser to the sign-in page.
    status, headers, _ = b.request("GET", "/enterprises/")
    assert status == 302 and "/login" in headers["Location"]
    # Signed in through A, the session cookie works on B (and back on A).
    jar = sign_in(a)
    status, _, html = b.request("GET", "/enterprises/", cookies=jar)
    assert status == 200 and "企业档案" in html and USERNAME in html
    assert a.request("GET", "/enterprises/", cookies=jar)[0] == 200
    # Signing out through B ends the session on A too (server-side sessions, one database).
    status, headers, page_html = b.request("GET", "/enterprises/", cookies=jar)
    cookies_from(headers, jar)  # the page's CSRF token may be new to the session
    status, _, _ = b.request("POST", "/logout", cookies=jar, form={"csrf_token": csrf_token_from(page_html)})
    assert status == 302
    status, headers, _ = a.request("GET", "/enterprises/", cookies=jar)
    assert status == 302 and "/login" in headers["Location"]

    # A token issued through A works on B; revoked through B, it is refused on A.
    status, _, text = a.request("POST", "/api/v1/auth/token", body={"username": USERNAME, "password": TEST_PASSWORD})
    assert status == 201, text
    bearer = {"Authorization": f"Bearer {json.loads(text)['token']}"}
    status, _, text = b.request("GET", "/api/v1/enterprises", headers=bearer)
    assert status == 200 and "items" in json.loads(text)
    assert b.request("DELETE", "/api/v1/auth/token", headers=bearer)[0] == 204
    assert a.request("GET", "/api/v1/enterprises", headers=bearer)[0] == 401

    # The request id the proxy sends is echoed and logged (one JSON line) by the host that served it.
    status, headers, _ = a.request("GET", "/healthz", headers={"X-Request-ID": "proxy-trace-7"})
    assert headers["X-Request-ID"] == "proxy-trace-7"
    line = poll(lambda: next((json.loads(m) for m in re.findall(r"\{.*\}", a.process.text())
                              if '"proxy-trace-7"' in m), None), timeout=10)
    assert line["path"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"


def _one_scheduler_and_no_job_twice(app: Flask, url: str, tmp_path: Path) -> None:
    # Started at once: one takes the lock, the other waits as a standby (and beats as one).
    first, second = (scheduler(url, tmp_path / f"sched-{n}.log", f"sched-host-{n}") for n in ("a", "b"))
    processes = {"sched-host-a": first, "sched-host-b": second}
    try:
        poll(lambda: all("调度器已启动" in p.text() or "本进程待命(standby)" in p.text()
                         for p in processes.values()), timeout=90)
        active = [name for name, p in processes.items() if "调度器已启动" in p.text()]
        assert len(active) == 1, {n: p.text() for n, p in processes.items()}
        standby = next(name for name in processes if name not in active)
        assert "本进程待命(standby)" in processes[standby].text()
        beats = poll(lambda: _heartbeats(app) if len(_heartbeats(app)) == 2 else None)
        assert beats == {active[0]: True, standby: False}
        # The active one goes away: the standby takes over and catches up on nothing already done.
        assert processes[active[0]].stop() == 0
        processes[standby].wait_for("调度器已启动")
        # Nothing the active one did is caught up again. A minute boundary may fall in the hand-over, and then the
        # every-minute sweep's new fire time is rightly caught up; the pairs below show nothing ran twice.
        caught_up = set(re.findall(r"补执行错过的定时任务 (\w+)", processes[standby].text()))
        assert caught_up <= {"sweep_roster_imports"}, caught_up
        assert poll(lambda: _heartbeats(app) if _heartbeats(app) == {active[0]: False, standby: True} else None)
    finally:
        for process in processes.values():
            assert process.stop() == 0, process.text()
    with app.app_context():
        runs = db.session.execute(sa.select(JobRun.job_id, JobRun.fire_time, JobRun.outcome)).all()
        claims = db.session.execute(sa.select(JobClaim.job_id, JobClaim.fire_time)).all()
        db.session.remove()
    assert runs, "the active scheduler caught up on nothing"
    pairs = [(r.job_id, r.fire_time) for r in runs]
    assert len(pairs) == len(set(pairs)), f"a job ran twice: {sorted(pairs)}"
    # Every success holds its claim (the unique key that made it once); jobs may also claim periods of their own.
    assert {(r.job_id, r.fire_time) for r in runs if r.outcome.value == "success"} <= set(map(tuple, claims))


def _heartbeats(app: Flask) -> dict[str, bool]:
    with app.app_context():
        found = dict(db.session.execute(sa.select(SchedulerHeartbeat.host, SchedulerHeartbeat.active)).all())
        db.session.remove()
    return found


def test_waiting_is_bounded():
    """The helpers' polls end: a host that never answers fails the test instead of hanging it."""
    start = time.monotonic()
    try:
        poll(lambda: False, timeout=0.3, interval=0.05)
    except AssertionError as err:
        assert "never true" in str(err)
    assert time.monotonic() - start < 2
