"""一对一 assignments: enterprise × specialty → one active commissioner, with its history.

The rules every entry point shares (pages, API, the signal receivers, the CLI):

- per enterprise and specialty at most one active assignment (the database's partial unique index holds it
  too); assigning another commissioner is a handover: the active row ends (``end_reason`` "交接") and a new
  one starts, so the history stays;
- a commissioner must be an active user of role commissioner, with that specialty, city-wide or scoped to the
  enterprise's county (a commissioner of another county could not even open the enterprise), and below the
  cap of active assignments (config ``ASSIGNMENT_CAP``, default 40), counted after the commissioner's user row
  is locked (:func:`assign`), so concurrent assigns of one commissioner cannot exceed it;
- only admins and coordinators assign (a county coordinator only their county's enterprises); commissioners
  may edit their enterprises but never reassign them; leaders change nothing;
- when a publish takes an enterprise off both lists, its assignments end ("已移出名单") and the commissioners
  are told (:func:`end_for_unlisted`); when a commissioner is deactivated or no longer qualifies, theirs end
  (:func:`end_for_changed_commissioner`). Both answer signals of lower capabilities (``crm.service.subscribers``).

Every write records its audit row with the enterprise (so it shows on the 一企一档 page) and notifies the
commissioners concerned in the same transaction. Nothing here commits. The coverage matrix (read only) is
:mod:`crm.service.coverage`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import joinedload

from crm.auth.models import Role, Specialty, User, UserSpecialty
from crm.core import audit
from crm.core.access import Action, require
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.core.parsing import parse_enum
from crm.core.time import local_today
from crm.core.transactions import lock_for_update
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.notifications.domain import notify, notify_role
from crm.rosters.models import EditionStatus, RosterEdition, RosterEntry
from crm.service.access import can_assign, may_assign  # noqa: F401  (may_assign: re-exported for the pages)
from crm.service.models import Assignment

DEFAULT_CAP = 40
HANDOVER = "交接"
UNLISTED = "已移出名单"
MAX_REASON = 200  # Assignment.end_reason is String(200)
SPECIALTIES: tuple[Specialty, ...] = tuple(Specialty)
FORBIDDEN_MESSAGE = "只有管理员和协调员可以分配服务专员"


# --- small helpers -------------------------------------------------------------------------------------------

def cap() -> int:
    """The most active assignments one commissioner may hold (``ASSIGNMENT_CAP``)."""
    return int(current_app.config.get("ASSIGNMENT_CAP", DEFAULT_CAP))


def who(user: User | None) -> str:
    """A commissioner as people read it: display name and username."""
    if user is None:
        return "(无)"
    return f"{user.display_name}({user.username})"


def parse_specialty(value: Any) -> Specialty | None:
    """A specialty by code (``tech``) or Chinese label (``科技``); ``None`` when it is neither."""
    return Specialty.find(value, by_label=True)


def specialty_or_422(value: Any, field_name: str = "specialty") -> Specialty:
    specialty = parse_enum(Specialty, value, field=field_name, what="专长", by_label=True, required=True)
    assert specialty is not None  # required: an empty value raised
    return specialty


def commissioner_by_username(username: Any, field_name: str = "commissioner") -> User:
    """The user with that username, or 422 on ``field_name`` (whether they qualify is :func:`assign`'s call)."""
    text = username.strip() if isinstance(username, str) else ""
    if not text:
        raise ValidationFailed("请选择服务专员", {field_name: "请填写服务专员的用户名"})
    user = db.session.scalar(sa.select(User).where(User.username == text)) if len(text) <= 64 else None
    if user is None:
        raise ValidationFailed("服务专员不存在", {field_name: f"没有用户名为“{text[:64]}”的用户"})
    return user


def _reason(text: Any, field_name: str = "reason") -> str:
    reason = str(text or "").strip() if not isinstance(text, dict | list) else ""
    if not reason:
        raise ValidationFailed("请填写结束原因", {field_name: "请填写结束原因"})
    if len(reason) > MAX_REASON:
        raise ValidationFailed("结束原因过长", {field_name: f"结束原因最长{MAX_REASON}个字符"})
    return reason


def _link(enterprise_id: int) -> str:
    return f"/enterprises/{enterprise_id}"


# --- access --------------------------------------------------------------------------------------------------

# Who may assign is the service's access rule (``crm.service.access``): ``may_assign`` (at all) and
# ``can_assign`` (for one enterprise), imported above and used here and by the pages and the API.

def require_assign(user: Any, enterprise: Enterprise) -> None:
    """Raise unless ``user`` may assign for ``enterprise``: 404 when they may not even see it, else 403."""
    if can_assign(user, enterprise):
        return
    require(user, Action.VIEW, enterprise)
    raise Forbidden(FORBIDDEN_MESSAGE)


# --- reading -------------------------------------------------------------------------------------------------

def active_for(enterprise: Enterprise, specialty: Specialty) -> Assignment | None:
    return db.session.scalar(sa.select(Assignment).where(
        Assignment.enterprise_id == enterprise.id, Assignment.specialty == specialty,
        Assignment.ended_on.is_(None)))


def active_assignments(enterprise: Enterprise) -> list[Assignment]:
    """The enterprise's active assignments, in the specialties' order (科技 融资 法务 媒体 人才)."""
    rows = db.session.scalars(sa.select(Assignment).where(
        Assignment.enterprise_id == enterprise.id, Assignment.ended_on.is_(None))
        .options(joinedload(Assignment.commissioner)))
    return sorted(rows, key=lambda a: SPECIALTIES.index(a.specialty))


def active_by_specialty(enterprise: Enterprise) -> dict[Specialty, Assignment | None]:
    found = {a.specialty: a for a in active_assignments(enterprise)}
    return {s: found.get(s) for s in SPECIALTIES}


def history_statement(enterprise_id: int) -> sa.Select:
    """All assignments of an enterprise, active and ended, newest first."""
    return (sa.select(Assignment).where(Assignment.enterprise_id == enterprise_id)
            .options(joinedload(Assignment.commissioner))
            .order_by(Assignment.started_on.desc(), Assignment.id.desc()))


def history(enterprise: Enterprise) -> list[Assignment]:
    return list(db.session.scalars(history_statement(enterprise.id)))


def active_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count(Assignment.id)).where(
        Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None))) or 0


