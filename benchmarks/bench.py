"""Benchmark of the CRM's hot paths on a large generated data set (the quality bar: speed is measured here,
not by timed tests).

    python benchmarks/bench.py [--database-url URL] [--enterprises 20000] [--repeat 5] [--json PATH]

1. Makes a fresh database: a temporary SQLite file by default; with ``--database-url postgresql://…`` it
   creates its own database on that server (and drops it at the end, like ``tests/conftest.py``).
2. Runs the migrations and loads the plan's reference data, as ``make run`` does.
3. Bulk-generates a realistic data set with core ``INSERT``s (not the audited domain functions: those are for
   correctness, not volume). Names get their ``name_key`` / pinyin / initials from the domain's own helpers,
   USCCs a valid check digit, so search and the Excel import treat them as real records.
4. Times the hot paths with ``time.perf_counter``: one warm-up run, then ``--repeat`` runs, each in a fresh
   session (domain functions) or a fresh request (pages, through the Flask test client, signed in). Every
   SQL statement is counted by an engine event listener (transaction control — BEGIN, SAVEPOINT … — is not).
5. Prints ``operation | median ms | p95 ms | queries`` and an N+1 check (query counts of the same page at a
   small and a large size: a count that grows with the rows shown is an N+1).

See benchmarks/README.md for the measured numbers and what they say.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from time import perf_counter
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402
from stdnum.cn import uscc as stdnum_uscc  # noqa: E402

from config import normalise_database_url  # noqa: E402
from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402

SLOW_MS = 200.0
PASSWORD = "Bench-2026-zunyi"
SEED = 20261126

# --- vocabulary of the generated data ---------------------------------------------------------------------------

# Region part of the 统一社会信用代码 per county (GB/T 2260); 新蒲新区 registers under the city's code.
COUNTY_CODES = {
    "红花岗区": "520302", "汇川区": "520303", "播州区": "520304", "新蒲新区": "520300", "桐梓县": "520322",
    "绥阳县": "520323", "正安县": "520324", "道真自治县": "520325", "务川自治县": "520326", "凤冈县": "520327",
    "湄潭县": "520328", "余庆县": "520329", "习水县": "520330", "赤水市": "520381", "仁怀市": "520382",
}
COUNTY_WEIGHTS = {
    "汇川区": 18, "红花岗区": 12, "播州区": 12, "新蒲新区": 8, "仁怀市": 9, "桐梓县": 7, "绥阳县": 4, "正安县": 5,
    "道真自治县": 4, "务川自治县": 4, "凤冈县": 4, "湄潭县": 5, "余庆县": 4, "习水县": 5, "赤水市": 4,
}
COUNTY_PREFIX = {
    "红花岗区": "红花岗", "汇川区": "汇川", "播州区": "播州", "新蒲新区": "新蒲", "桐梓县": "桐梓", "绥阳县": "绥阳",
    "正安县": "正安", "道真自治县": "道真", "务川自治县": "务川", "凤冈县": "凤冈", "湄潭县": "湄潭", "余庆县": "余庆",
    "习水县": "习水", "赤水市": "赤水", "仁怀市": "仁怀",
}


def words(text: str) -> list[str]:
    return text.split()


BRANDS = words(
    "宏达 鑫源 华联 长征 天成 金盛 恒力 瑞丰 永兴 博远 精工 盛世 兴隆 嘉禾 润泽 东方 科力 智联 汇通 黔锋 众鑫 德隆 "
    "信达 富源 海川 立信 凯达 安泰 华宇 振兴 天马 昌盛 远航 同创 力拓 正通 中诚 新锐 银河 赛特 腾达 光华 锦程 鼎盛 "
    "旭日 卓越 铭泰 丰泽 和顺 宏图 联创 奥峰 晨光 友联 佳特 环宇 万通 宝丰 龙腾 云岭"
)
# industry word → (cluster, main products)
INDUSTRIES = {
    "汽车零部件": ("汽车及电池材料", "变速箱壳体、转向节、制动盘"),
    "锂电材料": ("汽车及电池材料", "三元前驱体、磷酸铁锂正极材料"),
    "汽车电子": ("汽车及电池材料", "车身控制模块、线束总成"),
    "动力电池": ("汽车及电池材料", "动力电池模组、电池包壳体"),
    "汽配": ("汽车及电池材料", "汽车内饰件、橡胶密封件"),
    "航空零部件": ("航空航天装备", "飞机结构件、钣金件"),
    "航空科技": ("航空航天装备", "航空紧固件、液压作动器"),
    "精密锻造": ("航空航天装备", "钛合金锻件、环形锻件"),
    "航天装备": ("航空航天装备", "地面保障设备、精密连接器"),
    "电子科技": ("电子信息", "印制电路板、电子元器件"),
    "智能科技": ("电子信息", "工业控制器、传感器"),
    "信息技术": ("电子信息", "工业软件、数据服务"),
    "光电": ("电子信息", "光学镜头、LED 模组"),
    "电子元件": ("电子信息", "片式电容、继电器"),
    "机械制造": ("装备制造", "减速机、液压件"),
    "精密机械": ("装备制造", "数控机床零件、精密轴承"),
    "装备制造": ("装备制造", "矿山机械、输送设备"),
    "模具": ("装备制造", "汽车覆盖件模具、压铸模具"),
    "重工": ("装备制造", "起重机、钢结构件"),
    "电气设备": ("装备制造", "开关柜、变压器"),
    "铝业": ("基础材料", "铝板带箔、铝合金型材"),
    "新材料": ("基础材料", "高性能复合材料、碳纤维制品"),
    "铸造": ("基础材料", "铝合金铸件、球墨铸铁件"),
    "建材": ("基础材料", "新型墙材、预拌砂浆"),
    "钛业": ("基础材料", "海绵钛、钛材"),
    "锰业": ("基础材料", "电解金属锰、锰系合金"),
    "化工": ("现代化工", "工业硫酸、化工中间体"),
    "氟化工": ("现代化工", "氟化氢、含氟精细化学品"),
    "精细化工": ("现代化工", "涂料、胶粘剂"),
    "钡盐": ("现代化工", "碳酸钡、硫酸钡"),
    "食品": ("其他", "调味品、辣椒制品"),
    "包装": ("其他", "纸箱、塑料包装"),
    "印务": ("其他", "包装印刷品、标签"),
}
FORMS = ["有限公司"] * 6 + ["股份有限公司"] * 2 + ["有限责任公司"] * 2
SURNAMES = words("王 李 张 刘 陈 杨 黄 赵 周 吴 徐 孙 马 胡 朱 郭 何 罗 高 林 郑 梁 谢 唐 许 冯 宋 韩 邓 彭")
GIVEN = words("伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂 英 华 建 国 文 辉 玲 红 波 鹏")
POSTS = ["总经理", "董事长", "办公室主任", "财务总监", "生产副总", "销售经理"]
REASONS = [
    "为长安汽车配套变速箱壳体,年配套产值逾千万元", "进入赛力斯供应链,配套关键零部件",
    "为成都飞机工业配套钣金结构件", "规上企业,成渝配套产值占比超过30%", "与西南铝业开展铝材深加工合作",
    "列入市级专精特新企业,具备关键设备配套能力", "新落户的成渝企业,配套关系明确", "链主企业带动本地配套",
]
REMOVAL_REASONS = ["企业已停产", "成渝配套关系终止", "企业迁出遵义", "连续两期未报送配套数据"]
SUMMARIES = [
    "走访了解企业生产经营情况,企业反映订单饱满,用工紧张", "电话回访融资需求,已推荐对接两家银行",
    "协助企业申报省级专精特新", "参加产销对接会,企业与长安汽车二级供应商洽谈", "线上对接人才引进政策",
    "了解企业用电增容需求,已转供电局", "法律顾问解答合同纠纷问题", "宣传报道企业技术改造成果",
]
DESCRIPTIONS = [
    "申请用电增容至 2000 千伏安", "希望对接成渝整车企业的采购部门", "需要流动资金贷款 500 万元",
    "招聘高级技工困难,请求人才引进支持", "新厂房用地指标尚未落实", "申报省级技术改造项目需要指导",
]


@dataclass
class Scale:
    enterprises: int
    edition_size: int
    assigned: int  # listed enterprises with a full set of five commissioners
    interactions: int
    requests: int
    commissioners: int = 30

    @classmethod
    def for_enterprises(cls, n: int) -> Scale:
        edition = min(5000, n // 4)
        return cls(enterprises=n, edition_size=edition, assigned=min(2000, edition), interactions=5 * n,
                   requests=n)


@dataclass
class Fixture:
    """What the timed operations need, found while generating (ids, names, search fragments)."""

    county_ids: dict[str, int] = field(default_factory=dict)
    cluster_ids: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)  # username → id
    commissioner_ids: list[int] = field(default_factory=list)
    periods: list[str] = field(default_factory=list)  # oldest … published, draft
    editions: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, period) → id
    empty_draft: tuple[str, str] = ("", "")
    rich_enterprise: int = 0  # many contacts, figures, links, history
    plain_enterprise: int = 0  # one of each at most
    q_name: str = ""
    q_initials: str = ""
    q_uscc: str = ""
    counts: dict[str, int] = field(default_factory=dict)


# --- the database ------------------------------------------------------------------------------------------------

def make_database(url: str | None) -> tuple[str, Callable[[], None], str]:
    """A fresh empty database: (its URL, a function that drops it, a label)."""
    if not url or url.startswith("sqlite"):
        folder = tempfile.mkdtemp(prefix="crm_bench_")
        path = Path(folder) / "bench.sqlite3"
        return f"sqlite:///{path}", lambda: shutil.rmtree(folder, ignore_errors=True), "sqlite"
    admin = sa.create_engine(normalise_database_url(url), isolation_level="AUTOCOMMIT")
    name = f"crm_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    new_url = admin.url.set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return new_url, drop, admin.dialect.name


def database_version() -> str:
    engine = db.engine
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + conn.exec_driver_sql("select sqlite_version()").scalar()
        return str(conn.exec_driver_sql("select version()").scalar()).split(" on ")[0]


# --- generation --------------------------------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I O Z S V


def make_uscc(county: str, n: int) -> str:
    """A valid 统一社会信用代码: 91 (enterprise) + region + a 9-character code + the check character."""
    value = (n * 7_368_787 + 12_345) % 31 ** 7  # a bijection on 0 … 31⁷-1: unique codes for unique n
    body = []
    for _ in range(7):
        value, digit = divmod(value, 31)
        body.append(USCC_ALPHABET[digit])
    code = "91" + COUNTY_CODES[county] + "MA" + "".join(body)
    return code + stdnum_uscc.calc_check_digit(code)


def at(day: date, hour: int = 9) -> datetime:
    return datetime.combine(day, dtime(hour), tzinfo=UTC)


def insert(model: Any, rows: list[dict], chunk: int = 5000) -> None:
    table = model.__table__
    for start in range(0, len(rows), chunk):
        db.session.execute(sa.insert(table), rows[start:start + chunk])


def generate(scale: Scale, rng: random.Random, log: Callable[[str], None]) -> Fixture:
    """Fill the database (reference data already loaded). Returns what the timings need."""
    from crm.auth.domain import hash_password
    from crm.auth.models import Role, Specialty, User, UserSpecialty
    from crm.core.audit import AuditLog
    from crm.core.time import local_today
    from crm.enterprises.domain import name_key, pinyin_of
    from crm.enterprises.models import (
        Enterprise,
        EnterpriseContact,
        EnterpriseFigure,
        EnterprisePartner,
        EnterpriseStatus,
    )
    from crm.notifications.models import Notification
    from crm.reference.models import Cluster, County, Department, Park, Partner, SupplyCategory
    from crm.rosters.domain import next_period, period_of
    from crm.rosters.models import EditionStatus, RosterEdition, RosterEntry, RosterKind, RosterRemoval, Tier
    from crm.service.models import (
        Assignment,
        Channel,
        DeliveryStatus,
        Interaction,
        PolicyDelivery,
        PolicyKind,
        RequestCategory,
        RequestEvent,
        RequestStatus,
        ServiceRequest,
    )

    fx = Fixture()
    today = local_today()
    now = datetime.now(UTC)
    fx.county_ids = {c.name: c.id for c in db.session.scalars(sa.select(County))}
    fx.cluster_ids = {c.name: c.id for c in db.session.scalars(sa.select(Cluster))}
    category_ids = [c.id for c in db.session.scalars(sa.select(SupplyCategory))]
    partner_ids = [p.id for p in db.session.scalars(sa.select(Partner))]
    department_ids = [d.id for d in db.session.scalars(sa.select(Department))]
    parks_by_county: dict[int, list[int]] = {}
    for park in db.session.scalars(sa.select(Park)):
        parks_by_county.setdefault(park.county_id, []).append(park.id)

    # users: an admin, a city-wide and a county coordinator, a leader, 30 commissioners (6 per specialty)
    t0 = perf_counter()
    password_hash = hash_password(PASSWORD)
    users: list[dict] = []
    specialties: list[dict] = []

    def user(username: str, display: str, role: Role, county: str | None = None) -> int:
        uid = len(users) + 1
        users.append({"id": uid, "username": username, "display_name": display, "password_hash": password_hash,
                      "role": role, "county_id": fx.county_ids[county] if county else None, "phone": "",
                      "active": True, "session_version": 1, "failed_logins": 0, "created_at": now})
        fx.users[username] = uid
        return uid

    user("admin", "系统管理员", Role.ADMIN)
    coordinator = user("coordinator", "市工信局协调员", Role.COORDINATOR)
    user("coordinator_hc", "汇川区协调员", Role.COORDINATOR, "汇川区")
    user("leader", "市领导", Role.LEADER)
    by_specialty: dict[Specialty, list[int]] = {s: [] for s in Specialty}
    for i in range(scale.commissioners):
        specialty = list(Specialty)[i % len(Specialty)]
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i * 7) % len(GIVEN)] + GIVEN[(i * 3 + 1) % len(GIVEN)]
        uid = user(f"commissioner{i + 1:02d}", f"{name}({specialty.label})", Role.COMMISSIONER)
        specialties.append({"user_id": uid, "specialty": specialty})
        by_specialty[specialty].append(uid)
        fx.commissioner_ids.append(uid)
    insert(User, users)
    insert(UserSpecialty, specialties)
    commissioner_name = {u["id"]: u["display_name"] for u in users}

    # enterprises: unique realistic names over the 15 counties, clusters following the industry word
    counties = list(COUNTY_WEIGHTS)
    weights = [COUNTY_WEIGHTS[c] for c in counties]
    industries = list(INDUSTRIES)
    seen: set[str] = set()
    enterprises: list[dict] = []
    statuses = ([EnterpriseStatus.ACTIVE] * 92 + [EnterpriseStatus.SUSPENDED] * 4
                + [EnterpriseStatus.MOVED_OUT] * 2 + [EnterpriseStatus.DEREGISTERED] * 2)
    while len(enterprises) < scale.enterprises:
        county = rng.choices(counties, weights)[0]
        prefix = rng.choice([COUNTY_PREFIX[county], COUNTY_PREFIX[county], "遵义", "贵州"])
        industry = rng.choice(industries)
        name = f"{prefix}{rng.choice(BRANDS)}{industry}{rng.choice(FORMS)}"
        key = name_key(name)
        if key in seen:
            name = f"{prefix}{rng.choice(BRANDS)}{rng.choice(BRANDS)}{industry}{rng.choice(FORMS)}"
            key = name_key(name)
            if key in seen:
                continue
        seen.add(key)
        eid = len(enterprises) + 1
        full, initials = pinyin_of(name)
        cluster, products = INDUSTRIES[industry]
        county_id = fx.county_ids[county]
        created = now - timedelta(days=rng.randint(30, 900), minutes=rng.randint(0, 1440))
        settled = rng.random() < 0.02
        enterprises.append({
            "id": eid, "name": name, "name_key": key, "name_pinyin": full, "name_initials": initials,
            "uscc": make_uscc(county, eid), "county_id": county_id,
            "park_id": rng.choice(parks_by_county[county_id]) if county_id in parks_by_county and rng.random() < 0.4
            else None,
            "cluster_id": fx.cluster_ids[cluster],
            "supply_category_id": rng.choice(category_ids) if rng.random() < 0.8 else None,
            "above_scale": rng.random() < 0.4, "main_products": products, "settled_from_chengyu": settled,
            "settled_on": today - timedelta(days=rng.randint(30, 700)) if settled else None,
            "status": rng.choice(statuses), "is_demo": False, "created_at": created,
            "updated_at": created + timedelta(days=rng.randint(0, 25)), "version": 1,
        })
    for special in enterprises[:2]:  # the detail page's long and plain records stay listable
        special["status"] = EnterpriseStatus.ACTIVE
    insert(Enterprise, enterprises)
    log(f"  {len(enterprises)} enterprises (pinyin included) in {perf_counter() - t0:.1f} s")

    t0 = perf_counter()
    contacts, figures, links, audits = [], [], [], []
    for e in enterprises:
        for _ in range(rng.choice((1, 1, 2))):
            contacts.append({"enterprise_id": e["id"], "name": rng.choice(SURNAMES) + rng.choice(GIVEN),
                             "post": rng.choice(POSTS), "phone": f"13{rng.randint(100000000, 999999999)}"})
        base = Decimal(rng.randint(500, 200000))
        for year in (today.year - 2, today.year - 1):
            output = (base * Decimal(rng.uniform(0.85, 1.25))).quantize(Decimal("0.01"))
            figures.append({"enterprise_id": e["id"], "year": year, "output_value": output,
                            "chengyu_output_value": (output * Decimal(rng.uniform(0, 0.6))).quantize(Decimal("0.01")),
                            "is_demo": False})
        if rng.random() < 0.35:
            for partner_id in rng.sample(partner_ids, rng.choice((1, 1, 2))):
                links.append({"enterprise_id": e["id"], "partner_id": partner_id, "supplies": e["main_products"]})
        audits.append({"at": e["created_at"], "actor_id": coordinator, "actor_name": "市工信局协调员",
                       "entity_type": "enterprise", "entity_id": e["id"], "enterprise_id": e["id"],
                       "action": "create", "summary": f"新建企业档案 {e['name']}",
                       "changes": {"name": [None, e["name"]], "uscc": [None, e["uscc"]]}})
    # one enterprise with a long record (the detail page's N+1 check compares it with a plain one)
    rich = enterprises[0]
    fx.rich_enterprise = rich["id"]
    fx.plain_enterprise = enterprises[1]["id"]
    contacts = [c for c in contacts if c["enterprise_id"] not in (rich["id"], fx.plain_enterprise)]
    figures = [f for f in figures if f["enterprise_id"] not in (rich["id"], fx.plain_enterprise)]
    links = [link for link in links if link["enterprise_id"] not in (rich["id"], fx.plain_enterprise)]
    contacts.append({"enterprise_id": fx.plain_enterprise, "name": "王伟", "post": "总经理", "phone": "13800000000"})
    figures.append({"enterprise_id": fx.plain_enterprise, "year": today.year - 1, "output_value": Decimal(1000),
                    "chengyu_output_value": Decimal(100), "is_demo": False})
    for i in range(12):
        contacts.append({"enterprise_id": rich["id"], "name": SURNAMES[i] + GIVEN[i], "post": POSTS[i % len(POSTS)],
                         "phone": f"1390000{i:04d}"})
    for year in range(today.year - 10, today.year):
        figures.append({"enterprise_id": rich["id"], "year": year, "output_value": Decimal(50000 + year),
                        "chengyu_output_value": Decimal(20000), "is_demo": False})
    for partner_id in partner_ids:
        links.append({"enterprise_id": rich["id"], "partner_id": partner_id, "supplies": rich["main_products"]})
    insert(EnterpriseContact, contacts)
    insert(EnterpriseFigure, figures)
    insert(EnterprisePartner, links)
    log(f"  {len(contacts)} contacts, {len(figures)} figures, {len(links)} partner links "
        f"in {perf_counter() - t0:.1f} s")

    # rosters: per list, three superseded editions, the published one and next half year's draft (a copy);
    # about 4% leave and 4% join at each refresh, the leavers with a RosterRemoval reason; the two lists overlap
    t0 = perf_counter()
    current = period_of(now)
    periods = [current]
    for _ in range(3):
        year, half = int(current[:4]), int(current[-1])
        current = f"{year - 1}H2" if half == 1 else f"{year}H1"
        periods.insert(0, current)
    periods.append(next_period(periods[-1]))
    fx.periods = periods
    eligible = [e["id"] for e in enterprises if e["status"] in (EnterpriseStatus.ACTIVE, EnterpriseStatus.SUSPENDED)
                and e["id"] != fx.plain_enterprise]
    size = scale.edition_size
    supplier = set(rng.sample(eligible, size))
    pool = set(rng.sample(sorted(supplier), size // 2)) | set(rng.sample(
        [i for i in eligible if i not in supplier], size - size // 2))
    supplier.add(rich["id"])
    pool.add(rich["id"])
    edition_rows, entry_rows, removal_rows = [], [], []
    for kind, members in ((RosterKind.SUPPLIER_LIST, supplier), (RosterKind.CULTIVATION_POOL, pool)):
        tiers: dict[int, Tier | None] = {}
        if kind is RosterKind.CULTIVATION_POOL:
            tiers = {i: rng.choices(list(Tier), (5, 10, 85))[0] for i in members}
        based_on = None
        for index, period in enumerate(periods):
            edition_id = len(edition_rows) + 1
            published = index < len(periods) - 1
            status = (EditionStatus.SUPERSEDED if index < len(periods) - 2
                      else EditionStatus.PUBLISHED if published else EditionStatus.DRAFT)
            opened = at(date(int(period[:4]), 1 if period.endswith("1") else 7, 1))
            edition_rows.append({
                "id": edition_id, "kind": kind, "period": period, "status": status, "based_on_id": based_on,
                "opened_at": opened, "opened_by_id": coordinator, "return_comment": "", "version": 1,
                "submitted_at": opened + timedelta(days=60) if published else None,
                "submitted_by_id": coordinator if published else None,
                "published_at": opened + timedelta(days=70) if published else None,
                "published_by_id": coordinator if published else None,
                "superseded_at": opened + timedelta(days=250) if status is EditionStatus.SUPERSEDED else None,
            })
            fx.editions[(kind.value, period)] = edition_id
            if index:  # a refresh: some leave (with a reason), some join, some pool tiers change
                churn = max(1, len(members) // 25)
                leaving = rng.sample(sorted(members - {rich["id"]}), churn)
                joining = rng.sample([i for i in eligible if i not in members], churn)
                members = (members - set(leaving)) | set(joining)
                for eid in leaving:
                    removal_rows.append({"edition_id": edition_id, "enterprise_id": eid,
                                         "reason": rng.choice(REMOVAL_REASONS), "removed_by_id": coordinator,
                                         "removed_at": opened + timedelta(days=10)})
                if tiers:
                    for eid in joining:
                        tiers[eid] = Tier.CULTIVATING
                    for eid in rng.sample(sorted(members), churn):
                        tiers[eid] = rng.choice(list(Tier))
            for eid in members:
                entry_rows.append({"edition_id": edition_id, "enterprise_id": eid, "reason": rng.choice(REASONS),
                                   "tier": tiers.get(eid), "proposed_by_id": coordinator, "created_at": opened})
            based_on = edition_id
            if status is EditionStatus.PUBLISHED:
                published_members = set(members)
        if kind is RosterKind.SUPPLIER_LIST:
            supplier = published_members
        else:
            pool = published_members
    # an empty draft further ahead, for the import that writes 5,000 new entries (rolled back)
    far = next_period(periods[-1])
    edition_rows.append({"id": len(edition_rows) + 1, "kind": RosterKind.SUPPLIER_LIST, "period": far,
                         "status": EditionStatus.DRAFT, "based_on_id": None, "opened_at": now,
                         "opened_by_id": coordinator, "return_comment": "", "version": 1, "submitted_at": None,
                         "submitted_by_id": None, "published_at": None, "published_by_id": None,
                         "superseded_at": None})
    fx.editions[(RosterKind.SUPPLIER_LIST.value, far)] = len(edition_rows)
    fx.empty_draft = (RosterKind.SUPPLIER_LIST.value, far)
    insert(RosterEdition, edition_rows)
    insert(RosterEntry, entry_rows)
    insert(RosterRemoval, removal_rows)
    log(f"  {len(edition_rows)} roster editions, {len(entry_rows)} entries, {len(removal_rows)} removals "
        f"in {perf_counter() - t0:.1f} s")

    # assignments: listed enterprises × five specialties, shared round-robin by the six commissioners of each
    # specialty (≈ 333 enterprises each at full scale), plus ended handovers for the history
    t0 = perf_counter()
    listed = sorted(supplier | pool)
    assigned = sorted(set(rng.sample(listed, min(scale.assigned, len(listed)))) | {rich["id"]})
    assignment_rows: list[dict] = []
    active: list[tuple[int, Specialty, int]] = []  # (enterprise, specialty, commissioner)
    for specialty, team in by_specialty.items():
        for index, eid in enumerate(assigned):
            commissioner = team[index % len(team)]
            started = today - timedelta(days=rng.randint(30, 600))
            if rng.random() < 0.2:  # a handover: the predecessor's assignment ended when this one started
                assignment_rows.append({
                    "id": len(assignment_rows) + 1, "enterprise_id": eid, "specialty": specialty,
                    "commissioner_id": team[(index + 1) % len(team)], "started_on": started - timedelta(days=300),
                    "ended_on": started, "end_reason": "交接", "created_at": at(started - timedelta(days=300))})
            assignment_rows.append({"id": len(assignment_rows) + 1, "enterprise_id": eid, "specialty": specialty,
                                    "commissioner_id": commissioner, "started_on": started, "ended_on": None,
                                    "end_reason": "", "created_at": at(started)})
            active.append((eid, specialty, commissioner))
    insert(Assignment, assignment_rows)
    for row in assignment_rows:
        audits.append({"at": row["created_at"], "actor_id": coordinator, "actor_name": "市工信局协调员",
                       "entity_type": "assignment", "entity_id": row["id"], "enterprise_id": row["enterprise_id"],
                       "action": "create", "summary": f"分配{row['specialty'].label}服务专员",
                       "changes": {"commissioner": [None, commissioner_name[row["commissioner_id"]]]}})
    log(f"  {len(assignment_rows)} assignments ({len(active)} active) in {perf_counter() - t0:.1f} s")

    # interactions: mostly by the assigned commissioners, some by coordinators, over two years
    t0 = perf_counter()
    channels = list(Channel)
    interaction_rows = []
    for iid in range(1, scale.interactions + 1):
        if rng.random() < 0.85:
            eid, specialty, author = rng.choice(active)
        else:
            eid, specialty, author = rng.choice(listed), rng.choice(list(Specialty)), coordinator
        day = today - timedelta(days=int(rng.triangular(0, 730, 0)))
        interaction_rows.append({
            "id": iid, "enterprise_id": eid, "occurred_on": day, "channel": rng.choice(channels),
            "specialty": specialty, "participants": rng.choice(SURNAMES) + rng.choice(GIVEN) + "、企业负责人",
            "summary": rng.choice(SUMMARIES),
            "next_follow_up": day + timedelta(days=30) if rng.random() < 0.3 else None,
            "created_by_id": author, "created_at": at(day, 16), "version": 1})
        if iid % 2 == 0:  # half of them with their audit row: the history page's realistic length
            audits.append({"at": at(day, 16), "actor_id": author, "actor_name": commissioner_name.get(author, ""),
                           "entity_type": "interaction", "entity_id": iid, "enterprise_id": eid, "action": "create",
                           "summary": "登记服务记录", "changes": {"date": [None, day.isoformat()]}})
    insert(Interaction, interaction_rows)
    log(f"  {len(interaction_rows)} interactions in {perf_counter() - t0:.1f} s")

    # requests in every status; open ones are recent, a good part of them overdue
    t0 = perf_counter()
    flow = [RequestStatus.RAISED, RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS, RequestStatus.RESOLVED,
            RequestStatus.CLOSED]
    categories = list(RequestCategory)
    request_rows, event_rows = [], []
    for rid in range(1, scale.requests + 1):
        eid, _specialty, owner = rng.choice(active) if rng.random() < 0.85 else (rng.choice(listed), None, None)
        status = rng.choices(flow, (8, 8, 14, 15, 55))[0]
        is_open = flow.index(status) < 3
        raised = today - timedelta(days=rng.randint(0, 60) if is_open else rng.randint(15, 730))
        step = flow.index(status)
        resolved_at = at(raised + timedelta(days=10)) if step >= 3 else None
        request_rows.append({
            "id": rid, "enterprise_id": eid, "category": rng.choice(categories),
            "description": rng.choice(DESCRIPTIONS), "interaction_id": None, "owner_id": owner,
            "department_id": rng.choice(department_ids) if rng.random() < 0.5 else None, "raised_on": raised,
            "due_date": raised + timedelta(days=14), "status": status,
            "satisfaction": rng.randint(3, 5) if status is RequestStatus.CLOSED else None,
            "resolved_at": resolved_at, "closed_at": at(raised + timedelta(days=20)) if step == 4 else None,
            "created_by_id": owner or coordinator, "created_at": at(raised), "updated_at": at(raised), "version": 1})
        previous = None
        for number, to in enumerate(flow[:step + 1]):
            event_rows.append({"request_id": rid, "at": at(raised + timedelta(days=number * 3)),
                               "actor_id": owner or coordinator, "from_status": previous, "to_status": to,
                               "note": "办理时限按10个工作日计算" if previous is None else "",
                               "satisfaction": request_rows[-1]["satisfaction"] if to is RequestStatus.CLOSED
                               else None})
            previous = to
        audits.append({"at": at(raised), "actor_id": owner or coordinator, "actor_name": "",
                       "entity_type": "service_request", "entity_id": rid, "enterprise_id": eid, "action": "create",
                       "summary": "登记诉求", "changes": {"status": [None, "raised"]}})
    insert(ServiceRequest, request_rows)
    insert(RequestEvent, event_rows)
    log(f"  {len(request_rows)} requests, {len(event_rows)} request events in {perf_counter() - t0:.1f} s")

    # policy deliveries (政策兑现): promised over two years, most delivered, some late
    t0 = perf_counter()
    delivery_rows = []
    for _ in range(scale.enterprises // 4):
        eid, _specialty, owner = rng.choice(active)
        promised = today - timedelta(days=rng.randint(-60, 700))
        status = rng.choices(list(DeliveryStatus), (30, 65, 5))[0]
        delivery_rows.append({
            "enterprise_id": eid, "kind": rng.choice(list(PolicyKind)), "promised": "兑现省级技改补助",
            "amount": Decimal(rng.randint(5, 500)), "promised_date": promised,
            "delivered_date": promised - timedelta(days=rng.randint(0, 20)) if status is DeliveryStatus.DELIVERED
            else None, "status": status, "evidence": "", "owner_id": owner,
            "department_id": rng.choice(department_ids), "overdue_notified_on": None, "created_by_id": coordinator,
            "created_at": at(promised - timedelta(days=60)), "updated_at": at(promised - timedelta(days=60)),
            "version": 1})
    insert(PolicyDelivery, delivery_rows)
    log(f"  {len(delivery_rows)} policy deliveries in {perf_counter() - t0:.1f} s")

    t0 = perf_counter()
    insert(AuditLog, audits)
    notifications = []
    for uid in [coordinator, *fx.commissioner_ids]:
        for i in range(200):
            created = now - timedelta(hours=i * 7)
            notifications.append({"user_id": uid, "kind": "assignment", "title": f"通知 {i}", "body": "",
                                  "link": "", "created_at": created, "read_at": created if i % 2 else None})
    insert(Notification, notifications)
    log(f"  {len(audits)} audit rows, {len(notifications)} notifications in {perf_counter() - t0:.1f} s")

    # search fragments a user would type: a brand word, the initials of brand + industry, the tail of a code
    sample = enterprises[len(enterprises) // 3]
    brand = next(b for b in BRANDS if b in sample["name"])
    industry = next(i for i in INDUSTRIES if i in sample["name"])
    fx.q_name = brand
    fx.q_initials = pinyin_of(brand + industry)[1][:4]
    fx.q_uscc = sample["uscc"][-8:]
    fx.counts = {"enterprises": len(enterprises), "contacts": len(contacts), "figures": len(figures),
                 "partner_links": len(links), "roster_editions": len(edition_rows), "roster_entries": len(entry_rows),
                 "assignments": len(assignment_rows), "active_assignments": len(active),
                 "interactions": len(interaction_rows), "requests": len(request_rows),
                 "request_events": len(event_rows), "policy_deliveries": len(delivery_rows),
                 "audit_rows": len(audits), "notifications": len(notifications), "users": len(users)}
    return fx


def finish_load() -> None:
    """After explicit ids: move PostgreSQL's sequences past them; VACUUM ANALYZE so the timings see the steady
    state autovacuum would reach after a bulk load (SQLite is left as the app leaves it: no ANALYZE)."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        if "id" in table.c and table.c.id.primary_key:
            db.session.execute(sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE)")  # as autovacuum would leave it: statistics, visibility map


