"""诉求 (service requests), handled to closure (issue 4, point 4).

Lifecycle (:data:`TRANSITIONS`)::

    raised ──受理──▶ accepted ──办理──▶ in_progress ──解决──▶ resolved ──回访办结──▶ closed
                                         ▲                   │                     │
                                         └──── 重新办理 ──────┴─────── 重新办理 ─────┘

=============  ==========================  ===================================================================
from           allowed ``to``              needs
=============  ==========================  ===================================================================
raised         accepted                    —
accepted       in_progress                 —
in_progress    resolved                    —
resolved       closed                      ``satisfaction`` 1–5 from the 回访 and a ``note`` (the 回访 record)
resolved       in_progress (reopen)        a ``note`` (why: the enterprise is not satisfied); satisfaction
                                           optional, recorded on the event
closed         in_progress (reopen)        a ``note``
=============  ==========================  ===================================================================

``raised → in_progress`` is deliberately *not* allowed: 受理 is its own dated step on the timeline (who took
the request on, and when), and skipping it would hide how long requests wait to be taken on.
Anything else → ``Conflict`` code ``illegal_transition`` whose message names the allowed next statuses in
Chinese ("当前状态“已受理”只能变更为:办理中"). Satisfaction is accepted only on the two transitions that
follow a 回访 (``resolved → closed`` / ``resolved → in_progress``).

Effects: each transition adds a :class:`RequestEvent` (who, when, from, to, note, satisfaction) and an audit row;
``→ resolved`` sets ``resolved_at``, ``→ closed`` sets ``closed_at`` and ``satisfaction``; a reopen clears
``resolved_at``, ``closed_at`` and ``satisfaction`` (the old values stay on the timeline and in the audit).

Due dates: when not given, ``add_working_days(raised_on, limit)`` with ``limit`` =
``current_app.config["REQUEST_DUE_WORKDAYS"][category]`` (keys: the Chinese category names) or
``current_app.config.get("REQUEST_DUE_WORKDAYS_DEFAULT", 10)``. When a year crossed has no holiday data the
first event's note says so ("2027年节假日安排尚未录入,暂按周一至周五计算工作日"); :func:`due_note` reads it back.

Concurrency: a transition carries the ``version`` the client saw; a stale one → ``Conflict`` code ``stale``,
nothing written. Callers load the request with :func:`lock_request` (row lock on PostgreSQL; SQLite's
transactions hold the write lock, see :mod:`crm.core.transactions`), so two clients moving the same request at
once are serialised and the second one sees the first one's commit. The model's ``version_id_col`` is the last
line of defence (``StaleDataError`` → 409 in ``crm.core.errors``).

Access is the caller's business: ``require(user, Action.EDIT, enterprise)`` before :func:`raise_request`,
``require(user, Action.EDIT, req)`` before :func:`transition`. Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app

from crm.auth.models import Role, User
from crm.core import cache
from crm.core.access import Action, can, scope
from crm.core.audit import record
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.core.parsing import parse_enum, parse_id
from crm.core.time import local_today, utcnow
from crm.core.transactions import lock_for_update
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.holidays.workdays import add_working_days, is_working_day, missing_data_message, next_working_day
from crm.notifications.domain import notify
from crm.notifications.models import NotificationKind
from crm.reference.models import County, Department, by_name, id_by_name, names_of
from crm.service.interactions import EARLIEST, LATEST_FOLLOW_UP, check_version, parse_date
from crm.service.models import (
    Interaction,
    RequestCategory,
    RequestEvent,
    RequestStatus,
    ServiceRequest,
)

S = RequestStatus
TRANSITIONS: dict[RequestStatus, tuple[RequestStatus, ...]] = {
    S.RAISED: (S.ACCEPTED,),
    S.ACCEPTED: (S.IN_PROGRESS,),
    S.IN_PROGRESS: (S.RESOLVED,),
    S.RESOLVED: (S.CLOSED, S.IN_PROGRESS),
    S.CLOSED: (S.IN_PROGRESS,),
}
REOPENS = {(S.RESOLVED, S.IN_PROGRESS), (S.CLOSED, S.IN_PROGRESS)}
# A department liaison (部门联络员) takes on and handles a 诉求 routed to them; the 回访 that closes it and a reopen
# stay with its owner and the coordinators (crm/service/routing.py).
LIAISON_MOVES = {(S.RAISED, S.ACCEPTED), (S.ACCEPTED, S.IN_PROGRESS), (S.IN_PROGRESS, S.RESOLVED)}
LIAISON_MOVE_REFUSED = "部门联络员可以受理、办理并办理完成诉求;回访办结和重新办理由诉求负责人或协调员办理"
FOLLOW_UP_MOVES = {(S.RESOLVED, S.CLOSED), (S.RESOLVED, S.IN_PROGRESS)}  # after a 回访: satisfaction allowed
OPEN_STATUSES = (S.RAISED, S.ACCEPTED, S.IN_PROGRESS)
DONE_STATUSES = (S.RESOLVED, S.CLOSED)
# How each transition reads on the timeline and in the audit.
ACTION_LABELS = {
    (S.RAISED, S.ACCEPTED): "受理",
    (S.ACCEPTED, S.IN_PROGRESS): "开始办理",
    (S.IN_PROGRESS, S.RESOLVED): "办理完成",
    (S.RESOLVED, S.CLOSED): "回访办结",
    (S.RESOLVED, S.IN_PROGRESS): "回访不满意,重新办理",
    (S.CLOSED, S.IN_PROGRESS): "重新办理",
}
DEFAULT_DUE_WORKDAYS = 10
DESCRIPTION_MAX = 4000
NOTE_MAX = 2000
REQUEST_FIELDS = ("category", "description", "interaction_id", "owner", "department", "due_date", "raised_on")
INVALID_MESSAGE = "诉求信息有误"


# --- small rules -------------------------------------------------------------------------------------------

def allowed_next(req_or_status: ServiceRequest | RequestStatus | str) -> list[RequestStatus]:
    """The statuses a request (or a status) may move to, in :data:`TRANSITIONS` order."""
    status = getattr(req_or_status, "status", req_or_status)
    return list(TRANSITIONS[RequestStatus(status)])


def allowed_for(user: Any, req: ServiceRequest) -> list[RequestStatus]:
    """The statuses ``user`` may move ``req`` to: :func:`allowed_next`, a liaison's limited to
    :data:`LIAISON_MOVES`."""
    return [s for s in allowed_next(req) if may_move(user, req.status, s)]


def may_move(user: Any, current: RequestStatus, target: RequestStatus) -> bool:
    return getattr(user, "role", None) is not Role.LIAISON or (current, target) in LIAISON_MOVES


def is_overdue(req: ServiceRequest, today: date | None = None) -> bool:
    """Not resolved or closed, and its due date has passed (``due_date < today``, Asia/Shanghai)."""
    today = today or local_today()
    return req.status in OPEN_STATUSES and req.due_date < today


def illegal_message(current: RequestStatus) -> str:
    """"当前状态“已受理”只能变更为:办理中" — the refusal names the allowed next statuses."""
    allowed = "、".join(s.label for s in TRANSITIONS[current])
    return f"当前状态“{current.label}”只能变更为:{allowed}"


def due_workdays(category: RequestCategory | str) -> int:
    """The configured limit in working days for a category (``REQUEST_DUE_WORKDAYS``), else the default."""
    per_category = current_app.config.get("REQUEST_DUE_WORKDAYS") or {}
    default = current_app.config.get("REQUEST_DUE_WORKDAYS_DEFAULT", DEFAULT_DUE_WORKDAYS)
    value = per_category.get(RequestCategory(category).value, default)
    return int(value)


def compute_due_date(raised_on: date, category: RequestCategory | str) -> tuple[date, str]:
    """``(due date, note)``: ``raised_on`` plus the category's limit in working days (``raised_on`` itself not
    counted); the note says so and, when a year crossed has no holiday data, that it was counted Monday–Friday.
    """
    limit = due_workdays(category)
    result = add_working_days(raised_on, limit)
    note = f"办理时限按{limit}个工作日计算"
    missing = missing_data_message(result.missing_years)
    if missing:
        note += f";{missing}"
    return result.date, note


def due_note(req: ServiceRequest) -> str:
    """How the due date was set (the note of the request's first event), e.g. "办理时限按10个工作日计算;
    2027年节假日安排尚未录入,暂按周一至周五计算工作日"; empty when the due date was given by hand."""
    for event in req.events:
        if event.from_status is None:
            return event.note
    return ""


def department_liaisons(department: Department) -> list[User]:
    """The department's active liaison officers (部门联络员)."""
    return list(db.session.scalars(sa.select(User).where(
        User.role == Role.LIAISON, User.department_id == department.id, User.active.is_(True)).order_by(User.id)))


def tell_department(actor: Any, department: Department, kind: NotificationKind, title: str, body: str, link: str,
                    *, also: tuple[Any, ...] = ()) -> None:
    """A record reached ``department`` (routed, or raised / recorded / edited with it): its liaisons are told, and
    ``also`` (the owner), never the actor."""
    told = [user for user in [*department_liaisons(department), *also]
            if user is not None and user.active and user.id != getattr(actor, "id", None)]
    notify(told, kind, title, body, link)


def _short(text: str, length: int = 20) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[:length] + "…"


# --- raising -----------------------------------------------------------------------------------------------

def _category(value: Any, fields: dict[str, str]) -> RequestCategory | None:
    return parse_enum(RequestCategory, value, field="category", what="诉求类别", fields=fields, required=True)


def _int_id(value: Any) -> int | None:
    return parse_id(value)


def owner_refused(value: str) -> str:
    """The one refusal of an owner by username, whether the user is unknown, deactivated or may not act for the
    enterprise: "unknown" and "not yours" read the same, so the answer confirms no account outside the actor's
    view (issue 10, item 5)."""
    return f"“{value}”不是可负责该企业的在职用户,请从列表中选择负责人"


def resolve_owner(value: Any, enterprise: Enterprise, fields: dict[str, str]) -> User | None:
    """The responsible user of a 诉求 or a 政策兑现 by username: active and able to act on this enterprise (leaders
    own nothing). Unknown, deactivated and "not for this enterprise" are one refusal (:func:`owner_refused`) in
    ``fields["owner"]``; ``None`` without a refusal when no username is given."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        fields["owner"] = "负责人请填写用户名"
        return None
    name = value.strip()
    owner = db.session.scalar(sa.select(User).where(User.username == name))
    if owner is None or not owner.active or not can(owner, Action.EDIT, enterprise):
        fields["owner"] = owner_refused(name)
        return None
    return owner


def _owner(actor: Any, enterprise: Enterprise, value: Any, fields: dict[str, str]) -> User | None:
    """A 诉求's owner: the one named, else the commissioner who raises it."""
    if value in (None, ""):
        return actor if getattr(actor, "role", None) is Role.COMMISSIONER else None
    return resolve_owner(value, enterprise, fields)


def raise_request(actor: User | None, enterprise: Enterprise, data: dict[str, Any], *,
                  today: date | None = None) -> ServiceRequest:
    """Record a 诉求 of ``enterprise``; status ``raised``, with its first timeline event (none → raised).

    ``data`` (API names):

    - ``category`` (required): a Chinese category name (``RequestCategory`` values); unknown → ``fields.category``
      listing the allowed ones;
    - ``description`` (required, ≤ 4000);
    - ``interaction_id`` (optional): a 服务记录 of the *same* enterprise;
    - ``owner`` (optional username): default the actor when a commissioner, else no owner; must be an active
      user who may edit the enterprise;
    - ``department`` (optional): a 责任单位 by its Chinese name;
    - ``raised_on`` (optional, default today, not in the future): the day the enterprise raised it;
    - ``due_date`` (optional, not before ``raised_on``): when absent, computed by :func:`compute_due_date`.

    Returns the flushed request. How the due date was computed (and a missing-holiday-data warning) is on
    ``req.events[0].note`` — read it with :func:`due_note`. ``ValidationFailed`` (422) lists every bad field.
    Audited (``entity_type="service_request"``); not committed.
    """
    today = today or local_today()
    fields: dict[str, str] = {}
    category = _category(data.get("category"), fields)
    description = data.get("description")
    description = description.strip() if isinstance(description, str) else ""
    if not description:
        fields["description"] = "请填写诉求内容"
    elif len(description) > DESCRIPTION_MAX:
        fields["description"] = f"诉求内容最长{DESCRIPTION_MAX}个字符"
    interaction = None
    raw_interaction = data.get("interaction_id")
    if raw_interaction not in (None, ""):
        interaction_id = _int_id(raw_interaction)
        if interaction_id is not None and 1 <= interaction_id < 2**31:
            interaction = db.session.get(Interaction, interaction_id)
        if interaction is None or interaction.enterprise_id != enterprise.id:
            fields["interaction_id"] = "该企业没有这条服务记录"
            interaction = None
    owner = _owner(actor, enterprise, data.get("owner"), fields)
    department = None
    raw_department = data.get("department")
    if raw_department not in (None, ""):
        department = by_name(Department, raw_department) if isinstance(raw_department, str) else None
        if department is None:
            fields["department"] = f"未知责任单位:{raw_department}"
    raised_on = parse_date(data.get("raised_on"), "raised_on", fields, label="提出日期") or (
        None if "raised_on" in fields else today)
    if raised_on is not None and raised_on > today:
        fields["raised_on"] = f"提出日期不能晚于今天({today.isoformat()})"
    elif raised_on is not None and raised_on < EARLIEST:
        fields["raised_on"] = "提出日期不能早于2000-01-01"
    due_date = parse_date(data.get("due_date"), "due_date", fields, label="办理时限")
    if due_date is not None and raised_on is not None and due_date < raised_on:
        fields["due_date"] = "办理时限不能早于提出日期"
    elif due_date is not None and due_date > LATEST_FOLLOW_UP:
        fields["due_date"] = "办理时限过远"
    if fields:
        raise ValidationFailed(INVALID_MESSAGE, fields)
    note = ""
    if due_date is None:
        due_date, note = compute_due_date(raised_on, category)
    elif not is_working_day(due_date):  # due dates land on working days (DESIGN.md): a rest day moves on
        moved = next_working_day(due_date)
        note = f"办理时限 {due_date.isoformat()} 为休息日或法定节假日,顺延至 {moved.date.isoformat()}"
        if moved.missing_years:
            note += f";{missing_data_message(moved.missing_years)}"
        due_date = moved.date
    req = ServiceRequest(enterprise_id=enterprise.id, category=category, description=description,
                         interaction_id=interaction.id if interaction else None,
                         owner_id=owner.id if owner else None,
                         department_id=department.id if department else None, raised_on=raised_on,
                         due_date=due_date, status=RequestStatus.RAISED, created_by_id=getattr(actor, "id", None))
    req.enterprise = enterprise
    req.owner, req.department, req.interaction = owner, department, interaction
    req.events.append(RequestEvent(actor_id=getattr(actor, "id", None), from_status=None,
                                   to_status=RequestStatus.RAISED, note=note))
    db.session.add(req)
    db.session.flush()
    record(actor, "service_request", req.id, "create",
           {"category": [None, category], "description": [None, description],
            "interaction_id": [None, req.interaction_id], "owner": [None, owner.username if owner else None],
            "department": [None, department.name if department else None], "raised_on": [None, raised_on],
            "due_date": [None, due_date], "status": [None, RequestStatus.RAISED]},
           enterprise_id=enterprise.id, summary=f"登记诉求({category.value}):{_short(description)}")
    if department is not None:
        tell_department(actor, department, NotificationKind.REQUEST_ROUTED, f"诉求已转办至{department.name}",
                        f"{enterprise.name}:{_short(description, 60)}", f"/service/requests/{req.id}")
    return req


# --- transitions -------------------------------------------------------------------------------------------

def _satisfaction(value: Any, fields: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip() in {"1", "2", "3", "4", "5"}:
        number = int(value.strip())
    if number is None or not 1 <= number <= 5:
        fields["satisfaction"] = "满意度应为1到5之间的整数(1 很不满意,5 很满意)"
        return None
    return number


def parse_status(value: Any) -> RequestStatus:
    """A status code (``raised`` …) → :class:`RequestStatus`; otherwise ``ValidationFailed`` ``fields.to``."""
    status = parse_enum(RequestStatus, value, field="to", what="目标状态", required=True)
    assert status is not None  # required: an empty value raised
    return status


def transition(actor: User | None, req: ServiceRequest, to: RequestStatus | str, *, note: str = "",
               satisfaction: Any = None, version: Any = None) -> ServiceRequest:
    """Move ``req`` to ``to`` (a :class:`RequestStatus` or its code) and put the step on its timeline.

    Refusals, in this order, each with nothing written:

    1. ``to`` is not a status code → ``ValidationFailed`` ``fields.to`` (422);
    2. ``version`` given and not the request's → ``Conflict`` code ``stale`` (409);
    3. not in :data:`TRANSITIONS` → ``Conflict`` code ``illegal_transition`` (409), message from
       :func:`illegal_message`; a liaison's move outside :data:`LIAISON_MOVES` → ``Forbidden`` (403);
    4. closing without a ``note`` or a ``satisfaction`` 1–5, reopening without a ``note``, a satisfaction on
       any other move, a satisfaction outside 1–5, a note over 2000 characters → ``ValidationFailed`` (422).

    Returns ``req`` (flushed). Adds a :class:`RequestEvent` and an audit row (action ``transition``). For
    concurrent safety load ``req`` with :func:`lock_request` first. Not committed.
    """
    target = parse_status(to)
    check_version(req, version)
    current = req.status
    if target not in TRANSITIONS[current]:
        raise Conflict(illegal_message(current),
                       {"to": f"不能从“{current.label}”变更为“{target.label}”"}, code="illegal_transition")
    if not may_move(actor, current, target):
        raise Forbidden(LIAISON_MOVE_REFUSED)
    fields: dict[str, str] = {}
    note = note.strip() if isinstance(note, str) else ""
    if len(note) > NOTE_MAX:
        fields["note"] = f"说明最长{NOTE_MAX}个字符"
    score = _satisfaction(satisfaction, fields)
    move = (current, target)
    if move == (S.RESOLVED, S.CLOSED):
        if score is None and "satisfaction" not in fields:
            fields["satisfaction"] = "办结前须回访企业并填写满意度(1到5)"
        if not note:
            fields["note"] = "请填写回访情况"
    elif move in REOPENS and not note:
        fields["note"] = "请说明重新办理的原因"
    if score is not None and move not in FOLLOW_UP_MOVES:
        fields["satisfaction"] = "只有回访(已解决的诉求办结或重新办理)时才填写满意度"
    if fields:
        raise ValidationFailed("状态变更有误", fields)

    changes: dict[str, list[Any]] = {"status": [current, target]}
    now = utcnow()
    if target is S.RESOLVED:
        changes["resolved_at"] = [req.resolved_at, now]
        req.resolved_at = now
    elif target is S.CLOSED:
        changes["closed_at"] = [req.closed_at, now]
        changes["satisfaction"] = [req.satisfaction, score]
        req.closed_at = now
        req.satisfaction = score
    if move in REOPENS:
        for attr in ("resolved_at", "closed_at", "satisfaction"):
            if getattr(req, attr) is not None:
                changes[attr] = [getattr(req, attr), None]
                setattr(req, attr, None)
        if score is not None:
            changes["follow_up_satisfaction"] = [None, score]
        # A reopened request gets a fresh time limit from today, and the overdue job may tell its owner (and
        # escalate) again: otherwise it would be overdue at once and never reported.
        new_due, due_text = compute_due_date(local_today(), req.category)
        if new_due != req.due_date:
            changes["due_date"] = [req.due_date, new_due]
            req.due_date = new_due
        req.owner_notified_on = req.escalated_on = None
        note = f"{note}({due_text})" if note else due_text
    if note:
        changes["note"] = [None, note]
    req.status = target
    req.events.append(RequestEvent(actor_id=getattr(actor, "id", None), from_status=current, to_status=target,
                                   note=note, satisfaction=score, at=now))
    db.session.flush()
    record(actor, "service_request", req.id, "transition", changes, enterprise_id=req.enterprise_id,
           summary=f"诉求“{_short(req.description)}”{ACTION_LABELS[move]}:{current.label} → {target.label}")
    return req


def lock_request(request_id: int) -> ServiceRequest | None:
    """Load a request for a change, serialising concurrent changes of it (``None`` when it does not exist).

    :func:`crm.core.transactions.lock_for_update` reads the row fresh and holds it, so a second client moving the
    same request waits for the first one's commit and then gets ``stale`` (it sent the old version) or
    ``illegal_transition`` (the status moved on) instead of a lost update.
    """
    return lock_for_update(ServiceRequest, request_id)


# --- reads -------------------------------------------------------------------------------------------------

def _statuses(status: Any) -> list[RequestStatus]:
    values = status if isinstance(status, list | tuple | set) else [status]
    parsed = (parse_enum(RequestStatus, value, field="status", what="状态", title="筛选条件不正确") for value in values)
    return [status for status in parsed if status is not None]


def is_open() -> Any:
    """``status IN ('raised', 'accepted', 'in_progress')`` with the values written into the SQL (not bound): the
    predicate of the partial index ix_service_requests_open_raised_on (crm.service.models.OPEN_PREDICATE), which
    the planner uses only when it can see that the query's condition implies it, also in a prepared statement's
    generic plan (psycopg prepares a statement run five times on a connection)."""
    return ServiceRequest.status.in_(sa.bindparam("open_statuses", [s.value for s in OPEN_STATUSES],
                                                  expanding=True, literal_execute=True))


def department_counts(stmt: sa.Select, today: date, *, only_overdue: bool = False) -> list[dict[str, Any]]:
    """Per department (``None``: not routed), the total, open and overdue 诉求 of the rows ``stmt`` selects (a
    :func:`requests_statement`), departments in their reference order (not routed last): the ledger's 责任单位
    summary.

    One statement: ``stmt``'s own WHERE grouped by ``department_id`` (not a second read of the requests through
    ``id IN (stmt)``: the city-wide overdue ledger's 46,000 rows are read once, from the open requests' index,
    which includes the department, instead of joined back to the table — 142 ms → see benchmarks/README.md), and
    the few dozen groups joined to the departments for their names and order (was a second statement).

    ``only_overdue``: ``stmt`` selects overdue requests only (the ledger's ``overdue=1``), so every row is open and
    overdue: the three counts are one ``count(*)``, not two CASEs tested on each of the city's ≈ 49,000 overdue
    requests (≈ 35 → 20 ms of that statement).

    Kept per process while nothing it reads changes (crm/core/cache.py, PostgreSQL, :data:`COUNT_KINDS`): the
    summary is shown on every view of the ledger and its requests change a few dozen times a day, while grouping
    the city's 49,000 overdue requests costs 8–12 ms a view. Keyed by the grouped statement itself, whose text and
    values hold the user's scope, every filter and today."""
    if only_overdue:
        return by_department(stmt, ServiceRequest.department_id, None, None, kinds=COUNT_KINDS)
    return by_department(stmt, ServiceRequest.department_id, is_open(),
                         sa.and_(is_open(), ServiceRequest.due_date < today), kinds=COUNT_KINDS)


# What the ledger's per-department counts read, as data versions (crm/core/cache.py): ``requests`` (the 诉求, an
# enterprise's county change), ``assignments`` (a commissioner's scope: their active assignments) and ``reference``
# (the county filter's enterprises, the owner filter's username, the departments' names and order).
COUNT_KINDS = ("requests", "assignments", "reference")


def by_department(stmt: sa.Select, department_id: Any, open_: Any, overdue: Any, *,
                  kinds: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """``stmt``'s rows grouped by ``department_id``: total, ``open_`` and ``overdue`` counts per department name
    (``None``: not routed), in the departments' reference order, not routed last; one statement (the grouping in
    a derived table, then the departments joined to the groups). A condition ``None``: every row meets it.

    ``kinds``: the data versions covering every table ``stmt`` reads — the rows are then cached under them
    (crm/core/cache.py); ``None``: read on every call."""
    def counted(condition: Any, name: str) -> Any:
        return (sa.func.count() if condition is None else sa.func.sum(sa.case((condition, 1), else_=0))).label(name)

    grouped = (stmt.order_by(None).with_only_columns(
        department_id.label("department_id"), sa.func.count().label("total"), counted(open_, "open"),
        counted(overdue, "overdue"), maintain_column_froms=False)
        .group_by(department_id).subquery("by_department"))
    counted_stmt = (
        sa.select(Department.name, grouped.c.total, grouped.c.open, grouped.c.overdue).select_from(grouped)
        .outerjoin(Department, Department.id == grouped.c.department_id)
        .order_by(grouped.c.department_id.is_(None), Department.sort_order, Department.id))
    rows = (db.session.execute(counted_stmt).all() if kinds is None
            else cache.cached_rows("requests.by_department", kinds, counted_stmt))
    return [{"department": name, "total": int(total or 0), "open": int(open_count or 0),
             "overdue": int(overdue_count or 0)} for name, total, open_count, overdue_count in rows]


def requests_statement(user: User, *, status: Any = None, overdue: bool | None = None, county: str | None = None,
                       category: str | None = None, owner: str | None = None,
                       enterprise_id: int | sa.BindParameter[int] | None = None, department: str | None = None,
                       today: date | None = None) -> sa.Select:
    """Requests ``user`` may see (their enterprises' scope), filtered, newest raised first.

    - ``status``: a code or a list of codes (unknown → ``ValidationFailed`` ``fields.status``);
    - ``overdue``: ``True`` only overdue (open and ``due_date < today``), ``False`` only not overdue;
    - ``county``: a county name (unknown → ``fields.county``); ``category``: a Chinese category name (unknown →
      ``fields.category``); ``owner``: a username (unknown: no rows); ``enterprise_id``;
    - ``department``: a 责任单位 by name (unknown → ``fields.department``).
    """
    today = today or local_today()
    # One table: the scope is already an ``enterprise_id IN (…)`` (crm.service.access) and the county filter is one
    # too, so nothing joins the enterprises (a join made the city-wide overdue count probe 46,000 of them).
    stmt = scope(user, ServiceRequest, sa.select(ServiceRequest))
    statuses = _statuses(status)
    if statuses:
        stmt = stmt.where(ServiceRequest.status.in_(statuses))
    overdue_clause = sa.and_(is_open(), ServiceRequest.due_date < today)
    if overdue is True:
        stmt = stmt.where(overdue_clause)
    elif overdue is False:
        stmt = stmt.where(sa.not_(overdue_clause))
    if county:
        county_id = id_by_name(County, county)  # the names kept per process (crm/reference/models.py)
        if county_id is None:
            raise ValidationFailed("筛选条件不正确", {"county": f"未知区县:{county}"})
        stmt = stmt.where(ServiceRequest.enterprise_id.in_(
            sa.select(Enterprise.id).where(Enterprise.county_id == county_id)))
    if category:
        fields: dict[str, str] = {}
        value = _category(category, fields)
        if fields:
            raise ValidationFailed("筛选条件不正确", fields)
        stmt = stmt.where(ServiceRequest.category == value)
    if owner:
        stmt = stmt.where(ServiceRequest.owner_id.in_(sa.select(User.id).where(User.username == owner.strip())))
    if enterprise_id is not None:
        stmt = stmt.where(ServiceRequest.enterprise_id == enterprise_id)
    if department:
        department_id = id_by_name(Department, department) if isinstance(department, str) else None
        if department_id is None:
            raise ValidationFailed("筛选条件不正确", {"department": f"未知责任单位:{department}"})
        stmt = stmt.where(ServiceRequest.department_id == department_id)
    return stmt.order_by(ServiceRequest.raised_on.desc(), ServiceRequest.id.desc())


# The ledger page shows 60 characters of a description (Jinja's ``truncate(60)``, which keeps a text of up to 65
# whole): 66 characters decide both cases, so the rest (up to 4,000 a request) is not read.
LISTED_DESCRIPTION = 66


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One request as the ledger page lists it, read as plain columns (what ``is_overdue`` and the template need):
    no ``ServiceRequest`` with its enterprise (three eager relations), owner (with specialties) and department
    loaded by four more statements."""

    id: int
    category: RequestCategory
    description: str  # the first LISTED_DESCRIPTION characters
    status: RequestStatus
    due_date: date
    enterprise_name: str
    county_name: str | None
    owner_name: str | None
    department_name: str | None


def display_names() -> dict[int, str]:
    """Every user's id → display name, kept per process while the users are unchanged (the data version
    ``reference`` moves with a user's name, crm/core/cache.py): the ledger's owners."""
    return cache.cached_built("service.display_names", ("reference",), sa.select(User.id, User.display_name), dict)


def _listed(stmt: sa.Select, page: int, per_page: int) -> sa.Select:
    """Page ``page`` of ``stmt`` as :func:`ledger_rows` reads it (plain columns, one join)."""
    return (stmt.with_only_columns(
        ServiceRequest.id, ServiceRequest.category,
        sa.func.substr(ServiceRequest.description, 1, LISTED_DESCRIPTION), ServiceRequest.status,
        ServiceRequest.due_date, Enterprise.name, Enterprise.county_id, ServiceRequest.owner_id,
        ServiceRequest.department_id, maintain_column_froms=False)
        .select_from(ServiceRequest)
        .join(Enterprise, Enterprise.id == ServiceRequest.enterprise_id)
        .limit(per_page).offset((page - 1) * per_page))


def ledger_key(stmt: sa.Select, page: int, per_page: int) -> tuple[Any, ...]:
    """What determines :func:`ledger_rows` under :data:`COUNT_KINDS`' versions: the page's statement (the user's
    scope, the filters, today, the page) as :func:`crm.core.cache.statement_key`. The ledger page keeps its drawn
    rows under it."""
    return cache.statement_key(_listed(stmt, page, per_page))


def ledger_rows(stmt: sa.Select, page: int, per_page: int) -> list[LedgerRow]:
    """The rows of page ``page`` of a :func:`requests_statement` as :class:`LedgerRow`, in its order: one statement,
    the page's requests joined by primary key to their enterprise (every request has one).

    The county's, the owner's and the department's names come from the names kept per process (crm/core/cache.py,
    ``reference``), not from three more joins: planning the statement with them was ≈ 2.8 of its ≈ 6 ms at
    provincial scale (the planner weighs every join order), for 50 names it can read from memory."""
    listed = _listed(stmt, page, per_page)
    # Kept per process while nothing it reads changes (crm/core/cache.py, :data:`COUNT_KINDS`: the requests, the
    # scope's assignments, the enterprises' names; keyed by the statement and its values — the scope, the filters,
    # today, the page): read many times between two changes of a 诉求 (the seventh pass).
    rows = cache.cached_rows("requests.ledger", COUNT_KINDS, listed)
    if not rows:
        return []
    counties, departments = dict(names_of(County)), dict(names_of(Department))
    owners = display_names()
    return [LedgerRow(id_, category, description, status, due, name, counties.get(county_id),
                      owners.get(owner_id) if owner_id is not None else None,
                      departments.get(department_id) if department_id is not None else None)
            for id_, category, description, status, due, name, county_id, owner_id, department_id in rows]
