"""The "一对一" service: assignments, interactions (服务记录), requests (诉求) and policy deliveries (政策兑现).

Assignments were defined with the foundation because access to an enterprise depends on them: a commissioner
sees only the enterprises with an active assignment to them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import Specialty, User
from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Department


class Assignment(db.Model):
    """Enterprise × specialty → one commissioner; ``ended_on`` is null while active.

    At most one active assignment per enterprise and specialty (a partial unique index); a handover ends the
    old row and starts a new one, so the history stays.
    """

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    # indexed with commissioner_id below (ix_assignments_enterprise_id_commissioner_id), which serves both
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"))
    specialty: Mapped[Specialty] = mapped_column(enum_column(Specialty, "specialty"))
    commissioner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    started_on: Mapped[date] = mapped_column()
    ended_on: Mapped[date | None] = mapped_column()
    end_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    commissioner: Mapped[User] = relationship()
    enterprise: Mapped[Enterprise] = relationship()

    __table_args__ = (
        sa.Index("uq_assignments_active", "enterprise_id", "specialty", unique=True,
                 sqlite_where=sa.text("ended_on IS NULL"), postgresql_where=sa.text("ended_on IS NULL")),
        # An enterprise's assignments, and one pair's (is this commissioner assigned to this enterprise?): the
        # service dashboard's 走访覆盖 probes it once per visited pair of the period (crm/dashboard/service.py,
        # _visited_counts), where the enterprise alone left a bitmap AND with ix_assignments_commissioner_id.
        sa.Index("ix_assignments_enterprise_id_commissioner_id", "enterprise_id", "commissioner_id"),
        # A commissioner's active enterprises from the index alone: the scope subquery of every commissioner
        # statement, "enterprise_id IN (SELECT enterprise_id … commissioner_id = ? AND ended_on IS NULL)" (an
        # index-only scan, was a heap block per assignment), and the one-to-one rule's EXISTS (index-only; the pair
        # index above finds it too, reading the row for ended_on); the fifth provincial-scale pass,
        # benchmarks/README.md "Fifth pass: 一企一档".
        sa.Index("ix_assignments_active_commissioner", "commissioner_id", "enterprise_id",
                 sqlite_where=sa.text("ended_on IS NULL"), postgresql_where=sa.text("ended_on IS NULL")),
    )


class Channel(LabelledEnum):
    VISIT = "visit", "走访"
    CALL = "call", "电话"
    ONLINE = "online", "线上"
    MEETING = "meeting", "会议"


class Interaction(db.Model):
    """服务记录: a visit, call, online exchange or meeting with an enterprise."""

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # indexed with occurred_on and id below (ix_interactions_enterprise_id_occurred_on), which serves both
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"))
    occurred_on: Mapped[date] = mapped_column(index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    specialty: Mapped[Specialty] = mapped_column(enum_column(Specialty, "specialty"))
    participants: Mapped[str] = mapped_column(sa.String(300), default="")
    summary: Mapped[str] = mapped_column(sa.Text)
    next_follow_up: Mapped[date | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    created_by: Mapped[User | None] = relationship()
    enterprise: Mapped[Enterprise] = relationship()

    __table_args__ = (
        # An enterprise's timeline, newest first (一企一档, the interactions list), and its latest interaction (the
        # workspace's last contact: one backward index probe per enterprise, LIMIT 1, instead of ranking all its
        # interactions). B-trees read backwards, so ascending columns serve "occurred_on DESC, id DESC".
        sa.Index("ix_interactions_enterprise_id_occurred_on", "enterprise_id", "occurred_on", "id"),
        # A period's visits with their author and enterprise, from the index alone: the service dashboard's 走访覆盖
        # (crm/dashboard/service.py, _visited_counts) — a week's visits are ≈ 8,000 of 2,000,000 rows, whose heap
        # pages (22,000 for a week, scattered among the other channels) it read through ix_interactions_occurred_on.
        sa.Index("ix_interactions_visits_occurred_on", "occurred_on", "created_by_id", "enterprise_id",
                 sqlite_where=sa.text("channel = 'visit'"), postgresql_where=sa.text("channel = 'visit'")),
    )
    __mapper_args__ = {"version_id_col": version}


class RequestCategory(LabelledEnum):
    """诉求类别; the API exchanges them by their Chinese names (each is its own label)."""

    PROJECT = "培育项目申报"
    FINANCING = "融资服务"
    MARKET = "市场机会拓展"
    TALENT = "人才引进"
    LAND = "用地"
    POWER = "用电"
    GAS = "用气"
    WATER = "用水"
    MINERAL = "用矿"
    LEGAL = "法务"
    OTHER = "其他"


class RequestStatus(LabelledEnum):
    RAISED = "raised", "已提出"
    ACCEPTED = "accepted", "已受理"
    IN_PROGRESS = "in_progress", "办理中"
    RESOLVED = "resolved", "已解决"
    CLOSED = "closed", "已办结"


# The open statuses as SQL (crm.service.requests.OPEN_STATUSES): the predicate of the partial index below; a query
# must say ``status IN ('raised', 'accepted', 'in_progress')`` with these values for the planner to use it.
OPEN_PREDICATE = "status IN ('raised', 'accepted', 'in_progress')"


class ServiceRequest(db.Model):
    """诉求: what an enterprise asked for, driven to closure by its owner."""

    __tablename__ = "service_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    # indexed with status and due_date below (ix_service_requests_enterprise_id_status), which serves both
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"))
    category: Mapped[RequestCategory] = mapped_column(enum_column(RequestCategory, "request_category"))
    description: Mapped[str] = mapped_column(sa.Text)
    interaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("interactions.id", ondelete="SET NULL"))
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    raised_on: Mapped[date] = mapped_column()
    due_date: Mapped[date] = mapped_column(index=True)
    status: Mapped[RequestStatus] = mapped_column(
        enum_column(RequestStatus, "request_status"), default=RequestStatus.RAISED, index=True)
    satisfaction: Mapped[int | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    owner_notified_on: Mapped[date | None] = mapped_column()  # escalation: first overdue notice to the owner
    escalated_on: Mapped[date | None] = mapped_column()  # escalation: notice to the county's coordinators
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    enterprise: Mapped[Enterprise] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    department: Mapped[Department | None] = relationship()
    interaction: Mapped[Interaction | None] = relationship()
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestEvent.id")

    __table_args__ = (sa.CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
                                         name="satisfaction_range"),
                      # the overdue ledger and the dashboards' counts: open statuses with a due date before today
                      # (on PostgreSQL with the department included: the ledger's per-department counts, which
                      # also give its total, read the index alone)
                      sa.Index("ix_service_requests_status_due_date", "status", "due_date",
                               postgresql_include=["department_id"]),
                      # the workspace's per-enterprise figures (open / overdue / next due / awaiting 回访) read
                      # from the index alone for the enterprises shown
                      sa.Index("ix_service_requests_enterprise_id_status", "enterprise_id", "status", "due_date"),
                      # the ledger's order (newest raised first, id as the tiebreak): page 1 without a sort
                      sa.Index("ix_service_requests_raised_on_id", "raised_on", "id"),
                      # the ledger's order among the open requests only (the overdue filter: open and due before
                      # today), the due date a key column: page 1 of the city-wide overdue ledger walks this
                      # backwards and skips the not-yet-due ones inside the index (``due_date < today`` is an index
                      # condition), instead of skipping 43,000 closed, resolved and not-yet-due rows of
                      # ix_service_requests_raised_on_id on the heap (119 ms → 1 ms, see benchmarks/README.md)
                      sa.Index("ix_service_requests_open_raised_on", "raised_on", "id", "due_date",
                               postgresql_include=["department_id", "enterprise_id"],
                               postgresql_where=sa.text(OPEN_PREDICATE), sqlite_where=sa.text(OPEN_PREDICATE)))
    __mapper_args__ = {"version_id_col": version}


class RequestEvent(db.Model):
    """One step on a request's timeline: who moved it from what to what, when, and why."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("service_requests.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    from_status: Mapped[RequestStatus | None] = mapped_column(enum_column(RequestStatus, "from_status"))
    to_status: Mapped[RequestStatus] = mapped_column(enum_column(RequestStatus, "to_status"))
    note: Mapped[str] = mapped_column(sa.Text, default="")
    satisfaction: Mapped[int | None] = mapped_column()

    request: Mapped[ServiceRequest] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class PolicyKind(LabelledEnum):
    """政策类别; the API exchanges them by their Chinese names (each is its own label)."""

    TAX = "税收"
    LAND = "用地"
    POWER = "用电"
    GAS = "用气"
    WATER = "用水"
    MINERAL = "用矿"
    FINANCING = "融资"
    TALENT = "引才"
    SPECIAL_FUND = "专项资金"  # the plan: 市级财政每年安排专项资金


