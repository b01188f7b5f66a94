"""Schema objects that only one database has, and the model ⇄ migration comparison that knows about them.

The registry's trigram index (``pg_trgm``, GIN ``gin_trgm_ops``) exists on PostgreSQL only: SQLite has no such
index type, and at the demo's size a scan is instant there. Such an index is declared on its model through
:func:`only_on`, so the model states the whole schema, and

- ``CREATE`` from the metadata skips it on other databases (SQLAlchemy's ``ddl_if``);
- the migration creates it only on that database (it branches on ``op.get_bind().dialect.name``);
- :func:`include_object_for` leaves it out of the model ⇄ migration comparison on other databases
  (``migrations/env.py`` for ``flask db check`` / ``db migrate``, and ``tests/core/test_migrations.py``), so
  the comparison stays clean on both databases and still checks the index where it exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

ONLY_ON = "only_on"  # Index.info key: the one dialect name the index exists on


def only_on(dialect: str, index: sa.Index) -> sa.Index:
    """``index``, marked as existing on ``dialect`` only (e.g. ``"postgresql"``)."""
    index.info[ONLY_ON] = dialect
    index.ddl_if(dialect=dialect)
    return index


def include_object_for(dialect_name: str) -> Callable[..., bool]:
    """An Alembic ``include_object`` hook for a database of ``dialect_name``: a model index marked by
    :func:`only_on` for another database is not expected there."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "index" and not reflected:
            wanted = obj.info.get(ONLY_ON)
            return wanted is None or wanted == dialect_name
        return True

    return include_object
