"""Policy delivery endpoints (API.md, "Service": ``/api/v1/policy-deliveries``).

Each endpoint loads, asks ``access.require`` (a record the caller may not see → 404, a write they may not make →
403: leaders change nothing), calls ``crm.service.policy``, commits once and serialises.
"""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from sqlalchemy.orm import joinedload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import json_body, number, page_of, reject_unknown
from crm.api.enterprises import MAX_ID, NOT_FOUND
from crm.api.openapi import (
    PAGE_PARAMS,
    add_paths,
    add_schemas,
    body,
    errors,
    nullable,
    ok,
    path_param,
    query,
    ref,
)
from crm.api.openapi import page_of as page_schema
from crm.core.access import Action, require
from crm.core.errors import DomainError, NotFound, ValidationFailed
from crm.core.parsing import parse_id
from crm.core.time import isoformat_local, local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import policy
from crm.service.models import DeliveryStatus, PolicyDelivery, PolicyKind

CREATE_FIELDS = {"enterprise_id", *policy.CREATE_FIELDS}
PATCH_FIELDS = {*policy.UPDATE_FIELDS, "version"}
BOOL_ARGS = {"": None, "1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
KINDS = [k.value for k in PolicyKind]
STATUSES = [s.value for s in DeliveryStatus]


# --- serialiser ----------------------------------------------------------------------------------------------

def delivery_json(d: PolicyDelivery, today: Any = None) -> dict[str, Any]:
    today = today or local_today()
    return {
        "id": d.id,
        "enterprise_id": d.enterprise_id,
        "enterprise_name": d.enterprise.name,
        "county": d.enterprise.county.name,
        "kind": d.kind.value,
        "promised": d.promised,
        "amount": number(d.amount),
        "promised_date": d.promised_date.isoformat(),
        "delivered_date": d.delivered_date.isoformat() if d.delivered_date else None,
        "status": d.status.value,
        "status_label": d.status.label,
        "late": policy.is_late(d, today),
        "evidence": d.evidence or "",
        "warnings": policy.warnings_of(d),
        "owner": d.owner.username if d.owner else None,
        "department": d.department.name if d.department else None,
        "version": d.version,
        "created_at": isoformat_local(d.created_at),
        "updated_at": isoformat_local(d.updated_at),
    }


# --- helpers -------------------------------------------------------------------------------------------------

def _load(delivery_id: int, action: Action) -> PolicyDelivery:
    delivery = db.session.get(PolicyDelivery, delivery_id) if delivery_id <= MAX_ID else None
    if delivery is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), action, delivery)
    return delivery


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
    late = args.get("late", "").strip().lower()
    if late not in BOOL_ARGS:
        fields["late"] = "late 只能是 true 或 false"
    if fields:
        raise DomainError("查询参数不正确", fields)
    return {"enterprise_id": enterprise_id, "kind": args.get("kind", "").strip(),
            "status": args.get("status", "").strip(), "late": BOOL_ARGS[late],
            "county": args.get("county", "").strip()}


# --- endpoints -----------------------------------------------------------------------------------------------

@bp.get("/policy-deliveries")
def list_policy_deliveries():
    """Deliveries of the enterprises the caller may see, promised date newest first."""
    today = local_today()
    stmt = policy.deliveries_statement(current_user(), today=today, **_list_args()).options(
        joinedload(PolicyDelivery.enterprise).joinedload(Enterprise.county),
        joinedload(PolicyDelivery.owner),
        joinedload(PolicyDelivery.department),
    )
    return page_of(stmt, lambda d: delivery_json(d, today))


@bp.post("/policy-deliveries")
def create_policy_delivery():
    user = current_user()
    data = json_body()
    reject_unknown(data, CREATE_FIELDS, policy.INVALID)
    enterprise = _enterprise_for_create(data.get("enterprise_id"))
    delivery = policy.create_delivery(user, enterprise, {k: v for k, v in data.items() if k != "enterprise_id"})
    db.session.commit()
    location = url_for("api.get_policy_delivery", delivery_id=delivery.id)
    return delivery_json(delivery), 201, {"Location": location}


@bp.get("/policy-deliveries/<int:delivery_id>")
def get_policy_delivery(delivery_id: int):
    return delivery_json(_load(delivery_id, Action.VIEW))


@bp.patch("/policy-deliveries/<int:delivery_id>")
def patch_policy_delivery(delivery_id: int):
    """Partial update, status changes included; a stale ``version`` → 409 ``stale``, nothing written."""
    delivery = _load(delivery_id, Action.EDIT)
    data = json_body()
    reject_unknown(data, PATCH_FIELDS, policy.INVALID)
    policy.update_delivery(current_user(), delivery, data)
    db.session.commit()
    return delivery_json(delivery)


# --- OpenAPI -------------------------------------------------------------------------------------------------