# --- measuring ---------------------------------------------------------------------------------------------------

_IN_LIST = re.compile(r"IN \((?:\?|%\(\w+\)s(?:::\w+)?|\$\d+(?:::\w+)?|, )+\)")


def normalise_sql(statement: str) -> str:
    """A statement with its whitespace folded and its IN lists shortened, to compare two runs' statements."""
    return _IN_LIST.sub("IN (…)", " ".join(statement.split()))


class QueryCounter:
    """Counts the SQL statements run on the engine (BEGIN / SAVEPOINT / RELEASE / ROLLBACK not included)."""

    SKIP = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")

    def __init__(self, engine: sa.Engine):
        self.count = 0
        self.statements: list[str] = []
        self.keep = False
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn, _cursor, statement, _parameters, _context, _executemany) -> None:
        if statement.lstrip().upper().startswith(self.SKIP):
            return
        self.count += 1
        if self.keep:
            self.statements.append(statement)

    def reset(self) -> None:
        self.count = 0
        self.statements = []


@dataclass
class Result:
    group: str
    name: str
    runs_ms: list[float]
    queries: int
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def p95(self) -> float:
        ordered = sorted(self.runs_ms)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    def to_dict(self) -> dict:
        return {"group": self.group, "operation": self.name, "median_ms": round(self.median, 2),
                "p95_ms": round(self.p95, 2), "queries": self.queries, "runs": len(self.runs_ms),
                "runs_ms": [round(r, 2) for r in self.runs_ms], "note": self.note}


