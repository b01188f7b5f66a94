"""Reporting periods per cadence, their deadline in working days, and which periods are open for filing."""

from __future__ import annotations

from datetime import date

import pytest

from crm.holidays.domain import add_day, load_from_chinese_calendar
from crm.tasks import domain
from crm.tasks.models import ReportCadence
from crm.tasks.periods import parse_period, period_of


@pytest.mark.parametrize(("day", "cadence", "key", "start", "end", "label"), [
    (date(2026, 11, 15), ReportCadence.MONTHLY, "2026-11", date(2026, 11, 1), date(2026, 11, 30), "2026年11月"),
    (date(2026, 12, 31), ReportCadence.MONTHLY, "2026-12", date(2026, 12, 1), date(2026, 12, 31), "2026年12月"),
    (date(2024, 2, 29), ReportCadence.MONTHLY, "2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024年2月"),
    (date(2026, 11, 15), ReportCadence.QUARTERLY, "2026Q4", date(2026, 10, 1), date(2026, 12, 31), "2026年第4季度"),
    (date(2026, 1, 1), ReportCadence.QUARTERLY, "2026Q1", date(2026, 1, 1), date(2026, 3, 31), "2026年第1季度"),
    (date(2026, 11, 15), ReportCadence.HALF_YEARLY, "2026H2", date(2026, 7, 1), date(2026, 12, 31), "2026年下半年"),
    (date(2026, 6, 30), ReportCadence.HALF_YEARLY, "2026H1", date(2026, 1, 1), date(2026, 6, 30), "2026年上半年"),
])
def test_period_of_each_cadence(day, cadence, key, start, end, label):
    period = period_of(day, cadence)
    assert (period.key, period.start, period.end, period.label) == (key, start, end, label)
    assert parse_period(key) == period


def test_previous_and_next_cross_the_year():
    assert period_of(date(2026, 1, 5), ReportCadence.MONTHLY).previous().key == "2025-12"
    assert period_of(date(2026, 2, 5), ReportCadence.QUARTERLY).previous().key == "2025Q4"
    assert period_of(date(2026, 2, 5), ReportCadence.HALF_YEARLY).previous().key == "2025H2"
    assert period_of(date(2026, 12, 5), ReportCadence.MONTHLY).next().key == "2027-01"


@pytest.mark.parametrize("key", ["", "2026", "2026-13", "2026-00", "2026Q5", "2026H3", "26-11", "2026-11x"])
def test_parse_refuses_other_keys(key):
    assert parse_period(key) is None


def test_the_deadline_counts_working_days_by_the_holiday_table():
    november = period_of(date(2026, 11, 10), ReportCadence.MONTHLY)
    # 30 Nov 2026 is a Monday: five working days later is Monday 7 December
    assert november.deadline(5) == date(2026, 12, 7)
    load_from_chinese_calendar([2026])
    add_day(None, "2026-12-02", "holiday", "测试假日")
    assert november.deadline(5) == date(2026, 12, 8)
    assert november.deadline(0) == date(2026, 11, 30)


def test_open_periods_include_the_ended_one_within_its_grace():
    keys = lambda day: [p.key for p in domain.open_periods(day)]  # noqa: E731
    assert keys(date(2026, 12, 7)) == ["2026-11", "2026-12"]
    assert keys(date(2026, 12, 8)) == ["2026-12"]
    assert keys(date(2026, 12, 20)) == ["2026-12"]