# --- candidates and the suggestion ---------------------------------------------------------------------------

@dataclass
class Candidate:
    user: User
    load: int  # active assignments, all specialties
    same_county: bool  # scoped to the enterprise's county (else city-wide)
    at_cap: bool


def _load_column() -> Any:
    return (sa.select(sa.func.count(Assignment.id))
            .where(Assignment.commissioner_id == User.id, Assignment.ended_on.is_(None))
            .correlate(User).scalar_subquery().label("load"))


def candidates_by_specialty(enterprise: Enterprise, specialty: Specialty | None = None
                            ) -> dict[Specialty, list[Candidate]]:
    """Commissioners who may serve the enterprise, per specialty, best first (one query).

    Best first: scoped to the enterprise's county before city-wide, then fewest active assignments, then
    username; those at the cap are listed (marked) but never suggested.
    """
    load = _load_column()
    same = sa.case((User.county_id == enterprise.county_id, 0), else_=1)
    stmt = (sa.select(User, UserSpecialty.specialty, load)
            .join(UserSpecialty, UserSpecialty.user_id == User.id)
            .where(User.role == Role.COMMISSIONER, User.active.is_(True),
                   sa.or_(User.county_id.is_(None), User.county_id == enterprise.county_id))
            .options(joinedload(User.county))
            .order_by(same, load, User.username))
    if specialty is not None:
        stmt = stmt.where(UserSpecialty.specialty == specialty)
    limit = cap()
    result: dict[Specialty, list[Candidate]] = {s: [] for s in SPECIALTIES if specialty in (None, s)}
    for user, spec, count in db.session.execute(stmt):
        result[spec].append(Candidate(user=user, load=count or 0, same_county=user.county_id is not None,
                                      at_cap=(count or 0) >= limit))
    return result


def assignable_commissioners(actor: Any) -> list[User]:
    """Active commissioners the actor could pick for their enterprises (a county coordinator: their county's
    and the city-wide ones), by username; for the bulk form."""
    stmt = (sa.select(User).where(User.role == Role.COMMISSIONER, User.active.is_(True))
            .options(joinedload(User.county)).order_by(User.username))
    county_id = getattr(actor, "county_id", None)
    if county_id is not None:
        stmt = stmt.where(sa.or_(User.county_id.is_(None), User.county_id == county_id))
    return list(db.session.scalars(stmt))


def candidates(enterprise: Enterprise, specialty: Specialty) -> list[Candidate]:
    return candidates_by_specialty(enterprise, specialty)[specialty]


def _best(found: list[Candidate]) -> Candidate | None:
    return next((c for c in found if not c.at_cap), None)


