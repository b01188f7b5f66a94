"""Enterprise and what hangs off it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db
from crm.reference.models import Cluster, County, Park, Partner, SupplyCategory


class EnterpriseStatus(LabelledEnum):
    ACTIVE = "active", "正常经营"
    SUSPENDED = "suspended", "停产"
    MOVED_OUT = "moved_out", "已迁出"
    DEREGISTERED = "deregistered", "已注销"


class Enterprise(db.Model):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    name_key: Mapped[str] = mapped_column(sa.String(120), unique=True)  # normalised, for duplicate detection
    name_pinyin: Mapped[str] = mapped_column(sa.String(600), default="")
    name_initials: Mapped[str] = mapped_column(sa.String(120), default="", index=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    county_id: Mapped[int] = mapped_column(sa.ForeignKey("counties.id"), index=True)
    park_id: Mapped[int | None] = mapped_column(sa.ForeignKey("parks.id"))
    cluster_id: Mapped[int] = mapped_column(sa.ForeignKey("clusters.id"), index=True)
    supply_category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("supply_categories.id"))
    above_scale: Mapped[bool] = mapped_column(default=False)
    main_products: Mapped[str] = mapped_column(sa.Text, default="")
    settled_from_chengyu: Mapped[bool] = mapped_column(default=False)
    settled_on: Mapped[date | None] = mapped_column()
    status: Mapped[EnterpriseStatus] = mapped_column(
        enum_column(EnterpriseStatus, "enterprise_status"), default=EnterpriseStatus.ACTIVE
    )
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    county: Mapped[County] = relationship(lazy="joined")
    park: Mapped[Park | None] = relationship()
    cluster: Mapped[Cluster] = relationship(lazy="joined")
    supply_category: Mapped[SupplyCategory | None] = relationship(lazy="joined")
    contacts: Mapped[list[EnterpriseContact]] = relationship(
        back_populates="enterprise", cascade="all, delete-orphan", order_by="EnterpriseContact.id"
    )
    figures: Mapped[list[EnterpriseFigure]] = relationship(
        back_populates="enterprise", cascade="all, delete-orphan", order_by="EnterpriseFigure.year.desc()"
    )
    partner_links: Mapped[list[EnterprisePartner]] = relationship(
        back_populates="enterprise", cascade="all, delete-orphan", order_by="EnterprisePartner.id"
    )

    __mapper_args__ = {"version_id_col": version}


class EnterpriseContact(db.Model):
    __tablename__ = "enterprise_contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(40))
    post: Mapped[str] = mapped_column(sa.String(40), default="")
    phone: Mapped[str] = mapped_column(sa.String(32), default="")

    enterprise: Mapped[Enterprise] = relationship(back_populates="contacts")


class EnterpriseFigure(db.Model):
    """产值 and 成渝配套产值 of one year, in 万元."""

    __tablename__ = "enterprise_figures"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column()
    output_value: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2))
    chengyu_output_value: Mapped[Decimal] = mapped_column(sa.Numeric(14, 2), default=Decimal(0))
    # 规上 in that year, when recorded; the dashboard falls back to the enterprise's current flag
    above_scale: Mapped[bool | None] = mapped_column()
    is_demo: Mapped[bool] = mapped_column(default=False)

    enterprise: Mapped[Enterprise] = relationship(back_populates="figures")

    __table_args__ = (sa.UniqueConstraint("enterprise_id", "year"),)


class EnterprisePartner(db.Model):
    """A supply link from the enterprise to a 成渝 partner firm: what is supplied."""

    __tablename__ = "enterprise_partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(sa.ForeignKey("partners.id"))
    supplies: Mapped[str] = mapped_column(sa.String(200), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)

    enterprise: Mapped[Enterprise] = relationship(back_populates="partner_links")
    partner: Mapped[Partner] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("enterprise_id", "partner_id"),)