class Bench:
    def __init__(self, app: Flask, fx: Fixture, repeat: int, log: Callable[[str], None]):
        self.app = app
        self.fx = fx
        self.repeat = repeat
        self.log = log
        with app.app_context():
            self.counter = QueryCounter(db.engine)
        self.results: list[Result] = []
        self.nplus1: list[dict] = []
        self.clients: dict[str, FlaskClient] = {}

    # one domain call in a fresh session: ``setup`` (untimed) loads what ``action`` needs
    def _domain_run(self, setup: Callable[[], Any], action: Callable[[Any], Any]) -> tuple[float, int]:
        with self.app.app_context():
            try:
                ctx = setup()
                self.counter.reset()
                start = perf_counter()
                action(ctx)
                elapsed = perf_counter() - start
                return elapsed * 1000, self.counter.count
            finally:
                db.session.rollback()

    def domain(self, group: str, name: str, setup: Callable[[], Any], action: Callable[[Any], Any], *,
               repeat: int | None = None, note: str = "", warm_up: bool = True) -> Result:
        if warm_up:
            self._domain_run(setup, action)
        runs = [self._domain_run(setup, action) for _ in range(repeat or self.repeat)]
        return self._add(group, name, runs, note)

    def client(self, username: str) -> FlaskClient:
        if username not in self.clients:
            client = self.app.test_client()
            response = client.post("/login", data={"username": username, "password": PASSWORD})
            if response.status_code != 302:
                raise RuntimeError(f"sign-in of {username} failed: {response.status_code}")
            self.clients[username] = client
        return self.clients[username]

    def _http_run(self, username: str, url: str, expect: str = "") -> tuple[float, int, int, int]:
        client = self.client(username)
        self.counter.reset()
        start = perf_counter()
        response = client.get(url)
        body = response.get_data()
        elapsed = perf_counter() - start
        if response.status_code != 200:
            raise RuntimeError(f"GET {url} as {username}: {response.status_code}\n{body[:2000]!r}")
        if expect and expect.encode() not in body:
            raise RuntimeError(f"GET {url} as {username}: {expect!r} is not on the page")
        return elapsed * 1000, self.counter.count, len(body), response.status_code

    def http(self, group: str, name: str, username: str, url: str, *, repeat: int | None = None,
             expect: str = "") -> Result:
        """GET ``url`` signed in as ``username``; the page must answer 200 (and contain ``expect``)."""
        self._http_run(username, url, expect)  # warm-up
        runs, size = [], 0
        for _ in range(repeat or self.repeat):
            elapsed, queries, size, _status = self._http_run(username, url)
            runs.append((elapsed, queries))
        return self._add(group, name, runs, f"{size // 1024} KB")

    def statements_of(self, username: str, url: str) -> list[str]:
        self.counter.keep = True
        try:
            self._http_run(username, url)
            return list(self.counter.statements)
        finally:
            self.counter.keep = False

    def check_growth(self, page: str, username: str, small: tuple[str, str], large: tuple[str, str]) -> None:
        """The same page at a small and a large size: a query count that grows with the rows is an N+1."""
        small_label, small_url = small
        large_label, large_url = large
        small_run, large_run = self.statements_of(username, small_url), self.statements_of(username, large_url)
        q_small, q_large = len(small_run), len(large_run)
        verdict = "constant" if q_small == q_large else f"differs ({q_large - q_small:+d})"
        extra = Counter(map(normalise_sql, large_run))
        extra.subtract(map(normalise_sql, small_run))
        extra_statements = []
        if q_small != q_large:
            extra_statements = [f"{n}× {q[:110]}" for q, n in extra.items() if n > 0]
            repeated = max(extra.values())
            verdict = (f"GROWS: N+1 ({repeated}× the same statement)" if repeated >= 3
                       else f"{q_large - q_small:+d}, one-off (not per row)")
        self.nplus1.append({"page": page, "small": small_label, "small_queries": q_small, "large": large_label,
                            "large_queries": q_large, "verdict": verdict, "extra_statements": extra_statements})
        self.log(f"  {page}: {small_label} {q_small} q, {large_label} {q_large} q → {verdict}")
        for statement in extra_statements:
            self.log(f"      + {statement}")

    def _add(self, group: str, name: str, runs: list[tuple[float, int]], note: str) -> Result:
        result = Result(group, name, [r[0] for r in runs], max(r[1] for r in runs), note)
        self.results.append(result)
        flag = "  SLOW" if result.median > SLOW_MS else ""
        self.log(f"  {name:<58} {result.median:9.1f} {result.p95:9.1f} {result.queries:5d}{flag}")
        return result