def suggest(enterprise: Enterprise, specialty: Specialty | str) -> User | None:
    """The commissioner to propose: of that specialty, same county first (then city-wide), fewest active
    assignments, below the cap; ties by username. ``None`` when nobody qualifies."""
    specialty = specialty_or_422(specialty)
    best = _best(candidates(enterprise, specialty))
    return best.user if best else None


# --- writing -------------------------------------------------------------------------------------------------

def _check_commissioner(enterprise: Enterprise, specialty: Specialty, commissioner: User) -> None:
    _check_commissioner_basics(specialty, commissioner)
    problem = ""
    if commissioner.county_id is not None and commissioner.county_id != enterprise.county_id:
        county = commissioner.county.name if commissioner.county else "其他区县"
        problem = f"{who(commissioner)}限于{county},不能服务{enterprise.county.name}的企业"
    else:
        load, limit = active_count(commissioner), cap()
        if load >= limit:
            problem = f"{who(commissioner)}已服务{load}家企业,达到上限{limit}家"
    if problem:
        raise ValidationFailed("该服务专员不能承担这项服务", {"commissioner": problem})


def _start_date(start: Any, current: Assignment | None) -> date:
    today = local_today()
    if start is None:
        return max(today, current.started_on) if current else today
    if not isinstance(start, date):
        raise ValidationFailed("开始日期不正确", {"started_on": "开始日期格式应为 YYYY-MM-DD"})
    if start > today:
        raise ValidationFailed("开始日期不正确", {"started_on": "开始日期不能晚于今天"})
    if start.year < 2000:
        raise ValidationFailed("开始日期不正确", {"started_on": "开始日期不能早于2000-01-01"})
    if current is not None and start < current.started_on:
        raise ValidationFailed("开始日期不正确", {
            "started_on": f"交接日期不能早于现任服务专员的开始日期 {current.started_on.isoformat()}"})
    return start


def assign(actor: Any, enterprise: Enterprise, specialty: Specialty | str, commissioner: User, *,
           start: date | None = None) -> Assignment:
    """Make ``commissioner`` the enterprise's active commissioner of ``specialty``.

    Another active commissioner → handover (theirs ends the day the new one starts, reason "交接"); the same
    one → nothing changes and their assignment is returned. ``actor`` ``None`` is the system (no access check).
    """
    specialty = specialty_or_422(specialty)
    if actor is not None:
        require_assign(actor, enterprise)
    current = active_for(enterprise, specialty)
    if current is not None and current.commissioner_id == commissioner.id:
        return current
    # The cap is a read-count-write: two assigns at once would both count below it and both insert. Lock the
    # commissioner's row first (PostgreSQL: a second assign of the same commissioner waits for this one's commit
    # and then counts it; SQLite already serialises writers), so the count below is the committed truth.
    commissioner = lock_for_update(User, commissioner.id) or commissioner
    _check_commissioner(enterprise, specialty, commissioner)
    started_on = _start_date(start, current)
    previous = current.commissioner if current is not None else None
    if current is not None:
        current.ended_on = started_on
        current.end_reason = HANDOVER
        db.session.flush()  # free the "one active" slot before the new row takes it
    row = Assignment(enterprise_id=enterprise.id, specialty=specialty, commissioner_id=commissioner.id,
                     started_on=started_on, end_reason="")
    row.commissioner = commissioner
    db.session.add(row)
    db.session.flush()
    label = specialty.label
    if previous is None:
        audit.record(actor, "assignment", row.id, "create",
                     {"specialty": [None, label], "commissioner": [None, who(commissioner)],
                      "started_on": [None, started_on]},
                     enterprise_id=enterprise.id, summary=f"分配{label}服务专员 {who(commissioner)}")
    else:
        audit.record(actor, "assignment", row.id, "handover",
                     {"commissioner": [who(previous), who(commissioner)], "started_on": [current.started_on,
                                                                                       started_on]},
                     enterprise_id=enterprise.id,
                     summary=f"{label}服务专员交接:{who(previous)} → {who(commissioner)}")
        notify([previous], "assignment_handover", f"“{enterprise.name}”的{label}服务已交接",
               f"自 {started_on.isoformat()} 起由 {who(commissioner)} 负责;您的分配已结束(交接)。")
    notify([commissioner], "assignment", f"您已被分配为“{enterprise.name}”的{label}服务专员",
           f"开始日期 {started_on.isoformat()}。" + (f"前任:{who(previous)}。" if previous else ""),
           _link(enterprise.id))
    return row


