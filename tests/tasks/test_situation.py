"""The situation report's numbers, computed by hand on a small data set and compared with both the data structure
(``situation_report``) and the cells of the XLSX.

The data set, as of Friday 20 November 2026 (no holiday table for 2026 in the test database: Monday–Friday):
monthly cadence, 5 working days' grace → the due period is October 2026, its deadline Friday 6 November.

- 重点任务16 (figures rosters + meetings), units 市工业和科学技术局 (A) and 汇川区人民政府 (B):
  A filed 2026-09 滞后, 2026-10 按计划推进 and 2026-11 (the current month) 滞后 → 已报送, latest 滞后;
  B filed 2026-09 滞后 only → 逾期未报送 for October, latest 滞后.
- 重点任务18 (figure settled), unit 市投资促进局 (C): nothing filed → 逾期未报送.
- 保障措施(三) (figure service), unit 市工业和科学技术局 (A): 2026-10 已完成.
- Lists: the 配套企业名单 2026H1 published with two enterprises; the 培育库 never published.
- Meetings: one 产销对接会 held in 成都 on 1 July 2026.
- Service in 2026: one 诉求 closed in May, one raised in June and still open past its due date, one 政策兑现 delivered.
- 成渝 settled: one enterprise settled from 成渝 on 1 March 2026.
- 专项督导: a visit about task 16 with an item overdue (due 10 November, open) and one not yet due; a visit about
  no task with an item overdue (due 5 November, in progress) and one done (not overdue: it waits for closing).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.reference.models import Department, by_name
from crm.rosters.models import RosterKind
from crm.service.models import (
    DeliveryStatus,
    PolicyDelivery,
    PolicyKind,
    RequestCategory,
    RequestStatus,
    ServiceRequest,
)
from crm.tasks import situation
from crm.tasks import supervision as supervision_domain
from crm.tasks.models import (
    ProgressReport,
    RectificationStatus,
    ReportStatus,
    Task,
    TaskKind,
    TaskMilestone,
    TaskUnit,
)
from tests.conftest import make_enterprise, make_user
from tests.meetings.factories import make_meeting
from tests.rosters.factories import published_edition

AS_OF = date(2026, 11, 20)


def task(kind: TaskKind, number: int, title: str, figures: list[str], units: list[str]) -> Task:
    row = Task(kind=kind, number=number, title=title, figures=figures)
    for n, name in enumerate(units):
        row.unit_links.append(TaskUnit(department=by_name(Department, name), position=n))
    db.session.add(row)
    db.session.flush()
    return row


def report(task_: Task, unit: str, period: str, status: ReportStatus) -> None:
    db.session.add(ProgressReport(task_id=task_.id, department_id=by_name(Department, unit).id, period=period,
                                  status=status, text="进展"))


@pytest.fixture
def data_set():
    for model in (TaskMilestone, TaskUnit, Task):  # the plan's seeded tasks give way to this small data set
        db.session.execute(sa.delete(model))
    a, b, c = "市工业和科学技术局", "汇川区人民政府", "市投资促进局"
    t16 = task(TaskKind.TASK, 16, "搭建重点平台", ["rosters", "meetings"], [a, b])
    t18 = task(TaskKind.TASK, 18, "加大招商引资力度", ["settled"], [c])
    s3 = task(TaskKind.SAFEGUARD, 3, "优化企业服务", ["service"], [a])
    db.session.add_all([
        TaskMilestone(task_id=t16.id, due_on=date(2026, 12, 31), text="2026年名单每半年更新(全年2次)",
                      metric="list_refresh", target=Decimal(2), position=0),
        TaskMilestone(task_id=t16.id, due_on=date(2026, 12, 31), text="2026年至少组织一次对接活动",
                      metric="meetings", target=Decimal(1), position=1),
        TaskMilestone(task_id=t18.id, due_on=date(2027, 12, 31), text="到2027年力争完成50家成渝地区企业落户",
                      metric="settled_from_chengyu", target=Decimal(50), position=0),
    ])
    report(t16, a, "2026-09", ReportStatus.BEHIND)
    report(t16, a, "2026-10", ReportStatus.ON_TRACK)
    report(t16, a, "2026-11", ReportStatus.BEHIND)
    report(t16, b, "2026-09", ReportStatus.BEHIND)
    report(s3, a, "2026-10", ReportStatus.DONE)

    firms = [make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")]
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", firms)
    make_meeting(title="成都产销对接会", starts="2026-07-01 09:00", city="成都", status="held")
    make_enterprise(county="汇川区", settled_from_chengyu=True, settled_on="2026-03-01")
    db.session.add_all([
        ServiceRequest(enterprise_id=firms[0].id, category=RequestCategory.POWER, description="已办结",
                       raised_on=date(2026, 5, 1), due_date=date(2026, 5, 15), status=RequestStatus.CLOSED,
                       closed_at=datetime(2026, 5, 10, 2, 0, tzinfo=UTC), satisfaction=5),
        ServiceRequest(enterprise_id=firms[1].id, category=RequestCategory.LAND, description="逾期",
                       raised_on=date(2026, 6, 1), due_date=date(2026, 6, 15), status=RequestStatus.RAISED),
        PolicyDelivery(enterprise_id=firms[0].id, kind=PolicyKind.TAX, promised="减免", promised_date=date(2026, 6, 10),
                       delivered_date=date(2026, 6, 1), status=DeliveryStatus.DELIVERED),
    ])

    coordinator = make_user("coordinator")
    visit = supervision_domain.create_visit(coordinator, {"visited_on": "2026-11-02", "department": a, "task": t16.id,
                                                          "subject": "平台建设督导"}, today=AS_OF)
    supervision_domain.add_item(coordinator, visit, {"description": "名单更新滞后", "due_date": "2026-11-10"})
    supervision_domain.add_item(coordinator, visit, {"description": "会议筹备", "due_date": "2026-12-10"})
    other = supervision_domain.create_visit(coordinator, {"visited_on": "2026-10-26", "county": "汇川区",
                                                          "subject": "区县督导"}, today=AS_OF)
    late = supervision_domain.add_item(coordinator, other, {"description": "台账不全", "due_date": "2026-11-05"})
    late.status = RectificationStatus.IN_PROGRESS
    done = supervision_domain.add_item(coordinator, other, {"description": "已整改", "due_date": "2026-11-04"})
    done.status = RectificationStatus.DONE
    db.session.flush()
    return {"t16": t16, "t18": t18, "s3": s3}


def test_the_numbers_by_hand(data_set):
    r = situation.situation_report(AS_OF)
    assert r["due_period"] == {"key": "2026-10", "label": "2026年10月", "deadline": date(2026, 11, 6)}
    assert [t["label"] for t in r["tasks"]] == ["重点任务16", "重点任务18", "保障措施(三)"]
    t16, t18, s3 = r["tasks"]

    assert t16["units"] == [
        {"unit": "市工业和科学技术局", "latest_period": "2026-11", "latest_status": "behind",
         "latest_status_label": "滞后", "due_state": "reported", "due_state_label": "已报送"},
        {"unit": "汇川区人民政府", "latest_period": "2026-09", "latest_status": "behind",
         "latest_status_label": "滞后", "due_state": "overdue", "due_state_label": "逾期未报送"},
    ]
    assert t16["counts"] == {"units": 2, "reported": 1, "pending": 0, "overdue": 1, "behind": 2}
    assert t18["counts"] == {"units": 1, "reported": 0, "pending": 0, "overdue": 1, "behind": 0}
    assert s3["counts"] == {"units": 1, "reported": 1, "pending": 0, "overdue": 0, "behind": 0}
    assert s3["units"][0]["latest_status"] == "done"
    assert r["totals"] == {"units": 4, "reported": 2, "pending": 0, "overdue": 2, "behind": 2, "items_overdue": 2}

    figures16 = {f["label"]: f["value"] for f in t16["figures"]}
    assert figures16 == {
        "配套企业名单(现行版本)": "2家(2026H1)", "重点企业培育库(现行版本)": "尚未发布",
        "2026年产销对接会": "已举办", "2026年企业家座谈会": "未安排", "2026年供应链洽谈会": "未安排",
        "2026年已举办的成渝对接活动": "1场",
    }
    assert {f["label"]: f["value"] for f in s3["figures"]} == {
        "名单企业五类专员全覆盖": "0/2家(0.0%)", "本年办结诉求": "1件", "逾期未办结诉求": "1件", "本年政策兑现": "1项"}
    (settled,) = t18["figures"]
    assert settled["label"] == "2027年成渝企业落户" and settled["value"].startswith("1/50家")

    assert [(m["metric"], m["target"], m["actual"], m["met"]) for m in t16["milestones"]] == [
        ("list_refresh", 2, 1, False), ("meetings", 1, 1, True)]
    assert [(m["metric"], m["target"], m["actual"], m["met"]) for m in t18["milestones"]] == [
        ("settled_from_chengyu", 50, 1, False)]

    assert t16["items"] == {"open": 2, "overdue": 1}
    assert t16["late"] == ["市工业和科学技术局:最近一期(2026-11)报告进展滞后",
                           "汇川区人民政府:2026年10月进展报告逾期未报送(截止 2026-11-06)",
                           "汇川区人民政府:最近一期(2026-09)报告进展滞后",
                           "整改事项逾期:市工业和科学技术局“名单更新滞后”(时限 2026-11-10)"]
    assert t18["late"] == ["市投资促进局:2026年10月进展报告逾期未报送(截止 2026-11-06)"]
    assert s3["late"] == []
    assert [(i["unit"], i["description"], i["days_overdue"], i["task"]) for i in r["overdue_items"]] == [
        ("汇川区人民政府", "台账不全", 15, ""), ("市工业和科学技术局", "名单更新滞后", 10, "重点任务16")]


def test_before_the_deadline_a_missing_report_is_pending(data_set):
    r = situation.situation_report(date(2026, 11, 4))  # Wednesday: the October reports may still come
    assert r["totals"]["overdue"] == 0 and r["totals"]["pending"] == 2 and r["totals"]["reported"] == 2
    assert r["tasks"][0]["units"][1]["due_state_label"] == "未报送"


def test_the_workbook_cells_are_the_same_numbers(data_set):
    r = situation.situation_report(AS_OF)
    wb = openpyxl.load_workbook(io.BytesIO(situation.xlsx(r)))
    rows = [[c.value for c in row] for row in wb["汇总"].iter_rows()]
    assert rows[0][0].startswith("融入成渝地区双城经济圈工作方案落实情况报告(2026-11-20)")
    assert rows[1] == list(situation.SUMMARY_COLUMNS)
    assert rows[2][:8] == ["重点任务16", "搭建重点平台", "2", "1", "0", "1", "2", "1"]
    assert "配套企业名单(现行版本):2家(2026H1)" in rows[2][8] and "逾期未报送" in rows[2][9]
    assert rows[3][:8] == ["重点任务18", "加大招商引资力度", "1", "0", "0", "1", "0", "0"]
    assert rows[4][:8] == ["保障措施(三)", "优化企业服务", "1", "1", "0", "0", "0", "0"]
    assert rows[4][8] == "名单企业五类专员全覆盖:0/2家(0.0%);本年办结诉求:1件;逾期未办结诉求:1件;本年政策兑现:1项"
    units = [[c.value for c in row] for row in wb["单位报送"].iter_rows()][1:]
    assert units == [["重点任务16", "市工业和科学技术局", "2026-11", "滞后", "已报送"],
                     ["重点任务16", "汇川区人民政府", "2026-09", "滞后", "逾期未报送"],
                     ["重点任务18", "市投资促进局", "—", "—", "逾期未报送"],
                     ["保障措施(三)", "市工业和科学技术局", "2026-10", "已完成", "已报送"]]
    milestones = [[c.value for c in row] for row in wb["里程碑"].iter_rows()][1:]
    assert [row[4:] for row in milestones] == [["2", "1", "未达成"], ["1", "1", "已达成"], ["50", "1", "未达成"]]
    items = [[c.value for c in row] for row in wb["逾期整改事项"].iter_rows()][1:]
    assert [row[:4] for row in items] == [["汇川区人民政府", "台账不全", "2026-11-05", "15"],
                                          ["市工业和科学技术局", "名单更新滞后", "2026-11-10", "10"]]
    for sheet in wb.worksheets:  # text cells only: nothing a spreadsheet would run
        for row in sheet.iter_rows():
            assert all(cell.data_type in ("s", "n") and cell.data_type != "f" for cell in row)


def test_the_page_shows_the_same_numbers(app, data_set, client):
    from tests.conftest import login

    leader = make_user("leader")
    db.session.commit()
    login(client, leader)
    html = client.get("/situation/?as_of=2026-11-20").get_data(as_text=True)
    assert 'data-total="overdue">2<' in html and 'data-total="items_overdue">2<' in html
    assert 'data-task="task-16"' in html and "逾期未报送" in html and "名单更新滞后" in html


def test_an_output_milestone_is_in_yi_yuan_to_two_places():
    from decimal import Decimal
    from types import SimpleNamespace

    from crm.tasks.situation import milestone_actual

    counted = {"units": {"桐梓县": {"firms": 7, "output": Decimal("7.287571")}}, "city": {"firms": 9, "output": 0}}
    figures = SimpleNamespace(actuals=lambda year: counted)
    task = SimpleNamespace(number=1)
    assert milestone_actual("output", "桐梓县", task, 2025, figures) == 7.29
    assert milestone_actual("firms", "桐梓县", task, 2025, figures) == 7
    assert milestone_actual("output", "正安县", task, 2025, figures) == 0  # nothing counted there yet
