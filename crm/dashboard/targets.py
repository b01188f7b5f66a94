"""The plan's targets against counted actuals (issue 9, point 3), for the page, the API, the year-end freeze and the
lead's XLSX / print report.

Every actual is a SQL aggregate grouped by county, so the number of statements does not grow with the number of
enterprises; how each is counted is :mod:`crm.dashboard.rules`.

:func:`dashboard` returns a plain structure (dicts, lists, ints, floats, strings; nothing from the database)::

    {
      "year": 2025,
      "city":  ROW,                       # the city: its targets, and the actuals of every county added up
      "units": [ROW, ...],                # one per county with a target, in the counties' order (scoped)
      "parks": NUMBER,                    # 配套产业园区 (city-wide)
      "settled_from_chengyu": NUMBER,     # 成渝 firms settled (city-wide)
      "rules": {...},                     # rules.describe(...): a sentence per number and the values behind them
      "expected_share": 0.5,              # the straight-line share due at ``as_of`` (0 … 1)
      "as_of": "2025-12-31",              # the day the trajectory is judged at (today, or 31 December when over)
      "frozen": False, "frozen_at": None, # frozen by the year-end job: ISO time of the freeze
      "edition": "2025H2" | None,         # the 配套企业名单 edition counted
      "targets_add_up": [],               # crm.reference.domain.targets_add_up: the county targets no longer
                                          # add up to the city's (one Chinese sentence each)
    }
    ROW = {"unit": "汇川区", "county": "汇川区" (None for the city), "target_firms": 35, "actual_firms": 2,
           "target_output": 40.0, "actual_output": 1.25, "chengyu_output": 0.3 (亿元),
           "gap_firms": 33, "gap_output": 38.75 (what is left, never negative),
           "status_firms": "green" | "amber" | "red", "status_output": ...}
    NUMBER = {"target": 2 | None, "actual": 1, "gap": 1, "status": "red" | None}

Who sees what: admins, leaders and coordinators who are not county-scoped see the city and every county; a
county-scoped user sees their county's row and the city total; anyone else (commissioners) is refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import cache
from crm.core.cache import DataVersion, PendingChange
from crm.core.errors import Forbidden, NotFound
from crm.core.time import isoformat_local, local_today
from crm.dashboard.models import CountingRules, OutputMeasure, TargetSnapshot
from crm.dashboard.rules import current_rules, describe, edition_in_force, year_end, year_over
from crm.enterprises.models import Enterprise, EnterpriseFigure
from crm.extensions import db
from crm.reference.domain import targets_add_up
from crm.reference.models import County, Park, PlanTarget, Target
from crm.rosters.models import RosterEdition, RosterEntry

CITY = "遵义市"
WAN_PER_YI = Decimal(10000)
AMBER_SHARE = Decimal("0.8")
READERS = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)
PARKS, SETTLED = "parks", "settled_from_chengyu"
GREEN, AMBER, RED = "green", "amber", "red"
STATUS_LABELS = {GREEN: "进度正常", AMBER: "略有滞后", RED: "明显滞后"}


# --- who sees what ----------------------------------------------------------------------------------------------

def may_view(user: Any) -> bool:
    return (bool(getattr(user, "is_authenticated", False)) and bool(getattr(user, "active", False))
            and getattr(user, "role", None) in READERS)


def require_view(user: Any) -> None:
    if not may_view(user):
        raise Forbidden("您没有权限查看目标完成情况")


def county_scope(user: Any) -> str | None:
    """The one county a user is bounded to (its name), or ``None`` for the whole city."""
    county = getattr(user, "county", None)
    if getattr(user, "role", None) is Role.ADMIN or county is None:
        return None
    return county.name


# --- years and targets -----------------------------------------------------------------------------------------

def target_years() -> list[int]:
    """The years with targets (the plan: 2025, 2027), oldest first."""
    years = db.session.scalars(sa.select(Target.year).union(sa.select(PlanTarget.year)))
    return sorted(set(years))


def default_year(today: date | None = None, *, years: list[int] | None = None) -> int | None:
    """The first target year not yet over, else the last one (``years``: :func:`target_years`, when the caller
    already has them)."""
    years = target_years() if years is None else years
    today = today or local_today()
    upcoming = [y for y in years if y >= today.year]
    return upcoming[0] if upcoming else (years[-1] if years else None)


def _targets(year: int) -> tuple[dict[str | None, tuple[int, Decimal]], list[str]]:
    """(county name or None for the city) → (firms, output 亿元), and the counties in their order."""
    rows = db.session.execute(
        sa.select(County.name, Target.target_firms, Target.target_output)
        .select_from(Target).outerjoin(County, Target.county_id == County.id)
        .where(Target.year == year).order_by(County.sort_order.nulls_first(), County.id))
    found: dict[str | None, tuple[int, Decimal]] = {}
    order: list[str] = []
    for name, firms, output in rows:
        found[name] = (firms, Decimal(output))
        if name is not None:
            order.append(name)
    return found, order


def _plan_targets(year: int) -> dict[str, int]:
    return dict(db.session.execute(
        sa.select(PlanTarget.metric, PlanTarget.target).where(PlanTarget.year == year)).all())


# --- actuals ------------------------------------------------------------------------------------------------------

def _measure_column(measure: OutputMeasure):
    return EnterpriseFigure.chengyu_output_value if measure is OutputMeasure.CHENGYU else EnterpriseFigure.output_value


def _above_scale_in(year: int):
    """规上 in ``year``: the year's figure flag when recorded, else the enterprise's current flag."""
    return sa.func.coalesce(EnterpriseFigure.above_scale, Enterprise.above_scale).is_(True)


def counted_firms_statement(year: int, edition: RosterEdition | None, measure: OutputMeasure) -> sa.Select:
    """The firms counted for ``year`` with their county and the year's 产值 (万元, the rules' measure) and
    成渝配套产值 (万元): the base of the aggregates and of the drill-down."""
    value = _measure_column(measure)
    stmt = (sa.select(Enterprise.id.label("enterprise_id"), Enterprise.county_id.label("county_id"),
                      sa.func.coalesce(value, 0).label("output"),
                      sa.func.coalesce(EnterpriseFigure.chengyu_output_value, 0).label("chengyu"))
            .select_from(RosterEntry).join(Enterprise, RosterEntry.enterprise_id == Enterprise.id)
            .outerjoin(EnterpriseFigure, sa.and_(EnterpriseFigure.enterprise_id == Enterprise.id,
                                                 EnterpriseFigure.year == year))
            .where(RosterEntry.edition_id == (edition.id if edition is not None else -1), _above_scale_in(year)))
    return stmt


def settled_statement(year: int, rules: CountingRules) -> sa.Select:
    return sa.select(Enterprise.id).where(
        Enterprise.settled_from_chengyu.is_(True), Enterprise.settled_on.is_not(None),
        Enterprise.settled_on >= rules.settled_since, Enterprise.settled_on <= year_end(year))


def parks_statement(year: int) -> sa.Select:
    return sa.select(Park.id).where(Park.supporting.is_(True), Park.recognised_on.is_not(None),
                                    Park.recognised_on <= year_end(year))


def _yi(value: Any) -> float:
    return float((Decimal(value or 0) / WAN_PER_YI).quantize(Decimal("0.000001")))


def actuals(year: int, *, county: str | None = None, rules: CountingRules | None = None,
            edition: RosterEdition | None | bool = False, today: date | None = None) -> dict[str, Any]:
    """The counted actuals of ``year``: ``{"edition", "units": {county: {"firms","output","chengyu_output"}},
    "city": {...}, "parks", "settled_from_chengyu"}`` (output in 亿元). ``county`` (a name) keeps one county's
    unit (the city total stays the whole city's). A constant number of statements (aggregates in SQL)."""
    rules = rules or current_rules()
    if edition is False:
        edition = edition_in_force(year, today=today)
    firms = counted_firms_statement(year, edition, rules.output_measure).subquery()
    rows = db.session.execute(
        sa.select(County.name, sa.func.count(firms.c.enterprise_id), sa.func.sum(firms.c.output),
                  sa.func.sum(firms.c.chengyu))
        .select_from(firms).join(County, County.id == firms.c.county_id)
        .group_by(County.name, County.sort_order, County.id).order_by(County.sort_order, County.id))
    units: dict[str, dict[str, Any]] = {}
    total = {"firms": 0, "output": Decimal(0), "chengyu": Decimal(0)}
    for name, count, output, chengyu in rows:
        total["firms"] += count
        total["output"] += Decimal(output or 0)
        total["chengyu"] += Decimal(chengyu or 0)
        if county is None or name == county:
            units[name] = {"firms": count, "output": _yi(output), "chengyu_output": _yi(chengyu)}
    settled = db.session.scalar(sa.select(sa.func.count()).select_from(settled_statement(year, rules).subquery()))
    parks = db.session.scalar(sa.select(sa.func.count()).select_from(parks_statement(year).subquery()))
    return {"edition": edition.period if edition is not None else None, "units": units,
            "city": {"firms": total["firms"], "output": _yi(total["output"]), "chengyu_output": _yi(total["chengyu"])},
            "parks": parks or 0, SETTLED: settled or 0}


# --- the trajectory -------------------------------------------------------------------------------------------------

def expected_share(rules: CountingRules, year: int, today: date | None = None) -> tuple[Decimal, date]:
    """The straight-line share of a target due at ``today`` (at 31 December for a year that is over), and that day."""
    end = year_end(year)
    as_of = min(today or local_today(), end)
    start = rules.trajectory_start
    if as_of <= start:
        return Decimal(0), as_of
    if end <= start:
        return Decimal(1), as_of
    share = Decimal((as_of - start).days) / Decimal((end - start).days)
    return min(Decimal(1), share), as_of


def status(actual: float | int, target: float | int | Decimal | None, share: Decimal) -> str | None:
    """green when actual/target reaches the expected share, amber from 80% of it, red below (None: no target)."""
    if target is None:
        return None
    target = Decimal(str(target))
    if target <= 0:
        return GREEN
    achieved = Decimal(str(actual)) / target
    if achieved >= share:
        return GREEN
    if achieved >= share * AMBER_SHARE:
        return AMBER
    return RED


def _row(unit: str, county: str | None, target: tuple[int, Decimal] | None, actual: dict[str, Any],
         share: Decimal) -> dict[str, Any]:
    target_firms = target[0] if target else None
    target_output = float(target[1]) if target else None
    return {
        "unit": unit, "county": county,
        "target_firms": target_firms, "actual_firms": actual["firms"],
        "target_output": target_output, "actual_output": actual["output"], "chengyu_output": actual["chengyu_output"],
        "gap_firms": max(0, target_firms - actual["firms"]) if target_firms is not None else None,
        "gap_output": (float(max(Decimal(0), target[1] - Decimal(str(actual["output"]))))
                       if target else None),
        "status_firms": status(actual["firms"], target_firms, share),
        "status_output": status(actual["output"], target_output, share),
    }


def _number(target: int | None, actual: int, share: Decimal) -> dict[str, Any]:
    return {"target": target, "actual": actual,
            "gap": max(0, target - actual) if target is not None else None, "status": status(actual, target, share)}


ZERO = {"firms": 0, "output": 0.0, "chengyu_output": 0.0}


def compute(year: int, *, today: date | None = None) -> dict[str, Any]:
    """The whole city's dashboard of ``year``, counted now (not scoped, not read from a snapshot)."""
    today = today or local_today()
    rules = current_rules()
    edition = edition_in_force(year, today=today)
    counted = actuals(year, rules=rules, edition=edition, today=today)
    found, order = _targets(year)
    plan = _plan_targets(year)
    share, as_of = expected_share(rules, year, today)
    units = [_row(name, name, found.get(name), counted["units"].get(name, ZERO), share) for name in order]
    return {
        "year": year,
        "city": _row(CITY, None, found.get(None), counted["city"], share),
        "units": units,
        "parks": _number(plan.get(PARKS), counted["parks"], share),
        SETTLED: _number(plan.get(SETTLED), counted[SETTLED], share),
        "rules": describe(rules, year, edition=edition, today=today),
        "expected_share": float(share.quantize(Decimal("0.0001"))),
        "as_of": as_of.isoformat(),
        "frozen": False, "frozen_at": None,
        "edition": counted["edition"],
        "targets_add_up": targets_add_up(year),
    }


def snapshot_of(year: int) -> TargetSnapshot | None:
    return db.session.scalar(sa.select(TargetSnapshot).where(TargetSnapshot.year == year))


def _scoped(data: dict[str, Any], viewer: Any) -> dict[str, Any]:
    county = county_scope(viewer)
    if county is not None:
        data = {**data, "units": [row for row in data["units"] if row["county"] == county]}
    return data


# --- the figures cached under their data version (PostgreSQL) ------------------------------------------------------

VERSION_KIND = "targets"


def data_version() -> dict[str, int] | None:
    """``{"targets": n}``: the current version of everything the dashboard counts (one statement), or ``None``
    where nothing may be cached — SQLite, no counter, or this transaction has itself written such records (its
    note is pending: it must see its own change).

    On PostgreSQL every write to enterprises (county, 规上, settled 成渝 firms; a new or deleted one), their yearly
    figures, the lists' entries and editions, counties, parks, targets, plan targets, counting rules and snapshots
    moves the counter when the writing transaction commits (triggers of migration e5b8d2f4a9c1, on the mechanism
    of crm/core/cache.py). Those change a few times a day; the figures are read on every view, and computing
    them joins a 20,000-entry edition to 100,000 enterprises and their figures (≈ 20–100 ms at provincial scale)."""
    if not cache.enabled():
        return None
    pending = sa.select(PendingChange.id).limit(1).scalar_subquery()
    row = db.session.execute(sa.select(DataVersion.version, pending, cache.TABLE_OID)
                             .where(DataVersion.name == VERSION_KIND)).first()
    if row is None or row[1] is not None:
        return None
    cache.same_database(int(row[2]))  # a restored backup's counters: forget what was kept (crm/core/cache.py)
    return {VERSION_KIND: int(row[0])}


def _board(year: int, today: date) -> dict[str, Any] | None:
    """The whole city's dashboard of ``year`` (from its snapshot when frozen), ``None`` for a year without
    targets or snapshot."""
    snapshot = snapshot_of(year)
    if snapshot is not None:
        data = {key: value for key, value in snapshot.data.items() if not key.startswith("_")}
        data.update(rules=snapshot.rules, frozen=True, frozen_at=isoformat_local(snapshot.frozen_at))
        return data
    if year not in target_years():
        return None
    return compute(year, today=today)


def dashboard(year: int, viewer: Any, *, today: date | None = None) -> dict[str, Any]:
    """The targets dashboard of ``year`` as ``viewer`` may see it (module docstring); a frozen year is read from
    its snapshot, so it no longer moves. Refused (403) to anyone but admins, coordinators and leaders; an unknown
    year (no targets, no snapshot) is 404.

    On PostgreSQL the whole city's figures are kept per process under :func:`data_version` (read before they are
    computed) and the day (the trajectory moves daily), never stale: any committed change to what they count moves
    the version, so the next view computes afresh. The result is shared by later callers: read it, never change
    it."""
    require_view(viewer)
    today = today or local_today()
    # the database in the key too: two databases' counters (a test's own database) can have the same value
    key = ("targets.dashboard", db.session.get_bind().engine.url.render_as_string(), year, today)
    data = cache.cached(data_version(), (VERSION_KIND,), key, lambda: _board(year, today))
    if data is None:
        raise NotFound(f"{year}年没有目标")
    return _scoped(data, viewer)


# --- drill-down -----------------------------------------------------------------------------------------------------

def _frozen_ids(year: int, key: str) -> list | None:
    snapshot = snapshot_of(year)
    return None if snapshot is None else snapshot.data.get(key, [])


def drill_firms(year: int, viewer: Any, *, county: str | None = None, today: date | None = None) -> list[dict]:
    """The firms behind an actual (one county's, or the city's within the viewer's scope): ``[{"id", "name",
    "county", "output", "chengyu_output"}]`` (亿元), the largest first; frozen years list what was frozen."""
    require_view(viewer)
    scope = county_scope(viewer)
    if scope is not None and county not in (None, scope):
        raise Forbidden("您只能查看本区县的企业")
    county = county or scope
    frozen = _frozen_ids(year, "_firms")
    if frozen is not None:
        values = {row[0]: (row[1], row[2]) for row in frozen}
        stmt = (sa.select(Enterprise.id, Enterprise.name, County.name).join(County, Enterprise.county_id == County.id)
                .where(Enterprise.id.in_(list(values) or [-1])))
        if county:
            stmt = stmt.where(County.name == county)
        rows = [{"id": i, "name": n, "county": c, "output": values[i][0], "chengyu_output": values[i][1]}
                for i, n, c in db.session.execute(stmt)]
    else:
        if year not in target_years():
            raise NotFound(f"{year}年没有目标")
        rules = current_rules()
        firms = counted_firms_statement(year, edition_in_force(year, today=today), rules.output_measure).subquery()
        stmt = (sa.select(Enterprise.id, Enterprise.name, County.name, firms.c.output, firms.c.chengyu)
                .select_from(firms).join(Enterprise, Enterprise.id == firms.c.enterprise_id)
                .join(County, County.id == Enterprise.county_id))
        if county:
            stmt = stmt.where(County.name == county)
        rows = [{"id": i, "name": n, "county": c, "output": _yi(o), "chengyu_output": _yi(ch)}
                for i, n, c, o, ch in db.session.execute(stmt)]
    rows.sort(key=lambda r: (-r["output"], r["name"]))
    return rows


def drill_settled(year: int, viewer: Any, *, today: date | None = None) -> list[dict]:
    """The settled 成渝 firms behind the count (a county-scoped viewer: those of their county)."""
    require_view(viewer)
    frozen = _frozen_ids(year, "_settled")
    if frozen is not None:
        condition = Enterprise.id.in_(frozen or [-1])
    else:
        if year not in target_years():
            raise NotFound(f"{year}年没有目标")
        condition = Enterprise.id.in_(settled_statement(year, current_rules()))
    stmt = (sa.select(Enterprise.id, Enterprise.name, County.name, Enterprise.settled_on)
            .join(County, Enterprise.county_id == County.id).where(condition)
            .order_by(Enterprise.settled_on, Enterprise.name))
    scope = county_scope(viewer)
    if scope is not None:
        stmt = stmt.where(County.name == scope)
    return [{"id": i, "name": n, "county": c, "settled_on": s.isoformat() if s else None}
            for i, n, c, s in db.session.execute(stmt)]


def drill_parks(year: int, viewer: Any) -> list[dict]:
    """The recognised 配套产业园区 behind the count."""
    require_view(viewer)
    frozen = _frozen_ids(year, "_parks")
    if frozen is not None:
        condition = Park.id.in_(frozen or [-1])
    else:
        if year not in target_years():
            raise NotFound(f"{year}年没有目标")
        condition = Park.id.in_(parks_statement(year))
    stmt = (sa.select(Park.id, Park.name, County.name, Park.recognised_on, Park.recognition_document)
            .outerjoin(County, Park.county_id == County.id).where(condition).order_by(Park.recognised_on, Park.name))
    return [{"id": i, "name": n, "county": c, "recognised_on": r.isoformat() if r else None, "document": d}
            for i, n, c, r, d in db.session.execute(stmt)]


# --- the year-end freeze ----------------------------------------------------------------------------------------

def freeze_data(year: int, *, today: date | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, rules) to store for a year that is over: the whole city's dashboard and, under ``_``-keys, the
    records behind each count (for the drill-down of a frozen year)."""
    today = today or local_today()
    if not year_over(year, today):
        raise ValueError(f"{year}年尚未结束,不能冻结")
    data = compute(year, today=today)
    rules = data.pop("rules")
    counting = current_rules()
    firms = counted_firms_statement(year, edition_in_force(year, today=today), counting.output_measure).subquery()
    data["_firms"] = [[i, _yi(o), _yi(c)] for i, o, c in db.session.execute(
        sa.select(firms.c.enterprise_id, firms.c.output, firms.c.chengyu).order_by(firms.c.enterprise_id))]
    data["_settled"] = list(db.session.scalars(settled_statement(year, counting).order_by(Enterprise.id)))
    data["_parks"] = list(db.session.scalars(parks_statement(year).order_by(Park.id)))
    return data, rules

