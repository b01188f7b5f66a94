"""The plan's reference data (《遵义市特色优势制造业主动融入成渝地区双城经济圈工作方案》), and nothing else.

``seed-reference`` (:func:`load_reference_data`) loads only what the plan states: counties, clusters, supply
categories, the 责任单位 it makes responsible (every 县(市、区)人民政府 included), the 成渝 firms it names, the one
local park it names and its targets. Loading is idempotent and safe in production: existing rows (by name, or
by year and unit for targets) are left alone, whatever an admin has changed since. Everything the plan does not
state — other parks, any park's recognition as a 配套产业园区, a 飞地 park — is demo data
(:func:`load_demo_parks`, marked ``is_demo``), loaded by ``seed-demo`` only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from crm.extensions import db
from crm.reference.models import (
    Cluster,
    County,
    Department,
    EnclaveMode,
    Park,
    ParkKind,
    Partner,
    PlanTarget,
    Region,
    SupplyCategory,
    Target,
)
from crm.tasks.seed import load_tasks

# Zunyi's 14 county-level units and 新蒲新区 (short names as the plan and DESIGN.md use them).
COUNTIES = [
    ("红花岗区", "遵义市红花岗区"),
    ("汇川区", "遵义市汇川区"),
    ("播州区", "遵义市播州区"),
    ("新蒲新区", "遵义市新蒲新区"),
    ("桐梓县", "桐梓县"),
    ("绥阳县", "绥阳县"),
    ("正安县", "正安县"),
    ("道真自治县", "道真仡佬族苗族自治县"),
    ("务川自治县", "务川仡佬族苗族自治县"),
    ("凤冈县", "凤冈县"),
    ("湄潭县", "湄潭县"),
    ("余庆县", "余庆县"),
    ("习水县", "习水县"),
    ("赤水市", "赤水市"),
    ("仁怀市", "仁怀市"),
]
CLUSTERS = ["汽车及电池材料", "航空航天装备", "电子信息", "装备制造", "基础材料", "现代化工", "其他"]
SUPPLY_CATEGORIES = ["关键材料", "关键零部件", "关键设备"]
# The 责任单位 the plan names, in the plan's words ...
NAMED_DEPARTMENTS = [
    "市工业和科学技术局", "市发展改革委", "市投资促进局", "市委军民融合办", "市大数据发展管理局", "市民政局",
    "市人力资源社会保障局", "市税务局", "市财政局", "市能源局", "市水务局", "市自然资源局", "遵义供电局",
    "市综合行政执法局", "市政务服务管理局", "市人民政府驻重庆(成都)办事处",
    "红花岗区人民政府", "汇川区人民政府", "播州区人民政府", "新蒲新区管委会", "桐梓县人民政府",
    "道真自治县人民政府", "正安县人民政府", "务川自治县人民政府",
]
# ... and the plan's "各县(市、区)人民政府" (重点任务 4–18 and the 保障措施): the government of every county-level
# unit (新蒲新区 is named on its own, as 新蒲新区管委会).
ALL_COUNTY_GOVERNMENTS = "各县(市、区)人民政府"
COUNTY_GOVERNMENTS = [f"{name}人民政府" for name, _ in COUNTIES if name != "新蒲新区"]
DEPARTMENTS = NAMED_DEPARTMENTS + [name for name in COUNTY_GOVERNMENTS if name not in NAMED_DEPARTMENTS]
# The 成渝 firms the plan names: (name, region, city, industry chain, the plan's own words for the firm). The
# catalogue keeps each firm's registered name; the last item is how the plan names it (found in its text).
PARTNERS = [
    ("重庆长安汽车股份有限公司", "重庆", "重庆", "汽车", "重庆长安汽车"),
    ("长城汽车股份有限公司重庆分公司", "重庆", "重庆", "汽车", "长城汽车"),
    ("赛力斯集团股份有限公司", "重庆", "重庆", "新能源汽车", "赛力斯"),
    ("成都客车股份有限公司", "四川", "成都", "客车", "成都客车"),
    ("成都飞机工业(集团)有限责任公司", "四川", "成都", "航空", "成都飞机工业(集团)有限责任公司"),
    ("中航成飞民用飞机有限责任公司", "四川", "成都", "航空", "中航成飞民用飞机"),
    ("中国航发成都发动机有限公司", "四川", "成都", "航空发动机", "中国航发成都发动机"),
    ("西南铝业(集团)有限责任公司", "重庆", "重庆", "铝加工", "西南铝业(集团)有限责任公司"),
    ("华峰铝业有限公司", "重庆", "重庆", "铝加工", "华峰铝业有限公司"),
    ("重庆华峰化工有限公司", "重庆", "重庆", "化工", "重庆华峰化工有限公司"),
    ("重庆万凯新材料科技有限公司", "重庆", "重庆", "新材料", "重庆万凯新材料科技有限公司"),
    ("重庆国际复合材料股份有限公司", "重庆", "重庆", "复合材料", "重庆国际复合材料股份有限公司"),
]
# The one local park the plan names (重点任务 1), in the county whose targets that task sets. The plan states no
# recognition of it as a 配套产业园区, so it is seeded unrecognised.
PARKS = [("桐梓(重庆)工业园", "桐梓县", ParkKind.INDUSTRIAL_PARK)]
# The plan's targets: unit → (2025 firms, 2025 产值 亿元, 2027 firms, 2027 产值 亿元); None is the city.
TARGETS = {
    None: (75, 90, 110, 175),
    "桐梓县": (10, 10, 15, 15),
    "红花岗区": (5, 10, 10, 20),
    "汇川区": (35, 40, 40, 80),
    "播州区": (10, 15, 15, 25),
    "新蒲新区": (5, 5, 10, 15),
    "道真自治县": (3, 3, 6, 6),
    "正安县": (5, 5, 10, 10),
    "务川自治县": (2, 2, 4, 4),
}
PLAN_TARGETS = [(2025, "parks", 2), (2027, "parks", 5), (2025, "settled_from_chengyu", 10),
                (2027, "settled_from_chengyu", 50)]

# --- demo: what the plan does not state --------------------------------------------------------------------
DEMO_DOCUMENT = "(演示数据,非真实文件)"


@dataclass(frozen=True)
class DemoPark:
    name: str
    county: str
    kind: ParkKind
    recognised_on: date | None = None
    document: str = ""
    enclave_mode: EnclaveMode | None = None
    chengyu_counterpart: str = ""


DEMO_PARKS = [
    DemoPark("遵义国家高新技术产业开发区", "汇川区", ParkKind.DEVELOPMENT_ZONE, date(2025, 9, 18),
             "遵工信发〔2025〕31号"),
    DemoPark("遵义经济技术开发区", "红花岗区", ParkKind.DEVELOPMENT_ZONE),
    DemoPark("遵义综合保税区", "新蒲新区", ParkKind.DEVELOPMENT_ZONE),
    DemoPark("播州铝及铝加工产业园", "播州区", ParkKind.INDUSTRIAL_PARK),
    DemoPark("务川氟钡化工产业园", "务川自治县", ParkKind.INDUSTRIAL_PARK),
    DemoPark("道真铝土矿资源综合利用园", "道真自治县", ParkKind.INDUSTRIAL_PARK),
    DemoPark("綦江—桐梓共建产业园", "桐梓县", ParkKind.ENCLAVE, enclave_mode=EnclaveMode.SHARED,
             chengyu_counterpart="重庆市綦江区"),
]
# A recognition of a park the plan names (the park stays reference data; its recognition is demo).
DEMO_RECOGNITIONS = {"桐梓(重庆)工业园": (date(2024, 12, 26), "遵工信发〔2024〕58号")}


def _ensure(model, name: str, created: Counter, key: str, **extra):
    row = db.session.scalar(sa.select(model).where(model.name == name))
    if row is None:
        row = model(name=name, **extra)
        db.session.add(row)
        created[key] += 1
    return row


def _county_of_government(name: str, counties: dict[str, County]) -> int | None:
    """红花岗区人民政府 → 红花岗区, 新蒲新区管委会 → 新蒲新区; a city department → None."""
    for suffix in ("人民政府", "管委会"):
        county = counties.get(name.removesuffix(suffix)) if name.endswith(suffix) else None
        if county is not None:
            return county.id
    return None


def load_reference_data() -> Counter:
    """Load what the plan states (idempotent: existing rows are left alone); the caller commits. Returns the
    number of rows created per kind (``counties``, ``departments``, ``partners``, ``parks``, ``targets`` …)."""
    created: Counter = Counter()
    for i, (name, full) in enumerate(COUNTIES):
        _ensure(County, name, created, "counties", full_name=full, sort_order=i)
    for i, name in enumerate(CLUSTERS):
        _ensure(Cluster, name, created, "clusters", sort_order=i)
    for i, name in enumerate(SUPPLY_CATEGORIES):
        _ensure(SupplyCategory, name, created, "supply_categories", sort_order=i)
    db.session.flush()
    counties = {c.name: c for c in db.session.scalars(sa.select(County))}
    for i, name in enumerate(DEPARTMENTS):
        department = _ensure(Department, name, created, "departments", sort_order=i)
        if department.county_id is None:  # a county's government is its county's unit
            department.county_id = _county_of_government(name, counties)
    for name, region, city, industry, _words in PARTNERS:
        _ensure(Partner, name, created, "partners", region=Region(region), city=city, industry=industry,
                in_plan=True)
    db.session.flush()
    for name, county, kind in PARKS:
        _ensure(Park, name, created, "parks", county_id=counties[county].id, kind=kind, supporting=False,
                recognised_on=None, is_demo=False)
    for unit, (f25, o25, f27, o27) in TARGETS.items():
        county_id = counties[unit].id if unit else None
        for year, firms, output in ((2025, f25, o25), (2027, f27, o27)):
            exists = db.session.scalar(sa.select(Target.id).where(
                Target.year == year,
                Target.county_id.is_(None) if county_id is None else Target.county_id == county_id))
            if exists is None:
                db.session.add(Target(year=year, county_id=county_id, target_firms=firms,
                                      target_output=Decimal(output)))
                created["targets"] += 1
    for year, metric, target in PLAN_TARGETS:
        exists = db.session.scalar(sa.select(PlanTarget.id).where(PlanTarget.year == year,
                                                                  PlanTarget.metric == metric))
        if exists is None:
            db.session.add(PlanTarget(year=year, metric=metric, target=target))
            created["plan_targets"] += 1
    db.session.flush()
    created.update(load_tasks())  # the plan's 重点任务 and 保障措施, their units and milestones
    return created


def load_demo_parks() -> Counter:
    """The parks and recognitions the plan does not state, marked ``is_demo`` (``seed-demo`` only). A park that
    exists is left alone; a recognition is given only to a park with none yet (a real one is never replaced)."""
    created: Counter = Counter()
    counties = {c.name: c for c in db.session.scalars(sa.select(County))}
    for spec in DEMO_PARKS:
        recognised = spec.recognised_on is not None
        _ensure(Park, spec.name, created, "demo_parks", county_id=counties[spec.county].id, kind=spec.kind,
                supporting=recognised, recognised_on=spec.recognised_on,
                recognition_document=f"{spec.document}{DEMO_DOCUMENT}" if recognised else "",
                enclave_mode=spec.enclave_mode, chengyu_counterpart=spec.chengyu_counterpart, is_demo=True)
    for name, (recognised_on, document) in DEMO_RECOGNITIONS.items():
        park = db.session.scalar(sa.select(Park).where(Park.name == name))
        if park is None or park.supporting or park.recognised_on is not None:
            continue
        park.supporting, park.recognised_on = True, recognised_on
        park.recognition_document = f"{document}{DEMO_DOCUMENT}"
        park.is_demo = True
        created["demo_recognitions"] += 1
    db.session.flush()
    return created
