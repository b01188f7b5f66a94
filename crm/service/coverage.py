"""The coverage matrix: listed enterprises × the five specialties' active commissioners, its filters, pages and
gap counts (read only; the writes are in :mod:`crm.service.assignments`).

"Listed" is the rosters' rule (:func:`crm.rosters.domain.published_member_ids`): on the current published edition
of either list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Specialty, User
from crm.core import cache
from crm.core.access import scope
from crm.core.errors import ValidationFailed
from crm.core.pagination import Page
from crm.core.parsing import parse_enum
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Cluster, County, id_by_name
from crm.rosters.domain import published_member_ids
from crm.rosters.models import EditionStatus, RosterEdition, RosterEntry, RosterKind
from crm.service.assignments import SPECIALTIES, parse_specialty
from crm.service.models import SPECIALTY_BITS, Assignment, ServiceAttention


@dataclass(frozen=True)
class CoverageCommissioner:
    """The commissioner of a coverage cell: what the matrix shows (``who()`` reads it like a :class:`User`)."""

    id: int
    username: str
    display_name: str


@dataclass(frozen=True)
class CoverageCell:
    """An active assignment as the matrix shows it (selected as columns, not loaded as an entity)."""

    id: int
    enterprise_id: int
    specialty: Specialty
    commissioner_id: int
    started_on: date
    commissioner: CoverageCommissioner


@dataclass(frozen=True)
class CoverageRef:
    """A county or cluster as the matrix shows it."""

    id: int
    name: str
    sort_order: int


@dataclass(frozen=True)
class CoverageEnterprise:
    """An enterprise as the matrix (and ``GET /api/v1/assignments/coverage``) shows it, read as plain columns:
    building 50 ``Enterprise`` entities with their county and cluster through the ORM cost more than the
    page's SQL (see benchmarks/README.md, "Fourth pass"). Reads like an :class:`Enterprise` for what it holds."""

    id: int
    name: str
    uscc: str
    name_pinyin: str
    is_demo: bool
    county: CoverageRef
    cluster: CoverageRef


@dataclass
class CoverageRow:
    enterprise: CoverageEnterprise
    lists: tuple[RosterKind, ...]
    cells: dict[Specialty, CoverageCell | None]

    @property
    def gaps(self) -> list[Specialty]:
        return [s for s in SPECIALTIES if self.cells.get(s) is None]


def parse_roster(roster: Any) -> RosterKind | None:
    return parse_enum(RosterKind, roster, field="roster", what="名单", title="名单类型不正确")


def parse_missing(missing: Any) -> Specialty | str | None:
    """The gap filter: ``None`` (all), ``"any"`` (rows with a gap) or one specialty."""
    if missing in (None, ""):
        return None
    if missing == "any":
        return "any"
    specialty = parse_specialty(missing)
    if specialty is None:
        raise ValidationFailed("缺口筛选不正确", {"missing": "缺口应为 any 或一个专长"})
    return specialty


def listed(kinds: Iterable[RosterKind]) -> sa.Exists:
    """The enterprise of the enclosing query is on the current published edition of one of ``kinds``: the rosters'
    rule (:func:`crm.rosters.domain.published_member_ids`, the same rows) as one correlated ``EXISTS`` over the
    entries of those editions.

    Why not ``id IN members(list) OR id IN members(other list)``: PostgreSQL cannot turn an ``IN`` under an ``OR``
    into a join, so it hashed all 20,000 members of each list on every view, before reading the first row (≈ 10 ms
    each for the count and for the page at provincial scale). A single ``EXISTS`` is planned as a semi-join: a
    page of one county walks ix_enterprises_county_id_name_pinyin and probes ix_roster_entries_enterprise_id for
    the ~120 rows it reads (9 → 1 ms); a commissioner's few hundred enterprises are probed instead of hashing
    40,000 entries; the count of a whole county or the city picks a hash semi-join if that is cheaper
    (benchmarks/README.md, "Fourth pass: coverage and 一企一档")."""
    kinds = list(kinds)
    editions = sa.select(RosterEdition.id).where(RosterEdition.status == EditionStatus.PUBLISHED)
    editions = editions.where(RosterEdition.kind == kinds[0]) if len(kinds) == 1 else editions.where(
        RosterEdition.kind.in_(kinds))
    return sa.exists().where(RosterEntry.enterprise_id == Enterprise.id, RosterEntry.edition_id.in_(editions))


