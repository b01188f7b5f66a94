"""政策兑现: the support promised to an enterprise (税收、用地、用电、用气、用水、用矿、融资、引才) and its delivery.

Shared by the pages, the API, the demo loader and the jobs. Input uses the API's vocabulary: the policy kind and
the department by their Chinese names, the owner by username, dates as ``YYYY-MM-DD``, amounts in 万元.

Rules:

- a new record is ``promised``, or ``delivered`` when it comes with a delivered date;
- ``delivered`` needs a delivered date (not in the future; it may be before the promised date: delivered early),
  and a ``promised`` record has none; evidence is recommended for a delivered one (:func:`warnings_of`);
- ``cancelled`` needs the reason, written in ``evidence`` in the same change; a delivered record is not
  cancelled directly (it goes back to ``promised`` first, which clears its delivered date);
- late (:func:`is_late`, "逾期兑现"): still promised after the promised date, or delivered after it;
- moving the promised date, or putting a record back to ``promised``, clears ``overdue_notified_on`` so the
  overdue job tells people again about the new date.

Callers check access first (``access.require(user, EDIT, enterprise or delivery)``); these functions write,
record the audit row with the enterprise id in the same session, and never commit.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core import audit
from crm.core.access import scope
from crm.core.errors import Forbidden, ValidationFailed
from crm.core.parsing import check_version as core_check_version
from crm.core.parsing import parse_enum
from crm.core.time import local_today
from crm.enterprises.domain import parse_amount
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.notifications.models import NotificationKind
from crm.reference.models import County, Department, by_name
from crm.service.interactions import EARLIEST, LATEST_FOLLOW_UP, parse_date
from crm.service.models import DeliveryStatus, PolicyDelivery, PolicyKind
from crm.service.requests import resolve_owner, tell_department

ENTITY = "policy_delivery"
LATE_LABEL = "逾期兑现"
CREATE_FIELDS = ("kind", "promised", "amount", "promised_date", "delivered_date", "evidence", "owner", "department")
UPDATE_FIELDS = (*CREATE_FIELDS, "status")
MAX_PROMISED = 2000
MAX_EVIDENCE = 4000
INVALID = "政策兑现信息有误"
# A department liaison (部门联络员) records the delivery of a 政策兑现 routed to them: its date, its evidence, and
# putting a mistaken delivery back; the promise itself and a cancellation are the coordinators' (routing.py).
LIAISON_FIELDS = {"delivered_date", "evidence", "status", "version"}
LIAISON_STATUSES = {DeliveryStatus.DELIVERED.value, DeliveryStatus.PROMISED.value}
LIAISON_REFUSED = "部门联络员只能登记兑现情况(兑现日期、佐证说明);修改承诺内容或取消由协调员办理"
EVIDENCE_MISSING = "已兑现,但尚未填写佐证材料说明(建议补充文件号、到账凭证等)"


# --- parsing -------------------------------------------------------------------------------------------------

def _date(value: Any, field: str, fields: dict[str, str], *, required: bool, label: str) -> date | None:
    """The service's one date parser (``YYYY-MM-DD``, a real calendar date), within 2000–2100."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            fields[field] = f"请填写{label}(YYYY-MM-DD)"
        return None
    day = parse_date(value, field, fields, label=label)
    if day is not None and not EARLIEST <= day <= LATEST_FOLLOW_UP:
        fields[field] = f"{label}应在 {EARLIEST.isoformat()} 至 {LATEST_FOLLOW_UP.isoformat()} 之间"
        return None
    return day


