"""The OpenAPI 3.1 document served at /api/v1/openapi.json, generated from the routes and their models.

Each API view declares itself with :func:`operation` (summary, request model, response models, error statuses);
paths, path parameters, the bearer requirement and the component schemas (the pydantic models of
crm/api/schema.py) are read from the app. Nothing here is written by hand per endpoint.

With ``API_VALIDATE_RESPONSES`` (the testing configuration) every JSON answer under /api/ is checked against
the document, so a response that drifts from its declaration fails the test that received it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Flask, current_app, jsonify, request
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic.json_schema import models_json_schema

from crm.api import bp
from crm.api.auth import public
from crm.api.schema import Error, File, Operation, Query, operation

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
REF = "#/components/schemas/{model}"
METHODS = ("get", "put", "post", "delete", "patch")
ERROR_RESPONSES = {
    400: ("BadRequest", "请求格式不正确(不是 JSON 对象、查询或分页参数不正确)"),
    401: ("Unauthorized", "缺少、无效、过期或已撤销的访问令牌,或用户名/密码不正确"),
    403: ("Forbidden", "角色无权执行此操作(例如领导的任何写操作)"),
    404: ("NotFound", "记录不存在,或调用者无权查看(不泄露是否存在)"),
    409: ("Conflict", "冲突:重复的统一社会信用代码或名称、版本过期、记录已冻结"),
    413: ("TooLarge", "上传的文件超过大小上限(MAX_CONTENT_LENGTH),见 error.fields.file"),
    422: ("Invalid", "字段值不正确,见 error.fields"),
    429: ("RateLimited", "登录失败次数过多,账号暂时锁定"),
    503: ("Unavailable", "数据库暂时无法连接(重启或维护中),请按 Retry-After 稍后重试"),
}
TAGS = {"assignments": "service", "policy": "service", "interactions": "service", "requests": "service",
        "roster_files": "rosters", "openapi": "meta"}
_RULE_ARG = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


# --- the document ----------------------------------------------------------------------------------------------

def _openapi_path(rule: str) -> str:
    return _RULE_ARG.sub(r"{\2}", rule[len(bp.url_prefix or ""):])


def _api_operations(app: Flask):
    """(path, method, view, operation, rule) for every API route, in URL-map order."""
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(f"{bp.name}."):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(m.lower() for m in rule.methods or ()):
            if method in METHODS:
                yield _openapi_path(rule.rule), method, view, getattr(view, "api_operation", None), rule


def _schema_of(tp: Any) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(ref_template=REF)
    schema.pop("title", None)
    return schema


def _path_params(rule: Any, op: Operation) -> list[dict[str, Any]]:
    params = []
    for converter, name in _RULE_ARG.findall(rule.rule):
        if name in op.params:
            schema = _schema_of(op.params[name])
        elif converter == "int":
            schema = {"type": "integer", "minimum": 1}
        else:
            schema = {"type": "string"}
        description = schema.pop("description", name)
        params.append({"name": name, "in": "path", "required": True, "description": description, "schema": schema})
    return params


def _query_params(model: type[Query]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        prop.pop("title", None)
        description = prop.pop("description", "")
        params.append({"name": name, "in": "query", "required": name in required, "description": description,
                       "schema": prop})
    return params


def _content(kind: Any, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if isinstance(kind, File):
        return {kind.mimetype: {"schema": {"type": "string", "format": "binary"}}}
    return {JSON: {"schema": refs[(kind, "serialization")]}}


def _response(status: int, kind: Any, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if status >= 400:
        if kind is None:
            return {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}
        return {"description": ERROR_RESPONSES[status][1], "content": _content(kind, refs)}
    if kind is None:
        return {"description": "无内容"}
    answer: dict[str, Any] = {"description": (kind.__doc__ or "").strip().split("\n")[0] if isinstance(kind, type)
                              else "文件", "content": _content(kind, refs)}
    if status == 201:
        answer["headers"] = {"Location": {"schema": {"type": "string"}, "description": "新记录的地址"}}
    if isinstance(kind, File):
        answer["headers"] = {"Content-Disposition": {"schema": {"type": "string"},
                                                     "description": "attachment; filename=…; filename*=UTF-8''…"}}
    return answer


def build_document(app: Flask) -> dict[str, Any]:
    found = list(_api_operations(app))
    models: set[tuple[type[BaseModel], str]] = {(Error, "serialization")}
    for *_, op, _rule in found:
        if op is None:
            continue
        models |= {(kind, "serialization") for kind in op.responses.values() if isinstance(kind, type)}
        models |= {(model, "validation") for model in (op.body, op.multipart) if model is not None}
    ordered = sorted(models, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, top = models_json_schema(ordered, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for path, method, view, op, rule in found:
        if op is None:
            continue  # tests/api/test_openapi.py fails on an undeclared route
        # 400 (malformed), 401 (no token) and 503 (database unreachable) can answer anywhere; 403 wherever a token
        # is needed (a department liaison is refused every endpoint outside their routed records).
        statuses = {400: None, **({} if getattr(view, "api_public", False) else {401: None, 403: None}), 503: None,
                    **dict.fromkeys(op.errors), **op.responses}
        entry: dict[str, Any] = {
            "tags": [TAGS.get(view.__module__.rsplit(".", 1)[-1], view.__module__.rsplit(".", 1)[-1])],
            "operationId": view.__name__,
            "summary": op.summary,
            "parameters": _query_params(op.query) if op.query else [],
            "responses": {str(status): _response(status, kind, refs) for status, kind in sorted(statuses.items())},
        }
        if op.description:
            entry["description"] = op.description
        if op.body is not None:
            entry["requestBody"] = {"required": op.body_required,
                                    "content": {JSON: {"schema": refs[(op.body, "validation")]}}}
        if op.multipart is not None:
            entry["requestBody"] = {"required": True, "content": {
                "multipart/form-data": {"schema": refs[(op.multipart, "validation")]}}}
        if getattr(view, "api_public", False):
            entry["security"] = []
        if not entry["parameters"]:
            del entry["parameters"]
        item = paths.setdefault(path, {})
        if _RULE_ARG.search(rule.rule) and "parameters" not in item:
            item["parameters"] = _path_params(rule, op)  # the path's, shared by its operations
        item[method] = entry
    error_ref = refs[(Error, "serialization")]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "遵义市融入成渝地区双城经济圈 企业培育服务系统 API",
            "version": "1",
            "description": "JSON 输入输出(UTF-8,中文不转义)。日期 YYYY-MM-DD,时间为带 +08:00 的 ISO 8601。"
                           "参考值(区县、产业集群、配套类别等)以中文名称传递。列表分页:page、per_page(最大200)。",
        },
        "servers": [{"url": bp.url_prefix}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in sorted({op["tags"][0] for item in paths.values()
                                                    for method, op in item.items() if method in METHODS})],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "POST /auth/token 取得的令牌:Authorization: Bearer <令牌>"},
            },
            "responses": {name: {"description": text, "content": {JSON: {"schema": error_ref}}}
                          for name, text in ERROR_RESPONSES.values()},
            "schemas": top.get("$defs", {}),
        },
    }


def document(app: Flask | None = None) -> dict[str, Any]:
    """The document of ``app`` (built once per app; the routes do not change after start-up)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if "crm.openapi" not in app.extensions:
        app.extensions["crm.openapi"] = build_document(app)
    return app.extensions["crm.openapi"]


