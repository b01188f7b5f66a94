"""``lock_for_update``: a change's row lock that does not block rows merely referencing the record."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from crm.auth.models import ApiToken, User
from crm.core.time import utcnow
from crm.core.transactions import lock_for_update
from crm.extensions import db
from tests.conftest import BACKEND, login, make_enterprise, make_user, own_database


def test_the_lock_is_for_no_key_update(count_queries):
    user = make_user("admin")
    with count_queries() as queries:
        assert lock_for_update(User, user.id).id == user.id
    locked = [s for s in queries.statements if "FROM users" in s]
    if BACKEND == "postgres":
        assert locked and locked[-1].rstrip().endswith("FOR NO KEY UPDATE"), locked
    else:  # SQLite has no row locks: the transaction's write lock does it
        assert locked and "FOR" not in locked[-1], locked


def test_two_changes_each_referencing_the_others_locked_row_do_not_deadlock(tmp_path_factory):
    """T1 locks user P and then inserts a row referencing X; T2 locks X and references P. Under ``FOR UPDATE`` the
    inserts' key-share locks wait on each other (PostgreSQL: DeadlockDetected); under ``FOR NO KEY UPDATE`` both
    commit. On SQLite the transactions take turns (database write lock), and both commit too."""
    with own_database(tmp_path_factory, "nokey", reference_data=False) as application:
        with application.app_context():
            p, x = make_user("admin").id, make_user("admin").id
            db.session.commit()
        locked = threading.Barrier(2, timeout=10)
        errors: list[BaseException] = []

        def change(mine: int, other: int) -> None:
            with application.app_context():
                try:
                    if BACKEND == "sqlite":  # one writer at a time: start with the write lock held
                        db.session.execute(sa.text("SELECT 1"))
                    assert lock_for_update(User, mine) is not None
                    if BACKEND == "postgres":
                        locked.wait()  # both hold their row lock before either references the other's row
                    db.session.add(ApiToken(user_id=other, token_hash=f"{mine}-{other}".ljust(64, "0"),
                                            expires_at=utcnow() + timedelta(days=1)))
                    db.session.commit()
                except BaseException as err:  # noqa: BLE001 — reported below
                    errors.append(err)
                    db.session.rollback()
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=change, args=pair) for pair in ((p, x), (x, p))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors, errors
        with application.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 2
            db.session.remove()
            db.engine.dispose()


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


# --- round trips: the pool's check without a ping, the session's read before the transaction -------------------

POSTGRES = BACKEND == "postgres"


def _ping_is_the_dialects_own(engine: sa.Engine) -> bool:
    """Whether the pool pings with the dialect's own ``do_ping`` (SQLite; PostgreSQL with ``DATABASE_PING_QUIET``)."""
    return getattr(engine.dialect.do_ping, "__func__", None) is type(engine.dialect).do_ping  # a bound method


def _sent(trace: str) -> list[tuple[str, str]]:
    """The messages a libpq trace shows the client sent: (type, text), e.g. ("Query", '"BEGIN"'), ("Bind", …)."""
    sent = []
    for line in trace.splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and parts[0] == "F":
            sent.append((parts[2], parts[3].strip() if len(parts) > 3 else ""))
    return sent


@contextlib.contextmanager
def _traced(app, path: Path) -> Iterator[None]:
    """Trace, into ``path``, what the app's pooled PostgreSQL connections send from their next check-out on
    (a check-out's own ping comes before the pool's ``checkout`` event: the check-out after that is traced whole)."""
    handle = open(path, "w")  # noqa: SIM115 (closed below, after untrace)
    traced = []

    def checkout(dbapi_connection, _record, _proxy):
        if dbapi_connection not in traced:
            dbapi_connection.pgconn.trace(handle.fileno())
            dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            traced.append(dbapi_connection)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "checkout", checkout)
    try:
        yield
    finally:
        sa.event.remove(engine, "checkout", checkout)
        for connection in traced:
            if not connection.closed:
                connection.pgconn.untrace()
        handle.close()


