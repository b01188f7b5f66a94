"""One error contract: HTML pages for browsers, API.md's JSON error for ``/api/`` clients."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from crm.core.messages import FORM_EXPIRED, STALE_MESSAGE
from crm.extensions import db

log = logging.getLogger(__name__)


class DomainError(Exception):
    """A rule of the domain refused the operation; the message is for the user, in Chinese."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: dict[str, str] | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class ValidationFailed(DomainError):
    status = 422
    code = "invalid"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"


HTTP_MESSAGES = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录或提供有效的访问令牌"),
    403: ("forbidden", "您没有权限执行此操作"),
    404: ("not_found", "记录不存在或您无权查看"),  # = access.require: a hidden record reads as a missing one
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "操作与当前数据冲突"),
    413: ("too_large", "上传的文件过大"),
    422: ("invalid", "提交的数据有误"),
    429: ("rate_limited", "操作过于频繁,请稍后再试"),
    500: ("server_error", "系统内部错误,已记录,请稍后再试"),
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str, fields: dict[str, str] | None = None):
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return jsonify(body), status


def _respond(status: int, code: str, message: str, fields: dict[str, str] | None = None):
    if wants_json():
        return json_error(status, code, message, fields)
    return render_template("errors/error.html", status=status, message=message, fields=fields or {}), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        db.session.rollback()
        return _respond(err.status, err.code, err.message, err.fields)

    @app.errorhandler(StaleDataError)
    def _stale(err: StaleDataError):
        db.session.rollback()
        return _respond(409, "stale", STALE_MESSAGE)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        status = err.code or 500
        code, message = HTTP_MESSAGES.get(status, ("error", err.description or "请求失败"))
        if status == 400 and err.description and "CSRF" in err.description:
            code, message = "csrf", FORM_EXPIRED
        return _respond(status, code, message)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        db.session.rollback()
        log.exception("unhandled error")
        code, message = HTTP_MESSAGES[500]
        return _respond(500, code, message)
