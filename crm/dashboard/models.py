"""How the dashboard counts (settable, shown beside every number) and the frozen results of past years."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.core.time import utcnow
from crm.core.types import LabelledEnum, UTCDateTime, enum_column
from crm.extensions import db

PLAN_DATE = date(2024, 12, 3)  # the plan was issued on this day: the default start of every count


class OutputMeasure(LabelledEnum):
    """Which 产值 a firm's output counts with."""

    OUTPUT = "output_value", "产值(全部)"
    CHENGYU = "chengyu_output_value", "成渝配套产值"


class CountingRules(db.Model):
    """The counting rules in force: one row (id 1), edited by admins with audit.

    Fixed by the plan's wording and stated on the page: a firm counts in year Y when it is 规上 in Y (the year's
    figure when recorded, else the current flag) and is on the 配套企业名单 edition in force on 31 December of Y
    (for a year not yet over, the latest published one), in its county; parks count from their recognition date.
    Settable here: which 产值 is summed, since when settled 成渝 firms count, where the trajectory starts.
    """

    __tablename__ = "counting_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    output_measure: Mapped[OutputMeasure] = mapped_column(
        enum_column(OutputMeasure, "output_measure"), default=OutputMeasure.OUTPUT)
    settled_since: Mapped[date] = mapped_column(default=PLAN_DATE)
    trajectory_start: Mapped[date] = mapped_column(default=PLAN_DATE)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    updated_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}


class TargetSnapshot(db.Model):
    """A past year's actuals frozen by ``snapshot_targets`` (1 January), with the rules they were counted by, so
    the year's result no longer moves when records change later."""

    __tablename__ = "target_snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(unique=True)
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rules: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class InteractionDay(db.Model):
    """The 服务记录 rolled up per day × the enterprise's county × author (issue 11): what the service dashboard's
    走访 / 服务记录 figures and the monthly chart sum, instead of aggregating the period's rows of the
    2,000,000-row ``interactions`` table joined to ``enterprises`` for the county.

    Maintained by database triggers (crm/dashboard/rollup.py, created by migration 9d1c6a2e5b37) on every insert,
    update and delete of an interaction (any writer: the domain functions, imports, bulk loads, the cascade of a
    deleted enterprise) and on a change of an enterprise's county, inside the writing transaction, so it is never
    behind the records. ``user_id`` 0 stands for "no author" (``created_by_id`` NULL): the key stays NOT NULL so
    the upsert can match it. No foreign keys: derived data, dropped and rebuilt at will
    (:func:`crm.dashboard.rollup.rebuild`). A group whose count falls to 0 is deleted.
    """

    __tablename__ = "dashboard_interaction_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    county_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    visits: Mapped[int]
    interactions: Mapped[int]

    __table_args__ = (
        # a commissioner's own figures over a long period: their rows only, not every author's days
        sa.Index("ix_dashboard_interaction_days_user_id_day", "user_id", "day"),
    )


# The data versions the cached figures are kept under (DataVersion, PendingChange) are the core's:
# crm/core/cache.py.
