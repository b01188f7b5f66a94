"""The year-end freeze: ``snapshot_targets`` keeps a past year's result from moving when records change later."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.core.time import SHANGHAI
from crm.dashboard import jobs, rules, targets
from crm.dashboard.models import TargetSnapshot
from crm.enterprises.models import EnterpriseFigure
from crm.extensions import db
from crm.scheduler import registry
from crm.scheduler.models import RunOutcome
from crm.scheduler.runner import OffSchedule, run_job
from tests.conftest import make_user
from tests.dashboard import targets_world

NEW_YEAR = datetime(2026, 1, 1, 0, 30, tzinfo=SHANGHAI)
TODAY = date(2026, 12, 6)


@pytest.fixture
def world():
    return targets_world.build()


def test_declared_for_1_january_at_0030():
    spec = registry.get_job("snapshot_targets")
    assert spec.func == "crm.dashboard.jobs:snapshot_targets"
    fire = spec.trigger.get_next_fire_time(None, datetime(2026, 6, 1, tzinfo=SHANGHAI))
    assert fire == datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI)


def test_freezes_the_past_year_once(world):
    assert jobs.snapshot_targets(NEW_YEAR) == "已冻结:2025年"
    snapshot = db.session.scalar(sa.select(TargetSnapshot))
    assert snapshot.year == 2025
    assert snapshot.data["city"]["actual_firms"] == 3 and snapshot.rules["list_edition"] == "2025H2"
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == AuditAction.FREEZE))
    assert entry.entity_type is AuditEntity.TARGET and entry.entity_id == 2025
    # again (a second process, a manual run): nothing more
    assert "没有需要冻结" in jobs.snapshot_targets(NEW_YEAR)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TargetSnapshot)) == 1
    # 2027 is not over in 2026, nor is any year without targets frozen
    assert "没有需要冻结" in jobs.snapshot_targets(datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI))


def test_a_missed_year_is_frozen_on_the_next_run(world):
    assert jobs.snapshot_targets(datetime(2028, 1, 1, 0, 30, tzinfo=SHANGHAI)) == "已冻结:2025年、2027年"


def test_the_frozen_year_does_not_move_after_a_later_edit(world):
    admin = make_user("admin")
    before = targets.dashboard(2025, admin, today=TODAY)
    jobs.snapshot_targets(NEW_YEAR)
    # later: A's 2025 output is corrected, F gets a figure saying 规下, the rules change, a park is recognised
    a_figure = db.session.scalar(sa.select(EnterpriseFigure).where(
        EnterpriseFigure.enterprise_id == world.firms["A"].id, EnterpriseFigure.year == 2025))
    a_figure.output_value = Decimal("99000")
    targets_world.figure(world.firms["F"], 2025, "100", above_scale=False)
    world.parks["P3"].supporting = True
    rules.update_rules(admin, {"settled_since": "2024-01-01"})
    db.session.flush()

    live = targets.compute(2025, today=TODAY)
    assert live["city"]["actual_firms"] == 2 and live["parks"]["actual"] == 2  # the records did move
    frozen = targets.dashboard(2025, admin, today=TODAY)
    assert frozen["frozen"] is True and frozen["frozen_at"].startswith("20")
    assert frozen["city"] == before["city"] and frozen["units"] == before["units"]
    assert frozen["parks"] == before["parks"] and frozen["settled_from_chengyu"] == before["settled_from_chengyu"]
    assert frozen["rules"]["settled_since"] == "2024-12-03"  # the rules it was counted by
    # the drill-down lists what was frozen, with the frozen values
    rows = targets.drill_firms(2025, admin, county="汇川区")
    assert [(r["name"], r["output"]) for r in rows] == [("遵义甲配套有限公司", 2.5), ("遵义己配套有限公司", 0.0)]
    assert len(targets.drill_settled(2025, admin)) == 2 and len(targets.drill_parks(2025, admin)) == 1


def test_a_frozen_year_is_still_scoped(world):
    jobs.snapshot_targets(NEW_YEAR)
    data = targets.dashboard(2025, make_user("leader", county="桐梓县"))
    assert [row["unit"] for row in data["units"]] == ["桐梓县"]


def test_a_year_not_over_cannot_be_frozen(world):
    with pytest.raises(ValueError):
        targets.freeze_data(2027, today=TODAY)


def test_through_the_scheduler_claim(world):
    first = run_job("snapshot_targets", NEW_YEAR)
    assert first.outcome is RunOutcome.SUCCESS and first.summary == "已冻结:2025年"
    assert run_job("snapshot_targets", NEW_YEAR).outcome is RunOutcome.SKIPPED  # the same fire time: claimed
    with pytest.raises(OffSchedule):
        run_job("snapshot_targets", datetime(2026, 1, 2, 0, 30, tzinfo=SHANGHAI))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TargetSnapshot)) == 1
