"""The refresh jobs, called directly (the scheduler tests run them through the exactly-once claim)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.notifications.models import Notification
from crm.rosters import domain, jobs
from crm.rosters.models import EditionStatus, RosterKind
from tests.conftest import make_enterprise, make_user
from tests.rosters.factories import published_edition

CST = timezone(timedelta(hours=8))


def inbox(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def test_open_half_year_refresh_opens_both_drafts_once_and_tells_coordinators():
    coordinator = make_user("coordinator")
    leader = make_user("leader")
    a = make_enterprise()
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [a])
    summary = jobs.open_half_year_refresh(datetime(2026, 7, 1, 0, 5, tzinfo=CST))
    assert "2026H2" in summary
    supplier = domain.get_edition(RosterKind.SUPPLIER_LIST, "2026H2")
    pool = domain.get_edition(RosterKind.CULTIVATION_POOL, "2026H2")
    assert supplier.status is EditionStatus.DRAFT and [e.enterprise_id for e in supplier.entries] == [a.id]
    assert pool.entries == []
    [note] = inbox(coordinator)
    assert note.kind == "refresh_opened" and "2026年下半年" in note.title and "09-30" in note.body
    assert inbox(leader) == []
    again = jobs.open_half_year_refresh(datetime(2026, 7, 1, 0, 5, tzinfo=CST))
    assert "未重复开启" in again and len(inbox(coordinator)) == 1


def test_half_year_follows_shanghai_time():
    make_user("coordinator")
    jobs.open_half_year_refresh(datetime(2026, 6, 30, 16, 5, tzinfo=UTC))  # 00:05 on 1 July in Zunyi
    assert domain.find_edition(RosterKind.SUPPLIER_LIST, "2026H2") is not None
    assert domain.find_edition(RosterKind.SUPPLIER_LIST, "2026H1") is None


def test_deadline_reminder_counts_working_days_across_national_day(app, monkeypatch):
    load_from_chinese_calendar([2025])
    coordinator = make_user("coordinator")
    monkeypatch.setitem(app.config, "ROSTER_REFRESH_DEADLINE", {"H1": "03-31", "H2": "10-10"})
    monkeypatch.setitem(app.config, "ROSTER_REMINDER_WORKDAYS", 3)
    domain.open_edition(None, RosterKind.SUPPLIER_LIST, "2025H2")
    # 26 Sept 2025 → 10 Oct: 28 Sept (make-up), 29, 30 Sept, 9, 10 Oct = 5 working days: no reminder yet.
    summary = jobs.refresh_deadline_reminder(datetime(2025, 9, 26, 8, 30, tzinfo=CST))
    assert "无需提醒" in summary and inbox(coordinator) == []
    # 30 Sept → 10 Oct: only 9 and 10 Oct are working days (1–8 Oct is the holiday).
    summary = jobs.refresh_deadline_reminder(datetime(2025, 9, 30, 8, 30, tzinfo=CST))
    [note] = inbox(coordinator)
    assert "还剩 2 个工作日" in note.title
    assert "融入成渝经济圈工业配套企业名单" in note.body and "重点企业培育库" in note.body  # pool not even opened


def test_deadline_reminder_silent_when_published_and_flags_missing_holiday_data(app, monkeypatch):
    coordinator = make_user("coordinator")
    monkeypatch.setitem(app.config, "ROSTER_REFRESH_DEADLINE", {"H1": "03-31", "H2": "09-30"})
    for kind in RosterKind:
        published_edition(kind, "2027H1", [make_enterprise()])
    assert "无需提醒" in jobs.refresh_deadline_reminder(datetime(2027, 3, 29, 8, 30, tzinfo=CST))
    assert inbox(coordinator) == []


def test_deadline_reminder_for_a_year_without_holiday_data(app, monkeypatch):
    coordinator = make_user("coordinator")
    monkeypatch.setitem(app.config, "ROSTER_REFRESH_DEADLINE", {"H1": "03-31", "H2": "09-30"})
    domain.open_edition(None, RosterKind.SUPPLIER_LIST, "2027H1")
    jobs.refresh_deadline_reminder(datetime(2027, 3, 29, 8, 30, tzinfo=CST))  # Monday: 30, 31 March left
    [note] = inbox(coordinator)
    assert "还剩 2 个工作日" in note.title and "2027年节假日安排尚未录入" in note.body


def test_deadline_reminder_after_the_deadline_says_overdue(app):
    coordinator = make_user("coordinator")
    domain.open_edition(None, RosterKind.CULTIVATION_POOL, "2026H2")
    jobs.refresh_deadline_reminder(datetime(2026, 10, 12, 8, 30, tzinfo=CST))
    [note] = inbox(coordinator)
    assert "逾期" in note.title