class DeliveryStatus(LabelledEnum):
    PROMISED = "promised", "待兑现"
    DELIVERED = "delivered", "已兑现"
    CANCELLED = "cancelled", "已取消"


class PolicyDelivery(db.Model):
    """政策兑现: support promised to an enterprise and whether (and when) it was delivered."""

    __tablename__ = "policy_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    kind: Mapped[PolicyKind] = mapped_column(enum_column(PolicyKind, "policy_kind"))
    promised: Mapped[str] = mapped_column(sa.Text)
    amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))  # 万元
    promised_date: Mapped[date] = mapped_column(index=True)
    delivered_date: Mapped[date | None] = mapped_column()
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PROMISED)
    evidence: Mapped[str] = mapped_column(sa.Text, default="")
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    overdue_notified_on: Mapped[date | None] = mapped_column()
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    enterprise: Mapped[Enterprise] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    department: Mapped[Department | None] = relationship()

    __mapper_args__ = {"version_id_col": version}



# The bit of each specialty in ServiceAttention.active_specialties (at most one active assignment per enterprise and
# specialty, uq_assignments_active, so the sum of the distinct bits of its active assignments is the set).
SPECIALTY_BITS: dict[Specialty, int] = {s: 1 << n for n, s in enumerate(Specialty)}


