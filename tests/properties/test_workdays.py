"""Working days (``crm.holidays.workdays``) over the app's holiday table, seeded for 2025 and 2026 as the app
seeds it (chinese-calendar); 2027 has no schedule and is counted Monday–Friday, and says so.

Counting forward N working days and counting back gives N; the day reached is a working day — never a statutory
holiday, never a weekend unless it is a 调休 make-up workday, which counts like any other working day; counting
is additive and strictly increasing; the next working day is the first one on or after a day.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.holidays.models import DayKind, SpecialDay
from crm.holidays.workdays import add_working_days, is_working_day, next_working_day, working_days_before
from tests.properties.support import PROPERTY

starts = st.dates(min_value=date(2024, 12, 20), max_value=date(2027, 3, 31))
counts = st.integers(min_value=0, max_value=40)


@pytest.fixture
def table() -> dict[date, DayKind]:
    load_from_chinese_calendar([2025, 2026])
    db.session.flush()
    return dict(db.session.execute(sa.select(SpecialDay.day, SpecialDay.kind)).all())


def working(day: date, table: dict[date, DayKind]) -> bool:
    """The rule, written out: the table decides where it speaks, else Monday–Friday."""
    kind = table.get(day)
    return kind is DayKind.WORKDAY or (kind is None and day.weekday() < 5)


def test_the_seeded_table_has_make_up_workdays_on_weekends(table):
    make_up = [day for day, kind in table.items() if kind is DayKind.WORKDAY]
    assert make_up and all(day.weekday() >= 5 for day in make_up)
    assert date(2025, 9, 28) in make_up and table[date(2025, 10, 1)] is DayKind.HOLIDAY


@PROPERTY
@given(starts, counts)
def test_n_working_days_forward_then_counted_back_is_n(table, start, n):
    reached = add_working_days(start, n)
    assert working_days_before(reached.date, start).count == n
    if n:
        assert is_working_day(reached.date) and working(reached.date, table)
        assert table.get(reached.date) is not DayKind.HOLIDAY
        assert reached.date.weekday() < 5 or table.get(reached.date) is DayKind.WORKDAY
    # exactly n working days in (start, reached]: counted here day by day, by the rule
    between = [start + timedelta(days=i) for i in range(1, (reached.date - start).days + 1)]
    assert sum(working(day, table) for day in between) == n


@PROPERTY
@given(starts, counts, counts)
def test_counting_is_additive_and_strictly_increasing(table, start, a, b):
    step = add_working_days(start, a).date
    assert add_working_days(step, b).date == add_working_days(start, a + b).date
    assert add_working_days(start, a + 1).date > add_working_days(start, a).date


@PROPERTY
@given(starts)
def test_the_next_working_day_is_the_first_on_or_after(table, day):
    found = next_working_day(day).date
    assert working(found, table) and found >= day
    assert not any(working(day + timedelta(days=i), table) for i in range((found - day).days))


@PROPERTY
@given(st.data())
def test_a_make_up_workday_counts_like_any_working_day(table, data):
    make_up = sorted(day for day, kind in table.items() if kind is DayKind.WORKDAY)
    day = data.draw(st.sampled_from(make_up))
    assert is_working_day(day) and day.weekday() >= 5
    assert add_working_days(day - timedelta(days=1), 1).date == day
    assert working_days_before(day, day - timedelta(days=1)).count == 1


@PROPERTY
@given(st.data())
def test_a_statutory_holiday_is_never_reached(table, data):
    holidays = sorted(day for day, kind in table.items() if kind is DayKind.HOLIDAY)
    day = data.draw(st.sampled_from(holidays))
    assert not is_working_day(day)
    assert working_days_before(day, day - timedelta(days=1)).count == 0
    assert next_working_day(day).date > day


@PROPERTY
@given(starts, counts)
def test_a_year_without_a_schedule_is_counted_monday_to_friday_and_named(table, start, n):
    reached = add_working_days(start, n)
    examined = {start.year + offset for offset in range(reached.date.year - start.year + 1)} if n else set()
    if n and reached.date.year > start.year and (start + timedelta(days=1)).year > start.year:
        examined.discard(start.year)  # started on 31 December: that year's days were never looked at
    assert reached.missing_years == sorted(examined - {2025, 2026})
    if reached.date.year == 2027 and n:
        assert reached.date.weekday() < 5
        assert "2027年节假日安排尚未录入" in reached.message
