"""The meetings' jobs (crm/meetings/jobs.py): the yearly plan and the reminders, called directly, through the
exactly-once runner, and as real processes firing at once on a database of their own."""

from __future__ import annotations

import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import config
from crm.core.audit import AuditLog
from crm.core.time import SHANGHAI, format_local
from crm.extensions import db
from crm.holidays.workdays import is_working_day
from crm.meetings import domain, jobs
from crm.meetings.models import Meeting, MeetingKind, MeetingStatus
from crm.notifications.models import Notification, NotificationKind
from crm.scheduler import registry
from crm.scheduler.models import JobClaim, JobRun, RunOutcome
from crm.scheduler.runner import run_job
from tests.conftest import assign, make_enterprise, make_user
from tests.meetings.factories import load_holidays, make_meeting, partner
from tests.scheduler.test_processes import Gate, flask

ROOT = Path(__file__).resolve().parents[2]
THREE = [MeetingKind.SUPPLY_DEMAND, MeetingKind.ENTREPRENEUR_FORUM, MeetingKind.SUPPLY_CHAIN]


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def inbox(user, kind: NotificationKind | None = None) -> list[Notification]:
    stmt = sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


def meetings_of(year: int) -> list[Meeting]:
    start, end = domain.year_bounds(year)
    return list(db.session.scalars(sa.select(Meeting).where(Meeting.starts_at >= start, Meeting.starts_at < end)
                                   .order_by(Meeting.starts_at, Meeting.id)))


def proposals(year: int) -> list[Meeting]:
    return [m for m in meetings_of(year) if m.proposed_by == jobs.PLAN_JOB]


# --- plan_annual_meetings --------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _real_today(monkeypatch):
    """The jobs judge by the fire time; the real today only matters to a fire caught up late (pinned early)."""
    monkeypatch.setattr(jobs, "local_today", lambda: date(2025, 12, 1))


def test_nothing_before_the_first_working_day_then_one_proposal_per_kind_on_working_days():
    load_holidays(2026)  # 1–3 January 2026 off (元旦), Sunday 4 January a make-up working day
    coordinator = make_user("coordinator")
    county_coordinator = make_user("coordinator", county="汇川区")
    gone = make_user("coordinator")
    gone.active = False
    leader = make_user("leader")
    assert jobs.first_working_day(2026) == date(2026, 1, 4)
    for day in (1, 2, 3):
        summary = jobs.plan_annual_meetings(at(date(2026, 1, day)))
        assert "尚未到2026年第一个工作日(2026-01-04)" in summary
    assert meetings_of(2026) == [] and inbox(coordinator) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(JobClaim)) == 0  # the year is not claimed

    summary = jobs.plan_annual_meetings(at(date(2026, 1, 4)))
    made = proposals(2026)
    assert "拟定 3 场" in summary and "尚未录入" not in summary
    assert sorted(m.kind.value for m in made) == sorted(k.value for k in THREE)
    for meeting in made:
        start = meeting.starts_at.astimezone(SHANGHAI)
        assert is_working_day(start.date()) and start.hour == 9
        assert meeting.status is MeetingStatus.PLANNED
        assert meeting.title == f"2026年{meeting.kind.label}(拟)"
        assert domain.in_chengyu_city(meeting.city) and domain.counts_with_chengyu(meeting)
        assert start.date() >= date(2026, 2, 3)  # at least a month's notice
    by_kind = {m.kind: m.starts_at.astimezone(SHANGHAI).date() for m in made}
    assert by_kind[MeetingKind.SUPPLY_DEMAND] == date(2026, 4, 15)  # Wednesday
    assert by_kind[MeetingKind.ENTREPRENEUR_FORUM] == date(2026, 6, 15)  # Monday
    assert by_kind[MeetingKind.SUPPLY_CHAIN] == date(2026, 9, 15)  # Tuesday
    assert [row.state for row in domain.yearly_rule(2026)] == ["planned"] * 3
    for user in (coordinator, county_coordinator):
        notes = inbox(user, NotificationKind.MEETING_PROPOSED)
        assert len(notes) == 3
        assert {n.link for n in notes} == {domain.meeting_link(m) for m in made}
        assert any("2026年产销对接会(拟)" in n.title and "2026-04-15 09:00" in n.body for n in notes)
    assert inbox(gone) == [] and inbox(leader) == []
    # Audited as the system's own work.
    audits = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "meeting",
                                                          AuditLog.action == "create")).all()
    assert len(audits) == 3 and all(a.actor_id is None for a in audits)


