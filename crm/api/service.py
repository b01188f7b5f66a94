"""Interaction and request endpoints (API.md, "Service"): 服务记录, 诉求 with their transitions, the ledger.

Each endpoint parses, loads the record, asks ``access.require`` (not visible → 404, visible but not editable —
a leader — → 403), calls :mod:`crm.service.interactions` / :mod:`crm.service.requests`, commits once and
serialises. Changes load their record with the service domain's lock helpers (``lock_interaction``,
``lock_request``; :mod:`crm.core.transactions`), so two clients writing at once queue instead of failing, and
the second one moving the same request gets 409 ``stale`` (it sent the old
``version``) or 409 ``illegal_transition`` (the status moved on), never a lost update.

Routes register on :data:`crm.api.bp` when this module is imported (``from crm.api import service`` in
``crm/api/__init__.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, request, url_for
from sqlalchemy.orm import selectinload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import json_body, page_of, reject_unknown
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
from crm.auth.models import SPECIALTY_LABELS, Specialty, User
from crm.core.access import Action, require
from crm.core.errors import DomainError, NotFound, ValidationFailed
from crm.core.parsing import parse_id
from crm.core.time import isoformat_local, local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from crm.service.ledger import XLSX_MIMETYPE, ledger_filename, ledger_xlsx
from crm.service.models import (
    CHANNEL_LABELS,
    Channel,
    Interaction,
    RequestCategory,
    RequestEvent,
    RequestStatus,
    ServiceRequest,
)

INTERACTION_CREATE_FIELDS = {"enterprise_id", *interaction_domain.FIELDS}
INTERACTION_PATCH_FIELDS = {*interaction_domain.FIELDS, "version"}
REQUEST_CREATE_FIELDS = {"enterprise_id", *request_domain.REQUEST_FIELDS}
TRANSITION_FIELDS = {"to", "note", "satisfaction", "version"}
BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
BAD_QUERY = "查询参数不正确"


# --- serialisers -------------------------------------------------------------------------------------------

def _username(user: User | None) -> str | None:
    return user.username if user is not None else None


def _display(user: User | None) -> str | None:
    return user.display_name if user is not None else None


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def interaction_json(item: Interaction) -> dict[str, Any]:
    return {
        "id": item.id,
        "enterprise_id": item.enterprise_id,
        "enterprise": item.enterprise.name,
        "date": item.occurred_on.isoformat(),
        "channel": item.channel.value,
        "channel_label": item.channel.label,
        "specialty": item.specialty.value,
        "specialty_label": item.specialty.label,
        "participants": item.participants,
        "summary": item.summary,
        "next_follow_up": _day(item.next_follow_up),
        "created_by": _username(item.created_by),
        "created_by_name": _display(item.created_by),
        "created_at": isoformat_local(item.created_at),
        "version": item.version,
    }


def event_json(event: RequestEvent) -> dict[str, Any]:
    return {
        "at": isoformat_local(event.at),
        "actor": _username(event.actor),
        "actor_name": _display(event.actor),
        "from": event.from_status.value if event.from_status else None,
        "to": event.to_status.value,
        "to_label": event.to_status.label,
        "note": event.note,
        "satisfaction": event.satisfaction,
    }


def request_json(req: ServiceRequest, *, with_events: bool = False) -> dict[str, Any]:
    data = {
        "id": req.id,
        "enterprise_id": req.enterprise_id,
        "enterprise": req.enterprise.name,
        "county": req.enterprise.county.name,
        "category": req.category.value,
        "description": req.description,
        "interaction_id": req.interaction_id,
        "owner": _username(req.owner),
        "owner_name": _display(req.owner),
        "department": req.department.name if req.department else None,
        "raised_on": req.raised_on.isoformat(),
        "due_date": req.due_date.isoformat(),
        "due_date_note": request_domain.due_note(req),
        "status": req.status.value,
        "status_label": req.status.label,
        "overdue": request_domain.is_overdue(req),
        "allowed_next": [s.value for s in request_domain.allowed_next(req)],
        "satisfaction": req.satisfaction,
        "resolved_at": isoformat_local(req.resolved_at),
        "closed_at": isoformat_local(req.closed_at),
        "created_by": _username(req.created_by),
        "created_at": isoformat_local(req.created_at),
        "updated_at": isoformat_local(req.updated_at),
        "version": req.version,
    }
    if with_events:
        data["events"] = [event_json(event) for event in req.events]
    return data


def _request_detail(req: ServiceRequest) -> dict[str, Any]:
    return request_json(req, with_events=True)


# --- parsing and loading -----------------------------------------------------------------------------------

def _query_id(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    number = parse_id(raw)
    if number is None:
        raise DomainError(BAD_QUERY, {name: f"{name} 必须是正整数"})
    return number


def _query_date(name: str, label: str):
    fields: dict[str, str] = {}
    value = interaction_domain.parse_date(request.args.get(name), name, fields, label=label)
    if fields:
        raise DomainError(BAD_QUERY, fields)
    return value


def _query_bool(name: str) -> bool | None:
    raw = request.args.get(name, "").strip().lower()
    if not raw:
        return None
    if raw not in BOOLS:
        raise DomainError(BAD_QUERY, {name: f"{name} 只能是 true 或 false"})
    return BOOLS[raw]


def _body_enterprise(data: dict[str, Any], action: Action) -> Enterprise:
    """The body's ``enterprise_id`` as an enterprise the caller may ``action``: 422 when missing or not an id,
    404 when it does not exist or the caller may not see it, 403 when they may see but not change it."""
    raw = data.get("enterprise_id")
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip().isascii() \
            or not str(raw).strip().isdigit():
        raise ValidationFailed("请求数据有误", {"enterprise_id": "请提供企业 id(正整数)"})
    enterprise_id = parse_id(raw)
    enterprise = db.session.get(Enterprise, enterprise_id) if enterprise_id is not None else None
    if enterprise is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), action, enterprise)
    return enterprise


def _found(obj: Any, action: Action) -> Any:
    if obj is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), action, obj)
    return obj


def _get(model: type, record_id: int, action: Action) -> Any:
    return _found(db.session.get(model, record_id) if record_id <= MAX_ID else None, action)


# --- interactions ------------------------------------------------------------------------------------------

@bp.get("/interactions")
def list_interactions():
    """服务记录 the caller may see, newest first; ``?enterprise_id=&commissioner=&since=&until=&page=``."""
    user = current_user()
    commissioner_id = None
    commissioner = request.args.get("commissioner", "").strip()
    if commissioner:
        commissioner_id = db.session.scalar(sa.select(User.id).where(User.username == commissioner)) or -1
    stmt = interaction_domain.interactions_statement(
        user, enterprise_id=_query_id("enterprise_id"), commissioner_id=commissioner_id,
        since=_query_date("since", "起始日期"), until=_query_date("until", "截止日期"),
    ).options(selectinload(Interaction.enterprise), selectinload(Interaction.created_by))
    return page_of(stmt, interaction_json)


@bp.post("/interactions")
def create_interaction():
    """Log a 服务记录 (201, with ``Location``)."""
    data = json_body()
    reject_unknown(data, INTERACTION_CREATE_FIELDS, interaction_domain.INVALID_MESSAGE)
    enterprise = _body_enterprise(data, Action.EDIT)
    interaction = interaction_domain.log_interaction(current_user(), enterprise, data)
    db.session.commit()
    location = url_for("api.get_interaction", interaction_id=interaction.id)
    return interaction_json(interaction), 201, {"Location": location}


@bp.get("/interactions/<int:interaction_id>")
def get_interaction(interaction_id: int):
    return interaction_json(_get(Interaction, interaction_id, Action.VIEW))


@bp.patch("/interactions/<int:interaction_id>")
def patch_interaction(interaction_id: int):
    """Correct a 服务记录 (only the fields sent); a stale ``version`` → 409, nothing written."""
    data = json_body()
    reject_unknown(data, INTERACTION_PATCH_FIELDS, interaction_domain.INVALID_MESSAGE)
    interaction = interaction_domain.lock_interaction(interaction_id) if interaction_id <= MAX_ID else None
    _found(interaction, Action.EDIT)
    interaction_domain.update_interaction(current_user(), interaction, data)
    db.session.commit()
    return interaction_json(interaction)


# --- requests ----------------------------------------------------------------------------------------------

def _request_filters() -> dict[str, Any]:
    statuses = [value.strip() for raw in request.args.getlist("status") for value in raw.split(",")
                if value.strip()]
    return {"status": statuses or None, "overdue": _query_bool("overdue"),
            "county": request.args.get("county", "").strip() or None,
            "category": request.args.get("category", "").strip() or None,
            "owner": request.args.get("owner", "").strip() or None,
            "enterprise_id": _query_id("enterprise_id")}


def _with_relations(stmt: sa.Select) -> sa.Select:
    return stmt.options(
        selectinload(ServiceRequest.enterprise).selectinload(Enterprise.county),
        selectinload(ServiceRequest.owner), selectinload(ServiceRequest.created_by),
        selectinload(ServiceRequest.department), selectinload(ServiceRequest.events),
    )


@bp.get("/requests")
def list_requests():
    """诉求 the caller may see, newest raised first; ``?status=&overdue=true&county=&category=&owner=
    &enterprise_id=&page=`` (``status`` may repeat or be comma-separated)."""
    stmt = request_domain.requests_statement(current_user(), **_request_filters())
    return page_of(_with_relations(stmt), request_json)


@bp.post("/requests")
def create_request():
    """Record a 诉求 (201, with ``Location``); ``due_date`` is computed in working days when absent."""
    data = json_body()
    reject_unknown(data, REQUEST_CREATE_FIELDS, request_domain.INVALID_MESSAGE)
    enterprise = _body_enterprise(data, Action.EDIT)
    req = request_domain.raise_request(current_user(), enterprise, data)
    db.session.commit()
    location = url_for("api.get_request", request_id=req.id)
    return _request_detail(req), 201, {"Location": location}


@bp.get("/requests/<int:request_id>")
def get_request(request_id: int):
    """One 诉求 with its timeline (``events``, oldest first)."""
    return _request_detail(_get(ServiceRequest, request_id, Action.VIEW))


@bp.post("/requests/<int:request_id>/transition")
def transition_request(request_id: int):
    """Move a 诉求 to ``to``; illegal → 409 ``illegal_transition`` naming the allowed statuses, stale
    ``version`` → 409 ``stale``; nothing written when refused."""
    data = json_body()
    reject_unknown(data, TRANSITION_FIELDS, "状态变更有误")
    if data.get("to") in (None, ""):
        raise ValidationFailed("状态变更有误", {"to": "请提供目标状态 to"})
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise ValidationFailed("状态变更有误", {"note": "说明必须是文本"})
    req = request_domain.lock_request(request_id) if request_id <= MAX_ID else None
    _found(req, Action.EDIT)
    request_domain.transition(current_user(), req, data["to"], note=note or "",
                              satisfaction=data.get("satisfaction"), version=data.get("version"))
    db.session.commit()
    return _request_detail(req)


@bp.get("/requests/export.xlsx")
def export_requests():
    """The 诉求台账 (XLSX) of every request the list would show with the same filters, oldest raised first."""
    stmt = request_domain.requests_statement(current_user(), **_request_filters())
    stmt = _with_relations(stmt.order_by(None).order_by(ServiceRequest.raised_on, ServiceRequest.id))
    data = ledger_xlsx(db.session.scalars(stmt))
    today = local_today()
    utf8_name = ledger_filename(today)
    disposition = (f"attachment; filename=\"requests_{today.strftime('%Y%m%d')}.xlsx\"; "
                   f"filename*=UTF-8''{quote(utf8_name)}")
    return Response(data, content_type=XLSX_MIMETYPE,
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})


# --- OpenAPI -----------------------------------------------------------------------------------------------

_TAGS = ["service"]
CHANNELS = [c.value for c in Channel]
SPECIALTIES = [s.value for s in Specialty]
STATUSES = [s.value for s in RequestStatus]
CATEGORIES = [c.value for c in RequestCategory]
INTERACTION_ID = path_param("interaction_id", "服务记录 id", {"type": "integer", "minimum": 1})
REQUEST_ID = path_param("request_id", "诉求 id", {"type": "integer", "minimum": 1})
_DATE = {"type": "string", "format": "date"}
_CHANNEL_TEXT = "、".join(f"{c.value} {CHANNEL_LABELS[c]}" for c in Channel)
_SPECIALTY_TEXT = "、".join(f"{s.value} {SPECIALTY_LABELS[s]}" for s in Specialty)
_TRANSITIONS_TEXT = ";".join(f"{s.value} → " + "/".join(t.value for t in targets)
                             for s, targets in request_domain.TRANSITIONS.items())

_INTERACTION_INPUT: dict[str, Any] = {
    "date": {**_DATE, "description": "服务日期,不晚于今天,不早于2000-01-01"},
    "channel": {"type": "string", "enum": CHANNELS, "description": _CHANNEL_TEXT},
    "specialty": {"type": "string", "enum": SPECIALTIES,
                  "description": f"服务领域({_SPECIALTY_TEXT});服务专员只能填本人的专长"},
    "participants": {"type": "string", "maxLength": interaction_domain.PARTICIPANTS_MAX, "description": "参与人员"},
    "summary": {"type": "string", "maxLength": interaction_domain.SUMMARY_MAX, "description": "服务内容摘要"},
    "next_follow_up": nullable("string", format="date", description="下次跟进日期,不早于服务日期"),
}
_USER_REF = nullable("string", description="用户名")

add_schemas({
    "Interaction": {
        "type": "object",
        "required": ["id", "enterprise_id", "date", "channel", "specialty", "summary", "version"],
        "properties": {
            "id": {"type": "integer"},
            "enterprise_id": {"type": "integer"},
            "enterprise": {"type": "string", "description": "企业名称"},
            **_INTERACTION_INPUT,
            "channel_label": {"type": "string", "example": "走访"},
            "specialty_label": {"type": "string", "example": "科技"},
            "created_by": _USER_REF,
            "created_by_name": nullable("string"),
            "created_at": {"type": "string", "format": "date-time"},
            "version": {"type": "integer", "description": "乐观锁版本,PATCH 时回传"},
        },
    },
    "InteractionCreate": {
        "type": "object",
        "required": ["enterprise_id", "date", "channel", "specialty", "summary"],
        "additionalProperties": False,
        "properties": {"enterprise_id": {"type": "integer", "minimum": 1}, **_INTERACTION_INPUT},
    },
    "InteractionPatch": {
        "type": "object",
        "additionalProperties": False,
        "description": "只修改给出的字段;服务专员只能修改本人登记的记录",
        "properties": {**_INTERACTION_INPUT,
                       "version": {"type": "integer", "description": "过期则 409(stale),不写入任何内容"}},
    },
    "InteractionPage": page_schema("Interaction"),
    "RequestEvent": {
        "type": "object",
        "required": ["at", "from", "to", "note"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "actor": _USER_REF,
            "actor_name": nullable("string"),
            "from": nullable("string", enum=[*STATUSES, None], description="首条为 null(登记)"),
            "to": {"type": "string", "enum": STATUSES},
            "to_label": {"type": "string", "example": "已受理"},
            "note": {"type": "string", "description": "说明;首条记录办理时限的计算方式"},
            "satisfaction": nullable("integer", minimum=1, maximum=5),
        },
    },
    "ServiceRequest": {
        "type": "object",
        "required": ["id", "enterprise_id", "category", "description", "raised_on", "due_date", "status",
                     "version"],
        "properties": {
            "id": {"type": "integer"},
            "enterprise_id": {"type": "integer"},
            "enterprise": {"type": "string", "description": "企业名称"},
            "county": {"type": "string", "description": "企业所在区县"},
            "category": {"type": "string", "enum": CATEGORIES},
            "description": {"type": "string"},
            "interaction_id": nullable("integer", description="来源服务记录"),
            "owner": _USER_REF,
            "owner_name": nullable("string"),
            "department": nullable("string", description="责任单位名称"),
            "raised_on": _DATE,
            "due_date": {**_DATE, "description": "办理时限"},
            "due_date_note": {"type": "string",
                              "description": "办理时限的计算说明;缺少节假日安排的年份会注明"
                                             "(如“2027年节假日安排尚未录入,暂按周一至周五计算工作日”)"},
            "status": {"type": "string", "enum": STATUSES},
            "status_label": {"type": "string", "example": "办理中"},
            "overdue": {"type": "boolean", "description": "未解决/办结且已过办理时限"},
            "allowed_next": {"type": "array", "items": {"type": "string", "enum": STATUSES},
                             "description": f"可变更为的状态({_TRANSITIONS_TEXT})"},
            "satisfaction": nullable("integer", minimum=1, maximum=5),
            "resolved_at": nullable("string", format="date-time"),
            "closed_at": nullable("string", format="date-time"),
            "created_by": _USER_REF,
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "version": {"type": "integer", "description": "乐观锁版本,状态变更时回传"},
        },
    },
    "ServiceRequestDetail": {
        "allOf": [ref("ServiceRequest"), {
            "type": "object", "required": ["events"],
            "properties": {"events": {"type": "array", "items": ref("RequestEvent"), "description": "时间线,最早在前"}},
        }],
    },
    "ServiceRequestCreate": {
        "type": "object",
        "required": ["enterprise_id", "category", "description"],
        "additionalProperties": False,
        "properties": {
            "enterprise_id": {"type": "integer", "minimum": 1},
            "category": {"type": "string", "enum": CATEGORIES},
            "description": {"type": "string", "maxLength": request_domain.DESCRIPTION_MAX},
            "interaction_id": nullable("integer", description="同一企业的服务记录"),
            "owner": nullable("string", description="负责人用户名;服务专员提出时默认本人;须能办理该企业"),
            "department": nullable("string", description="责任单位名称", example="市工业和科学技术局"),
            "raised_on": nullable("string", format="date", description="提出日期,默认今天"),
            "due_date": nullable("string", format="date",
                                 description="办理时限;不填则按类别的工作日时限(默认10个工作日)自动计算"),
        },
    },
    "RequestTransition": {
        "type": "object",
        "required": ["to"],
        "additionalProperties": False,
        "properties": {
            "to": {"type": "string", "enum": STATUSES, "description": _TRANSITIONS_TEXT},
            "note": {"type": "string", "maxLength": request_domain.NOTE_MAX,
                     "description": "说明;办结(回访情况)和重新办理时必填"},
            "satisfaction": nullable("integer", minimum=1, maximum=5,
                                     description="回访满意度;resolved → closed 时必填"),
            "version": {"type": "integer", "description": "过期则 409(stale),不写入任何内容"},
        },
    },
    "ServiceRequestPage": page_schema("ServiceRequest"),
})

_REQUEST_FILTERS = [
    query("status", "状态(可重复或逗号分隔)", {"type": "string", "enum": STATUSES}),
    query("overdue", "true:只看逾期;false:只看未逾期", {"type": "string", "enum": ["true", "false", "1", "0"]}),
    query("county", "区县名称"),
    query("category", "诉求类别", {"type": "string", "enum": CATEGORIES}),
    query("owner", "负责人用户名"),
    query("enterprise_id", "企业 id", {"type": "integer", "minimum": 1}),
]

add_paths({
    "/interactions": {
        "get": {
            "tags": _TAGS, "operationId": "listInteractions", "summary": "调用者可见的服务记录,最新在前",
            "parameters": [query("enterprise_id", "企业 id", {"type": "integer", "minimum": 1}),
                           query("commissioner", "登记人用户名"),
                           query("since", "服务日期起(含)", _DATE), query("until", "服务日期止(含)", _DATE),
                           *PAGE_PARAMS],
            "responses": {"200": ok("一页服务记录", ref("InteractionPage")), **errors(400, 401, 422)},
        },
        "post": {
            "tags": _TAGS, "operationId": "createInteraction", "summary": "登记服务记录",
            "requestBody": body(ref("InteractionCreate")),
            "responses": {
                "201": {**ok("已登记", ref("Interaction")),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "新记录的地址"}}},
                **errors(400, 401, 403, 404, 422),
            },
        },
    },
    "/interactions/{interaction_id}": {
        "parameters": [INTERACTION_ID],
        "get": {
            "tags": _TAGS, "operationId": "getInteraction", "summary": "一条服务记录",
            "responses": {"200": ok("服务记录", ref("Interaction")), **errors(401, 404)},
        },
        "patch": {
            "tags": _TAGS, "operationId": "patchInteraction", "summary": "修改服务记录(部分字段)",
            "requestBody": body(ref("InteractionPatch")),
            "responses": {"200": ok("修改后的服务记录", ref("Interaction")), **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/requests": {
        "get": {
            "tags": _TAGS, "operationId": "listServiceRequests", "summary": "调用者可见的诉求,按提出日期最新在前",
            "parameters": [*_REQUEST_FILTERS, *PAGE_PARAMS],
            "responses": {"200": ok("一页诉求", ref("ServiceRequestPage")), **errors(400, 401, 422)},
        },
        "post": {
            "tags": _TAGS, "operationId": "createServiceRequest", "summary": "登记诉求(办理时限不填则按工作日自动计算)",
            "requestBody": body(ref("ServiceRequestCreate")),
            "responses": {
                "201": {**ok("已登记(含时间线)", ref("ServiceRequestDetail")),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "新诉求的地址"}}},
                **errors(400, 401, 403, 404, 422),
            },
        },
    },
    "/requests/{request_id}": {
        "parameters": [REQUEST_ID],
        "get": {
            "tags": _TAGS, "operationId": "getServiceRequest", "summary": "一条诉求及其时间线",
            "responses": {"200": ok("诉求", ref("ServiceRequestDetail")), **errors(401, 404)},
        },
    },
    "/requests/{request_id}/transition": {
        "parameters": [REQUEST_ID],
        "post": {
            "tags": _TAGS, "operationId": "transitionServiceRequest",
            "summary": "变更诉求状态(非法变更 409 illegal_transition 并列出可变更的状态;版本过期 409 stale)",
            "requestBody": body(ref("RequestTransition")),
            "responses": {"200": ok("变更后的诉求(含时间线)", ref("ServiceRequestDetail")),
                          **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/requests/export.xlsx": {
        "get": {
            "tags": _TAGS, "operationId": "exportServiceRequests",
            "summary": "导出诉求台账 XLSX(序号、企业名称、区县、类别、诉求内容、负责人、责任单位、提出日期、办理时限、"
                       "状态、是否逾期、满意度、办结日期),筛选条件同列表",
            "parameters": _REQUEST_FILTERS,
            "responses": {"200": {"description": "文件", "headers": {"Content-Disposition": {
                "schema": {"type": "string"}, "description": "attachment; filename=…; filename*=UTF-8''…"}},
                "content": {XLSX_MIMETYPE: {"schema": {"type": "string", "format": "binary"}}}},
                **errors(400, 401, 422)},
        },
    },
})
