"""Test fixtures: one database per run made by the migrations, one rolled-back transaction per test.

The suite runs on SQLite by default and on PostgreSQL with ``CRM_TEST_DB=postgres`` and ``TEST_DATABASE_URL``
(``make test`` runs both). Under PostgreSQL a missing or unreachable server fails the run; it never skips.
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from stdnum.cn import uscc as stdnum_uscc

from config import normalise_database_url
from crm import create_app
from crm.core.time import local_today
from crm.core.transactions import PREPARED
from crm.extensions import db

BACKEND = os.environ.get("CRM_TEST_DB", "sqlite")
TEST_PASSWORD = "Passw0rd-test"


# --- databases -----------------------------------------------------------------------------------------------

def _pg_admin_engine() -> sa.Engine:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.exit("CRM_TEST_DB=postgres needs TEST_DATABASE_URL", returncode=3)
    return sa.create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")


def new_database(tmp_path_factory: pytest.TempPathFactory, label: str) -> tuple[str, Any]:
    """A fresh, empty database of the backend under test, and a function that drops it."""
    if BACKEND == "sqlite":
        path = tmp_path_factory.mktemp(label) / "crm.sqlite3"
        return f"sqlite:///{path}", lambda: None
    if BACKEND != "postgres":
        pytest.exit(f"unknown CRM_TEST_DB={BACKEND!r}", returncode=3)
    admin = _pg_admin_engine()
    name = f"crm_{label}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as err:
        pytest.exit(f"PostgreSQL is unreachable: {err}", returncode=3)
    url = admin.url.set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def make_app(url: str, **overrides: Any) -> Flask:
    return create_app("testing", {"SQLALCHEMY_DATABASE_URI": url, **overrides})


@contextmanager
def own_database(tmp_path_factory: pytest.TempPathFactory, label: str, *, migrate: bool = True,
                 reference_data: bool = True, wrap: Callable[[Flask], Flask] | None = None,
                 **overrides: Any) -> Iterator[Flask]:
    """An app on a fresh database of its own (outside the per-test rollback), dropped afterwards.

    The database is migrated (unless ``migrate`` is false) and holds the plan's reference data (unless
    ``reference_data`` is false); ``overrides`` go to the app's config, ``wrap`` may register more on the app.
    """
    from flask_migrate import upgrade

    from crm.demo.reference import load_reference_data

    url, drop = new_database(tmp_path_factory, label)
    application = make_app(url, **overrides)
    if wrap is not None:
        application = wrap(application)
    try:
        if migrate:
            with application.app_context():
                upgrade()
                if reference_data:
                    load_reference_data()
                    db.session.commit()
                db.session.remove()
        yield application
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        drop()


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with own_database(tmp_path_factory, "test") as application:
        yield application


@pytest.fixture(autouse=True)
def _transaction(app: Flask) -> Iterator[None]:
    """Each test runs inside the app context, in a transaction rolled back at its end (PITFALLS: tests)."""
    with app.app_context():
        conn = db.engine.connect()
        outer = conn.begin()
        engines = db.engines  # the app's own dict: swapping its default engine for our connection
        saved = engines[None]
        engines[None] = conn
        db.session.remove()
        db.session.configure(join_transaction_mode="create_savepoint")
        try:
            yield
        finally:
            db.session.remove()
            engines[None] = saved
            outer.rollback()
            conn.close()


@pytest.fixture
def live_today(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sets the test module's `TODAY` to the Shanghai date when each test starts, not when the module was collected.

    Modules whose records are dated from the real today use it (`pytestmark = pytest.mark.usefixtures("live_today")`):
    a run that crosses midnight in Shanghai (16:00 UTC) otherwise builds its records on yesterday while the app
    already reckons from today ("逾期 1 天" became "逾期 2 天" in CI). Modules with a fixed `TODAY` do not use it.
    """
    monkeypatch.setattr(request.module, "TODAY", local_today())


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def fresh_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """An app on a fresh, migrated database of its own, outside the per-test rollback: for tests that use
    several connections, threads or processes (PITFALLS: tests)."""
    with own_database(tmp_path_factory, "fresh") as application:
        yield application


