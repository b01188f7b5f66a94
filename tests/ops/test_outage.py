"""The database going away under a running app: requests fail cleanly (a Chinese 503 page, API.md's JSON error,
``Retry-After``; never a 500 traceback) and the app recovers by itself when the database is back
(``pool_pre_ping``: a pooled connection the server has closed is replaced before use).

Nothing here restarts the shared PostgreSQL server: each test has a database of its own, whose connections are
ended with ``pg_terminate_backend`` (as the admin connection), and whose outage is ``ALLOW_CONNECTIONS false``
(every new connection refused) — on SQLite, the database file's directory moved away.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from config import CONFIGS
from crm.app import REQUEST_ID_HEADER
from crm.core.errors import RETRY_AFTER_SECONDS
from crm.extensions import db
from tests.conftest import TEST_PASSWORD, _pg_admin_engine, make_app, make_user, own_database
from tests.ops.test_health import unreachable_url

UNAVAILABLE = "数据库暂时无法连接,请稍后再试"


class Database:
    """The app's own database, from outside the app: end its connections, refuse new ones, let them in again."""

    def __init__(self, app: Flask):
        self.app = app
        with app.app_context():
            self.engine = db.engine
        self.url = self.engine.url
        self.moved: tuple[str, str] | None = None

    def terminate_connections(self) -> int:
        """End every server connection of the app behind its pool's back (as a server restart would), and wait
        until those server processes are gone: ``pg_terminate_backend`` only signals them, and a restart, too, has
        closed every connection before it accepts new ones."""
        if self.url.get_backend_name() == "postgresql":
            admin = _pg_admin_engine()
            try:
                with admin.connect() as conn:
                    pids = [pid for pid in conn.execute(sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
                        {"name": self.url.database}).scalars()
                        if conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()]
                    deadline = time.monotonic() + 10
                    while pids and conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                                                {"p": pids}).scalar():
                        assert time.monotonic() < deadline, f"backends {pids} still running"
                        time.sleep(0.01)
            finally:
                admin.dispose()
            return len(pids)
        # SQLite has no server: close the pooled sqlite3 connections under the pool (what the pool then holds is
        # as dead as a terminated backend's socket).
        records = list(self.engine.pool._pool.queue)  # type: ignore[attr-defined]
        for record in records:
            record.dbapi_connection.close()
        return len(records)

    def go_down(self) -> None:
        if self.url.get_backend_name() == "postgresql":
            self._admin(f'ALTER DATABASE "{self.url.database}" WITH ALLOW_CONNECTIONS false')
            self.terminate_connections()
        else:
            directory = os.path.dirname(self.url.database)
            self.moved = (directory, directory + "-away")
            os.rename(*self.moved)
            self.engine.dispose()  # the open file handles would outlive the move

    def come_back(self) -> None:
        if self.url.get_backend_name() == "postgresql":
            self._admin(f'ALTER DATABASE "{self.url.database}" WITH ALLOW_CONNECTIONS true')
        elif self.moved:
            os.rename(self.moved[1], self.moved[0])
            self.moved = None

    def _admin(self, statement: str) -> None:
        admin = _pg_admin_engine()
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(statement))
        finally:
            admin.dispose()


@pytest.fixture
def served(tmp_path_factory) -> Iterator[tuple[Flask, Database, FlaskClient, dict[str, str]]]:
    """An app on a database of its own, a signed-in page client and an API token (admin)."""
    with own_database(tmp_path_factory, "outage") as application:
        database = Database(application)
        with application.app_context():
            make_user("admin", username="admin-outage")
            db.session.commit()
        client = application.test_client()
        assert client.post("/login", data={"username": "admin-outage", "password": TEST_PASSWORD}).status_code == 302
        token = client.post("/api/v1/auth/token", json={"username": "admin-outage", "password": TEST_PASSWORD})
        assert token.status_code == 201, token.get_json()
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        try:
            yield application, database, client, headers
        finally:
            database.come_back()