def _end(actor: Any, assignment: Assignment, reason: str, summary: str) -> None:
    assignment.ended_on = max(local_today(), assignment.started_on)
    assignment.end_reason = reason
    audit.record(actor, "assignment", assignment.id, "end",
                 {"commissioner": [who(assignment.commissioner), None],
                  "ended_on": [None, assignment.ended_on], "end_reason": [None, reason]},
                 enterprise_id=assignment.enterprise_id, summary=summary)


def end_assignment(actor: Any, assignment: Assignment, reason: Any) -> Assignment:
    """End an active assignment today, with a reason; its commissioner is told."""
    if actor is not None:
        require_assign(actor, assignment.enterprise)
    if assignment.ended_on is not None:
        raise Conflict("该分配已经结束", code="already_ended")
    reason = _reason(reason)
    label = assignment.specialty.label
    enterprise = assignment.enterprise
    _end(actor, assignment, reason,
         f"结束{label}服务专员 {who(assignment.commissioner)} 的分配:{reason}")
    db.session.flush()
    notify([assignment.commissioner], "assignment_end", f"您对“{enterprise.name}”的{label}服务已结束",
           f"原因:{reason}")
    return assignment


# --- bulk ----------------------------------------------------------------------------------------------------

@dataclass
class BulkItem:
    enterprise: Enterprise
    message: str
    assignment: Assignment | None = None


@dataclass
class BulkResult:
    specialty: Specialty
    commissioner: User | None  # None: each enterprise got the suggestion
    done: list[BulkItem] = field(default_factory=list)
    unchanged: list[BulkItem] = field(default_factory=list)
    not_done: list[BulkItem] = field(default_factory=list)


def bulk_assign(actor: Any, enterprises: Iterable[Enterprise], specialty: Specialty | str,
                commissioner: User | None = None) -> BulkResult:
    """Assign one specialty for many enterprises: to ``commissioner``, or (``None``) to each one's suggestion.

    With suggestions, an enterprise that already has a commissioner of that specialty is left as it is. Each
    enterprise is its own savepoint: what cannot be done (no right, cap reached, no candidate, another county)
    is reported and the rest goes ahead.
    """
    specialty = specialty_or_422(specialty)
    if commissioner is not None:
        _check_commissioner_basics(specialty, commissioner)  # wrong for every enterprise alike: refuse it all
    if commissioner is None:
        _lock_commissioners(specialty)
    result = BulkResult(specialty=specialty, commissioner=commissioner)
    seen: set[int] = set()
    for enterprise in enterprises:
        if enterprise.id in seen:
            continue
        seen.add(enterprise.id)
        if actor is not None and not can_assign(actor, enterprise):
            result.not_done.append(BulkItem(enterprise, "您无权为该企业分配服务专员"))
            continue
        current = active_for(enterprise, specialty)
        target = commissioner
        if target is None:
            if current is not None:
                result.unchanged.append(BulkItem(enterprise, f"已有服务专员 {who(current.commissioner)},未更改",
                                                 current))
                continue
            found = candidates(enterprise, specialty)
            best = _best(found)
            if best is None:
                message = (f"该专长的服务专员均已达到上限{cap()}家" if found
                           else f"没有可服务该企业的{specialty.label}服务专员")
                result.not_done.append(BulkItem(enterprise, message))
                continue
            target = best.user
        elif current is not None and current.commissioner_id == target.id:
            result.unchanged.append(BulkItem(enterprise, f"已由 {who(target)} 负责", current))
            continue
        try:
            with db.session.begin_nested():
                row = assign(actor, enterprise, specialty, target)
        except ValidationFailed as err:
            result.not_done.append(BulkItem(enterprise, ";".join(err.fields.values()) or err.message))
            continue
        verb = "交接给" if current is not None else "分配给"
        result.done.append(BulkItem(enterprise, f"{verb} {who(target)}", row))
    return result


def _lock_commissioners(specialty: Specialty) -> None:
    """Lock every commissioner a suggestion may pick, up front and in id order (PostgreSQL; SQLite already
    serialises writers). ``assign`` locks its commissioner before counting; a bulk that locked them one by one, as
    its suggestions came, could take two of them in the opposite order of another bulk running at the same time
    (one starting in another county): a deadlock, and one of the two would fail."""
    db.session.execute(
        sa.select(User.id).join(UserSpecialty, UserSpecialty.user_id == User.id)
        .where(User.role == Role.COMMISSIONER, User.active.is_(True), UserSpecialty.specialty == specialty)
        .order_by(User.id).with_for_update(of=User, key_share=True)).all()