def _text(value: Any, field: str, fields: dict[str, str], *, limit: int, label: str, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        fields[field] = f"{label}必须是文字"
        return ""
    text = value.strip()
    if required and not text:
        fields[field] = f"请填写{label}"
    elif len(text) > limit:
        fields[field] = f"{label}最长{limit}个字符"
    return text


def _department(value: Any, fields: dict[str, str]) -> Department | None:
    if value in (None, ""):
        return None
    department = by_name(Department, value) if isinstance(value, str) else None
    if department is None:
        fields["department"] = f"未知责任单位:{value}"
    return department


def _validate(data: dict[str, Any], enterprise: Enterprise, allowed: tuple[str, ...], *,
              partial: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Parse the fields present (all of them when creating); returns values and per-field problems."""
    fields: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key in sorted(set(data) - set(allowed) - {"version"}):
        fields[key] = "不支持的字段"

    def wanted(key: str) -> bool:
        return not partial or key in data

    if wanted("kind"):
        kind = parse_enum(PolicyKind, data.get("kind"), field="kind", what="政策类别", fields=fields, required=True)
        if kind is not None:
            values["kind"] = kind
    if wanted("promised"):
        values["promised"] = _text(data.get("promised"), "promised", fields, limit=MAX_PROMISED,
                                   label="承诺内容", required=True)
    if wanted("amount"):
        values["amount"] = parse_amount(data.get("amount"), "amount", fields, required=False)
    if wanted("promised_date"):
        values["promised_date"] = _date(data.get("promised_date"), "promised_date", fields, required=True,
                                        label="承诺兑现日期")
    if wanted("delivered_date"):
        delivered = _date(data.get("delivered_date"), "delivered_date", fields, required=False, label="兑现日期")
        if delivered is not None and delivered > local_today():
            fields["delivered_date"] = "兑现日期不能晚于今天"
        values["delivered_date"] = delivered
    if wanted("evidence"):
        values["evidence"] = _text(data.get("evidence"), "evidence", fields, limit=MAX_EVIDENCE,
                                   label="佐证说明", required=False)
    if wanted("owner"):
        values["owner"] = resolve_owner(data.get("owner"), enterprise, fields)
    if wanted("department"):
        values["department"] = _department(data.get("department"), fields)
    if "status" in allowed and "status" in data:
        status = parse_enum(DeliveryStatus, data.get("status"), field="status", what="状态", fields=fields,
                            required=True)
        if status is not None:
            values["status"] = status
    return values, fields


def _audit_values(values: dict[str, Any]) -> dict[str, Any]:
    """Users and departments shown by name in the audit trail."""
    shown: dict[str, Any] = {}
    for key, value in values.items():
        if key == "owner":
            shown[key] = value.username if value is not None else None
        elif key == "department":
            shown[key] = value.name if value is not None else None
        else:
            shown[key] = value
    return shown


# --- writes --------------------------------------------------------------------------------------------------

def create_delivery(actor: Any, enterprise: Enterprise, data: dict[str, Any]) -> PolicyDelivery:
    """Record a promise of support: ``promised``, or ``delivered`` when ``delivered_date`` is given."""
    values, fields = _validate(data, enterprise, CREATE_FIELDS, partial=False)
    if fields:
        raise ValidationFailed(INVALID, fields)
    values["status"] = DeliveryStatus.DELIVERED if values["delivered_date"] else DeliveryStatus.PROMISED
    delivery = PolicyDelivery(enterprise=enterprise, created_by_id=getattr(actor, "id", None), **values)
    db.session.add(delivery)
    db.session.flush()
    audit.record(actor, ENTITY, delivery.id, "create",
                 {k: [None, v] for k, v in _audit_values(values).items()},
                 enterprise_id=enterprise.id,
                 summary=f"登记政策兑现({delivery.kind.value}):{_short(delivery.promised)}")
    if delivery.department is not None:
        _tell_department(actor, delivery)
    return delivery


def check_version(delivery: PolicyDelivery, version: Any) -> None:
    """A stale ``version`` from the client → 409 ``stale``; none given → no check."""
    core_check_version(delivery, version, "该政策兑现记录已被他人修改,请刷新后重试")


def update_delivery(actor: Any, delivery: PolicyDelivery, data: dict[str, Any]) -> PolicyDelivery:
    """Change the fields given (partial), including ``status``; ``version`` if given must be current. A liaison
    changes only :data:`LIAISON_FIELDS` (else ``Forbidden``, 403)."""
    check_liaison_change(actor, delivery, data)
    check_version(delivery, data.get("version"))
    values, fields = _validate(data, delivery.enterprise, UPDATE_FIELDS, partial=True)
    if fields:
        raise ValidationFailed(INVALID, fields)
    _settle_status(delivery, values)
    old = _audit_values({k: getattr(delivery, k) for k in values})
    new = _audit_values(values)
    changes = {k: [old[k], new[k]] for k in values if audit.jsonable(old[k]) != audit.jsonable(new[k])}
    if not changes:
        return delivery
    before = delivery.status
    for key in changes:
        setattr(delivery, key, values[key])
    if "promised_date" in changes or (delivery.status is DeliveryStatus.PROMISED and before is not
                                      DeliveryStatus.PROMISED):
        delivery.overdue_notified_on = None  # a new date (or a reopened promise) deserves a new notice
    db.session.flush()
    audit.record(actor, ENTITY, delivery.id, _action(before, delivery.status), changes,
                 enterprise_id=delivery.enterprise_id, summary=_summary(before, delivery))
    if "department" in changes and delivery.department is not None:
        _tell_department(actor, delivery)  # moved by an edit: the new department's liaisons learn of it
    return delivery


def _tell_department(actor: Any, delivery: PolicyDelivery) -> None:
    tell_department(actor, delivery.department, NotificationKind.POLICY_ROUTED,
                    f"政策兑现已转办至{delivery.department.name}",
                    f"{delivery.enterprise.name}:{_short(delivery.promised)}", f"/policy/{delivery.id}")


def check_liaison_change(actor: Any, delivery: PolicyDelivery, data: dict[str, Any]) -> None:
    """Refuse (403) a liaison's change of a 政策兑现 beyond recording its delivery (or putting a delivery entered
    by mistake back to promised; a cancelled one is taken up again by a coordinator)."""
    if getattr(actor, "role", None) is not Role.LIAISON:
        return
    status = data.get("status")
    status = None if status in (None, "") else str(getattr(status, "value", status))
    if (set(data) - LIAISON_FIELDS or (status is not None and status not in LIAISON_STATUSES)
            or delivery.status is DeliveryStatus.CANCELLED):
        raise Forbidden(LIAISON_REFUSED)


def _settle_status(delivery: PolicyDelivery, values: dict[str, Any]) -> None:
    """Work out the resulting status and delivered date (put into ``values``); refuse inconsistent ones."""
    fields: dict[str, str] = {}
    delivered_given = "delivered_date" in values
    delivered = values["delivered_date"] if delivered_given else delivery.delivered_date
    status = values.get("status")
    if status is None:
        # Entering a delivered date on a promise delivers it.
        entered = delivered_given and delivered is not None
        status = DeliveryStatus.DELIVERED if delivery.status is DeliveryStatus.PROMISED and entered else delivery.status
    if status is DeliveryStatus.DELIVERED:
        if delivered is None:
            fields["delivered_date"] = "标记为已兑现须填写兑现日期"
    elif status is DeliveryStatus.PROMISED:
        if delivered_given and delivered is not None:
            fields["delivered_date"] = "待兑现的记录不能有兑现日期(填写兑现日期即标记为已兑现)"
        delivered = None
    else:  # cancelled
        if delivery.status is DeliveryStatus.DELIVERED:
            fields["status"] = "已兑现的记录不能直接取消;如登记有误,请先改回待兑现(promised)"
        elif delivery.status is not DeliveryStatus.CANCELLED and not values.get("evidence"):
            fields["evidence"] = "取消政策兑现须在佐证说明(evidence)中写明原因"
        if delivered_given and delivered is not None:
            fields["delivered_date"] = "已取消的记录不能有兑现日期"
        delivered = None
    if fields:
        raise ValidationFailed(INVALID, fields)
    values["status"] = status
    values["delivered_date"] = delivered


def _action(before: DeliveryStatus, after: DeliveryStatus) -> str:
    if before is after:
        return "update"
    return {DeliveryStatus.DELIVERED: "deliver", DeliveryStatus.CANCELLED: "cancel"}.get(after, "reopen")


def _summary(before: DeliveryStatus, delivery: PolicyDelivery) -> str:
    what = f"({delivery.kind.value}):{_short(delivery.promised)}"
    if before is delivery.status:
        return f"修改政策兑现{what}"
    if delivery.status is DeliveryStatus.DELIVERED:
        return f"政策已兑现{what},兑现日期 {delivery.delivered_date.isoformat()}"
    if delivery.status is DeliveryStatus.CANCELLED:
        return f"取消政策兑现{what}"
    return f"政策兑现改回待兑现{what}"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- reading -------------------------------------------------------------------------------------------------

def is_late(delivery: PolicyDelivery, today: date | None = None) -> bool:
    """逾期兑现: still promised after the promised date, or delivered after it."""
    today = today or local_today()
    if delivery.status is DeliveryStatus.PROMISED:
        return delivery.promised_date < today
    if delivery.status is DeliveryStatus.DELIVERED:
        return delivery.delivered_date is not None and delivery.delivered_date > delivery.promised_date
    return False


def late_clause(today: date) -> sa.ColumnElement[bool]:
    """:func:`is_late` as SQL."""
    return sa.or_(
        sa.and_(PolicyDelivery.status == DeliveryStatus.PROMISED, PolicyDelivery.promised_date < today),
        sa.and_(PolicyDelivery.status == DeliveryStatus.DELIVERED,
                PolicyDelivery.delivered_date > PolicyDelivery.promised_date),
    )


def on_time_clause(today: date) -> sa.ColumnElement[bool]:
    """The complement of :func:`late_clause` (written out: NULL dates must not drop rows from both)."""
    return sa.or_(
        PolicyDelivery.status == DeliveryStatus.CANCELLED,
        sa.and_(PolicyDelivery.status == DeliveryStatus.PROMISED, PolicyDelivery.promised_date >= today),
        sa.and_(PolicyDelivery.status == DeliveryStatus.DELIVERED,
                sa.or_(PolicyDelivery.delivered_date.is_(None),
                       PolicyDelivery.delivered_date <= PolicyDelivery.promised_date)),
    )


def warnings_of(delivery: PolicyDelivery) -> list[str]:
    """What is recommended but missing (shown beside the record; never refused)."""
    if delivery.status is DeliveryStatus.DELIVERED and not (delivery.evidence or "").strip():
        return [EVIDENCE_MISSING]
    return []


def deliveries_statement(user: User, *, enterprise_id: int | sa.BindParameter[int] | None = None, kind: Any = None,
                         status: Any = None, late: bool | None = None, county: str | None = None,
                         department: str | None = None, today: date | None = None) -> sa.Select:
    """The deliveries ``user`` may see (their enterprises' scope), filtered, promised date newest first.

    ``kind`` by Chinese name, ``status`` by code, ``county`` and ``department`` by name; an unknown value is
    refused (422) rather than silently matching nothing.
    """
    fields: dict[str, str] = {}
    stmt = sa.select(PolicyDelivery).join(PolicyDelivery.enterprise)
    stmt = scope(user, PolicyDelivery, stmt)
    if enterprise_id is not None:
        stmt = stmt.where(PolicyDelivery.enterprise_id == enterprise_id)
    parsed_kind = parse_enum(PolicyKind, kind, field="kind", what="政策类别", fields=fields)
    if parsed_kind is not None:
        stmt = stmt.where(PolicyDelivery.kind == parsed_kind)
    parsed_status = parse_enum(DeliveryStatus, status, field="status", what="状态", fields=fields)
    if parsed_status is not None:
        stmt = stmt.where(PolicyDelivery.status == parsed_status)
    if county not in (None, ""):
        county_row = by_name(County, county)
        if county_row is None:
            fields["county"] = f"未知区县:{county}"
        else:
            stmt = stmt.where(Enterprise.county_id == county_row.id)
    if department not in (None, ""):
        department_row = by_name(Department, department) if isinstance(department, str) else None
        if department_row is None:
            fields["department"] = f"未知责任单位:{department}"
        else:
            stmt = stmt.where(PolicyDelivery.department_id == department_row.id)
    if fields:
        raise ValidationFailed("查询条件有误", fields)
    if late is not None:
        today = today or local_today()
        stmt = stmt.where(late_clause(today) if late else on_time_clause(today))
    return stmt.order_by(PolicyDelivery.promised_date.desc(), PolicyDelivery.id.desc())
