"""Enterprise and what hangs off it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.schema import only_on
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
    name_initials: Mapped[str] = mapped_column(sa.String(120), default="")  # searched by fragment: the trigram index
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    county_id: Mapped[int] = mapped_column(sa.ForeignKey("counties.id"))  # indexed below, with the sort
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

    __table_args__ = (
        # The list's default sort (pinyin, id as the tiebreak; "-name" reads it backwards): page 1 reads 50 index
        # entries instead of sorting every row, and a deep page's OFFSET walks this index only (index-only scan,
        # crm.core.pagination.paginate's ``key``). The "updated" sorts likewise.
        sa.Index("ix_enterprises_name_pinyin_id", "name_pinyin", "id"),
        sa.Index("ix_enterprises_updated_at_id", "updated_at", "id"),
        # A county's list (a county coordinator's scope, or county=): the same sort within the county, so page 300 of
        # 汇川区's 17,000 enterprises walks 15,000 index entries (3 ms) instead of sorting them all (24–38 ms).
        # Its first column serves every other lookup by county, so it replaces the plain county_id index.
        sa.Index("ix_enterprises_county_id_name_pinyin", "county_id", "name_pinyin", "id"),
        # … and county_id alone (migration f2b9c4e7a1d6), for what wants only the county's rows, not their order: a
        # county user's search ANDs the trigram matches with the county's bitmap, and counting a county's list reads
        # it index-only. Its equal keys are deduplicated (PostgreSQL 13+): 0.7 MB instead of the composite's 7.4 MB
        # at 100,000 enterprises. 汇川区 (17,246 firms) on a copy of the bench database (its planner's estimates:
        # the search ANDs the county's bitmap), medians of 4 alternations of 150 runs on a loaded machine: its
        # coordinator's q=zyq page statement 5.9 → 4.6 ms, the county's count 2.1 → 1.5 ms (index-only). The
        # composite still serves the ordered pages, deep ones included; the coverage matrix's plans are unchanged.
        sa.Index("ix_enterprises_county_id", "county_id"),
        # The search by fragment (q=: name, pinyin, initials, USCC; LIKE/ILIKE '%q%') on PostgreSQL: one GIN trigram
        # index over the four columns, so each arm of the OR is a bitmap index scan instead of a scan of every row.
        # pg_trgm needs 3 characters: a 2-character query (遵义) has no trigram and is scanned (see
        # search_statement: it then tests the name only). The extension is created by the migration; a production
        # database needs pg_trgm available (it ships with PostgreSQL's contrib). SQLite has no such index.
        only_on("postgresql", sa.Index(
            "ix_enterprises_search_trgm", "name", "name_pinyin", "name_initials", "uscc", postgresql_using="gin",
            postgresql_ops={c: "gin_trgm_ops" for c in ("name", "name_pinyin", "name_initials", "uscc")})),
        # The targets dashboard (crm/dashboard/targets.py, migration e5b8d2f4a9c1) counts the 20,000 firms of a list
        # edition per county: joined to this narrow copy of (id → county, 规上) it reads the index in id order
        # (a merge join with the edition's entries, index-only) instead of every row of the wide table.
        only_on("postgresql", sa.Index("ix_enterprises_id_county_id_above_scale", "id",
                                       postgresql_include=["county_id", "above_scale"])),
        # … and the settled 成渝 firms (about 2 % of the registry) by date: a range of this partial index instead of
        # a scan of all 100,000 rows (the predicate is written as the dashboard's query writes it, so it matches).
        only_on("postgresql", sa.Index("ix_enterprises_settled_on_chengyu", "settled_on",
                                       postgresql_where=sa.text("settled_from_chengyu IS true"))),
    )
    __mapper_args__ = {"version_id_col": version}


def name_bigrams(column: Any) -> Any:
    """``crm_bigrams(name)``: the distinct two-character pieces of a name, as an array (PostgreSQL only; the SQL
    function is created by the migration ``c4d7e2a91f03``, IMMUTABLE so it can be indexed)."""
    return sa.func.crm_bigrams(column, type_=postgresql.ARRAY(sa.Text))


# A two-character fragment (遵义, 永兴: most Chinese queries) has no trigram, so ix_enterprises_search_trgm cannot
# serve it; this GIN index over the name's bigrams can (search_statement: crm_bigrams(name) @> ARRAY[q]).
only_on("postgresql", sa.Index("ix_enterprises_name_bigrams", name_bigrams(Enterprise.name), postgresql_using="gin"))


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

    __table_args__ = (
        sa.UniqueConstraint("enterprise_id", "year"),
        # The targets dashboard joins one year's figures to the counted firms: that year's rows in enterprise order,
        # with the values it sums (index-only on PostgreSQL) — not the whole table (every year) hashed.
        sa.Index("ix_enterprise_figures_year_enterprise_id", "year", "enterprise_id",
                 postgresql_include=["output_value", "chengyu_output_value", "above_scale"]),
    )


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