def _is_active(specialty: Specialty | None = None) -> Any:
    """An active assignment of the enterprise of the enclosing query (of ``specialty`` when given)."""
    where = [Assignment.enterprise_id == Enterprise.id, Assignment.ended_on.is_(None)]
    if specialty is not None:
        where.append(Assignment.specialty == specialty)
    return where


def coverage_statement(user: Any, *, roster: RosterKind | str | None = None, county: str | None = None,
                       cluster: str | None = None, missing: Specialty | str | None = None) -> sa.Select:
    """``SELECT enterprises.id`` of the listed enterprises the user may see, filtered, in the matrix's order
    (county, pinyin, id): the base of :func:`coverage` and :func:`coverage_page`. Refuses bad filters (422).

    Listed: on the current published edition of either list, or of ``roster`` when given. ``missing``: ``"any"``
    keeps the enterprises with a gap, a specialty those without an active commissioner of it.
    """
    kind = parse_roster(roster)
    gap = parse_missing(missing)
    # One table unless the order needs the counties: the filters are conditions on the enterprise's own columns
    # (the cluster by a scalar subquery on the small reference table), so with a county chosen the matching ids
    # are read from ix_enterprises_county_id_name_pinyin alone (index-only, already in the matrix's order), and
    # the count joins nothing but service_attention.
    stmt = sa.select(Enterprise.id).where(listed([kind] if kind else list(RosterKind)))
    stmt = scope(user, Enterprise, stmt)
    county_id = None
    if county:
        county_id = id_by_name(County, county)  # the names kept per process (crm/reference/models.py)
        if county_id is None:
            raise ValidationFailed("区县不正确", {"county": f"未知区县:{county}"})
        stmt = stmt.where(Enterprise.county_id == county_id)
    if cluster:
        stmt = stmt.where(Enterprise.cluster_id == sa.select(Cluster.id).where(Cluster.name == cluster.strip())
                          .scalar_subquery())
    if gap == "any":  # at most one active assignment per specialty (the partial unique index): fewer than five
        active = sa.select(sa.func.count(Assignment.id)).where(*_is_active()).scalar_subquery()
        stmt = stmt.where(active < len(SPECIALTIES))
    elif gap is not None:
        stmt = stmt.where(~sa.exists().where(*_is_active(gap)))
    if county_id is not None:  # one county: its sort_order is the same for every row
        return stmt.order_by(Enterprise.name_pinyin, Enterprise.id)
    return stmt.join(County, Enterprise.county_id == County.id).order_by(*ORDER)


# The matrix's order: county, pinyin, id.
ORDER = (County.sort_order, Enterprise.name_pinyin, Enterprise.id)


