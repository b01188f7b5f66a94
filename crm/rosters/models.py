"""Rosters: a kind of list, published as one edition per half year."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.enterprises.models import Enterprise
from crm.extensions import db


class RosterKind(LabelledEnum):
    """A list: its full name, and a short one for tabs, breadcrumbs, sheet and file names."""

    SUPPLIER_LIST = "supplier_list", "融入成渝经济圈工业配套企业名单", "配套企业名单"
    CULTIVATION_POOL = "cultivation_pool", "重点企业培育库"


class EditionStatus(LabelledEnum):
    DRAFT = "draft", "草稿"
    IN_REVIEW = "in_review", "审核中"
    PUBLISHED = "published", "已发布"
    SUPERSEDED = "superseded", "已被替代"
FROZEN = (EditionStatus.PUBLISHED, EditionStatus.SUPERSEDED)


class Tier(LabelledEnum):
    """Tier of an enterprise in the cultivation pool (the plan's 龙头企业、链主企业 and those being cultivated)."""

    LEADER = "leader", "龙头"
    CHAIN_MASTER = "chain_master", "链主"
    CULTIVATING = "cultivating", "培育"


class RosterEdition(db.Model):
    """One half year's edition of a list. Published and superseded editions are frozen."""

    __tablename__ = "roster_editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RosterKind] = mapped_column(enum_column(RosterKind, "roster_kind"))
    period: Mapped[str] = mapped_column(sa.String(6))  # 2026H1
    status: Mapped[EditionStatus] = mapped_column(
        enum_column(EditionStatus, "edition_status"), default=EditionStatus.DRAFT)
    based_on_id: Mapped[int | None] = mapped_column(sa.ForeignKey("roster_editions.id"))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    returned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    return_comment: Mapped[str] = mapped_column(sa.Text, default="")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    version: Mapped[int] = mapped_column(default=1)

    based_on: Mapped[RosterEdition | None] = relationship(remote_side=[id])
    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    returned_by: Mapped[User | None] = relationship(foreign_keys=[returned_by_id])
    published_by: Mapped[User | None] = relationship(foreign_keys=[published_by_id])
    entries: Mapped[list[RosterEntry]] = relationship(
        back_populates="edition", cascade="all, delete-orphan", order_by="RosterEntry.id")
    removals: Mapped[list[RosterRemoval]] = relationship(
        back_populates="edition", cascade="all, delete-orphan", order_by="RosterRemoval.id")

    __table_args__ = (sa.UniqueConstraint("kind", "period"),)
    __mapper_args__ = {"version_id_col": version}

    @property
    def frozen(self) -> bool:
        return self.status in FROZEN


class RosterEntry(db.Model):
    """An enterprise on an edition, with the reason for inclusion (and tier, in the pool)."""

    __tablename__ = "roster_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(sa.ForeignKey("roster_editions.id", ondelete="CASCADE"), index=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    tier: Mapped[Tier | None] = mapped_column(enum_column(Tier, "roster_tier"))
    proposed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    edition: Mapped[RosterEdition] = relationship(back_populates="entries")
    enterprise: Mapped[Enterprise] = relationship(lazy="joined")
    proposed_by: Mapped[User | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("edition_id", "enterprise_id"),)


class RosterRemoval(db.Model):
    """An enterprise taken off a draft (relative to the edition it was copied from), with the reason."""

    __tablename__ = "roster_removals"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(sa.ForeignKey("roster_editions.id", ondelete="CASCADE"), index=True)
    # indexed: 一企一档's 名单记录 reads an enterprise's removals (a sequential scan of them all before; the fifth
    # provincial-scale pass)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprises.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    removed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    edition: Mapped[RosterEdition] = relationship(back_populates="removals")
    enterprise: Mapped[Enterprise] = relationship(lazy="joined")

    __table_args__ = (sa.UniqueConstraint("edition_id", "enterprise_id"),)


class ImportStatus(LabelledEnum):
    QUEUED = "queued", "排队等待"  # stored with its file; a bounded worker takes it
    CHECKING = "checking", "正在检查"
    FAILED = "failed", "检查未通过,未写入任何数据"  # problems found, nothing written
    DONE = "done", "已导入"  # written
    ERROR = "error", "无法读取文件,未写入任何数据"  # the file could not be read at all


class RosterImport(db.Model):
    """An XLSX import into a draft: checked row by row (with progress), then written all at once or not at all."""

    __tablename__ = "roster_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(sa.ForeignKey("roster_editions.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[ImportStatus] = mapped_column(enum_column(ImportStatus, "import_status"),
                                                 default=ImportStatus.CHECKING)
    rows_total: Mapped[int] = mapped_column(default=0)
    rows_checked: Mapped[int] = mapped_column(default=0)
    rows_written: Mapped[int] = mapped_column(default=0)
    report: Mapped[list[dict]] = mapped_column(sa.JSON, default=list)  # [{"row", "field", "message"}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The uploaded file, kept until the import has run, so a recycled web worker loses nothing: any worker (or the
    # scheduler's sweep) can take a queued import; one whose heartbeat stops is marked failed with its reason.
    data: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    edition: Mapped[RosterEdition] = relationship()
