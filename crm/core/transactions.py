"""How a transaction starts and how a record is locked for a change: one mechanism per database, here only.

SQLite: every transaction begins ``BEGIN IMMEDIATE`` (set up by :func:`init_app` from the app factory), so it
holds the database's write lock from its first statement. Two requests that read and then write queue up (for
the busy timeout) instead of one failing with "database is locked" when it tries to upgrade its read lock, and
the second one reads what the first committed. SQLite is the embedded, single-site database: serialising its
transactions is the honest trade. Nothing else works around it (no no-op ``UPDATE``, no commit "to end the read
transaction" before a write).

PostgreSQL: transactions run concurrently; a change that reads a row, checks it (its ``version``, its status) and
writes it loads the row with :func:`lock_for_update` (``SELECT … FOR UPDATE``, read fresh), so a second writer
waits for the first one's commit and then sees its result.
"""

from __future__ import annotations

import select
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
import sqlalchemy as sa
from flask import Flask

from crm.extensions import db

T = TypeVar("T")


def init_app(app: Flask) -> None:
    """Let SQLite's transactions be real and take the write lock at their start (see the module docstring).

    pysqlite defers BEGIN until the first write, which also breaks SAVEPOINT nesting (a "nested" commit would
    commit for real): SQLAlchemy's documented recipe is to turn that off and emit BEGIN ourselves.
    """
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql" and not app.config.get("DATABASE_JIT", False):
        _no_jit(engine)
    if engine.dialect.name == "postgresql" and app.config.get("DATABASE_PREPARE", True):
        _keep_plans(engine)
    if engine.dialect.name == "postgresql" and not app.config.get("DATABASE_PING_QUIET", False):
        _ping_only_when_unsure(engine)
    if engine.dialect.name != "sqlite":
        return

    @sa.event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        dbapi_conn.execute("PRAGMA foreign_keys=ON")
        dbapi_conn.execute("PRAGMA busy_timeout=30000")

    @sa.event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _no_jit(engine: sa.Engine) -> None:
    """PostgreSQL's JIT off for the app's connections (``DATABASE_JIT`` true keeps the server's setting).

    JIT compiles a query whose estimated cost passes ``jit_above_cost`` (100,000): at 100,000 enterprises the
    dashboards' aggregates pass it, and compiling took 1.1 s of a 1.6 s statement (measured, issue 11) to save
    milliseconds. Requests that must answer in 100 ms never win from it; the same can be set server-side
    (``ALTER DATABASE crm SET jit = off``)."""

    @sa.event.listens_for(engine, "connect")
    def _jit_off(dbapi_conn, _record):
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_conn.commit()  # SET is transactional: keep it for the session


# --- statements PostgreSQL plans once per connection ------------------------------------------------------------

PREPARED = "crm_prepared"
_WROTE = "crm_wrote"


def prepared(stmt: T) -> T:
    """Mark ``stmt`` to be prepared on the connection (PostgreSQL): planned at its first executions there, then run
    from its kept plan (a *generic* plan, for any values of its parameters, once PostgreSQL finds it no worse than
    planning anew: ``plan_cache_mode`` auto).

    Planning is most of what a small statement costs the database: the session's user was 0.5 ms planned and
    0.07 ms run, a list's page 4.4 ms planned and 4.5 ms run (issue 11, seventh pass). Only for a statement whose
    generic plan was checked to be as good as its custom ones for every value a user can send (EXPLAIN of
    ``EXECUTE`` under ``plan_cache_mode = force_generic_plan``, noted next to each use): a name search, whose best
    plan depends on the fragment, must never be marked. Nothing is prepared on SQLite or with ``DATABASE_PREPARE``
    false (a pooler in transaction mode older than PgBouncer 1.21 cannot keep prepared statements)."""
    return stmt.execution_options(**{PREPARED: True})  # type: ignore[attr-defined]


def _keep_plans(engine: sa.Engine) -> None:
    """Prepare the statements marked by :func:`prepared`, none other, and keep them across transactions.

    psycopg prepares a statement by itself after 5 runs (``prepare_threshold``): that choice is ours here, never
    automatic. And psycopg forgets every prepared statement (``DEALLOCATE ALL``) when a transaction ends with
    ``ROLLBACK`` — as every request that only read ends (the session closes, nothing to commit) — so a transaction
    that sent nothing but ``SELECT`` statements ends with ``COMMIT`` instead: for a transaction that wrote nothing
    the two are the same (its locks are released either way). Any other statement (an insert, update, delete, a
    savepoint, a ``WITH``) makes its end a real ``ROLLBACK``, as does an aborted transaction."""

    @sa.event.listens_for(engine, "connect")
    def _never_by_count(dbapi_conn, _record):
        dbapi_conn.prepare_threshold = sys.maxsize  # counted runs never prepare: only ``prepare=True`` does

    @sa.event.listens_for(engine, "do_execute")
    def _execute(cursor, statement, parameters, context):
        if context.execution_options.get(PREPARED):
            cursor.execute(statement, parameters, prepare=True)
            return True
        return None

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _note_write(conn, _cursor, statement, *_args):
        if statement.lstrip()[:6].upper() != "SELECT":
            conn.info[_WROTE] = True

    @sa.event.listens_for(engine, "commit")
    def _committed(conn):
        conn.info.pop(_WROTE, None)

    dialect = engine.dialect
    rollback = dialect.do_rollback

    def do_rollback(dbapi_connection: Any) -> None:
        try:  # the pool's dict for this connection; none on the dialect's first connection
            info = dbapi_connection.info if isinstance(dbapi_connection, sa.pool.PoolProxiedConnection) else None
        except NotImplementedError:
            info = None
        raw = getattr(dbapi_connection, "driver_connection", dbapi_connection)
        wrote = not isinstance(info, dict) or info.pop(_WROTE, False)
        if not wrote and raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
            raw.commit()  # read only: the same as a rollback, and the prepared statements stay
        else:
            rollback(dbapi_connection)

    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