def _works(client: FlaskClient, headers: dict[str, str]) -> None:
    page = client.get("/enterprises/")
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    api = client.get("/api/v1/enterprises", headers=headers)
    assert api.status_code == 200, api.get_json()


def _assert_unavailable_page(response) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 503, html[:800]
    assert UNAVAILABLE in html and "Traceback" not in html and "OperationalError" not in html
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert f"请求编号: <code class=\"request-id\">{response.headers[REQUEST_ID_HEADER]}</code>" in html
    assert "<script>" not in html  # strict CSP: no inline script, even here


def _assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)[:800]
    assert response.get_json() == {"error": {"code": "unavailable", "message": UNAVAILABLE}}
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)


def test_pool_pre_ping_is_on_in_every_configuration(app):
    for config in CONFIGS.values():
        assert config.SQLALCHEMY_ENGINE_OPTIONS.get("pool_pre_ping") is True, config
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.app_context():
        assert db.engine.pool._pre_ping  # type: ignore[attr-defined]
        db.engine.dispose()


def test_connections_ended_between_requests_are_replaced(served):
    _app, database, client, headers = served
    _works(client, headers)
    assert database.terminate_connections() >= 1
    _works(client, headers)  # the next requests succeed: no restart, no error
    assert database.terminate_connections() >= 1
    assert client.get("/healthz").status_code == 200


def test_without_pre_ping_an_ended_connection_is_a_clean_503_not_a_500(tmp_path_factory):
    """The contrast that shows pre-ping is what recovers above, and that the failure itself is clean."""
    with own_database(tmp_path_factory, "noping", SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": False}) as application:
        database = Database(application)
        client = application.test_client()
        assert client.get("/api/v1/enterprises").status_code == 401  # a token lookup: a pooled connection
        assert client.get("/healthz").status_code == 200
        assert database.terminate_connections() >= 1
        response = client.post("/login", data={"username": "nobody-here", "password": "x" * 12})
        _assert_unavailable_page(response)
        assert client.get("/healthz").status_code == 200  # the dead connection was dropped: the next one works


def test_a_database_outage_is_a_chinese_503_then_the_app_recovers(served):
    app, database, client, headers = served
    _works(client, headers)
    database.go_down()
    _assert_unavailable_page(client.get("/enterprises/"))
    _assert_unavailable_json(client.get("/api/v1/enterprises", headers=headers))
    _assert_unavailable_json(client.post("/api/v1/auth/token", json={"username": "admin-outage", "password": "x"}))
    probe = app.test_client()  # a load balancer's probe: no cookie
    health = probe.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"] == "unreachable"
    signed_in = client.get("/healthz")  # a signed-in browser gets the same JSON: the check loads no user
    assert signed_in.status_code == 503 and signed_in.get_json()["database"] == "unreachable"
    database.come_back()
    _works(client, headers)  # still signed in, the token still good: nothing to restart
    assert probe.get("/healthz").status_code == 200


def test_an_unreachable_database_from_the_start(tmp_path):
    application = make_app(unreachable_url(tmp_path), WTF_CSRF_ENABLED=False)
    client = application.test_client()
    _assert_unavailable_page(client.post("/login", data={"username": "someone", "password": "whatever-123"}))
    _assert_unavailable_json(client.get("/api/v1/enterprises", headers={"Authorization": "Bearer abc"}))
    assert client.get("/login").status_code == 200  # a page that needs no database still works


def test_a_bad_statement_stays_a_500(tmp_path_factory):
    """Only unreachability is a 503: a statement the database refuses is a bug, logged with its traceback."""
    with own_database(tmp_path_factory, "badsql", migrate=False, PROPAGATE_EXCEPTIONS=False) as application:
        @application.route("/_bad_sql")
        def _bad_sql():
            db.session.execute(sa.text("SELECT * FROM no_such_table_at_all_x"))
            return "never"

        response = application.test_client().get("/_bad_sql")
    assert response.status_code == 500 and "系统内部错误" in response.get_data(as_text=True)
