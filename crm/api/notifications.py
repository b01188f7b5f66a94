"""NotificationRow endpoints (API.md: ``GET /api/v1/notifications`` — the caller's own, newest first)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from flask import request
from pydantic import Field

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import page_of
from crm.api.schema import (
    DateTimeStr,
    Flag,
    Input,
    Msg,
    PageQuery,
    Shape,
    body,
    dump,
    operation,
    page_model,
    query,
    str_code,
)
from crm.core.time import isoformat_local
from crm.extensions import db
from crm.notifications import domain
from crm.notifications.models import Notification as NotificationRow


class Notification(Shape):
    """一条消息"""

    id: int
    kind: str = Field(description="消息类型代码", examples=["refresh_opened"])
    title: str
    body: str
    link: str = Field(description="站内路径,可为空", examples=["/rosters/supplier_list"])
    created_at: DateTimeStr
    read_at: DateTimeStr | None = Field(description="未读为 null")

    @classmethod
    def of(cls, n: NotificationRow) -> Notification:
        return cls(id=n.id, kind=str_code(n.kind), title=n.title, body=n.body, link=n.link,
                   created_at=isoformat_local(n.created_at), read_at=isoformat_local(n.read_at))


class NotificationsMarked(Shape):
    """已标记"""

    marked: int = Field(ge=0, description="本次标记为已读的条数")


class NoInput(Input):
    """可省略;如提供须为空的 JSON 对象 {}"""

    INVALID: ClassVar[str] = "该操作不需要请求参数"


class InboxQuery(PageQuery):
    unread: Annotated[Flag, Msg("unread 只能是 true 或 false")] = Field(None, description="只看未读")


def notification_json(n: NotificationRow) -> dict[str, Any]:
    return dump(Notification.of(n))


def _no_body() -> None:
    """These POSTs take no input: the body may be omitted or ``{}``; anything else is malformed (400/422)."""
    if request.get_data(cache=True):
        body(NoInput)


@bp.get("/notifications")
@operation("调用者自己的消息,最新的在前", ok=page_model(Notification, "NotificationPage"), query=InboxQuery)
def list_notifications():
    """The caller's own notifications, newest first; ``?unread=true`` for the unread ones only."""
    unread = bool(query(InboxQuery).unread)
    return page_of(domain.inbox_statement(current_user(), unread_only=unread), notification_json)


@bp.post("/notifications/<int:notification_id>/read")
@operation("将自己的一条消息标记为已读", ok=Notification, body=NoInput, body_required=False, errors=(404, 422))
def read_notification(notification_id: int):
    """Mark one of the caller's notifications read (idempotent); another user's id answers 404."""
    user = current_user()
    _no_body()
    row = domain.mark_read(user, domain.get_own(user, notification_id))
    db.session.commit()
    return notification_json(row)


@bp.post("/notifications/read-all")
@operation("将自己的全部消息标记为已读", ok=NotificationsMarked, body=NoInput, body_required=False, errors=(422,))
def read_all_notifications():
    """Mark all the caller's notifications read; ``{"marked": <how many were unread>}``."""
    _no_body()
    count = domain.mark_all_read(current_user())
    db.session.commit()
    return dump(NotificationsMarked(marked=count))