def test_a_kind_already_planned_gets_no_proposal_and_a_year_without_data_says_so():
    coordinator = make_user("coordinator")
    make_meeting(kind="supply_chain", title="2027年供应链洽谈会", starts="2027-03-10 09:00", city="遵义")
    cancelled = make_meeting(kind="entrepreneur_forum", title="取消的座谈会", starts="2027-02-10 09:00")
    domain.cancel_meeting(None, cancelled, "领导另有安排")
    summary = jobs.plan_annual_meetings(at(date(2027, 1, 1)))  # Friday; 2027 has no holiday data: Mon–Fri
    made = proposals(2027)
    assert sorted(m.kind for m in made) == sorted([MeetingKind.SUPPLY_DEMAND, MeetingKind.ENTREPRENEUR_FORUM])
    assert "拟定 2 场" in summary and "已有安排:供应链洽谈会" in summary
    assert "2027年节假日安排尚未录入" in summary
    notes = inbox(coordinator, NotificationKind.MEETING_PROPOSED)
    assert len(notes) == 2 and all("2027年节假日安排尚未录入" in n.body for n in notes)


def test_a_second_run_adds_nothing_whether_the_year_claim_or_the_state_stops_it():
    coordinator = make_user("coordinator")
    jobs.plan_annual_meetings(at(date(2027, 1, 1)))
    assert len(proposals(2027)) == 3
    again = jobs.plan_annual_meetings(at(date(2027, 1, 4)))
    assert "未重复拟定" in again and len(proposals(2027)) == 3
    # Without the year's claim, the state still decides: a proposal a coordinator cancelled is not made again.
    domain.cancel_meeting(coordinator, proposals(2027)[0], "改为与其他活动合并举办")
    db.session.execute(sa.delete(JobClaim).where(JobClaim.job_id == "plan_annual_meetings:2027"))
    summary = jobs.plan_annual_meetings(at(date(2027, 1, 5)))
    assert "拟定 0 场" in summary and len(proposals(2027)) == 3
    assert len(inbox(coordinator, NotificationKind.MEETING_PROPOSED)) == 3


def test_the_required_kinds_and_months_follow_the_settings(app, monkeypatch):
    make_user("coordinator")
    monkeypatch.setitem(app.config, "MEETING_REQUIRED_KINDS", ("other",))
    monkeypatch.setitem(app.config, "MEETING_PLAN_MONTHS", {"other": 1})
    jobs.plan_annual_meetings(at(date(2027, 1, 4)))
    [made] = proposals(2027)
    # January is too soon: a month's notice from 4 January → Wednesday 3 February.
    assert made.kind is MeetingKind.OTHER and made.starts_at.astimezone(SHANGHAI).date() == date(2027, 2, 3)


def test_a_fire_caught_up_months_late_proposes_from_the_real_today_on(monkeypatch):
    make_user("coordinator")
    monkeypatch.setattr(jobs, "local_today", lambda: date(2027, 6, 21))  # the scheduler was down since January
    jobs.plan_annual_meetings(at(date(2027, 1, 15)))
    days = {m.kind: m.starts_at.astimezone(SHANGHAI).date() for m in proposals(2027)}
    assert days == {MeetingKind.SUPPLY_DEMAND: date(2027, 7, 21), MeetingKind.ENTREPRENEUR_FORUM: date(2027, 7, 21),
                    MeetingKind.SUPPLY_CHAIN: date(2027, 9, 15)}


def test_a_very_late_proposal_stays_in_its_year(monkeypatch):
    make_user("coordinator")
    monkeypatch.setattr(jobs, "local_today", lambda: date(2027, 12, 1))
    jobs.plan_annual_meetings(at(date(2027, 1, 15)))
    days = {m.starts_at.astimezone(SHANGHAI).date() for m in proposals(2027)}
    assert days == {date(2027, 12, 20)}  # Monday
    assert [row.state for row in domain.yearly_rule(2027)] == ["planned"] * 3


