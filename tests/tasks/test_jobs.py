"""The progress-report reminder: only units whose report is due are reminded, overdue ones are escalated to the
city coordinators (also without a liaison), each exactly once, on working days only."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.notifications.models import Notification, NotificationKind
from crm.scheduler import registry
from crm.tasks import jobs
from crm.tasks.models import ReminderKind, ReportReminder, TaskUnit
from tests.conftest import make_user
from tests.tasks.factories import make_report, safeguard, task, unit


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 9, 10, tzinfo=SHANGHAI)


def inbox(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def test_the_job_is_registered_daily_at_0910():
    spec = registry.get_job("task_report_reminders")
    assert spec.func == "crm.tasks.jobs:remind_task_reports" and spec.load() is jobs.remind_task_reports


def test_due_units_are_reminded_once_and_a_unit_that_reported_is_not():
    reported = make_user("liaison")  # 市自然资源局: only 保障措施(二) names it
    huichuan = make_user("liaison", department="汇川区人民政府")
    inactive = make_user("liaison", department="汇川区人民政府")
    inactive.active = False
    make_report(safeguard(2), unit("市自然资源局"), period="2026-11")
    make_report(task(4), unit("汇川区人民政府"), period="2026-11")
    summary = jobs.remind_task_reports(at(date(2026, 12, 1)))  # Tuesday, the first working day after November
    assert "2026年11月" in summary and "提醒" in summary and "上报" not in summary
    assert inbox(reported) == [] and inbox(inactive) == []
    [note] = inbox(huichuan)
    assert note.kind is NotificationKind.TASK_REPORT_DUE and "2026-12-07" in note.body
    assert "重点任务1 " not in note.body and "重点任务2 推动中心城区率先融入" in note.body
    assert "重点任务4 " not in note.body  # reported
    reminders = db.session.scalar(sa.select(sa.func.count()).select_from(ReportReminder).where(
        ReportReminder.kind == ReminderKind.REMIND, ReportReminder.period == "2026-11"))
    named = db.session.scalar(sa.select(sa.func.count()).select_from(TaskUnit).where(
        TaskUnit.department_id == unit("汇川区人民政府").id))
    assert reminders == named - 1  # only units somebody was told of (汇川区人民政府), but its reported task 4

    assert "无需提醒" in jobs.remind_task_reports(at(date(2026, 12, 2)))
    assert len(inbox(huichuan)) == 1


def test_a_liaison_added_later_is_still_reminded_for_the_period():
    jobs.remind_task_reports(at(date(2026, 12, 1)))  # 市财政局 has no liaison yet: nobody told, no REMIND row
    caizheng = unit("市财政局")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportReminder).where(
        ReportReminder.department_id == caizheng.id, ReportReminder.kind == ReminderKind.REMIND)) == 0
    later = make_user("liaison", department="市财政局")
    assert "通知 1 人" in jobs.remind_task_reports(at(date(2026, 12, 2)))
    [note] = inbox(later)
    assert note.kind is NotificationKind.TASK_REPORT_DUE and "2026-11" in note.body
    assert "无需提醒" in jobs.remind_task_reports(at(date(2026, 12, 3)))
    assert len(inbox(later)) == 1


def test_overdue_units_are_escalated_once_to_the_city_coordinators_even_without_a_liaison():
    city, county = make_user("coordinator"), make_user("coordinator", county="汇川区")
    liaison = make_user("liaison", department="汇川区人民政府")
    jobs.remind_task_reports(at(date(2026, 12, 1)))
    assert inbox(city) == []  # still within the grace (until 7 December)
    make_report(task(2), unit("汇川区人民政府"), period="2026-11")  # filed late but within the grace
    assert "上报" not in jobs.remind_task_reports(at(date(2026, 12, 7)))
    summary = jobs.remind_task_reports(at(date(2026, 12, 8)))
    assert "上报逾期" in summary
    [note] = inbox(city)
    assert note.kind is NotificationKind.TASK_REPORT_OVERDUE and "2026年11月" in note.title
    assert "市财政局:保障措施(二)" in note.body  # no liaison at all: escalated all the same
    line = next(row for row in note.body.splitlines() if row.startswith("汇川区人民政府:"))
    assert "重点任务2" not in line and "重点任务1、" not in line and "重点任务4" in line
    assert inbox(county) == [] and len(inbox(liaison)) == 1  # the reminder only

    assert "无需提醒" in jobs.remind_task_reports(at(date(2026, 12, 9)))
    assert len(inbox(city)) == 1


def test_a_unit_whose_latest_report_says_done_owes_nothing_and_weekends_are_quiet():
    liaison = make_user("liaison")
    make_report(safeguard(2), unit("市自然资源局"), period="2026-10", status="done")
    jobs.remind_task_reports(at(date(2026, 12, 1)))
    assert inbox(liaison) == []
    assert "不是工作日" in jobs.remind_task_reports(at(date(2026, 12, 5)))  # Saturday


def test_quarterly_cadence_reminds_for_the_ended_quarter(app):
    from crm.tasks import domain

    domain.update_settings(make_user("admin"), {"cadence": "quarterly"})
    liaison = make_user("liaison")
    assert "2026年第3季度" in jobs.remind_task_reports(at(date(2026, 10, 9)))
    [note] = inbox(liaison)
    assert "2026Q3" in note.body


def test_periods_before_the_reporting_start_are_neither_reminded_nor_escalated(app, monkeypatch):
    city = make_user("coordinator")
    liaison = make_user("liaison", department="汇川区人民政府")
    monkeypatch.setitem(app.config, "TASK_REPORTS_SINCE", "2026-12-01")  # going live in December
    assert "早于报送起始日" in jobs.remind_task_reports(at(date(2026, 12, 8)))  # November: before the start
    assert inbox(city) == [] and inbox(liaison) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportReminder)) == 0
    monkeypatch.setitem(app.config, "TASK_REPORTS_SINCE", "2026-11-01")  # November is owed
    assert "提醒" in jobs.remind_task_reports(at(date(2026, 12, 8)))
    assert len(inbox(liaison)) == 1 and len(inbox(city)) == 1
    monkeypatch.setitem(app.config, "TASK_REPORTS_SINCE", "2026-13-01")
    with pytest.raises(ValueError, match="CRM_TASK_REPORTS_SINCE"):
        jobs.remind_task_reports(at(date(2026, 12, 9)))


def test_the_ledger_and_the_job_agree_a_later_report_does_not_file_the_ended_period():
    """One rule (domain.owes_report): on 10 December a unit with only a December report still owes November —
    the ledger shows 逾期 for November (its latest status apart) and the job escalates it; a November 已完成 or a
    November report ends it for both."""
    from crm.tasks import domain

    make_user("coordinator")
    policy, zrzy, caizheng = safeguard(2), unit("市自然资源局"), unit("市财政局")
    make_report(policy, zrzy, period="2026-12", status="on_track")
    make_report(policy, caizheng, period="2026-11", status="done")
    today = date(2026, 12, 10)
    states = {s.department.name: s for s in domain.ledger_states([policy], today=today)[policy.id]}
    zrzy_state = states["市自然资源局"]
    assert (zrzy_state.state, zrzy_state.owed.key, zrzy_state.latest.period) == (domain.OVERDUE, "2026-11", "2026-12")
    assert states["市财政局"].state == "done" and states["市财政局"].owed is None
    jobs.remind_task_reports(at(today))
    escalated = set(db.session.execute(sa.select(ReportReminder.task_id, ReportReminder.department_id).where(
        ReportReminder.kind == ReminderKind.ESCALATE, ReportReminder.period == "2026-11")))
    assert (policy.id, zrzy.id) in escalated and (policy.id, caizheng.id) not in escalated
    owed = {(t.id, d.id) for t, d in jobs.owed_units(domain.current_period(today).previous())}
    for name, state in states.items():
        assert ((policy.id, state.department.id) in owed) == (state.state in (domain.DUE, domain.OVERDUE)), name


def test_the_ledger_owes_nothing_before_the_reporting_start_either(app, monkeypatch):
    from crm.tasks.domain import owes_report
    from crm.tasks.periods import parse_period

    november = parse_period("2026-11")
    assert owes_report({}, november)
    monkeypatch.setitem(app.config, "TASK_REPORTS_SINCE", "2026-12-01")
    assert not owes_report({}, november)  # before go-live: the ledger agrees with the job
    assert owes_report({}, parse_period("2026-12"))
    monkeypatch.setitem(app.config, "TASK_REPORTS_SINCE", "not a date")
    assert owes_report({}, november)  # a page ignores a malformed setting (the job fails on it, loudly)