# --- a read before the request's transaction --------------------------------------------------------------------

@contextmanager
def before_the_transaction() -> Iterator[None]:
    """Run the statements inside as statements of their own (PostgreSQL ``autocommit``) when the session's
    connection has no transaction open yet; the request's transaction then begins at its next statement, if any.

    For the one read every request makes first — the session or API token with its user — so that a page served
    from kept figures (crm/core/cache.py) sends that statement and nothing else: no ``BEGIN`` before it, no
    ``COMMIT`` after it, two round trips of the three left once the pool stopped pinging a quiet connection
    (issue 11, tenth pass). Nothing is lost: under ``READ COMMITTED`` every statement reads its own snapshot
    anyway, and the statements inside must only read (a write in them would commit at once). SQLAlchemy's own
    pre-ping switches psycopg's ``autocommit`` the same way. Inside a transaction already begun (a test's, or a
    request that wrote first) and on SQLite (whose transactions begin ``BEGIN IMMEDIATE``, above), nothing
    changes."""
    connection = db.session.connection()
    raw = connection.connection.driver_connection
    if (connection.dialect.name != "postgresql" or raw.autocommit
            or raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE):
        yield
        return
    raw.autocommit = True
    try:
        yield
    finally:
        if not raw.closed:
            raw.autocommit = False


# --- a pooled connection, checked without a round trip -------------------------------------------------------

def _ping_only_when_unsure(engine: sa.Engine) -> None:
    """``pool_pre_ping`` without its round trip when the connection shows nothing wrong (PostgreSQL).

    The pool pings every connection it hands out (psycopg's ping is an empty query) so that one the server ended
    since — a restart, an administrator's ``pg_terminate_backend``, an idle timeout — is replaced rather than
    failing the request (tests/ops/test_outage.py). A server that ends a connection says so on it: it sends the
    error (``FATAL 57P01``) and closes the socket, so the socket of a connection resting in the pool becomes
    readable. Only then, or when psycopg already knows it broken or not idle, is the real ping sent; a quiet, idle
    socket is used as it is. The ping was one of the four round trips of a page served from kept figures (with
    ``BEGIN``, the session's statement and ``COMMIT``): ≈ 0.2–0.4 ms of a 4 ms page (issue 11, tenth pass).

    What this cannot see, the ping could not have helped much either: a network that drops the link without a
    word (no FIN) makes the ping itself wait for TCP's timeout. ``CRM_DATABASE_PING_QUIET=1`` (``DATABASE_PING_QUIET``)
    pings every connection handed out, quiet or not."""
    dialect = engine.dialect
    ping = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        return True if connection_quiet(dbapi_connection) else ping(dbapi_connection)

    dialect.do_ping = do_ping  # type: ignore[method-assign]


def connection_quiet(connection: Any) -> bool:
    """Whether a psycopg connection is open, idle (no transaction) and has nothing waiting on its socket — what a
    live connection at rest looks like; anything else (the server's goodbye, a broken or busy connection) is not."""
    raw = getattr(connection, "driver_connection", connection)
    if raw.closed or raw.broken or raw.pgconn.status != psycopg.pq.ConnStatus.OK:
        return False
    if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return False
    poll = select.poll()
    poll.register(raw.pgconn.socket, select.POLLIN | select.POLLPRI)
    return not poll.poll(0)  # POLLHUP and POLLERR are reported whatever was asked


def lock_for_update(model: type[T], record_id: int, *, id_column: Any = None) -> T | None:
    """Load ``model`` ``record_id`` for a change: ``SELECT … FOR NO KEY UPDATE`` (PostgreSQL; SQLite already holds
    the write lock) and read fresh (``populate_existing``), so a version check after it sees the committed version.
    ``None`` when there is no such record.

    ``NO KEY``: two changes of the record still queue on each other, but inserting a row that merely references it
    (a notification to a locked commissioner, an assignment) is not blocked — two transactions each locking one
    user and notifying the other would otherwise deadlock."""
    column = id_column if id_column is not None else model.id  # type: ignore[attr-defined]
    return db.session.scalar(
        sa.select(model).where(column == record_id).with_for_update(key_share=True)
        .execution_options(populate_existing=True))
