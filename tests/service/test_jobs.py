"""The service jobs: called directly, through the exactly-once runner, and through ``scheduler run-job --at``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.enterprises.models import EnterpriseStatus
from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.notifications.models import Notification
from crm.scheduler import registry
from crm.scheduler.models import JobRun, RunOutcome
from crm.scheduler.runner import run_job
from crm.service import jobs
from crm.service.models import (
    Channel,
    DeliveryStatus,
    Interaction,
    PolicyDelivery,
    PolicyKind,
    RequestCategory,
    RequestStatus,
    ServiceRequest,
)
from tests.conftest import assign, make_enterprise, make_user

# What the lead adds to crm/scheduler/registry.py; the tests add it themselves until then.
SPECS = {
    "escalate_overdue_requests": registry.JobSpec(
        "escalate_overdue_requests", "crm.service.jobs:escalate_overdue_requests", registry.cron(hour=8, minute=0),
        "诉求逾期升级", "每天 08:00"),
    "policy_delivery_overdue": registry.JobSpec(
        "policy_delivery_overdue", "crm.service.jobs:policy_delivery_overdue", registry.cron(hour=8, minute=10),
        "政策兑现逾期提醒", "每天 08:10"),
    "visit_cadence": registry.JobSpec(
        "visit_cadence", "crm.service.jobs:visit_cadence", registry.cron(day_of_week="mon", hour=8, minute=20),
        "走访频次提醒", "每周一 08:20"),
}


def at(day: date, hour: int, minute: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def inbox(user, kind: str | None = None) -> list[Notification]:
    stmt = sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


def notification_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification))


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> dict[str, registry.JobSpec]:
    """The service jobs in the registry (already there once the lead has added them; else added here)."""
    for job_id, spec in SPECS.items():
        if job_id not in registry.JOBS:
            monkeypatch.setitem(registry.JOBS, job_id, spec)
        else:
            assert registry.JOBS[job_id].func == spec.func
    return registry.JOBS


@pytest.fixture
def cli(app, monkeypatch: pytest.MonkeyPatch, registered):
    """``flask scheduler ...`` in process (the scheduler group is added if the app factory does not yet)."""
    from crm.scheduler.cli import scheduler_cli

    if "scheduler" not in app.cli.commands:
        monkeypatch.setitem(app.cli.commands, "scheduler", scheduler_cli)

    def invoke(*args: str):
        result = app.test_cli_runner().invoke(args=["scheduler", *args])
        db.session.expire_all()
        return result

    return invoke


# --- escalate_overdue_requests ---------------------------------------------------------------------------------

def make_request(enterprise, owner, due: date, status: RequestStatus = RequestStatus.IN_PROGRESS,
                 description: str = "申请技改项目专项资金") -> ServiceRequest:
    row = ServiceRequest(enterprise=enterprise, category=RequestCategory.PROJECT, description=description,
                         owner=owner, raised_on=due - timedelta(days=14), due_date=due, status=status)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def national_day():
    """2025's holidays: 1–8 Oct off, Sat 11 Oct a make-up working day."""
    load_from_chinese_calendar([2025])
    db.session.flush()


@pytest.fixture
def people():
    huichuan = make_enterprise("遵义逾期诉求测试机械有限公司", county="汇川区")
    owner = make_user("commissioner", specialties=["tech"])
    assign(huichuan, owner, "tech")
    return {
        "enterprise": huichuan,
        "owner": owner,
        "county_coordinator": make_user("coordinator", county="汇川区"),
        "city_coordinator": make_user("coordinator"),
        "other_coordinator": make_user("coordinator", county="桐梓县"),
        "leader": make_user("leader"),
    }


