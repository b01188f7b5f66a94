"""The commissioner's workspace (我的企业): their enterprises, sorted by what needs attention first.

Shared by the workspace page and anything else that wants the same view (a fixed number of queries): the
attention order is computed in SQL, and only the shown page's enterprises and assignments are loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role, Specialty, User
from crm.core import cache
from crm.core.access import scope
from crm.core.access import where as access_where
from crm.core.pagination import Page
from crm.core.transactions import prepared
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Cluster, County, names_of
from crm.service.assignments import SPECIALTIES
from crm.service.models import Assignment, RequestStatus, ServiceAttention, ServiceRequest
from crm.service.requests import OPEN_STATUSES as OPEN

S = RequestStatus


def _is_commissioner(user: object) -> bool:
    return getattr(user, "role", None) is Role.COMMISSIONER


@dataclass(frozen=True, slots=True)
class WorkspaceEnterprise:
    """What a workspace row shows of its enterprise, read as plain columns (no ``Enterprise`` with its three
    eager relations and thirty columns per row: building those was a third of the page's Python time)."""

    id: int
    name: str
    name_pinyin: str
    is_demo: bool
    county_name: str | None
    cluster_name: str | None


@dataclass(frozen=True, slots=True)
class WorkspaceAssignment:
    """An active assignment as a row shows it: the specialty and the commissioner's name (plain columns)."""

    id: int
    specialty: Specialty
    commissioner_name: str


@dataclass
class WorkspaceRow:
    """One enterprise on the workspace with what needs attention."""

    enterprise: WorkspaceEnterprise
    assignments: list[WorkspaceAssignment] = field(default_factory=list)
    last_contact: date | None = None
    days_since: int | None = None
    overdue_follow_ups: int = 0
    follow_up_due: date | None = None  # the earliest follow-up date missed
    open_requests: int = 0
    overdue_requests: int = 0
    next_due: date | None = None  # the nearest due date of an open request
    awaiting_visit: int = 0  # resolved, waiting for the 回访 that closes them

    @property
    def specialties(self) -> list[Specialty]:
        return sorted({a.specialty for a in self.assignments}, key=SPECIALTIES.index)

    @property
    def log_specialty(self) -> Specialty | None:
        found = self.specialties
        return found[0] if found else None

    @property
    def next_due_overdue(self) -> bool:
        return self.overdue_requests > 0

    def attention(self) -> tuple:
        """Sort key: overdue requests, then missed follow-ups, then the longest since the last contact (never
        contacted first), then the nearest due date."""
        never = 10**6
        return (self.overdue_requests == 0, self.overdue_follow_ups == 0,
                -(never if self.days_since is None else self.days_since),
                self.next_due or date.max, self.enterprise.name_pinyin, self.enterprise.id)


@dataclass
class WorkspacePage:
    page: Page  # items: WorkspaceRow
    summary: dict[str, int]  # enterprises, overdue_requests, overdue_follow_ups, never (over all, not the page)
    # What determines the rows under :data:`ROW_KINDS`' versions: the page's statement and values
    # (crm.core.cache.statement_key: the scope, the commissioner, today, the page); none without rows.
    key: tuple[Any, ...] | None = None


def workspace_page(user: User, commissioner: User | None, today: date, page: int, per_page: int, *,
                   clamp: bool = True) -> WorkspacePage:
    """One page of the workspace: the enterprises under active assignment that ``user`` may see (a commissioner:
    their own; else those of ``commissioner``, or all), sorted by :meth:`WorkspaceRow.attention` in SQL.

    Two queries whatever the number of enterprises: the page's enterprises with their attention figures and
    the summary over all of them (window aggregates over the narrow figures, so they are computed once), then
    the page's assignments with their commissioners. Past the end (no row came back) one more query counts, and
    with ``clamp`` the last page is shown.
    """
    if _who(user, commissioner) is None:  # everyone served in the user's scope: the grouped, index-driven page
        condition = access_where(user, Enterprise)
        summary = _served_summary(condition, today)
        if clamp:
            page = min(page, max(1, -(-summary["enterprises"] // per_page)))
        rows, key = _grouped_page_rows(condition, today, page, per_page) if summary["enterprises"] else ([], None)
        return WorkspacePage(page=Page(items=rows, total=summary["enterprises"], page=page, per_page=per_page),
                             summary=summary, key=key if rows else None)
    figures = _figures(user, commissioner, today)
    rows, summary, key = _page_rows(user, commissioner, today, figures, page, per_page)
    if summary is None:
        summary = _summary(figures)
        last = max(1, -(-summary["enterprises"] // per_page))
        if clamp and page > last:
            page = last
            rows, _, key = _page_rows(user, commissioner, today, figures, page, per_page)
    return WorkspacePage(page=Page(items=rows, total=summary["enterprises"], page=page, per_page=per_page),
                         summary=summary, key=key if rows else None)


FIGURES = ("last_contact", "overdue_follow_ups", "follow_up_due", "open_requests", "overdue_requests", "next_due",
           "awaiting_visit")


def _flags(c: Any) -> list[Any]:
    """The summary's conditions, over a :func:`_figures` statement's columns ``c``."""
    return [c.overdue_requests > 0, c.overdue_follow_ups > 0, c.last_contact.is_(None)]


def _summary_statement(stmt: sa.Select) -> sa.Select:
    figures = stmt.subquery()
    return sa.select(sa.func.count(), *(sa.func.coalesce(sa.func.sum(sa.case((flag, 1), else_=0)), 0)
                                        for flag in _flags(figures.c))).select_from(figures)


def _summary_row(row: Any) -> dict[str, int]:
    total, overdue, missed, never = row
    return {"enterprises": int(total or 0), "overdue_requests": int(overdue or 0),
            "overdue_follow_ups": int(missed or 0), "never": int(never or 0)}


def _summary(stmt: sa.Select) -> dict[str, int]:
    return _summary_row(db.session.execute(_summary_statement(stmt)).one())


# The statements of everyone's served enterprises (:func:`_served_summary`, :func:`_grouped_page_rows`) are built
# once per process and scope, with today, the page's limits and offset as bound parameters: building the eight-part
# UNION and its columns was ≈ 5 ms of Python a view (benchmarks/README.md, "Fourth pass: workspace and ledger").
# Keyed by the scope's condition as compiled SQL with its values (a county coordinator's ``county_id = 2``; None
# for a city-wide user), so two scopes never share a statement; bounded, cleared when full.
TODAY = "workspace_today"
_STATEMENTS: dict[tuple, sa.Select] = {}
_STATEMENTS_MAX = 64


def _today() -> Any:
    return sa.bindparam(TODAY, type_=sa.Date)


def _built(kind: str, condition: Any, build: Callable[[Any], sa.Select]) -> sa.Select:
    """The statement ``build(condition)`` for ``kind``, built once per process and scope ``condition``."""
    if condition is None:
        key: tuple = (kind, None)
    else:
        compiled = condition.compile()
        key = (kind, str(compiled), tuple(sorted((name, repr(value)) for name, value in compiled.params.items())))
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if len(_STATEMENTS) >= _STATEMENTS_MAX:
            _STATEMENTS.clear()
        stmt = _STATEMENTS[key] = build(condition)
    return stmt


def _served(condition: Any) -> sa.Select:
    """:func:`_figures` of everyone's served enterprises within ``condition`` (the user's scope on enterprises),
    today as the bound parameter :data:`TODAY`."""
    attention = ServiceAttention
    stmt = (sa.select().select_from(attention).join(Enterprise, Enterprise.id == attention.enterprise_id)
            .where(attention.active_assignments > 0))
    if condition is not None:
        stmt = stmt.where(condition)
    return _with_figures(stmt, attention.enterprise_id, _today())


def _served_summary(condition: Any, today: date) -> dict[str, int]:
    """:func:`_summary` of everyone's served enterprises within ``condition`` (the user's scope on enterprises),
    read from ``service_attention`` alone (a city-wide user: one scan of its narrow rows, no join to the
    enterprises).

    Kept per process while nothing it reads changes (crm/core/cache.py, PostgreSQL, :data:`SUMMARY_KINDS`): it is
    read on every view of every coordinator and leader (a scan of the 32,000 served rows, 5–12 ms at provincial
    scale) and changes only with a write to the records behind ``service_attention``. Keyed by the statement and
    its values (the scope's condition, today)."""
    def build(condition: Any) -> sa.Select:
        attention = ServiceAttention
        today = _today()
        stmt = sa.select(attention.last_contact.label("last_contact"),
                         sa.case((attention.next_due < today, 1), else_=0).label("overdue_requests"),
                         sa.case((attention.follow_up < today, 1), else_=0).label("overdue_follow_ups")
                         ).where(attention.active_assignments > 0)
        if condition is not None:
            stmt = stmt.join(Enterprise, Enterprise.id == attention.enterprise_id).where(condition)
        return _summary_statement(stmt)

    (row,) = cache.cached_rows("workspace.summary", SUMMARY_KINDS, _built("summary", condition, build), {TODAY: today})
    return _summary_row(row)


# What the coordinators' summary reads, as data versions (crm/core/cache.py): ``service_attention``, which the
# database recomputes from ``assignments``, ``interactions`` and ``service_requests`` (the three kinds), and, for a
# county's scope, the enterprises' county (a change of it moves ``assignments`` and ``requests``).
SUMMARY_KINDS = ("assignments", "interactions", "requests")


def _shown(c: Any, today: date) -> list[Any]:
    """The :data:`FIGURES` columns of the rows shown, over :func:`_figures` columns ``c`` (the overdue flag
    replaced by the count)."""
    return [_overdue_count(c, today).label(name) if name == "overdue_requests" else c[name] for name in FIGURES]


def _page_rows(user: User, commissioner: User | None, today: date, stmt: sa.Select, page: int, per_page: int
               ) -> tuple[list[WorkspaceRow], dict[str, int] | None, tuple[Any, ...]]:
    """The page's rows, the summary of all rows (``None`` when the page is past the end) and the rows' key
    (:attr:`WorkspacePage.key`).

    A "deferred join": the narrow figures (ids, pinyin and numbers) are ordered and cut to the page, and only
    then are the page's enterprises (with their eager relations) joined: the sort never carries 30,000 wide rows.
    """
    totals = [sa.func.count().over().label("total_"),
              *(sa.func.sum(sa.case((flag, 1), else_=0)).over().label(f"flag_{i}")
                for i, flag in enumerate(_flags(stmt.selected_columns)))]
    paged = (stmt.add_columns(*totals).order_by(*_order(stmt.selected_columns))
             .limit(per_page).offset((page - 1) * per_page).subquery("paged"))
    full = _with_enterprise(paged, _shown(paged.c, today), *(paged.c[t.name] for t in totals))
    summary: dict[str, int] | None = None

    def figures(row: Any) -> Any:
        nonlocal summary
        if summary is None:
            total, overdue, missed, never = row[-4:]
            summary = {"enterprises": int(total or 0), "overdue_requests": int(overdue or 0),
                       "overdue_follow_ups": int(missed or 0), "never": int(never or 0)}
        return row[:-4]

    # One commissioner's enterprises (their assignments, ~300): the plan is the same for every commissioner and
    # page, kept on the connection (crm.core.transactions.prepared): the statement's round trip 13–16 → 9–10 ms at
    # 100,000 enterprises, planning included. (Everyone's served enterprises, the grouped page, keep planning per
    # view: a kept plan read the county's or city's rows unordered, 26–39 ms against 8–15.)
    full = prepared(full)
    rows = _rows(user, commissioner, today, full, figures, kept=True)
    return rows, summary, cache.statement_key(full)


def _groups(today: date) -> list[Any]:
    """The attention order's leading groups as conditions on ``service_attention``, in order: overdue and a missed
    follow-up, overdue only, a missed follow-up only, neither; each split into never contacted, then contacted."""
    attention = ServiceAttention
    overdue = sa.and_(attention.next_due.is_not(None), attention.next_due < today)
    missed = sa.and_(attention.follow_up.is_not(None), attention.follow_up < today)
    flags = [sa.and_(overdue, missed), sa.and_(overdue, sa.not_(missed)), sa.and_(sa.not_(overdue), missed),
             sa.and_(sa.not_(overdue), sa.not_(missed))]
    return [sa.and_(flag, never) for flag in flags
            for never in (attention.last_contact.is_(None), attention.last_contact.is_not(None))]


def _grouped_page_rows(condition: Any, today: date, page: int, per_page: int
                       ) -> tuple[list[WorkspaceRow], tuple[Any, ...]]:
    """One page of everyone's served enterprises (a coordinator, a leader, an admin: within
    ``condition``, their scope on enterprises) without sorting them all.

    The attention order starts with two flags that depend on today (overdue, follow-up missed) and "never
    contacted"; within each of those eight groups it is ``last_contact, next_due, name_pinyin, id``, which
    ix_service_attention_order (``last_contact, next_due, enterprise_id``) gives presorted on PostgreSQL (an
    incremental sort adds the pinyin of the few rows with equal dates, read from the enterprises by primary key).
    So each group is read in order and cut at ``page × per_page`` rows (a ``UNION ALL`` of eight small ordered
    reads; the missed follow-ups, few, by ix_service_attention_follow_up), and only those rows are sorted. Page 1
    of the city coordinator's 32,000 enterprises reads about a hundred rows (sorting all 32,000 was ≈ 45 ms, with
    the window totals and the join for the pinyin ≈ 200 ms; see benchmarks/README.md). Deep pages cost more
    (linear in the offset), as with any OFFSET.
    """
    def build(condition: Any) -> sa.Select:
        attention = ServiceAttention
        stmt = _served(condition)
        enough = sa.bindparam("workspace_enough", type_=sa.Integer)
        parts = [stmt.where(group).order_by(attention.last_contact, attention.next_due, Enterprise.name_pinyin,
                                             attention.enterprise_id).limit(enough).subquery(f"group_{n}")
                 for n, group in enumerate(_groups(_today()))]
        union = sa.union_all(*(sa.select(part) for part in parts)).subquery("groups")
        paged = (sa.select(union).order_by(*_order(union.c))
                 .limit(sa.bindparam("workspace_limit", type_=sa.Integer))
                 .offset(sa.bindparam("workspace_offset", type_=sa.Integer)).subquery("paged"))
        return _with_enterprise(paged, _shown(paged.c, _today()))

    params = {TODAY: today, "workspace_enough": page * per_page, "workspace_limit": per_page,
              "workspace_offset": (page - 1) * per_page}
    stmt = _built("page", condition, build)
    return _rows(None, None, today, stmt, params=params, kept=True), cache.statement_key(stmt, params)


def workspace_rows(user: User, commissioner: User | None, today: date) -> list[WorkspaceRow]:
    """All the rows of :func:`workspace_page`, in the same order (two queries)."""
    figures = _figures(user, commissioner, today).subquery("figures")
    return _rows(user, commissioner, today, _with_enterprise(figures, _shown(figures.c, today)))


def _who(user: User, commissioner: User | None) -> User | None:
    return user if _is_commissioner(user) else commissioner


def _visible_ids(user: User, commissioner: User | None) -> sa.Select:
    """Ids of the enterprises under active assignment that ``user`` may see (of ``commissioner`` when given)."""
    stmt = sa.select(Assignment.enterprise_id).where(Assignment.ended_on.is_(None))
    if access_where(user, Enterprise) is not None:  # a city-wide user: no join to all 100,000 enterprises
        stmt = scope(user, Enterprise, stmt.join(Enterprise, Assignment.enterprise_id == Enterprise.id))
    who = _who(user, commissioner)
    if who is not None:
        stmt = stmt.where(Assignment.commissioner_id == who.id)
    return stmt


def _figures(user: User, commissioner: User | None, today: date) -> sa.Select:
    """Per visible enterprise, narrow: ``enterprise_id``, ``name_pinyin`` and the figures of :class:`WorkspaceRow`
    (:data:`FIGURES`), unordered; ``overdue_requests`` is a flag here (1: some open request is past its due date),
    the page's rows get the count (:func:`_overdue_count`).

    In the database's terms: the figures are read from ``service_attention`` (:class:`ServiceAttention`), which the
    database keeps per enterprise by triggers on assignments, interactions and requests, so nothing is aggregated
    here. What depends on today is computed from stored dates: overdue is ``next_due < today`` (the earliest due
    date of an open request), a missed follow-up is the latest interaction's ``follow_up < today`` (only the latest
    interaction can lack a later one, so it is 0 or 1). A commissioner's (or a chosen commissioner's) enterprises
    come from their active assignments (~300); everyone else's are the rows with ``active_assignments > 0`` in
    their scope. The earlier form probed interactions and requests per visible enterprise on every view (two
    ``LATERAL`` probes for each of the city's 32,000 served enterprises: 0.4–0.6 s; see benchmarks/README.md).
    """
    attention = ServiceAttention
    who = _who(user, commissioner)
    if who is not None:
        shown = _visible_ids(user, commissioner).distinct().subquery("shown")
        enterprise_id = shown.c.enterprise_id
        stmt = sa.select().select_from(
            shown.join(Enterprise, Enterprise.id == enterprise_id)
            .outerjoin(attention, attention.enterprise_id == enterprise_id))
    else:
        enterprise_id = attention.enterprise_id
        stmt = (sa.select().select_from(attention).join(Enterprise, Enterprise.id == enterprise_id)
                .where(attention.active_assignments > 0))
        if access_where(user, Enterprise) is not None:
            stmt = scope(user, Enterprise, stmt)
    return _with_figures(stmt, enterprise_id, today)


def _with_figures(stmt: sa.Select, enterprise_id: Any, today: Any) -> sa.Select:
    """``stmt`` (FROM the visible enterprises, ``service_attention`` and ``enterprises`` joined) with the columns of
    :func:`_figures`; ``today`` a date or a bound parameter."""
    attention = ServiceAttention
    missed = sa.and_(attention.follow_up.is_not(None), attention.follow_up < today)
    return stmt.add_columns(
        enterprise_id.label("enterprise_id"), Enterprise.name_pinyin.label("name_pinyin"),
        attention.last_contact.label("last_contact"),
        sa.case((missed, 1), else_=0).label("overdue_follow_ups"),
        sa.case((missed, attention.follow_up), else_=None).label("follow_up_due"),
        sa.func.coalesce(attention.open_requests, 0).label("open_requests"),
        sa.case((attention.next_due < today, 1), else_=0).label("overdue_requests"),
        attention.next_due.label("next_due"),
        sa.func.coalesce(attention.awaiting_visit, 0).label("awaiting_visit"))


def _overdue_count(c: Any, today: date) -> Any:
    """The number of overdue requests of the enterprise of columns ``c`` (a :func:`_figures` row): an index-only
    range of ix_service_requests_enterprise_id_status, run only for the rows shown that have any."""
    # the statuses as plain equalities, not an expanding IN: an IN list makes SQLAlchemy rewrite the whole
    # (large, eight-part) statement's text on every execution (≈ 3 ms a view)
    count = (sa.select(sa.func.count()).select_from(ServiceRequest)
             .where(ServiceRequest.enterprise_id == c.enterprise_id,
                    sa.or_(*(ServiceRequest.status == status for status in OPEN)),
                    ServiceRequest.due_date < today).scalar_subquery())
    return sa.case((c.overdue_requests > 0, count), else_=0)


def _order(c: Any) -> list[Any]:
    """:meth:`WorkspaceRow.attention` in SQL over columns ``c`` named as in :func:`_figures`: overdue requests,
    missed follow-ups, the oldest last contact (never first), the nearest due date (none last), then pinyin and
    id."""
    return [sa.case((c.overdue_requests > 0, 0), else_=1), sa.case((c.overdue_follow_ups > 0, 0), else_=1),
            sa.case((c.last_contact.is_(None), 0), else_=1), c.last_contact,
            sa.case((c.next_due.is_(None), 1), else_=0), c.next_due, c.name_pinyin, c.enterprise_id]


# The county and the cluster by id: their names come from the names kept per process (crm.reference.models.names_of,
# the data version ``reference``), not from two more joins — the planner weighed every order of them, ≈ 4.4 ms of
# planning for the city coordinator's page at provincial scale (the seventh pass).
ENTERPRISE_COLUMNS = (Enterprise.id, Enterprise.name, Enterprise.name_pinyin, Enterprise.is_demo, Enterprise.county_id,
                      Enterprise.cluster_id)


def _with_enterprise(ordered: Any, shown: list[Any], *extra: Any) -> sa.Select:
    """The rows of ``ordered`` (a subquery of :func:`_figures` columns), in :func:`_order`, with the enterprise's
    :data:`ENTERPRISE_COLUMNS` (joined by primary key), the ``shown`` figures and ``extra`` columns: one statement of
    plain columns."""
    return (sa.select(*ENTERPRISE_COLUMNS, *shown, *extra).select_from(Enterprise)
            .join(ordered, ordered.c.enterprise_id == Enterprise.id)
            .order_by(*_order(ordered.c)))


# What a page's rows read, as data versions (crm/core/cache.py): the figures (SUMMARY_KINDS) and the enterprises'
# names, pinyin, demo flag, county and cluster (``reference``); the assignments shown, their commissioners' names.
PAGE_KINDS = (*SUMMARY_KINDS, "reference")
ASSIGNMENT_KINDS = ("assignments", "reference")
ROW_KINDS = PAGE_KINDS  # both: what a page's drawn rows show


def _rows(user: User | None, commissioner: User | None, today: date, stmt: sa.Select,
          figures: Callable[[Any], Any] = tuple, *, params: dict[str, Any] | None = None,
          kept: bool = False) -> list[WorkspaceRow]:
    """The rows of an ordered :func:`_with_enterprise` statement (each result row through ``figures`` first), with
    the assignments shown (one more query, plain columns: the specialty and the commissioner's name).

    ``kept``: both statements' rows are kept per process while nothing they read changes (crm/core/cache.py,
    :data:`PAGE_KINDS`, :data:`ASSIGNMENT_KINDS`; keyed by the statement and its values — the scope, the page,
    today): a workspace is read many times between two writes to its figures, and its page was ≈ 8 ms of the
    database's time a view at provincial scale (planning the eight-part statement ≈ 4 ms; the seventh pass). A
    write to any of them shows at the next view, as everywhere the cache is used."""
    rows: dict[int, WorkspaceRow] = {}
    width = len(ENTERPRISE_COLUMNS)
    found = (cache.cached_rows("workspace.page", PAGE_KINDS, stmt, params) if kept
             else db.session.execute(stmt, params or {}).all())
    if not found:
        return []
    counties, clusters = dict(names_of(County)), dict(names_of(Cluster))
    for result in found:
        result = figures(result)
        ident, name, pinyin, demo, county_id, cluster_id = result[:width]
        enterprise = WorkspaceEnterprise(ident, name, pinyin, demo, counties.get(county_id), clusters.get(cluster_id))
        last, missed, due, open_count, overdue, next_due, awaiting = result[width:]
        rows[enterprise.id] = WorkspaceRow(
            enterprise, last_contact=last, days_since=(today - last).days if last is not None else None,
            overdue_follow_ups=int(missed or 0), follow_up_due=due, open_requests=int(open_count or 0),
            overdue_requests=int(overdue or 0), next_due=next_due, awaiting_visit=int(awaiting or 0))
    if not rows:
        return []
    assignments = prepared(  # by the page's ids: the same plan for any page (0.9 → 0.5 ms)
        sa.select(Assignment.enterprise_id, Assignment.id, Assignment.specialty, User.display_name)
        .join(User, User.id == Assignment.commissioner_id)
        .where(Assignment.ended_on.is_(None), Assignment.enterprise_id.in_(list(rows)))
        .order_by(Assignment.enterprise_id, Assignment.id))
    who = _who(user, commissioner) if user is not None else None
    if who is not None:
        assignments = assignments.where(Assignment.commissioner_id == who.id)
    for enterprise_id, assignment_id, specialty, name in (
            cache.cached_rows("workspace.assignments", ASSIGNMENT_KINDS, assignments) if kept
            else db.session.execute(assignments)):
        rows[enterprise_id].assignments.append(WorkspaceAssignment(assignment_id, specialty, name))
    for row in rows.values():
        row.assignments.sort(key=lambda a: (SPECIALTIES.index(a.specialty), a.id))
    return list(rows.values())
