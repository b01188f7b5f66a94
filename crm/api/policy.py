"""Policy delivery endpoints (API.md, "Service": ``/api/v1/policy-deliveries``).

Each endpoint loads, asks ``access.require`` (a record the caller may not see → 404, a write they may not make →
403: leaders change nothing), calls ``crm.service.policy``, commits once and serialises.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar

from flask import request
from pydantic import Field
from sqlalchemy.orm import joinedload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, number, page_of
from crm.api.loading import MAX_ID, NOT_FOUND, get_or_404
from crm.api.requests import RouteInput
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    Flag,
    Input,
    Msg,
    PageQuery,
    Parsed,
    Query,
    Shape,
    body,
    code,
    dump,
    one_of,
    operation,
    page_model,
    query,
)
from crm.core.access import Action, require
from crm.core.errors import DomainError, Forbidden, NotFound, ValidationFailed
from crm.core.parsing import parse_id
from crm.core.time import isoformat_local, local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import policy, routing
from crm.service.models import DeliveryStatus, PolicyKind
from crm.service.models import PolicyDelivery as PolicyDeliveryRow

KINDS = [k.value for k in PolicyKind]
STATUSES = [s.value for s in DeliveryStatus]


# --- shapes -------------------------------------------------------------------------------------------------

PolicyKindName = Annotated[one_of(KINDS), Field(description="政策类别(中文名称)", examples=["用地"])]


class PolicyDeliveryFields(Input):
    INVALID: ClassVar[str] = policy.INVALID
    kind: Parsed[PolicyKindName]
    promised: Parsed[str] = Field(description=f"承诺内容,最长{policy.MAX_PROMISED}字")
    amount: Parsed[float | str | None] = Field(None, description="金额,万元,不小于0,最多两位小数",
                                               examples=[120.5])
    promised_date: Parsed[date] = Field(description="承诺兑现日期")
    delivered_date: Parsed[date | None] = Field(None, description="兑现日期(不晚于今天);填写即为已兑现")
    evidence: Parsed[str] = Field("", description="佐证说明(文件号、到账凭证等);取消时写明原因;"
                                                  f"最长{policy.MAX_EVIDENCE}字")
    owner: Parsed[str | None] = Field(None, description="负责人用户名(须能办理该企业事项,不能是领导)")
    department: Parsed[str | None] = Field(None, description="责任单位名称", examples=["市工业和科学技术局"])


class PolicyDeliveryCreate(PolicyDeliveryFields):
    """登记政策兑现"""

    enterprise_id: Parsed[int] = Field(description="企业 id")


class PolicyDeliveryPatch(PolicyDeliveryFields):
    """只修改给出的字段。标记已兑现须有兑现日期;取消须在 evidence 中写明原因;改回待兑现会清除兑现日期"""

    kind: Parsed[PolicyKindName] = None
    promised: Parsed[str] = None
    promised_date: Parsed[date] = None
    status: Parsed[code(DeliveryStatus)] = None
    version: Parsed[int] = Field(None, description="过期则 409 stale,不写入任何内容")


class PolicyDelivery(Shape):
    """政策兑现记录"""

    id: int
    enterprise_id: int
    enterprise_name: str
    county: str = Field(examples=["汇川区"])
    kind: PolicyKindName
    promised: str
    amount: float | None = Field(description="万元")
    promised_date: DateStr
    delivered_date: DateStr | None
    status: code(DeliveryStatus) = Field(description="promised 待兑现 / delivered 已兑现 / cancelled 已取消")
    status_label: str = Field(examples=["待兑现"])
    late: bool = Field(description="逾期兑现:过了承诺日期仍未兑现,或晚于承诺日期兑现")
    evidence: str
    warnings: list[str] = Field(description="建议补充的内容(例如已兑现但未填写佐证),不影响保存")
    owner: str | None = Field(description="负责人用户名")
    department: str | None = Field(description="责任单位")
    version: int = Field(description="乐观锁版本,PATCH 时可回传")
    created_at: DateTimeStr
    updated_at: DateTimeStr

    @classmethod
    def of(cls, d: PolicyDeliveryRow, today: Any = None) -> PolicyDelivery:
        today = today or local_today()
        return cls(
            id=d.id, enterprise_id=d.enterprise_id, enterprise_name=d.enterprise.name,
            county=d.enterprise.county.name, kind=d.kind.value, promised=d.promised, amount=number(d.amount),
            promised_date=d.promised_date.isoformat(),
            delivered_date=d.delivered_date.isoformat() if d.delivered_date else None,
            status=d.status.value, status_label=d.status.label, late=policy.is_late(d, today),
            evidence=d.evidence or "", warnings=policy.warnings_of(d),
            owner=d.owner.username if d.owner else None, department=d.department.name if d.department else None,
            version=d.version, created_at=isoformat_local(d.created_at), updated_at=isoformat_local(d.updated_at))


class LateQuery(Query):
    late: Annotated[Flag, Msg("late 只能是 true 或 false")] = Field(None, description="只看逾期(true)或未逾期(false)")


class DeliveriesQuery(LateQuery, PageQuery):
    enterprise_id: int | None = Field(None, ge=1, description="企业 id")
    kind: PolicyKindName | None = None
    status: code(DeliveryStatus) | None = Field(None, description="状态")
    county: str = Field("", description="企业所在区县名称")
    department: str = Field("", description="责任单位名称(部门联络员只看到转办至本单位的记录)")


def delivery_json(d: PolicyDeliveryRow, today: Any = None) -> dict[str, Any]:
    return dump(PolicyDelivery.of(d, today))


# --- helpers -------------------------------------------------------------------------------------------------

def _load(delivery_id: int, action: Action) -> PolicyDeliveryRow:
    return get_or_404(PolicyDeliveryRow, delivery_id, action)


def _enterprise_for_create(value: Any) -> Enterprise:
    """The enterprise named in the body: a malformed id is 422; one the caller cannot see is 404, one they may
    see but not change is 403 (as if the enterprise were addressed by path)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationFailed(policy.INVALID, {"enterprise_id": "请填写企业 id(整数)"})
    enterprise_id = parse_id(value)
    if enterprise_id is None and not (str(value).strip().isascii() and str(value).strip().isdigit()):
        raise ValidationFailed(policy.INVALID, {"enterprise_id": "企业 id 必须是整数"})
    enterprise = db.session.get(Enterprise, enterprise_id) if enterprise_id is not None else None
    if enterprise is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), Action.EDIT, enterprise)
    return enterprise


