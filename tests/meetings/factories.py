"""Meeting factories for tests: a meeting through the domain (audited, checked), a partner from the catalogue."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.holidays.models import HolidayYear
from crm.meetings import domain
from crm.meetings.models import Meeting
from crm.reference.models import Partner


def load_holidays(*years: int) -> None:
    """The State Council schedule of ``years`` from chinese-calendar (the test database has none by default)."""
    missing = [y for y in years if db.session.get(HolidayYear, y) is None]
    if missing:
        load_from_chinese_calendar(missing)
        db.session.flush()


def at(text: str) -> datetime:
    """``"2026-07-01 09:00"`` as an aware Asia/Shanghai time."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def make_meeting(actor: Any = None, *, kind: str = "supply_demand", title: str = "测试产销对接会",
                 starts: str = "2026-07-01 09:00", hours: float = 3, city: str = "成都", venue: str = "测试会场",
                 status: str | None = None, enterprises=(), partners=(), officials=(), **extra: Any) -> Meeting:
    """A meeting made by the domain; ``status="held"`` needs a start in the past. Participants are set when given
    (enterprises and partners as rows, officials as users)."""
    start = at(starts)
    data = {"kind": kind, "title": title, "starts_at": start, "ends_at": start + timedelta(hours=hours),
            "city": city, "venue": venue, "allow_non_working_day": True, **extra}
    if status:
        data["status"] = status
    meeting = domain.create_meeting(actor, data).meeting
    if enterprises or partners or officials:
        domain.set_participants(actor, meeting, {
            "enterprises": [e.id for e in enterprises], "partners": [p.id for p in partners],
            "officials": [u.username for u in officials]})
    return meeting


def partner(name: str = "重庆长安汽车股份有限公司") -> Partner:
    """A partner of the seeded catalogue by name."""
    return db.session.scalar(sa.select(Partner).where(Partner.name == name))
