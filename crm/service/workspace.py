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
from sqlalchemy.orm import aliased, joinedload

from crm.auth.models import Role, Specialty, User
from crm.core.access import scope
from crm.core.access import where as access_where
from crm.core.pagination import Page
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service.assignments import SPECIALTIES
from crm.service.models import Assignment, Interaction, RequestStatus, ServiceRequest
from crm.service.requests import OPEN_STATUSES as OPEN

S = RequestStatus


def _is_commissioner(user: object) -> bool:
    return getattr(user, "role", None) is Role.COMMISSIONER


@dataclass
class WorkspaceRow:
    """One enterprise on the workspace with what needs attention."""

    enterprise: Enterprise
    assignments: list[Assignment] = field(default_factory=list)
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


def workspace_page(user: User, commissioner: User | None, today: date, page: int, per_page: int, *,
                   clamp: bool = True) -> WorkspacePage:
    """One page of the workspace: the enterprises under active assignment that ``user`` may see (a commissioner:
    their own; else those of ``commissioner``, or all), sorted by :meth:`WorkspaceRow.attention` in SQL.

    Two queries whatever the number of enterprises: the page's enterprises with their attention figures and
    the summary over all of them (window aggregates over the narrow figures, so they are computed once), then
    the page's assignments with their commissioners. Past the end (no row came back) one more query counts, and
    with ``clamp`` the last page is shown.
    """
    figures = _figures(user, commissioner, today)
    rows, summary = _page_rows(user, commissioner, today, figures, page, per_page)
    if summary is None:
        summary = _summary(figures)
        last = max(1, -(-summary["enterprises"] // per_page))
        if clamp and page > last:
            page = last
            rows, _ = _page_rows(user, commissioner, today, figures, page, per_page)
    return WorkspacePage(page=Page(items=rows, total=summary["enterprises"], page=page, per_page=per_page),
                         summary=summary)


FIGURES = ("last_contact", "overdue_follow_ups", "follow_up_due", "open_requests", "overdue_requests", "next_due",
           "awaiting_visit")


def _flags(c: Any) -> list[Any]:
    """The summary's conditions, over a :func:`_figures` statement's columns ``c``."""
    return [c.overdue_requests > 0, c.overdue_follow_ups > 0, c.last_contact.is_(None)]


def _summary(stmt: sa.Select) -> dict[str, int]:
    figures = stmt.subquery()
    total, overdue, missed, never = db.session.execute(sa.select(
        sa.func.count(), *(sa.func.coalesce(sa.func.sum(sa.case((flag, 1), else_=0)), 0)
                           for flag in _flags(figures.c))).select_from(figures)).one()
    return {"enterprises": int(total or 0), "overdue_requests": int(overdue or 0),
            "overdue_follow_ups": int(missed or 0), "never": int(never or 0)}


def _page_rows(user: User, commissioner: User | None, today: date, stmt: sa.Select, page: int, per_page: int
               ) -> tuple[list[WorkspaceRow], dict[str, int] | None]:
    """The page's rows and the summary of all rows (``None`` when the page is past the end).

    A "deferred join": the narrow figures (ids, pinyin and numbers) are ordered and cut to the page, and only
    then are the page's enterprises (with their eager relations) joined: the sort never carries 30,000 wide rows.
    """
    totals = [sa.func.count().over().label("total_"),
              *(sa.func.sum(sa.case((flag, 1), else_=0)).over().label(f"flag_{i}")
                for i, flag in enumerate(_flags(stmt.selected_columns)))]
    paged = (stmt.add_columns(*totals).order_by(*_order(stmt.selected_columns))
             .limit(per_page).offset((page - 1) * per_page).subquery("paged"))
    full = (sa.select(Enterprise, *(paged.c[name] for name in FIGURES), *(paged.c[t.name] for t in totals))
            .join(paged, paged.c.enterprise_id == Enterprise.id).order_by(*_order(paged.c)))
    summary: dict[str, int] | None = None

    def figures(row: Any) -> Any:
        nonlocal summary
        if summary is None:
            total, overdue, missed, never = row[-4:]
            summary = {"enterprises": int(total or 0), "overdue_requests": int(overdue or 0),
                       "overdue_follow_ups": int(missed or 0), "never": int(never or 0)}
        return row[:-4]

    rows = _rows(user, commissioner, today, full, figures)
    return rows, summary


def workspace_rows(user: User, commissioner: User | None, today: date) -> list[WorkspaceRow]:
    """All the rows of :func:`workspace_page`, in the same order (two queries)."""
    figures = _figures(user, commissioner, today).subquery("figures")
    stmt = (sa.select(Enterprise, *(figures.c[name] for name in FIGURES))
            .join(figures, figures.c.enterprise_id == Enterprise.id).order_by(*_order(figures.c)))
    return _rows(user, commissioner, today, stmt)


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
    (:data:`FIGURES`), unordered.

    The latest interaction (by date, then id) gives the last contact; a follow-up is missed when a passed
    ``next_follow_up`` has no later interaction, which only the latest interaction can lack: so it is 0 or 1.

    In the database's terms: the visible enterprises are a derived table the plan starts from (a commissioner's
    ~300, the city's ~32,000 at provincial scale). On PostgreSQL both the latest interaction and the request
    figures are ``LEFT JOIN LATERAL`` probes per visible enterprise: one backward step of
    ix_interactions_enterprise_id_occurred_on and an index-only range of ix_service_requests_enterprise_id_status
    (4 entries on average). The earlier form — the requests grouped under ``enterprise_id IN (visible)`` — was
    planned as a semi-join tested once per open request (400,000 probes) and took 2.1 of the city coordinator's
    2.7 s (EXPLAIN ANALYZE on crm_bench_full); the lateral form is 0.45 s and cannot be planned as a scan of all
    2,000,000 interactions. SQLite has no LATERAL: there the requests are grouped (its planner loops the visible
    ids) and the latest interaction is a correlated ``LIMIT 1``.
    """
    visible = _visible_ids(user, commissioner)
    shown = visible.distinct().subquery("shown")
    is_open = ServiceRequest.status.in_(OPEN)
    request_figures = (
        sa.func.sum(sa.case((is_open, 1), else_=0)).label("open_requests"),
        sa.func.sum(sa.case((sa.and_(is_open, ServiceRequest.due_date < today), 1), else_=0))
        .label("overdue_requests"),
        sa.func.min(sa.case((is_open, ServiceRequest.due_date), else_=None)).label("next_due"),
        sa.func.sum(sa.case((ServiceRequest.status == S.RESOLVED, 1), else_=0)).label("awaiting_visit"))
    if db.session.get_bind().dialect.name == "postgresql":
        latest = (sa.select(Interaction.occurred_on, Interaction.next_follow_up)
                  .where(Interaction.enterprise_id == shown.c.enterprise_id)
                  .order_by(Interaction.occurred_on.desc(), Interaction.id.desc()).limit(1).lateral("latest"))
        requests = (sa.select(*request_figures)
                    .where(ServiceRequest.enterprise_id == shown.c.enterprise_id,
                           ServiceRequest.status.in_((*OPEN, S.RESOLVED))).lateral("requests"))
        source = (shown.join(Enterprise, Enterprise.id == shown.c.enterprise_id)
                  .outerjoin(latest, sa.true()).outerjoin(requests, sa.true()))
        occurred_on, next_follow_up = latest.c.occurred_on, latest.c.next_follow_up
    else:
        latest_id = (sa.select(Interaction.id).where(Interaction.enterprise_id == shown.c.enterprise_id)
                     .order_by(Interaction.occurred_on.desc(), Interaction.id.desc()).limit(1)
                     .correlate(shown).scalar_subquery())
        latest = aliased(Interaction, name="latest")
        requests = (sa.select(ServiceRequest.enterprise_id, *request_figures)
                    .where(ServiceRequest.enterprise_id.in_(sa.select(shown.c.enterprise_id)),
                           ServiceRequest.status.in_((*OPEN, S.RESOLVED)))
                    .group_by(ServiceRequest.enterprise_id).subquery("requests"))
        source = (shown.join(Enterprise, Enterprise.id == shown.c.enterprise_id)
                  .outerjoin(latest, latest.id == latest_id)
                  .outerjoin(requests, requests.c.enterprise_id == shown.c.enterprise_id))
        occurred_on, next_follow_up = latest.occurred_on, latest.next_follow_up
    missed = sa.and_(next_follow_up.is_not(None), next_follow_up < today)
    return (sa.select(shown.c.enterprise_id.label("enterprise_id"), Enterprise.name_pinyin.label("name_pinyin"),
                      occurred_on.label("last_contact"),
                      sa.case((missed, 1), else_=0).label("overdue_follow_ups"),
                      sa.case((missed, next_follow_up), else_=None).label("follow_up_due"),
                      sa.func.coalesce(requests.c.open_requests, 0).label("open_requests"),
                      sa.func.coalesce(requests.c.overdue_requests, 0).label("overdue_requests"),
                      requests.c.next_due.label("next_due"),
                      sa.func.coalesce(requests.c.awaiting_visit, 0).label("awaiting_visit"))
            .select_from(source))


def _order(c: Any) -> list[Any]:
    """:meth:`WorkspaceRow.attention` in SQL over columns ``c`` named as in :func:`_figures`: overdue requests,
    missed follow-ups, the oldest last contact (never first), the nearest due date (none last), then pinyin and
    id."""
    return [sa.case((c.overdue_requests > 0, 0), else_=1), sa.case((c.overdue_follow_ups > 0, 0), else_=1),
            sa.case((c.last_contact.is_(None), 0), else_=1), c.last_contact,
            sa.case((c.next_due.is_(None), 1), else_=0), c.next_due, c.name_pinyin, c.enterprise_id]


def _rows(user: User, commissioner: User | None, today: date, stmt: sa.Select,
          figures: Callable[[Any], Any] = tuple) -> list[WorkspaceRow]:
    """The rows of an ordered :func:`_attention_statement` (each result row through ``figures`` first), with the
    assignments shown (one more query)."""
    rows: dict[int, WorkspaceRow] = {}
    for result in db.session.execute(stmt):
        enterprise, last, missed, due, open_count, overdue, next_due, awaiting = figures(result)
        rows[enterprise.id] = WorkspaceRow(
            enterprise, last_contact=last, days_since=(today - last).days if last is not None else None,
            overdue_follow_ups=int(missed or 0), follow_up_due=due, open_requests=int(open_count or 0),
            overdue_requests=int(overdue or 0), next_due=next_due, awaiting_visit=int(awaiting or 0))
    if not rows:
        return []
    assignments = (sa.select(Assignment)
                   .where(Assignment.ended_on.is_(None), Assignment.enterprise_id.in_(list(rows)))
                   .options(joinedload(Assignment.commissioner).lazyload(User.specialty_rows))
                   .order_by(Assignment.enterprise_id, Assignment.id))
    who = _who(user, commissioner)
    if who is not None:
        assignments = assignments.where(Assignment.commissioner_id == who.id)
    for a in db.session.scalars(assignments):
        rows[a.enterprise_id].assignments.append(a)
    for row in rows.values():
        row.assignments.sort(key=lambda a: (SPECIALTIES.index(a.specialty), a.id))
    return list(rows.values())
