"""A small known data set for the targets dashboard; the expected numbers are worked out in each test.

Targets (replacing the plan's seeded ones inside the test's transaction):
- 2025: city 10 firms / 10 亿元; 汇川区 6 / 6; 桐梓县 4 / 4; parks 2; settled 4.
- 2027: city 20 / 20; 汇川区 12 / 8; 桐梓县 8 / 12; parks 5; settled 10.

The 配套企业名单: 2025H1 [A, D] → 2025H2 (D removed, C and F added; now superseded) → 2026H1 (B added; the latest
published) → 2026H2 a draft with E added.

- A 汇川区, 规上; 2025 figure 25,000 万元 (成渝 5,000), no flag of the year; 2027 figure 40,000 万元.
- B 汇川区, 规上 now, but its 2025 figure says 规下 (30,000 万元); on the list from 2026H1.
- C 桐梓县, 规下 now, but its 2025 figure says 规上 (12,345.67 万元, 成渝 345.67).
- D 汇川区, 规上, 2025 figure 9,000 万元; on 2025H1 only (left the list).
- E 红花岗区, 规上, 2025 figure 7,000 万元; only on the 2026H2 draft.
- F 汇川区, 规上, no figure at all.
Settled 成渝 firms (not on the list): S1 2024-12-02, S2 2024-12-03, S3 2025-06-01, S4 2026-03-01; S5 not 成渝 (2025).
Parks: P1 recognised 2025-05-01; P2 2026-02-01; P3 not a 配套产业园区 (2025-01-01); P4 配套 but no date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from crm.enterprises.models import EnterpriseFigure
from crm.extensions import db
from crm.reference.models import County, Park, PlanTarget, Target
from crm.rosters import domain as rosters
from crm.rosters.models import RosterKind
from tests.conftest import make_enterprise

KIND = RosterKind.SUPPLIER_LIST


@dataclass
class World:
    firms: dict[str, Any] = field(default_factory=dict)
    settled: dict[str, Any] = field(default_factory=dict)
    parks: dict[str, Park] = field(default_factory=dict)
    editions: dict[str, Any] = field(default_factory=dict)


def set_targets(year: int, city: tuple[int, int], counties: dict[str, tuple[int, int]], parks: int,
                settled: int) -> None:
    ids = dict(db.session.execute(sa.select(County.name, County.id)).all())
    db.session.add(Target(year=year, county_id=None, target_firms=city[0], target_output=Decimal(city[1])))
    for name, (firms, output) in counties.items():
        db.session.add(Target(year=year, county_id=ids[name], target_firms=firms, target_output=Decimal(output)))
    db.session.add(PlanTarget(year=year, metric="parks", target=parks))
    db.session.add(PlanTarget(year=year, metric="settled_from_chengyu", target=settled))


def clear_reference_counts() -> None:
    db.session.execute(sa.delete(Target))
    db.session.execute(sa.delete(PlanTarget))
    db.session.execute(sa.update(Park).values(supporting=False, recognised_on=None))


def figure(enterprise, year: int, output: str, chengyu: str = "0", above_scale: bool | None = None):
    row = EnterpriseFigure(enterprise_id=enterprise.id, year=year, output_value=Decimal(output),
                           chengyu_output_value=Decimal(chengyu), above_scale=above_scale)
    db.session.add(row)
    return row


def publish(edition):
    rosters.submit(None, edition)
    rosters.publish(None, edition)
    return edition


def build() -> World:
    clear_reference_counts()
    set_targets(2025, (10, 10), {"汇川区": (6, 6), "桐梓县": (4, 4)}, parks=2, settled=4)
    set_targets(2027, (20, 20), {"汇川区": (12, 8), "桐梓县": (8, 12)}, parks=5, settled=10)
    w = World()
    f = w.firms
    f["A"] = make_enterprise("遵义甲配套有限公司", county="汇川区", above_scale=True)
    f["B"] = make_enterprise("遵义乙配套有限公司", county="汇川区", above_scale=True)
    f["C"] = make_enterprise("桐梓丙配套有限公司", county="桐梓县", above_scale=False)
    f["D"] = make_enterprise("遵义丁配套有限公司", county="汇川区", above_scale=True)
    f["E"] = make_enterprise("遵义戊配套有限公司", county="红花岗区", above_scale=True)
    f["F"] = make_enterprise("遵义己配套有限公司", county="汇川区", above_scale=True)
    figure(f["A"], 2025, "25000", "5000")
    figure(f["A"], 2027, "40000", "1000")
    figure(f["B"], 2025, "30000", "3000", above_scale=False)
    figure(f["C"], 2025, "12345.67", "345.67", above_scale=True)
    figure(f["D"], 2025, "9000", "900")
    figure(f["E"], 2025, "7000", "700")
    db.session.flush()

    h1 = rosters.open_edition(None, KIND, "2025H1")
    for key in "AD":
        rosters.add_entry(None, h1, f[key], "入库测试")
    w.editions["2025H1"] = publish(h1)
    h2 = rosters.open_edition(None, KIND, "2025H2")
    rosters.remove_entry(None, h2, f["D"], "迁出测试")
    for key in "CF":
        rosters.add_entry(None, h2, f[key], "入库测试")
    w.editions["2025H2"] = publish(h2)
    n1 = rosters.open_edition(None, KIND, "2026H1")
    rosters.add_entry(None, n1, f["B"], "入库测试")
    w.editions["2026H1"] = publish(n1)
    draft = rosters.open_edition(None, KIND, "2026H2")
    rosters.add_entry(None, draft, f["E"], "入库测试")
    w.editions["2026H2"] = draft

    s = w.settled
    for key, day, chengyu in (("S1", date(2024, 12, 2), True), ("S2", date(2024, 12, 3), True),
                              ("S3", date(2025, 6, 1), True), ("S4", date(2026, 3, 1), True),
                              ("S5", date(2025, 1, 1), False)):
        s[key] = make_enterprise(f"成渝落户测试{key}有限公司", county="播州区", above_scale=False,
                                 settled_from_chengyu=chengyu, settled_on=day.isoformat() if chengyu else None)
    s["S5"].settled_on = date(2025, 1, 1)

    hc = db.session.scalar(sa.select(County).where(County.name == "汇川区"))
    for key, supporting, day in (("P1", True, date(2025, 5, 1)), ("P2", True, date(2026, 2, 1)),
                                 ("P3", False, date(2025, 1, 1)), ("P4", True, None)):
        park = Park(name=f"测试配套产业园{key}", county_id=hc.id, supporting=supporting, recognised_on=day)
        db.session.add(park)
        w.parks[key] = park
    db.session.flush()
    return w
