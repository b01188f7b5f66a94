"""Time rules: store UTC, show Asia/Shanghai (DESIGN.md, time rules)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_local(value: datetime | None) -> datetime | None:
    """An aware datetime in Asia/Shanghai (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI)


def local_today() -> date:
    return datetime.now(SHANGHAI).date()


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(value)
    return local.strftime(fmt) if local else ""


def isoformat_local(value: datetime | None) -> str | None:
    """ISO 8601 with the +08:00 offset, as API.md wants."""
    local = to_local(value)
    return local.isoformat(timespec="seconds") if local else None
