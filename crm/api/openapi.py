"""The OpenAPI 3.1 document served at /api/v1/openapi.json (API.md: every endpoint, with its schemas).

Built as a plain dict. Modules that add endpoints describe them with :func:`add_paths` and :func:`add_schemas`
from their own file; tests/api/test_openapi.py fails for any /api/v1 route the document does not list.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import jsonify

from crm.api import bp
from crm.api.auth import public
from crm.enterprises.domain import SORTS
from crm.enterprises.models import EnterpriseStatus

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"


# --- building blocks ---------------------------------------------------------------------------------------

def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "description": description, "content": {JSON: {"schema": schema}}}


def ok(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {JSON: {"schema": schema}}
    return response


def errors(*statuses: int) -> dict[str, dict[str, str]]:
    """References to the shared error responses (every one has the Error body)."""
    return {str(status): {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"} for status in statuses}


def page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": ref(item)},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
        },
    }


def nullable(type_: str, **extra: Any) -> dict[str, Any]:
    return {"type": [type_, "null"], **extra}


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def path_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


ERROR_RESPONSES = {
    400: ("BadRequest", "请求格式不正确(不是 JSON 对象、查询或分页参数不正确)"),
    401: ("Unauthorized", "缺少、无效、过期或已撤销的访问令牌,或用户名/密码不正确"),
    403: ("Forbidden", "角色无权执行此操作(例如领导的任何写操作)"),
    404: ("NotFound", "记录不存在,或调用者无权查看(不泄露是否存在)"),
    409: ("Conflict", "冲突:重复的统一社会信用代码或名称、版本过期、记录已冻结"),
    422: ("Invalid", "字段值不正确,见 error.fields"),
    429: ("RateLimited", "登录失败次数过多,账号暂时锁定"),
}

PAGE_PARAMS = [
    {"$ref": "#/components/parameters/page"},
    {"$ref": "#/components/parameters/per_page"},
]
ENTERPRISE_ID = path_param("enterprise_id", "企业 id", {"type": "integer", "minimum": 1})


# --- schemas -----------------------------------------------------------------------------------------------

_ENTERPRISE_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 120, "description": "企业名称(规范化后唯一)"},
    "uscc": {"type": "string", "minLength": 18, "maxLength": 18,
             "description": "统一社会信用代码;小写与空格会被规范化,校验位必须正确", "example": "91520300000000001X"},
    "county": {"type": "string", "description": "区县名称", "example": "汇川区"},
    "park": nullable("string", description="园区名称(须在该区县)"),
    "cluster": {"type": "string", "description": "产业集群名称", "example": "航空航天装备"},
    "supply_category": nullable("string", description="配套类别名称", example="关键零部件"),
    "above_scale": {"type": "boolean", "description": "规模以上企业"},
    "main_products": {"type": "string", "maxLength": 2000},
    "settled_from_chengyu": {"type": "boolean", "description": "成渝企业落户;为真时须填 settled_on"},
    "settled_on": nullable("string", format="date"),
    "status": {"type": "string", "enum": [s.value for s in EnterpriseStatus]},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "example": "invalid"},
                    "message": {"type": "string", "description": "中文说明"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"},
                               "description": "字段名 → 中文说明"},
                },
            }
        },
    },
    "TokenRequest": {
        "type": "object",
        "required": ["username", "password"],
        "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}},
    },
    "Token": {
        "type": "object",
        "required": ["token", "expires_at"],
        "properties": {"token": {"type": "string"},
                       "expires_at": {"type": "string", "format": "date-time", "example": "2026-07-01T09:00:00+08:00"}},
    },
    "Contact": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "post": {"type": "string"},
                       "phone": {"type": "string"}},
    },
    "Figure": {
        "type": "object",
        "required": ["year", "output_value", "chengyu_output_value"],
        "properties": {"year": {"type": "integer", "minimum": 2000, "maximum": 2100},
                       "output_value": {"type": "number", "description": "产值,万元"},
                       "chengyu_output_value": {"type": "number", "description": "成渝配套产值,万元"}},
    },
    "FigureInput": {
        "type": "object",
        "required": ["output_value"],
        "additionalProperties": False,
        "properties": {
            "output_value": {"type": ["number", "string"], "minimum": 0, "description": "产值,万元,最多两位小数"},
            "chengyu_output_value": {"type": ["number", "string"], "minimum": 0, "default": 0,
                                     "description": "成渝配套产值,万元,不大于产值"},
        },
    },
    "PartnerLink": {
        "type": "object",
        "properties": {"partner": {"type": "string", "description": "成渝企业名称"}, "supplies": {"type": "string"}},
    },
    "Enterprise": {
        "type": "object",
        "required": ["id", "name", "uscc", "county", "cluster", "version", "created_at", "updated_at"],
        "properties": {
            "id": {"type": "integer"},
            **_ENTERPRISE_FIELDS,
            "is_demo": {"type": "boolean", "description": "演示数据"},
            "version": {"type": "integer", "description": "乐观锁版本,PATCH 时可回传"},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
            "contacts": {"type": "array", "items": ref("Contact")},
            "figures": {"type": "array", "items": ref("Figure")},
            "partners": {"type": "array", "items": ref("PartnerLink")},
        },
    },
    "EnterpriseCreate": {
        "type": "object",
        "required": ["name", "uscc", "county", "cluster"],
        "additionalProperties": False,
        "properties": dict(_ENTERPRISE_FIELDS),
    },
    "EnterprisePatch": {
        "type": "object",
        "additionalProperties": False,
        "description": "只修改给出的字段",
        "properties": {**_ENTERPRISE_FIELDS,
                       "version": {"type": "integer", "description": "过期则 409,不写入任何内容"}},
    },
    "HistoryEntry": {
        "type": "object",
        "required": ["at", "actor", "entity_type", "entity_id", "action", "summary", "changes"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "entity_type": {"type": "string", "example": "enterprise"},
            "entity_id": {"type": "integer"},
            "action": {"type": "string", "example": "update"},
            "summary": {"type": "string"},
            "changes": {"type": "object", "description": "字段 → [旧值, 新值]",
                        "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2}},
        },
    },
    "EnterprisePage": page_of("Enterprise"),
    "HistoryPage": page_of("HistoryEntry"),
}


# --- paths (relative to the server URL /api/v1) ------------------------------------------------------------

PATHS: dict[str, dict[str, Any]] = {
    "/auth/token": {
        "post": {
            "tags": ["auth"], "operationId": "issueToken", "summary": "用用户名和密码换取访问令牌",
            "security": [],
            "requestBody": body(ref("TokenRequest")),
            "responses": {"201": ok("令牌(只显示这一次)", ref("Token")), **errors(400, 401, 422, 429)},
        },
        "delete": {
            "tags": ["auth"], "operationId": "revokeToken", "summary": "撤销本次请求所用的令牌",
            "responses": {"204": ok("已撤销"), **errors(401)},
        },
    },
    "/enterprises": {
        "get": {
            "tags": ["enterprises"], "operationId": "listEnterprises", "summary": "调用者可见的企业列表",
            "parameters": [
                query("q", "名称、拼音首字母或统一社会信用代码片段"),
                query("county", "区县名称"),
                query("cluster", "产业集群名称"),
                query("supply_category", "配套类别名称"),
                query("above_scale", "是否规上", {"type": "string", "enum": ["true", "false", "1", "0"]}),
                query("roster", "名单类型(supplier_list / cultivation_pool)"),
                query("sort", "排序", {"type": "string", "enum": list(SORTS), "default": "name"}),
                *PAGE_PARAMS,
            ],
            "responses": {"200": ok("一页企业", ref("EnterprisePage")), **errors(400, 401, 422)},
        },
        "post": {
            "tags": ["enterprises"], "operationId": "createEnterprise", "summary": "新建企业档案(管理员、协调员)",
            "requestBody": body(ref("EnterpriseCreate")),
            "responses": {
                "201": {**ok("已创建", ref("Enterprise")),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "新企业的地址"}}},
                **errors(400, 401, 403, 409, 422),
            },
        },
    },
    "/enterprises/{enterprise_id}": {
        "parameters": [ENTERPRISE_ID],
        "get": {
            "tags": ["enterprises"], "operationId": "getEnterprise", "summary": "企业档案",
            "responses": {"200": ok("企业", ref("Enterprise")), **errors(400, 401, 404)},
        },
        "patch": {
            "tags": ["enterprises"], "operationId": "patchEnterprise", "summary": "修改企业档案(部分字段)",
            "requestBody": body(ref("EnterprisePatch")),
            "responses": {"200": ok("修改后的企业", ref("Enterprise")), **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/enterprises/{enterprise_id}/figures/{year}": {
        "parameters": [ENTERPRISE_ID, path_param("year", "年份", {"type": "integer", "minimum": 2000,
                                                                "maximum": 2100})],
        "put": {
            "tags": ["enterprises"], "operationId": "putFigure", "summary": "录入或修改某年产值(万元)",
            "requestBody": body(ref("FigureInput")),
            "responses": {"200": ok("已修改", ref("Figure")), "201": ok("已录入", ref("Figure")),
                          **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/enterprises/{enterprise_id}/history": {
        "parameters": [ENTERPRISE_ID],
        "get": {
            "tags": ["enterprises"], "operationId": "enterpriseHistory", "summary": "企业的审计记录,最新在前",
            "parameters": PAGE_PARAMS,
            "responses": {"200": ok("一页审计记录", ref("HistoryPage")), **errors(400, 401, 404)},
        },
    },
    "/openapi.json": {
        "get": {
            "tags": ["meta"], "operationId": "openapi", "summary": "本文档", "security": [],
            "responses": {"200": ok("OpenAPI 文档", {"type": "object"})},
        },
    },
}


def add_schemas(schemas: dict[str, Any]) -> None:
    """Register component schemas from another API module (names must be new)."""
    clash = set(schemas) & set(SCHEMAS)
    if clash:
        raise ValueError(f"OpenAPI schema already defined: {sorted(clash)}")
    SCHEMAS.update(schemas)


def add_paths(paths: dict[str, dict[str, Any]]) -> None:
    """Register path items from another API module (paths relative to /api/v1, operations must be new)."""
    for path, item in paths.items():
        existing = PATHS.setdefault(path, {})
        clash = set(item) & set(existing) - {"parameters"}
        if clash:
            raise ValueError(f"OpenAPI operation already defined: {path} {sorted(clash)}")
        existing.update(item)


def document() -> dict[str, Any]:
    """The whole document; a copy, so a caller cannot change the registered one."""
    return copy.deepcopy({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "遵义市融入成渝地区双城经济圈 企业培育服务系统 API",
            "version": "1",
            "description": "JSON 输入输出(UTF-8,中文不转义)。日期 YYYY-MM-DD,时间为带 +08:00 的 ISO 8601。"
                           "参考值(区县、产业集群、配套类别等)以中文名称传递。列表分页:page、per_page(最大200)。",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": "auth"}, {"name": "enterprises"}, {"name": "meta"}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "POST /auth/token 取得的令牌:Authorization: Bearer <令牌>"},
            },
            "parameters": {
                "page": {"name": "page", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "default": 1}},
                "per_page": {"name": "per_page", "in": "query", "required": False,
                             "schema": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}},
            },
            "responses": {
                name: {"description": text, "content": {JSON: {"schema": ref("Error")}}}
                for name, text in ERROR_RESPONSES.values()
            },
            "schemas": SCHEMAS,
        },
    })


@bp.get("/openapi.json")
@public
def openapi_json():
    return jsonify(document())