def _check_commissioner_basics(specialty: Specialty, commissioner: User) -> None:
    """Role, active and specialty: what does not depend on the enterprise."""
    problem = ""
    if commissioner.role is not Role.COMMISSIONER:
        problem = f"{who(commissioner)}不是服务专员"
    elif not commissioner.active:
        problem = f"{who(commissioner)}已停用"
    elif specialty not in commissioner.specialties:
        problem = f"{who(commissioner)}没有{specialty.label}专长"
    if problem:
        raise ValidationFailed("该服务专员不能承担这项服务", {"commissioner": problem})


# --- answers to other capabilities' signals (connected in crm.service.subscribers) ------------------------

def end_for_unlisted(actor: Any, edition: RosterEdition) -> list[Assignment]:
    """After ``edition`` is published: end the assignments of enterprises that left both lists.

    "Left" means: on the edition of this list that the publish superseded, and now on neither current published
    list (this one, or the other list's). Enterprises that were never listed keep their assignments. Runs in
    the publish transaction; each commissioner gets one notice naming their enterprises.
    """
    previous = db.session.scalar(
        sa.select(RosterEdition)
        .where(RosterEdition.kind == edition.kind, RosterEdition.status == EditionStatus.SUPERSEDED,
               RosterEdition.period < edition.period)
        .order_by(RosterEdition.period.desc()).limit(1))
    if previous is None:
        return []
    listed = (sa.select(RosterEntry.enterprise_id).join(RosterEntry.edition)
              .where(RosterEdition.status == EditionStatus.PUBLISHED))
    was_listed = sa.select(RosterEntry.enterprise_id).where(RosterEntry.edition_id == previous.id)
    rows = list(db.session.scalars(
        sa.select(Assignment)
        .where(Assignment.ended_on.is_(None), Assignment.enterprise_id.in_(was_listed),
               Assignment.enterprise_id.not_in(listed))
        .options(joinedload(Assignment.commissioner), joinedload(Assignment.enterprise))
        .order_by(Assignment.enterprise_id, Assignment.id)))
    where = f"{edition.kind.short_label} {edition.period} 发布"
    by_commissioner: dict[int, list[Assignment]] = defaultdict(list)
    for row in rows:
        _end(actor, row, UNLISTED, f"“{row.enterprise.name}”已移出名单({where}),结束{row.specialty.label}"
                                   f"服务专员 {who(row.commissioner)} 的分配")
        by_commissioner[row.commissioner_id].append(row)
    db.session.flush()
    for ended in by_commissioner.values():
        names = "、".join(f"{a.enterprise.name}({a.specialty.label})" for a in ended)
        title = (f"“{ended[0].enterprise.name}”已移出名单,您的服务分配已结束" if len(ended) == 1
                 else f"{len(ended)}项服务分配因企业移出名单而结束")
        notify([ended[0].commissioner], "assignment_unlisted", title,
               f"{where}后,以下企业已不在配套企业名单和重点企业培育库中:{names}。")
    return rows


def end_for_changed_commissioner(actor: Any, user: Any, reason: str) -> list[Assignment]:
    """End the active assignments ``user`` no longer qualifies for, after a deactivation or a change of role,
    specialties or county scope: otherwise the coverage matrix would show enterprises as served by nobody's
    hands. The coordinators (of each enterprise's county, and city-wide) are told which slots are now open.
    """
    active = list(db.session.scalars(
        sa.select(Assignment).where(Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None))
        .options(joinedload(Assignment.enterprise))))
    qualified_specialties = set(user.specialties) if user.active and user.role is Role.COMMISSIONER else set()
    ended = [a for a in active if a.specialty not in qualified_specialties
             or (user.county_id is not None and a.enterprise.county_id != user.county_id)]
    for assignment in ended:
        _end(actor, assignment, reason,
             f"结束{assignment.specialty.label}服务专员 {who(user)} 的分配:{reason}")
    if ended:
        db.session.flush()
        by_county: dict[int, list[Assignment]] = {}
        for assignment in ended:
            by_county.setdefault(assignment.enterprise.county_id, []).append(assignment)
        for county_id, rows in by_county.items():
            names = "、".join(f"{a.enterprise.name}({a.specialty.label})" for a in rows)
            notify_role(Role.COORDINATOR, "assignment_gap", f"{who(user)} 的 {len(rows)} 项服务分配已结束,请重新分配",
                        f"原因:{reason}。待重新分配:{names}", link="/assignments/", county_id=county_id)
    return ended
