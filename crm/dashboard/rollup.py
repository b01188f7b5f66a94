"""The daily rollup of 服务记录 (``InteractionDay``, issue 11): how it is kept, rebuilt and checked.

Kept by triggers that migration ``9d1c6a2e5b37`` creates (the SQL is in that migration, which owns the schema):

- PostgreSQL: one statement-level trigger per event on ``interactions`` with transition tables: an insert, update
  or delete of any number of rows (an import, ``COPY``, a cascade) is one grouped upsert of the rows it changed,
  joined to ``enterprises`` for their county; ``TRUNCATE interactions`` empties the rollup;
- SQLite (the demo's size): the same as row-level triggers;
- both: ``enterprises`` — a change of ``county_id`` moves the enterprise's counts to its new county; a delete
  first takes its interactions out (the cascade that follows then finds no enterprise, so counts nothing twice).
  On PostgreSQL the move first waits for the transactions writing that enterprise's 服务记录 (migration
  ``e5c2a7b913d4``: without it a record committed beside the move stayed counted in the old county).

Every trigger runs inside the writing statement's transaction: the rollup commits or rolls back with the change,
and no reader ever sees it behind the records. Groups that fall to 0 are deleted.

:func:`rebuild` recomputes it from the records (``flask --app wsgi dashboard rebuild-rollup``; the migration
backfills the same way); :func:`direct` is the aggregate it replaces, which the tests compare it with.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.core.cache import PendingChange
from crm.dashboard.models import InteractionDay
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service.models import Channel, Interaction

NO_AUTHOR = 0  # InteractionDay.user_id of records without an author (created_by_id NULL)


def _grouped() -> sa.Select:
    """The rollup's rows computed from the records."""
    author = sa.func.coalesce(Interaction.created_by_id, sa.literal_column(str(NO_AUTHOR)))  # one expression
    return (sa.select(Interaction.occurred_on, Enterprise.county_id, author,
                      sa.func.count().filter(Interaction.channel == Channel.VISIT), sa.func.count())
            .join(Enterprise, Interaction.enterprise_id == Enterprise.id)
            .group_by(Interaction.occurred_on, Enterprise.county_id, author))


def rebuild() -> int:
    """Recompute the whole rollup from ``interactions`` (in the caller's transaction); returns its row count.
    Only needed after writing to the tables with the triggers disabled.

    On PostgreSQL it first locks ``interactions`` and ``enterprises`` in SHARE mode: writers of 服务记录 and of
    enterprises wait until the caller commits (seconds at 2,000,000 records), so no trigger adds a group between
    the delete and the insert (which would then fail on the group's key) and nothing written meanwhile is lost."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.text("LOCK TABLE interactions, enterprises IN SHARE MODE"))
        # the dashboard's figures cached from the rollup (crm/core/cache.py) are recomputed after the commit:
        # the rewrite touches no table whose triggers would note it
        db.session.execute(sa.insert(PendingChange).values(kind="interactions"))
    db.session.execute(sa.delete(InteractionDay))
    db.session.execute(sa.insert(InteractionDay).from_select(
        ["day", "county_id", "user_id", "visits", "interactions"], _grouped()))
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(InteractionDay)) or 0)


def differences(before: dict, after: dict) -> int:
    """How many groups of two readings of :func:`stored` differ (present in one only, or with other counts)."""
    return sum(1 for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def stored(start: date | None = None, end: date | None = None) -> dict[tuple[Any, int, int], tuple[int, int]]:
    """The rollup as ``{(day, county_id, user_id): (visits, interactions)}``."""
    stmt = sa.select(InteractionDay.day, InteractionDay.county_id, InteractionDay.user_id, InteractionDay.visits,
                     InteractionDay.interactions)
    if start is not None:
        stmt = stmt.where(InteractionDay.day >= start)
    if end is not None:
        stmt = stmt.where(InteractionDay.day <= end)
    return {(d, c, u): (int(v), int(n)) for d, c, u, v, n in db.session.execute(stmt)}


def direct(start: date | None = None, end: date | None = None) -> dict[tuple[Any, int, int], tuple[int, int]]:
    """The same figures aggregated from the records themselves (what the rollup must always equal)."""
    stmt = _grouped()
    if start is not None:
        stmt = stmt.where(Interaction.occurred_on >= start)
    if end is not None:
        stmt = stmt.where(Interaction.occurred_on <= end)
    return {(d, c, u): (int(v), int(n)) for d, c, u, v, n in db.session.execute(stmt)}
