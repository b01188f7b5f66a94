"""Reporting periods of the progress reports, one calendar period per cadence (TaskSettings.cadence):

- monthly ``2026-11`` (1–30 November), quarterly ``2026Q4`` (October–December), half-yearly ``2026H2``
  (July–December).

A unit's report for a period is due by the period's end; it may still be filed until ``grace_working_days``
working days after that end (its *deadline*, by the app's holiday table, :mod:`crm.holidays.workdays`). After
the deadline the report is overdue and the reminder job escalates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from crm.holidays.workdays import add_working_days
from crm.tasks.models import ReportCadence

_KEY = re.compile(r"^(\d{4})(?:-(\d{2})|Q([1-4])|H([12]))$")


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date
    key: str
    cadence: ReportCadence

    @property
    def label(self) -> str:
        year = self.start.year
        if self.cadence is ReportCadence.MONTHLY:
            return f"{year}年{self.start.month}月"
        if self.cadence is ReportCadence.QUARTERLY:
            return f"{year}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{year}年{'上' if self.start.month == 1 else '下'}半年"

    def previous(self) -> Period:
        return period_of(self.start - timedelta(days=1), self.cadence)

    def next(self) -> Period:
        return period_of(self.end + timedelta(days=1), self.cadence)

    def deadline(self, grace_working_days: int) -> date:
        """The last day the period's report may be filed: ``grace_working_days`` working days after its end."""
        return add_working_days(self.end, grace_working_days).date


def _month_end(year: int, month: int) -> date:
    return (date(year + month // 12, month % 12 + 1, 1)) - timedelta(days=1)


def _span(year: int, first_month: int, months: int) -> tuple[date, date]:
    last = first_month + months - 1
    return date(year, first_month, 1), _month_end(year, last)


def period_of(day: date, cadence: ReportCadence) -> Period:
    """The period of ``cadence`` that ``day`` falls in."""
    cadence = ReportCadence(cadence)
    if cadence is ReportCadence.MONTHLY:
        start, end = _span(day.year, day.month, 1)
        return Period(start, end, f"{day.year}-{day.month:02d}", cadence)
    if cadence is ReportCadence.QUARTERLY:
        quarter = (day.month - 1) // 3 + 1
        start, end = _span(day.year, 3 * quarter - 2, 3)
        return Period(start, end, f"{day.year}Q{quarter}", cadence)
    half = 1 if day.month <= 6 else 2
    start, end = _span(day.year, 6 * half - 5, 6)
    return Period(start, end, f"{day.year}H{half}", cadence)


def parse_period(key: str) -> Period | None:
    """``"2026-11"`` / ``"2026Q4"`` / ``"2026H2"`` → the period (``None`` for anything else)."""
    match = _KEY.match(key or "")
    if not match:
        return None
    year, month, quarter, half = match.groups()
    year = int(year)
    if month is not None:
        if not 1 <= int(month) <= 12:
            return None
        return period_of(date(year, int(month), 1), ReportCadence.MONTHLY)
    if quarter is not None:
        return period_of(date(year, 3 * int(quarter) - 2, 1), ReportCadence.QUARTERLY)
    return period_of(date(year, 6 * int(half) - 5, 1), ReportCadence.HALF_YEARLY)


def label_of(key: str) -> str:
    period = parse_period(key)
    return period.label if period else key