def run_benchmarks(bench: Bench) -> None:
    from crm.auth.models import User
    from crm.core.pagination import paginate
    from crm.enterprises.domain import search_statement
    from crm.rosters import domain as rosters
    from crm.rosters import excel
    from crm.rosters.models import RosterEdition
    from crm.service.assignments import coverage
    from crm.service.interactions import last_contact
    from crm.service.models import Assignment
    from crm.service.requests import requests_statement

    fx = bench.fx
    coordinator_id = fx.users["coordinator"]
    # the commissioner with the most active assignments stands for "a commissioner with ~300 enterprises"
    with bench.app.app_context():
        commissioner_id, load = db.session.execute(
            sa.select(Assignment.commissioner_id, sa.func.count()).where(Assignment.ended_on.is_(None))
            .group_by(Assignment.commissioner_id).order_by(sa.func.count().desc(), Assignment.commissioner_id)
            .limit(1)).one()
        commissioner_name = db.session.get(User, commissioner_id).username
        their_ids = list(db.session.scalars(sa.select(Assignment.enterprise_id).where(
            Assignment.commissioner_id == commissioner_id, Assignment.ended_on.is_(None))))
    bench.log(f"commissioner {commissioner_name}: {load} active assignments")
    published, draft = fx.periods[-2], fx.periods[-1]
    previous = fx.periods[-3]
    kind = "supplier_list"
    per_page = 50

    def users(*ids: int) -> Callable[[], Any]:
        return lambda: [db.session.get(User, i) for i in ids]

    coord = users(coordinator_id)
    comm = users(commissioner_id)

    def page_of(**filters: Any) -> Callable[[Any], Any]:
        return lambda ctx: paginate(search_statement(ctx[0], **filters), 1, per_page)

    log = bench.log
    log(f"\n{'operation':<60} {'median ms':>9} {'p95 ms':>9} {'queries':>7}")
    g = "enterprises (domain: search_statement + paginate, 50 per page)"
    log(f"-- {g}")
    bench.domain(g, "list p1 unfiltered (city coordinator)", coord, page_of())
    bench.domain(g, f"search name fragment '{fx.q_name}'", coord, page_of(q=fx.q_name))
    bench.domain(g, f"search pinyin initials '{fx.q_initials}'", coord, page_of(q=fx.q_initials))
    bench.domain(g, f"search USCC fragment '{fx.q_uscc}'", coord, page_of(q=fx.q_uscc))
    bench.domain(g, "county + cluster filter (city coordinator)", coord,
                 page_of(county="汇川区", cluster="装备制造"))
    bench.domain(g, "sort -updated, page 1 (city coordinator)", coord, page_of(sort="-updated"))
    bench.domain(g, "page 100 unfiltered (offset 4,950)", coord,
                 lambda ctx: paginate(search_statement(ctx[0]), 100, per_page))
    bench.domain(g, "roster filter supplier_list (city coordinator)", coord, page_of(roster="supplier_list"))
    bench.domain(g, f"list p1 unfiltered (commissioner, {load} enterprises)", comm, page_of())
    bench.domain(g, f"search name fragment '{fx.q_name}' (commissioner)", comm, page_of(q=fx.q_name))
    bench.domain(g, "county + cluster filter (commissioner)", comm, page_of(county="汇川区", cluster="装备制造"))

    g = "pages (Flask test client, signed in; whole request incl. template)"
    log(f"-- {g}")
    bench.http(g, "GET /enterprises/ (city coordinator)", "coordinator", "/enterprises/", expect="enterprise-table")
    bench.http(g, f"GET /enterprises/?q={fx.q_name} (city coordinator)", "coordinator", f"/enterprises/?q={fx.q_name}",
               expect="enterprise-table")
    bench.http(g, "GET /enterprises/ (commissioner)", commissioner_name, "/enterprises/", expect="enterprise-table")
    bench.http(g, "GET /enterprises/<id> detail, long record (coordinator)", "coordinator",
               f"/enterprises/{fx.rich_enterprise}")
    bench.http(g, "GET /enterprises/<id> detail (commissioner, own enterprise)", commissioner_name,
               f"/enterprises/{their_ids[0]}")
    bench.http(g, f"GET /rosters/{kind}/{published} (edition page)", "coordinator", f"/rosters/{kind}/{published}",
               expect="roster-table")
    bench.http(g, "GET /rosters/?kind=supplier_list (published list)", "coordinator", "/rosters/?kind=supplier_list",
               expect="roster-table")
    bench.http(g, f"GET /rosters/{kind}/diff {previous}→{published}", "coordinator",
               f"/rosters/{kind}/diff?from={previous}&to={published}", expect='data-diff="added"')
    bench.http(g, "GET /assignments/ coverage (commissioner)", commissioner_name, "/assignments/",
               expect="coverage-table")
    bench.http(g, "GET /assignments/ coverage (city coordinator, all listed)", "coordinator", "/assignments/",
               repeat=max(1, min(bench.repeat, 3)), expect="coverage-table")
    bench.http(g, "GET /assignments/enterprise/<id> (coordinator)", "coordinator",
               f"/assignments/enterprise/{fx.rich_enterprise}")

    # the service pages, when this version of the app has them
    views = bench.app.view_functions
    if "service.workspace" in views:
        bench.http(g, "GET /service/ workspace (commissioner)", commissioner_name, "/service/")
        bench.http(g, "GET /service/ workspace (city coordinator)", "coordinator", "/service/")
    if "service.requests_index" in views:
        bench.http(g, "GET /service/requests/?overdue=1 (city coordinator)", "coordinator",
                   "/service/requests/?overdue=1")
        bench.http(g, "GET /service/requests/?overdue=1 (commissioner)", commissioner_name,
                   "/service/requests/?overdue=1")
    if "policy.index" in views:
        bench.http(g, "GET /policy/ (city coordinator)", "coordinator", "/policy/")

    g = "rosters (domain)"
    log(f"-- {g}")

    def edition_of(k: str, period: str) -> Callable[[], Any]:
        return lambda: db.session.get(RosterEdition, fx.editions[(k, period)])

    bench.domain(g, f"entries page 1 + counts_by_county ({kind} {published})", edition_of(kind, published),
                 lambda e: (paginate(rosters.entries_statement(e), 1, per_page), rosters.counts_by_county(e)))
    bench.domain(g, "entries page 1, county filter", edition_of(kind, published),
                 lambda e: paginate(rosters.entries_statement(e, county="汇川区"), 1, per_page))
    bench.domain(g, f"diff {kind} {previous}→{published}", lambda: None,
                 lambda _: rosters.diff(kind, previous, published))
    bench.domain(g, f"diff cultivation_pool {fx.periods[0]}→{published}", lambda: None,
                 lambda _: rosters.diff("cultivation_pool", fx.periods[0], published))
    heavy = max(1, min(bench.repeat, 3))
    with bench.app.app_context():
        export_published = excel.export_xlsx(db.session.get(RosterEdition, fx.editions[(kind, published)]))
        export_draft = excel.export_xlsx(db.session.get(RosterEdition, fx.editions[(kind, draft)]))
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(
            rosters.entries_statement(db.session.get(RosterEdition, fx.editions[(kind, published)]))
            .order_by(None).subquery()))
    bench.domain(g, f"export_xlsx ({rows} entries)", edition_of(kind, published),
                 lambda e: excel.export_xlsx(e), repeat=heavy, note=f"{len(export_published) // 1024} KB")
    bench.domain(g, "export_csv (same edition)", edition_of(kind, published), lambda e: excel.export_csv(e),
                 repeat=heavy)
    bench.domain(g, f"check_file of a {rows}-row XLSX (upload check)", lambda: None,
                 lambda _: excel.check_file("list.xlsx", export_draft))

    def import_setup(period: str) -> Callable[[], Any]:
        return lambda: (db.session.get(RosterEdition, fx.editions[(kind, period)]),
                        db.session.get(User, coordinator_id))

    def run_import(ctx: Any, data: bytes, expect_added: int | None) -> None:
        result = excel.import_rows(ctx[0], data, ctx[1])
        if not result.ok or (expect_added is not None and result.added != expect_added):
            raise RuntimeError(f"unexpected import result: {result.summary} {result.problems[:3]}")

    bench.domain(g, f"import_rows check, {rows} rows all unchanged (draft)", import_setup(draft),
                 lambda ctx: run_import(ctx, export_draft, 0), repeat=heavy)
    bench.domain(g, f"import_rows write, {rows} new entries (rolled back)", import_setup(fx.empty_draft[1]),
                 lambda ctx: run_import(ctx, export_published, rows), repeat=max(1, min(bench.repeat, 2)),
                 warm_up=False, note="no warm-up")

    g = "service (domain)"
    log(f"-- {g}")
    bench.domain(g, "coverage matrix (city coordinator, all listed)", coord, lambda ctx: coverage(ctx[0]),
                 repeat=heavy)
    bench.domain(g, "coverage matrix missing=any, 汇川区 (city coordinator)", coord,
                 lambda ctx: coverage(ctx[0], county="汇川区", missing="any"))
    bench.domain(g, "coverage matrix (commissioner)", comm, lambda ctx: coverage(ctx[0]))
    from crm.service import assignments as service_assignments
    from crm.service import workspace as service_workspace

    if hasattr(service_assignments, "coverage_page"):  # versions with the paginated matrix
        bench.domain(g, "coverage_page 1 + gap counts (city coordinator, all listed)", coord,
                     lambda ctx: service_assignments.coverage_page(ctx[0], 1, per_page))
    if hasattr(service_workspace, "workspace_page"):  # versions with the workspace sorted in SQL
        from crm.core.time import local_today

        bench.domain(g, "workspace_page 1 (city coordinator, all commissioners)", coord,
                     lambda ctx: service_workspace.workspace_page(ctx[0], None, local_today(), 1, per_page))
    bench.domain(g, "requests_statement overdue, page 1 (city coordinator)", coord,
                 lambda ctx: paginate(requests_statement(ctx[0], overdue=True), 1, per_page))
    bench.domain(g, "requests_statement overdue, page 1 (commissioner)", comm,
                 lambda ctx: paginate(requests_statement(ctx[0], overdue=True), 1, per_page))
    bench.domain(g, "requests_statement open, county 汇川区 (city coordinator)", coord,
                 lambda ctx: paginate(requests_statement(ctx[0], status=["raised", "accepted", "in_progress"],
                                                         county="汇川区"), 1, per_page))
    bench.domain(g, f"last_contact for {min(300, len(their_ids))} enterprises", lambda: None,
                 lambda _: last_contact(their_ids[:300]))

    log("\nN+1 check (queries per request at a small and a large page)")
    bench.check_growth("/enterprises/", "coordinator", ("per_page=10", "/enterprises/?per_page=10"),
                       ("per_page=200", "/enterprises/?per_page=200"))
    bench.check_growth("/enterprises/ (commissioner)", commissioner_name,
                       ("per_page=10", "/enterprises/?per_page=10"), ("per_page=200", "/enterprises/?per_page=200"))
    bench.check_growth("/rosters/<kind>/<period>", "coordinator",
                       ("per_page=10", f"/rosters/{kind}/{published}?per_page=10"),
                       ("per_page=200", f"/rosters/{kind}/{published}?per_page=200"))
    bench.check_growth("/enterprises/<id>", "coordinator",
                       ("plain record", f"/enterprises/{fx.plain_enterprise}"),
                       ("long record", f"/enterprises/{fx.rich_enterprise}"))
    bench.check_growth("/assignments/ (coverage)", "coordinator",
                       ("one county", "/assignments/?county=务川自治县"), ("all listed", "/assignments/"))
    if "service.requests_index" in views:
        bench.check_growth("/service/requests/", "coordinator", ("per_page=10", "/service/requests/?per_page=10"),
                           ("per_page=200", "/service/requests/?per_page=200"))
    if "service.workspace" in views:
        bench.check_growth("/service/ (workspace)", "coordinator", ("per_page=10", "/service/?per_page=10"),
                           ("per_page=200", "/service/?per_page=200"))
    if "policy.index" in views:
        bench.check_growth("/policy/", "coordinator", ("per_page=10", "/policy/?per_page=10"),
                           ("per_page=200", "/policy/?per_page=200"))
    bench.check_growth("/rosters/<kind>/diff", "coordinator",
                       ("consecutive", f"/rosters/{kind}/diff?from={previous}&to={published}"),
                       ("3 refreshes apart", f"/rosters/{kind}/diff?from={fx.periods[0]}&to={published}"))


