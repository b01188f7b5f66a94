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
    the summary over all of them (window aggregates, so the figures are computed once), then the page's
    assignments with their commissioners. Past the end (no row came back) one more query counts, and with
    ``clamp`` the last page is shown.
    """
    stmt = _attention_statement(user, commissioner, today)
    rows, summary = _page_rows(user, commissioner, today, stmt, page, per_page)
    if summary is None:
        summary = _summary(stmt)
        last = max(1, -(-summary["enterprises"] // per_page))
        if clamp and page > last:
            page = last
            rows, _ = _page_rows(user, commissioner, today, stmt, page, per_page)
    return WorkspacePage(page=Page(items=rows, total=summary["enterprises"], page=page, per_page=per_page),
                         summary=summary)


def _flags(c: Any) -> list[Any]:
    """The summary's conditions, over an :func:`_attention_statement`'s columns ``c``."""
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
    """The page's rows and the summary of all rows (``None`` when the page is past the end)."""
    totals = [sa.func.count().over(),
              *(sa.func.sum(sa.case((flag, 1), else_=0)).over() for flag in _flags(stmt.selected_columns))]
    paged = _ordered(stmt.add_columns(*totals)).limit(per_page).offset((page - 1) * per_page)
    summary: dict[str, int] | None = None

    def figures(row: Any) -> Any:
        nonlocal summary
        if summary is None:
            total, overdue, missed, never = row[-4:]
            summary = {"enterprises": int(total or 0), "overdue_requests": int(overdue or 0),
                       "overdue_follow_ups": int(missed or 0), "never": int(never or 0)}
        return row[:-4]

    rows = _rows(user, commissioner, today, paged, figures)
    return rows, summary


def workspace_rows(user: User, commissioner: User | None, today: date) -> list[WorkspaceRow]:
    """All the rows of :func:`workspace_page`, in the same order (two queries)."""
    return _rows(user, commissioner, today, _ordered(_attention_statement(user, commissioner, today)))


def _who(user: User, commissioner: User | None) -> User | None:
    return user if _is_commissioner(user) else commissioner


def _visible_ids(user: User, commissioner: User | None) -> sa.Select:
    """Ids of the enterprises under active assignment that ``user`` may see (of ``commissioner`` when given)."""
    stmt = (sa.select(Assignment.enterprise_id).join(Enterprise, Assignment.enterprise_id == Enterprise.id)
            .where(Assignment.ended_on.is_(None)))
    stmt = scope(user, Enterprise, stmt)
    who = _who(user, commissioner)
    if who is not None:
        stmt = stmt.where(Assignment.commissioner_id == who.id)
    return stmt


def _attention_statement(user: User, commissioner: User | None, today: date) -> sa.Select:
    """Per visible enterprise: ``Enterprise`` and the figures of :class:`WorkspaceRow` (unordered).

    The latest interaction (by date, then id) gives the last contact; a follow-up is missed when a passed
    ``next_follow_up`` has no later interaction, which only the latest interaction can lack: so it is 0 or 1.

    In the database's terms: the visible enterprises are a derived table joined first (so the plan starts from
    the commissioner's ~300, or the city's ~2,000, enterprises, not from all of them); the latest interaction
    of each is one backward probe of ix_interactions_enterprise_id_occurred_on (a correlated ``LIMIT 1``), not
    a ranking of every interaction they ever had (74,000 rows for one commissioner at 100,000 enterprises:
    300 ms → a few ms); the request figures are grouped from ix_service_requests_enterprise_id_status.
    """
    visible = _visible_ids(user, commissioner)
    shown = visible.distinct().subquery("shown")
    latest_id = (sa.select(Interaction.id).where(Interaction.enterprise_id == Enterprise.id)
                 .order_by(Interaction.occurred_on.desc(), Interaction.id.desc()).limit(1)
                 .correlate(Enterprise).scalar_subquery())
    latest = aliased(Interaction, name="latest")
    requests = _request_counts(visible, today).subquery("requests")
    missed = sa.and_(latest.next_follow_up.is_not(None), latest.next_follow_up < today)
    return (sa.select(Enterprise,
                      latest.occurred_on.label("last_contact"),
                      sa.case((missed, 1), else_=0).label("overdue_follow_ups"),
                      sa.case((missed, latest.next_follow_up), else_=None).label("follow_up_due"),
                      sa.func.coalesce(requests.c.open_requests, 0).label("open_requests"),
                      sa.func.coalesce(requests.c.overdue_requests, 0).label("overdue_requests"),
                      requests.c.next_due.label("next_due"),
                      sa.func.coalesce(requests.c.awaiting_visit, 0).label("awaiting_visit"))
            .select_from(shown)
            .join(Enterprise, Enterprise.id == shown.c.enterprise_id)
            .outerjoin(latest, latest.id == latest_id)
            .outerjoin(requests, requests.c.enterprise_id == Enterprise.id))


def _ordered(stmt: sa.Select) -> sa.Select:
    """:meth:`WorkspaceRow.attention` in SQL: overdue requests, missed follow-ups, the oldest last contact (never
    first), the nearest due date (none last), then pinyin and id."""
    c = stmt.selected_columns
    return stmt.order_by(
        sa.case((c.overdue_requests > 0, 0), else_=1), sa.case((c.overdue_follow_ups > 0, 0), else_=1),
        sa.case((c.last_contact.is_(None), 0), else_=1), c.last_contact,
        sa.case((c.next_due.is_(None), 1), else_=0), c.next_due, Enterprise.name_pinyin, Enterprise.id)


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


def _request_counts(visible: sa.Select, today: date) -> sa.Select:
    is_open = ServiceRequest.status.in_(OPEN)
    return (sa.select(ServiceRequest.enterprise_id,
                      sa.func.sum(sa.case((is_open, 1), else_=0)).label("open_requests"),
                      sa.func.sum(sa.case((sa.and_(is_open, ServiceRequest.due_date < today), 1), else_=0))
                      .label("overdue_requests"),
                      sa.func.min(sa.case((is_open, ServiceRequest.due_date), else_=None)).label("next_due"),
                      sa.func.sum(sa.case((ServiceRequest.status == S.RESOLVED, 1), else_=0)).label("awaiting_visit"))
            .where(ServiceRequest.enterprise_id.in_(visible), ServiceRequest.status.in_((*OPEN, S.RESOLVED)))
            .group_by(ServiceRequest.enterprise_id))
