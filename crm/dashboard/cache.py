"""Service-dashboard figures cached per process, exactly as long as the records behind them are unchanged
(issue 11: "caching only where the data allows").

Each cached figure names the kinds of record it is computed from (:class:`crm.dashboard.models.DataVersion`:
``interactions``, ``requests``, ``assignments``) and is stored under its arguments *and* their current versions,
read in one statement before the figure is computed. Any committed write to those records — by anyone, through
any path (database triggers, migration 9d1c6a2e5b37) — moves the version, so the next request computes afresh;
a transaction that has written such records itself (not yet committed) reads everything uncached: nothing a
user changed is ever shown stale, and between changes the 100,000-enterprise aggregates are not recomputed on
every view. Reading the version first means a figure computed while a change commits is stored under the older
version (and replaced at the next view), never the reverse.

PostgreSQL only (the versions come from a sequence, never reused, even after a rolled-back transaction); on SQLite
every figure is computed directly (the demo's size). After restoring a backup into a running system, restart the
app (the restored counters may be lower than ones already cached).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa

from crm.dashboard.models import DataVersion, PendingChange
from crm.extensions import db

T = TypeVar("T")
SIZE = 256  # entries per process (a period × a selection × a figure: a few KB each)

_entries: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()


def enabled() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


KINDS = ("interactions", "requests", "assignments")


def versions() -> dict[str, int] | None:
    """The current version of every kind (one statement), or ``None`` where nothing is cached."""
    if not enabled():
        return None
    pending = sa.select(PendingChange.id).limit(1).scalar_subquery()
    rows = db.session.execute(sa.select(DataVersion.name, DataVersion.version, pending)).all()
    if any(own is not None for _, _, own in rows):  # this transaction wrote records: read them, uncached
        return None
    found = {name: version for name, version, _ in rows}
    if any(kind not in found for kind in KINDS):  # no counter, nothing to know a change by: cache nothing
        return None
    return {kind: int(found[kind]) for kind in KINDS}


def cached(stamp: dict[str, int] | None, kinds: tuple[str, ...], key: tuple[Hashable, ...],
           compute: Callable[[], T]) -> T:
    """``compute()``, or the copy kept for ``key`` while the versions of ``kinds`` in ``stamp`` (from
    :func:`versions`, read before computing) are those it was computed at. ``stamp`` ``None``: compute, keep
    nothing. The value is shared by every later caller: it must never be changed (tuples, or lists and dicts
    only read)."""
    if stamp is None:
        return compute()
    full = (key, tuple(stamp[kind] for kind in kinds))
    with _lock:
        if full in _entries:
            _entries.move_to_end(full)
            return _entries[full]
    value = compute()
    with _lock:
        _entries[full] = value
        while len(_entries) > SIZE:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()
