"""The dashboard's scheduled job (declared in crm/scheduler/registry.py).

:func:`snapshot_targets` fires on 1 January at 00:30 (Asia/Shanghai): it freezes every target year that is over
and not yet frozen (normally the year just ended; a year missed while the scheduler was down is frozen on the
next run), storing the whole city's dashboard and the rules it was counted by in ``TargetSnapshot``, so the
year's result no longer moves when records change later. Like every job it works through ``db.session``, never
commits and returns a Chinese summary; a year already frozen is left as it is (idempotent).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from crm.core import audit
from crm.core.audit import AuditAction, AuditEntity
from crm.core.time import SHANGHAI
from crm.dashboard.models import TargetSnapshot
from crm.dashboard.targets import freeze_data, target_years
from crm.extensions import db


def snapshot_targets(fire_time: datetime) -> str:
    today = fire_time.astimezone(SHANGHAI).date()
    frozen = set(db.session.scalars(sa.select(TargetSnapshot.year)))
    due = [year for year in target_years() if year < today.year and year not in frozen]
    if not due:
        return "没有需要冻结的年度目标(已结束的目标年度均已冻结)"
    for year in due:
        data, rules = freeze_data(year, today=today)
        snapshot = TargetSnapshot(year=year, rules=rules, data=data)
        db.session.add(snapshot)
        db.session.flush()
        city = data["city"]
        audit.record(None, AuditEntity.TARGET, year, AuditAction.FREEZE,
                     {"year": year, "actual_firms": city["actual_firms"], "actual_output": city["actual_output"]},
                     summary=f"冻结{year}年目标完成情况(配套企业 {city['actual_firms']} 家,产值 "
                             f"{city['actual_output']:.2f} 亿元)")
    return "已冻结:" + "、".join(f"{year}年" for year in due)
