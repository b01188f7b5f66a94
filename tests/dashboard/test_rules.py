"""The counting rules: defaults without a write, admins change them with audit, their Chinese statements."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.dashboard import rules
from crm.dashboard.models import PLAN_DATE, CountingRules, OutputMeasure
from crm.extensions import db
from tests.conftest import make_user
from tests.dashboard import targets_world

TODAY = date(2026, 12, 6)


def test_defaults_are_read_without_writing():
    current = rules.current_rules()
    assert (current.output_measure, current.settled_since, current.trajectory_start) == (
        OutputMeasure.OUTPUT, date(2024, 12, 3), date(2024, 12, 3))
    assert date(2024, 12, 3) == PLAN_DATE
    assert db.session.get(CountingRules, 1) is None and current not in db.session


def test_an_admin_changes_them_with_audit():
    admin = make_user("admin")
    saved = rules.update_rules(admin, {"output_measure": "成渝配套产值", "settled_since": "2025-01-01"})
    assert saved.id == 1 and saved.output_measure is OutputMeasure.CHENGYU
    assert rules.current_rules().settled_since == date(2025, 1, 1)
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == AuditEntity.COUNTING_RULES))
    assert entry.action is AuditAction.UPDATE and entry.actor_id == admin.id
    assert entry.changes == {"output_measure": ["output_value", "chengyu_output_value"],
                             "settled_since": ["2024-12-03", "2025-01-01"]}
    # nothing changed: no second audit row
    rules.update_rules(admin, {"output_measure": "chengyu_output_value"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == AuditEntity.COUNTING_RULES)) == 1


@pytest.mark.parametrize("spec", [{"role": "coordinator"}, {"role": "leader"},
                                  {"role": "commissioner", "specialties": ["tech"]}])
def test_only_admins_change_them(spec):
    with pytest.raises(Forbidden):
        rules.update_rules(make_user(**spec), {"settled_since": "2025-01-01"})
    assert db.session.get(CountingRules, 1) is None


@pytest.mark.parametrize(("data", "field"), [
    ({"output_measure": "利润"}, "output_measure"),
    ({"output_measure": ""}, "output_measure"),
    ({"settled_since": "2025-13-01"}, "settled_since"),
    ({"settled_since": 20250101}, "settled_since"),
    ({"trajectory_start": "1999-12-31"}, "trajectory_start"),
    ({"list": "重点企业培育库"}, "list"),
])
def test_bad_values_are_refused_by_field(data, field):
    with pytest.raises(ValidationFailed) as refused:
        rules.update_rules(make_user("admin"), data)
    assert field in refused.value.fields


def test_a_stale_version_is_refused():
    admin = make_user("admin")
    rules.update_rules(admin, {"settled_since": "2025-01-01"})
    with pytest.raises(Conflict):
        rules.update_rules(admin, {"settled_since": "2025-02-01"}, version=99)
    assert rules.current_rules().settled_since == date(2025, 1, 1)


def test_describe_states_each_rule():
    targets_world.build()
    text = rules.describe(rules.current_rules(), 2025, today=TODAY)
    assert text["firms"] == ("2025年规上(以该企业2025年产值记录中的规上标记为准,未记录时以档案当前标记为准)且列入"
                             "2025年12月31日有效的《融入成渝经济圈工业配套企业名单》(2025年下半年版)的企业,计入其所在区县")
    assert text["output"] == "上述企业2025年的产值(全部),由万元折算为亿元(÷10000);旁列其成渝配套产值"
    assert text["settled_from_chengyu"] == "成渝地区落户企业,落户日期在2024年12月3日至2025年12月31日之间"
    assert text["parks"] == "已认定的配套产业园区,认定日期在2025年12月31日(含)之前"
    assert "2024年12月3日至2025年12月31日的直线进度" in text["trajectory"]
    assert (text["list_edition"], text["list_date"], text["output_measure"], text["settled_since"]) == (
        "2025H2", "2025-12-31", "output_value", "2024-12-03")
    assert "演示" not in "".join(str(v) for v in text.values())  # demo rows count like any other: nothing to say
    ongoing = rules.describe(rules.current_rules(), 2027, today=TODAY)
    assert "最新发布的《融入成渝经济圈工业配套企业名单》(2026年上半年版)(年度未结束)" in ongoing["firms"]
    assert ongoing["list_date"] is None


def test_describe_without_any_published_edition():
    text = rules.describe(rules.current_rules(), 2025, edition=None, today=TODAY)
    assert "尚无已发布版本" in text["firms"] and text["list_edition"] is None