def _list_args() -> dict[str, Any]:
    args = request.args
    fields: dict[str, str] = {}
    enterprise_id = None
    raw_id = args.get("enterprise_id", "").strip()
    if raw_id:
        enterprise_id = parse_id(raw_id)
        if enterprise_id is None:
            fields["enterprise_id"] = "enterprise_id 必须是正整数"
    if fields:
        raise DomainError("查询参数不正确", fields)
    return {"enterprise_id": enterprise_id, "kind": args.get("kind", "").strip(),
            "status": args.get("status", "").strip(), "late": query(LateQuery).late,
            "county": args.get("county", "").strip(), "department": args.get("department", "").strip()}


# --- endpoints -----------------------------------------------------------------------------------------------

@bp.get("/policy-deliveries")
@operation("调用者可见企业的政策兑现记录,承诺日期最新在前", ok=page_model(PolicyDelivery, "PolicyDeliveryPage"),
           query=DeliveriesQuery, errors=(422,))
def list_policy_deliveries():
    """Deliveries of the enterprises the caller may see, promised date newest first."""
    today = local_today()
    stmt = policy.deliveries_statement(current_user(), today=today, **_list_args()).options(
        joinedload(PolicyDeliveryRow.enterprise).joinedload(Enterprise.county),
        joinedload(PolicyDeliveryRow.owner),
        joinedload(PolicyDeliveryRow.department),
    )
    return page_of(stmt, lambda d: delivery_json(d, today))


@bp.post("/policy-deliveries")
@operation("登记政策兑现(有兑现日期即为已兑现);领导不可写", ok=PolicyDelivery, status=201,
           body=PolicyDeliveryCreate, errors=(403, 404, 409, 422))
def create_policy_delivery():
    user = current_user()
    data = body(PolicyDeliveryCreate)
    enterprise = _enterprise_for_create(data.get("enterprise_id"))
    delivery = policy.create_delivery(user, enterprise, {k: v for k, v in data.items() if k != "enterprise_id"})
    db.session.commit()
    return created(delivery_json(delivery), "api.get_policy_delivery", delivery_id=delivery.id)


@bp.get("/policy-deliveries/<int:delivery_id>")
@operation("一条政策兑现记录", ok=PolicyDelivery, errors=(404,))
def get_policy_delivery(delivery_id: int):
    return delivery_json(_load(delivery_id, Action.VIEW))


@bp.patch("/policy-deliveries/<int:delivery_id>")
@operation("修改政策兑现(部分字段,含标记已兑现、取消、改回待兑现)", ok=PolicyDelivery, body=PolicyDeliveryPatch,
           errors=(403, 404, 409, 422))
def patch_policy_delivery(delivery_id: int):
    """Partial update, status changes included; a stale ``version`` → 409 ``stale``, nothing written."""
    delivery = _load(delivery_id, Action.EDIT)
    data = body(PolicyDeliveryPatch)
    policy.update_delivery(current_user(), delivery, data)
    db.session.commit()
    return delivery_json(delivery)


@bp.post("/policy-deliveries/<int:delivery_id>/route")
@operation("转办或改派政策兑现至责任单位(管理员、协调员;区县协调员限本区县企业):审计、通知该单位的联络员",
           ok=PolicyDelivery, body=RouteInput, errors=(403, 404, 422))
def route_policy_delivery(delivery_id: int):
    """Route a 政策兑现 to a department with a note; the old department's liaisons lose it, the new one's gain
    it."""
    delivery = routing.lock_delivery(delivery_id) if delivery_id <= MAX_ID else None
    if delivery is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), Action.VIEW, delivery)  # 404 when the caller may not see it
    if not routing.may_route(current_user(), delivery):
        raise Forbidden(routing.NOT_ROUTER)
    data = body(RouteInput)
    routing.route_delivery(current_user(), delivery, data.get("department"), data.get("note"))
    db.session.commit()
    return delivery_json(delivery)