def test_escalation_cutoff_counts_working_days_across_national_day(national_day):
    # The latest due date that is 3 working days overdue. On Sat 11 Oct 2025 (a make-up working day) the three
    # are 9, 10 and 11 Oct, so anything due up to 8 Oct (the holiday included) qualifies.
    assert jobs.escalation_cutoff(date(2025, 10, 11), 3) == date(2025, 10, 8)
    # On Fri 10 Oct only 9 and 10 Oct count after 30 Sept: a request due 30 Sept is not escalated yet.
    assert jobs.escalation_cutoff(date(2025, 10, 10), 3) == date(2025, 9, 29)
    assert jobs.escalation_cutoff(date(2025, 10, 14), 3) == date(2025, 10, 10)  # Sun 12 Oct is off
    assert jobs.escalation_cutoff(date(2025, 10, 14), 0) == date(2025, 10, 14)


def test_owner_told_once_then_county_coordinators_after_the_grace(app, national_day, people):
    request = make_request(people["enterprise"], people["owner"], date(2025, 9, 30))
    make_request(people["enterprise"], people["owner"], date(2025, 9, 30), RequestStatus.RESOLVED)
    make_request(people["enterprise"], people["owner"], date(2025, 9, 30), RequestStatus.CLOSED)
    make_request(people["enterprise"], people["owner"], date(2025, 10, 20))  # not due yet

    summary = jobs.escalate_overdue_requests(at(date(2025, 10, 1), 8, 0))
    assert "提醒负责人 1 件" in summary and "升级至区县协调员 0 件" in summary
    [note] = inbox(people["owner"])
    assert note.kind == "request_overdue" and "遵义逾期诉求测试机械有限公司" in note.title
    assert "培育项目申报" in note.title and "2025-09-30" in note.body and "逾期 1 天" in note.body
    assert note.link == f"/enterprises/{people['enterprise'].id}"
    assert request.owner_notified_on == date(2025, 10, 1) and request.escalated_on is None
    assert notification_count() == 1

    assert "提醒负责人 0 件" in jobs.escalate_overdue_requests(at(date(2025, 10, 1), 8, 0))  # same day again
    jobs.escalate_overdue_requests(at(date(2025, 10, 10), 8, 0))  # two working days: still within the grace
    assert notification_count() == 1

    summary = jobs.escalate_overdue_requests(at(date(2025, 10, 11), 8, 0))  # the third: a make-up Saturday
    assert "升级至区县协调员 1 件" in summary
    for who in ("county_coordinator", "city_coordinator"):
        [note] = inbox(people[who])
        assert note.kind == "request_escalated" and note.title.startswith("诉求逾期升级:遵义逾期诉求测试机械有限公司")
        assert "3 个工作日" in note.body and people["owner"].display_name in note.body
    assert inbox(people["other_coordinator"]) == [] and inbox(people["leader"]) == []
    assert len(inbox(people["owner"])) == 1
    assert request.escalated_on == date(2025, 10, 11)

    jobs.escalate_overdue_requests(at(date(2025, 10, 11), 8, 0))
    jobs.escalate_overdue_requests(at(date(2025, 10, 13), 8, 0))
    assert notification_count() == 3


def test_grace_is_configurable_and_found_late_requests_go_both_ways_at_once(app, monkeypatch, people):
    monkeypatch.setitem(app.config, "REQUEST_ESCALATION_GRACE_WORKDAYS", 1)
    request = make_request(people["enterprise"], people["owner"], date(2026, 3, 2))  # a Monday
    jobs.escalate_overdue_requests(at(date(2026, 3, 4), 8, 0))
    assert request.owner_notified_on == request.escalated_on == date(2026, 3, 4)
    assert len(inbox(people["owner"])) == 1 and len(inbox(people["county_coordinator"])) == 1


def test_a_request_without_owner_goes_to_the_enterprise_commissioners(people):
    finance = make_user("commissioner", specialties=["finance"])
    assign(people["enterprise"], finance, "finance")
    ended = make_user("commissioner")
    row = assign(people["enterprise"], ended, "legal")
    row.ended_on = date(2026, 2, 1)
    make_request(people["enterprise"], None, date(2026, 3, 2))
    jobs.escalate_overdue_requests(at(date(2026, 3, 3), 8, 0))
    assert len(inbox(finance, "request_overdue")) == 1 and len(inbox(people["owner"], "request_overdue")) == 1
    assert inbox(ended) == []


