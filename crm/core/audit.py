"""The audit trail: who, when, what, old → new.

Domain functions call :func:`record` in the same session as the change, so the audit row commits or rolls
back with it: there is never a change without its record.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.time import isoformat_local, utcnow
from crm.core.types import UTCDateTime
from crm.extensions import db


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(sa.String(80))
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[int] = mapped_column()
    enterprise_id: Mapped[int | None] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(sa.String(40))
    summary: Mapped[str] = mapped_column(sa.String(400), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (sa.Index("ix_audit_log_entity", "entity_type", "entity_id"),)


def jsonable(value: Any) -> Any:
    """Audit values as JSON: dates ISO, decimals as strings, enums by value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return isoformat_local(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def diff(obj: Any, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """The fields of ``new_values`` that differ from ``obj``, as ``{field: [old, new]}``."""
    changes: dict[str, list[Any]] = {}
    for field, new in new_values.items():
        old = getattr(obj, field)
        if jsonable(old) != jsonable(new):
            changes[field] = [jsonable(old), jsonable(new)]
    return changes


def record(
    actor: Any,
    entity_type: str,
    entity_id: int,
    action: str,
    changes: dict[str, Any] | None = None,
    *,
    enterprise_id: int | None = None,
    summary: str = "",
) -> AuditLog:
    """Add an audit row to the current transaction. ``actor`` is a user or ``None`` for the system."""
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "display_name", None) or getattr(actor, "username", None) or "系统",
        entity_type=entity_type,
        entity_id=entity_id,
        enterprise_id=enterprise_id,
        action=action,
        summary=summary,
        changes={k: [jsonable(v) for v in pair] if isinstance(pair, list | tuple) else jsonable(pair)
                 for k, pair in (changes or {}).items()},
    )
    db.session.add(entry)
    return entry


def history_statement(enterprise_id: int, filters: Iterable[Any] = ()) -> sa.Select:
    """The audit rows of one enterprise (its own and those of its figures, contacts, links, list entries, service
    records), newest first, that satisfy every condition in ``filters``: the caller says what a viewer may not see
    (the enterprise registry gathers them from the capabilities, ``crm.enterprises.hooks.history_filters``)."""
    return (
        sa.select(AuditLog)
        .where(AuditLog.enterprise_id == enterprise_id, *filters)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
    )


def history_for_enterprise(enterprise_id: int, limit: int | None = None, filters: Iterable[Any] = ()
                           ) -> list[AuditLog]:
    stmt = history_statement(enterprise_id, filters)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))