_TAGS = ["service"]
_INPUT_FIELDS: dict[str, Any] = {
    "kind": {"type": "string", "enum": KINDS, "description": "政策类别(中文名称)", "example": "用地"},
    "promised": {"type": "string", "maxLength": policy.MAX_PROMISED, "description": "承诺内容"},
    "amount": {"type": ["number", "string", "null"], "minimum": 0,
               "description": "金额,万元,不小于0,最多两位小数", "example": 120.5},
    "promised_date": {"type": "string", "format": "date", "description": "承诺兑现日期"},
    "delivered_date": nullable("string", format="date",
                               description="兑现日期(不晚于今天);填写即为已兑现"),
    "evidence": {"type": "string", "maxLength": policy.MAX_EVIDENCE,
                 "description": "佐证说明(文件号、到账凭证等);取消时写明原因"},
    "owner": nullable("string", description="负责人用户名(须能办理该企业事项,不能是领导)"),
    "department": nullable("string", description="责任单位名称", example="市工业和科学技术局"),
}

add_schemas({
    "PolicyDelivery": {
        "type": "object",
        "required": ["id", "enterprise_id", "kind", "promised", "amount", "promised_date", "delivered_date",
                     "status", "late", "evidence", "version"],
        "properties": {
            "id": {"type": "integer"},
            "enterprise_id": {"type": "integer"},
            "enterprise_name": {"type": "string"},
            "county": {"type": "string", "example": "汇川区"},
            "kind": _INPUT_FIELDS["kind"],
            "promised": {"type": "string"},
            "amount": nullable("number", description="万元"),
            "promised_date": {"type": "string", "format": "date"},
            "delivered_date": nullable("string", format="date"),
            "status": {"type": "string", "enum": STATUSES,
                       "description": "promised 待兑现 / delivered 已兑现 / cancelled 已取消"},
            "status_label": {"type": "string", "example": "待兑现"},
            "late": {"type": "boolean", "description": "逾期兑现:过了承诺日期仍未兑现,或晚于承诺日期兑现"},
            "evidence": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "string"},
                         "description": "建议补充的内容(例如已兑现但未填写佐证),不影响保存"},
            "owner": nullable("string", description="负责人用户名"),
            "department": nullable("string", description="责任单位"),
            "version": {"type": "integer", "description": "乐观锁版本,PATCH 时可回传"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
    },
    "PolicyDeliveryCreate": {
        "type": "object",
        "required": ["enterprise_id", "kind", "promised", "promised_date"],
        "additionalProperties": False,
        "properties": {"enterprise_id": {"type": "integer", "minimum": 1}, **_INPUT_FIELDS},
    },
    "PolicyDeliveryPatch": {
        "type": "object",
        "additionalProperties": False,
        "description": "只修改给出的字段。标记已兑现须有兑现日期;取消须在 evidence 中写明原因;"
                       "改回待兑现会清除兑现日期",
        "properties": {
            **_INPUT_FIELDS,
            "status": {"type": "string", "enum": STATUSES},
            "version": {"type": "integer", "description": "过期则 409 stale,不写入任何内容"},
        },
    },
    "PolicyDeliveryPage": page_schema("PolicyDelivery"),
})

_DELIVERY_ID = path_param("delivery_id", "政策兑现记录 id", {"type": "integer", "minimum": 1})

add_paths({
    "/policy-deliveries": {
        "get": {
            "tags": _TAGS, "operationId": "listPolicyDeliveries",
            "summary": "调用者可见企业的政策兑现记录,承诺日期最新在前",
            "parameters": [
                query("enterprise_id", "企业 id", {"type": "integer", "minimum": 1}),
                query("kind", "政策类别(中文名称)", {"type": "string", "enum": KINDS}),
                query("status", "状态", {"type": "string", "enum": STATUSES}),
                query("late", "只看逾期(true)或未逾期(false)",
                      {"type": "string", "enum": ["true", "false", "1", "0"]}),
                query("county", "企业所在区县名称"),
                *PAGE_PARAMS,
            ],
            "responses": {"200": ok("一页政策兑现记录", ref("PolicyDeliveryPage")), **errors(400, 401, 422)},
        },
        "post": {
            "tags": _TAGS, "operationId": "createPolicyDelivery",
            "summary": "登记政策兑现(有兑现日期即为已兑现);领导不可写",
            "requestBody": body(ref("PolicyDeliveryCreate")),
            "responses": {
                "201": {**ok("已登记", ref("PolicyDelivery")),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "新记录的地址"}}},
                **errors(400, 401, 403, 404, 422),
            },
        },
    },
    "/policy-deliveries/{delivery_id}": {
        "parameters": [_DELIVERY_ID],
        "get": {
            "tags": _TAGS, "operationId": "getPolicyDelivery", "summary": "一条政策兑现记录",
            "responses": {"200": ok("政策兑现", ref("PolicyDelivery")), **errors(400, 401, 404)},
        },
        "patch": {
            "tags": _TAGS, "operationId": "patchPolicyDelivery",
            "summary": "修改政策兑现(部分字段,含标记已兑现、取消、改回待兑现)",
            "requestBody": body(ref("PolicyDeliveryPatch")),
            "responses": {"200": ok("修改后的记录", ref("PolicyDelivery")),
                          **errors(400, 401, 403, 404, 409, 422)},
        },
    },
})
