"""Meetings: plan, change, cancel, book participants, record what was signed and what was asked.

The rules every entry point shares (pages, the API, the jobs, the demo). Each function checks its rules, writes,
records the audit row in the same transaction and tells the people concerned (inbox); none commits. Input comes
with the API's names (``kind``, ``starts_at`` …); problems are collected per field and raised together
(:class:`ValidationFailed`, 422). A cancelled meeting is final; agreements and follow-up 诉求 need a held one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import selectinload

from crm.auth.models import User
from crm.core import cache
from crm.core.access import Action, can, scope
from crm.core.audit import AuditAction, AuditEntity, diff, record
from crm.core.errors import Conflict, ValidationFailed
from crm.core.parsing import check_version, parse_enum, parse_id
from crm.core.time import SHANGHAI, format_local, to_local, utcnow
from crm.enterprises.models import Enterprise, EnterprisePartner
from crm.extensions import db
from crm.holidays.models import DayKind, SpecialDay
from crm.holidays.workdays import is_working_day, missing_data_message, year_has_data
from crm.notifications.domain import notify
from crm.notifications.models import NotificationKind
from crm.reference.models import Cluster, County, Department, Partner, by_name
from crm.rosters.domain import latest_published
from crm.rosters.models import RosterEntry, RosterKind
from crm.service.models import Assignment, ServiceRequest
from crm.service.requests import raise_request

from .models import (
    AgreementKind,
    Meeting,
    MeetingAgreement,
    MeetingEnterprise,
    MeetingFollowUp,
    MeetingKind,
    MeetingOfficial,
    MeetingPartner,
    MeetingStatus,
)

INVALID_MESSAGE = "会议信息有误,请修改标出的字段"
TITLE_MAX, VENUE_MAX, CITY_MAX, TEXT_MAX, REASON_MAX, NOTE_MAX = 200, 200, 40, 4000, 400, 400
MAX_DURATION = timedelta(days=14)
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
MAX_AMOUNT = Decimal("10000000000")  # 万元: a trillion 元 is a typo, not an agreement
ACTIVE = (MeetingStatus.PLANNED, MeetingStatus.CONFIRMED, MeetingStatus.HELD)
UPCOMING = (MeetingStatus.PLANNED, MeetingStatus.CONFIRMED)
# Fields a calendar must notice: a change raises the iCalendar SEQUENCE.
CALENDAR_FIELDS = ("kind", "title", "starts_at", "ends_at", "venue", "city", "status", "agenda")
# Fields whose change the people taking part are told about at once.
NOTIFY_FIELDS = ("starts_at", "ends_at", "venue", "city")
REQUIRED_KINDS_KEY = "MEETING_REQUIRED_KINDS"
DEFAULT_REQUIRED_KINDS = (MeetingKind.SUPPLY_DEMAND, MeetingKind.ENTREPRENEUR_FORUM, MeetingKind.SUPPLY_CHAIN)

# The 成渝 area (成渝地区双城经济圈): 重庆 (any of its districts and counties) and the cities and prefectures of 四川.
CHENGYU_CITIES = ("重庆", "成都", "自贡", "攀枝花", "泸州", "德阳", "绵阳", "广元", "遂宁", "内江", "乐山", "南充",
                  "眉山", "宜宾", "广安", "达州", "雅安", "巴中", "资阳", "阿坝", "甘孜", "凉山")
_PROVINCE_PREFIX = re.compile(r"^(四川省?|重庆市)")
_LOCAL_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?$")


@dataclass
class Saved:
    """A meeting as saved, with the warnings a person should read (non-working day accepted, double bookings,
    a year without holiday data)."""

    meeting: Meeting
    warnings: list[str] = field(default_factory=list)


def _may(actor: Any, action: Action, record: Any) -> bool:
    """The system (``actor`` None: the jobs, the demo) may everything; a person what their rules allow."""
    return actor is None or can(actor, action, record)


def _reach(actor: Any, model: type, stmt: sa.Select) -> sa.Select:
    return stmt if actor is None else scope(actor, model, stmt, Action.VIEW)


# --- reading -----------------------------------------------------------------------------------------------

def meeting_link(meeting: Meeting | int) -> str:
    return f"/meetings/{meeting if isinstance(meeting, int) else meeting.id}"


@lru_cache(maxsize=4096)  # a pure test of a short string; a page asks it of the same few cities again and again
def in_chengyu_city(city: str | None) -> bool:
    """Is ``city`` in the 成渝 area (重庆, 成都 and the other cities of 四川 and 重庆)?"""
    text = _PROVINCE_PREFIX.sub("", (city or "").strip().replace(" ", ""))
    if (city or "").strip().startswith("重庆"):
        return True
    return any(text.startswith(name) for name in CHENGYU_CITIES)


def chengyu_reason(meeting: Meeting) -> str:
    """Why the meeting counts as held with the 成渝 area ("" when it does not)."""
    return reason_of(meeting.city, len(meeting.partner_links))


def reason_of(city: str | None, partners: int) -> str:
    """:func:`chengyu_reason` of a meeting in ``city`` with ``partners`` 成渝 firms taking part."""
    reasons = []
    if in_chengyu_city(city):
        reasons.append(f"在成渝地区({city})举办")
    if partners:
        reasons.append(f"{partners} 家成渝企业参加")
    return "、".join(reasons)


def counts_with_chengyu(meeting: Meeting) -> bool:
    return bool(chengyu_reason(meeting))


def meetings_statement(user: Any, *, start: datetime | None = None, end: datetime | None = None,
                       kind: MeetingKind | None = None, city: str | None = None,
                       status: MeetingStatus | None = None) -> sa.Select:
    """The meetings ``user`` may read, by start time; ``start``/``end`` bound the overlap with [start, end)."""
    stmt = sa.select(Meeting).options(selectinload(Meeting.partner_links))
    if start is not None:
        stmt = stmt.where(Meeting.ends_at > start)
    if end is not None:
        stmt = stmt.where(Meeting.starts_at < end)
    if kind is not None:
        stmt = stmt.where(Meeting.kind == kind)
    if city:
        stmt = stmt.where(Meeting.city == city)
    if status is not None:
        stmt = stmt.where(Meeting.status == status)
    return scope(user, Meeting, stmt, Action.VIEW).order_by(Meeting.starts_at, Meeting.id)


def cities(user: Any) -> list[str]:
    """The cities of the meetings the user may read (the calendar's city filter)."""
    stmt = scope(user, Meeting, sa.select(Meeting.city).where(Meeting.city != "").distinct(), Action.VIEW)
    return sorted(db.session.scalars(stmt))


def audience(meeting: Meeting) -> list[User]:
    """Who is told about the meeting: its officials, and the active commissioners of its enterprises."""
    users = [link.user for link in meeting.official_links if link.user.active]
    enterprise_ids = [link.enterprise_id for link in meeting.enterprise_links]
    if enterprise_ids:
        users += list(db.session.scalars(
            sa.select(User).join(Assignment, Assignment.commissioner_id == User.id)
            .where(Assignment.enterprise_id.in_(enterprise_ids), Assignment.ended_on.is_(None),
                   User.active.is_(True)).distinct().order_by(User.id)))
    seen: set[int] = set()
    return [u for u in users if not (u.id in seen or seen.add(u.id))]


def readable_ids(actor: Any, enterprise_ids: Iterable[int]) -> set[int]:
    """Those of ``enterprise_ids`` the actor may read, in one query (never one check per participant); the system
    (``actor`` None) reads all."""
    ids = set(enterprise_ids)
    if actor is None or not ids:
        return ids
    return set(db.session.scalars(scope(actor, Enterprise, sa.select(Enterprise.id).where(Enterprise.id.in_(ids)),
                                        Action.VIEW)))


def visible_enterprises(user: Any, meeting: Meeting) -> tuple[list[Enterprise], int]:
    """The meeting's enterprises the user may read, and how many others take part (counted, not named)."""
    readable = readable_ids(user, (link.enterprise_id for link in meeting.enterprise_links))
    shown = [link.enterprise for link in meeting.enterprise_links if link.enterprise_id in readable]
    return sorted(shown, key=lambda e: e.name_pinyin or e.name), len(meeting.enterprise_links) - len(shown)


def official_conflicts(meeting: Meeting) -> list[str]:
    """A warning per official booked into another meeting that overlaps this one (cancelled ones aside)."""
    if meeting.status is MeetingStatus.CANCELLED or not meeting.official_links:
        return []
    user_ids = [link.user_id for link in meeting.official_links]
    rows = db.session.execute(
        sa.select(MeetingOfficial.user_id, Meeting)
        .join(Meeting, Meeting.id == MeetingOfficial.meeting_id)
        .where(MeetingOfficial.user_id.in_(user_ids), Meeting.id != meeting.id,
               Meeting.status != MeetingStatus.CANCELLED,
               Meeting.starts_at < meeting.ends_at, Meeting.ends_at > meeting.starts_at)
        .order_by(Meeting.starts_at)).all()
    names = {link.user_id: link.user.display_name for link in meeting.official_links}
    return [f"{names[user_id]} 同时段已安排参加“{other.title}”({format_local(other.starts_at)}–"
            f"{format_local(other.ends_at, '%H:%M')})" for user_id, other in rows]


# --- working days ------------------------------------------------------------------------------------------

def _special_day(day: date) -> SpecialDay | None:
    return db.session.scalar(sa.select(SpecialDay).where(SpecialDay.day == day))


def day_problem(day: date) -> str | None:
    """Why ``day`` is not a working day ("" → it is one): the holiday's name, or a weekend without 调休."""
    if is_working_day(day):
        return None
    special = _special_day(day)
    if special is not None and special.kind is DayKind.HOLIDAY:
        return f"{day.isoformat()} 是法定节假日({special.name or '放假'})"
    weekday = "周六" if day.weekday() == 5 else "周日"
    return f"{day.isoformat()} 是{weekday},不是调休上班日"


def working_day_check(starts_at: datetime, ends_at: datetime, allow: bool) -> tuple[str | None, list[str]]:
    """(refusal, warnings) for a meeting's days: a non-working day is refused unless ``allow``; a year without
    holiday data is counted Monday–Friday and said so."""
    first, last = to_local(starts_at).date(), to_local(ends_at - timedelta(seconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    problems = [p for p in (day_problem(d) for d in days) if p]
    warnings: list[str] = []
    missing = sorted({d.year for d in days if not year_has_data(d.year)})
    if missing:
        warnings.append(missing_data_message(missing))
    if problems and not allow:
        return "、".join(problems) + ";如确需在非工作日举办,请勾选“确认在非工作日举办”", warnings
    if problems:
        warnings.append("已确认在非工作日举办:" + "、".join(problems))
    return None, warnings


# --- parsing -----------------------------------------------------------------------------------------------

def parse_moment(value: Any, field_name: str, fields: dict[str, str], *, label: str) -> datetime | None:
    """An ISO 8601 time with offset, or a local ``YYYY-MM-DD HH:MM`` taken as Asia/Shanghai; aware UTC-comparable."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            fields[field_name] = f"{label}格式应为 2026-07-01T09:00:00+08:00 或 2026-07-01 09:00"
            return None
        if moment.tzinfo is None:
            if not _LOCAL_MOMENT.match(text):
                fields[field_name] = f"{label}应包含日期和时间,例如 2026-07-01 09:00"
                return None
            moment = moment.replace(tzinfo=SHANGHAI)
    elif value in (None, ""):
        fields[field_name] = f"请填写{label}"
        return None
    else:
        fields[field_name] = f"{label}应为日期时间文本,例如 2026-07-01T09:00:00+08:00"
        return None
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        fields[field_name] = f"{label}的年份应在 {EARLIEST_YEAR}–{LATEST_YEAR} 之间"
        return None
    return moment


def _text(data: dict[str, Any], key: str, fields: dict[str, str], *, label: str, limit: int,
          required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        fields[key] = f"{label}应为文字"
        return None
    value = value.strip()
    if required and not value:
        fields[key] = f"请填写{label}"
    elif len(value) > limit:
        fields[key] = f"{label}最长{limit}个字符"
    return value


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in ("1", "true", "y", "yes", "on"))


def _department(value: Any, fields: dict[str, str]) -> Department | None:
    if value in (None, ""):
        return None
    department = by_name(Department, value) if isinstance(value, str) else None
    if department is None:
        fields["department"] = f"未知责任单位:{str(value)[:40]}"
    return department


def _read(data: dict[str, Any], meeting: Meeting | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields present in ``data`` (all of them for a new meeting), parsed; problems per field."""
    fields: dict[str, str] = {}
    values: dict[str, Any] = {}
    creating = meeting is None

    def present(key: str) -> bool:
        return creating or key in data

    if present("kind"):
        values["kind"] = parse_enum(MeetingKind, data.get("kind"), field="kind", what="会议类型", fields=fields,
                                    required=True)
    if present("title"):
        values["title"] = _text(data, "title", fields, label="会议名称", limit=TITLE_MAX, required=True)
    for key, label in (("starts_at", "开始时间"), ("ends_at", "结束时间")):
        if present(key):
            values[key] = parse_moment(data.get(key), key, fields, label=label)
    if present("venue"):
        values["venue"] = _text(data, "venue", fields, label="会议地点", limit=VENUE_MAX)
    if present("city"):
        values["city"] = _text(data, "city", fields, label="所在城市", limit=CITY_MAX, required=True)
    if present("department"):
        values["department"] = _department(data.get("department"), fields)
    if present("agenda"):
        values["agenda"] = _text(data, "agenda", fields, label="会议议程", limit=TEXT_MAX)
    if "outcome_summary" in data:
        values["outcome_summary"] = _text(data, "outcome_summary", fields, label="成果概述", limit=TEXT_MAX)
    if "status" in data and data.get("status") not in (None, ""):
        values["status"] = parse_enum(MeetingStatus, data.get("status"), field="status", what="会议状态",
                                      fields=fields)
    return values, fields


def _check_times(values: dict[str, Any], meeting: Meeting | None, fields: dict[str, str]) -> None:
    starts = values.get("starts_at", meeting.starts_at if meeting else None)
    ends = values.get("ends_at", meeting.ends_at if meeting else None)
    if starts is None or ends is None or "starts_at" in fields or "ends_at" in fields:
        return
    if ends <= starts:
        fields["ends_at"] = "结束时间应晚于开始时间"
    elif ends - starts > MAX_DURATION:
        fields["ends_at"] = "一次会议活动最长14天"


def _check_status(values: dict[str, Any], meeting: Meeting | None, fields: dict[str, str]) -> None:
    status = values.get("status")
    if status is None:
        return
    if status is MeetingStatus.CANCELLED:
        fields["status"] = "取消会议请使用“取消会议”,并说明原因"
        return
    current = meeting.status if meeting else None
    if current is MeetingStatus.HELD and status is not MeetingStatus.HELD:
        fields["status"] = "已举办的会议不能改回计划状态"
    starts = values.get("starts_at", meeting.starts_at if meeting else None)
    if status is MeetingStatus.HELD and starts is not None and starts > utcnow():
        fields["status"] = "会议尚未开始,不能标记为已举办"


# --- planning ----------------------------------------------------------------------------------------------

def _audit_values(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "department" in out:
        out["department"] = out["department"].name if out["department"] else None
    return out


def create_meeting(actor: Any, data: dict[str, Any], *, proposed_by: str = "") -> Saved:
    """Plan a meeting (status ``planned`` unless ``confirmed`` or, for a past one, ``held`` is given).

    A start or end on a non-working day is refused naming the day unless ``allow_non_working_day``.
    """
    values, fields = _read(data, None)
    _check_times(values, None, fields)
    _check_status(values, None, fields)
    if fields:
        raise ValidationFailed(INVALID_MESSAGE, fields)
    refusal, warnings = working_day_check(values["starts_at"], values["ends_at"],
                                          _flag(data.get("allow_non_working_day")))
    if refusal:
        raise ValidationFailed(INVALID_MESSAGE, {"starts_at": refusal})
    meeting = Meeting(kind=values["kind"], title=values["title"], starts_at=values["starts_at"],
                      ends_at=values["ends_at"], venue=values["venue"], city=values["city"],
                      department=values["department"], agenda=values["agenda"],
                      outcome_summary=values.get("outcome_summary") or "",
                      status=values.get("status") or MeetingStatus.PLANNED, proposed_by=proposed_by,
                      created_by_id=getattr(actor, "id", None), sequence=0)
    db.session.add(meeting)
    db.session.flush()
    record(actor, AuditEntity.MEETING, meeting.id, AuditAction.CREATE,
           {k: [None, v] for k, v in _audit_values(values).items() if v not in (None, "")} | {
               "status": [None, meeting.status]},
           summary=f"新建{meeting.kind.label}“{meeting.title}”")
    return Saved(meeting, warnings)


def update_meeting(actor: Any, meeting: Meeting, data: dict[str, Any], *, version: Any = None) -> Saved:
    """Change the fields present in ``data``; a stale ``version`` → 409 and nothing written.

    Every change a calendar must see raises ``sequence``; a new time or place is told at once to the people
    taking part (officials, commissioners of the enterprises).
    """
    check_version(meeting, version)
    if meeting.status is MeetingStatus.CANCELLED:
        raise Conflict("会议已取消,不能再修改", code="cancelled")
    values, fields = _read(data, meeting)
    _check_times(values, meeting, fields)
    _check_status(values, meeting, fields)
    if fields:
        raise ValidationFailed(INVALID_MESSAGE, fields)
    warnings: list[str] = []
    if "starts_at" in values or "ends_at" in values:
        starts, ends = values.get("starts_at", meeting.starts_at), values.get("ends_at", meeting.ends_at)
        if (starts, ends) != (meeting.starts_at, meeting.ends_at):
            refusal, warnings = working_day_check(starts, ends, _flag(data.get("allow_non_working_day")))
            if refusal:
                raise ValidationFailed(INVALID_MESSAGE, {"starts_at": refusal})
    changes = diff(meeting, values)
    if not changes:
        return Saved(meeting, warnings)
    for key, value in values.items():
        setattr(meeting, key, value)
    if any(key in CALENDAR_FIELDS for key in changes):
        meeting.sequence += 1
    db.session.flush()
    if "department" in changes:
        changes["department"] = [changes["department"][0] and getattr(changes["department"][0], "name", None),
                                 meeting.department.name if meeting.department else None]
    record(actor, AuditEntity.MEETING, meeting.id, AuditAction.UPDATE, changes,
           summary=f"修改会议“{meeting.title}”")
    if meeting.status in UPCOMING and any(key in NOTIFY_FIELDS for key in changes):
        notify(audience(meeting), NotificationKind.MEETING_CHANGED, f"会议变更:{meeting.title}",
               f"时间:{format_local(meeting.starts_at)}–{format_local(meeting.ends_at, '%H:%M')};"
               f"地点:{meeting.city} {meeting.venue}".strip(), meeting_link(meeting))
    return Saved(meeting, warnings + official_conflicts(meeting))


def cancel_meeting(actor: Any, meeting: Meeting, reason: Any, *, version: Any = None) -> Meeting:
    """Cancel with a reason; it stays in the calendar feed as cancelled and everyone taking part is told."""
    check_version(meeting, version)
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise ValidationFailed("请说明取消原因", {"reason": "请填写取消原因"})
    if len(reason) > REASON_MAX:
        raise ValidationFailed("取消原因过长", {"reason": f"取消原因最长{REASON_MAX}个字符"})
    if meeting.status is MeetingStatus.CANCELLED:
        raise Conflict("会议已经取消", code="cancelled")
    if meeting.status is MeetingStatus.HELD:
        raise Conflict("会议已经举办,不能取消", code="held")
    old = meeting.status
    meeting.status, meeting.cancel_reason = MeetingStatus.CANCELLED, reason
    meeting.sequence += 1
    db.session.flush()
    record(actor, AuditEntity.MEETING, meeting.id, AuditAction.CANCEL,
           {"status": [old, MeetingStatus.CANCELLED], "cancel_reason": [None, reason]},
           summary=f"取消会议“{meeting.title}”")
    notify(audience(meeting), NotificationKind.MEETING_CANCELLED, f"会议取消:{meeting.title}",
           f"原定 {format_local(meeting.starts_at)};原因:{reason}", meeting_link(meeting))
    return meeting


# --- participants ------------------------------------------------------------------------------------------

def _ids(value: Any, key: str, label: str, fields: dict[str, str]) -> list[int] | None:
    if not isinstance(value, list | tuple):
        fields[key] = f"{label}应为编号列表"
        return None
    ids = [parse_id(v) if not isinstance(v, bool) else None for v in value]
    if any(i is None for i in ids):
        fields[key] = f"{label}编号应为正整数"
        return None
    return list(dict.fromkeys(ids))


def _names(names: list[str]) -> str | None:
    """A set of names as the history shows it (``None``: nobody)."""
    return "、".join(names) or None


def _ensure_open(meeting: Meeting) -> None:
    if meeting.status is MeetingStatus.CANCELLED:
        raise Conflict("会议已取消,不能再修改", code="cancelled")


def set_participants(actor: Any, meeting: Meeting, data: dict[str, Any]) -> Saved:
    """Replace the sets given (``enterprises``: ids, ``partners``: ids, ``officials``: usernames); a set not
    given stays. An enterprise the actor may not read is "unknown", never named."""
    _ensure_open(meeting)
    fields: dict[str, str] = {}
    enterprises = partners = officials = None
    if "enterprises" in data:
        ids = _ids(data["enterprises"], "enterprises", "企业", fields)
        if ids is not None:
            found = {e.id: e for e in db.session.scalars(_reach(
                actor, Enterprise, sa.select(Enterprise).where(Enterprise.id.in_(ids))))}
            unknown = [i for i in ids if i not in found]
            if unknown:
                fields["enterprises"] = "未知企业编号:" + "、".join(map(str, unknown[:10]))
            enterprises = [found[i] for i in ids if i in found]
    if "partners" in data:
        ids = _ids(data["partners"], "partners", "成渝企业", fields)
        if ids is not None:
            found_p = {p.id: p for p in db.session.scalars(sa.select(Partner).where(Partner.id.in_(ids)))}
            unknown = [i for i in ids if i not in found_p]
            if unknown:
                fields["partners"] = "未知成渝企业编号:" + "、".join(map(str, unknown[:10]))
            partners = [found_p[i] for i in ids if i in found_p]
    if "officials" in data:
        names = data["officials"]
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            fields["officials"] = "参会人员应为用户名列表"
        else:
            wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
            askable = [n for n in wanted if "\x00" not in n and len(n) <= 64]
            found_u = {u.username: u for u in db.session.scalars(
                sa.select(User).where(User.username.in_(askable), User.active.is_(True)))} if askable else {}
            unknown_names = [n for n in wanted if n not in found_u]
            if unknown_names:
                fields["officials"] = "未知或已停用的用户:" + "、".join(unknown_names[:10])
            officials = [found_u[n] for n in wanted if n in found_u]
    if fields:
        raise ValidationFailed("参会名单有误", fields)
    changes: dict[str, list[Any]] = {}
    if enterprises is not None:
        _replace_enterprises(actor, meeting, enterprises, changes)
    if partners is not None:
        old = sorted(p.name for p in meeting.partners)
        keep = {p.id for p in partners}
        meeting.partner_links[:] = [link for link in meeting.partner_links if link.partner_id in keep]
        have = {link.partner_id for link in meeting.partner_links}
        meeting.partner_links.extend(MeetingPartner(partner=p) for p in partners if p.id not in have)
        new = sorted(p.name for p in partners)
        if old != new:
            changes["partners"] = [_names(old), _names(new)]
    if officials is not None:
        old = sorted(u.username for u in meeting.officials)
        keep = {u.id for u in officials}
        meeting.official_links[:] = [link for link in meeting.official_links if link.user_id in keep]
        have = {link.user_id for link in meeting.official_links}
        meeting.official_links.extend(MeetingOfficial(user=u) for u in officials if u.id not in have)
        new = sorted(u.username for u in officials)
        if old != new:
            changes["officials"] = [_names(old), _names(new)]
    if changes:
        meeting.sequence += 1  # the attendee list is in the feed
        meeting.updated_at = utcnow()
        db.session.flush()
        record(actor, AuditEntity.MEETING, meeting.id, AuditAction.PARTICIPANTS, changes,
               summary=f"修改“{meeting.title}”的参会名单")
    return Saved(meeting, official_conflicts(meeting))


def _replace_enterprises(actor: Any, meeting: Meeting, enterprises: list[Enterprise],
                         changes: dict[str, list[Any]]) -> None:
    """Replace the enterprises the actor may read; those they may not read stay (they cannot see them)."""
    readable = readable_ids(actor, (link.enterprise_id for link in meeting.enterprise_links))
    hidden = [link for link in meeting.enterprise_links if link.enterprise_id not in readable]
    visible_old = sorted(link.enterprise.name for link in meeting.enterprise_links if link not in hidden)
    keep = {e.id for e in enterprises}
    meeting.enterprise_links[:] = hidden + [link for link in meeting.enterprise_links
                                            if link not in hidden and link.enterprise_id in keep]
    have = {link.enterprise_id for link in meeting.enterprise_links}
    meeting.enterprise_links.extend(MeetingEnterprise(enterprise=e, invited_via="逐一选择")
                                    for e in enterprises if e.id not in have)
    new = sorted(e.name for e in enterprises)
    if visible_old != new:
        changes["enterprises"] = [_names(visible_old), _names(new)]


def invite_list(actor: Any, meeting: Meeting, kind: Any, *, cluster: Any = None, county: Any = None) -> int:
    """Invite every enterprise on the latest published edition of a list (filtered by cluster and county) that
    the actor may read; returns how many were added (those already taking part are left as they are)."""
    _ensure_open(meeting)
    fields: dict[str, str] = {}
    roster_kind = parse_enum(RosterKind, kind, field="roster", what="名单", fields=fields, required=True)
    cluster_row = county_row = None
    if cluster not in (None, ""):
        cluster_row = by_name(Cluster, cluster) if isinstance(cluster, str) else None
        if cluster_row is None:
            fields["cluster"] = f"未知产业集群:{str(cluster)[:40]}"
    if county not in (None, ""):
        county_row = by_name(County, county) if isinstance(county, str) else None
        if county_row is None:
            fields["county"] = f"未知区县:{str(county)[:40]}"
    if fields:
        raise ValidationFailed("邀请条件有误", fields)
    edition = latest_published(roster_kind)
    if edition is None:
        raise ValidationFailed("该名单还没有已发布的版本", {"roster": "该名单还没有已发布的版本"})
    stmt = (sa.select(Enterprise).join(RosterEntry, RosterEntry.enterprise_id == Enterprise.id)
            .where(RosterEntry.edition_id == edition.id))
    if cluster_row is not None:
        stmt = stmt.where(Enterprise.cluster_id == cluster_row.id)
    if county_row is not None:
        stmt = stmt.where(Enterprise.county_id == county_row.id)
    have = {link.enterprise_id for link in meeting.enterprise_links}
    added = [e for e in db.session.scalars(_reach(actor, Enterprise, stmt)) if e.id not in have]
    via = f"{roster_kind.short_label} {edition.period}" + "".join(
        f" · {row.name}" for row in (cluster_row, county_row) if row is not None)
    meeting.enterprise_links.extend(MeetingEnterprise(enterprise=e, invited_via=via) for e in added)
    if added:
        meeting.sequence += 1
        meeting.updated_at = utcnow()
        db.session.flush()
        record(actor, AuditEntity.MEETING, meeting.id, AuditAction.PARTICIPANTS,
               {"enterprises": [None, _names(sorted(e.name for e in added))], "invited_via": [None, via]},
               summary=f"按名单邀请 {len(added)} 家企业参加“{meeting.title}”")
    return len(added)


# --- outcomes ----------------------------------------------------------------------------------------------

def _ensure_held(meeting: Meeting, what: str) -> None:
    if meeting.status is not MeetingStatus.HELD:
        raise Conflict(f"会议举办后才能登记{what}(当前状态:{meeting.status.label})", code="not_held")


def _participant(actor: Any, meeting: Meeting, value: Any, fields: dict[str, str], key: str = "enterprise_id"
                 ) -> Enterprise | None:
    enterprise_id = parse_id(value) if not isinstance(value, bool) else None
    link = next((link for link in meeting.enterprise_links if link.enterprise_id == enterprise_id), None)
    if link is None or not _may(actor, Action.VIEW, link.enterprise):
        fields[key] = "请选择参加本次会议的企业"
        return None
    return link.enterprise


def _amount(value: Any, fields: dict[str, str]) -> Decimal | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        fields["amount"] = "金额应为数字(万元)"
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        fields["amount"] = "金额应为数字(万元)"
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        fields["amount"] = "金额应为不小于 0 的合理数字(万元)"
        return None
    if amount != amount.quantize(Decimal("0.01")):
        fields["amount"] = "金额最多保留两位小数"
        return None
    return amount


def add_agreement(actor: Any, meeting: Meeting, data: dict[str, Any]) -> MeetingAgreement:
    """Record an agreement signed at the (held) meeting; the pair becomes a supply link on the enterprise's
    一企一档 (and the partner's page) when it is not one already."""
    _ensure_held(meeting, "签约成果")
    fields: dict[str, str] = {}
    enterprise = _participant(actor, meeting, data.get("enterprise_id"), fields)
    partner_id = parse_id(data.get("partner_id")) if not isinstance(data.get("partner_id"), bool) else None
    partner = db.session.get(Partner, partner_id) if partner_id else None
    if partner is None:
        fields["partner_id"] = "请选择成渝企业"
    kind = parse_enum(AgreementKind, data.get("kind"), field="kind", what="签约类型", fields=fields, required=True)
    amount = _amount(data.get("amount"), fields)
    note = _text(data, "note", fields, label="备注", limit=NOTE_MAX)
    if fields:
        raise ValidationFailed("签约信息有误", fields)
    if enterprise is not None and not _may(actor, Action.EDIT, enterprise):
        raise ValidationFailed("签约信息有误", {"enterprise_id": "请选择参加本次会议的企业"})
    agreement = MeetingAgreement(meeting=meeting, enterprise=enterprise, partner=partner, kind=kind, amount=amount,
                                 note=note or "", created_by_id=getattr(actor, "id", None))
    db.session.add(agreement)
    if all(link.partner_id != partner.id for link in meeting.partner_links):
        meeting.partner_links.append(MeetingPartner(partner=partner))
    db.session.flush()
    record(actor, AuditEntity.MEETING, meeting.id, AuditAction.AGREEMENT,
           {"enterprise": [None, enterprise.name], "partner": [None, partner.name], "agreement_kind": [None, kind],
            "amount": [None, amount]},
           enterprise_id=enterprise.id, summary=f"在“{meeting.title}”与{partner.name}签订{kind.value}协议")
    _ensure_supply_link(actor, enterprise, partner, f"{kind.value}协议({meeting.title})")
    return agreement


def _ensure_supply_link(actor: Any, enterprise: Enterprise, partner: Partner, supplies: str) -> None:
    exists = db.session.scalar(sa.select(EnterprisePartner.id).where(
        EnterprisePartner.enterprise_id == enterprise.id, EnterprisePartner.partner_id == partner.id))
    if exists:
        return
    link = EnterprisePartner(enterprise=enterprise, partner=partner, supplies=supplies[:200])
    db.session.add(link)
    db.session.flush()
    record(actor, AuditEntity.PARTNER_LINK, link.id, AuditAction.CREATE,
           {"partner": [None, partner.name], "supplies": [None, link.supplies]},
           enterprise_id=enterprise.id, summary=f"会议签约:关联成渝企业 {partner.name}")


def raise_follow_up(actor: Any, meeting: Meeting, data: dict[str, Any]) -> ServiceRequest:
    """Raise a 诉求 of a participating enterprise straight from the (held) meeting into the request ledger."""
    _ensure_held(meeting, "会后诉求")
    fields: dict[str, str] = {}
    enterprise = _participant(actor, meeting, data.get("enterprise_id"), fields)
    if enterprise is not None and not _may(actor, Action.EDIT, enterprise):
        fields["enterprise_id"] = "请选择参加本次会议的企业"
    if fields:
        raise ValidationFailed("诉求信息有误", fields)
    request_data = {k: v for k, v in data.items() if k != "enterprise_id"}
    request_data.setdefault("raised_on", min(to_local(meeting.ends_at).date(), to_local(utcnow()).date()))
    req = raise_request(actor, enterprise, request_data)
    meeting.follow_ups.append(MeetingFollowUp(request=req))
    db.session.flush()
    record(actor, AuditEntity.MEETING, meeting.id, AuditAction.FOLLOW_UP,
           {"request": [None, req.id], "enterprise": [None, enterprise.name]},
           enterprise_id=enterprise.id, summary=f"从“{meeting.title}”登记会后诉求")
    return req


# --- the yearly rule ---------------------------------------------------------------------------------------

def required_kinds() -> list[MeetingKind]:
    """The kinds that must happen each year (setting ``MEETING_REQUIRED_KINDS``: codes; default the three the
    plan names)."""
    raw = current_app.config.get(REQUIRED_KINDS_KEY) or DEFAULT_REQUIRED_KINDS
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[,\s]+", raw) if part]
    kinds = []
    for code in raw:
        member = MeetingKind.find(code)
        if member is None:
            raise ValueError(f"配置项 {REQUIRED_KINDS_KEY} 含未知会议类型 {code!r};可选:{MeetingKind.allowed_text()}")
        if member not in kinds:
            kinds.append(member)
    return kinds


# The rule card names this many meetings per kind and side (counting / not counting); the rest is one click away
# (the meetings list of that year and kind). Issue 11: a year of a province's meetings is hundreds a kind; naming
# them all made the rule card 99 KB of the leader's home page (438 lines at 2,000 meetings in three years).
RULE_SHOWN = 3


@dataclass(frozen=True)
class RuleMeeting:
    """A meeting as the rule card names it (read as plain columns: no ORM object, no partner rows)."""

    id: int
    kind: MeetingKind
    status: MeetingStatus
    city: str
    title: str
    starts_at: datetime
    partners: int  # 成渝 firms taking part


@dataclass
class RuleRow:
    """One required kind in one year: ``state`` is ``held``, ``planned`` or ``missing``.

    ``counting`` / ``not_counting``: the first :data:`RULE_SHOWN` of each (held ones first, then by date);
    ``counting_total`` / ``not_counting_total`` how many there are in all."""

    kind: MeetingKind
    state: str
    counting: list[RuleMeeting]  # held with the 成渝 area, or planned to be
    not_counting: list[RuleMeeting]  # of that kind, but neither in a 成渝 city nor with a 成渝 firm
    counting_total: int = 0
    not_counting_total: int = 0
    held_total: int = 0  # of the counting ones, held

    @property
    def label(self) -> str:
        return {"held": "已举办", "planned": "已计划", "missing": "未安排"}[self.state]

    @property
    def badge(self) -> str:
        return {"held": "text-bg-success", "planned": "text-bg-info", "missing": "text-bg-danger"}[self.state]

    @property
    def more(self) -> int:
        """Meetings of this kind the card does not name."""
        return self.counting_total + self.not_counting_total - len(self.counting) - len(self.not_counting)

    @staticmethod
    def reason(meeting: RuleMeeting) -> str:
        """Why the meeting counts (in a 成渝 city, with 成渝 firms)."""
        return reason_of(meeting.city, meeting.partners)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return (datetime(year, 1, 1, tzinfo=SHANGHAI), datetime(year + 1, 1, 1, tzinfo=SHANGHAI))


def yearly_rule(year: int, kinds: Iterable[MeetingKind] | None = None) -> list[RuleRow]:
    """This year's rule at a glance: for each required kind, whether a meeting with the 成渝 area was held,
    is planned, or is missing (cancelled meetings never count).

    One statement, not the year's meetings loaded (issue 11: 438 ORM meetings with their partner rows at
    provincial scale): the year's meetings are grouped by (kind, status, city, has a 成渝 firm) — a few dozen
    groups — and each group gives its size and its first :data:`RULE_SHOWN` meetings by date (``count(*)`` and
    ``row_number()`` over the group). :func:`in_chengyu_city` is applied in Python to each group's city (the same
    test as :func:`counts_with_chengyu`); the first meetings of each side of a kind are among the first of its
    groups, since a group has one status.

    The statement's rows are kept per process while the meetings and their partners are unchanged (the data version
    ``meetings``, crm.core.cache): they depend on the year and the kinds only, and the leader's home and the
    meetings page read them on every view (≈ 6 ms of the database's time over a year's 440 meetings at provincial
    scale, the seventh pass)."""
    kinds = list(kinds) if kinds is not None else required_kinds()
    start, end = year_bounds(year)
    partners = (sa.select(sa.func.count()).where(MeetingPartner.meeting_id == Meeting.id)
                .correlate(Meeting).scalar_subquery())
    meetings = sa.select(Meeting.id, Meeting.kind, Meeting.status, Meeting.city, Meeting.title, Meeting.starts_at,
                         partners.label("partners")).where(
        Meeting.starts_at >= start, Meeting.starts_at < end, Meeting.kind.in_(kinds),
        Meeting.status != MeetingStatus.CANCELLED).subquery()
    group = (meetings.c.kind, meetings.c.status, meetings.c.city, sa.case((meetings.c.partners > 0, 1), else_=0))
    ranked = sa.select(meetings, sa.func.count().over(partition_by=group).label("size"), sa.func.row_number().over(
        partition_by=group, order_by=(meetings.c.starts_at, meetings.c.id)).label("rank")).subquery()
    rows = cache.cached_rows("meetings.yearly_rule", ("meetings",),
                             sa.select(ranked).where(ranked.c.rank <= RULE_SHOWN))
    totals = {kind: {"counting": 0, "not_counting": 0, "held": 0, "upcoming": 0} for kind in kinds}
    sides: dict[tuple[MeetingKind, bool], list[RuleMeeting]] = {(k, c): [] for k in kinds for c in (True, False)}
    for *columns, size, rank in rows:  # the meeting's columns (RuleMeeting's), its group's size, its rank there
        row = RuleMeeting(*columns)
        counts = bool(row.partners) or in_chengyu_city(row.city)
        if rank == 1:  # once a group: its size
            figures = totals[row.kind]
            if counts:
                figures["counting"] += size
                figures["held" if row.status is MeetingStatus.HELD else "upcoming"] += size
            else:
                figures["not_counting"] += size
        sides[(row.kind, counts)].append(row)
    for shown in sides.values():
        shown.sort(key=lambda m: (m.status is not MeetingStatus.HELD, m.starts_at, m.id))
        del shown[RULE_SHOWN:]
    result = []
    for kind in kinds:
        figures = totals[kind]
        state = "held" if figures["held"] else "planned" if figures["upcoming"] else "missing"
        result.append(RuleRow(kind, state, sides[(kind, True)], sides[(kind, False)],
                              counting_total=figures["counting"], not_counting_total=figures["not_counting"],
                              held_total=figures["held"]))
    return result


def kinds_planned(year: int) -> set[MeetingKind]:
    """Kinds with any meeting (not cancelled) in ``year``: what the yearly job leaves alone."""
    start, end = year_bounds(year)
    return set(db.session.scalars(sa.select(Meeting.kind).where(
        Meeting.starts_at >= start, Meeting.starts_at < end, Meeting.status != MeetingStatus.CANCELLED).distinct()))
