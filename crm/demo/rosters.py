"""Demo editions of both lists and the holiday table, so a newcomer sees a published list and a refresh under way.

Published editions for every half year from 2025H1 up to the one before today's, and today's half year as a
draft opened on its first day (the scheduler's job would have opened it). Existing editions are left alone.
"""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from crm.core.time import SHANGHAI, local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.rosters import domain
from crm.rosters.models import RosterKind, Tier

FIRST_PERIOD = "2025H1"
# Named in the plan as 龙头企业 (so 龙头 in the pool); the others that the plan names are 链主 candidates.
LEADERS = ("容百", "梅岭", "天磁", "遵义钛业")
CHAIN_MASTERS = ("航锐", "双盛", "长征汽车", "华明", "正合")


def seed_holidays() -> int:
    today = local_today()
    result = load_from_chinese_calendar(range(2024, today.year + 2))
    return len(result.loaded)


def seed_rosters() -> int:
    """Create the demo editions that are missing; return how many were created."""
    enterprises = [e for e in db.session.scalars(sa.select(Enterprise).where(Enterprise.is_demo.is_(True))
                                                 .order_by(Enterprise.id))]
    if not enterprises:
        return 0
    current = domain.period_of(local_today())
    periods = []
    period = FIRST_PERIOD
    while period <= current:
        periods.append(period)
        period = domain.next_period(period)
    created = 0
    for kind in RosterKind:
        rng = random.Random(f"{kind.value}-20241203")
        candidates = _candidates(kind, enterprises)
        for index, period in enumerate(periods):
            if domain.find_edition(kind, period) is not None:
                continue
            edition = domain.open_edition(None, kind, period)
            members = {entry.enterprise_id for entry in edition.entries}
            share = min(0.55 + 0.12 * index, 0.9)
            wanted = candidates[: int(len(candidates) * share)]
            for enterprise in wanted:
                if enterprise.id not in members:
                    domain.add_entry(None, edition, enterprise, _reason(kind, enterprise, period),
                                     _tier(enterprise) if kind is RosterKind.CULTIVATION_POOL else None)
            if index > 0 and edition.entries:
                for entry in rng.sample(list(edition.entries), k=min(2, len(edition.entries))):
                    if entry.enterprise.name.startswith(("贵州容百", "贵州梅岭")):
                        continue
                    domain.remove_entry(None, edition, entry.enterprise,
                                        rng.choice(["年度成渝配套产值下降,暂不符合入库条件",
                                                    "企业产品转型,不再配套成渝整机企业",
                                                    "企业申请移出,拟下期重新申报"]))
            start = datetime.combine(domain.period_start(period), time(0, 5), SHANGHAI)
            edition.opened_at = start
            if period != current:
                domain.submit(None, edition)
                domain.publish(None, edition)
                edition.submitted_at = start + timedelta(days=70)
                edition.published_at = start + timedelta(days=80)
            created += 1
    db.session.flush()
    return created


def _candidates(kind: RosterKind, enterprises: list[Enterprise]) -> list[Enterprise]:
    """Supplier list: firms that supply 成渝 partners; pool: 规上 firms by their latest 产值, largest first."""
    if kind is RosterKind.SUPPLIER_LIST:
        chosen = [e for e in enterprises if e.partner_links]
    else:
        chosen = [e for e in enterprises if e.above_scale]
    return sorted(chosen, key=lambda e: (-_latest_output(e), e.id))


def _latest_output(enterprise: Enterprise) -> float:
    return float(enterprise.figures[0].output_value) if enterprise.figures else 0.0


def _tier(enterprise: Enterprise) -> Tier:
    if any(key in enterprise.name for key in LEADERS):
        return Tier.LEADER
    if any(key in enterprise.name for key in CHAIN_MASTERS):
        return Tier.CHAIN_MASTER
    return Tier.CULTIVATING


def _reason(kind: RosterKind, enterprise: Enterprise, period: str) -> str:
    if kind is RosterKind.SUPPLIER_LIST and enterprise.partner_links:
        link = enterprise.partner_links[0]
        category = enterprise.supply_category.name if enterprise.supply_category else "配套产品"
        return f"为{link.partner.name}配套{link.supplies}({category})"
    output = _latest_output(enterprise)
    return (f"{enterprise.cluster.name}产业集群规上企业,最近年度产值约 {output:,.0f} 万元,"
            f"{domain.period_label(period)}纳入培育(演示数据)")
