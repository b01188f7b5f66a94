"""The plan's tasks as seeded, checked against the plan's own text (``crm/demo/plan.txt``): every number,
section, title, text and 责任单位 is read out of the plan's lines here, independently of ``crm/tasks/seed.py``."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

import crm.demo
from crm.demo.reference import COUNTIES, load_reference_data
from crm.extensions import db
from crm.tasks.models import Task, TaskKind, TaskMilestone, TaskUnit
from crm.tasks.seed import load_tasks

PLAN = (Path(crm.demo.__file__).parent / "plan.txt").read_text(encoding="utf-8")
ALL = "各县(市、区)人民政府"
NUMERALS = "一二三四五六七八九十"


def units_of(written: str) -> list[str]:
    names: list[str] = []
    for part in re.split(r"[,、]", written.replace(ALL, "<ALL>")):
        if part == "<ALL>":
            names += [f"{county}人民政府" for county, _ in COUNTIES if county != "新蒲新区"]
        elif part and part not in names:
            names.append(part)
    return names


def tasks_from_plan() -> dict[tuple[str, int], dict]:
    tasks_part = PLAN[PLAN.index("三、重点任务"):PLAN.index("四、保障措施")]
    safeguards_part = PLAN[PLAN.index("四、保障措施"):]
    found: dict[tuple[str, int], dict] = {}
    section = None
    for line in tasks_part.splitlines():
        if re.fullmatch(r"\([一二三四五六七八九十]\)[^。]+", line):
            section = line
        match = re.match(r"^(\d+)\.([^。]+)。.*\(责任单位:(.+)\)$", line)
        if match:
            found[("task", int(match[1]))] = {"title": match[2], "units": units_of(match[3]), "text": line,
                                              "section": section}
    for line in safeguards_part.splitlines():
        match = re.match(r"^\(([一二三四五六七八九十])\)([^。]+)。.*\(责任单位:(.+)\)$", line)
        if match:
            found[("safeguard", NUMERALS.index(match[1]) + 1)] = {
                "title": match[2], "units": units_of(match[3]), "text": line, "section": "四、保障措施"}
    return found


def test_the_plan_has_18_tasks_and_3_safeguards():
    found = tasks_from_plan()
    assert sorted(n for k, n in found if k == "task") == list(range(1, 19))
    assert sorted(n for k, n in found if k == "safeguard") == [1, 2, 3]


def test_every_task_title_text_section_and_unit_is_the_plans():
    found = tasks_from_plan()
    seeded = list(db.session.scalars(sa.select(Task)))
    assert len(seeded) == 21
    for task in seeded:
        plan = found[(task.kind.value, task.number)]
        assert task.title == plan["title"], task.label
        assert task.text == plan["text"], task.label
        assert task.section == plan["section"], task.label
        assert [d.name for d in task.units] == plan["units"], task.label
        assert [link.position for link in task.unit_links] == list(range(len(plan["units"])))


def test_the_county_governments_and_xinpu_are_expanded_as_the_plan_says():
    by_key = {(t.kind, t.number): t for t in db.session.scalars(sa.select(Task))}
    task1 = [d.name for d in by_key[(TaskKind.TASK, 1)].units]
    assert task1 == ["市工业和科学技术局", "市发展改革委", "市投资促进局", "桐梓县人民政府"]
    task16 = [d.name for d in by_key[(TaskKind.TASK, 16)].units]
    assert len(task16) == 5 + 14 + 1 and task16[-1] == "新蒲新区管委会" and "仁怀市人民政府" in task16
    assert "新蒲新区人民政府" not in task16
    assert by_key[(TaskKind.SAFEGUARD, 3)].label == "保障措施(三)"


def test_figures_link_tasks_to_what_the_crm_counts():
    by_key = {(t.kind, t.number): t.figures for t in db.session.scalars(sa.select(Task))}
    assert by_key[(TaskKind.TASK, 16)] == ["rosters", "meetings"]
    assert by_key[(TaskKind.TASK, 18)] == ["settled", "rosters"]
    assert by_key[(TaskKind.SAFEGUARD, 3)] == ["service"]
    assert all(by_key[(TaskKind.TASK, n)] == ["targets"] for n in (1, 2, 3))


TARGET = re.compile(r"(?:到)?(20\d\d)年,([^,。]*?)在关键材料、关键零部件、关键设备等产业与成渝地区相互配套规模以上企业"
                    r"(?:分别)?突破([\d家、]+?)[,、]力争产值(?:分别)?突破([\d亿元、]+)")


def test_county_milestones_of_tasks_1_to_3_are_the_plans_numbers():
    tasks_part = PLAN[PLAN.index("三、重点任务"):PLAN.index("四、保障措施")]
    expected = set()
    for line in tasks_part.splitlines():
        number = re.match(r"^(\d+)\.", line)
        for year, who, firms, outputs in TARGET.findall(line):
            counties = who.split("、")
            for county, f, o in zip(counties, re.findall(r"(\d+)家", firms), re.findall(r"(\d+)亿元", outputs),
                                    strict=True):
                expected.add((int(number[1]), int(year), county, "firms", Decimal(f)))
                expected.add((int(number[1]), int(year), county, "output", Decimal(o)))
    assert len(expected) == 2 * 2 * (1 + 4 + 3)
    stored = {(m.task.number, m.due_on.year, m.county.name, m.metric, m.target)
              for m in db.session.scalars(sa.select(TaskMilestone).where(TaskMilestone.county_id.is_not(None)))}
    assert stored == expected


def test_settled_parks_meetings_and_refresh_milestones():
    rows = {(m.task.number, m.due_on.year, m.metric): m.target
            for m in db.session.scalars(sa.select(TaskMilestone).where(TaskMilestone.county_id.is_(None)))}
    settled = {int(y): int(n) for y, n in re.findall(r"到(20\d\d)年,力争完成(\d+)家成渝地区企业落户", PLAN)}
    parks = {int(y): int(n) for y, n in re.findall(r"到(20\d\d)年,力争[^。]*?配套产业园区(\d+)个以上", PLAN)}
    assert {y: int(rows[(18, y, "settled_from_chengyu")]) for y in settled} == settled == {2025: 10, 2027: 50}
    assert {y: int(rows[(17, y, "parks")]) for y in parks} == parks == {2025: 2, 2027: 5}
    assert "每年定期至少组织一次" in PLAN and "每半年更新完善" in PLAN
    assert all(rows[(16, y, "meetings")] == 1 and rows[(16, y, "list_refresh")] == 2 for y in (2025, 2026, 2027))


def test_loading_again_changes_nothing_and_keeps_an_edited_task():
    task = db.session.scalar(sa.select(Task).where(Task.kind == TaskKind.TASK, Task.number == 4))
    task.title = "管理员改过的标题"
    db.session.flush()
    units = db.session.scalar(sa.select(sa.func.count()).select_from(TaskUnit))
    assert load_tasks() == {}
    assert "tasks" not in load_reference_data()
    assert task.title == "管理员改过的标题"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskUnit)) == units
