"""Scheduled jobs of the meetings (declared in crm/scheduler/registry.py).

Each is ``func(fire_time: datetime) -> str``: it runs inside the scheduler's exactly-once claim and transaction,
works through ``db.session``, never commits, and returns a short Chinese summary. "Today" is the fire time's date
in Asia/Shanghai, so a run caught up later still judges the day it was meant for.

- :func:`plan_annual_meetings` fires daily at 09:00 from 1 to 15 January (cron cannot say "the first working day
  of the year") and works only from the year's first working day on. The first run that works claims the year
  itself (``JobClaim("plan_annual_meetings:<year>", 1 January 00:00)``, the period claim PITFALLS.md asks for),
  so two processes firing different days at once (a catch-up beside the day's own fire) still propose once; and
  it looks at state: a required kind with a meeting that year (or already proposed by this job, even if a
  coordinator has since cancelled it) gets no proposal.
- :func:`meeting_reminders` fires daily: the officials and the enterprises' commissioners of each planned or
  confirmed meeting starting in ``MEETING_REMINDER_DAYS`` days (default 7 and 1) get an inbox reminder. A user
  who already has that very reminder (same meeting, same day, same lead time) is not told again; a meeting moved
  to another day is reminded for its new day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from crm.auth.models import Role
from crm.core.time import SHANGHAI, format_local, local_today
from crm.extensions import db
from crm.holidays.workdays import missing_data_message, next_working_day
from crm.meetings import domain
from crm.meetings.models import Meeting, MeetingKind
from crm.notifications.domain import notify, notify_role
from crm.notifications.models import Notification, NotificationKind
from crm.scheduler.models import JobClaim

PLAN_JOB = "plan_annual_meetings"
PLAN_MONTHS_KEY = "MEETING_PLAN_MONTHS"
DEFAULT_PLAN_MONTHS = {MeetingKind.SUPPLY_DEMAND: 4, MeetingKind.ENTREPRENEUR_FORUM: 6,
                       MeetingKind.SUPPLY_CHAIN: 9, MeetingKind.OTHER: 11}
# A proposal is held in the 成渝 area so that, once held, it counts for the yearly rule without more ado.
PLAN_CITIES = {MeetingKind.SUPPLY_DEMAND: "重庆", MeetingKind.ENTREPRENEUR_FORUM: "成都",
               MeetingKind.SUPPLY_CHAIN: "重庆", MeetingKind.OTHER: "成都"}
PLAN_DAY = 15  # mid-month, moved to the next working day
PLAN_HOURS = (time(9, 0), time(17, 0))
MIN_NOTICE = timedelta(days=30)  # never propose a meeting sooner than this after the fire day
LATEST_DAY = (12, 20)  # a late proposal still lands in its year (the next working day on or after 20 December)
REMINDER_DAYS_KEY = "MEETING_REMINDER_DAYS"
DEFAULT_REMINDER_DAYS = (7, 1)
TITLE_CLIP = 100


def _today(fire_time: datetime) -> date:
    return fire_time.astimezone(SHANGHAI).date()


def _local_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI).astimezone(UTC)


def _clip(text: str, limit: int = TITLE_CLIP) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- 年度会议计划 -----------------------------------------------------------------------------------------------

def first_working_day(year: int) -> date:
    """The first working day of ``year`` by the holiday table (Monday–Friday for a year without data)."""
    return next_working_day(date(year, 1, 1)).date


def plan_months() -> dict[MeetingKind, int]:
    """The month each kind's proposal lands in (setting ``MEETING_PLAN_MONTHS``: ``{code: month}``)."""
    raw = current_app.config.get(PLAN_MONTHS_KEY) or {}
    months = dict(DEFAULT_PLAN_MONTHS)
    for code, month in dict(raw).items():
        kind = MeetingKind.find(code)
        if kind is None:
            raise ValueError(f"配置项 {PLAN_MONTHS_KEY} 含未知会议类型 {code!r};可选:{MeetingKind.allowed_text()}")
        if isinstance(month, bool) or not isinstance(month, int) or not 1 <= month <= 12:
            raise ValueError(f"配置项 {PLAN_MONTHS_KEY} 中 {code} 的月份应为 1–12,当前为 {month!r}")
        months[kind] = month
    return months