class ServiceAttention(db.Model):
    """Per enterprise, the figures the workspace (我的企业) sorts by, kept by the database itself: a row is
    recomputed from ``assignments``, ``interactions`` and ``service_requests`` by triggers after every insert,
    update or delete of those rows (the migration ``d8a3f1c6b2e4`` creates them on both databases; on PostgreSQL
    one statement-level trigger per table and event, set-based over its transition table, so a ``COPY`` of
    2,000,000 interactions recomputes each enterprise once). The app never writes it; it always equals the direct
    computation (``tests/service/test_attention.py``).

    Why: the attention order (overdue requests, missed follow-ups, the longest without contact, the nearest due
    date) over a city coordinator's 32,000 served enterprises needed two index probes per enterprise on every
    page view (≈ 0.4–0.6 s of SQL at provincial scale); read from this narrow table it is one scan and a sort.
    What depends on today is not stored: "overdue" is ``next_due < today``, "follow-up missed" is
    ``follow_up < today``, so the rows never go stale as days pass.

    An enterprise without any assignment, interaction or request has no row (the workspace reads it as zeros).
    """

    __tablename__ = "service_attention"

    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"),
                                               primary_key=True, autoincrement=False)
    active_assignments: Mapped[int] = mapped_column(server_default=sa.text("0"))  # > 0: served (on a workspace)
    # the specialties with an active assignment, one bit each (SPECIALTY_BITS): the coverage matrix's gap counts
    active_specialties: Mapped[int] = mapped_column(server_default=sa.text("0"))
    last_contact: Mapped[date | None] = mapped_column()  # the latest interaction (by date, then id): its date
    follow_up: Mapped[date | None] = mapped_column()  # and its next_follow_up (missed when before today)
    next_due: Mapped[date | None] = mapped_column()  # the earliest due date of an open request (overdue: < today)
    open_requests: Mapped[int] = mapped_column(server_default=sa.text("0"))  # raised, accepted, in progress
    awaiting_visit: Mapped[int] = mapped_column(server_default=sa.text("0"))  # resolved, awaiting the 回访

    __table_args__ = (
        # the workspace's order within each of its leading groups (crm.service.workspace._grouped_page_rows):
        # read presorted, a page at a time, instead of sorting all served enterprises
        sa.Index("ix_service_attention_order", "last_contact", "next_due", "enterprise_id"),
        # the (few) enterprises whose latest interaction's follow-up date has passed: the groups shown first
        sa.Index("ix_service_attention_follow_up", "follow_up"),
    )
