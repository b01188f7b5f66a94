"""The plan's 18 重点任务 and 3 保障措施 as records (part of ``seed-reference``: idempotent, safe in production).

Titles and 责任单位 are written out here as the plan words them; each task's full text is the plan's own paragraph,
read from ``crm/demo/plan.txt`` (a verbatim copy of the plan). ``tests/tasks/test_seed.py`` reads every title and
unit out of the plan's text on its own and compares. The plan's "各县(市、区)人民政府" expands to the government of
every county-level unit (the departments whose ``county_id`` is set and whose name ends in 人民政府, in the
counties' order); 新蒲新区管委会 is a unit only where the plan names it. Existing tasks (by kind and number) are
left alone, whatever an admin has changed since.

Milestones are the dated or numbered ones the plan states, with a metric the CRM can count:
``firms`` / ``output`` (tasks 1–3, per county, 2025 and 2027), ``settled_from_chengyu`` (task 18: 10 / 50 成渝
firms settled by 2025 / 2027), ``parks`` (二、发展目标: 2 / 5 配套产业园区 by 2025 / 2027, kept on task 17, the
one about the parks' capacity and 飞地 cooperation), ``list_refresh`` (tasks 16 and 18: the lists refreshed every
half year, 2 a year) and ``meetings`` (task 16: at least one 产销对接会 … a year).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

from crm.extensions import db
from crm.reference.models import County, Department
from crm.tasks.models import Task, TaskKind, TaskMilestone, TaskUnit

PLAN_FILE = Path(__file__).resolve().parent.parent / "demo" / "plan.txt"
ALL_COUNTY_GOVERNMENTS = "各县(市、区)人民政府"
_CORE = "市工业和科学技术局、市发展改革委、市投资促进局,"
_DATA = "市工业和科学技术局、市发展改革委、市大数据发展管理局、市投资促进局,"
_ALL = "各县(市、区)人民政府、新蒲新区管委会"

S1 = "(一)发挥区位优势,建设配套园区"
S2 = "(二)利用产业基础,打造配套集群"
S3 = "(三)立足资源禀赋,实现链式发展"
S4 = "(四)构建创新体系、提升发展动力"
S5 = "(五)加强信息互通,构建协同平台"
SAFEGUARDS = "四、保障措施"

# (number, section, title, 责任单位 as the plan writes them, figures)
TASKS: list[tuple[int, str, str, str, list[str]]] = [
    (1, S1, "建设先行探索示范区", _CORE + "桐梓县人民政府", ["targets"]),
    (2, S1, "推动中心城区率先融入", _CORE + "红花岗区人民政府、汇川区人民政府、播州区人民政府、新蒲新区管委会",
     ["targets"]),
    (3, S1, "实现多板块协同联动", _CORE + "道真自治县人民政府、正安县人民政府、务川自治县人民政府", ["targets"]),
    (4, S1, "构建全领域集成推进", _CORE + _ALL, []),
    (5, S2, "构建汽车电池材料产业集群", _CORE + _ALL, []),
    (6, S2, "打造航空航天装备产业集群", "市委军民融合办、" + _CORE + _ALL, []),
    (7, S2, "构建电子信息配套产业集群", _CORE + _ALL, []),
    (8, S2, "打造装备配套产业集群", _CORE + _ALL, []),
    (9, S3, "打造基础材料供应产业集群", _CORE + _ALL, []),
    (10, S3, "建设现代化工保障产业集群", _CORE + _ALL, []),
    (11, S3, "协同推动其他产业配套发展", _DATA + _ALL, []),
    (12, S4, "开展创新平台合作", _DATA + _ALL, []),
    (13, S4, "开展关键技术联合攻关", _DATA + _ALL, []),
    (14, S4, "开展科技成果转移转化", _DATA + _ALL, []),
    (15, S4, "开展科技人才交流培养", _DATA + _ALL, []),
    (16, S5, "搭建重点平台",
     "市工业和科学技术局、市发展改革委、市民政局、市人力资源社会保障局、市投资促进局," + _ALL, ["rosters", "meetings"]),
    (17, S5, "提升承接能力", "市工业和科学技术局、市发展改革委、市税务局、市投资促进局," + _ALL, ["parks"]),
    (18, S5, "加大招商引资力度", "市人民政府驻重庆(成都)办事处、" + _CORE + _ALL, ["settled", "rosters"]),
]
SAFEGUARD_TASKS: list[tuple[int, str, str, list[str]]] = [
    (1, "加强统筹协调", "市人民政府驻重庆(成都)办事处、" + _CORE + _ALL, []),
    (2, "强化政策支持", "市工业和科学技术局、市财政局、市发展改革委、市能源局、市水务局、市自然资源局、市投资促进局、"
                        "遵义供电局、市综合行政执法局," + _ALL, []),
    (3, "优化企业服务", "市政务服务管理局、市工业和科学技术局、市发展改革委、市人力资源社会保障局、市税务局、"
                        "市投资促进局," + _ALL, ["service"]),
]
# County targets of tasks 1–3: task → county → (2025 firms, 2025 产值 亿元, 2027 firms, 2027 产值 亿元).
COUNTY_TARGETS: dict[int, dict[str, tuple[int, int, int, int]]] = {
    1: {"桐梓县": (10, 10, 15, 15)},
    2: {"红花岗区": (5, 10, 10, 20), "汇川区": (35, 40, 40, 80), "播州区": (10, 15, 15, 25),
        "新蒲新区": (5, 5, 10, 15)},
    3: {"道真自治县": (3, 3, 6, 6), "正安县": (5, 5, 10, 10), "务川自治县": (2, 2, 4, 4)},
}
PLAN_YEARS = (2025, 2026, 2027)
# Other milestones: task number → [(due, metric, target, text)].
OTHER_MILESTONES: dict[int, list[tuple[date, str, int, str]]] = {
    16: [m for year in PLAN_YEARS for m in (
        (date(year, 12, 31), "list_refresh", 2, f"{year}年融入成渝经济圈工业配套企业名单每半年更新完善(全年2次)"),
        (date(year, 12, 31), "meetings", 1,
         f"{year}年至少组织一次与成渝地区的产销对接会、企业家座谈会、供应链洽谈会等活动"))],
    17: [(date(2025, 12, 31), "parks", 2, "到2025年配套产业园区2个以上"),
         (date(2027, 12, 31), "parks", 5, "到2027年配套产业园区5个以上")],
    18: [(date(2025, 12, 31), "settled_from_chengyu", 10, "到2025年力争完成10家成渝地区企业落户"),
         (date(2027, 12, 31), "settled_from_chengyu", 50, "到2027年力争完成50家成渝地区企业落户"),
         *((date(year, 12, 31), "list_refresh", 2,
            f"{year}年融入成渝地区现代化产业体系重点企业培育库每半年更新完善(全年2次)") for year in PLAN_YEARS)],
}
SECTION_NUMERALS = "一二三四五六七八九十"


def plan_text() -> str:
    return PLAN_FILE.read_text(encoding="utf-8")


def paragraph(plan: str, kind: TaskKind, number: int, title: str) -> str:
    """The plan's paragraph of a task ("1.建设先行探索示范区。…(责任单位:…)"), or ``""`` when not found."""
    if kind is TaskKind.TASK:
        start_text, body = plan[plan.index("三、重点任务"):plan.index(SAFEGUARDS)], f"{number}.{title}。"
    else:
        start_text, body = plan[plan.index(SAFEGUARDS):], f"({SECTION_NUMERALS[number - 1]}){title}。"
    at = start_text.find(body)
    if at < 0:
        return ""
    return start_text[at:].split("\n", 1)[0].strip()


