"""Half-year arithmetic of the lists (``crm.rosters.domain``: ``2026H1`` = January–June, Asia/Shanghai):
a date lies in exactly the half year ``period_of`` names, a period's start is in that period, ``next_period``
steps half a year, periods are written one way, and anything else is refused with a Chinese message.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm.core.errors import ValidationFailed
from crm.core.time import SHANGHAI
from crm.rosters.domain import next_period, normalise_period, parse_period, period_label, period_of, period_start
from crm.rosters.jobs import refresh_deadline
from tests.properties.support import PROPERTY

days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
periods = st.builds(lambda year, half: f"{year}H{half}", st.integers(2000, 2099), st.sampled_from((1, 2)))


@PROPERTY
@given(days)
def test_a_day_lies_in_the_half_year_period_of_names(day):
    period = period_of(day)
    assert period_start(period) <= day < period_start(next_period(period))
    assert period == f"{day.year}H{1 if day.month <= 6 else 2}"


@PROPERTY
@given(periods)
def test_a_period_starts_in_itself_and_next_steps_half_a_year(period):
    start, following = period_start(period), next_period(period)
    assert period_of(start) == period
    assert period_of(start - timedelta(days=1)) != period  # the day before belongs to the previous half
    assert (period_start(following) - start).days in (181, 182, 184)
    assert period_of(period_start(following) - timedelta(days=1)) == period
    year, half = parse_period(period)
    assert next_period(following) == f"{year + 1}H{half}"
    assert following > period  # the written form sorts like time (the dashboard compares periods as text)


@PROPERTY
@given(periods, st.booleans(), st.text(alphabet=" \t", max_size=2))
def test_a_period_is_written_one_way(period, lower, padding):
    written = padding + (period.lower() if lower else period) + padding
    assert normalise_period(written) == period
    year, half = parse_period(written)
    assert period_label(written) == f"{year}年{'上' if half == 1 else '下'}半年"


@PROPERTY
@given(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC)))
def test_an_instant_counts_in_shanghai(moment):
    assert period_of(moment) == period_of(moment.astimezone(SHANGHAI).date())


@PROPERTY
@given(periods)
def test_a_refresh_opens_in_its_half_year_and_is_due_within_it(period):
    """The job fires at 00:05 on the half year's first day (Asia/Shanghai; 16:05 UTC the day before) and opens
    that period; its publish deadline (``ROSTER_REFRESH_DEADLINE``) lies inside the same half year."""
    start = period_start(period)
    fire = datetime(start.year, start.month, start.day, 0, 5, tzinfo=SHANGHAI)
    assert period_of(fire) == period and period_of(fire.astimezone(UTC)) == period
    assert period_of(refresh_deadline(period)) == period


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError):
        period_of(datetime(2026, 6, 30, 20, 0))


@PROPERTY
@given(st.one_of(st.text(max_size=12), st.text(alphabet="0123456789Hh２٢ ", max_size=8)))
def test_anything_else_is_refused_in_chinese(text):
    """Refused with the field's message, or read as the one written form (Unicode digits such as ２ are read as
    the digits they are, so what is stored is always ASCII)."""
    try:
        year, half = parse_period(text)
    except ValidationFailed as err:
        assert err.fields == {"period": "期次格式应为 2026H1 或 2026H2"}
    else:
        assert 2000 <= year <= 2100 and half in (1, 2)
        assert re.fullmatch(r"[0-9]{4}H[12]", normalise_period(text))
        assert parse_period(normalise_period(text)) == (year, half)


@pytest.mark.parametrize("text", ["2026H3", "2026H0", "1999H2", "2101H1", "2026-H1", "26H1", "2026 H1", ""])
def test_near_misses_are_refused(text):
    with pytest.raises(ValidationFailed):
        parse_period(text)