def proposal_day(kind: MeetingKind, today: date, months: dict[MeetingKind, int]) -> tuple[date, list[int]]:
    """A working day for ``kind``'s proposal in ``today``'s year: mid-month of its configured month, at least
    :data:`MIN_NOTICE` after ``today`` (or after the real today, when a fire time is caught up months late) and
    at the latest :data:`LATEST_DAY` of the year, moved to the next working day; and the years counted without
    data."""
    notice_from = today
    real_today = local_today()
    if real_today.year == today.year and real_today > today:
        notice_from = real_today  # a January fire run in June must not propose April
    wanted = max(date(today.year, months[kind], PLAN_DAY), notice_from + MIN_NOTICE)
    wanted = min(wanted, date(today.year, *LATEST_DAY))
    result = next_working_day(wanted)
    return result.date, result.missing_years


def _claim_year(year: int) -> bool:
    """Claim the year for the yearly plan (a savepoint): False when another run has it (committed or, on
    PostgreSQL, after waiting for the other transaction to commit)."""
    try:
        with db.session.begin_nested():
            db.session.add(JobClaim(job_id=f"{PLAN_JOB}:{year}", fire_time=_local_start(date(year, 1, 1)),
                                    claimed_by=f"{PLAN_JOB} {year}"))
            db.session.flush()
    except IntegrityError:
        return False
    return True


def _already_proposed(year: int) -> set[MeetingKind]:
    """Kinds this job proposed in ``year``, whatever became of them (a cancelled proposal is not made again)."""
    start, end = domain.year_bounds(year)
    return set(db.session.scalars(sa.select(Meeting.kind).where(
        Meeting.starts_at >= start, Meeting.starts_at < end, Meeting.proposed_by == PLAN_JOB).distinct()))


def plan_annual_meetings(fire_time: datetime) -> str:
    """On the first working day of the year (or the first fire after it): for each required kind with no meeting
    that year, propose one meeting on a working day in the 成渝 area, and tell the active coordinators."""
    today = _today(fire_time)
    year = today.year
    first = first_working_day(year)
    if today < first:
        return f"{today.isoformat()}:尚未到{year}年第一个工作日({first.isoformat()}),不拟定年度会议计划"
    kinds = domain.required_kinds()
    months = plan_months()
    if not _claim_year(year):
        return f"{year}年度会议计划已由之前的运行拟定,本次未重复拟定"
    present = domain.kinds_planned(year) | _already_proposed(year)
    proposed: list[Meeting] = []
    missing_years: set[int] = set()
    for kind in kinds:
        if kind in present:
            continue
        day, missing = proposal_day(kind, today, months)
        missing_years.update(missing)
        saved = domain.create_meeting(None, {
            "kind": kind.value,
            "title": f"{year}年{kind.label}(拟)",
            "starts_at": datetime.combine(day, PLAN_HOURS[0], tzinfo=SHANGHAI),
            "ends_at": datetime.combine(day, PLAN_HOURS[1], tzinfo=SHANGHAI),
            "city": PLAN_CITIES.get(kind, "重庆"),
            "venue": "待定",
            "agenda": (f"按年度要求,每年至少组织一次与成渝地区的{kind.label}。本会议由系统于 {today.isoformat()} "
                       "自动拟定,请协调员确认时间、地点,邀请参会企业和成渝企业后改为“已确定”。"),
        }, proposed_by=PLAN_JOB)
        proposed.append(saved.meeting)
    note = missing_data_message(missing_years)
    for meeting in proposed:
        notify_role(Role.COORDINATOR, NotificationKind.MEETING_PROPOSED,
                    f"年度会议计划:{meeting.title}",
                    f"系统已拟定{meeting.kind.label}:{format_local(meeting.starts_at)},{meeting.city}。"
                    "请确认时间、地点和参会名单。" + (f"\n{note}" if note else ""),
                    domain.meeting_link(meeting))
    held = [kind.label for kind in kinds if kind in present]
    summary = f"{year}年度会议计划:拟定 {len(proposed)} 场"
    if proposed:
        summary += "(" + "、".join(f"{m.kind.label} {format_local(m.starts_at, '%Y-%m-%d')}" for m in proposed) + ")"
    if held:
        summary += f";已有安排:{'、'.join(held)}"
    return summary + (f"({note})" if note else "")


