"""The situation report to the city government in a browser: a leader finds it in the menu, changes the date,
downloads the workbook and prints it (print media hides the navigation and shows the footer), with no console
error or CSP violation."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from crm.extensions import db
from crm.reference.models import Department, by_name
from crm.tasks import supervision
from crm.tasks.models import ProgressReport, ReportStatus, Task, TaskKind, TaskUnit
from tests.browser.conftest import SHOTS, open_page, shot, sign_in
from tests.conftest import make_user


def _data() -> None:
    make_user("leader", username="s_leader")
    coordinator = make_user("coordinator", username="s_coordinator")
    task = db.session.scalar(sa.select(Task).where(Task.kind == TaskKind.TASK, Task.number == 16))
    if task is None:
        task = Task(kind=TaskKind.TASK, number=16, title="搭建重点平台", figures=["rosters", "meetings"])
        for n, name in enumerate(("市工业和科学技术局", "汇川区人民政府")):
            task.unit_links.append(TaskUnit(department=by_name(Department, name), position=n))
        db.session.add(task)
        db.session.flush()
    for unit, period, status in (("市工业和科学技术局", "2026-10", ReportStatus.ON_TRACK),
                                 ("汇川区人民政府", "2026-09", ReportStatus.BEHIND)):
        db.session.add(ProgressReport(task_id=task.id, department_id=by_name(Department, unit).id, period=period,
                                      status=status, text="进展"))
    visit = supervision.create_visit(coordinator, {"visited_on": "2026-11-02", "department": "市工业和科学技术局",
                                                   "task": task.id, "subject": "平台建设专项督导"},
                                     today=date(2026, 11, 20))
    supervision.add_item(coordinator, visit, {"description": "完善会议活动台账", "due_date": "2026-11-10"})


def test_a_leader_reads_downloads_and_prints_the_situation_report(site, browser):
    site.run(_data)
    page, problems = open_page(browser)
    sign_in(page, site, "s_leader")
    page.click("nav >> text=统计")
    page.click("text=方案落实情况报告(报市政府)")
    page.wait_for_load_state()
    assert "/situation/" in page.url
    page.fill("#as_of", "2026-11-20")
    page.click("main form [type=submit]")
    page.wait_for_load_state()
    assert "as_of=2026-11-20" in page.url
    assert page.locator('[data-task="task-16"]').is_visible()
    assert page.locator('[data-total="items_overdue"]').inner_text() == "1"
    assert "完善会议活动台账" in page.locator("[data-overdue-items]").inner_text()
    shot(page, "situation-report")
    with page.expect_download() as download:
        page.click("[data-download]")
    assert download.value.suggested_filename == "工作方案落实情况_20261120.xlsx"
    page.emulate_media(media="print")
    assert page.locator("nav.navbar").is_hidden() and page.locator("[data-print]").is_hidden()
    assert page.locator(".print-footer").is_visible()
    shot(page, "situation-report-print")
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert page.pdf(path=str(SHOTS / "situation.pdf"), format="A4", print_background=True).startswith(b"%PDF")
    assert problems == []
