"""Working days: China's statutory holidays and 调休 make-up workdays from the app's own table.

Rules (DESIGN.md, time rules):

- For a year in ``HolidayYear`` (its schedule is loaded) a day is a working day when the table says "workday", not
  when it says "holiday", and otherwise when it is Monday–Friday.
- For a year without data the table is not consulted at all: Monday–Friday are working days, and every function
  that computes a date reports that year in ``missing_years`` so the caller can say
  "2027年节假日安排尚未录入" (:func:`missing_data_message`).
- :func:`add_working_days` does not count ``start``: ``add_working_days(d, 1)`` is the first working day after
  ``d``, and ``add_working_days(d, 0)`` is ``d`` itself. :func:`working_days_before` counts the working days in
  ``(today, deadline]``, so ``add_working_days(today, working_days_before(deadline, today).count) == deadline``
  whenever the deadline is itself a working day.

The counting functions read each year's special days once per call (two small queries per year touched), never a
query per day. The table itself is filled by :mod:`crm.holidays.domain` (seeding, the State Council import,
corrections).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa

from crm.core.time import local_today
from crm.extensions import db
from crm.holidays.models import DayKind, HolidayYear, SpecialDay

MAX_WORKING_DAYS = 3660  # about fourteen years: a bigger ``n`` is a bug in the caller
WEEKDAYS = "一二三四五六日"


# --- results -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkdayResult:
    """A computed date, and the years it crossed that had no holiday data (counted Monday–Friday)."""

    date: date
    missing_years: list[int] = field(default_factory=list)

    @property
    def message(self) -> str:
        return missing_data_message(self.missing_years)


class WorkdayCount(NamedTuple):
    """``count, missing_years = working_days_before(...)``."""

    count: int
    missing_years: list[int]



# --- the calendar ------------------------------------------------------------------------------------------

class _Calendar:
    """The holiday table as seen by one call: each year is read once, on first use."""

    def __init__(self) -> None:
        self._years: dict[int, dict[date, DayKind] | None] = {}
        self.missing: set[int] = set()

    def table(self, year: int) -> dict[date, DayKind] | None:
        if year not in self._years:
            if db.session.get(HolidayYear, year) is None:
                self._years[year] = None
            else:
                rows = db.session.execute(
                    sa.select(SpecialDay.day, SpecialDay.kind).where(
                        SpecialDay.day >= date(year, 1, 1), SpecialDay.day <= date(year, 12, 31))
                )
                self._years[year] = {day: kind for day, kind in rows}
        return self._years[year]

    def is_working(self, day: date) -> bool:
        table = self.table(day.year)
        if table is None:
            self.missing.add(day.year)
            return day.weekday() < 5
        kind = table.get(day)
        if kind is DayKind.HOLIDAY:
            return False
        if kind is DayKind.WORKDAY:
            return True
        return day.weekday() < 5

    def missing_years(self) -> list[int]:
        return sorted(self.missing)


def _as_date(value: date) -> date:
    if isinstance(value, datetime):  # a datetime is a date too; its time must not leak into the arithmetic
        return value.date()
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    return value


def year_has_data(year: int) -> bool:
    """Is the State Council schedule of ``year`` in the table?"""
    return db.session.get(HolidayYear, year) is not None


def is_working_day(day: date) -> bool:
    """A working day by the table for a loaded year, Monday–Friday otherwise."""
    return _Calendar().is_working(_as_date(day))


def add_working_days(start: date, n: int) -> WorkdayResult:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted; ``n == 0`` gives ``start``)."""
    start = _as_date(start)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > MAX_WORKING_DAYS:
        raise ValueError(f"n must be an integer between 0 and {MAX_WORKING_DAYS}, got {n!r}")
    calendar = _Calendar()
    day, remaining = start, n
    while remaining:
        day += timedelta(days=1)
        if calendar.is_working(day):
            remaining -= 1
    return WorkdayResult(day, calendar.missing_years())


def next_working_day(day: date) -> WorkdayResult:
    """``day`` if it is a working day, else the first working day after it (where a meeting or due date lands)."""
    day = _as_date(day)
    calendar = _Calendar()
    while not calendar.is_working(day):
        day += timedelta(days=1)
    return WorkdayResult(day, calendar.missing_years())


def working_days_before(deadline: date, today: date | None = None) -> WorkdayCount:
    """How many working days from ``today`` until ``deadline``: those in ``(today, deadline]``; 0 once it is past."""
    deadline = _as_date(deadline)
    today = _as_date(today) if today is not None else local_today()
    calendar = _Calendar()
    count = 0
    day = today + timedelta(days=1)
    while day <= deadline:
        if calendar.is_working(day):
            count += 1
        day += timedelta(days=1)
    return WorkdayCount(count, calendar.missing_years())


def missing_data_message(years: Iterable[int]) -> str:
    """"2027年节假日安排尚未录入,暂按周一至周五计算工作日" (empty when nothing is missing)."""
    years = sorted(set(years))
    if not years:
        return ""
    return "、".join(f"{year}年" for year in years) + "节假日安排尚未录入,暂按周一至周五计算工作日"


def weekday_label(day: date) -> str:
    return "星期" + WEEKDAYS[day.weekday()]