class OpenApiDocument(BaseModel):
    """OpenAPI 3.1 文档"""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


@bp.get("/openapi.json")
@public
@operation("本文档(OpenAPI 3.1)", ok=OpenApiDocument)
def openapi_json():
    return jsonify(document())


# --- response validation (testing) -------------------------------------------------------------------------------

class ResponseDrift(AssertionError):
    """A JSON answer of the API does not match the OpenAPI document."""


FORMATS = FormatChecker()  # dates checked; times must carry their offset (API.md: 2026-07-01T09:00:00+08:00)


@FORMATS.checks("date-time", raises=ValueError)
def _time_with_offset(value: Any) -> bool:
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def _declared_schema(doc: dict[str, Any], status: int) -> tuple[str, dict[str, Any] | None]:
    """Where the answer of this request is declared, and its schema (``None``: not declared)."""
    rule = request.url_rule
    if rule is None or not rule.endpoint.startswith(f"{bp.name}."):
        return f"{request.method} {request.path} (no API route)", {"$ref": REF.format(model="Error")}
    path, method = _openapi_path(rule.rule), request.method.lower()
    where = f"{request.method} {path} status {status}"
    answer = doc["paths"].get(path, {}).get(method, {}).get("responses", {}).get(str(status))
    if answer is None:
        return where, None
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return where, answer.get("content", {}).get(JSON, {}).get("schema")


def check_response(response):
    """``after_request``: raise :class:`ResponseDrift` when a JSON answer under /api/ is not as documented."""
    if not request.path.startswith("/api/") or not response.is_json or request.method in ("HEAD", "OPTIONS"):
        return response
    doc = document()
    where, schema = _declared_schema(doc, response.status_code)
    if schema is None:
        raise ResponseDrift(f"{where}: this JSON answer is not declared in the OpenAPI document")
    validators = current_app.extensions.setdefault("crm.openapi.validators", {})
    key = repr(schema)
    if key not in validators:
        validators[key] = Draft202012Validator({**schema, "components": doc["components"]},
                                               format_checker=FORMATS)
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
                for e in validators[key].iter_errors(response.get_json())]
    if problems:
        raise ResponseDrift(f"{where}: the answer does not match the OpenAPI document: " + "; ".join(problems[:5]))
    return response


@bp.record_once
def _validate_in_testing(state) -> None:
    if state.app.config.get("API_VALIDATE_RESPONSES"):
        state.app.after_request(check_response)
