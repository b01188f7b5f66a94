"""Assignments of commissioners to enterprises.

Defined with the foundation because access to an enterprise depends on them: a commissioner sees only the
enterprises with an active assignment to them.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import Specialty, User
from crm.core.time import utcnow
from crm.core.types import UTCDateTime, enum_column
from crm.extensions import db


class Assignment(db.Model):
    """Enterprise × specialty → one commissioner; ``ended_on`` is null while active."""

    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    specialty: Mapped[Specialty] = mapped_column(enum_column(Specialty, "specialty"))
    commissioner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    started_on: Mapped[date] = mapped_column()
    ended_on: Mapped[date | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    commissioner: Mapped[User] = relationship()