# --- output ------------------------------------------------------------------------------------------------------

def git_commit() -> str:
    """The checked-out commit (short), read from .git without running git; "" when unknown."""
    git = ROOT / ".git"
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref: "):
            return head[:10]
        ref = head[5:]
        if (git / ref).exists():
            return (git / ref).read_text(encoding="utf-8").strip()[:10]
        for line in (git / "packed-refs").read_text(encoding="utf-8").splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:10]
    except OSError:
        pass
    return ""


def machine() -> dict[str, str]:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "platform": platform.platform(), "sqlalchemy": sa.__version__, "commit": git_commit()}


def table(results: Iterable[Result]) -> str:
    lines = ["| operation | median ms | p95 ms | queries |", "|---|---:|---:|---:|"]
    group = None
    for r in results:
        if r.group != group:
            group = r.group
            lines.append(f"| **{group}** | | | |")
        flag = " ⚠" if r.median > SLOW_MS else ""
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.name}{note} | {r.median:.1f}{flag} | {r.p95:.1f} | {r.queries} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""),
                        help="postgresql://… to run on PostgreSQL (a database is created and dropped there); "
                             "default: a temporary SQLite file")
    parser.add_argument("--enterprises", type=int, default=20000, help="enterprises to generate (default 20000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per operation after one warm-up")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quiet", action="store_true", help="print only the final table")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated database (its URL is printed) to EXPLAIN queries on it")
    args = parser.parse_args(argv)
    if args.enterprises < 400:
        parser.error("--enterprises must be at least 400")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    def log(message: str) -> None:
        if not args.quiet:
            print(message, flush=True)

    started = perf_counter()
    url, drop, backend = make_database(args.database_url)
    app = None
    try:
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            from flask_migrate import upgrade

            from crm.demo.reference import load_reference_data

            t0 = perf_counter()
            logging.disable(logging.INFO)  # alembic's "Running upgrade …" lines
            try:
                upgrade()
            finally:
                logging.disable(logging.NOTSET)
            load_reference_data()
            db.session.commit()
            version = database_version()
            log(f"{version}: migrated in {perf_counter() - t0:.1f} s; generating {args.enterprises} enterprises …")
            t0 = perf_counter()
            fx = generate(Scale.for_enterprises(args.enterprises), random.Random(args.seed), log)
            db.session.commit()
            finish_load()
            generated = perf_counter() - t0
            log(f"data set ready in {generated:.1f} s: {fx.counts}")
        bench = Bench(app, fx, args.repeat, log)
        run_benchmarks(bench)
        total = perf_counter() - started
        info = machine() | {"database": version}
        print(f"\n## {info['database']} — {info['nproc']} CPU ({info['cpu']}), Python {info['python']}, "
              f"--enterprises {args.enterprises} --repeat {args.repeat}, commit {info['commit'] or '?'}\n")
        print(table(bench.results))
        print("\n| page | small | queries | large | queries | verdict |\n|---|---|---:|---|---:|---|")
        for row in bench.nplus1:
            print(f"| {row['page']} | {row['small']} | {row['small_queries']} | {row['large']} | "
                  f"{row['large_queries']} | {row['verdict']} |")
        slow = [r for r in bench.results if r.median > SLOW_MS]
        print(f"\nslower than {SLOW_MS:.0f} ms (median): " + (", ".join(r.name for r in slow) or "none"))
        grows = [row["page"] for row in bench.nplus1 if row["verdict"].startswith("GROWS")]
        print("query count growing with the rows shown: " + (", ".join(grows) or "none"))
        print(f"data set generated in {generated:.1f} s; whole run {total:.1f} s")
        if args.json:
            Path(args.json).write_text(json.dumps({
                "machine": info, "backend": backend,
                "arguments": {"enterprises": args.enterprises, "repeat": args.repeat, "seed": args.seed},
                "data_set": fx.counts, "generation_seconds": round(generated, 1), "total_seconds": round(total, 1),
                "slow_threshold_ms": SLOW_MS, "results": [r.to_dict() for r in bench.results],
                "query_growth": bench.nplus1,
            }, ensure_ascii=False, indent=2), encoding="utf-8")
    finally:
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        if args.keep:
            print(f"database kept: {url}")
        else:
            drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