def _rows(ids: Any, *, flags: dict[RosterKind, Any] | None = None, page: bool = False) -> list[CoverageRow]:
    """The matrix rows of the enterprises ``ids`` (a :func:`coverage_statement` as a subquery) in the matrix's
    order: the enterprises with their list memberships (``flags``: a condition per list, by default ``IN`` its
    members), then their active assignments as columns. ``page``: ``ids`` is one page (``LIMIT``: at most
    ``PER_PAGE_MAX``), so the assignments are read for the ids found rather than by running it again."""
    flags = flags or {k: Enterprise.id.in_(published_member_ids(k)) for k in RosterKind}
    flags = [flags[k].label(f"on_{k.value}") for k in RosterKind]
    columns_stmt = (sa.select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.name_pinyin,
                              Enterprise.is_demo, County.id, County.name, County.sort_order, Cluster.id,
                              Cluster.name, Cluster.sort_order, *flags)
                    .join(County, Enterprise.county_id == County.id)
                    .join(Cluster, Enterprise.cluster_id == Cluster.id).where(Enterprise.id.in_(ids))
                    .order_by(*ORDER))
    rows: list[CoverageRow] = []
    counties: dict[int, CoverageRef] = {}
    clusters: dict[int, CoverageRef] = {}
    # A page's rows (both statements) are kept per process while nothing they read changes (crm/core/cache.py,
    # :data:`COUNT_KINDS`: the lists' entries and the assignments, the enterprises' names, placement and the users'
    # names; keyed by the statement and its values): the matrix is read many times between two assignments, and
    # its page was ≈ 6 ms of the database's time a view at provincial scale (the seventh pass). The whole matrix
    # (an export) is read, never kept.
    def read(name: str, stmt: sa.Select) -> Any:
        return cache.cached_rows(name, COUNT_KINDS, stmt) if page else db.session.execute(stmt)

    for (eid, name, uscc, pinyin, is_demo, county_id, county_name, county_order, cluster_id, cluster_name,
         cluster_order, *on) in read("coverage.rows", columns_stmt):
        county = counties.get(county_id) or counties.setdefault(
            county_id, CoverageRef(county_id, county_name, county_order))
        cluster = clusters.get(cluster_id) or clusters.setdefault(
            cluster_id, CoverageRef(cluster_id, cluster_name, cluster_order))
        lists = tuple(k for k, flag in zip(RosterKind, on, strict=True) if flag)
        rows.append(CoverageRow(enterprise=CoverageEnterprise(eid, name, uscc, pinyin, bool(is_demo), county, cluster),
                                lists=lists, cells=dict.fromkeys(SPECIALTIES)))
    if rows:
        by_id = {row.enterprise.id: row for row in rows}
        if page:
            ids = list(by_id)
        for a_id, eid, specialty, user_id, started_on, username, display_name in read(
                "coverage.cells",
                sa.select(Assignment.id, Assignment.enterprise_id, Assignment.specialty, Assignment.commissioner_id,
                          Assignment.started_on, User.username, User.display_name)
                .join(User, Assignment.commissioner_id == User.id)
                .where(Assignment.ended_on.is_(None), Assignment.enterprise_id.in_(ids))):
            row = by_id.get(eid)
            if row is not None:
                row.cells[specialty] = CoverageCell(a_id, eid, specialty, user_id, started_on,
                                                    CoverageCommissioner(user_id, username, display_name))
    return rows


def _page_rows(stmt: sa.Select, page: int, per_page: int) -> list[CoverageRow]:
    """One page of the matrix, a "deferred join" in one statement: the page's ids in a subquery (``stmt`` selects
    only ids: the sort carries narrow rows, and its ``LIMIT`` keeps it apart from the outer query), then those
    enterprises with their list memberships around it; then their assignments. (Until the fourth pass the ids
    were a statement of their own.)

    The memberships of the page's rows are correlated probes of uq_roster_entries_edition_id_enterprise_id (two
    per row), not ``IN`` the 20,000 members of each list: as a filter and a flag on every matching row, those were
    four hash tables of 20,000 ids built per view and the flags computed for all 5,577 rows of 汇川区 before the
    sort cut them to 50 (see benchmarks/README.md)."""
    ids = stmt.limit(per_page).offset((page - 1) * per_page)
    published = {kind: sa.exists().where(
        RosterEntry.enterprise_id == Enterprise.id,
        RosterEntry.edition_id.in_(sa.select(RosterEdition.id).where(
            RosterEdition.kind == kind, RosterEdition.status == EditionStatus.PUBLISHED)))
        for kind in RosterKind}
    return _rows(ids, flags=published, page=True)


def page_key(stmt: sa.Select, page: int, per_page: int) -> tuple[Any, ...]:
    """What determines a page's rows under :data:`COUNT_KINDS`' versions: the page's id statement (the user's
    scope, the filters, the page) as :func:`crm.core.cache.statement_key`. The page's drawn rows are kept under
    it (the coverage view)."""
    return cache.statement_key(stmt.limit(per_page).offset((page - 1) * per_page))


