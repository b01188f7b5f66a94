"""Column types shared by every model."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware timestamp stored as UTC.

    SQLite drops the zone of ``DateTime(timezone=True)``, so values are normalised to UTC on the way in and
    marked UTC on the way out; naive values are refused, which keeps "what time zone is this?" out of the code.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: give a time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class LabelledEnum(enum.StrEnum):
    """An enumeration whose members carry their Chinese label: ``VISIT = "visit", "走访"``.

    The value (the English code) is what the database, the API and the URLs hold; ``member.label`` is what a
    person reads (templates write ``{{ member.label }}``). An enum whose values are already Chinese gives the
    value alone (``TAX = "税收"``) and is its own label. ``short_label`` (a third item) is an optional shorter
    name for tight places such as tabs and sheet names; it defaults to the label.
    """

    label: str
    short_label: str

    def __new__(cls, value: str, label: str | None = None, short_label: str | None = None) -> Self:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = value if label is None else label
        member.short_label = member.label if short_label is None else short_label
        return member

    @classmethod
    def find(cls, raw: object, *, by_label: bool = False) -> Self | None:
        """The member whose code (or, with ``by_label``, Chinese label) is ``raw`` (spaces ignored), else ``None``."""
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, str):
            return None
        text = raw.strip()
        for member in cls:
            if text == member.value or (by_label and text == member.label):
                return member
        return None

    @classmethod
    def allowed_text(cls) -> str:
        """Each code with its label: ``visit(走访)、call(电话)`` (``税收、用地`` when the code is the label)."""
        return "、".join(member.value if member.label == member.value else f"{member.value}({member.label})"
                        for member in cls)


def enum_column(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A real enum stored as its value in a VARCHAR with a CHECK constraint (portable across databases)."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )
