"""Reference tables. Values are exchanged by their Chinese names (API.md, conventions)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core import cache
from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db


class County(db.Model):
    """One of Zunyi's 14 county-level units, or 新蒲新区."""

    __tablename__ = "counties"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(80), default="")
    sort_order: Mapped[int] = mapped_column(default=0)


class Cluster(db.Model):
    """产业集群."""

    __tablename__ = "clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)


class SupplyCategory(db.Model):
    """配套类别: 关键材料 / 关键零部件 / 关键设备."""

    __tablename__ = "supply_categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)


class Department(db.Model):
    """责任单位 named in the plan (and any an admin adds)."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    # A county government (红花岗区人民政府, 新蒲新区管委会 …) is its county's unit: 专项督导 of a county and the
    # plan's 各县(市、区)人民政府 resolve through it.
    county_id: Mapped[int | None] = mapped_column(sa.ForeignKey("counties.id"))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Region(LabelledEnum):
    """The two halves of the 成渝 area; exchanged by their Chinese names (each is its own label)."""

    CHONGQING = "重庆"
    SICHUAN = "四川"


class Partner(db.Model):
    """A 成渝 firm that local suppliers sell to: the partner catalogue, maintained by coordinators.

    ``in_plan`` marks the firms the plan itself names (seeded by ``seed-reference``); they stay in the catalogue.
    ``industry`` is the industry chain (API: ``industry_chain``).
    """

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    region: Mapped[Region] = mapped_column(enum_column(Region, "partner_region"))
    city: Mapped[str] = mapped_column(sa.String(40), default="")
    industry: Mapped[str] = mapped_column(sa.String(80), default="")
    uscc: Mapped[str | None] = mapped_column(sa.String(18), unique=True)
    in_plan: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class ParkKind(LabelledEnum):
    DEVELOPMENT_ZONE = "development_zone", "开发区"
    INDUSTRIAL_PARK = "industrial_park", "产业园区"
    ENCLAVE = "enclave", "飞地园区"


class EnclaveMode(LabelledEnum):
    """How a 飞地 park is run with its 成渝 counterpart (the plan: 合建 分别管理, 共建 共同管理, 租借 自我管理)."""

    JOINT = "合建"
    SHARED = "共建"
    LEASED = "租借"


class Park(db.Model):
    """An industrial park. ``supporting`` marks a recognised 配套产业园区, counted against the target from
    ``recognised_on``; ``is_demo`` marks parks and recognitions the plan does not state (demo data)."""

    __tablename__ = "parks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    county_id: Mapped[int | None] = mapped_column(sa.ForeignKey("counties.id"))
    kind: Mapped[ParkKind] = mapped_column(enum_column(ParkKind, "park_kind"), default=ParkKind.INDUSTRIAL_PARK)
    supporting: Mapped[bool] = mapped_column(default=False)
    recognised_on: Mapped[date | None] = mapped_column()
    recognition_document: Mapped[str] = mapped_column(sa.String(200), default="")
    enclave_mode: Mapped[EnclaveMode | None] = mapped_column(enum_column(EnclaveMode, "enclave_mode"))
    chengyu_counterpart: Mapped[str] = mapped_column(sa.String(120), default="")
    is_demo: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    county: Mapped[County | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class Target(db.Model):
    """A target of the plan for one year: for the city (no county) or one county."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column()
    county_id: Mapped[int | None] = mapped_column(sa.ForeignKey("counties.id"))
    target_firms: Mapped[int] = mapped_column()
    target_output: Mapped[Decimal] = mapped_column(sa.Numeric(12, 2))  # 亿元
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    county: Mapped[County | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("year", "county_id"),)
    __mapper_args__ = {"version_id_col": version}


class PlanTarget(db.Model):
    """City-wide targets that are not per county: parks and settled 成渝 firms."""

    __tablename__ = "plan_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column()
    metric: Mapped[str] = mapped_column(sa.String(40))  # parks / settled_from_chengyu
    target: Mapped[int] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (sa.UniqueConstraint("year", "metric"),)
    __mapper_args__ = {"version_id_col": version}


def by_name(model: type, name: str | None):
    """Look a reference row up by its Chinese name (``None`` when absent)."""
    if not name:
        return None
    return db.session.scalar(sa.select(model).where(model.name == name.strip()))


def all_of(model: type) -> list:
    order = getattr(model, "sort_order", model.id)
    return list(db.session.scalars(sa.select(model).order_by(order, model.id)))


# The reference tables every write to which moves the data version ``reference`` (migration a7c3e9d2f418).
NAMED = frozenset({"counties", "clusters", "departments"})


def names_of(model: type) -> tuple[tuple[int, str], ...]:
    """``(id, name)`` of every row of a reference table, in :func:`all_of`'s order: the filters' choices of the
    busiest pages. Kept per process while the reference data is unchanged (crm/core/cache.py; read afresh on
    SQLite and for a table the kind does not cover): the counties, clusters and departments were read on every
    view, two or three statements a page at provincial scale."""
    order = getattr(model, "sort_order", model.id)
    stmt = sa.select(model.id, model.name).order_by(order, model.id)
    if model.__tablename__ not in NAMED:
        return tuple(tuple(row) for row in db.session.execute(stmt))
    return cache.cached_rows(f"reference.{model.__tablename__}", ("reference",), stmt)


def id_by_name(model: type, name: str | None) -> int | None:
    """:func:`by_name`'s row's id, from :func:`names_of`."""
    if not name:
        return None
    name = name.strip()
    return next((id_ for id_, known in names_of(model) if known == name), None)
