"""The plan's own structure as records: tasks and their units, milestones, progress reports, 专项督导."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db
from crm.reference.models import County, Department


class TaskKind(LabelledEnum):
    TASK = "task", "重点任务"
    SAFEGUARD = "safeguard", "保障措施"


class Task(db.Model):
    """One of the plan's 18 重点任务 (``task``, 1–18) or 3 保障措施 (``safeguard``, 1–3), as the plan words it.

    ``figures`` names what the CRM already tracks for the task (``rosters``, ``meetings``, ``settled``, ``service``,
    ``targets`` …): the situation report shows those numbers beside the units' own reports.
    """

    __tablename__ = "plan_tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[TaskKind] = mapped_column(enum_column(TaskKind, "task_kind"))
    number: Mapped[int] = mapped_column()
    section: Mapped[str] = mapped_column(sa.String(80), default="")  # e.g. (一)建设融入成渝先行区
    title: Mapped[str] = mapped_column(sa.String(80))
    text: Mapped[str] = mapped_column(sa.Text, default="")
    figures: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    version: Mapped[int] = mapped_column(default=1)

    unit_links: Mapped[list[TaskUnit]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskUnit.position", lazy="selectin")
    milestones: Mapped[list[TaskMilestone]] = relationship(
        back_populates="task", cascade="all, delete-orphan", order_by="TaskMilestone.position")

    __table_args__ = (sa.UniqueConstraint("kind", "number"),)
    __mapper_args__ = {"version_id_col": version}

    @property
    def units(self) -> list[Department]:
        return [link.department for link in self.unit_links]

    @property
    def label(self) -> str:
        if self.kind is TaskKind.SAFEGUARD:
            return f"保障措施({'一二三四五六七八九十'[self.number - 1]})"
        return f"重点任务{self.number}"


class TaskUnit(db.Model):
    """A 责任单位 of a task, in the plan's order (the plan's 各县(市、区)人民政府 expands to every county's)."""

    __tablename__ = "task_units"

    task_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_tasks.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(default=0)

    task: Mapped[Task] = relationship(back_populates="unit_links")
    department: Mapped[Department] = relationship(lazy="joined")


class TaskMilestone(db.Model):
    """A dated or numbered milestone the plan states for a task ("到2025年 … 突破10家"), optionally a county's, with
    the metric the CRM can count it by (``firms``, ``output``, ``settled_from_chengyu``, ``parks``)."""

    __tablename__ = "task_milestones"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_tasks.id", ondelete="CASCADE"), index=True)
    due_on: Mapped[date] = mapped_column()
    county_id: Mapped[int | None] = mapped_column(sa.ForeignKey("counties.id"))
    text: Mapped[str] = mapped_column(sa.String(300))
    metric: Mapped[str | None] = mapped_column(sa.String(40))
    target: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    position: Mapped[int] = mapped_column(default=0)

    task: Mapped[Task] = relationship(back_populates="milestones")
    county: Mapped[County | None] = relationship()


class ReportStatus(LabelledEnum):
    ON_TRACK = "on_track", "按计划推进"
    BEHIND = "behind", "滞后"
    DONE = "done", "已完成"


class ReportCadence(LabelledEnum):
    MONTHLY = "monthly", "每月"
    QUARTERLY = "quarterly", "每季度"
    HALF_YEARLY = "half_yearly", "每半年"


class TaskSettings(db.Model):
    """How often units report (the plan sets no cadence; default monthly) and how many working days after a
    period ends its report is overdue and escalated: one row (id 1), edited by admins with audit."""

    __tablename__ = "task_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    cadence: Mapped[ReportCadence] = mapped_column(
        enum_column(ReportCadence, "report_cadence"), default=ReportCadence.MONTHLY)
    grace_working_days: Mapped[int] = mapped_column(default=5)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    updated_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class ProgressReport(db.Model):
    """A unit's report on one task for one period (``2026-11``, ``2026Q4``, ``2026H2``); filing again in the same
    period amends it (audited)."""

    __tablename__ = "task_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_tasks.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    period: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[ReportStatus] = mapped_column(enum_column(ReportStatus, "report_status"))
    text: Mapped[str] = mapped_column(sa.Text, default="")
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    task: Mapped[Task] = relationship()
    department: Mapped[Department] = relationship()
    author: Mapped[User | None] = relationship()
    attachments: Mapped[list[ReportAttachment]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="ReportAttachment.id")

    __table_args__ = (sa.UniqueConstraint("task_id", "department_id", "period"),)
    __mapper_args__ = {"version_id_col": version}


class ReportAttachment(db.Model):
    """A file attached to a progress report (size-limited and type-checked on upload; kept in the database so
    ``flask backup`` carries it)."""

    __tablename__ = "task_report_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("task_reports.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    report: Mapped[ProgressReport] = relationship(back_populates="attachments")
    uploaded_by: Mapped[User | None] = relationship()


class ReminderKind(LabelledEnum):
    REMIND = "remind", "提醒"
    ESCALATE = "escalate", "上报"


class ReportReminder(db.Model):
    """One reminder (to the unit) or escalation (to the city coordinators) for one task, unit and period: the
    unique key makes a second send impossible, whatever the scheduler does."""

    __tablename__ = "task_report_reminders"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(sa.ForeignKey("plan_tasks.id", ondelete="CASCADE"))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    period: Mapped[str] = mapped_column(sa.String(16))
    kind: Mapped[ReminderKind] = mapped_column(enum_column(ReminderKind, "reminder_kind"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("task_id", "department_id", "period", "kind"),)


class SupervisionVisit(db.Model):
    """专项督导: a coordinators' supervision visit to a unit or a county, its findings and rectification items."""

    __tablename__ = "supervisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    visited_on: Mapped[date] = mapped_column(index=True)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    county_id: Mapped[int | None] = mapped_column(sa.ForeignKey("counties.id"))
    task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("plan_tasks.id", ondelete="SET NULL"))
    subject: Mapped[str] = mapped_column(sa.String(200))
    findings: Mapped[str] = mapped_column(sa.Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    department: Mapped[Department | None] = relationship()
    county: Mapped[County | None] = relationship()
    task: Mapped[Task | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    items: Mapped[list[RectificationItem]] = relationship(
        back_populates="supervision", cascade="all, delete-orphan", order_by="RectificationItem.id")

    __mapper_args__ = {"version_id_col": version}


class RectificationStatus(LabelledEnum):
    OPEN = "open", "待整改"
    IN_PROGRESS = "in_progress", "整改中"
    DONE = "done", "已整改"
    CLOSED = "closed", "已销号"


class RectificationItem(db.Model):
    """A rectification item (整改事项) of a supervision visit: an owning unit (and optionally a person), a due date
    in working days, tracked to closure like a 诉求."""

    __tablename__ = "rectification_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    supervision_id: Mapped[int] = mapped_column(sa.ForeignKey("supervisions.id", ondelete="CASCADE"), index=True)
    description: Mapped[str] = mapped_column(sa.Text)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    due_date: Mapped[date] = mapped_column(index=True)
    status: Mapped[RectificationStatus] = mapped_column(
        enum_column(RectificationStatus, "rectification_status"), default=RectificationStatus.OPEN, index=True)
    resolution: Mapped[str] = mapped_column(sa.Text, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_notified_on: Mapped[date | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    supervision: Mapped[SupervisionVisit] = relationship(back_populates="items")
    department: Mapped[Department | None] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])

    __mapper_args__ = {"version_id_col": version}