@pytest.mark.parametrize("months, message", [({"nonsense": 4}, "未知会议类型"), ({"other": 13}, "月份应为 1–12")])
def test_bad_plan_months_fail_the_run_before_any_work(app, monkeypatch, months, message):
    monkeypatch.setitem(app.config, "MEETING_PLAN_MONTHS", months)
    with pytest.raises(ValueError, match=message):
        jobs.plan_annual_meetings(at(date(2027, 1, 4)))
    assert meetings_of(2027) == []


def test_through_the_runner_the_same_fire_time_is_skipped_and_another_adds_nothing():
    load_holidays(2026)
    coordinator = make_user("coordinator")
    db.session.commit()
    early = run_job("plan_annual_meetings", at(date(2026, 1, 2)))
    assert early.outcome is RunOutcome.SUCCESS and "尚未到2026年第一个工作日" in early.summary
    first = run_job("plan_annual_meetings", at(date(2026, 1, 4)))
    assert first.outcome is RunOutcome.SUCCESS and "拟定 3 场" in first.summary, first.error
    assert run_job("plan_annual_meetings", at(date(2026, 1, 4))).outcome is RunOutcome.SKIPPED
    later = run_job("plan_annual_meetings", at(date(2026, 1, 5)))
    assert later.outcome is RunOutcome.SUCCESS and "未重复拟定" in later.summary
    assert len(proposals(2026)) == 3 and len(inbox(coordinator)) == 3


def test_off_schedule_fire_times_are_refused():
    from crm.scheduler.runner import OffSchedule

    with pytest.raises(OffSchedule):
        run_job("plan_annual_meetings", at(date(2026, 1, 16)))  # only 1–15 January
    with pytest.raises(OffSchedule):
        run_job("meeting_reminders", at(date(2026, 7, 1), 9, 0))


