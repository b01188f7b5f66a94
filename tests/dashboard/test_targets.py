"""Targets against actuals on a small known data set (tests/dashboard/targets_world.py); every expected number is
worked out by hand here."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.core.errors import Forbidden, NotFound
from crm.dashboard import rules as rules_domain
from crm.dashboard import targets
from crm.extensions import db
from crm.reference import domain as reference
from crm.reference.models import Target
from crm.rosters import domain as rosters
from tests.conftest import make_enterprise, make_user
from tests.dashboard import targets_world

TODAY = date(2026, 12, 6)  # 2025 is over, 2027 is not


@pytest.fixture
def world():
    return targets_world.build()


@pytest.fixture
def admin():
    return make_user("admin")


def unit(data, name):
    return next(row for row in data["units"] if row["unit"] == name)


def test_target_years():
    assert targets.target_years() == [2025, 2027]  # the plan's, as seeded


def test_edition_in_force_is_the_last_published_of_a_year_over_and_the_latest_otherwise(world):
    # 2025 is over: 2025H2 (superseded since by 2026H1) was in force on 31 December
    assert rules_domain.edition_in_force(2025, today=TODAY).period == "2025H2"
    # 2027 is not over: the latest published edition; the 2026H2 draft does not count
    assert rules_domain.edition_in_force(2027, today=TODAY).period == "2026H1"
    # 2024 is over and no edition had started by its end
    assert rules_domain.edition_in_force(2024, today=TODAY) is None


def test_actuals_of_a_year_that_is_over(world):
    counted = targets.actuals(2025, today=TODAY)
    assert counted["edition"] == "2025H2"
    # 汇川区: A (25,000 万元, 成渝 5,000) and F (no figure: 0); B is 规下 in 2025 by its figure, D left the list
    assert counted["units"]["汇川区"] == {"firms": 2, "output": 2.5, "chengyu_output": 0.5}
    # 桐梓县: C, 规上 in 2025 by its figure though 规下 now: 12,345.67 万元 = 1.234567 亿元
    assert counted["units"]["桐梓县"] == {"firms": 1, "output": 1.234567, "chengyu_output": 0.034567}
    assert "红花岗区" not in counted["units"]  # E is only on a draft
    assert counted["city"] == {"firms": 3, "output": 3.734567, "chengyu_output": 0.534567}
    # settled since 2024-12-03 up to 2025-12-31: S2 (on the start day) and S3; S1 before, S4 after, S5 not 成渝
    assert counted["settled_from_chengyu"] == 2
    # parks recognised by 2025-12-31: P1 only (P3 is not a 配套产业园区, P4 has no recognition date)
    assert counted["parks"] == 1


def test_actuals_of_a_year_not_over(world):
    counted = targets.actuals(2027, today=TODAY)
    assert counted["edition"] == "2026H1"
    # A (2027: 40,000 万元), B (规上 now, no 2027 figure), F; C is 规下 now and has no 2027 figure
    assert counted["units"] == {"汇川区": {"firms": 3, "output": 4.0, "chengyu_output": 0.1}}
    assert counted["settled_from_chengyu"] == 3  # S2, S3, S4
    assert counted["parks"] == 2  # P1, P2


def test_one_county(world):
    counted = targets.actuals(2025, county="桐梓县", today=TODAY)
    assert list(counted["units"]) == ["桐梓县"]
    assert counted["city"]["firms"] == 3  # the city total stays the whole city's


def test_the_chengyu_measure(world, admin):
    rules_domain.update_rules(admin, {"output_measure": "chengyu_output_value"})
    counted = targets.actuals(2025, today=TODAY)
    assert counted["units"]["汇川区"]["output"] == 0.5  # A's 5,000 万元 of 成渝配套产值
    assert counted["city"]["output"] == 0.534567


def test_settled_since_is_settable(world, admin):
    rules_domain.update_rules(admin, {"settled_since": "2024-12-01"})
    assert targets.actuals(2025, today=TODAY)["settled_from_chengyu"] == 3  # S1 now counts too


def test_dashboard_of_a_past_year(world, admin):
    data = targets.dashboard(2025, admin, today=TODAY)
    assert data["year"] == 2025 and data["frozen"] is False and data["frozen_at"] is None
    assert data["as_of"] == "2025-12-31" and data["expected_share"] == 1.0
    city = data["city"]
    assert city["unit"] == "遵义市" and city["county"] is None
    assert (city["target_firms"], city["actual_firms"], city["gap_firms"]) == (10, 3, 7)
    assert (city["target_output"], city["actual_output"], city["gap_output"]) == (10.0, 3.734567, 6.265433)
    assert city["status_firms"] == "red"  # 30% of a target due whole
    assert [row["unit"] for row in data["units"]] == ["汇川区", "桐梓县"]  # the counties with a target, in order
    hc = unit(data, "汇川区")
    assert (hc["target_firms"], hc["actual_firms"], hc["target_output"], hc["actual_output"]) == (6, 2, 6.0, 2.5)
    assert hc["chengyu_output"] == 0.5
    assert data["parks"] == {"target": 2, "actual": 1, "gap": 1, "status": "red"}  # 50% < 80%
    assert data["settled_from_chengyu"] == {"target": 4, "actual": 2, "gap": 2, "status": "red"}
    assert data["edition"] == "2025H2"
    assert data["targets_add_up"] == []
    assert "2025年12月31日" in data["rules"]["firms"] and "2025年下半年版" in data["rules"]["firms"]


def test_trajectory_colours_at_a_fixed_today(world, admin):
    # 2027 seen on 2026-06-01: from 2024-12-03 to 2027-12-31 is 28 + 365 + 365 + 365 = 1123 days, of which
    # 28 + 365 + 152 (2026-01-01 … 2026-06-01) = 545 are gone: 545 / 1123 = 0.4853 of every target is due;
    # amber from 0.8 × 0.4853 = 0.3882
    data = targets.dashboard(2027, admin, today=date(2026, 6, 1))
    assert data["expected_share"] == 0.4853
    assert data["as_of"] == "2026-06-01"
    hc = unit(data, "汇川区")
    # the edition in force then is still 2026H1 (published) here: A, B, F
    assert hc["actual_firms"] == 3 and hc["status_firms"] == "red"  # 3 / 12 = 0.25
    assert hc["actual_output"] == 4.0 and hc["status_output"] == "green"  # 4 / 8 = 0.5 ≥ 0.4853
    assert data["parks"]["status"] == "amber"  # 2 / 5 = 0.4: below 0.4853, above 0.3882
    assert data["settled_from_chengyu"]["status"] == "red"  # 3 / 10 = 0.3
    tz = unit(data, "桐梓县")
    assert tz["actual_firms"] == 0 and tz["status_firms"] == "red"


def test_status_boundaries():
    share = Decimal("0.5")
    assert targets.status(5, 10, share) == "green"
    assert targets.status(4, 10, share) == "amber"  # 0.4 is 80% of 0.5
    assert targets.status(3.99, 10, share) == "red"
    assert targets.status(0, 0, share) == "green"  # nothing to reach
    assert targets.status(0, None, share) is None
    assert targets.status(0, 10, Decimal(0)) == "green"  # before the trajectory starts nothing is due


def test_trajectory_start_is_settable(world, admin):
    rules_domain.update_rules(admin, {"trajectory_start": "2026-06-01"})
    data = targets.dashboard(2027, admin, today=date(2026, 6, 1))
    assert data["expected_share"] == 0.0
    assert data["parks"]["status"] == "green"


def test_county_targets_that_do_not_add_up(world, admin):
    target = db.session.scalars(sa.select(Target).where(Target.year == 2025, Target.county_id.is_not(None))).first()
    target.target_firms += 1
    target.target_output += 2
    db.session.flush()
    messages = targets.dashboard(2025, admin, today=TODAY)["targets_add_up"]
    assert messages == reference.targets_add_up(2025)  # the reference helper's check, as it says it
    assert len(messages) == 2 and "11 家" in messages[0] and "12 亿元" in messages[1]
    assert targets.dashboard(2027, admin, today=TODAY)["targets_add_up"] == []


def test_the_seeded_targets_add_up():
    admin = make_user("admin")
    assert targets.dashboard(2025, admin)["targets_add_up"] == []
    assert targets.dashboard(2027, admin)["targets_add_up"] == []


# --- who sees what -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", [{"role": "admin"}, {"role": "leader"}, {"role": "coordinator"}])
def test_city_wide_readers_see_every_county(world, spec):
    data = targets.dashboard(2025, make_user(**spec), today=TODAY)
    assert [row["unit"] for row in data["units"]] == ["汇川区", "桐梓县"]


@pytest.mark.parametrize("role", ["coordinator", "leader"])
def test_a_county_scoped_user_sees_their_county_and_the_city(world, role):
    data = targets.dashboard(2025, make_user(role, county="桐梓县"), today=TODAY)
    assert [row["unit"] for row in data["units"]] == ["桐梓县"]
    assert data["city"]["actual_firms"] == 3  # the city total stays whole


@pytest.mark.parametrize("county", [None, "汇川区"])
def test_commissioners_are_refused(world, county):
    commissioner = make_user("commissioner", county=county, specialties=["tech"])
    with pytest.raises(Forbidden):
        targets.dashboard(2025, commissioner, today=TODAY)
    with pytest.raises(Forbidden):
        targets.drill_firms(2025, commissioner, county="汇川区", today=TODAY)
    with pytest.raises(Forbidden):
        targets.drill_settled(2025, commissioner, today=TODAY)
    with pytest.raises(Forbidden):
        targets.drill_parks(2025, commissioner)


def test_inactive_user_is_refused(world):
    leader = make_user("leader")
    leader.active = False
    with pytest.raises(Forbidden):
        targets.dashboard(2025, leader, today=TODAY)


def test_a_year_without_targets_is_not_found(world, admin):
    with pytest.raises(NotFound):
        targets.dashboard(2026, admin, today=TODAY)


# --- drill-down --------------------------------------------------------------------------------------------------

def test_drill_down_lists_the_firms_counted(world, admin):
    f = world.firms
    rows = targets.drill_firms(2025, admin, county="汇川区", today=TODAY)
    assert [(r["id"], r["output"], r["chengyu_output"]) for r in rows] == [(f["A"].id, 2.5, 0.5), (f["F"].id, 0.0, 0.0)]
    city = targets.drill_firms(2025, admin, today=TODAY)
    assert [r["id"] for r in city] == [f["A"].id, f["C"].id, f["F"].id]
    assert sum(r["output"] for r in city) == pytest.approx(3.734567)


def test_drill_down_is_scoped(world):
    scoped = make_user("coordinator", county="桐梓县")
    assert [r["name"] for r in targets.drill_firms(2025, scoped, today=TODAY)] == ["桐梓丙配套有限公司"]
    with pytest.raises(Forbidden):
        targets.drill_firms(2025, scoped, county="汇川区", today=TODAY)
    assert targets.drill_settled(2025, scoped, today=TODAY) == []  # the settled firms are in 播州区


def test_drill_down_of_settled_firms_and_parks(world, admin):
    s, p = world.settled, world.parks
    assert [r["id"] for r in targets.drill_settled(2025, admin, today=TODAY)] == [s["S2"].id, s["S3"].id]
    assert [r["id"] for r in targets.drill_parks(2027, admin)] == [p["P1"].id, p["P2"].id]


# --- statements --------------------------------------------------------------------------------------------------

def _listed(period: str, n: int) -> None:
    edition = rosters.open_edition(None, targets_world.KIND, period)
    for i in range(n):
        firm = make_enterprise(county="汇川区" if i % 2 else "桐梓县")
        targets_world.figure(firm, 2027, "1000")
        rosters.add_entry(None, edition, firm, "入库测试")
    targets_world.publish(edition)
    db.session.flush()


@pytest.mark.parametrize("function", ["dashboard", "drill_firms"])
def test_statement_count_does_not_grow_with_the_enterprises(world, admin, count_queries, function):
    def run() -> int:
        db.session.expire_all()
        with count_queries() as queries:
            result = getattr(targets, function)(2027, admin, today=TODAY)
        return queries.count, result

    _listed("2027H1", 5)
    few, result = run()
    if function == "dashboard":
        assert result["city"]["actual_firms"] == 5 + 3  # besides A, B and F
    _listed("2027H2", 45)  # a copy of 2027H1 and 45 more
    many, result = run()
    if function == "dashboard":
        assert result["city"]["actual_firms"] == 50 + 3
    else:
        assert len(result) == 53
    assert few == many
