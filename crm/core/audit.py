"""The audit trail: who, when, what, old → new.

Domain functions call :func:`record` in the same session as the change, so the audit row commits or rolls
back with it: there is never a change without its record.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.time import isoformat_local, utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db


class AuditEntity(LabelledEnum):
    """What an audit row is about: a vocabulary of names (the core imports no feature to state it).

    A capability that audits a new kind of record adds its name here, with a migration for the CHECK.
    """

    USER = "user", "用户"
    ENTERPRISE = "enterprise", "档案"
    CONTACT = "contact", "联系人"
    FIGURE = "figure", "产值"
    PARTNER_LINK = "partner_link", "成渝配套"
    ROSTER_EDITION = "roster_edition", "名单版本"
    HOLIDAY_YEAR = "holiday_year", "节假日安排"
    ASSIGNMENT = "assignment", "服务分配"
    INTERACTION = "interaction", "服务记录"
    SERVICE_REQUEST = "service_request", "诉求"
    POLICY_DELIVERY = "policy_delivery", "政策兑现"
    MEETING = "meeting", "会议活动"
    PARTNER = "partner", "成渝企业"
    CALENDAR_FEED = "calendar_feed", "日历订阅"
    PARK = "park", "园区"
    DEPARTMENT = "department", "责任单位"
    TARGET = "target", "目标"
    COUNTING_RULES = "counting_rules", "统计口径"
    TASK = "task", "重点任务"
    TASK_REPORT = "task_report", "进展报告"
    TASK_SETTINGS = "task_settings", "报送设置"
    SUPERVISION = "supervision", "专项督导"
    RECTIFICATION = "rectification", "整改事项"


class AuditAction(LabelledEnum):
    """What was done; several entities share the general verbs (create, update, delete)."""

    CREATE = "create", "新建"
    UPDATE = "update", "修改"
    DELETE = "delete", "删除"
    ACTIVATE = "activate", "启用"
    DEACTIVATE = "deactivate", "停用"
    PASSWORD_RESET = "password_reset", "重置密码"
    OPEN = "open", "开启"
    ADD_ENTRY = "add_entry", "加入名单"
    UPDATE_ENTRY = "update_entry", "修改名单条目"
    REMOVE_ENTRY = "remove_entry", "移出名单"
    SUBMIT = "submit", "提交审核"
    RETURN = "return", "退回修改"
    PUBLISH = "publish", "发布"
    SUPERSEDE = "supersede", "被替代"
    SEED = "seed", "载入"
    IMPORT = "import", "导入"
    ADD_DAY = "add_day", "新增日期"
    DELETE_DAY = "delete_day", "删除日期"
    HANDOVER = "handover", "交接"
    END = "end", "结束"
    TRANSITION = "transition", "状态变更"
    DELIVER = "deliver", "兑现"
    CANCEL = "cancel", "取消"
    REOPEN = "reopen", "恢复待兑现"
    PARTICIPANTS = "participants", "修改参会名单"
    AGREEMENT = "agreement", "签约"
    FOLLOW_UP = "follow_up", "会后诉求"
    REVOKE = "revoke", "撤销"
    FREEZE = "freeze", "冻结"
    LOCK = "lock", "锁定账户"
    UNLOCK = "unlock", "解除锁定"
    SIGN_OUT_ALL = "sign_out_all", "退出所有登录"
    PASSWORD_CHANGE = "password_change", "修改密码"
    ROUTE = "route", "转办"
    ATTACH = "attach", "上传附件"
    DETACH = "detach", "删除附件"


class AuditLog(db.Model):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(sa.String(80))
    entity_type: Mapped[AuditEntity] = mapped_column(enum_column(AuditEntity, "audit_entity"))
    entity_id: Mapped[int] = mapped_column()
    enterprise_id: Mapped[int | None] = mapped_column()  # indexed with at and id below
    action: Mapped[AuditAction] = mapped_column(enum_column(AuditAction, "audit_action"))
    summary: Mapped[str] = mapped_column(sa.String(400), default="")
    changes: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (sa.Index("ix_audit_log_entity", "entity_type", "entity_id"),
                      # an enterprise's history, newest first, one page at a time (一企一档's 变更记录)
                      sa.Index("ix_audit_log_enterprise_id_at", "enterprise_id", "at", "id"))


def jsonable(value: Any) -> Any:
    """Audit values as JSON: dates ISO, decimals as strings, enums by value."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return isoformat_local(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def diff(obj: Any, new_values: dict[str, Any]) -> dict[str, list[Any]]:
    """The fields of ``new_values`` that differ from ``obj``, as ``{field: [old, new]}``."""
    changes: dict[str, list[Any]] = {}
    for field, new in new_values.items():
        old = getattr(obj, field)
        if jsonable(old) != jsonable(new):
            changes[field] = [jsonable(old), jsonable(new)]
    return changes


def record(
    actor: Any,
    entity_type: AuditEntity | str,
    entity_id: int,
    action: AuditAction | str,
    changes: dict[str, Any] | None = None,
    *,
    enterprise_id: int | None = None,
    summary: str = "",
) -> AuditLog:
    """Add an audit row to the current transaction. ``actor`` is a user or ``None`` for the system.

    ``entity_type`` and ``action`` are members of :class:`AuditEntity` / :class:`AuditAction` or their codes; an
    unknown code raises ``ValueError`` here rather than at the flush.
    """
    entry = AuditLog(
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "display_name", None) or getattr(actor, "username", None) or "系统",
        entity_type=AuditEntity(entity_type),
        entity_id=entity_id,
        enterprise_id=enterprise_id,
        action=AuditAction(action),
        summary=summary,
        changes={k: [jsonable(v) for v in pair] if isinstance(pair, list | tuple) else jsonable(pair)
                 for k, pair in (changes or {}).items()},
    )
    db.session.add(entry)
    return entry


def history_statement(enterprise_id: int, filters: Iterable[Any] = ()) -> sa.Select:
    """The audit rows of one enterprise (its own and those of its figures, contacts, links, list entries, service
    records), newest first, that satisfy every condition in ``filters``: the caller says what a viewer may not see
    (the enterprise registry gathers them from the capabilities, ``crm.enterprises.hooks.history_filters``)."""
    return (
        sa.select(AuditLog)
        .where(AuditLog.enterprise_id == enterprise_id, *filters)
        .order_by(AuditLog.at.desc(), AuditLog.id.desc())
    )


def history_for_enterprise(enterprise_id: int, limit: int | None = None, filters: Iterable[Any] = ()
                           ) -> list[AuditLog]:
    stmt = history_statement(enterprise_id, filters)
    if limit:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))