def test_two_processes_firing_at_once_propose_once(fresh_app):
    """Two ``run-job`` processes at the same fire time and a third at the next day's, all released together:
    one proposal per kind."""
    with fresh_app.app_context():
        make_user("coordinator", username="coordinator-meetings")
        db.session.commit()
        url = db.engine.url.render_as_string(hide_password=False)
    gate = Gate(fresh_app)
    procs = []
    try:
        for when in ("2026-01-05T09:00:00+08:00", "2026-01-05T09:00:00+08:00", "2026-01-06T09:00:00+08:00"):
            procs.append(flask(url, "scheduler", "run-job", "plan_annual_meetings", "--at", when,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        gate.wait_for(3, procs)
    except AssertionError:
        for proc in procs:
            proc.kill()
        raise
    finally:
        gate.open()
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    outs = [out for out, _err in results]
    same = sorted(outs[:2])
    assert same[0].startswith("已跳过:plan_annual_meetings"), results
    assert same[1].startswith("成功:plan_annual_meetings"), results
    assert outs[2].startswith("成功:plan_annual_meetings"), results
    assert sum("拟定 3 场" in out for out in outs) == 1 and sum("未重复拟定" in out for out in outs) == 1, outs
    with fresh_app.app_context():
        made = db.session.execute(sa.select(Meeting.kind, Meeting.proposed_by)).all()
        assert sorted(kind.value for kind, _ in made) == sorted(k.value for k in THREE)
        assert {by for _, by in made} == {"plan_annual_meetings"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 3
        outcomes = sorted(r.value for r in db.session.scalars(sa.select(JobRun.outcome)))
        assert outcomes == ["skipped", "success", "success"]


# --- meeting_reminders ----------------------------------------------------------------------------------------

@pytest.fixture
def people():
    enterprise = make_enterprise("遵义会议提醒测试机械有限公司")
    commissioner = make_user("commissioner", specialties=["tech"])
    assign(enterprise, commissioner, "tech")
    former = make_user("commissioner", specialties=["finance"])
    ended = assign(enterprise, former, "finance")
    ended.ended_on = date(2026, 3, 1)
    official = make_user("leader")
    retired = make_user("coordinator")
    coordinator = make_user("coordinator")
    meeting = make_meeting(title="成渝产销对接会", starts="2026-07-15 09:00", city="重庆", venue="悦来会展中心",
                           enterprises=[enterprise], partners=[partner()], officials=[official, retired])
    retired.active = False
    db.session.flush()
    return {"enterprise": enterprise, "commissioner": commissioner, "former": former, "official": official,
            "retired": retired, "coordinator": coordinator, "meeting": meeting}


def test_reminders_seven_days_and_one_day_before_to_officials_and_commissioners(people):
    meeting = people["meeting"]
    told = (people["official"], people["commissioner"])
    assert "没有需要提醒" in jobs.meeting_reminders(at(date(2026, 7, 7), 8, 40))  # eight days before
    summary = jobs.meeting_reminders(at(date(2026, 7, 8), 8, 40))
    assert "发出提醒 2 条" in summary and "成渝产销对接会(7天后)" in summary
    for user in told:
        [note] = inbox(user, NotificationKind.MEETING_REMINDER)
        assert note.title == "会议提醒:成渝产销对接会将于7天后(2026-07-15)举行"
        assert note.link == f"/meetings/{meeting.id}"
        assert "2026-07-15 09:00" in note.body and "重庆 悦来会展中心" in note.body
        assert "本地企业 1 家,成渝企业 1 家" in note.body
    for user in (people["former"], people["retired"], people["coordinator"]):
        assert inbox(user) == []
    # Not twice: the same day again (a direct call; the runner's claim would skip it anyway).
    again = jobs.meeting_reminders(at(date(2026, 7, 8), 8, 40))
    assert "均已发送过" in again
    assert "没有需要提醒" in jobs.meeting_reminders(at(date(2026, 7, 10), 8, 40))
    summary = jobs.meeting_reminders(at(date(2026, 7, 14), 8, 40))
    assert "成渝产销对接会(明天)" in summary
    for user in told:
        notes = inbox(user, NotificationKind.MEETING_REMINDER)
        assert [n.title for n in notes] == ["会议提醒:成渝产销对接会将于7天后(2026-07-15)举行",
                                            "会议提醒:成渝产销对接会将于明天(2026-07-15)举行"]
    jobs.meeting_reminders(at(date(2026, 7, 14), 8, 40))
    assert all(len(inbox(user, NotificationKind.MEETING_REMINDER)) == 2 for user in told)
    assert "没有需要提醒" in jobs.meeting_reminders(at(date(2026, 7, 15), 8, 40))  # the day itself


def test_reminders_follow_shanghai_days_and_a_moved_meeting(people):
    meeting = people["meeting"]
    # 23:30 UTC on 7 July is 07:30 on 8 July in Zunyi: the meeting is seven days away.
    assert "发出提醒 2 条" in jobs.meeting_reminders(datetime(2026, 7, 7, 23, 30, tzinfo=UTC))
    moved_start = datetime(2026, 7, 16, 9, 0, tzinfo=SHANGHAI)
    domain.update_meeting(None, meeting, {"starts_at": moved_start, "ends_at": moved_start + timedelta(hours=3)})
    summary = jobs.meeting_reminders(at(date(2026, 7, 9), 8, 40))
    assert "发出提醒 2 条" in summary  # the new day is reminded too
    notes = inbox(people["official"], NotificationKind.MEETING_REMINDER)
    assert [n.title for n in notes][-1] == "会议提醒:成渝产销对接会将于7天后(2026-07-16)举行"


def test_a_meeting_with_nobody_to_tell_is_said_so(people):
    make_meeting(title="尚未定名单的座谈会", starts="2026-07-15 14:00")
    summary = jobs.meeting_reminders(at(date(2026, 7, 8), 8, 40))
    assert "提醒会议 1 场,发出提醒 2 条" in summary and "1 场尚无参会人员或服务专员可提醒" in summary
    again = jobs.meeting_reminders(at(date(2026, 7, 8), 8, 40))
    assert "提醒会议 0 场" in again and "1 场的提醒均已发送过" in again and "1 场尚无参会人员" in again


def test_cancelled_and_held_meetings_get_no_reminder(people):
    domain.cancel_meeting(None, people["meeting"], "场馆检修")
    assert "没有需要提醒" in jobs.meeting_reminders(at(date(2026, 7, 8), 8, 40))
    assert "没有需要提醒" in jobs.meeting_reminders(at(date(2026, 7, 14), 8, 40))
    assert inbox(people["official"], NotificationKind.MEETING_REMINDER) == []
    assert inbox(people["commissioner"], NotificationKind.MEETING_REMINDER) == []


def test_confirmed_meetings_are_reminded_and_the_days_are_a_setting(app, monkeypatch, people):
    meeting = people["meeting"]
    domain.update_meeting(None, meeting, {"status": "confirmed"})
    monkeypatch.setitem(app.config, "MEETING_REMINDER_DAYS", (3,))
    assert "没有需要提醒" in jobs.meeting_reminders(at(date(2026, 7, 8), 8, 40))
    assert "成渝产销对接会(3天后)" in jobs.meeting_reminders(at(date(2026, 7, 12), 8, 40))
    [note] = inbox(people["official"], NotificationKind.MEETING_REMINDER)
    assert "已确定" in note.body
    monkeypatch.setitem(app.config, "MEETING_REMINDER_DAYS", (0,))
    with pytest.raises(ValueError, match="不小于 1"):
        jobs.meeting_reminders(at(date(2026, 7, 12), 8, 40))


def test_reminders_through_the_runner_once_per_fire_time(people):
    db.session.commit()
    first = run_job("meeting_reminders", at(date(2026, 7, 8), 8, 40))
    assert first.outcome is RunOutcome.SUCCESS and "发出提醒 2 条" in first.summary, first.error
    assert run_job("meeting_reminders", at(date(2026, 7, 8), 8, 40)).outcome is RunOutcome.SKIPPED
    assert len(inbox(people["official"], NotificationKind.MEETING_REMINDER)) == 1


# --- settings, listing, README ----------------------------------------------------------------------------------

def test_settings_parse_the_environment_forms():
    assert config._codes("supply_demand, supply_chain,,other") == ("supply_demand", "supply_chain", "other")
    assert config._month_pairs("supply_demand:4,other:11") == {"supply_demand": 4, "other": 11}
    assert config.Config.MEETING_REQUIRED_KINDS == ("supply_demand", "entrepreneur_forum", "supply_chain")
    assert config.Config.MEETING_REMINDER_DAYS == (7, 1)


def test_the_default_required_kinds_are_the_three_named(app):
    assert domain.required_kinds() == THREE


def test_the_jobs_are_listed_by_the_cli_and_the_readme(app, monkeypatch):
    from crm.scheduler.cli import scheduler_cli

    if "scheduler" not in app.cli.commands:
        monkeypatch.setitem(app.cli.commands, "scheduler", scheduler_cli)
    result = app.test_cli_runner().invoke(args=["scheduler", "jobs"])
    assert result.exit_code == 0, result.output
    listed = {line.split("\t")[0]: line for line in result.output.splitlines()}
    assert "每年1月1日至15日每天 09:00" in listed["plan_annual_meetings"]
    assert "每天 08:40" in listed["meeting_reminders"]
    assert registry.get_job("plan_annual_meetings").load() is jobs.plan_annual_meetings
    assert registry.get_job("meeting_reminders").load() is jobs.meeting_reminders
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("Scheduled jobs"):]
    section = section[:section.index("\n\n")]
    for job_id in ("plan_annual_meetings", "meeting_reminders"):
        assert f"`{job_id}`" in section
    for key in ("CRM_MEETING_REQUIRED_KINDS", "CRM_MEETING_REMINDER_DAYS", "CRM_MEETING_PLAN_MONTHS"):
        assert key in readme


def test_format_of_the_proposal_time_is_local():
    make_user("coordinator")
    jobs.plan_annual_meetings(at(date(2027, 1, 4)))
    made = {m.kind: m for m in proposals(2027)}
    assert format_local(made[MeetingKind.SUPPLY_DEMAND].starts_at) == "2027-04-15 09:00"  # Thursday
    assert format_local(made[MeetingKind.SUPPLY_DEMAND].ends_at) == "2027-04-15 17:00"
