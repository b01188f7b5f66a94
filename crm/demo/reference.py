"""The plan's reference data (《遵义市特色优势制造业主动融入成渝地区双城经济圈工作方案》).

Facts, not demo figures: counties, clusters, categories, responsible units, 成渝 partners, parks and the
targets table. Loading is idempotent: existing rows (by name) are left alone.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from crm.extensions import db
from crm.reference.models import (
    Cluster,
    County,
    Department,
    Park,
    Partner,
    PlanTarget,
    Region,
    SupplyCategory,
    Target,
)

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
DEPARTMENTS = [
    "市工业和科学技术局", "市发展改革委", "市投资促进局", "市委军民融合办", "市大数据发展管理局", "市民政局",
    "市人力资源社会保障局", "市税务局", "市财政局", "市能源局", "市水务局", "市自然资源局", "遵义供电局",
    "市综合行政执法局", "市政务服务管理局", "市人民政府驻重庆(成都)办事处",
    "红花岗区人民政府", "汇川区人民政府", "播州区人民政府", "新蒲新区管委会", "桐梓县人民政府",
    "道真自治县人民政府", "正安县人民政府", "务川自治县人民政府",
]
# The 成渝 firms the plan names: (name, region, city, industry chain).
PARTNERS = [
    ("重庆长安汽车股份有限公司", "重庆", "重庆", "汽车"),
    ("长城汽车股份有限公司重庆分公司", "重庆", "重庆", "汽车"),
    ("赛力斯集团股份有限公司", "重庆", "重庆", "新能源汽车"),
    ("成都客车股份有限公司", "四川", "成都", "客车"),
    ("成都飞机工业(集团)有限责任公司", "四川", "成都", "航空"),
    ("中航成飞民用飞机有限责任公司", "四川", "成都", "航空"),
    ("中国航发成都发动机有限公司", "四川", "成都", "航空发动机"),
    ("西南铝业(集团)有限责任公司", "重庆", "重庆", "铝加工"),
    ("华峰铝业有限公司", "重庆", "重庆", "铝加工"),
    ("重庆华峰化工有限公司", "重庆", "重庆", "化工"),
    ("重庆万凯新材料科技有限公司", "重庆", "重庆", "新材料"),
    ("重庆国际复合材料股份有限公司", "重庆", "重庆", "复合材料"),
]
# (name, county, recognised 配套产业园区?, year recognised)
PARKS = [
    ("桐梓(重庆)工业园", "桐梓县", True, 2024),
    ("遵义国家高新技术产业开发区", "汇川区", True, 2025),
    ("遵义经济技术开发区", "红花岗区", False, None),
    ("遵义综合保税区", "新蒲新区", False, None),
    ("播州铝及铝加工产业园", "播州区", False, None),
    ("务川氟钡化工产业园", "务川自治县", False, None),
    ("道真铝土矿资源综合利用园", "道真自治县", False, None),
]
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


def _ensure(model, name: str, **extra):
    row = db.session.scalar(sa.select(model).where(model.name == name))
    if row is None:
        row = model(name=name, **extra)
        db.session.add(row)
    return row


def load_reference_data() -> None:
    for i, (name, full) in enumerate(COUNTIES):
        _ensure(County, name, full_name=full, sort_order=i)
    for i, name in enumerate(CLUSTERS):
        _ensure(Cluster, name, sort_order=i)
    for i, name in enumerate(SUPPLY_CATEGORIES):
        _ensure(SupplyCategory, name, sort_order=i)
    for i, name in enumerate(DEPARTMENTS):
        _ensure(Department, name, sort_order=i)
    for name, region, city, industry in PARTNERS:
        _ensure(Partner, name, region=Region(region), city=city, industry=industry, in_plan=True)
    db.session.flush()
    counties = {c.name: c for c in db.session.scalars(sa.select(County))}
    for name, county, supporting, year in PARKS:
        _ensure(Park, name, county_id=counties[county].id, supporting=supporting,
                recognised_on=date(year, 12, 31) if year else None)
    for unit, (f25, o25, f27, o27) in TARGETS.items():
        county_id = counties[unit].id if unit else None
        for year, firms, output in ((2025, f25, o25), (2027, f27, o27)):
            exists = db.session.scalar(sa.select(Target).where(
                Target.year == year,
                Target.county_id.is_(None) if county_id is None else Target.county_id == county_id))
            if exists is None:
                db.session.add(Target(year=year, county_id=county_id, target_firms=firms,
                                      target_output=Decimal(output)))
    for year, metric, target in PLAN_TARGETS:
        exists = db.session.scalar(sa.select(PlanTarget).where(PlanTarget.year == year, PlanTarget.metric == metric))
        if exists is None:
            db.session.add(PlanTarget(year=year, metric=metric, target=target))
    db.session.flush()
