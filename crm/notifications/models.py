"""Notifications."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db


class NotificationKind(LabelledEnum):
    """Why a user is notified: a vocabulary of names (the inbox imports none of the features that notify)."""

    REFRESH_OPENED = "refresh_opened", "名单更新已开启"
    REFRESH_DEADLINE = "refresh_deadline", "名单发布截止提醒"
    ASSIGNMENT = "assignment", "服务分配"
    ASSIGNMENT_HANDOVER = "assignment_handover", "服务交接"
    ASSIGNMENT_END = "assignment_end", "服务结束"
    ASSIGNMENT_UNLISTED = "assignment_unlisted", "企业移出名单"
    ASSIGNMENT_GAP = "assignment_gap", "服务分配缺口"
    REQUEST_OVERDUE = "request_overdue", "诉求逾期"
    REQUEST_ESCALATED = "request_escalated", "诉求逾期上报"
    POLICY_OVERDUE = "policy_overdue", "政策兑现逾期"
    VISIT_CADENCE = "visit_cadence", "走访提醒"
    MEETING_PROPOSED = "meeting_proposed", "年度会议计划"
    MEETING_REMINDER = "meeting_reminder", "会议提醒"
    MEETING_CHANGED = "meeting_changed", "会议变更"
    MEETING_CANCELLED = "meeting_cancelled", "会议取消"
    REQUEST_ROUTED = "request_routed", "诉求转办"
    POLICY_ROUTED = "policy_routed", "政策兑现转办"
    TASK_REPORT_DUE = "task_report_due", "进展报告提醒"
    TASK_REPORT_OVERDUE = "task_report_overdue", "进展报告逾期"
    RECTIFICATION_ASSIGNED = "rectification_assigned", "整改事项"
    RECTIFICATION_OVERDUE = "rectification_overdue", "整改逾期"


class Notification(db.Model):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(enum_column(NotificationKind, "notification_kind"))
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)