# --- 会议提醒 -----------------------------------------------------------------------------------------------

def reminder_days() -> list[int]:
    """How many days before a meeting its people are reminded (setting ``MEETING_REMINDER_DAYS``)."""
    raw = current_app.config.get(REMINDER_DAYS_KEY) or DEFAULT_REMINDER_DAYS
    if isinstance(raw, int | str):
        raw = [raw]
    days = []
    for value in raw:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"配置项 {REMINDER_DAYS_KEY} 应为天数列表,当前含 {value!r}") from None
        if number < 1:
            raise ValueError(f"配置项 {REMINDER_DAYS_KEY} 的天数应不小于 1,当前含 {number}")
        if number not in days:
            days.append(number)
    return sorted(days, reverse=True)


def _when(days: int) -> str:
    return {1: "明天", 2: "后天"}.get(days, f"{days}天后")


def reminder_title(meeting: Meeting, days: int) -> str:
    """The reminder's title; it names the meeting, its day and the lead time, so "already reminded" is a lookup."""
    return (f"会议提醒:{_clip(meeting.title)}将于{_when(days)}"
            f"({format_local(meeting.starts_at, '%Y-%m-%d')})举行")


def _reminder_body(meeting: Meeting) -> str:
    lines = [f"时间:{format_local(meeting.starts_at)}–{format_local(meeting.ends_at, '%m-%d %H:%M')}",
             f"地点:{' '.join(part for part in (meeting.city, meeting.venue) if part) or '待定'}",
             f"状态:{meeting.status.label}"]
    if meeting.enterprise_links or meeting.partner_links:
        lines.append(f"参会:本地企业 {len(meeting.enterprise_links)} 家,成渝企业 {len(meeting.partner_links)} 家")
    if meeting.agenda:
        lines.append(f"议程:{_clip(meeting.agenda, 200)}")
    return "\n".join(lines)


def meeting_reminders(fire_time: datetime) -> str:
    """Remind the people taking part in each planned or confirmed meeting N days before it (each N of
    ``MEETING_REMINDER_DAYS``): its active officials and the active commissioners of its enterprises."""
    today = _today(fire_time)
    by_days: list[tuple[int, Meeting]] = []
    for days in reminder_days():
        target = today + timedelta(days=days)
        by_days += [(days, m) for m in db.session.scalars(
            sa.select(Meeting)
            .options(selectinload(Meeting.official_links), selectinload(Meeting.enterprise_links),
                     selectinload(Meeting.partner_links))
            .where(Meeting.status.in_(domain.UPCOMING), Meeting.starts_at >= _local_start(target),
                   Meeting.starts_at < _local_start(target + timedelta(days=1)))
            .order_by(Meeting.starts_at, Meeting.id))]
    if not by_days:
        return f"{today.isoformat()}:近期没有需要提醒的会议"
    titles = {(m.id, days): reminder_title(m, days) for days, m in by_days}
    sent_before = set(db.session.execute(
        sa.select(Notification.user_id, Notification.link, Notification.title)
        .where(Notification.kind == NotificationKind.MEETING_REMINDER,
               Notification.link.in_({domain.meeting_link(m) for _, m in by_days}),
               Notification.title.in_(set(titles.values())))).all())
    sent = 0
    reminded: list[str] = []
    already = nobody = 0
    for days, meeting in by_days:
        title, link = titles[(meeting.id, days)], domain.meeting_link(meeting)
        audience = domain.audience(meeting)
        people = [u for u in audience if (u.id, link, title) not in sent_before]
        if people:
            sent += len(notify(people, NotificationKind.MEETING_REMINDER, title, _reminder_body(meeting), link))
            reminded.append(f"{_clip(meeting.title, 40)}({_when(days)})")
        elif audience:
            already += 1
        else:
            nobody += 1
    summary = f"{today.isoformat()}:提醒会议 {len(reminded)} 场,发出提醒 {sent} 条"
    summary += (":" + "、".join(reminded)) if reminded else ""
    if already:
        summary += f";{already} 场的提醒均已发送过,未重复提醒"
    if nobody:
        summary += f";{nobody} 场尚无参会人员或服务专员可提醒"
    return summary
