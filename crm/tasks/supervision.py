"""专项督导 (issue 12, item 4): supervision visits to a unit or a county, their findings and rectification items
(整改事项) tracked to closure like a 诉求.

A visit goes to a unit (a :class:`Department`) or to a county: a county's unit is its government (the department
whose ``county_id`` is that county). The visit keeps both: ``department_id`` (the unit) and ``county_id`` (the
unit's county, none for a city department), so a county coordinator's scope is one column.

Rectification items (:data:`TRANSITIONS`)::

    open ──开始整改──▶ in_progress ──整改完成──▶ done ──销号──▶ closed
                          ▲                       │               │
                          └────── 退回重新整改 ────┴──── 重新整改 ──┘

- the owning unit's liaison or a coordinator starts and reports done (``done`` needs a ``note``: the resolution);
- only a coordinator (or an admin) closes (销号) or sends back (``done``/``closed`` → ``in_progress``, with a note);
- an item is overdue while ``open`` or ``in_progress`` past its ``due_date`` (a ``done`` item waits for the
  coordinator, not for the unit).

Due dates are entered as a number of WORKING days after the visit (``crm.holidays``: the app's holiday table;
a year without data is counted Monday–Friday and said so) or as a date (a rest day moves to the next working
day). Every change is audited old → new (``supervision`` / ``rectification``); a new item tells the owning
unit's liaisons (and its named owner) at once (``rectification_assigned``); the overdue job
(:mod:`crm.tasks.supervision_jobs`) tells them and the coordinators once.

Access is the caller's business (``require(user, Action.EDIT, item)`` before :func:`transition`) except where the
record decides it: a county coordinator may record visits of their county only, and assign rectification items to
units of their county only (checked here, field errors on ``department``/``county``).
Nothing here commits.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.access import Action, can, scope
from crm.core.audit import record
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.core.parsing import check_version, parse_enum, parse_id
from crm.core.time import local_today, utcnow
from crm.core.transactions import lock_for_update
from crm.extensions import db
from crm.holidays.workdays import add_working_days, is_working_day, missing_data_message, next_working_day
from crm.notifications.domain import notify
from crm.reference.models import County, Department, by_name
from crm.tasks.models import (
    RectificationItem,
    RectificationStatus,
    SupervisionVisit,
    Task,
    TaskKind,
)

S = RectificationStatus
TRANSITIONS: dict[RectificationStatus, tuple[RectificationStatus, ...]] = {
    S.OPEN: (S.IN_PROGRESS,),
    S.IN_PROGRESS: (S.DONE,),
    S.DONE: (S.CLOSED, S.IN_PROGRESS),
    S.CLOSED: (S.IN_PROGRESS,),
}
ACTION_LABELS = {
    (S.OPEN, S.IN_PROGRESS): "开始整改",
    (S.IN_PROGRESS, S.DONE): "整改完成",
    (S.DONE, S.CLOSED): "销号",
    (S.DONE, S.IN_PROGRESS): "退回重新整改",
    (S.CLOSED, S.IN_PROGRESS): "重新整改",
}
# Moves only a coordinator or an admin makes; the owning unit's liaison makes the others.
COORDINATOR_MOVES = {(S.DONE, S.CLOSED), (S.DONE, S.IN_PROGRESS), (S.CLOSED, S.IN_PROGRESS)}
OPEN_STATUSES = (S.OPEN, S.IN_PROGRESS)
SUBJECT_MAX, TEXT_MAX, NOTE_MAX = 200, 4000, 2000
MAX_DUE_WORKDAYS = 250
EARLIEST = date(2020, 1, 1)
VISIT_INVALID = "督导信息有误"
ITEM_INVALID = "整改事项信息有误"


# --- small rules -------------------------------------------------------------------------------------------

def is_overdue(item: RectificationItem, today: date | None = None) -> bool:
    """Open or in progress, and its due date has passed (``due_date < today``, Asia/Shanghai)."""
    return item.status in OPEN_STATUSES and item.due_date < (today or local_today())


def overdue_clause(today: date) -> Any:
    return sa.and_(RectificationItem.status.in_(OPEN_STATUSES), RectificationItem.due_date < today)


def allowed_next(item: RectificationItem, user: Any = None) -> list[RectificationStatus]:
    """The statuses ``item`` may move to (for ``user``: a liaison makes only the unit's own moves)."""
    targets = list(TRANSITIONS[item.status])
    if user is not None and not _coordinates(user):
        targets = [t for t in targets if (item.status, t) not in COORDINATOR_MOVES]
    return targets


def _coordinates(user: Any) -> bool:
    return getattr(user, "role", None) in (Role.ADMIN, Role.COORDINATOR)


def may_move(user: Any, item: RectificationItem, target: RectificationStatus) -> bool:
    """May ``user`` (who may edit the item) make this move? Coordinators and admins any; the owning unit's
    liaison only start and report done."""
    return _coordinates(user) or (item.status, target) not in COORDINATOR_MOVES


def illegal_message(current: RectificationStatus) -> str:
    allowed = "、".join(s.label for s in TRANSITIONS[current])
    return f"当前状态“{current.label}”只能变更为:{allowed}"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _short(text: str, length: int = 20) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[:length] + "…"


def parse_date(value: Any, field: str, fields: dict[str, str], *, label: str, required: bool = False
               ) -> date | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            fields[field] = f"请填写{label}"
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and text.isascii():
            try:
                return date.fromisoformat(text)
            except ValueError:
                pass
    fields[field] = f"{label}格式应为 YYYY-MM-DD 的有效日期"
    return None


def county_government(county: County) -> Department | None:
    """The county's unit: its government (the department whose ``county_id`` is the county)."""
    return db.session.scalar(sa.select(Department).where(Department.county_id == county.id)
                             .order_by(Department.sort_order, Department.id).limit(1))


def _department(value: Any, field: str, fields: dict[str, str], *, label: str = "责任单位") -> Department | None:
    if value in (None, ""):
        return None
    department = by_name(Department, value) if isinstance(value, str) else None
    if department is None:
        fields[field] = f"未知{label}:{str(value)[:30]}"
    return department


def county_scoped(actor: Any) -> bool:
    """A county coordinator: records and assigns within their county only."""
    return getattr(actor, "role", None) is Role.COORDINATOR and getattr(actor, "county_id", None) is not None


ITEM_OUT_OF_COUNTY = "整改责任单位须为本区县的单位"


def _fence_item_unit(actor: Any, department: Department | None, fields: dict[str, str]) -> None:
    """A county coordinator assigns rectification items to units of their county only."""
    if department is not None and county_scoped(actor) and department.county_id != actor.county_id:
        fields["department"] = ITEM_OUT_OF_COUNTY


def find_task(value: Any, fields: dict[str, str]) -> Task | None:
    """A task by id, or by ``task:3`` / ``safeguard:1`` (kind and number); empty: none."""
    if value in (None, ""):
        return None
    task = None
    if isinstance(value, str) and ":" in value:
        kind, _, number = value.partition(":")
        member = TaskKind.find(kind.strip())
        if member is not None and number.strip().isascii() and number.strip().isdigit():
            task = db.session.scalar(sa.select(Task).where(Task.kind == member, Task.number == int(number)))
    else:
        ident = parse_id(value)
        task = db.session.get(Task, ident) if ident is not None else None
    if task is None:
        fields["task"] = "未知重点任务"
    return task


# --- visits --------------------------------------------------------------------------------------------------

def _visit_values(actor: Any, data: dict[str, Any], fields: dict[str, str], *, today: date) -> dict[str, Any]:
    visited_on = parse_date(data.get("visited_on"), "visited_on", fields, label="督导日期", required=True)
    if visited_on is not None and visited_on > today:
        fields["visited_on"] = f"督导日期不能晚于今天({today.isoformat()})"
    elif visited_on is not None and visited_on < EARLIEST:
        fields["visited_on"] = "督导日期不能早于2020-01-01"
    department = _department(data.get("department"), "department", fields, label="被督导单位")
    county = None
    raw_county = data.get("county")
    if raw_county not in (None, ""):
        county = by_name(County, raw_county) if isinstance(raw_county, str) else None
        if county is None:
            fields["county"] = f"未知区县:{str(raw_county)[:30]}"
    if department is not None and county is not None:
        fields["county"] = "被督导单位和区县只填一项"
    elif county is not None:
        department = county_government(county)
        if department is None:
            fields["county"] = f"{county.name}尚无对应的人民政府(责任单位)"
    elif department is None and "department" not in fields and "county" not in fields:
        fields["department"] = "请选择被督导单位或区县"
    task = find_task(data.get("task"), fields)
    subject = _text(data.get("subject"))
    if not subject:
        fields["subject"] = "请填写督导事项"
    elif len(subject) > SUBJECT_MAX:
        fields["subject"] = f"督导事项最长{SUBJECT_MAX}个字符"
    findings = _text(data.get("findings"))
    if len(findings) > TEXT_MAX:
        fields["findings"] = f"督导发现最长{TEXT_MAX}个字符"
    county_id = department.county_id if department is not None else None
    if department is not None and county_scoped(actor) and county_id != actor.county_id:
        fields["county" if county is not None else "department"] = "只能督导本区县的单位"
    return {"visited_on": visited_on, "department_id": department.id if department else None,
            "county_id": county_id, "task_id": task.id if task else None, "subject": subject,
            "findings": findings}


def _audit_visit(values: dict[str, Any]) -> dict[str, Any]:
    named = dict(values)
    for key, model in (("department_id", Department), ("county_id", County)):
        ident = named.pop(key, None)
        named[key.removesuffix("_id")] = db.session.get(model, ident).name if ident else None
    task_id = named.pop("task_id", None)
    named["task"] = db.session.get(Task, task_id).label if task_id else None
    return named


def create_visit(actor: Any, data: dict[str, Any], *, today: date | None = None) -> SupervisionVisit:
    """Record a visit. ``data``: ``visited_on`` (required, not in the future), ``department`` (a unit by name)
    or ``county`` (its government), ``task`` (optional: an id or ``task:N`` / ``safeguard:N``), ``subject``
    (required), ``findings``, ``items`` (optional list of item data, see :func:`add_item`). Audited."""
    today = today or local_today()
    fields: dict[str, str] = {}
    values = _visit_values(actor, data, fields, today=today)
    raw_items = data.get("items") or []
    if not isinstance(raw_items, list) or not all(isinstance(i, dict) for i in raw_items):
        fields["items"] = "整改事项应为列表"
        raw_items = []
    if fields:
        raise ValidationFailed(VISIT_INVALID, fields)
    visit = SupervisionVisit(**values, created_by_id=getattr(actor, "id", None))
    db.session.add(visit)
    db.session.flush()
    record(actor, "supervision", visit.id, "create",
           {k: [None, v] for k, v in _audit_visit(values).items()},
           summary=f"专项督导:{_short(visit.subject)}")
    for n, item_data in enumerate(raw_items):
        try:
            add_item(actor, visit, item_data, today=today)
        except ValidationFailed as err:
            raise ValidationFailed(f"第{n + 1}项整改事项有误:{err.message}",
                                   {f"items.{n}.{k}": v for k, v in err.fields.items()}) from None
    return visit


def update_visit(actor: Any, visit: SupervisionVisit, data: dict[str, Any], *, version: Any = None,
                 today: date | None = None) -> SupervisionVisit:
    """Change a visit's date, unit, task, subject or findings (the fields given; the rest kept). Audited
    old → new; a stale ``version`` → 409."""
    check_version(visit, version)
    today = today or local_today()
    current = {"visited_on": visit.visited_on,
               "department": visit.department.name if visit.department else None,
               "task": visit.task_id, "subject": visit.subject, "findings": visit.findings}
    merged = {**current, **{k: v for k, v in data.items() if k in (*current, "county")}}
    if data.get("county") not in (None, ""):
        merged["department"] = None
    fields: dict[str, str] = {}
    values = _visit_values(actor, merged, fields, today=today)
    if fields:
        raise ValidationFailed(VISIT_INVALID, fields)
    old = _audit_visit({k: getattr(visit, k) for k in values})
    changes = {k: [old[k], v] for k, v in _audit_visit(values).items() if old[k] != v}
    if not changes:
        return visit
    for key, value in values.items():
        setattr(visit, key, value)
    db.session.flush()
    record(actor, "supervision", visit.id, "update", changes, summary=f"修改专项督导:{_short(visit.subject)}")
    return visit


# --- items ---------------------------------------------------------------------------------------------------

def liaisons_of(department_id: int | None) -> list[User]:
    """The active liaisons of a unit."""
    if department_id is None:
        return []
    return list(db.session.scalars(sa.select(User).where(
        User.role == Role.LIAISON, User.department_id == department_id, User.active.is_(True)).order_by(User.id)))


def _owner(value: Any, department: Department | None, fields: dict[str, str]) -> User | None:
    """A named owner: an active liaison of the owning unit; unknown and "not of this unit" read the same."""
    if value in (None, ""):
        return None
    name = _text(value) if isinstance(value, str) else ""
    owner = db.session.scalar(sa.select(User).where(User.username == name)) if name else None
    if (owner is None or not owner.active or owner.role is not Role.LIAISON or department is None
            or owner.department_id != department.id):
        fields["owner"] = f"“{str(value)[:30]}”不是该责任单位的在职联络员,请从列表中选择"
        return None
    return owner


def due_date_for(visited_on: date, data: dict[str, Any], fields: dict[str, str]) -> tuple[date | None, str]:
    """``(due date, note)`` from ``due_workdays`` (working days after the visit, the visit day not counted) or
    ``due_date`` (a rest day moves to the next working day); the note says how it was set."""
    raw_days = data.get("due_workdays")
    due = parse_date(data.get("due_date"), "due_date", fields, label="整改时限")
    if raw_days not in (None, ""):
        days = raw_days if isinstance(raw_days, int) and not isinstance(raw_days, bool) else parse_id(raw_days)
        if due is not None:
            fields["due_workdays"] = "整改时限填工作日数或日期其中一项"
            return None, ""
        if days is None or not 1 <= days <= MAX_DUE_WORKDAYS:
            fields["due_workdays"] = f"整改时限(工作日)应为1到{MAX_DUE_WORKDAYS}之间的整数"
            return None, ""
        result = add_working_days(visited_on, days)
        note = f"整改时限按督导日后{days}个工作日计算"
        missing = missing_data_message(result.missing_years)
        return result.date, note + (f";{missing}" if missing else "")
    if due is None:
        if "due_date" not in fields:
            fields["due_date"] = "请填写整改时限(工作日数或日期)"
        return None, ""
    if due < visited_on:
        fields["due_date"] = "整改时限不能早于督导日期"
        return None, ""
    if not is_working_day(due):
        moved = next_working_day(due)
        note = f"整改时限 {due.isoformat()} 为休息日或法定节假日,顺延至 {moved.date.isoformat()}"
        return moved.date, note
    return due, ""


def add_item(actor: Any, visit: SupervisionVisit, data: dict[str, Any], *, today: date | None = None
             ) -> RectificationItem:
    """Add a rectification item to ``visit``. ``data``: ``description`` (required), ``department`` (owning unit
    by name; default the visited unit), ``owner`` (optional: a liaison of that unit, by username),
    ``due_workdays`` or ``due_date`` (one required). Tells the unit's liaisons (and the owner). Audited."""
    fields: dict[str, str] = {}
    description = _text(data.get("description"))
    if not description:
        fields["description"] = "请填写整改事项"
    elif len(description) > TEXT_MAX:
        fields["description"] = f"整改事项最长{TEXT_MAX}个字符"
    department = _department(data.get("department"), "department", fields) if data.get("department") else (
        visit.department)
    if department is None and "department" not in fields:
        fields["department"] = "请选择整改责任单位"
    _fence_item_unit(actor, department, fields)
    owner = _owner(data.get("owner"), department, fields)
    due, note = due_date_for(visit.visited_on, data, fields)
    if fields:
        raise ValidationFailed(ITEM_INVALID, fields)
    item = RectificationItem(supervision=visit, description=description, department_id=department.id,
                             owner_id=owner.id if owner else None, due_date=due, status=S.OPEN,
                             created_by_id=getattr(actor, "id", None))
    item.department, item.owner = department, owner
    db.session.add(item)
    db.session.flush()
    changes: dict[str, Any] = {"description": [None, description], "department": [None, department.name],
                               "owner": [None, owner.username if owner else None], "due_date": [None, due],
                               "status": [None, S.OPEN]}
    if note:
        changes["due_note"] = [None, note]
    record(actor, "rectification", item.id, "create", changes,
           summary=f"整改事项({department.name}):{_short(description)}")
    people = liaisons_of(department.id) + ([owner] if owner else [])
    if people:
        notify(people, "rectification_assigned", f"新的整改事项:{_short(description, 40)}",
               f"专项督导“{visit.subject}”({visit.visited_on.isoformat()})提出整改事项:\n{description}\n"
               f"整改时限 {due.isoformat()}" + (f"({note})" if note else "") + "。请按时整改并报告整改情况。",
               item_link(item))
    return item


def item_link(item: RectificationItem) -> str:
    return f"/supervision/items/{item.id}"


def update_item(actor: Any, item: RectificationItem, data: dict[str, Any], *, version: Any = None
                ) -> RectificationItem:
    """Change an item's description, owning unit, owner or due date (coordinators). Audited old → new; a new
    owning unit's liaisons are told."""
    check_version(item, version)
    fields: dict[str, str] = {}
    description = _text(data.get("description")) if "description" in data else item.description
    if not description:
        fields["description"] = "请填写整改事项"
    elif len(description) > TEXT_MAX:
        fields["description"] = f"整改事项最长{TEXT_MAX}个字符"
    department = item.department
    if data.get("department") not in (None, ""):
        department = _department(data.get("department"), "department", fields)
        _fence_item_unit(actor, department, fields)
    owner = item.owner if "owner" not in data else _owner(data.get("owner"), department, fields)
    if owner is not None and department is not None and owner.department_id != department.id:
        owner = None
    due = item.due_date
    if data.get("due_workdays") not in (None, "") or data.get("due_date") not in (None, ""):
        due, _ = due_date_for(item.supervision.visited_on, data, fields)
    if fields:
        raise ValidationFailed(ITEM_INVALID, fields)
    old = {"description": item.description, "department": item.department.name if item.department else None,
           "owner": item.owner.username if item.owner else None, "due_date": item.due_date.isoformat()}
    new = {"description": description, "department": department.name if department else None,
           "owner": owner.username if owner else None, "due_date": due.isoformat()}
    changes = {k: [old[k], v] for k, v in new.items() if old[k] != v}
    if not changes:
        return item
    moved_unit = department is not None and department.id != item.department_id
    item.description, item.department, item.owner, item.due_date = description, department, owner, due
    item.department_id = department.id if department else None
    item.owner_id = owner.id if owner else None
    if "due_date" in changes:
        item.overdue_notified_on = None  # a new due date: overdue again later is news again
    db.session.flush()
    record(actor, "rectification", item.id, "update", changes, summary=f"修改整改事项:{_short(item.description)}")
    if moved_unit and department is not None:
        people = liaisons_of(department.id) + ([owner] if owner else [])
        if people:
            notify(people, "rectification_assigned", f"整改事项转交本单位:{_short(description, 40)}",
                   f"整改时限 {item.due_date.isoformat()}。", item_link(item))
    return item


def parse_status(value: Any) -> RectificationStatus:
    status = parse_enum(RectificationStatus, value, field="to", what="目标状态", required=True)
    assert status is not None
    return status


def transition(actor: Any, item: RectificationItem, to: Any, *, note: Any = "", version: Any = None
               ) -> RectificationItem:
    """Move ``item`` to ``to``. Refusals, nothing written: an unknown ``to`` (422 ``fields.to``); a stale
    ``version`` (409 ``stale``); a move not in :data:`TRANSITIONS` (409 ``illegal_transition``); a coordinator's
    move by a liaison (403); ``done`` without a resolution, a send-back without a reason, a note over 2000
    characters (422 ``fields.note``). ``done`` sets ``resolution`` and ``resolved_at``, ``closed`` sets
    ``closed_at``; going back clears both and the overdue mark (the item may be reported overdue again).
    Audited (``transition``, old → new)."""
    target = parse_status(to)
    check_version(item, version)
    current = item.status
    if target not in TRANSITIONS[current]:
        raise Conflict(illegal_message(current), {"to": f"不能从“{current.label}”变更为“{target.label}”"},
                       code="illegal_transition")
    if not may_move(actor, item, target):
        raise Forbidden("销号或退回整改事项须由协调员办理")
    note = _text(note)
    fields: dict[str, str] = {}
    if len(note) > NOTE_MAX:
        fields["note"] = f"说明最长{NOTE_MAX}个字符"
    elif target is S.DONE and not note:
        fields["note"] = "请填写整改情况"
    elif target is S.IN_PROGRESS and current is not S.OPEN and not note:
        fields["note"] = "请说明退回重新整改的原因"
    if fields:
        raise ValidationFailed("状态变更有误", fields)
    now = utcnow()
    changes: dict[str, list[Any]] = {"status": [current, target]}
    if target is S.DONE:
        changes["resolution"] = [item.resolution, note]
        changes["resolved_at"] = [item.resolved_at, now]
        item.resolution, item.resolved_at = note, now
    elif target is S.CLOSED:
        changes["closed_at"] = [item.closed_at, now]
        item.closed_at = now
        if note:
            changes["note"] = [None, note]
    else:
        if current is not S.OPEN:
            for attr in ("resolved_at", "closed_at"):
                if getattr(item, attr) is not None:
                    changes[attr] = [getattr(item, attr), None]
                    setattr(item, attr, None)
            item.overdue_notified_on = None
        if note:
            changes["note"] = [None, note]
    item.status = target
    db.session.flush()
    record(actor, "rectification", item.id, "transition", changes,
           summary=f"整改事项“{_short(item.description)}”{ACTION_LABELS[(current, target)]}:"
                   f"{current.label} → {target.label}")
    return item


def lock_item(item_id: int) -> RectificationItem | None:
    return lock_for_update(RectificationItem, item_id)


def lock_visit(visit_id: int) -> SupervisionVisit | None:
    return lock_for_update(SupervisionVisit, visit_id)


# --- reads ---------------------------------------------------------------------------------------------------

def visits_statement(user: Any, *, department: str | None = None, task: Any = None) -> sa.Select:
    """Visits ``user`` may see, newest first; ``department``: a unit's name (the visited one)."""
    stmt = scope(user, SupervisionVisit, sa.select(SupervisionVisit))
    fields: dict[str, str] = {}
    if department:
        found = _department(department, "department", fields)
        if found is not None:
            stmt = stmt.where(SupervisionVisit.department_id == found.id)
    if task not in (None, ""):
        found_task = find_task(task, fields)
        if found_task is not None:
            stmt = stmt.where(SupervisionVisit.task_id == found_task.id)
    if fields:
        raise ValidationFailed("筛选条件不正确", fields)
    return stmt.order_by(SupervisionVisit.visited_on.desc(), SupervisionVisit.id.desc())


def items_statement(user: Any, *, department: str | None = None, status: Any = None, overdue: bool | None = None,
                    supervision_id: int | None = None, today: date | None = None) -> sa.Select:
    """Items ``user`` may see (the ledger), earliest due first. ``department``: the owning unit's name;
    ``status``: a code or a list of codes; ``overdue``: True only overdue, False only not."""
    today = today or local_today()
    stmt = scope(user, RectificationItem, sa.select(RectificationItem))
    fields: dict[str, str] = {}
    if department:
        found = _department(department, "department", fields)
        if found is not None:
            stmt = stmt.where(RectificationItem.department_id == found.id)
    values = status if isinstance(status, list | tuple | set) else [status]
    statuses = [s for s in (parse_enum(RectificationStatus, v, field="status", what="状态", fields=fields)
                            for v in values) if s is not None]
    if fields:
        raise ValidationFailed("筛选条件不正确", fields)
    if statuses:
        stmt = stmt.where(RectificationItem.status.in_(statuses))
    if overdue is True:
        stmt = stmt.where(overdue_clause(today))
    elif overdue is False:
        stmt = stmt.where(sa.not_(overdue_clause(today)))
    if supervision_id is not None:
        stmt = stmt.where(RectificationItem.supervision_id == supervision_id)
    return stmt.order_by(RectificationItem.due_date, RectificationItem.id)


def overdue_counts(user: Any, today: date | None = None) -> list[tuple[Department, int, int]]:
    """Per owning unit the user may see: ``(unit, open items, overdue items)``, most overdue first."""
    today = today or local_today()
    stmt = scope(user, RectificationItem, sa.select(RectificationItem.department_id, RectificationItem.due_date))
    open_count: Counter[int] = Counter()
    late: Counter[int] = Counter()
    for department_id, due in db.session.execute(stmt.where(RectificationItem.status.in_(OPEN_STATUSES))):
        open_count[department_id] += 1
        if due < today:
            late[department_id] += 1
    if not open_count:
        return []
    departments = {d.id: d for d in db.session.scalars(sa.select(Department).where(
        Department.id.in_(list(open_count))))}
    rows = [(departments[k], n, late[k]) for k, n in open_count.items() if k in departments]
    return sorted(rows, key=lambda r: (-r[2], -r[1], r[0].sort_order, r[0].id))


def may_edit(user: Any, record_: Any) -> bool:
    return can(user, Action.EDIT, record_)
