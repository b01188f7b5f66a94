"""Working days from the app's own holiday table (DESIGN.md time rules; issue 3, point 7)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.holidays.domain import import_year, load_from_chinese_calendar
from crm.holidays.models import DayKind, HolidayYear, SpecialDay
from crm.holidays.workdays import (
    WorkdayResult,
    add_working_days,
    is_working_day,
    missing_data_message,
    next_working_day,
    working_days_before,
    year_has_data,
)

MISSING_2027 = "2027年节假日安排尚未录入"


@pytest.fixture
def seeded():
    result = load_from_chinese_calendar([2025, 2026])
    db.session.flush()
    return result


def test_seed_marks_the_years_with_chinese_names_and_is_idempotent(seeded):
    assert seeded.loaded == [2025, 2026] and seeded.skipped == [] and seeded.unavailable == []
    assert db.session.get(HolidayYear, 2025).source == "chinese-calendar 1.11.0"
    national_day = db.session.scalar(sa.select(SpecialDay).where(SpecialDay.day == date(2025, 10, 1)))
    assert national_day.kind is DayKind.HOLIDAY and national_day.name == "国庆节"
    makeup = db.session.scalar(sa.select(SpecialDay).where(SpecialDay.day == date(2025, 9, 28)))
    assert makeup.kind is DayKind.WORKDAY and makeup.name == "国庆节"
    assert db.session.scalar(sa.select(SpecialDay.name).where(SpecialDay.day == date(2025, 10, 6))) == "中秋节"
    assert db.session.scalar(sa.select(SpecialDay.name).where(SpecialDay.day == date(2026, 2, 17))) == "春节"
    count = db.session.scalar(sa.select(sa.func.count()).select_from(SpecialDay))

    again = load_from_chinese_calendar([2025, 2026])
    db.session.flush()
    assert again.loaded == [] and again.skipped == [2025, 2026]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpecialDay)) == count

    replaced = load_from_chinese_calendar([2025], replace=True)
    db.session.flush()
    assert replaced.loaded == [2025]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpecialDay)) == count
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "holiday_year")).all()
    assert {(a.entity_id, a.action) for a in audit} == {(2025, "seed"), (2026, "seed")}


def test_years_chinese_calendar_does_not_cover_are_reported_not_invented():
    result = load_from_chinese_calendar([2026, 2027])
    assert result.loaded == [2026] and result.unavailable == [2027]
    assert year_has_data(2026) and not year_has_data(2027)


def test_national_day_2025_with_its_make_up_workdays(seeded):
    # 2025-10-01..08 off; Sunday 2025-09-28 and Saturday 2025-10-11 are worked.
    assert add_working_days(date(2025, 9, 26), 1) == WorkdayResult(date(2025, 9, 28), [])
    assert add_working_days(date(2025, 9, 30), 1) == WorkdayResult(date(2025, 10, 9), [])
    assert add_working_days(date(2025, 9, 30), 3).date == date(2025, 10, 11)
    assert add_working_days(date(2025, 9, 30), 4).date == date(2025, 10, 13)
    assert is_working_day(date(2025, 10, 11)) and is_working_day(date(2025, 9, 28))
    assert not any(is_working_day(date(2025, 10, d)) for d in range(1, 9))
    assert not is_working_day(date(2025, 9, 27)) and not is_working_day(date(2025, 10, 12))
    assert is_working_day(datetime(2025, 10, 9, 23, 30))  # a datetime counts by its date


def test_start_is_not_counted_and_zero_is_the_start_itself(seeded):
    assert add_working_days(date(2025, 10, 3), 0).date == date(2025, 10, 3)
    assert add_working_days(date(2025, 10, 9), 1).date == date(2025, 10, 10)
    assert next_working_day(date(2025, 10, 3)).date == date(2025, 10, 9)
    assert next_working_day(date(2025, 10, 9)).date == date(2025, 10, 9)
    with pytest.raises(ValueError):
        add_working_days(date(2025, 10, 9), -1)


def test_working_days_before_a_deadline(seeded):
    # (2025-09-26, 2025-10-10]: 09-28, 09-29, 09-30, 10-09, 10-10
    assert working_days_before(date(2025, 10, 10), date(2025, 9, 26)) == (5, [])
    count, missing = working_days_before(date(2025, 10, 8), date(2025, 9, 30))
    assert (count, missing) == (0, [])
    assert working_days_before(date(2025, 9, 1), date(2025, 10, 1)).count == 0  # past deadlines count 0
    # Consistent with add_working_days when the deadline is a working day.
    n = working_days_before(date(2025, 10, 11), date(2025, 9, 20)).count
    assert add_working_days(date(2025, 9, 20), n).date == date(2025, 10, 11)


def test_spring_festival_2026(seeded):
    # 2026-02-15..23 off; Saturdays 2026-02-14 and 2026-02-28 are worked.
    assert add_working_days(date(2026, 2, 13), 1).date == date(2026, 2, 14)
    assert add_working_days(date(2026, 2, 14), 1).date == date(2026, 2, 24)
    assert is_working_day(date(2026, 2, 28)) and not is_working_day(date(2026, 2, 23))
    assert working_days_before(date(2026, 2, 28), date(2026, 2, 13)) == (6, [])  # 14, 24, 25, 26, 27, 28


def test_a_year_without_data_counts_monday_to_friday_and_says_so(seeded):
    result = add_working_days(date(2027, 9, 30), 1)
    assert result.date == date(2027, 10, 1)  # Friday: without data a weekday is a working day
    assert result.missing_years == [2027]
    assert MISSING_2027 in missing_data_message(result.missing_years)
    assert MISSING_2027 in result.message
    assert add_working_days(date(2027, 10, 1), 1).date == date(2027, 10, 4)  # the weekend is skipped
    assert is_working_day(date(2027, 10, 1)) and not is_working_day(date(2027, 10, 2))
    assert working_days_before(date(2027, 1, 8), date(2027, 1, 1)) == (5, [2027])
    assert missing_data_message([]) == ""
    assert missing_data_message([2028, 2027]).startswith("2027年、2028年节假日安排尚未录入")


def test_a_span_from_2026_into_2027(seeded):
    assert add_working_days(date(2026, 12, 29), 2) == WorkdayResult(date(2026, 12, 31), [])
    result = add_working_days(date(2026, 12, 30), 3)  # 12-31, then 2027-01-01 (Fri) and 01-04 by Mon–Fri
    assert result == WorkdayResult(date(2027, 1, 4), [2027])
    assert working_days_before(date(2027, 1, 4), date(2026, 12, 30)) == (3, [2027])


def test_after_importing_2027_the_same_call_uses_it(seeded):
    import_year(None, 2027, [
        ("2027-01-01", "放假", "元旦"),
        ("2027-01-02", "放假", "元旦"),
        ("2027-01-03", "放假", "元旦"),
    ])
    assert add_working_days(date(2026, 12, 30), 3) == WorkdayResult(date(2027, 1, 5), [])
    assert working_days_before(date(2027, 1, 5), date(2026, 12, 30)) == (3, [])
    assert add_working_days(date(2027, 9, 30), 1) == WorkdayResult(date(2027, 10, 1), [])
    assert missing_data_message(add_working_days(date(2027, 1, 1), 10).missing_years) == ""


def test_without_any_data_every_year_is_reported():
    result = add_working_days(date(2025, 9, 30), 1)
    assert result == WorkdayResult(date(2025, 10, 1), [2025])


def test_a_long_count_reads_each_year_once(seeded, count_queries):
    """No query per day: a 300-working-day span over two years costs a handful of queries."""
    db.session.connection()
    with count_queries() as queries:
        result = add_working_days(date(2025, 6, 1), 300)
    assert result.missing_years == [] and result.date.year == 2026
    assert 1 <= queries.count <= 4, queries.statements
