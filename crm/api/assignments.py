"""Assignment endpoints (API.md, "Service"): one commissioner per enterprise and specialty, the history, the
coverage of the listed enterprises and the suggestion. Parse, load, check, call ``crm.service.assignments``,
commit, serialise.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import json_body, page_of, reject_unknown
from crm.api.openapi import ENTERPRISE_ID, PAGE_PARAMS, add_paths, add_schemas, body, errors, nullable, ok, path_param
from crm.api.openapi import page_of as page_schema
from crm.api.openapi import query as query_param
from crm.api.openapi import ref as schema_ref
from crm.auth.models import Specialty, User
from crm.core.access import Action, require
from crm.core.errors import NotFound, ValidationFailed
from crm.core.pagination import parse_page_args
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters.models import RosterKind
from crm.service import assignments as domain
from crm.service import coverage as coverage_domain
from crm.service.interactions import parse_date
from crm.service.models import Assignment

NOT_FOUND = "记录不存在或您无权查看"  # the same words as access.require, so 404s do not differ
MAX_ID = 2**31 - 1
PUT_FIELDS = {"commissioner", "started_on"}
END_FIELDS = {"reason"}


# --- serialisers -------------------------------------------------------------------------------------------

def assignment_json(a: Assignment) -> dict[str, Any]:
    return {
        "id": a.id,
        "enterprise_id": a.enterprise_id,
        "specialty": a.specialty.value,
        "specialty_label": a.specialty.label,
        "commissioner": a.commissioner.username,
        "commissioner_name": a.commissioner.display_name,
        "started_on": a.started_on.isoformat(),
        "ended_on": a.ended_on.isoformat() if a.ended_on else None,
        "end_reason": a.end_reason or "",
    }


def _cell_json(a: coverage_domain.CoverageCell | None) -> dict[str, Any] | None:
    if a is None:
        return None
    return {"commissioner": a.commissioner.username, "commissioner_name": a.commissioner.display_name,
            "started_on": a.started_on.isoformat()}


def coverage_json(row: coverage_domain.CoverageRow) -> dict[str, Any]:
    e = row.enterprise
    return {
        "enterprise_id": e.id,
        "name": e.name,
        "uscc": e.uscc,
        "county": e.county.name,
        "cluster": e.cluster.name,
        "lists": [k.value for k in row.lists],
        "assignments": {s.value: _cell_json(row.cells[s]) for s in domain.SPECIALTIES},
        "gaps": [s.value for s in row.gaps],
    }


def _user_json(user: User, load: int | None = None) -> dict[str, Any]:
    return {"username": user.username, "display_name": user.display_name,
            "county": user.county.name if user.county else None,
            "active_assignments": domain.active_count(user) if load is None else load}


# --- helpers -----------------------------------------------------------------------------------------------

def _load_enterprise(enterprise_id: int) -> Enterprise:
    """The enterprise if the caller may see it (404 otherwise, whether or not it exists)."""
    enterprise = db.session.get(Enterprise, enterprise_id) if enterprise_id <= MAX_ID else None
    if enterprise is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), Action.VIEW, enterprise)
    return enterprise


def _specialty_in_path(value: str) -> Specialty:
    specialty = domain.parse_specialty(value)
    if specialty is None:
        raise NotFound(f"未知专长:{value[:40]}(可选 tech、finance、legal、media、talent)")
    return specialty


def _date(value: Any, field_name: str) -> date | None:
    if value is None:
        return None
    fields: dict[str, str] = {}
    day = parse_date(value if isinstance(value, str) else None, field_name, fields, label="日期") \
        if isinstance(value, str) else None
    if day is None:
        raise ValidationFailed("日期格式不正确", fields or {field_name: "日期格式应为 YYYY-MM-DD"})
    return day


def _optional_body() -> dict[str, Any]:
    """DELETE may come without a body; one that is there must be a JSON object."""
    return json_body() if request.get_data(cache=True) else {}


# --- endpoints ---------------------------------------------------------------------------------------------

@bp.put("/enterprises/<int:enterprise_id>/assignments/<specialty>")
def put_assignment(enterprise_id: int, specialty: str):
    """Assign (or hand over) the enterprise's commissioner of one specialty; the same one again changes nothing."""
    enterprise = _load_enterprise(enterprise_id)
    spec = _specialty_in_path(specialty)
    user = current_user()
    domain.require_assign(user, enterprise)
    data = json_body()
    reject_unknown(data, PUT_FIELDS, "分配数据有误")
    commissioner = domain.commissioner_by_username(data.get("commissioner"))
    start = _date(data.get("started_on"), "started_on")
    row = domain.assign(user, enterprise, spec, commissioner, start=start)
    db.session.commit()
    return assignment_json(row)


@bp.get("/enterprises/<int:enterprise_id>/assignments")
def list_assignments(enterprise_id: int):
    """Every assignment of the enterprise, active (``ended_on`` null) and ended, newest first."""
    enterprise = _load_enterprise(enterprise_id)
    return page_of(domain.history_statement(enterprise.id), assignment_json)