def split_units(written: str) -> list[str]:
    """"市工业和科学技术局、…,桐梓县人民政府" → the names, in order (the plan's own 各县(市、区)人民政府 kept whole)."""
    names: list[str] = []
    for group in written.split(","):
        text = group.replace(ALL_COUNTY_GOVERNMENTS, "\0")
        names.extend(ALL_COUNTY_GOVERNMENTS if part == "\0" else part for part in text.split("、") if part)
    return names


def county_governments() -> list[Department]:
    """Every county-level unit's 人民政府 (not 新蒲新区管委会), in the counties' order."""
    return list(db.session.scalars(
        sa.select(Department).join(County, County.id == Department.county_id)
        .where(Department.name.like("%人民政府")).order_by(County.sort_order, Department.id)))


def resolve_units(written: str) -> list[Department]:
    by_name = {d.name: d for d in db.session.scalars(sa.select(Department))}
    units: list[Department] = []
    for name in split_units(written):
        found = county_governments() if name == ALL_COUNTY_GOVERNMENTS else [by_name[name]]
        units.extend(d for d in found if d not in units)
    return units


def _milestones(number: int) -> list[tuple[date, str | None, str, int, str]]:
    """(due, county, metric, target, text) of a 重点任务."""
    rows: list[tuple[date, str | None, str, int, str]] = []
    for county, (f25, o25, f27, o27) in COUNTY_TARGETS.get(number, {}).items():
        for year, firms, output in ((2025, f25, o25), (2027, f27, o27)):
            rows.append((date(year, 12, 31), county, "firms", firms,
                         f"到{year}年{county}与成渝地区相互配套规模以上企业突破{firms}家"))
            rows.append((date(year, 12, 31), county, "output", output,
                         f"到{year}年{county}配套产值力争突破{output}亿元"))
    rows.extend((due, None, metric, target, text) for due, metric, target, text in OTHER_MILESTONES.get(number, []))
    return rows


def load_tasks() -> Counter:
    """Create the tasks the plan states and that do not exist yet (by kind and number), with their units in the
    plan's order and their milestones; the caller commits. Returns the rows created per kind (``tasks``,
    ``task_units``, ``task_milestones``)."""
    created: Counter = Counter()
    plan = plan_text()
    counties = {c.name: c.id for c in db.session.scalars(sa.select(County))}
    existing = set(db.session.execute(sa.select(Task.kind, Task.number)))
    specs = [(TaskKind.TASK, n, section, title, units, figures) for n, section, title, units, figures in TASKS]
    specs += [(TaskKind.SAFEGUARD, n, SAFEGUARDS, title, units, figures)
              for n, title, units, figures in SAFEGUARD_TASKS]
    for kind, number, section, title, written, figures in specs:
        if (kind, number) in existing:
            continue
        task = Task(kind=kind, number=number, section=section, title=title,
                    text=paragraph(plan, kind, number, title), figures=list(figures))
        for position, department in enumerate(resolve_units(written)):
            task.unit_links.append(TaskUnit(department_id=department.id, position=position))
        if kind is TaskKind.TASK:
            for position, (due, county, metric, target, text) in enumerate(_milestones(number)):
                task.milestones.append(TaskMilestone(
                    due_on=due, county_id=counties.get(county) if county else None, metric=metric,
                    target=Decimal(target), text=text, position=position))
        db.session.add(task)
        created["tasks"] += 1
        created["task_units"] += len(task.unit_links)
        created["task_milestones"] += len(task.milestones)
    db.session.flush()
    return created