def test_escalation_reads_do_not_grow_with_the_number_of_requests(people, count_queries):
    def reads(n: int, day: date) -> int:
        for _ in range(n):
            make_request(people["enterprise"], None, day - timedelta(days=10))
        db.session.flush()
        with count_queries() as queries:
            summary = jobs.escalate_overdue_requests(at(day, 8, 0))
            db.session.flush()
        assert f"提醒负责人 {n} 件" in summary and f"升级至区县协调员 {n} 件" in summary
        return queries.reads  # writes grow with the notices, reads must not

    assert reads(2, date(2026, 4, 22)) == reads(6, date(2026, 5, 20))  # both Wednesdays: the same days walked


def test_escalation_through_the_runner_runs_once_per_fire_time(app, national_day, people, registered):
    make_request(people["enterprise"], people["owner"], date(2025, 9, 30))
    db.session.commit()
    first = run_job("escalate_overdue_requests", at(date(2025, 10, 11), 8, 0))
    assert first.outcome is RunOutcome.SUCCESS, first.error
    assert "升级至区县协调员 1 件" in first.summary
    second = run_job("escalate_overdue_requests", at(date(2025, 10, 11), 8, 0))
    assert second.outcome is RunOutcome.SKIPPED
    assert len(inbox(people["owner"])) == 1 and len(inbox(people["county_coordinator"])) == 1