def coverage(user: Any, *, roster: RosterKind | str | None = None, county: str | None = None,
             cluster: str | None = None, missing: Specialty | str | None = None) -> list[CoverageRow]:
    """Every listed enterprise the user may see × the five specialties' active commissioners (``None``: a gap).

    Two queries whatever the number of rows: the enterprises (with their list memberships), the assignments
    (of the same enterprises, as a subquery). The pages and the API show :func:`coverage_page` instead.
    """
    stmt = coverage_statement(user, roster=roster, county=county, cluster=cluster, missing=missing)
    return _rows(stmt.order_by(None))


def coverage_counts(stmt: sa.Select) -> tuple[int, dict[Specialty, int]]:
    """How many enterprises ``stmt`` (a :func:`coverage_statement`) matches, and the gaps per specialty among
    them, in one aggregate query.

    The specialties covered come from ``service_attention.active_specialties`` (one bit per specialty with an
    active assignment, kept by the database's triggers, crm.service.models.ServiceAttention): one primary-key
    probe of a narrow row per enterprise instead of reading its five or six assignment rows from the heap (for
    汇川区's 5,577 listed enterprises: 27,885 assignment rows; see benchmarks/README.md). An enterprise without a
    row has none.

    Kept per process while nothing it reads changes (crm/core/cache.py, PostgreSQL): it is the largest cost of a
    view (13 ms of 37 at provincial scale) and its data changes a few times a day. Keyed by the statement itself
    (its structure and bound values: the user's scope, the county, cluster, list and gap filters), under
    :data:`COUNT_KINDS`."""
    matching = stmt.order_by(None).subquery()
    covered = sa.func.coalesce(ServiceAttention.active_specialties, 0)
    aggregate = (sa.select(sa.func.count(), *(sa.func.coalesce(sa.func.sum(sa.case(
        (covered.op("&")(SPECIALTY_BITS[s]) == 0, 1), else_=0)), 0) for s in SPECIALTIES))
        .select_from(matching)
        .outerjoin(ServiceAttention, ServiceAttention.enterprise_id == matching.c.id))
    ((total, *counts),) = cache.cached_rows("coverage.counts", COUNT_KINDS, aggregate)
    return int(total or 0), {s: int(n or 0) for s, n in zip(SPECIALTIES, counts, strict=True)}


# What the matrix's count reads, as data versions (crm/core/cache.py): ``assignments`` (the assignments behind
# ``service_attention.active_specialties`` and the gap filters, a commissioner's scope, the lists' entries and
# editions, an enterprise's county) and ``reference`` (an enterprise's cluster, new or deleted enterprises, the
# counties joined for the order, the clusters' names the filter matches).
COUNT_KINDS = ("assignments", "reference")


@dataclass
class CoveragePage:
    page: Page  # items: CoverageRow
    gap_counts: dict[Specialty, int]
    key: tuple[Any, ...] | None = None  # the rows' :func:`page_key` (none without rows)


def coverage_page(user: Any, page: int, per_page: int, *, clamp: bool = False, **filters: Any) -> CoveragePage:
    """One page of the matrix and the gap counts of all the matching enterprises (not only the page's).

    Three queries: the count with the gaps, the page's enterprises (their ids in a subquery), their assignments.
    ``clamp``: a page past the end shows the last one (the pages); else it is empty (the API).
    """
    stmt = coverage_statement(user, **filters)
    total, gaps = coverage_counts(stmt)
    if clamp:
        page = min(page, max(1, -(-total // per_page)))
    rows: list[CoverageRow] = []
    key = None
    if total and (page - 1) * per_page < total:
        rows = _page_rows(stmt, page, per_page)
        key = page_key(stmt, page, per_page)
    return CoveragePage(page=Page(items=rows, total=total, page=page, per_page=per_page), gap_counts=gaps, key=key)


def gap_counts(rows: Iterable[CoverageRow]) -> dict[Specialty, int]:
    counts = dict.fromkeys(SPECIALTIES, 0)
    for row in rows:
        for specialty in row.gaps:
            counts[specialty] += 1
    return counts
