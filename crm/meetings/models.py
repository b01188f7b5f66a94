"""Meetings with the 成渝 area: who takes part, what was signed, and the private calendar feed.

A meeting belongs to the whole programme rather than to one enterprise, so its participants are sets of their
own (local enterprises, 成渝 partner firms, officials). Agreements signed at a held meeting become supply links
on the enterprise's 一企一档 (``EnterprisePartner``); follow-up 诉求 stay in the request ledger and are linked
here (:class:`MeetingFollowUp`), so the service knows nothing of meetings.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Department, Partner
from crm.service.models import ServiceRequest


class MeetingKind(LabelledEnum):
    SUPPLY_DEMAND = "supply_demand", "产销对接会"
    ENTREPRENEUR_FORUM = "entrepreneur_forum", "企业家座谈会"
    SUPPLY_CHAIN = "supply_chain", "供应链洽谈会"
    OTHER = "other", "其他活动"


class MeetingStatus(LabelledEnum):
    PLANNED = "planned", "计划中"
    CONFIRMED = "confirmed", "已确定"
    HELD = "held", "已举办"
    CANCELLED = "cancelled", "已取消"


class AgreementKind(LabelledEnum):
    """签约类型; exchanged by their Chinese names (each is its own label)."""

    PURCHASE = "采购"
    SUPPLY = "配套"
    INVESTMENT = "投资"
    COOPERATION = "合作"


class Meeting(db.Model):
    """One 产销对接会 / 企业家座谈会 / 供应链洽谈会 (or other activity), planned, confirmed, held or cancelled.

    ``sequence`` is the iCalendar SEQUENCE: raised on every change a calendar must notice (RFC 5545 §3.8.7.4);
    the UID is derived from the id, so it never changes.
    """

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[MeetingKind] = mapped_column(enum_column(MeetingKind, "meeting_kind"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    venue: Mapped[str] = mapped_column(sa.String(200), default="")
    city: Mapped[str] = mapped_column(sa.String(40), default="")
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    status: Mapped[MeetingStatus] = mapped_column(
        enum_column(MeetingStatus, "meeting_status"), default=MeetingStatus.PLANNED, index=True)
    agenda: Mapped[str] = mapped_column(sa.Text, default="")
    outcome_summary: Mapped[str] = mapped_column(sa.Text, default="")
    cancel_reason: Mapped[str] = mapped_column(sa.String(400), default="")
    # Set when the yearly job proposed it ("plan_annual_meetings"); a person's meeting leaves it empty.
    proposed_by: Mapped[str] = mapped_column(sa.String(40), default="")
    sequence: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    department: Mapped[Department | None] = relationship()
    created_by: Mapped[User | None] = relationship()
    enterprise_links: Mapped[list[MeetingEnterprise]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan")
    partner_links: Mapped[list[MeetingPartner]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan")
    official_links: Mapped[list[MeetingOfficial]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan")
    agreements: Mapped[list[MeetingAgreement]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="MeetingAgreement.id")
    follow_ups: Mapped[list[MeetingFollowUp]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="MeetingFollowUp.request_id")

    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),)
    __mapper_args__ = {"version_id_col": version}

    @property
    def enterprises(self) -> list[Enterprise]:
        return [link.enterprise for link in self.enterprise_links]

    @property
    def partners(self) -> list[Partner]:
        return [link.partner for link in self.partner_links]

    @property
    def officials(self) -> list[User]:
        return [link.user for link in self.official_links]


class MeetingEnterprise(db.Model):
    """A local enterprise taking part; ``invited_via`` says how (picked, or the list filter that brought it)."""

    __tablename__ = "meeting_enterprises"

    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(
        sa.ForeignKey("enterprises.id", ondelete="CASCADE"), primary_key=True)
    invited_via: Mapped[str] = mapped_column(sa.String(200), default="")

    meeting: Mapped[Meeting] = relationship(back_populates="enterprise_links")
    enterprise: Mapped[Enterprise] = relationship()

    # An enterprise's meetings from the index alone (the primary key leads with the meeting): a commissioner's
    # meeting scope joins their few hundred enterprises to it, an index-only probe each, where the single-column
    # index it replaces lost to a sequential scan of the table (一企一档's 会议活动 card; the fifth
    # provincial-scale pass, benchmarks/README.md "Fifth pass: 一企一档").
    __table_args__ = (sa.Index("ix_meeting_enterprises_enterprise_id_meeting_id", "enterprise_id", "meeting_id"),)


class MeetingPartner(db.Model):
    """A 成渝 partner firm taking part (what makes a meeting outside the 成渝 area still count)."""

    __tablename__ = "meeting_partners"

    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id"), primary_key=True, index=True)

    meeting: Mapped[Meeting] = relationship(back_populates="partner_links")
    partner: Mapped[Partner] = relationship()


class MeetingOfficial(db.Model):
    """An official (a user) booked into the meeting; told of changes and reminded before it."""

    __tablename__ = "meeting_officials"

    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)

    meeting: Mapped[Meeting] = relationship(back_populates="official_links")
    user: Mapped[User] = relationship()


class MeetingAgreement(db.Model):
    """An agreement signed at a held meeting between a local enterprise and a 成渝 partner firm."""

    __tablename__ = "meeting_agreements"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id"), index=True)
    kind: Mapped[AgreementKind] = mapped_column(enum_column(AgreementKind, "agreement_kind"))
    amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))  # 万元
    note: Mapped[str] = mapped_column(sa.String(400), default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="agreements")
    enterprise: Mapped[Enterprise] = relationship()
    partner: Mapped[Partner] = relationship()

    __table_args__ = (sa.CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),)


class MeetingFollowUp(db.Model):
    """A 诉求 raised straight from the meeting (the request itself lives in the service's ledger)."""

    __tablename__ = "meeting_follow_ups"

    meeting_id: Mapped[int] = mapped_column(sa.ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True)
    request_id: Mapped[int] = mapped_column(
        sa.ForeignKey("service_requests.id", ondelete="CASCADE"), primary_key=True, unique=True)

    meeting: Mapped[Meeting] = relationship(back_populates="follow_ups")
    request: Mapped[ServiceRequest] = relationship()


class CalendarFeedToken(db.Model):
    """A user's private calendar feed: only the SHA-256 of the token is kept; a new one replaces the old."""

    __tablename__ = "calendar_feed_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()
