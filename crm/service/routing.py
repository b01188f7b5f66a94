"""Routing 诉求 and 政策兑现 to a department (转办, issue 12 item 2), and what a department's liaison officer
(部门联络员) may do with what is routed to them.

Who routes: admins and coordinators (a county coordinator only records of enterprises in their county) —
:func:`crm.service.access.may_route`. Routing sets the record's ``department``; re-routing moves it, and with it
the visibility: the old department's liaisons lose the record, the new one's gain it (the access rule reads
``department_id``, ``crm.service.access``).

Effects, in the caller's transaction (nothing commits here):

- an audit row, action ``route``, ``department`` old → new (and the note);
- a 诉求 gets a timeline event (status unchanged) "转办至 <单位>:<说明>";
- a notification (``request_routed`` / ``policy_routed``) to the new department's active liaisons and to the
  record's owner (not to the actor).

What a liaison may do with a routed record (the access rule lets them change it; these are the limits):

- a 诉求: take it on and handle it — 受理, 开始办理, 办理完成 (raised → accepted → in_progress → resolved). The
  回访 that closes it (resolved → closed, with the enterprise's satisfaction) and a reopen stay with the owner
  and the coordinators: they follow up with the enterprise (``crm.service.requests.LIAISON_MOVES``, checked by
  ``transition``);
- a 政策兑现: record the delivery (status ``delivered`` with its date and evidence), put a mistaken delivery back
  to ``promised``, and add evidence; the promise itself (kind, content, amount, date, owner, department) and a
  cancellation are the coordinators' (``crm.service.policy.LIAISON_FIELDS``, checked by ``update_delivery``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from crm.core import access, audit
from crm.core.errors import Forbidden, ValidationFailed
from crm.core.transactions import lock_for_update
from crm.enterprises.models import Enterprise, EnterpriseContact
from crm.extensions import db
from crm.notifications.models import NotificationKind
from crm.reference.models import Department, by_name
from crm.service.access import is_liaison, may_route
from crm.service.models import DeliveryStatus, PolicyDelivery, RequestEvent, ServiceRequest
from crm.service.policy import late_clause
from crm.service.requests import OPEN_STATUSES, by_department, department_counts, tell_department

NOTE_MAX = 2000
INVALID = "转办信息有误"
NOT_ROUTER = "只有管理员和协调员可以转办(区县协调员只能转办本区县企业的事项)"


# --- routing ---------------------------------------------------------------------------------------------------

def _parse(department: Any, note: Any) -> tuple[Department, str]:
    fields: dict[str, str] = {}
    found = None
    if department is None or (isinstance(department, str) and not department.strip()):
        fields["department"] = "请选择转办的责任单位"
    elif not isinstance(department, str):
        fields["department"] = "责任单位请填写单位名称"
    else:
        found = by_name(Department, department)
        if found is None:
            fields["department"] = f"未知责任单位:{department.strip()[:80]}"
    if note is None:
        note = ""
    if not isinstance(note, str):
        fields["note"] = "转办说明必须是文字"
        note = ""
    note = note.strip()
    if len(note) > NOTE_MAX:
        fields["note"] = f"转办说明最长{NOTE_MAX}个字符"
    if fields:
        raise ValidationFailed(INVALID, fields)
    assert found is not None
    return found, note


def _check_router(actor: Any, record: Any) -> None:
    if not may_route(actor, record):
        raise Forbidden(NOT_ROUTER)


def _route(actor: Any, record: Any, department: Any, note: Any, *, entity: str, what: str,
           kind: NotificationKind, link: str) -> tuple[Department | None, Department]:
    _check_router(actor, record)
    new, note = _parse(department, note)
    old = record.department
    if old is not None and old.id == new.id:
        raise ValidationFailed(INVALID, {"department": f"该{what}已由{new.name}办理"})
    record.department = new
    record.department_id = new.id
    db.session.flush()
    changes: dict[str, Any] = {"department": [old.name if old else None, new.name]}
    if note:
        changes["note"] = [None, note]
    verb = "转办" if old is None else "改派"
    audit.record(actor, entity, record.id, audit.AuditAction.ROUTE, changes, enterprise_id=record.enterprise_id,
                 summary=f"{what}{verb}:{old.name if old else '未指定'} → {new.name}")
    body = f"{record.enterprise.name}" + (f";说明:{note}" if note else "")
    tell_department(actor, new, kind, f"{what}已转办至{new.name}", body, link, also=(record.owner,))
    return old, new


def route_request(actor: Any, req: ServiceRequest, department: Any, note: Any = "") -> ServiceRequest:
    """Route (or re-route) a 诉求 to ``department`` (its Chinese name) with a ``note``.

    Refusals, nothing written: the actor may not route it → ``Forbidden`` (403; the caller has already answered
    404 for a record the actor may not see); no / unknown department, or the one already handling it →
    ``ValidationFailed`` ``fields.department``; a note over 2000 characters → ``fields.note``.
    """
    old, new = _route(actor, req, department, note, entity="service_request", what="诉求",
                      kind=NotificationKind.REQUEST_ROUTED, link=f"/service/requests/{req.id}")
    text = f"转办至{new.name}" if old is None else f"由{old.name}改派至{new.name}"
    note = (note or "").strip() if isinstance(note, str) else ""
    req.events.append(RequestEvent(actor_id=getattr(actor, "id", None), from_status=req.status,
                                   to_status=req.status, note=f"{text}:{note}" if note else text))
    db.session.flush()
    return req


def route_delivery(actor: Any, delivery: PolicyDelivery, department: Any, note: Any = "") -> PolicyDelivery:
    """Route (or re-route) a 政策兑现 to ``department``; the same rules and refusals as :func:`route_request`."""
    _route(actor, delivery, department, note, entity="policy_delivery", what="政策兑现",
           kind=NotificationKind.POLICY_ROUTED, link=f"/policy/{delivery.id}")
    return delivery


def lock_delivery(delivery_id: int) -> PolicyDelivery | None:
    return lock_for_update(PolicyDelivery, delivery_id)


# --- the ledgers per department --------------------------------------------------------------------------------

def request_counts(stmt: sa.Select, today: date) -> list[dict[str, Any]]:
    """Per department (``None``: not routed), the total, open and overdue 诉求 of the rows ``stmt`` selects (the
    ledger's scoped, filtered statement), departments in their reference order: the ledger's own
    :func:`crm.service.requests.department_counts` (one statement grouping ``stmt`` itself; this was a second read
    of the requests through ``id IN (stmt)``, which at provincial scale joined the 46,000 overdue requests back to
    the table)."""
    return department_counts(stmt, today)


def delivery_counts(stmt: sa.Select, today: date) -> list[dict[str, Any]]:
    """Per department (``None``: not routed), the promised and the late 政策兑现 of the rows ``stmt`` selects: one
    statement grouping ``stmt`` itself (its join to the enterprise is one row per delivery, so the counts are the
    rows the list shows), not a second read through ``id IN (stmt)``."""
    promised = PolicyDelivery.status == DeliveryStatus.PROMISED
    return by_department(stmt, PolicyDelivery.department_id, promised, late_clause(today))


# --- the liaison's pages ---------------------------------------------------------------------------------------

def contacts_for(viewer: Any, enterprise: Enterprise) -> list[EnterpriseContact]:
    """The enterprise's contacts shown on a routed record's page to a liaison, who cannot open the 一企一档: the
    one thing of the enterprise beyond its name they need to act. Others read them on the 一企一档 (empty)."""
    if not is_liaison(viewer):
        return []
    return list(db.session.scalars(sa.select(EnterpriseContact).where(
        EnterpriseContact.enterprise_id == enterprise.id).order_by(EnterpriseContact.id).limit(5)))


def department_requests(viewer: Any, today: date, limit: int = 200) -> list[ServiceRequest]:
    """The 诉求 routed to the viewer's department (their access scope), open ones first, overdue first among
    them, then by due date."""
    is_open = ServiceRequest.status.in_(OPEN_STATUSES)
    overdue = sa.and_(is_open, ServiceRequest.due_date < today)
    stmt = access.scope(viewer, ServiceRequest, sa.select(ServiceRequest)).order_by(
        sa.case((overdue, 0), (is_open, 1), else_=2), ServiceRequest.due_date, ServiceRequest.id)
    return list(db.session.scalars(stmt.limit(limit).options(
        selectinload(ServiceRequest.enterprise).selectinload(Enterprise.county),
        selectinload(ServiceRequest.owner))))


def department_deliveries(viewer: Any, today: date, limit: int = 200) -> list[PolicyDelivery]:
    """The 政策兑现 routed to the viewer's department, late promises first, then promised ones by date."""
    promised = PolicyDelivery.status == DeliveryStatus.PROMISED
    late = sa.and_(promised, PolicyDelivery.promised_date < today)
    stmt = access.scope(viewer, PolicyDelivery, sa.select(PolicyDelivery)).order_by(
        sa.case((late, 0), (promised, 1), else_=2), PolicyDelivery.promised_date, PolicyDelivery.id)
    return list(db.session.scalars(stmt.limit(limit).options(
        selectinload(PolicyDelivery.enterprise).selectinload(Enterprise.county),
        selectinload(PolicyDelivery.owner))))
