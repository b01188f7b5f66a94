"""One error contract: HTML pages for browsers, API.md's JSON error for ``/api/`` clients."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, jsonify, render_template, request
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
    503: ("unavailable", "数据库暂时无法连接,请稍后再试"),
}
# Seconds a client is asked to wait after a 503 (the database was unreachable).
RETRY_AFTER_SECONDS = 30


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


# SQLite reports both an unreachable file and a bad statement as OperationalError: these are the former.
SQLITE_UNAVAILABLE = ("unable to open database file", "database is locked", "disk i/o error", "readonly database",
                      "cannot operate on a closed database")


def database_unavailable(err: BaseException) -> bool:
    """Is ``err`` the database being unreachable (down, restarting, its connection lost, locked, the pool
    exhausted) rather than a bug? Those answer 503 and the next request tries a fresh connection
    (``pool_pre_ping``); a bad statement stays a 500 with its traceback in the log."""
    if isinstance(err, sa.exc.TimeoutError):
        return True
    if not isinstance(err, sa.exc.DBAPIError):
        return False
    if err.connection_invalidated:
        return True
    if not isinstance(err, sa.exc.OperationalError):
        return False
    if type(err.orig).__module__.startswith("sqlite3"):
        return any(text in str(err.orig).lower() for text in SQLITE_UNAVAILABLE)
    return True  # PostgreSQL: connection failures, shutdown, cancelled or timed-out statements, lock timeouts


def _unavailable():
    """503: the database cannot be reached. The page is standalone: ``errors/unavailable.html`` is rendered
    without the context processors (Flask-Login's loads the signed-in user, asking the database again) and shows
    no navigation."""
    code, message = HTTP_MESSAGES[503]
    if wants_json():
        response, status = json_error(503, code, message)
    else:
        template = current_app.jinja_env.get_template("errors/unavailable.html")
        html = template.render(status=503, message=message, request=request,
                               request_id=lambda: g.get("request_id", ""))
        response, status = current_app.response_class(html, mimetype="text/html"), 503
    return response, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _rollback_quietly() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: the pool discards it
        log.warning("rollback failed (request_id=%s)", g.get("request_id"), exc_info=True)


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

    @app.errorhandler(sa.exc.DBAPIError)
    @app.errorhandler(sa.exc.TimeoutError)
    def _database(err: Exception):
        if not database_unavailable(err):
            return _unexpected(err)
        _rollback_quietly()
        log.error("database unavailable (request_id=%s): %s", g.get("request_id"),
                  str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__)
        return _unavailable()

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        _rollback_quietly()
        log.exception("unhandled error (request_id=%s)", g.get("request_id"))
        code, message = HTTP_MESSAGES[500]
        return _respond(500, code, message)
