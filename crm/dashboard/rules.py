"""The counting rules: how every actual on the targets dashboard is counted, stated in Chinese beside its number.

Fixed by the plan's wording (DESIGN.md, issue 9) and only stated here:

- a firm counts toward year Y's 规上配套企业 when it is 规上 in Y (that year's ``EnterpriseFigure.above_scale`` when
  recorded, else ``Enterprise.above_scale``) and is on the 配套企业名单 edition in force on 31 December of Y (the
  latest published edition whose period starts on or before that day; for a year not yet over, the latest
  published edition), counted in its county;
- 产值 is those firms' output of Y (万元 → 亿元), their 成渝配套产值 beside it;
- settled 成渝 firms: ``settled_from_chengyu`` with ``settled_on`` from ``settled_since`` to 31 December of Y;
- parks: ``Park.supporting`` with ``recognised_on`` on or before 31 December of Y.

Settable by admins (the one ``CountingRules`` row, id 1, audited): which 产值 is summed, since when settled firms
count, where the straight-line trajectory starts. Reading never writes: until an admin saves the rules (or the
year-end job freezes a year) the defaults are used from an unsaved row, so a page stays read-only.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import audit
from crm.core.audit import AuditAction, AuditEntity
from crm.core.errors import Forbidden, ValidationFailed
from crm.core.parsing import check_version, parse_enum
from crm.core.time import local_today
from crm.core.transactions import lock_for_update
from crm.dashboard.models import PLAN_DATE, CountingRules, OutputMeasure
from crm.extensions import db
from crm.rosters.domain import period_label
from crm.rosters.models import FROZEN, EditionStatus, RosterEdition, RosterKind

RULES_ID = 1
LIST_KIND = RosterKind.SUPPLIER_LIST
SETTABLE = ("output_measure", "settled_since", "trajectory_start")
INVALID = "统计口径有误"
MIN_DATE, MAX_DATE = date(2000, 1, 1), date(2100, 12, 31)


def _defaults() -> CountingRules:
    return CountingRules(id=RULES_ID, output_measure=OutputMeasure.OUTPUT, settled_since=PLAN_DATE,
                         trajectory_start=PLAN_DATE, version=1)


def current_rules() -> CountingRules:
    """The rules in force: the saved row, or (never saved yet) the defaults in an unsaved row."""
    rules = db.session.get(CountingRules, RULES_ID)
    return rules if rules is not None else _defaults()


def stored_rules() -> CountingRules:
    """The row itself, created with the defaults on first use (for a write: the caller's transaction)."""
    rules = lock_for_update(CountingRules, RULES_ID)
    if rules is None:
        rules = _defaults()
        db.session.add(rules)
        db.session.flush()
    return rules


def may_edit(user: Any) -> bool:
    return bool(getattr(user, "active", False)) and getattr(user, "role", None) is Role.ADMIN


def _parse_date(raw: Any, field: str, what: str, fields: dict[str, str]) -> date | None:
    if isinstance(raw, date):
        value = raw
    elif isinstance(raw, str) and raw.strip():
        try:
            value = date.fromisoformat(raw.strip())
        except ValueError:
            fields[field] = f"{what}格式应为 YYYY-MM-DD"
            return None
    else:
        fields[field] = f"请填写{what}(YYYY-MM-DD)"
        return None
    if not MIN_DATE <= value <= MAX_DATE:
        fields[field] = f"{what}应在 2000 年至 2100 年之间"
        return None
    return value


def update_rules(actor: Any, data: dict[str, Any], *, version: Any = None) -> CountingRules:
    """Change the settable rules (admins only); only the keys given change; audited old → new."""
    if not may_edit(actor):
        raise Forbidden("只有管理员可以修改统计口径")
    fields: dict[str, str] = {}
    unknown = sorted(set(data) - set(SETTABLE))
    if unknown:
        raise ValidationFailed(INVALID, {name: "不能修改该项" for name in unknown})
    values: dict[str, Any] = {}
    if "output_measure" in data:
        values["output_measure"] = parse_enum(OutputMeasure, data["output_measure"], field="output_measure",
                                              what="产值口径", fields=fields, required=True, by_label=True)
    if "settled_since" in data:
        values["settled_since"] = _parse_date(data["settled_since"], "settled_since", "落户起算日期", fields)
    if "trajectory_start" in data:
        values["trajectory_start"] = _parse_date(data["trajectory_start"], "trajectory_start", "进度起算日期", fields)
    if fields:
        raise ValidationFailed(INVALID, fields)
    rules = stored_rules()
    check_version(rules, version)
    changes = audit.diff(rules, values)
    if changes:
        for key, value in values.items():
            setattr(rules, key, value)
        rules.updated_by_id = getattr(actor, "id", None)
        db.session.flush()
        audit.record(actor, AuditEntity.COUNTING_RULES, rules.id, AuditAction.UPDATE, changes, summary="修改统计口径")
    return rules


# --- the list edition a year is counted by --------------------------------------------------------------------

def year_end(year: int) -> date:
    return date(year, 12, 31)


def year_over(year: int, today: date | None = None) -> bool:
    return (today or local_today()) > year_end(year)


def edition_in_force(year: int, *, today: date | None = None) -> RosterEdition | None:
    """The 配套企业名单 edition a year is counted by: for a year that is over, the latest published edition (now
    published or superseded) whose half year starts on or before 31 December; else the latest published one."""
    stmt = sa.select(RosterEdition).where(RosterEdition.kind == LIST_KIND)
    if year_over(year, today):
        stmt = stmt.where(RosterEdition.status.in_(FROZEN), RosterEdition.period <= f"{year}H2")
    else:
        stmt = stmt.where(RosterEdition.status == EditionStatus.PUBLISHED)
    return db.session.scalar(stmt.order_by(RosterEdition.period.desc()).limit(1))


# --- the statements ------------------------------------------------------------------------------------------

def _day(value: date) -> str:
    return f"{value.year}年{value.month}月{value.day}日"


def describe(rules: CountingRules, year: int, *, edition: RosterEdition | None | bool = False,
             today: date | None = None) -> dict[str, Any]:
    """How each actual of ``year`` is counted: a Chinese sentence per number (``firms``, ``output``,
    ``settled_from_chengyu``, ``parks``, ``trajectory``) and the values behind them (``list``, ``list_edition``,
    ``list_date``, ``output_measure``, ``settled_since``, ``settled_until``, ``parks_until``, ``trajectory_start``).

    ``edition``: the edition in force when the caller already has it (``None``: there is none); looked up when
    not given."""
    if edition is False:
        edition = edition_in_force(year, today=today)
    end = year_end(year)
    over = year_over(year, today)
    list_name = LIST_KIND.label
    which = "(尚无已发布版本,计为 0)" if edition is None else f"({period_label(edition.period)}版)"
    list_text = (f"{_day(end)}有效的《{list_name}》{which}" if over
                 else f"最新发布的《{list_name}》{which}(年度未结束)")
    measure = rules.output_measure
    firms = (f"{year}年规上(以该企业{year}年产值记录中的规上标记为准,未记录时以档案当前标记为准)"
             f"且列入{list_text}的企业,计入其所在区县")
    output = (f"上述企业{year}年的{measure.label},由万元折算为亿元(÷10000);旁列其成渝配套产值")
    settled = f"成渝地区落户企业,落户日期在{_day(rules.settled_since)}至{_day(end)}之间"
    parks = f"已认定的配套产业园区,认定日期在{_day(end)}(含)之前"
    trajectory = (f"应完成比例按{_day(rules.trajectory_start)}至{_day(end)}的直线进度计;"
                  "达到应完成比例为绿色,达到其 80% 为黄色,低于为红色")
    return {
        "firms": firms,
        "output": output,
        "settled_from_chengyu": settled,
        "parks": parks,
        "trajectory": trajectory,
        "list": list_name,
        "list_edition": edition.period if edition is not None else None,
        "list_date": end.isoformat() if over else None,
        "output_measure": measure.value,
        "output_measure_label": measure.label,
        "settled_since": rules.settled_since.isoformat(),
        "settled_until": end.isoformat(),
        "parks_until": end.isoformat(),
        "trajectory_start": rules.trajectory_start.isoformat(),
    }
