"""Service performance (crm/dashboard/service.py) on the small known data set of tests/dashboard/service_data.py;
every expected number is worked out by hand beside it."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from crm.core.errors import Forbidden, ValidationFailed
from crm.dashboard import service
from tests.conftest import make_user
from tests.dashboard.service_data import END, START, build, grow


@pytest.fixture
def data():
    return build()


def test_city_totals(data):
    admin = make_user("admin")
    result = service.performance(admin, START, END)
    city = result["city"]
    assert result["scope"] == "city" and result["total"] == city
    # 走访 i1, i4, i6 (i3 is in October); 服务记录 also the call i2 and the online i5
    assert (city["visits"], city["interactions"]) == (3, 5)
    # raised in November: r1 r2 r4 r5 r6 r7 r8 (r3 in October, r9 in September)
    assert city["requests_raised"] == 7
    # closed in November (Asia/Shanghai): r1 r2 r3 (11-01 00:30) r4; r8 closed 12-01 00:10 is December's
    assert city["requests_closed"] == 4
    # days 7, 5, 12, 14 → median of an even count (7 + 12) / 2
    assert city["median_days_to_close"] == 9.5
    # on time: r1 (11-09 ≤ 11-10), r4 (11-19 ≤ 11-20); late: r2, r3 → 2 / 4
    assert (city["closed_on_time"], city["on_time_rate"]) == (2, 0.5)
    # satisfaction 5, 3, 4 (r4 has none) → 4.0 over 3
    assert (city["mean_satisfaction"], city["satisfaction_count"]) == (4.0, 3)
    # overdue at 11-30: r5 (due 11-25, open), r7 (due 11-15, resolved only 12-02), r8 (due 11-28, closed 12-01);
    # r6 is due on 11-30 itself: not yet overdue
    assert city["requests_overdue"] == 3
    # delivered in November: d1 (on time), d2 (late)
    assert (city["deliveries_delivered"], city["deliveries_on_time"], city["deliveries_on_time_rate"]) == (2, 1, 0.5)
    # listed e1 e2 e3; only e1 has all five (e2's 人才 ended 11-15, e3 has one; e4 is not listed)
    assert (city["listed"], city["fully_covered"], city["coverage"]) == (3, 1, round(1 / 3, 4))
    # 成都 meeting held: counts; 遵义 without partners: not; 重庆 planned: not
    assert city["meetings_chengyu"] == 1


def test_per_county_department_and_commissioner(data):
    result = service.performance(make_user("leader"), START, END)
    counties = {row["county"]: row for row in result["counties"]}
    hc, hhg = counties["汇川区"], counties["红花岗区"]
    assert (hc["visits"], hc["interactions"], hc["requests_raised"], hc["requests_closed"]) == (2, 3, 4, 3)
    assert (hc["median_days_to_close"], hc["on_time_rate"], hc["requests_overdue"]) == (7.0, round(1 / 3, 4), 1)
    assert (hc["listed"], hc["fully_covered"], hc["coverage"], hc["meetings_chengyu"]) == (2, 1, 0.5, 1)
    assert (hhg["visits"], hhg["requests_raised"], hhg["requests_closed"], hhg["requests_overdue"]) == (1, 3, 1, 2)
    assert (hhg["median_days_to_close"], hhg["coverage"], hhg["meetings_chengyu"]) == (14.0, 0.0, 0)
    assert counties["播州区"]["requests_raised"] == 0 and counties["播州区"]["coverage"] is None

    departments = {row["department"]: row for row in result["departments"]}
    d1 = departments[data.d1.name]
    assert (d1["requests_raised"], d1["requests_closed"], d1["median_days_to_close"], d1["on_time_rate"]) == (
        2, 2, 6.0, 0.5)
    assert (d1["deliveries_delivered"], d1["deliveries_on_time"], d1["visits"]) == (1, 1, None)
    assert departments[data.d2.name]["requests_closed"] == 1
    none = departments[service.NO_DEPARTMENT]
    # r4 r5 r6 r7 r8 raised; r4 closed; r5 r7 r8 overdue
    assert (none["requests_raised"], none["requests_closed"], none["requests_overdue"]) == (5, 1, 3)

    people = {row["username"]: row for row in result["commissioners"]}
    a, b, c = people["perf_a"], people["perf_b"], people["perf_c"]
    assert (a["visits"], a["interactions"], a["requests_raised"], a["requests_closed"]) == (1, 2, 4, 3)
    # A closed r1 (7 days), r2 (5), r3 (12): median of an odd count; on time only r1
    assert (a["median_days_to_close"], a["on_time_rate"], a["mean_satisfaction"]) == (7.0, round(1 / 3, 4), 4.0)
    assert (a["assigned_enterprises"], a["visited_enterprises"], a["visit_coverage"]) == (2, 1, 0.5)
    assert (b["visits"], b["requests_closed"], b["on_time_rate"], b["mean_satisfaction"]) == (2, 1, 1.0, None)
    # B visited e3 (assigned) and e1 (not assigned to B): 1 / 1
    assert (b["assigned_enterprises"], b["visited_enterprises"], b["visit_coverage"]) == (1, 1, 1.0)
    assert (b["deliveries_delivered"], b["deliveries_on_time_rate"]) == (1, 0.0)
    # C: e1 and e2 during November (the December start on e3 does not count), visited none
    assert (c["assigned_enterprises"], c["visit_coverage"]) == (2, 0.0)

    rankings = result["rankings"]
    assert [r["username"] for r in rankings["on_time"]] == ["perf_b", "perf_a"]
    assert [r["username"] for r in rankings["satisfaction"]] == ["perf_a"]
    assert [(r["username"], r["value"]) for r in rankings["visit_coverage"]] == [
        ("perf_b", 1.0), ("perf_a", 0.5), ("perf_c", 0.0)]


def test_visits_by_month(data):
    months = service.performance(make_user("admin"), date(2026, 10, 1), END)["visits_by_month"]
    assert months == [{"month": "2026-10", "visits": 1, "interactions": 1},
                      {"month": "2026-11", "visits": 3, "interactions": 5}]


def test_county_scoped_user_sees_their_county_and_the_city(data):
    hc = make_user("coordinator", county="汇川区")
    result = service.performance(hc, START, END)
    assert result["scope"] == "county" and result["county"] == "汇川区"
    assert [row["county"] for row in result["counties"]] == ["汇川区"]
    assert result["city"]["requests_raised"] == 7 and result["total"]["requests_raised"] == 4
    assert result["total"]["coverage"] == 0.5
    # B appears for the visit to e1 (汇川区) only
    b = next(row for row in result["commissioners"] if row["username"] == "perf_b")
    assert (b["visits"], b["requests_raised"], b["assigned_enterprises"]) == (1, 0, 0)
    with pytest.raises(Forbidden):
        service.performance(hc, START, END, county="红花岗区")
    assert service.performance(make_user("leader", county="汇川区"), START, END, county="汇川区")["scope"] == "county"


def test_city_user_may_select_a_county(data):
    result = service.performance(make_user("coordinator"), START, END, county="红花岗区")
    assert result["county"] == "红花岗区" and result["total"]["requests_overdue"] == 2
    assert result["city"]["requests_overdue"] == 3
    with pytest.raises(ValidationFailed) as err:
        service.performance(make_user("admin"), START, END, county="火星区")
    assert "county" in err.value.fields


def test_commissioner_sees_only_their_own(data):
    result = service.performance(data.a, START, END)
    assert result["scope"] == "own" and result["city"] is None
    assert result["counties"] == [] and result["departments"] == [] and result["rankings"] == {}
    assert [row["username"] for row in result["commissioners"]] == ["perf_a"]
    assert result["total"]["requests_closed"] == 3 and result["total"]["visit_coverage"] == 0.5
    assert result["total"]["coverage"] is None and result["total"]["meetings_chengyu"] is None
    assert result["visits_by_month"] == [{"month": "2026-11", "visits": 1, "interactions": 2}]


def test_any_other_role_is_refused(data):
    # no liaison role exists yet: whoever is not a city, county or commissioner user is refused
    with pytest.raises(Forbidden):
        service.performance(SimpleNamespace(role=None, county_id=None, id=0), START, END)


def test_statement_count_does_not_grow(data, count_queries):
    admin = make_user("admin")
    with count_queries() as small:
        service.performance(admin, START, END)
    with count_queries() as small_county:
        service.performance(admin, START, END, county="汇川区")
    grow(data, 12)
    with count_queries() as large:
        result = service.performance(admin, START, END)
    with count_queries() as large_county:
        service.performance(admin, START, END, county="汇川区")
    assert result["city"]["requests_closed"] == 4 + 12
    assert len(result["commissioners"]) == 3 + 12
    assert large.count == small.count and large_county.count == small_county.count
    assert large.count <= 16  # 15, and on PostgreSQL the data versions of the cache (crm/core/cache.py)


@pytest.mark.parametrize(("raw_from", "raw_to", "expected"), [
    ("", "", (date(2026, 12, 1), date(2026, 12, 6))),
    ("2026-11-01", "2026-11-30", (START, END)),
    ("", "2026-11-20", (START, date(2026, 11, 20))),
    ("2026-10-05", "", (date(2026, 10, 5), date(2026, 12, 6))),
])
def test_parse_period(raw_from, raw_to, expected):
    assert service.parse_period(raw_from, raw_to, today=date(2026, 12, 6)) == expected


@pytest.mark.parametrize(("raw_from", "raw_to", "field"), [
    ("2026-13-01", "", "from"), ("", "明天", "to"), ("2026-11-30", "2026-11-01", "from"),
    ("2020-01-01", "2026-01-01", "to"),
])
def test_parse_period_refusals(raw_from, raw_to, field):
    with pytest.raises(ValidationFailed) as err:
        service.parse_period(raw_from, raw_to, today=date(2026, 12, 6))
    assert field in err.value.fields


def test_records_behind_the_numbers(data):
    admin = make_user("admin")
    overdue = service.records(admin, "requests_overdue", START, END)
    assert sorted(row["enterprise"] for row in overdue["rows"]) == ["绩效测试三号", "绩效测试二号", "绩效测试四号"]
    assert all(row["link"].startswith("/service/requests/") for row in overdue["rows"])
    uncovered = service.records(admin, "uncovered", START, END, county="汇川区")
    assert [row["enterprise_id"] for row in uncovered["rows"]] == [data.e2.id]
    closed = service.records(admin, "requests_closed", START, END, department=data.d1.id)
    assert len(closed["rows"]) == 2
    assert len(service.records(admin, "requests_raised", START, END, department="none")["rows"]) == 5
    unvisited = service.records(admin, "unvisited", START, END, commissioner=data.a.id)
    assert [row["enterprise_id"] for row in unvisited["rows"]] == [data.e2.id]
    mine = service.records(data.a, "visits", START, END)
    assert [row["enterprise_id"] for row in mine["rows"]] == [data.e1.id]
    with pytest.raises(Forbidden):
        service.records(data.a, "visits", START, END, commissioner=data.b.id)
    with pytest.raises(Forbidden):
        service.records(data.a, "uncovered", START, END)
    meetings = service.records(admin, "meetings_chengyu", START, END)["rows"]
    assert len(meetings) == 1 and meetings[0]["link"].startswith("/meetings/")
    assert "成都对接会" in meetings[0]["text"] and "遵义座谈会" not in str(meetings)
    assert service.records(admin, "meetings_chengyu", START, END, county="红花岗区")["rows"] == []
    assert len(service.records(admin, "meetings_chengyu", START, END, county="汇川区")["rows"]) == 1
    with pytest.raises(Forbidden):
        service.records(data.a, "meetings_chengyu", START, END)
    with pytest.raises(ValidationFailed):
        service.records(admin, "nonsense", START, END)
    with pytest.raises(ValidationFailed):
        service.records(admin, "visits", START, END, department="x")