def test_escalation_through_scheduler_run_job_at(cli, national_day, people):
    request = make_request(people["enterprise"], people["owner"], date(2025, 9, 30))
    db.session.commit()
    result = cli("run-job", "escalate_overdue_requests", "--at", "2025-10-09T08:00:00+08:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("成功:escalate_overdue_requests") and "提醒负责人 1 件" in result.stdout
    assert request.owner_notified_on == date(2025, 10, 9) and request.escalated_on is None
    result = cli("run-job", "escalate_overdue_requests", "--at", "2025-10-11T08:00:00+08:00")
    assert result.exit_code == 0, result.output
    assert "升级至区县协调员 1 件" in result.stdout
    assert request.escalated_on == date(2025, 10, 11)
    again = cli("run-job", "escalate_overdue_requests", "--at", "2025-10-11T00:00:00Z")  # the same instant
    assert again.exit_code == 0 and again.stdout.startswith("已跳过")
    assert len(inbox(people["owner"])) == 1
    assert len(inbox(people["county_coordinator"])) == len(inbox(people["city_coordinator"])) == 1
    assert inbox(people["other_coordinator"]) == []
    outcomes = db.session.scalars(sa.select(JobRun.outcome).where(JobRun.job_id == "escalate_overdue_requests")
                                  .order_by(JobRun.id)).all()
    assert outcomes == [RunOutcome.SUCCESS, RunOutcome.SUCCESS, RunOutcome.SKIPPED]
    bad = cli("run-job", "escalate_overdue_requests", "--at", "2025-10-11T08:05:00+08:00")
    assert bad.exit_code == 2 and "不是任务 escalate_overdue_requests 的计划触发时间" in bad.stderr


# --- policy_delivery_overdue -----------------------------------------------------------------------------------

def make_delivery(enterprise, owner, promised_date: date, status: DeliveryStatus = DeliveryStatus.PROMISED,
                  delivered_date: date | None = None) -> PolicyDelivery:
    row = PolicyDelivery(enterprise=enterprise, kind=PolicyKind.POWER, promised="执行大工业用电优惠电价",
                         amount=None, owner=owner, promised_date=promised_date, status=status,
                         delivered_date=delivered_date)
    db.session.add(row)
    db.session.flush()
    return row


def test_policy_overdue_tells_owner_and_county_coordinators_once(people):
    late = make_delivery(people["enterprise"], people["owner"], date(2026, 3, 1))
    make_delivery(people["enterprise"], people["owner"], date(2026, 3, 1), DeliveryStatus.DELIVERED,
                  date(2026, 3, 5))
    make_delivery(people["enterprise"], people["owner"], date(2026, 3, 1), DeliveryStatus.CANCELLED)
    due_today = make_delivery(people["enterprise"], people["owner"], date(2026, 3, 10))  # not late yet
    summary = jobs.policy_delivery_overdue(at(date(2026, 3, 10), 8, 10))
    assert "逾期未兑现的政策 1 项" in summary and "发出提醒 3 条" in summary
    for who in ("owner", "county_coordinator", "city_coordinator"):
        [note] = inbox(people[who])
        assert note.kind == "policy_overdue"
        assert note.title == "政策兑现逾期:遵义逾期诉求测试机械有限公司(用电)"
        assert "执行大工业用电优惠电价" in note.body and "2026-03-01" in note.body and "已逾期 9 天" in note.body
    assert inbox(people["other_coordinator"]) == [] and inbox(people["leader"]) == []
    assert late.overdue_notified_on == date(2026, 3, 10)
    assert "0 项" in jobs.policy_delivery_overdue(at(date(2026, 3, 10), 8, 10))
    assert "逾期未兑现的政策 1 项" in jobs.policy_delivery_overdue(at(date(2026, 3, 11), 8, 10))  # the next one
    assert due_today.overdue_notified_on == date(2026, 3, 11) and late.overdue_notified_on == date(2026, 3, 10)
    assert notification_count() == 6 and len(inbox(people["owner"])) == 2


def test_policy_overdue_without_owner_goes_to_the_assigned_commissioners(people):
    finance = make_user("commissioner", specialties=["finance"])
    assign(people["enterprise"], finance, "finance")
    assign(people["enterprise"], finance, "talent")  # two specialties, one notice
    make_delivery(people["enterprise"], None, date(2026, 3, 1))
    jobs.policy_delivery_overdue(at(date(2026, 3, 2), 8, 10))
    assert len(inbox(people["owner"])) == 1 and len(inbox(finance)) == 1
    assert "未指定负责人" in inbox(finance)[0].body


def test_policy_overdue_through_the_runner(people, registered):
    make_delivery(people["enterprise"], people["owner"], date(2026, 3, 1))
    db.session.commit()
    run = run_job("policy_delivery_overdue", at(date(2026, 3, 2), 8, 10))
    assert run.outcome is RunOutcome.SUCCESS, run.error
    assert run_job("policy_delivery_overdue", at(date(2026, 3, 2), 8, 10)).outcome is RunOutcome.SKIPPED
    assert run_job("policy_delivery_overdue", at(date(2026, 3, 3), 8, 10)).outcome is RunOutcome.SUCCESS
    assert len(inbox(people["owner"])) == 1


# --- visit_cadence ---------------------------------------------------------------------------------------------

MONDAY = date(2026, 3, 2)


def visit(enterprise, day: date, author=None) -> Interaction:
    row = Interaction(enterprise=enterprise, occurred_on=day, channel=Channel.VISIT, specialty="tech",
                      summary="走访了解生产经营情况", created_by=author)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def cadence():
    commissioner = make_user("commissioner", specialties=["tech", "finance"])
    never = make_enterprise("遵义从未走访精密制造有限公司")
    long_ago = make_enterprise("遵义久未走访电子科技有限公司")
    recent = make_enterprise("遵义近期走访材料有限公司")
    for enterprise in (never, long_ago, recent):
        assign(enterprise, commissioner, "tech")
    assign(never, commissioner, "finance")  # the same enterprise under two specialties: named once
    visit(long_ago, MONDAY - timedelta(days=90))
    visit(long_ago, MONDAY - timedelta(days=60))  # exactly 60 days ago: not within the last 60 days
    visit(recent, MONDAY - timedelta(days=59))
    return {"commissioner": commissioner, "never": never, "long_ago": long_ago, "recent": recent}


def test_one_reminder_per_commissioner_naming_their_stale_enterprises(cadence):
    summary = jobs.visit_cadence(at(MONDAY, 8, 20))
    assert "提醒服务专员 1 人" in summary and "企业 2 家" in summary
    [note] = inbox(cadence["commissioner"])
    assert note.kind == "visit_cadence" and note.title == "走访提醒:2 家企业超过 60 天未联系"
    assert "遵义从未走访精密制造有限公司:尚无服务记录" in note.body
    assert "遵义久未走访电子科技有限公司:最近联系 2026-01-01,已 60 天" in note.body
    assert "遵义近期走访材料有限公司" not in note.body
    assert note.body.count("遵义从未走访精密制造有限公司") == 1
    assert note.link == "/enterprises/"


def test_cadence_rerun_the_same_day_tells_nobody_again(cadence):
    jobs.visit_cadence(at(MONDAY, 8, 20))
    assert "提醒服务专员 0 人" in jobs.visit_cadence(at(MONDAY, 8, 20))
    assert len(inbox(cadence["commissioner"])) == 1


def test_cadence_each_commissioner_their_own_and_only_active_ones(cadence):
    colleague = make_user("commissioner", specialties=["legal"])
    assign(cadence["recent"], colleague, "legal")
    assign(cadence["never"], colleague, "legal")
    handed_over = make_user("commissioner")
    old = assign(cadence["long_ago"], handed_over, "media")
    old.ended_on = date(2026, 1, 15)
    inactive = make_user("commissioner")
    assign(cadence["long_ago"], inactive, "talent")
    inactive.active = False
    moved = make_enterprise("遵义已迁出测试有限公司", status=EnterpriseStatus.MOVED_OUT.value)
    assign(moved, colleague, "tech")
    jobs.visit_cadence(at(MONDAY, 8, 20))
    [note] = inbox(colleague)
    assert note.title == "走访提醒:1 家企业超过 60 天未联系"
    assert "遵义从未走访精密制造有限公司" in note.body and "已迁出" not in note.body
    assert note.link == f"/enterprises/{cadence['never'].id}"
    assert inbox(handed_over) == [] and inbox(inactive) == []
    assert len(inbox(cadence["commissioner"])) == 1


def test_cadence_days_are_configurable(app, monkeypatch, cadence):
    monkeypatch.setitem(app.config, "VISIT_CADENCE_DAYS", 30)
    jobs.visit_cadence(at(MONDAY, 8, 20))
    [note] = inbox(cadence["commissioner"])
    assert note.title == "走访提醒:3 家企业超过 30 天未联系"


def test_cadence_reads_do_not_grow_with_the_number_of_enterprises(count_queries):
    def run(n: int, day: date) -> int:
        commissioner = make_user("commissioner")
        for _ in range(n):
            enterprise = make_enterprise()
            assign(enterprise, commissioner, "tech")
            visit(enterprise, day - timedelta(days=100))
        db.session.flush()
        with count_queries() as queries:
            jobs.visit_cadence(at(day, 8, 20))
            db.session.flush()
        return queries.reads

    assert run(2, MONDAY) == run(8, MONDAY + timedelta(days=7))


def test_cadence_through_scheduler_run_job_at(cli, cadence):
    db.session.commit()
    result = cli("run-job", "visit_cadence", "--at", "2026-03-02T08:20:00+08:00")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("成功:visit_cadence") and "提醒服务专员 1 人" in result.stdout
    again = cli("run-job", "visit_cadence", "--at", "2026-03-02T08:20:00+08:00")
    assert again.exit_code == 0 and again.stdout.startswith("已跳过")
    assert len(inbox(cadence["commissioner"])) == 1
    not_monday = cli("run-job", "visit_cadence", "--at", "2026-03-03T08:20:00+08:00")
    assert not_monday.exit_code == 2
