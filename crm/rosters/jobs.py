"""Scheduled jobs of the rosters (registered in crm/scheduler/registry.py).

Each runs inside the scheduler's exactly-once claim and transaction: it must not commit.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import current_app

from crm.auth.models import Role
from crm.core.time import SHANGHAI
from crm.holidays.workdays import missing_data_message, working_days_before
from crm.notifications.domain import notify_role
from crm.rosters import domain, import_jobs
from crm.rosters.models import EditionStatus, RosterKind


def open_half_year_refresh(fire_time: datetime) -> str:
    """Open the drafts of both lists for the half year that starts at ``fire_time`` and tell the coordinators."""
    period = domain.period_of(fire_time)
    opened = []
    for kind in RosterKind:
        if domain.find_edition(kind, period) is None:
            domain.open_edition(None, kind, period)
            opened.append(kind.label)
    if opened:
        deadline = refresh_deadline(period)
        notify_role(Role.COORDINATOR, "refresh_opened",
                    f"{domain.period_label(period)}名单更新已开启",
                    f"已开启:{'、'.join(opened)}。请在 {deadline.isoformat()} 前完成更新并发布。",
                    link=f"/rosters/?period={period}")
        return f"{period}:已开启 {'、'.join(opened)}"
    return f"{period}:两份名单的草稿均已存在,未重复开启"


def refresh_deadline(period: str) -> date:
    """The configured publish deadline of a half year's refresh (``ROSTER_REFRESH_DEADLINE``: MM-DD per half)."""
    year, half = domain.parse_period(period)
    month_day = current_app.config["ROSTER_REFRESH_DEADLINE"][f"H{half}"]
    month, day = (int(part) for part in month_day.split("-"))
    return date(year, month, day)


def refresh_deadline_reminder(fire_time: datetime) -> str:
    """Remind coordinators when a draft is still unpublished N working days (or fewer) before the deadline."""
    today = fire_time.astimezone(SHANGHAI).date()
    period = domain.period_of(today)
    deadline = refresh_deadline(period)
    threshold = current_app.config["ROSTER_REMINDER_WORKDAYS"]
    left, missing = working_days_before(deadline, today)
    pending = [kind.label for kind in RosterKind
               if (edition := domain.find_edition(kind, period)) is None
               or edition.status is not EditionStatus.PUBLISHED and edition.status is not EditionStatus.SUPERSEDED]
    if not pending or left > threshold:
        return f"{period}:无需提醒(未发布 {len(pending)} 份,距截止 {left} 个工作日)"
    note = f"({missing_data_message(missing)})" if missing else ""
    if today > deadline:
        title = f"{domain.period_label(period)}名单更新已逾期"
        body = f"{'、'.join(pending)}尚未发布,截止日期 {deadline.isoformat()} 已过。{note}"
    else:
        title = f"{domain.period_label(period)}名单更新还剩 {left} 个工作日"
        body = f"{'、'.join(pending)}尚未发布,截止日期 {deadline.isoformat()},还剩 {left} 个工作日。{note}"
    notify_role(Role.COORDINATOR, "refresh_deadline", title, body, link=f"/rosters/?period={period}")
    return f"{period}:已提醒({'、'.join(pending)},剩 {left} 个工作日)"


def sweep_roster_imports(fire_time: datetime) -> str:
    """Every minute: imports whose process died are marked failed with the reason, queued imports a recycled web
    worker left behind are run here (:func:`crm.rosters.import_jobs.sweep`)."""
    return import_jobs.sweep()