def test_a_kept_page_sends_the_session_statement_and_nothing_else(tmp_path_factory, tmp_path):
    """PostgreSQL: a second view of the list, its rows and drawing kept, costs one round trip — the statement that
    finds the session (crm.auth.domain) — with no ``BEGIN`` before it, no ``COMMIT`` after it and no ping of the
    pooled connection (crm.core.transactions: ``before_the_transaction``, ``_ping_only_when_unsure``). SQLite keeps
    its own transactions and the pool's own ping."""
    with own_database(tmp_path_factory, "roundtrips") as application:
        with application.app_context():
            make_enterprise("往返测试有限公司")
            admin = make_user("admin")
            db.session.commit()
            db.session.refresh(admin)
            db.session.expunge(admin)  # its username read by login() below
            assert _ping_is_the_dialects_own(db.engine) is not POSTGRES  # PostgreSQL: only when unsure
            db.session.remove()
        client = application.test_client()
        login(client, admin)
        for _ in range(2):  # the welcome, then the list drawn and kept
            assert client.get("/enterprises/").status_code == 200
        if not POSTGRES:
            return
        trace = tmp_path / "libpq.trace"
        with _traced(application, trace):
            for _ in range(2):  # the first check-out starts the trace; the second is traced from its ping on
                response = client.get("/enterprises/")
                assert response.status_code == 200 and "往返测试有限公司" in response.get_data(as_text=True)
        sent = _sent(trace.read_text())
        second = sent[len(sent) // 2:]
        assert [kind for kind, _text in second] == ["Bind", "Describe", "Execute", "Sync"], second
        assert all(kind != "Query" for kind, _text in sent), sent  # no BEGIN, COMMIT or SELECT 1 in either
        assert len([kind for kind, _text in sent if kind == "Bind"]) == 2


def test_a_quiet_connection_is_told_from_one_the_server_ended(tmp_path_factory):
    """What lets the pool skip its ping (PostgreSQL). SQLite has no server to end a connection: the pool keeps its own
    ping there, and a connection closed under it is replaced (tests/ops/test_outage.py)."""
    from crm.core.transactions import connection_quiet
    from tests.conftest import _pg_admin_engine

    with own_database(tmp_path_factory, "quiet", reference_data=False) as application, application.app_context():
        if not POSTGRES:
            assert _ping_is_the_dialects_own(db.engine)
            return
        raw = psycopg.connect(application.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg", "postgresql"))
        try:
            assert connection_quiet(raw)
            raw.execute("SELECT 1")
            assert not connection_quiet(raw)  # in a transaction: not what rests in a pool
            raw.rollback()
            assert connection_quiet(raw)
            admin = _pg_admin_engine()
            try:
                with admin.connect() as conn:
                    assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": raw.info.backend_pid}
                                        ).scalar()
            finally:
                admin.dispose()
            deadline = time.monotonic() + 10
            while connection_quiet(raw):  # the server's goodbye arrives as soon as its process ends
                assert time.monotonic() < deadline, "the ended connection still looks quiet"
                time.sleep(0.01)
        finally:
            raw.close()
        assert not connection_quiet(raw)  # closed


def test_statements_before_the_transaction_leave_none_open(tmp_path_factory):
    """PostgreSQL: a read inside ``before_the_transaction`` is a statement of its own; the session's transaction
    begins with the next statement, and inside a transaction already begun nothing changes. SQLite: the same
    results, in the session's one transaction."""
    from crm.core.transactions import before_the_transaction

    with own_database(tmp_path_factory, "before", reference_data=False) as application, application.app_context():
        raw = db.session.connection().connection.driver_connection
        with before_the_transaction():
            assert db.session.execute(sa.text("SELECT 41 + 1")).scalar() == 42
            if POSTGRES:
                assert raw.autocommit and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if POSTGRES:
            assert not raw.autocommit and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert db.session.execute(sa.text("SELECT 2")).scalar() == 2
        if POSTGRES:
            assert raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        with before_the_transaction():  # begun: stays in it
            assert db.session.execute(sa.text("SELECT 3")).scalar() == 3
        if POSTGRES:
            assert not raw.autocommit and raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        db.session.rollback()
        # an error inside still gives the connection back as it was
        with pytest.raises(sa.exc.DBAPIError), before_the_transaction():
            db.session.execute(sa.text("SELECT * FROM no_such_table"))
        db.session.rollback()
        raw = db.session.connection().connection.driver_connection
        assert getattr(raw, "autocommit", False) is False  # psycopg's; sqlite3 has none before Python 3.12


def test_every_check_out_is_pinged_when_asked(tmp_path_factory):
    """``CRM_DATABASE_PING_QUIET=1`` (``DATABASE_PING_QUIET``): the dialect's own ping on every check-out, as on
    SQLite always."""
    from config import _on

    assert [_on(value) for value in (None, "", "0", "off", "1", " Yes ", "TRUE", "on")] == [
        False, False, False, False, True, True, True, True]
    with own_database(tmp_path_factory, "pingquiet", reference_data=False, DATABASE_PING_QUIET=True) as application, \
            application.app_context():
        assert _ping_is_the_dialects_own(db.engine)
        with db.engine.connect() as conn:  # and the pool still checks out and pings a connection
            assert conn.execute(sa.text("SELECT 5")).scalar() == 5
