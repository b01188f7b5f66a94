"""``crm.core.transactions.prepared``: marked statements keep their plan on the connection across transactions; a
transaction that only read ends with COMMIT (psycopg forgets its prepared statements at a ROLLBACK), one that wrote
with a real ROLLBACK."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.transactions import prepared
from crm.extensions import db
from tests.conftest import BACKEND, TEST_PASSWORD, make_user, own_database

POSTGRES = BACKEND == "postgres"
MARK = "/* crm prepared test */"
KEPT = sa.text("SELECT name, statement, generic_plans + custom_plans AS runs FROM pg_prepared_statements")


def _kept(conn: sa.Connection) -> list[tuple[str, str, int]]:
    """The connection's prepared statements (PostgreSQL; SQLite has none to show)."""
    return [tuple(row) for row in conn.execute(KEPT)] if POSTGRES else []  # type: ignore[misc]


def _rollback_is_the_dialects_own(engine: sa.Engine) -> bool:
    return engine.dialect.do_rollback.__func__ is type(engine.dialect).do_rollback  # type: ignore[attr-defined]


def _ours(conn: sa.Connection, marker: str = MARK) -> list[tuple[str, str, int]]:
    return [row for row in _kept(conn) if marker in row[1]]


@pytest.fixture
def engine(tmp_path_factory):
    with own_database(tmp_path_factory, "prepared", reference_data=False) as application, \
            application.app_context():
        yield db.engine


def test_a_marked_statement_is_prepared_and_outlives_a_read_only_rollback(engine):
    stmt = prepared(sa.select(sa.literal_column("1").label("one"), sa.bindparam("x", 5))
                    .prefix_with(MARK))
    with engine.connect() as conn:
        assert conn.execute(stmt).all() == [(1, 5)]
        conn.rollback()  # what every request that only read does at its end
        assert len(_ours(conn)) == (1 if POSTGRES else 0)
        for value in range(6):
            assert conn.execute(stmt, {"x": value}).all() == [(1, value)]
            conn.rollback()
        if POSTGRES:
            [(_name, _text, runs)] = _ours(conn)
            assert runs == 7  # one statement, planned or run from its plan seven times: never prepared again
        else:  # SQLite: nothing to keep, its rollback untouched
            assert _rollback_is_the_dialects_own(engine)


def test_an_unmarked_statement_is_never_prepared_however_often_it_runs(engine):
    stmt = sa.select(sa.literal_column("2").label("two"), sa.bindparam("x", 1)).prefix_with(MARK)
    with engine.connect() as conn:
        for value in range(12):  # psycopg's own rule would prepare it at the 5th run
            assert conn.execute(stmt, {"x": value}).all() == [(2, value)]
        assert _ours(conn) == []
        assert len(_kept(conn)) == 0


WRITES = ["INSERT INTO counties (name, full_name, sort_order) VALUES ('测试县', '', 99)",
          "  insert into counties (name, full_name, sort_order) values ('测试县', '', 99)"]
if POSTGRES:  # a write that reads like a query (SQLite has no writing WITH)
    WRITES.append("WITH made AS (INSERT INTO counties (name, full_name, sort_order) VALUES ('测试县', '', 99) "
                  "RETURNING id) SELECT id FROM made")


@pytest.mark.parametrize("write", WRITES)
def test_a_transaction_that_wrote_is_rolled_back_for_real(engine, write):
    stmt = prepared(sa.select(sa.literal_column("3")).prefix_with(MARK))
    with engine.connect() as conn:
        conn.execute(stmt)
        conn.execute(sa.text(write))
        conn.rollback()
        assert conn.execute(sa.text("SELECT count(*) FROM counties WHERE name = '测试县'")).scalar() == 0
        conn.rollback()


def test_an_orm_write_left_uncommitted_is_rolled_back(engine):
    session = db.session
    session.execute(prepared(sa.select(sa.literal_column("4")).prefix_with(MARK)))
    session.add(User(username="never-saved", display_name="未保存", role=Role.ADMIN, password_hash="x"))
    session.flush()
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(User).where(User.username == "never-saved")) == 0
    session.rollback()


def test_an_aborted_transaction_rolls_back_and_the_connection_goes_on(engine):
    with engine.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.text("SELECT * FROM no_such_table"))
        conn.rollback()
        assert conn.execute(sa.text("SELECT 5")).scalar() == 5
        conn.rollback()


def test_the_signed_in_users_statement_is_planned_once_per_connection_across_requests(tmp_path_factory):
    """Pages one after another use one pooled connection: the session's user is loaded by one prepared
    statement, reused by every request."""
    with own_database(tmp_path_factory, "prepared_pages") as application:
        with application.app_context():
            username = make_user("admin").username
            db.session.commit()
            db.session.remove()
        client = application.test_client()
        response = client.post("/login", data={"username": username, "password": TEST_PASSWORD})
        assert response.status_code == 302
        for _ in range(6):
            assert client.get("/notifications/").status_code == 200
        with application.app_context(), db.engine.connect() as conn:
            if POSTGRES:
                loads = [row for row in _kept(conn) if "FROM user_sessions" in row[1]]
                assert len(loads) == 1, loads
                assert loads[0][2] >= 6
            else:
                assert _rollback_is_the_dialects_own(db.engine)


def test_nothing_is_prepared_when_switched_off(tmp_path_factory):
    with own_database(tmp_path_factory, "prepared_off", reference_data=False, DATABASE_PREPARE=False) as application, \
            application.app_context(), db.engine.connect() as conn:
        assert conn.execute(prepared(sa.select(sa.literal_column("6")).prefix_with(MARK))).all() == [(6,)]
        conn.rollback()
        assert _ours(conn) == []
        assert _rollback_is_the_dialects_own(db.engine)


@pytest.mark.parametrize(("value", "off"), [(None, False), ("1", False), ("yes", False), ("0", True), ("false", True),
                                            (" Off ", True), ("NO", True)])
def test_the_environment_switch(value, off):
    from config import _off

    assert _off(value) is off