@bp.delete("/enterprises/<int:enterprise_id>/assignments/<specialty>")
def end_assignment(enterprise_id: int, specialty: str):
    """End the active assignment of one specialty, with a reason; its commissioner is told."""
    enterprise = _load_enterprise(enterprise_id)
    spec = _specialty_in_path(specialty)
    user = current_user()
    domain.require_assign(user, enterprise)
    data = _optional_body()
    reject_unknown(data, END_FIELDS, "结束分配的数据有误")
    current = domain.active_for(enterprise, spec)
    if current is None:
        raise NotFound(f"该企业当前没有{spec.label}服务专员")
    domain.end_assignment(user, current, data.get("reason"))
    db.session.commit()
    return "", 204


@bp.get("/assignments/coverage")
def coverage():
    """Listed enterprises the caller may see × the five specialties; ``null`` marks a gap."""
    args = request.args
    filters = {name: args.get(name, "") for name in ("roster", "county", "cluster", "missing")}
    # a bad filter is refused (422) before a bad page (400)
    coverage_domain.coverage_statement(current_user(), **filters)
    page, per_page = parse_page_args(args)
    result = coverage_domain.coverage_page(current_user(), page, per_page, **filters)
    return {"items": [coverage_json(row) for row in result.page.items], "total": result.page.total,
            "page": result.page.page, "per_page": result.page.per_page,
            "gap_counts": {s.value: n for s, n in result.gap_counts.items()}}


@bp.get("/assignments/suggestion")
def suggestion():
    """Whom to assign: the specialty's commissioner with the fewest active assignments, same county first."""
    args = request.args
    raw_id = args.get("enterprise_id", "").strip()
    fields: dict[str, str] = {}
    if not (raw_id.isascii() and raw_id.isdigit()) or not 0 < int(raw_id) <= MAX_ID:
        fields["enterprise_id"] = "请提供企业 id(正整数)"
    spec = domain.parse_specialty(args.get("specialty", ""))
    if spec is None:
        fields["specialty"] = "专长应为 tech、finance、legal、media 或 talent"
    if fields:
        raise ValidationFailed("查询参数不正确", fields)
    enterprise = _load_enterprise(int(raw_id))
    domain.require_assign(current_user(), enterprise)
    found = domain.candidates(enterprise, spec)
    best = next((c for c in found if not c.at_cap), None)
    current = domain.active_for(enterprise, spec)
    return {
        "enterprise_id": enterprise.id,
        "specialty": spec.value,
        "cap": domain.cap(),
        "commissioner": _user_json(best.user, best.load) if best else None,
        "current": current.commissioner.username if current else None,
        "candidates": len(found),
    }


# --- OpenAPI -----------------------------------------------------------------------------------------------

SPECIALTY_CODES = [s.value for s in Specialty]
SPECIALTY_PARAM = path_param("specialty", "专长:tech 科技、finance 融资、legal 法务、media 媒体、talent 人才;"
                                          "未知专长返回 404", {"type": "string", "enum": SPECIALTY_CODES})
_CELL = {
    "oneOf": [{"type": "null"}, {
        "type": "object",
        "required": ["commissioner", "commissioner_name", "started_on"],
        "properties": {"commissioner": {"type": "string", "description": "用户名"},
                       "commissioner_name": {"type": "string"},
                       "started_on": {"type": "string", "format": "date"}},
    }],
    "description": "该专长的在岗服务专员;null 表示缺口(未分配)",
}