class QueryCounter:
    """The SQL statements sent while a ``with count_queries() as queries:`` block runs (every statement,
    SAVEPOINTs included: compare counts of the same kind of run)."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.prepared: list[str] = []  # those marked by crm.core.transactions.prepared (a plan kept on PostgreSQL)

    def __call__(self, _conn, _cursor, statement: str, _parameters: Any = None, context: Any = None,
                 *_args) -> None:  # before_cursor_execute
        self.statements.append(statement)
        if context is not None and context.execution_options.get(PREPARED):
            self.prepared.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def reads(self) -> int:
        """The ``SELECT``s (and ``WITH … SELECT``s) among them."""
        return sum(1 for statement in self.statements if statement.lstrip().upper().startswith(("SELECT", "WITH")))


@contextmanager
def counting_queries() -> Iterator[QueryCounter]:
    counter = QueryCounter()
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", counter)


@pytest.fixture
def count_queries() -> Callable[[], AbstractContextManager[QueryCounter]]:
    """``with count_queries() as queries: ...``, then ``queries.count`` (or ``queries.reads``)."""
    return counting_queries


# --- factories -----------------------------------------------------------------------------------------------

_seq = itertools.count(1)


def make_uscc(n: int | None = None) -> str:
    """A valid 统一社会信用代码 (check digit by python-stdnum)."""
    n = next(_seq) if n is None else n
    body = f"91520300{n:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


def make_user(role: str = "coordinator", *, username: str | None = None, county: str | None = None,
              department: str | None = None, specialties: list[str] | None = None):
    from crm.auth.domain import create_user

    if role == "liaison" and department is None:  # a liaison is always some department's
        department = "市自然资源局"
    user = create_user(None, username=username or f"{role}{next(_seq)}", password=TEST_PASSWORD, role=role,
                       county=county, department=department, specialties=specialties or [])
    db.session.flush()
    return user


def make_park(name: str, county: str = "汇川区", **extra: Any):
    """A park (the reference data holds only the one the plan names); an existing one of that name is reused."""
    from crm.reference.models import County, Park

    park = db.session.scalar(sa.select(Park).where(Park.name == name))
    if park is None:
        county_id = db.session.scalar(sa.select(County.id).where(County.name == county))
        park = Park(name=name, county_id=county_id, **extra)
        db.session.add(park)
        db.session.flush()
    return park


def make_enterprise(name: str | None = None, *, county: str = "汇川区", cluster: str = "装备制造", **extra: Any):
    from crm.enterprises.domain import create_enterprise

    n = next(_seq)
    data = {"name": name or f"遵义测试制造有限公司{n}", "uscc": make_uscc(n), "county": county, "cluster": cluster,
            "supply_category": "关键零部件", "above_scale": True, "main_products": "测试产品"}
    data.update(extra)
    enterprise = create_enterprise(None, data)
    db.session.flush()
    return enterprise


def assign(enterprise, commissioner, specialty: str = "tech"):
    from datetime import date

    from crm.service.models import Assignment

    row = Assignment(enterprise_id=enterprise.id, commissioner_id=commissioner.id, specialty=specialty,
                     started_on=date(2026, 1, 1))
    db.session.add(row)
    db.session.flush()
    return row


def login(client: FlaskClient, user, password: str = TEST_PASSWORD):
    response = client.post("/login", data={"username": user.username, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def csrf_token_from(html: str) -> str:
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html) or re.search(
        r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


def api_token(user) -> dict[str, str]:
    from crm.auth.domain import issue_token

    token, _ = issue_token(user)
    db.session.flush()
    return {"Authorization": f"Bearer {token}"}


def in_both_orders(one: Any, other: Any) -> Iterator[Any]:
    """``one``, ``other``, ``one``, ``other``, then ``other``, ``one``, ``other``, ``one``, with nothing kept
    before each round (crm/core/cache.py): two viewers of a kept page, each drawn then served kept, whoever came
    first; what one was kept for must never be served to the other."""
    from crm.core import cache

    for order in ((one, other), (other, one)):
        cache.clear()
        yield from (*order, *order)


# --- a database of a module's own, committed for real (the cached figures, crm/core/cache.py) ----------------------

@pytest.fixture(scope="module")
def own_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One migrated database for the module (each test builds its own records and compares relative to them)."""
    with own_database(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1]) as application:
        yield application


@pytest.fixture
def committed(own_app: Flask) -> Iterator[Flask]:
    """The module's app, its context open, with nothing kept before or after the test."""
    from crm.core import cache

    cache.clear()
    with own_app.app_context():
        try:
            yield own_app
        finally:
            db.session.rollback()
            cache.clear()
