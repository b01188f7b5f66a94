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
# Keys per process (a figure × a period × a selection). One entry per key: a figure computed at newer versions
# replaces the one kept for older ones (which no request reads again once the counters moved), so memory is
# bounded by the selections people look at, not by how often the data changes. 1,024: a commissioner's own view
# holds four small keys, so 500 of them cannot push out the city's and the counties' (≈ 1 MB each at 500
# commissioners).
SIZE = 1024

_entries: OrderedDict[Hashable, tuple[tuple[int, ...], Any]] = OrderedDict()  # key → (versions, value)
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
    at = tuple(stamp[kind] for kind in kinds)
    with _lock:
        kept = _entries.get(key)
        if kept is not None and kept[0] == at:
            _entries.move_to_end(key)
            return kept[1]
    value = compute()
    with _lock:
        kept = _entries.get(key)
        # a request that read older versions (it began before a commit) does not replace a newer figure
        if kept is None or not all(old >= new for new, old in zip(at, kept[0], strict=True)):
            _entries[key] = (at, value)
            _entries.move_to_end(key)
        while len(_entries) > SIZE:
            _entries.popitem(last=False)
    return value


def clear() -> None:
    with _lock:
        _entries.clear()