add_schemas({
    "Assignment": {
        "type": "object",
        "required": ["specialty", "commissioner", "started_on", "ended_on"],
        "properties": {
            "id": {"type": "integer"},
            "enterprise_id": {"type": "integer"},
            "specialty": {"type": "string", "enum": SPECIALTY_CODES},
            "specialty_label": {"type": "string", "example": "科技"},
            "commissioner": {"type": "string", "description": "服务专员用户名"},
            "commissioner_name": {"type": "string", "description": "服务专员姓名"},
            "started_on": {"type": "string", "format": "date"},
            "ended_on": nullable("string", format="date", description="在岗时为 null"),
            "end_reason": {"type": "string", "description": "结束原因(交接、已移出名单或填写的原因)"},
        },
    },
    "AssignmentPut": {
        "type": "object",
        "required": ["commissioner"],
        "additionalProperties": False,
        "properties": {
            "commissioner": {"type": "string", "description": "服务专员用户名:须为在用的服务专员、具备该专长、"
                                                              "不限区县或与企业同区县,且未达分配上限"},
            "started_on": {"type": "string", "format": "date", "description": "开始日期,默认今天,不能晚于今天"},
        },
    },
    "AssignmentEnd": {
        "type": "object",
        "required": ["reason"],
        "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": domain.MAX_REASON, "description": "结束原因"}},
    },
    "AssignmentPage": page_schema("Assignment"),
    "CoverageRow": {
        "type": "object",
        "required": ["enterprise_id", "name", "county", "cluster", "lists", "assignments", "gaps"],
        "properties": {
            "enterprise_id": {"type": "integer"},
            "name": {"type": "string"},
            "uscc": {"type": "string"},
            "county": {"type": "string"},
            "cluster": {"type": "string"},
            "lists": {"type": "array", "items": {"type": "string", "enum": [k.value for k in RosterKind]},
                      "description": "所在的当前已发布名单"},
            "assignments": {"type": "object", "properties": {code: _CELL for code in SPECIALTY_CODES}},
            "gaps": {"type": "array", "items": {"type": "string", "enum": SPECIALTY_CODES}},
        },
    },
    "CoveragePage": {
        **page_schema("CoverageRow"),
        "required": ["items", "total", "page", "per_page", "gap_counts"],
        "properties": {
            **page_schema("CoverageRow")["properties"],
            "gap_counts": {"type": "object", "description": "各专长的缺口数(全部筛选结果,不只本页)",
                           "properties": {code: {"type": "integer", "minimum": 0} for code in SPECIALTY_CODES}},
        },
    },
    "AssignmentSuggestion": {
        "type": "object",
        "required": ["enterprise_id", "specialty", "cap", "commissioner", "current"],
        "properties": {
            "enterprise_id": {"type": "integer"},
            "specialty": {"type": "string", "enum": SPECIALTY_CODES},
            "cap": {"type": "integer", "description": "每名服务专员的在岗分配上限"},
            "commissioner": {
                "oneOf": [{"type": "null"}, {
                    "type": "object",
                    "properties": {"username": {"type": "string"}, "display_name": {"type": "string"},
                                   "county": nullable("string", description="所属区县,null 为全市"),
                                   "active_assignments": {"type": "integer"}},
                }],
                "description": "建议人选;无人可选(无该专长或均已达上限)时为 null",
            },
            "current": nullable("string", description="现任服务专员用户名"),
            "candidates": {"type": "integer", "description": "可服务该企业的该专长服务专员人数(含已达上限者)"},
        },
    },
})

add_paths({
    "/enterprises/{enterprise_id}/assignments": {
        "parameters": [ENTERPRISE_ID],
        "get": {
            "tags": ["service"], "operationId": "listAssignments",
            "summary": "企业的服务专员分配(含历史,在岗者 ended_on 为 null),最新在前",
            "parameters": PAGE_PARAMS,
            "responses": {"200": ok("一页分配记录", schema_ref("AssignmentPage")), **errors(400, 401, 404)},
        },
    },
    "/enterprises/{enterprise_id}/assignments/{specialty}": {
        "parameters": [ENTERPRISE_ID, SPECIALTY_PARAM],
        "put": {
            "tags": ["service"], "operationId": "putAssignment",
            "summary": "分配或交接某专长的服务专员(管理员、协调员;同一人重复分配不变)",
            "requestBody": body(schema_ref("AssignmentPut")),
            "responses": {"200": ok("在岗的分配", schema_ref("Assignment")),
                          **errors(400, 401, 403, 404, 409, 422)},
        },
        "delete": {
            "tags": ["service"], "operationId": "endAssignment", "summary": "结束某专长的在岗分配(需填写原因)",
            "requestBody": body(schema_ref("AssignmentEnd")),
            "responses": {"204": ok("已结束"), **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/assignments/coverage": {
        "get": {
            "tags": ["service"], "operationId": "assignmentCoverage",
            "summary": "名单企业 × 五类服务专员的覆盖情况(调用者可见的企业)",
            "parameters": [
                query_param("roster", "名单类型;不填为任一当前已发布名单",
                            {"type": "string", "enum": [k.value for k in RosterKind]}),
                query_param("county", "区县名称"),
                query_param("cluster", "产业集群名称"),
                query_param("missing", "只看缺口:any 或某一专长",
                            {"type": "string", "enum": ["any", *SPECIALTY_CODES]}),
                *PAGE_PARAMS,
            ],
            "responses": {"200": ok("覆盖情况", schema_ref("CoveragePage")), **errors(400, 401, 422)},
        },
    },
    "/assignments/suggestion": {
        "get": {
            "tags": ["service"], "operationId": "assignmentSuggestion",
            "summary": "建议的服务专员:该专长在岗分配最少者,同区县优先,不超过上限(管理员、协调员)",
            "parameters": [
                {**query_param("enterprise_id", "企业 id", {"type": "integer", "minimum": 1}), "required": True},
                {**query_param("specialty", "专长", {"type": "string", "enum": SPECIALTY_CODES}), "required": True},
            ],
            "responses": {"200": ok("建议", schema_ref("AssignmentSuggestion")), **errors(401, 403, 404, 422)},
        },
    },
})
