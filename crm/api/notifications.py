"""Notification endpoints (API.md: ``GET /api/v1/notifications`` — the caller's own, newest first)."""

from __future__ import annotations

from typing import Any

from flask import request

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import json_body, page_of, reject_unknown
from crm.api.openapi import PAGE_PARAMS, add_paths, add_schemas, errors, nullable, ok, path_param, query, ref
from crm.core.errors import DomainError
from crm.core.time import isoformat_local
from crm.extensions import db
from crm.notifications import domain
from crm.notifications.models import Notification

UNREAD_ARGS = {"": False, "0": False, "false": False, "1": True, "true": True}


def notification_json(n: Notification) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "link": n.link,
            "created_at": isoformat_local(n.created_at), "read_at": isoformat_local(n.read_at)}


def _no_body() -> None:
    """These POSTs take no input: the body may be omitted or ``{}``; anything else is malformed (400/422)."""
    if request.get_data(cache=True):
        reject_unknown(json_body(), set(), "该操作不需要请求参数")


@bp.get("/notifications")
def list_notifications():
    """The caller's own notifications, newest first; ``?unread=true`` for the unread ones only."""
    unread = request.args.get("unread", "").strip().lower()
    if unread not in UNREAD_ARGS:
        raise DomainError("查询参数不正确", {"unread": "unread 只能是 true 或 false"})
    return page_of(domain.inbox_statement(current_user(), unread_only=UNREAD_ARGS[unread]), notification_json)


@bp.post("/notifications/<int:notification_id>/read")
def read_notification(notification_id: int):
    """Mark one of the caller's notifications read (idempotent); another user's id answers 404."""
    user = current_user()
    _no_body()
    row = domain.mark_read(user, domain.get_own(user, notification_id))
    db.session.commit()
    return notification_json(row)


@bp.post("/notifications/read-all")
def read_all_notifications():
    """Mark all the caller's notifications read; ``{"marked": <how many were unread>}``."""
    _no_body()
    count = domain.mark_all_read(current_user())
    db.session.commit()
    return {"marked": count}


# --- OpenAPI -----------------------------------------------------------------------------------------------

add_schemas({
    "Notification": {
        "type": "object",
        "required": ["id", "kind", "title", "body", "link", "created_at", "read_at"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "description": "消息类型代码", "example": "refresh_opened"},
            "title": {"type": "string"},
            "body": {"type": "string"},
            "link": {"type": "string", "description": "站内路径,可为空", "example": "/rosters/supplier_list"},
            "created_at": {"type": "string", "format": "date-time", "example": "2026-07-01T00:05:00+08:00"},
            "read_at": nullable("string", format="date-time", description="未读为 null"),
        },
    },
    "NotificationPage": {
        "type": "object",
        "required": ["items", "total", "page", "per_page"],
        "properties": {
            "items": {"type": "array", "items": ref("Notification")},
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "per_page": {"type": "integer", "minimum": 1, "maximum": 200},
        },
    },
    "NotificationsMarked": {
        "type": "object",
        "required": ["marked"],
        "properties": {"marked": {"type": "integer", "minimum": 0, "description": "本次标记为已读的条数"}},
    },
})

EMPTY_BODY = {"required": False, "description": "可省略;如提供须为空的 JSON 对象 {}",
              "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False}}}}

add_paths({
    "/notifications": {
        "get": {
            "tags": ["notifications"], "operationId": "listNotifications", "summary": "调用者自己的消息,最新的在前",
            "parameters": [query("unread", "只看未读", {"type": "string", "enum": ["true", "false", "1", "0"]}),
                           *PAGE_PARAMS],
            "responses": {"200": ok("一页消息", ref("NotificationPage")), **errors(400, 401)},
        },
    },
    "/notifications/{notification_id}/read": {
        "parameters": [path_param("notification_id", "消息 id", {"type": "integer", "minimum": 1})],
        "post": {
            "tags": ["notifications"], "operationId": "readNotification", "summary": "将自己的一条消息标记为已读",
            "requestBody": EMPTY_BODY,
            "responses": {"200": ok("已标记", ref("Notification")), **errors(400, 401, 404, 422)},
        },
    },
    "/notifications/read-all": {
        "post": {
            "tags": ["notifications"], "operationId": "readAllNotifications", "summary": "将自己的全部消息标记为已读",
            "requestBody": EMPTY_BODY,
            "responses": {"200": ok("已标记", ref("NotificationsMarked")), **errors(400, 401, 422)},
        },
    },
})
