"""Figures cached per process, exactly as long as the records behind them are unchanged (issue 11: "caching only
where the data allows"). A core mechanism: it knows kinds of record by name only, never a capability.

Each cached figure names the kinds of record it is computed from (:class:`DataVersion`, one counter per kind) and
is stored under its arguments *and* the current versions of those kinds, read in one statement before the figure
is computed. Any committed write to those records — by anyone, through any path (database triggers created by the
migrations that declare each kind) — moves the version, so the next request computes afresh; a transaction that
has written such records itself (not yet committed) reads everything uncached: nothing a user changed is ever shown
stale, and between changes the aggregates over 100,000 enterprises are not recomputed on every view. Reading the
version first means a figure computed while a change commits is stored under the older version (and replaced at
the next view), never the reverse.

The kinds and the writes that move them (each kind's triggers; grep migrations/versions for
``dashboard_data_versions``):

- ``interactions`` (9d1c6a2e5b37): ``interactions``;
- ``requests`` (9d1c6a2e5b37): ``service_requests``, ``policy_deliveries``, an enterprise's county change or
  deletion;
- ``assignments`` (9d1c6a2e5b37): ``assignments``, ``roster_entries``, ``roster_editions`` (every edition, drafts
  too), an enterprise's county change or deletion;
- ``targets`` (e5b8d2f4a9c1): what the targets dashboard counts (crm/dashboard/targets.py);
- ``reference`` (a7c3e9d2f418, b4e1d7a9c3f2, c3f8a2d6e9b1): where an enterprise is placed and the names a filter,
  chooser or service page shows — ``enterprises`` (insert, delete, a change of county, cluster, name, pinyin, USCC
  or demo flag), ``counties``, ``clusters``,
  ``departments``, ``users`` (insert, delete, a change of username, name, role, county, department or active;
  not the sign-in bookkeeping), ``user_specialties``;
- ``meetings`` (b4e1d7a9c3f2, e8b3f1c6a2d4): ``meetings``, ``meeting_enterprises``, ``meeting_partners``,
  ``meeting_officials``;
- ``enterprises`` (e8b3f1c6a2d4): every write to ``enterprises`` (an edit of the record, whatever column),
  ``enterprise_contacts``, ``enterprise_figures``, ``enterprise_partners``, ``parks``, ``supply_categories``,
  ``partners``: the enterprise list's pages.

A figure names every kind whose records its statement reads; a kind with no counter (an older database) caches
nothing. :func:`cached_rows` keys a statement's rows by the statement itself and its bound values
(:func:`statement_key`), so whatever the result depends on (the user's scope, the filters, today) is in the key by
construction. :func:`cached_markup` keeps a part of a page drawn from such rows, under the same versions and a key
the caller completes with what the drawing reads besides the rows.

The versions are read once per transaction, mostly with no statement of their own: every request's first
statement, the one that finds its session or API token, carries them (:func:`versions_column`, registered by the
app factory as a session figure, and :func:`note_versions`). That statement runs just before the request's
transaction begins (``crm.core.transactions.before_the_transaction``): the versions are still read before anything
the view computes, which is what the rule above needs.

PostgreSQL only (the versions come from a sequence, never reused, even after a rolled-back transaction); on SQLite
every figure is computed directly (the demo's size) and no statement is spent on versions. A backup restored into
a running system (``pg_restore --clean`` recreates the tables) brings counters that may repeat values already
cached: each reading of the versions also reads the counters' table's ``tableoid``, and a new table (or another
database) empties the cache (:func:`same_database`).

The tables keep the ``dashboard_`` prefix they were created with (the service dashboard was the first user):
renaming them would need a migration and gain nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.transactions import prepared
from crm.extensions import db


class DataVersion(db.Model):
    """A counter per kind of record cached figures are computed from (the module's list). On PostgreSQL every
    write to a kind's tables notes its kind in :class:`PendingChange`, and the writing transaction's commit sets
    the counter to the next value of ``dashboard_version_seq`` (triggers of migration 9d1c6a2e5b37): a sequence
    never gives a number twice, even across rolled-back transactions, so a figure cached under a version is exactly
    the data of that version. SQLite caches nothing and does not keep it (the rows exist, nothing moves them)."""

    __tablename__ = "dashboard_data_versions"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger)


class PendingChange(db.Model):
    """A kind of record (``DataVersion.name``) written by the current, uncommitted transaction: inserted by a
    statement trigger, turned into a new version and deleted by a deferred trigger at commit (PostgreSQL; the table
    is always empty to others). A transaction that sees one of its own reads uncached."""

    __tablename__ = "dashboard_pending_changes"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))


T = TypeVar("T")
# Keys per process (a figure × a period × a selection). One entry per key: a figure computed at newer versions
# replaces the one kept for older ones (which no request reads again once the counters moved), so memory is
# bounded by the selections people look at, not by how often the data changes. 1,024: a commissioner's own view
# holds four small keys, so 500 of them cannot push out the city's and the counties' (≈ 1 MB each at 500
# commissioners); a count is a few numbers.
SIZE = 1024



class Bounded:
    """A per-process map of at most ``size`` entries, the least recently used dropped first, safe across a worker's
    threads: the store of the figures, the one of the built statements, and any other per-process memo of a value
    that follows from its key alone (``remember``; the list's filters, crm.enterprises.forms.read_filters)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        """The value kept for ``key`` (now the most recently used), or ``None``."""
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: Hashable, value: Any, *, replace: Callable[[Any], bool] | None = None) -> None:
        """Keep ``value`` for ``key`` — unless ``replace(kept)``, asked with what is kept now (``None``: nothing)
        under the lock, says no — dropping the least recently used beyond ``size``."""
        with self._lock:
            if replace is None or replace(self._entries.get(key)):
                self._entries[key] = value
                self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def remember(self, key: Hashable, compute: Callable[[], T]) -> T:
        """What ``compute()`` gave for ``key`` before, or its value now, kept: for values of their key alone."""
        found = self.get(key)
        if found is None:
            found = compute()
            self.put(key, found)
        return found

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[Hashable]:
        with self._lock:
            return iter(list(self._entries))


_entries = Bounded(SIZE)  # key → (versions, value)
_lock = threading.Lock()  # the counters' table the entries were computed under (same_database)

# The statements :func:`built_for` keeps, apart from the figures (one per viewer and statement, 7 for 一企一档, would
# otherwise push the figures out of theirs): the most recent, ≈ 16 KB each with their cache keys (tracemalloc, the
# bench database), so at most ≈ 32 MB a worker — a few hundred viewers' pages.
BUILT_SIZE = 2048
_built = Bounded(BUILT_SIZE)


def enabled() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


_table: tuple[str, int] | None = None  # the database and tableoid of the counters the entries were computed under

# Read beside the versions: the counters' table itself (a restore or a test's own database is another table).
TABLE_OID = sa.literal_column(f"{DataVersion.__tablename__}.tableoid", sa.BigInteger)


def same_database(table_oid: int) -> None:
    """Forget every entry when the counters' table is not the one they were computed under: a restored backup
    (its counters may repeat values already cached) or another database read by the same process (two databases
    made alike can give their tables the same oid, so the database's address counts too)."""
    global _table
    where = (db.session.get_bind().engine.url.render_as_string(), table_oid)
    with _lock:
        if _table != where:
            _entries.clear()
            _built.clear()
            _table = where


# Every kind's version, a change this transaction wrote (its id, or null) and the counters' table, as one value (a
# JSON array; no parameters): read on its own by :func:`versions` (prepared: one plan; on the session's connection,
# not through the ORM session: ≈ 0.1 ms less a page, issue 11, ninth pass), or carried by the statement every
# request runs first (:func:`versions_column`).
_VERSIONS_VALUE = sa.literal_column(
    f"(SELECT json_build_array(json_object_agg(v.name, v.version), "
    f"(SELECT p.id FROM {PendingChange.__tablename__} p LIMIT 1), max(v.tableoid::bigint)) "
    f"FROM {DataVersion.__tablename__} v)")
_VERSIONS = prepared(sa.select(_VERSIONS_VALUE))

# The versions read by the current transaction, kept on its connection until it writes anything or ends
# (:func:`versions`): a page that keeps several figures (a count and a chooser, the lists' names) reads them once.
_READ = "crm_cache_versions"


def versions() -> dict[str, int] | None:
    """The current version of every kind (one statement), or ``None`` where nothing is cached: SQLite (no
    statement), or this transaction wrote versioned records itself (it must read its own changes).

    Read once per transaction while it only reads: the answer is kept on the connection and forgotten at the
    transaction's first statement that is not a ``SELECT`` (an insert, update, delete — whatever it writes — or a
    savepoint) and at its commit or rollback (:func:`_forget_versions`). Figures computed later in the same
    transaction are stored under these versions even if a change committed meanwhile: older, so the next view
    computes them afresh (the module's rule), never the reverse."""
    if not enabled():
        return None
    session = db.session()
    if session.autoflush:  # as the session's own statements do: a change still pending is this transaction's write
        session.flush()  # (nothing when nothing is pending; a flush's statements forget the versions read)
    connection = session.connection()
    kept = connection.info.get(_READ)
    if kept is not None:
        return None if kept[0] is None else dict(kept[0])
    return _keep(connection, connection.execute(_VERSIONS).scalar_one())


def _keep(connection: sa.engine.Connection, value: Any) -> dict[str, int] | None:
    """Keep ``value`` (:data:`_VERSIONS_VALUE`'s) as the transaction's versions, and answer as :func:`versions`."""
    by_name, pending, table_oid = value
    if pending is not None:  # this transaction wrote versioned records: read them, uncached
        connection.info[_READ] = (None,)
        return None
    if table_oid is not None:
        same_database(int(table_oid))
    read = {name: int(version) for name, version in (by_name or {}).items()}
    connection.info[_READ] = (read,)
    return dict(read)


VERSIONS_FIGURE = "data_versions"


def versions_column(_user_id: Any, dialect: str) -> Any:
    """The versions as a column of the statement that finds the session or token every request runs first
    (``crm.auth.domain.session_figure``, registered by the app factory), so that :func:`versions` is answered
    without a statement of its own (≈ 0.3 ms of every page or API call that keeps anything, issue 11, ninth pass).
    ``None`` (nothing) where nothing is cached."""
    return _VERSIONS_VALUE if dialect == "postgresql" else None


def note_versions(value: Any) -> None:
    """Keep ``value`` (:func:`versions_column`'s, read by this transaction) as the transaction's versions, as
    :func:`versions` would have read them; nothing if it read them already."""
    if value is None:
        return
    connection = db.session.connection()
    if _READ not in connection.info:
        _keep(connection, value)


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _forget_on_write(conn: sa.engine.Connection, _cursor: Any, statement: str, *_args: Any) -> None:
    """A statement that may write (anything but a ``SELECT``) makes the transaction read the versions again."""
    if _READ in conn.info and statement.lstrip()[:6].upper() != "SELECT":
        del conn.info[_READ]


@sa.event.listens_for(sa.engine.Engine, "commit")
@sa.event.listens_for(sa.engine.Engine, "rollback")
def _forget_versions(conn: sa.engine.Connection) -> None:
    conn.info.pop(_READ, None)


@sa.event.listens_for(sa.pool.Pool, "checkin")
def _forget_at_checkin(_dbapi_connection: Any, record: Any) -> None:
    """The pool's own rollback of a returned connection (no ``rollback`` event) ends its transaction too."""
    if record is not None:
        record.info.pop(_READ, None)


def cached(stamp: dict[str, int] | None, kinds: Iterable[str], key: tuple[Hashable, ...],
           compute: Callable[[], T], *, fresh: Callable[[T], bool] | None = None,
           _store: Bounded | None = None) -> T:
    """``compute()``, or the copy kept for ``key`` while the versions of ``kinds`` in ``stamp`` (from
    :func:`versions`, read before computing) are those it was computed at. ``stamp`` ``None``, or a kind without a
    counter in it: compute, keep nothing (no counter, nothing to know a change by). The value is shared by every
    later caller: it must never be changed (tuples, or lists and dicts only read).

    ``fresh(value)``: for a value that also changes with time alone (the calendar feed's 90 days), whether the
    kept one still holds; one that does not is computed again and replaced, at the same versions too."""
    if stamp is None:
        return compute()
    try:
        at = tuple(stamp[kind] for kind in kinds)
    except KeyError:
        return compute()
    store = _store or _entries
    kept = store.get(key)
    if kept is not None and kept[0] == at and (fresh is None or fresh(kept[1])):
        return kept[1]
    value = compute()

    def replace(kept: tuple[tuple[int, ...], Any] | None) -> bool:
        # a request that read older versions (it began before a commit) does not replace a newer figure
        return kept is None or len(kept[0]) != len(at) or (fresh is not None and not fresh(kept[1])) or not all(
            old >= new for new, old in zip(at, kept[0], strict=True))

    store.put(key, (at, value), replace=replace)
    return value


def statement_key(stmt: sa.Executable, params: dict[str, Any] | None = None) -> tuple[Hashable, ...]:
    """``stmt`` as the database receives it, so that two statements share a key only if they ask the database the
    same question: the statement's structure and every bound value (those written into it, in order, and
    ``params``, given at execution). Why the whole statement rather than hand-picked arguments: the user's scope (a
    county, a commissioner's id, a department), the filters and today are all in it, including any added later, so
    a figure can never be served to a user it was not computed for.

    The structure is SQLAlchemy's cache key (``_generate_cache_key``), the key of its own compiled-SQL cache: equal
    keys compile to the same SQL text (that is what SQLAlchemy executes on a cache hit), with the values taken in
    the key's bind-parameter order, so the key and the values determine the text and parameters sent. It costs
    ≈ 0.15 ms and the execution that follows reuses it, where compiling the text again cost 1–3 ms a view at
    provincial scale. A construct SQLAlchemy does not cache (no key) is keyed by its compiled text and values."""
    dialect = db.session.get_bind().dialect
    given = tuple(sorted((name, repr(value)) for name, value in (params or {}).items()))
    key = stmt._generate_cache_key()
    if key is None:
        compiled = stmt.compile(dialect=dialect)
        values = compiled.construct_params(params or {})
        return (dialect.name, str(compiled), tuple(sorted((name, repr(value)) for name, value in values.items())))
    return (dialect.name, key.key, tuple(repr(bind.effective_value) for bind in key.bindparams), given)


def cached_rows(name: str, kinds: Iterable[str], stmt: sa.Executable, params: dict[str, Any] | None = None
                ) -> tuple[tuple[Any, ...], ...]:
    """The rows of ``stmt`` (as tuples), kept per process under :func:`statement_key` while the versions of
    ``kinds`` — which must cover every table the statement reads — are unchanged; read directly on SQLite or in a
    transaction that wrote versioned records. ``name`` tells the callers' figures apart (and the entries when
    debugging). One statement more than the figure's own on PostgreSQL when it has to be computed (the versions),
    the same number when served."""
    return cached_built(name, kinds, stmt, lambda rows: rows, params)


Rows = tuple[tuple[Any, ...], ...]


def cached_built(name: str, kinds: Iterable[str], stmt: sa.Executable, build: Callable[[Rows], T],
                 params: dict[str, Any] | None = None) -> T:
    """``build(rows)`` of ``stmt``'s rows, kept like :func:`cached_rows` (the same key, the same versions). For
    what is drawn from the rows alone — a chooser's 500 ``<option>``s, escaped and joined once per change of the
    users rather than on every view. ``build`` must depend on nothing but the rows (and constants): ``name``
    tells two builds of one statement apart, and its value is shared like any cached one (never changed)."""
    kinds = tuple(kinds)

    def compute() -> T:
        return build(tuple(tuple(row) for row in db.session.execute(stmt, params or {})))

    stamp = versions()
    if stamp is None:
        return compute()
    return cached(stamp, kinds, (name, kinds, *statement_key(stmt, params)), compute)


def cached_markup(name: str, kinds: Iterable[str], key: tuple[Hashable, ...] | None, render: Callable[[], str]
                  ) -> Markup:
    """``render()`` — a part of a page drawn from figures kept under ``kinds`` — kept like them: the same versions,
    so it is drawn afresh exactly when they are read afresh. ``key`` must determine everything the part shows:
    the key of the statement its rows came from (:func:`statement_key`, which holds the user's scope, the filters,
    today and the page) and whatever else the drawing reads (what the viewer may do, the application's root URL).
    ``None``: draw, keep nothing (a part that cannot be keyed).

    Why: once the rows are kept, drawing them is most of a large page's time — the coverage matrix's 50 rows × 5
    cells were ≈ 14 of its 38 ms at provincial scale (benchmarks/README.md, "Eighth pass"), each time the same
    markup until an assignment, a list or a name changes. The part must contain nothing per request or per
    session (no CSRF token, no nonce, no "now"): those stay in the page around it."""
    kinds = tuple(kinds)
    stamp = None if key is None else versions()
    if stamp is None:
        return Markup(render())  # noqa: S704  (drawn by a template: escaped there)
    return cached(stamp, kinds, ("markup", name, kinds, *key), lambda: Markup(render()))  # noqa: S704


# What an access rule reads of its user — role, county, department, specialties, active — moves ``reference``
# (the module's list): a statement shaped by a viewer's scope holds while it is unchanged.
VIEWER_KINDS = ("reference",)


def built_for(viewer: Any, name: str, build: Callable[[], T], *key: Hashable) -> T:
    """``build()`` — a statement shaped by ``viewer`` (their access scope, :func:`crm.core.access.scope`) and by
    ``key``, whose other values are bind parameters given at execution (the record's id, the page) — built once per
    process for that viewer and key while the versions of :data:`VIEWER_KINDS` are unchanged; built every time
    where nothing is cached (SQLite, a transaction that wrote versioned records).

    Why: the sections of 一企一档 built about ten scoped statements on every view, each a tree of SQLAlchemy
    constructs with its cache key computed afresh: ≈ 2.5 ms of Python of a 16 ms view at provincial scale, the same
    statements each time for the same viewer (benchmarks/README.md, "Eleventh pass"). A built statement keeps its
    cache key (SQLAlchemy memoizes it), so its execution skips that too.

    Safe because the access rules read nothing but the user's own columns (their role, county, department,
    specialties, active flag: ``reference`` moves with each) and put everything that depends on other records
    (a commissioner's assignments, an edition's status) into the statement as SQL, evaluated when it runs. ``build``
    must read nothing else that changes: ``key`` holds the rest (today, a choice of the page)."""
    stamp = versions()
    return cached(stamp, VIEWER_KINDS, ("built", name, getattr(viewer, "id", None), *key), build,
                  _store=_built)


def clear() -> None:
    _entries.clear()
    _built.clear()
