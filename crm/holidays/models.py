"""The holiday table: one row per special day, and the years whose schedule is complete."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db


class DayKind(LabelledEnum):
    HOLIDAY = "holiday", "放假"  # a statutory day off (on a weekday or not)
    WORKDAY = "workday", "上班"  # a 调休 make-up working day on a weekend


class SpecialDay(db.Model):
    __tablename__ = "special_days"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(unique=True)
    kind: Mapped[DayKind] = mapped_column(enum_column(DayKind, "day_kind"))
    name: Mapped[str] = mapped_column(sa.String(40), default="")


class HolidayYear(db.Model):
    """A year whose State Council schedule is loaded; for other years working days are Monday–Friday."""

    __tablename__ = "holiday_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(sa.String(200), default="")
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
