"""Service performance (issue 9, point 4): how the "一对一" service did over a period, per county, department and
commissioner, with the rankings of the monthly 通报. The page, the API and the lead's XLSX/print report all call
:func:`performance` (and :func:`records` for the drill-down), so they show the same numbers.

Period: ``[start, end]``, dates in Asia/Shanghai, both included; the default is this month so far (the 1st of
the current month to today, :func:`default_period`).

How each number is counted (also returned as ``rules``):

- 走访 ``visits``: 服务记录 with channel ``visit`` whose date falls in the period; ``interactions``: every 服务记录
  in the period (any channel). Per commissioner: the records they logged (``created_by``).
- 提出 ``requests_raised``: 诉求 raised in the period (``raised_on``); 办结 ``requests_closed``: 诉求 closed
  (status closed) with ``closed_at`` in the period; 逾期 ``requests_overdue``: raised by the period's end, past
  their due date at the period's end (``due_date < end``, as :func:`crm.service.requests.is_overdue` with
  ``today=end``) and not resolved/closed by then.
- ``median_days_to_close``: median of (closing date − ``raised_on``) in days over the requests closed in the
  period; ``on_time_rate`` = closed on or before ``due_date`` / closed; ``mean_satisfaction``: mean of the 1–5
  satisfaction of the requests closed in the period (those with one).
- 政策兑现 ``deliveries_on_time`` / ``deliveries_delivered``: delivered in the period (``delivered_date``) and
  delivered no later than ``promised_date`` (the complement of the policy ledger's 逾期兑现).
- 覆盖 ``coverage`` = ``fully_covered`` / ``listed``: enterprises on the published edition of either list, with
  all five specialties assigned (an assignment active at the period's end).
- ``meetings_chengyu``: meetings held (status held) starting in the period that count with 成渝
  (:func:`crm.meetings.domain.counts_with_chengyu`); per county: those in which an enterprise of the county took
  part.
- Per county: the enterprise's county; per department: the 诉求's and 政策兑现's 责任单位; per commissioner: the
  诉求's and 政策兑现's owner, the 服务记录's author, and for 走访覆盖 ``visit_coverage`` =
  ``visited_enterprises`` / ``assigned_enterprises``: the enterprises assigned to them at any time in the period
  that they visited in the period.

The statement count does not depend on the number of enterprises or commissioners: every measure is one grouped
``SELECT`` (the closed requests are one column selection, their median computed here, so SQLite and PostgreSQL
give the same answer).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from crm.auth.models import Role, Specialty, User
from crm.core import cache
from crm.core.errors import Forbidden, ValidationFailed
from crm.core.time import SHANGHAI, local_today, to_local
from crm.dashboard.models import InteractionDay
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.meetings.domain import chengyu_reason, counts_with_chengyu
from crm.meetings.models import Meeting, MeetingEnterprise, MeetingStatus
from crm.reference.models import County, Department, by_name
from crm.rosters.domain import published_member_ids
from crm.rosters.models import RosterKind
from crm.service.models import (
    Assignment,
    Channel,
    DeliveryStatus,
    Interaction,
    PolicyDelivery,
    RequestStatus,
    ServiceRequest,
)
from crm.service.requests import OPEN_STATUSES

CITY_ROLES = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)
MAX_DAYS = 366 * 3  # a period longer than three years is refused (the page would be meaningless)
FORBIDDEN = "您无权查看服务绩效"
OTHER_COUNTY = "您只能查看本区县的服务绩效"
NO_DEPARTMENT = "未指定责任单位"
RANKING_SIZE = 10
RECORDS_LIMIT = 500
# The kinds of record (crm/core/cache.py) the dashboard's figures are computed from: 服务记录, 诉求 and 政策兑现,
# assignments and the lists.
KINDS = ("interactions", "requests", "assignments")

METRICS = (
    "visits", "interactions", "requests_raised", "requests_closed", "requests_overdue", "median_days_to_close",
    "closed_on_time", "on_time_rate", "satisfaction_count", "mean_satisfaction", "deliveries_delivered",
    "deliveries_on_time", "deliveries_on_time_rate", "listed", "fully_covered", "coverage", "meetings_chengyu",
    "assigned_enterprises", "visited_enterprises", "visit_coverage",
)
"""The keys of every row (``None`` where a number does not apply to that kind of row or viewer)."""

LABELS = {
    "visits": "走访次数", "interactions": "服务记录", "requests_raised": "提出诉求", "requests_closed": "办结诉求",
    "requests_overdue": "逾期诉求", "median_days_to_close": "办结天数中位数", "closed_on_time": "按时办结",
    "on_time_rate": "按时办结率", "satisfaction_count": "满意度评价数", "mean_satisfaction": "平均满意度",
    "deliveries_delivered": "政策兑现", "deliveries_on_time": "按时兑现", "deliveries_on_time_rate": "政策按时兑现率",
    "listed": "名单企业", "fully_covered": "五类专员全覆盖", "coverage": "专员覆盖率",
    "meetings_chengyu": "成渝对接活动", "assigned_enterprises": "分配企业", "visited_enterprises": "已走访企业",
    "visit_coverage": "走访覆盖率",
}

RULES = {
    "period": "统计期间按北京时间(Asia/Shanghai)的日期计,起止日均含;默认本月1日至今天",
    "visits": "渠道为“走访”且日期在期间内的服务记录;服务记录为期间内全部渠道的服务记录;按专员统计时为其本人登记的记录",
    "requests_raised": "提出日期在期间内的诉求",
    "requests_closed": "状态为已办结且办结时间在期间内的诉求",
    "requests_overdue": "期末仍未解决/办结、且办理时限早于期末日期的诉求(期末前提出)",
    "median_days_to_close": "期间内办结诉求的(办结日期 − 提出日期)天数的中位数",
    "on_time_rate": "期间内办结诉求中,办结日期不晚于办理时限的比例",
    "mean_satisfaction": "期间内办结诉求的回访满意度(1–5)平均值",
    "deliveries_on_time_rate": "兑现日期在期间内的政策兑现中,兑现日期不晚于承诺日期的比例",
    "coverage": "两份名单当前发布版本上的企业中,期末五类专员(科技、融资、法务、媒体、人才)均已分配的比例",
    "meetings_chengyu": "期间内已举办、在成渝地区举办或有成渝企业参加的会议活动;按区县为有该区县企业参加的",
    "visit_coverage": "期间内分配给该专员的企业中,期间内由其本人走访过的比例",
    "departments": "按诉求与政策兑现的责任单位统计",
    "commissioners": "按诉求与政策兑现的负责人、服务记录的登记人、期间内的分配统计",
}


# --- the period -----------------------------------------------------------------------------------------------

def default_period(today: date | None = None) -> tuple[date, date]:
    """This month so far: the 1st of the current month (Asia/Shanghai) to today."""
    today = today or local_today()
    return today.replace(day=1), today


def _parse_date(raw: Any, field: str, label: str, fields: dict[str, str]) -> date | None:
    if isinstance(raw, date):
        return raw
    text = (raw or "").strip() if isinstance(raw, str) else raw
    if text in (None, ""):
        return None
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        fields[field] = f"{label}应为 YYYY-MM-DD 格式的日期"
        return None


def parse_period(raw_from: Any, raw_to: Any, *, today: date | None = None) -> tuple[date, date]:
    """``from`` / ``to`` (``YYYY-MM-DD``, either may be empty) → the period; :func:`default_period` fills what is
    missing. A bad date, ``from`` after ``to`` or a period over three years → ``ValidationFailed`` naming the
    field (``from`` / ``to``)."""
    fields: dict[str, str] = {}
    start = _parse_date(raw_from, "from", "开始日期", fields)
    end = _parse_date(raw_to, "to", "结束日期", fields)
    if fields:
        raise ValidationFailed("统计期间不正确", fields)
    default_start, default_end = default_period(today)
    if start is None and end is None:
        return default_start, default_end
    if end is None:
        end = max(start, default_end) if start <= default_end else start  # type: ignore[operator]
    if start is None:
        start = end.replace(day=1)
    if start > end:
        raise ValidationFailed("统计期间不正确", {"from": "开始日期不能晚于结束日期"})
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed("统计期间不正确", {"to": "统计期间不能超过三年"})
    return start, end


def _utc_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """``[start 00:00, end+1 00:00)`` in Asia/Shanghai, as UTC instants."""
    first = datetime.combine(start, time(0), SHANGHAI).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)
    return first, after


# --- who sees what --------------------------------------------------------------------------------------------

def scope_of(viewer: Any) -> str:
    """``"city"`` (admins, leaders and coordinators without a county), ``"county"`` (a coordinator or leader with
    one) or ``"own"`` (a commissioner); anyone else (a liaison) is refused with ``Forbidden``."""
    role = getattr(viewer, "role", None)
    if role in CITY_ROLES:
        return "county" if viewer.county_id is not None and role is not Role.ADMIN else "city"
    if role is Role.COMMISSIONER:
        return "own"
    raise Forbidden(FORBIDDEN)


def _county(viewer: Any, scope: str, county: Any) -> County | None:
    """The county the selection is limited to (a county-scoped viewer: always theirs)."""
    name = (county or "").strip() if isinstance(county, str) else ""
    row = None
    if name:
        row = by_name(County, name)
        if row is None:
            raise ValidationFailed("区县不正确", {"county": f"未知区县:{name}"})
    if scope == "county":
        if row is not None and row.id != viewer.county_id:
            raise Forbidden(OTHER_COUNTY)
        return db.session.get(County, viewer.county_id)
    return row


# --- the measures (each one grouped SELECT) ---------------------------------------------------------------------

class _Filter:
    """The selection: a county (``county_id``) and/or one commissioner (``user_id``)."""

    def __init__(self, county_id: int | None = None, user_id: int | None = None):
        self.county_id = county_id
        self.user_id = user_id

    def enterprise(self, stmt: sa.Select) -> sa.Select:
        return stmt if self.county_id is None else stmt.where(Enterprise.county_id == self.county_id)

    def person(self, stmt: sa.Select, column: Any) -> sa.Select:
        return stmt if self.user_id is None else stmt.where(column == self.user_id)


def raised_where(start: date, end: date) -> list[Any]:
    return [ServiceRequest.raised_on >= start, ServiceRequest.raised_on <= end]


def closed_where(start: date, end: date) -> list[Any]:
    first, after = _utc_bounds(start, end)
    return [ServiceRequest.status == RequestStatus.CLOSED, ServiceRequest.closed_at >= first,
            ServiceRequest.closed_at < after]


def overdue_where(start: date, end: date) -> list[Any]:
    """Open at the end of ``end`` and past due then (``due_date < end``); raised by then."""
    _, after = _utc_bounds(start, end)
    done_at = sa.func.coalesce(ServiceRequest.resolved_at, ServiceRequest.closed_at)
    return [ServiceRequest.raised_on <= end, ServiceRequest.due_date < end,
            sa.or_(ServiceRequest.status.in_(OPEN_STATUSES), done_at.is_(None), done_at >= after)]


def visits_where(start: date, end: date, *, channel: Channel | None = Channel.VISIT) -> list[Any]:
    where = [Interaction.occurred_on >= start, Interaction.occurred_on <= end]
    if channel is not None:
        where.append(Interaction.channel == channel)
    return where


def delivered_where(start: date, end: date) -> list[Any]:
    return [PolicyDelivery.status == DeliveryStatus.DELIVERED, PolicyDelivery.delivered_date >= start,
            PolicyDelivery.delivered_date <= end]


def listed_clause() -> Any:
    """On the current published edition of either list. One ``IN`` over the UNION of the members (a semi-join
    the planner starts from: the ~8,000 listed, not the 100,000 registered) rather than an OR of two INs, which
    PostgreSQL can only test row by row over every enterprise (issue 11: 390 → 40 ms at 100,000)."""
    return Enterprise.id.in_(sa.union(*(published_member_ids(kind) for kind in RosterKind)))


def _active_at(end: date) -> list[Any]:
    return [Assignment.started_on <= end, sa.or_(Assignment.ended_on.is_(None), Assignment.ended_on > end)]


def _during(start: date, end: date) -> list[Any]:
    return [Assignment.started_on <= end, sa.or_(Assignment.ended_on.is_(None), Assignment.ended_on >= start)]


def _count_if(condition: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


class Rolled:
    """Figures summed once per row of the tables: the whole selection (``all``), per county, per department (the
    诉求/政策兑现 figures only) and per person. The page's rows are then each a few of these parts, not the tens of
    thousands of (county, department, person) groups behind them.

    Issue 11, fourth pass: filled by :meth:`add` straight from the grouped rows (a few dict updates a row), where it
    used to build a fact per group and merge it four times (≈ 40,000 groups of 诉求 in the benchmark's 6 days:
    ≈ 300 ms of Python a recompute, now ≈ 40 ms)."""

    def __init__(self) -> None:
        self.all: dict[str, Any] = {}
        self.county: dict[int | None, dict[str, Any]] = defaultdict(dict)
        self.department: dict[int | None, dict[str, Any]] = defaultdict(dict)
        self.user: dict[int | None, dict[str, Any]] = defaultdict(dict)

    def add(self, county_id: int | None, department_id: int | None, user_id: int | None, name: str, value: int,
            *, department: bool = True) -> None:
        """Count ``value`` of ``name`` in the group's county, person, department (unless ``department`` is
        false) and the whole selection."""
        targets = (self.all, self.county[county_id], self.user[user_id])
        if department:
            targets += (self.department[department_id],)
        for into in targets:
            into[name] = into.get(name, 0) + value

    def extend(self, county_id: int | None, department_id: int | None, user_id: int | None, name: str,
               values: list[Any]) -> None:
        """Append ``values`` to the list ``name`` (the closing days and satisfaction scores) in the same parts."""
        for into in (self.all, self.county[county_id], self.user[user_id], self.department[department_id]):
            into.setdefault(name, []).extend(values)


def _parts(*found: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [part for part in found if part]


Facts = tuple[Rolled, Rolled, Rolled]  # 服务记录 (visits, interactions), 诉求/政策兑现, 走访覆盖


def _facts(start: date, end: date, flt: _Filter, stamp: dict[str, int] | None = None) -> Facts:
    """Every measure summed per row of the tables (:class:`Rolled`), in three parts each kept per process under
    the data versions it is computed from (crm/core/cache.py; ``stamp``: the versions read at the start of the
    request), so that a change of one kind recomputes only its part: the 服务记录 (from the daily rollup), the
    诉求 and 政策兑现 (``requests``: a new 服务记录 no longer re-sums them), the visit coverage (``assignments``
    and ``interactions``)."""
    selection = (start, end, flt.county_id, flt.user_id)
    return (cache.cached(stamp, KINDS, ("visits", *selection), lambda: _visit_facts(start, end, flt)),
            cache.cached(stamp, ("requests",), ("requests", *selection), lambda: _request_facts(start, end, flt)),
            cache.cached(stamp, ("assignments", "interactions"), ("visit_coverage", *selection),
                         lambda: _visit_coverage_facts(start, end, flt, stamp)))


def _visit_facts(start: date, end: date, flt: _Filter) -> Rolled:
    """走访 and 服务记录 per county and per author, summed from the daily rollup (crm/dashboard/rollup.py) rather
    than the period's rows of interactions joined to every enterprise for the county: a few rows per day and
    author (per county and per author in one statement: a UNION ALL of the two groupings, ~500 rows instead of
    the ~7,000 (county, author) pairs of a month summed here). Kept under every kind: the rollup moves with
    服务记录 and with an enterprise's county or deletion (which move ``requests`` and ``assignments``)."""
    by_county = _days_by(start, end, flt, (InteractionDay.county_id,),
                         (InteractionDay.county_id, sa.null().label("user_id")))
    by_user = _days_by(start, end, flt, (InteractionDay.user_id,),
                       (sa.null().label("county_id"), InteractionDay.user_id))
    visits = Rolled()
    for county_id, user_id, n_visits, n in db.session.execute(sa.union_all(by_county, by_user)):
        values = {"visits": int(n_visits), "interactions": int(n)}
        if county_id is not None:
            visits.county[county_id] = values
            for name, value in values.items():
                visits.all[name] = visits.all.get(name, 0) + value
        else:
            visits.user[user_id or None] = values
    return visits


def _request_facts(start: date, end: date, flt: _Filter) -> Rolled:
    """诉求 and 政策兑现 of the period, grouped by (county, department, owner) in SQL and summed per part here."""
    rolled = Rolled()

    # 诉求 raised and overdue, per county, department and owner
    for name, where in (("requests_raised", raised_where(start, end)),
                        ("requests_overdue", overdue_where(start, end))):
        stmt = (sa.select(Enterprise.county_id, ServiceRequest.department_id, ServiceRequest.owner_id,
                          sa.func.count(ServiceRequest.id))
                .join(Enterprise, ServiceRequest.enterprise_id == Enterprise.id).where(*where)
                .group_by(Enterprise.county_id, ServiceRequest.department_id, ServiceRequest.owner_id))
        for county_id, department_id, user_id, n in db.session.execute(
                flt.person(flt.enterprise(stmt), ServiceRequest.owner_id)):
            rolled.add(county_id, department_id, user_id, name, int(n))

    # 诉求 closed: one column selection, the median and the on-time share computed here
    stmt = (sa.select(Enterprise.county_id, ServiceRequest.department_id, ServiceRequest.owner_id,
                      ServiceRequest.raised_on, ServiceRequest.due_date, ServiceRequest.closed_at,
                      ServiceRequest.satisfaction)
            .join(Enterprise, ServiceRequest.enterprise_id == Enterprise.id).where(*closed_where(start, end)))
    for county_id, department_id, user_id, raised_on, due_date, closed_at, satisfaction in db.session.execute(
            flt.person(flt.enterprise(stmt), ServiceRequest.owner_id)):
        closed_on = to_local(closed_at).date()  # type: ignore[union-attr]
        rolled.add(county_id, department_id, user_id, "requests_closed", 1)
        rolled.add(county_id, department_id, user_id, "closed_on_time", int(closed_on <= due_date))
        rolled.extend(county_id, department_id, user_id, "days", [(closed_on - raised_on).days])
        rolled.extend(county_id, department_id, user_id, "scores", [satisfaction] if satisfaction is not None else [])

    # 政策兑现 delivered in the period
    stmt = (sa.select(Enterprise.county_id, PolicyDelivery.department_id, PolicyDelivery.owner_id,
                      sa.func.count(PolicyDelivery.id),
                      _count_if(PolicyDelivery.delivered_date <= PolicyDelivery.promised_date))
            .join(Enterprise, PolicyDelivery.enterprise_id == Enterprise.id).where(*delivered_where(start, end))
            .group_by(Enterprise.county_id, PolicyDelivery.department_id, PolicyDelivery.owner_id))
    for county_id, department_id, user_id, delivered, on_time in db.session.execute(
            flt.person(flt.enterprise(stmt), PolicyDelivery.owner_id)):
        rolled.add(county_id, department_id, user_id, "deliveries_delivered", int(delivered or 0))
        rolled.add(county_id, department_id, user_id, "deliveries_on_time", int(on_time or 0))
    return rolled


def _visit_coverage_facts(start: date, end: date, flt: _Filter, stamp: dict[str, int] | None = None) -> Rolled:
    """走访覆盖: enterprises assigned to a commissioner during the period, and those they visited (per county and
    person; no department).

    Issue 11, fifth pass: two statements instead of one. The assigned enterprises depend on the assignments alone
    (and the enterprises' counties, which move the same version), so they are kept per process under
    ``assignments`` (:func:`_assigned_counts`): a new 服务记录 — dozens an hour in working hours — no longer
    re-counts every assignment of the period (≈ 190,000 at provincial scale, each probing the period's visits of
    its pair: 430 ms, the whole of the first view after a visit was logged). The visited ones are counted from the
    period's visits (:func:`_visited_counts`, ≈ 13,000 in the benchmark's first week), each probing its pair's
    assignment. Every (county, person) with an assignment has both numbers, as before (0 visited when none)."""
    selection = (start, end, flt.county_id, flt.user_id)
    assigned = cache.cached(stamp, ("assignments",), ("assigned_enterprises", *selection),
                            lambda: _assigned_counts(start, end, flt))
    visited = _visited_counts(start, end, flt)
    rolled = Rolled()
    for county_id, user_id, n in assigned:
        rolled.add(county_id, None, user_id, "assigned_enterprises", n, department=False)
        rolled.add(county_id, None, user_id, "visited_enterprises", visited.get((county_id, user_id), 0),
                   department=False)
    return rolled


def _assigned_counts(start: date, end: date, flt: _Filter) -> list[tuple[int, int, int]]:
    """``(county, commissioner, enterprises)``: the enterprises assigned to each commissioner at any time in the
    period (any specialty), per county."""
    stmt = (sa.select(Enterprise.county_id, Assignment.commissioner_id,
                      sa.func.count(sa.distinct(Assignment.enterprise_id)))
            .join(Enterprise, Assignment.enterprise_id == Enterprise.id).where(*_during(start, end))
            .group_by(Enterprise.county_id, Assignment.commissioner_id))
    return [(county_id, user_id, int(n)) for county_id, user_id, n in db.session.execute(
        flt.person(flt.enterprise(stmt), Assignment.commissioner_id))]


# Up to a month, the period's visited pairs are few enough to probe their assignments one by one (a week at
# provincial scale: 8,000 pairs, 28 ms; a month: 30,000, ≈ 110 ms); for a longer period hashing the ≈ 160,000
# assigned pairs once is cheaper (a year: 136,000 visited pairs).
PROBE_DAYS = 31


def _visited_counts(start: date, end: date, flt: _Filter) -> dict[tuple[int, int], int]:
    """``(county, commissioner) → enterprises``: those the commissioner visited in the period while assigned to
    them at some time in the period (the pair's assignment, any specialty).

    Starts from the period's visits (ix_interactions_visits_occurred_on, from the index alone), made distinct per
    (enterprise, author) in a ``MATERIALIZED`` CTE. For a period of up to a month (:data:`PROBE_DAYS`) each pair then
    probes its assignment (ix_assignments_enterprise_id_commissioner_id) through a ``LIMIT 1`` scalar subquery:
    left to itself (a plain ``EXISTS`` or a join) PostgreSQL hashed all 160,000 assigned pairs and probed the
    interactions for each, 430 ms at provincial scale, where a week's ≈ 8,000 visited pairs take 28 ms. Longer
    periods keep the ``EXISTS`` (hashed), and a year's is 1.2 s where it was 19 s."""
    visits = flt.person(sa.select(Interaction.enterprise_id, Interaction.created_by_id)
                        .where(*visits_where(start, end)), Interaction.created_by_id)
    if flt.county_id is not None:  # one county's visits only, before they are made distinct
        visits = visits.where(Interaction.enterprise_id.in_(
            sa.select(Enterprise.id).where(Enterprise.county_id == flt.county_id)))
    visited = visits.distinct().cte("visited_pairs").prefix_with("MATERIALIZED")
    pair = (Assignment.enterprise_id == visited.c.enterprise_id,
            Assignment.commissioner_id == visited.c.created_by_id, *_during(start, end))
    if (end - start).days < PROBE_DAYS:  # each visited pair probes its assignment
        assigned = sa.select(sa.literal(1)).where(*pair).limit(1).scalar_subquery().is_not(None)
    else:  # a semi-join, hashed: as many visited pairs as assigned ones
        assigned = sa.exists().where(*pair)
    stmt = (sa.select(Enterprise.county_id, visited.c.created_by_id, sa.func.count(visited.c.enterprise_id))
            .join(Enterprise, visited.c.enterprise_id == Enterprise.id).where(assigned)
            .group_by(Enterprise.county_id, visited.c.created_by_id))
    return {(county_id, user_id): int(n) for county_id, user_id, n in db.session.execute(flt.enterprise(stmt))}


def _coverage(end: date, flt: _Filter, stamp: dict[str, int] | None = None) -> dict[int, tuple[int, int]]:
    """Per county: (listed enterprises, those with all five specialties assigned at ``end``); kept per process
    until the assignments or the lists change (crm/core/cache.py)."""
    return dict(cache.cached(stamp, ("assignments",), ("coverage", end, flt.county_id),
                             lambda: _coverage_rows(end, flt)))


def _coverage_rows(end: date, flt: _Filter) -> list[tuple[int, tuple[int, int]]]:
    specialties = (sa.select(sa.func.count(sa.distinct(Assignment.specialty)))
                   .where(Assignment.enterprise_id == Enterprise.id, *_active_at(end)).scalar_subquery())
    stmt = (sa.select(Enterprise.county_id, sa.func.count(Enterprise.id), _count_if(specialties >= len(Specialty)))
            .where(listed_clause()).group_by(Enterprise.county_id))
    return [(county_id, (int(listed), int(full))) for county_id, listed, full in db.session.execute(
        flt.enterprise(stmt))]


def _meetings(start: date, end: date) -> tuple[int, dict[int, int], list[Meeting]]:
    """Held meetings starting in the period that count with 成渝: the number, per county (an enterprise of the
    county took part), and the meetings. Two statements (the meetings with their partners) plus one (counties)."""
    first, after = _utc_bounds(start, end)
    meetings = [m for m in db.session.scalars(
        sa.select(Meeting).options(selectinload(Meeting.partner_links))
        .where(Meeting.status == MeetingStatus.HELD, Meeting.starts_at >= first, Meeting.starts_at < after)
        .order_by(Meeting.starts_at, Meeting.id)) if counts_with_chengyu(m)]
    per_county: dict[int, int] = defaultdict(int)
    if meetings:
        for county_id, n in db.session.execute(
                sa.select(Enterprise.county_id, sa.func.count(sa.distinct(MeetingEnterprise.meeting_id)))
                .join(Enterprise, MeetingEnterprise.enterprise_id == Enterprise.id)
                .where(MeetingEnterprise.meeting_id.in_([m.id for m in meetings]))
                .group_by(Enterprise.county_id)):
            per_county[county_id] = int(n)
    return len(meetings), per_county, meetings


def _days_by(start: date, end: date, flt: _Filter, keys: tuple[Any, ...],
             shown: tuple[Any, ...] | None = None) -> sa.Select:
    """走访 and 服务记录 of the period from the daily rollup ``InteractionDay`` (kept exact by triggers on every
    write, crm/dashboard/rollup.py), grouped by ``keys``, within the selection: issue 11, the same figures as
    grouping the period's interactions joined to ``enterprises`` (a 2,000,000-row table), from a table with one
    row per day, county and author (≈ 3,200 a day in the benchmark's data, whose commissioners work in every
    county; 2,000,000 interactions → 1,330,000 rows, stored in day order). ``shown``: the columns selected, when
    not just ``keys``."""
    stmt = (sa.select(*(shown or keys), sa.func.coalesce(sa.func.sum(InteractionDay.visits), 0),
                      sa.func.coalesce(sa.func.sum(InteractionDay.interactions), 0))
            .where(InteractionDay.day >= start, InteractionDay.day <= end).group_by(*keys))
    if flt.county_id is not None:
        stmt = stmt.where(InteractionDay.county_id == flt.county_id)
    if flt.user_id is not None:
        stmt = stmt.where(InteractionDay.user_id == flt.user_id)
    return stmt


def visits_by_month(start: date, end: date, flt: _Filter) -> list[dict[str, Any]]:
    """Per month of the period (``YYYY-MM``): 走访 and all 服务记录; per day from the rollup (both databases),
    summed by month here."""
    months: dict[str, list[int]] = {}
    cursor = start.replace(day=1)
    while cursor <= end:
        months[cursor.strftime("%Y-%m")] = [0, 0]
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    for day, visits, interactions in db.session.execute(_days_by(start, end, flt, (InteractionDay.day,))):
        month = months[day.strftime("%Y-%m")]
        month[0] += int(visits)
        month[1] += int(interactions)
    return [{"month": month, "visits": v, "interactions": n} for month, (v, n) in months.items()]


# --- rolling up --------------------------------------------------------------------------------------------------

def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _metrics(parts: Iterable[dict[str, Any]], *, listed: tuple[int, int] | None = None,
             meetings: int | None = None, visits: bool = True, assignments: bool = False) -> dict[str, Any]:
    """One row of numbers out of fact rows (``None`` for what does not apply)."""
    total: dict[str, Any] = defaultdict(int)
    days: list[int] = []
    scores: list[int] = []
    for part in parts:
        for name, value in part.items():
            if name == "days":
                days += value
            elif name == "scores":
                scores += value
            else:
                total[name] += value
    closed = total["requests_closed"]
    row: dict[str, Any] = {
        "visits": total["visits"] if visits else None,
        "interactions": total["interactions"] if visits else None,
        "requests_raised": total["requests_raised"], "requests_closed": closed,
        "requests_overdue": total["requests_overdue"],
        "median_days_to_close": float(statistics.median(days)) if days else None,
        "closed_on_time": total["closed_on_time"], "on_time_rate": _ratio(total["closed_on_time"], closed),
        "satisfaction_count": len(scores),
        "mean_satisfaction": round(sum(scores) / len(scores), 2) if scores else None,
        "deliveries_delivered": total["deliveries_delivered"], "deliveries_on_time": total["deliveries_on_time"],
        "deliveries_on_time_rate": _ratio(total["deliveries_on_time"], total["deliveries_delivered"]),
        "listed": None, "fully_covered": None, "coverage": None, "meetings_chengyu": meetings,
        "assigned_enterprises": None, "visited_enterprises": None, "visit_coverage": None,
    }
    if listed is not None:
        row.update(listed=listed[0], fully_covered=listed[1], coverage=_ratio(listed[1], listed[0]))
    if assignments:
        row.update(assigned_enterprises=total["assigned_enterprises"],
                   visited_enterprises=total["visited_enterprises"],
                   visit_coverage=_ratio(total["visited_enterprises"], total["assigned_enterprises"]))
    return row


def _total(facts: Facts, coverage: dict[int, tuple[int, int]],
           meetings: int | None) -> dict[str, Any]:
    listed = (sum(n for n, _ in coverage.values()), sum(f for _, f in coverage.values()))
    return _metrics(_parts(*(part.all for part in facts)), listed=listed, meetings=meetings)


def _rankings(commissioners: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The monthly 通报: the commissioners with a number, best first (ties by name)."""
    def ranked(metric: str, count: str) -> list[dict[str, Any]]:
        rows = [r for r in commissioners if r[metric] is not None]
        rows.sort(key=lambda r: (-r[metric], -r[count], r["name"]))
        return [{"rank": i, "user_id": r["user_id"], "username": r["username"], "name": r["name"],
                 "value": r[metric], "count": r[count]} for i, r in enumerate(rows[:RANKING_SIZE], start=1)]
    return {"on_time": ranked("on_time_rate", "requests_closed"),
            "satisfaction": ranked("mean_satisfaction", "satisfaction_count"),
            "visit_coverage": ranked("visit_coverage", "assigned_enterprises")}


def performance(viewer: Any, start: date, end: date, county: str | None = None) -> dict[str, Any]:
    """Service performance over ``[start, end]`` as ``viewer`` may see it.

    Returns a plain structure (JSON-ready but for the dates)::

        {"period": {"from": date, "to": date}, "scope": "city" | "county" | "own",
         "county": "<name>" | None,            # the selection (a county-scoped viewer: theirs)
         "city": <row> | None,                 # the whole city (None for a commissioner)
         "total": <row>,                       # the selection: city, one county, or the commissioner's own
         "counties": [{"county": name, **row}],          # every county (or the selected / own one); [] for "own"
         "departments": [{"department": name, **row}],   # [] for "own"
         "commissioners": [{"user_id", "username", "name", **row}],  # "own": just the viewer
         "visits_by_month": [{"month": "YYYY-MM", "visits", "interactions"}],
         "rankings": {"on_time" | "satisfaction" | "visit_coverage": [{"rank", "user_id", "username", "name",
                      "value", "count"}]},   # {} for "own"
         "labels": LABELS, "rules": RULES}

    where a row holds every key of :data:`METRICS` (rates 0–1, ``None`` when nothing to divide by or not
    applicable). Raises ``Forbidden`` (a liaison; a county-scoped viewer asking for another county) and
    ``ValidationFailed`` (an unknown county, ``start`` after ``end``).
    """
    scope = scope_of(viewer)
    if start > end:
        raise ValidationFailed("统计期间不正确", {"from": "开始日期不能晚于结束日期"})
    selected = _county(viewer, scope, county)
    result: dict[str, Any] = {"period": {"from": start, "to": end}, "scope": scope,
                              "county": selected.name if selected else None, "city": None, "counties": [],
                              "departments": [], "commissioners": [], "rankings": {}, "labels": LABELS,
                              "rules": RULES}
    stamp = cache.versions()  # before any figure is read (crm/core/cache.py)
    if scope == "own":
        flt = _Filter(county_id=selected.id if selected else None, user_id=viewer.id)
        row, months = _own_figures(start, end, flt, stamp)
        result["total"] = dict(row)  # copies: the cached ones are shared by later views
        result["commissioners"] = [{"user_id": viewer.id, "username": viewer.username,
                                    "name": viewer.display_name, **row}]
        result["visits_by_month"] = [dict(m) for m in months]
        return result

    # The figures (everything over 服务记录, 诉求, 政策兑现, assignments and the lists) come keyed by ids from one
    # cached entry (:func:`_figures`), joined to the meetings and the counties', departments' and commissioners'
    # names by :func:`_shown`, itself kept while those are unchanged too (kinds ``meetings`` and ``reference``).
    shown = _shown(start, end, selected.id if selected else None, stamp)
    # copies of every row: the kept ones are shared by later views, and callers may add to theirs
    result["city"] = dict(shown.city)
    result["total"] = result["city"] if selected is None else dict(shown.total)
    result["counties"] = [dict(row) for row in shown.counties]
    result["departments"] = [dict(row) for row in shown.departments]
    result["commissioners"] = [dict(row) for row in shown.commissioners]
    result["rankings"] = {name: [dict(row) for row in rows] for name, rows in shown.rankings.items()}
    result["visits_by_month"] = [dict(m) for m in shown.months]
    return result


class _Shown(NamedTuple):
    """A city or county view's rows with their names and meetings (:func:`_shown`): shared, read only."""

    city: dict[str, Any]
    total: dict[str, Any] | None
    counties: list[dict[str, Any]]
    departments: list[dict[str, Any]]
    commissioners: list[dict[str, Any]]
    rankings: dict[str, list[dict[str, Any]]]
    months: list[dict[str, Any]]


# What :func:`_shown` reads besides the figures: the meetings (``meetings``: meetings, their enterprises and
# partners) and the names and order of the counties, departments and commissioners and an enterprise's county
# (``reference``; migrations a7c3e9d2f418 and b4e1d7a9c3f2).
SHOWN_KINDS = (*KINDS, "meetings", "reference")


def _shown(start: date, end: date, county_id: int | None, stamp: dict[str, int] | None) -> _Shown:
    """The rows of a city or county view: :func:`_figures` joined to the meetings and the names, kept per process
    under :data:`SHOWN_KINDS` (issue 11, sixth pass). The six statements behind them (the meetings, their
    partners, the meetings per county, the counties, the departments, the commissioners' names) and the joining
    were ≈ 6 ms of every view at provincial scale (17 → 11 ms in all), on data that changes a few times a week."""
    def compute() -> _Shown:
        figures = _figures(start, end, county_id, stamp)
        counties = db.session.execute(sa.select(County.id, County.name).order_by(County.sort_order, County.id)).all()
        n_meetings, meetings_per_county, _ = _meetings(start, end)
        city = {**figures.city, "meetings_chengyu": n_meetings}
        total = None if county_id is None else {
            **figures.total, "meetings_chengyu": meetings_per_county.get(county_id, 0)}
        county_rows = [
            {"county": name, "county_id": cid, **figures.counties.get(cid, figures.empty_county),
             "meetings_chengyu": meetings_per_county.get(cid, 0)}
            for cid, name in counties if county_id is None or cid == county_id]

        departments = {d.id: d for d in db.session.scalars(sa.select(Department))}
        dept_rows = []
        for department_id, row in figures.departments:
            department = departments.get(department_id) if department_id is not None else None
            dept_rows.append({"department": department.name if department else NO_DEPARTMENT,
                              "department_id": department_id,
                              "_order": (department is None, department.sort_order if department else 0,
                                         department.name if department else ""), **row})
        dept_rows.sort(key=lambda r: r.pop("_order"))

        people = figures.commissioners
        # every commissioner's three columns, filtered here: the same rows as ``id IN (<the ≈ 500 ids>)``, whose
        # 500 bound parameters cost ≈ 7 ms to send and plan at provincial scale, against ≈ 1 ms for the 500 rows
        users = db.session.execute(
            sa.select(User.id, User.username, User.display_name).where(User.role == Role.COMMISSIONER)).all() \
            if people else []
        rows = [{"user_id": uid, "username": username, "name": name, **people[uid]}
                for uid, username, name in users if uid in people]
        rows.sort(key=lambda r: (r["name"], r["user_id"]))
        return _Shown(city=city, total=total, counties=county_rows, departments=dept_rows, commissioners=rows,
                      rankings=_rankings(rows), months=figures.months)
    return cache.cached(stamp, SHOWN_KINDS, ("shown", start, end, county_id), compute)


class _Figures(NamedTuple):
    """The numbers of a city or county view, keyed by ids, without names and meetings (:func:`_figures`). Shared
    by every later view while cached: read only, never changed (the caller copies each row it adds to)."""

    city: dict[str, Any]  # the whole city ("meetings_chengyu" None: filled by the caller)
    total: dict[str, Any] | None  # the selected county, or None when the selection is the city
    counties: dict[int, dict[str, Any]]  # county id → row (a county without any record: ``empty_county``)
    empty_county: dict[str, Any]
    departments: list[tuple[int | None, dict[str, Any]]]  # (department id or None, row), unordered
    commissioners: dict[int, dict[str, Any]]  # user id → row (authors, owners and assignees of the period)
    months: list[dict[str, Any]]  # visits_by_month


def _figures(start: date, end: date, county_id: int | None, stamp: dict[str, int] | None) -> _Figures:
    """Every number of the city or county view, computed once per data version (issue 11, fourth pass).

    Kept under the versions of all three kinds (crm/core/cache.py): the 走访/服务记录 figures and the chart
    come from the daily rollup, which moves only with 服务记录 (``interactions``) or an enterprise's county or
    deletion (``requests`` and ``assignments``), so caching them is as exact as the other figures. Before, the
    rollup was summed on every view (two statements, ≈ 35 ms at provincial scale) and every row rebuilt
    (≈ 550 ``_metrics`` a view)."""
    def compute() -> _Figures:
        flt = _Filter(county_id=county_id)
        facts = _facts(start, end, flt, stamp)
        coverage = _coverage(end, flt, stamp)
        if county_id is None:
            city_facts, city_coverage = facts, coverage
        else:
            city_facts, city_coverage = _facts(start, end, _Filter(), stamp), _coverage(end, _Filter(), stamp)
        counties = {
            c: _metrics(_parts(*(part.county.get(c) for part in facts)), listed=coverage.get(c, (0, 0)),
                        meetings=0)
            for c in {*(c for part in facts for c in part.county), *coverage} if c is not None}
        departments = [
            (department_id, _metrics([{k: v for k, v in part.items() if k not in ("visits", "interactions")}],
                                     visits=False))
            for department_id, part in facts[1].department.items()]
        people = {uid: _metrics(_parts(*(part.user.get(uid) for part in facts)), assignments=True)
                  for uid in {uid for part in facts for uid in part.user} if uid is not None}
        return _Figures(
            city=_total(city_facts, city_coverage, None),
            total=None if county_id is None else _total(facts, coverage, None),
            counties=counties, empty_county=_metrics([], listed=(0, 0), meetings=0), departments=departments,
            commissioners=people, months=visits_by_month(start, end, flt))
    return cache.cached(stamp, KINDS, ("figures", start, end, county_id), compute)


def _own_figures(start: date, end: date, flt: _Filter,
                 stamp: dict[str, int] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A commissioner's own row and chart (:func:`_figures` for one person; their name is the viewer's)."""
    def compute() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        facts = _facts(start, end, flt, stamp)
        return (_metrics(_parts(*(part.all for part in facts)), assignments=True), visits_by_month(start, end, flt))
    return cache.cached(stamp, KINDS, ("own", start, end, flt.county_id, flt.user_id), compute)


# --- drill-down -------------------------------------------------------------------------------------------------

MEASURES = {
    "visits": "走访记录", "interactions": "服务记录", "requests_raised": "提出的诉求", "requests_closed": "办结的诉求",
    "requests_overdue": "期末逾期的诉求", "deliveries_delivered": "期间内兑现的政策",
    "deliveries_late": "逾期兑现的政策",
    "uncovered": "专员未配齐的名单企业", "unvisited": "分配后期间内未走访的企业",
    "meetings_chengyu": "与成渝对接的已举办会议活动",
}


def _meeting_rows(start: date, end: date, county: County | None) -> list[dict[str, Any]]:
    """The meetings behind ``meetings_chengyu`` (of ``county``: those its enterprises took part in)."""
    _, _, meetings = _meetings(start, end)
    if county is not None and meetings:
        taking_part = set(db.session.scalars(
            sa.select(MeetingEnterprise.meeting_id).join(Enterprise, MeetingEnterprise.enterprise_id == Enterprise.id)
            .where(MeetingEnterprise.meeting_id.in_([m.id for m in meetings]), Enterprise.county_id == county.id)))
        meetings = [m for m in meetings if m.id in taking_part]
    return [{"enterprise_id": None, "enterprise": "", "county": county.name if county else "",
             "date": to_local(m.starts_at).date(), "text": f"{m.title}({chengyu_reason(m)})",  # type: ignore[union-attr]
             "link": f"/meetings/{m.id}"} for m in meetings]


def records(viewer: Any, measure: str, start: date, end: date, *, county: str | None = None,
            department: int | str | None = None, commissioner: int | None = None) -> dict[str, Any]:
    """The records behind a number of :func:`performance` (same conditions, same scope): ``{"measure", "label",
    "rows": [{"enterprise_id", "enterprise", "county", "date", "text", "link"}], "truncated"}`` (at most
    :data:`RECORDS_LIMIT` rows). ``department``: an id or ``"none"`` (no 责任单位); ``commissioner``: a user id
    (a commissioner viewer: always themselves)."""
    scope = scope_of(viewer)
    if measure not in MEASURES:
        raise ValidationFailed("明细类型不正确", {"measure": "未知的明细类型"})
    if start > end:
        raise ValidationFailed("统计期间不正确", {"from": "开始日期不能晚于结束日期"})
    selected = _county(viewer, scope, county)
    if scope == "own":
        if commissioner not in (None, viewer.id):
            raise Forbidden("您只能查看本人的服务绩效")
        commissioner = viewer.id
    if measure == "meetings_chengyu":
        if scope == "own":
            raise Forbidden("您只能查看本人的服务绩效")
        return {"measure": measure, "label": MEASURES[measure], "truncated": False,
                "rows": _meeting_rows(start, end, selected)}
    flt = _Filter(county_id=selected.id if selected else None, user_id=commissioner)
    base = sa.select(Enterprise.id, Enterprise.name, County.name).join(County, Enterprise.county_id == County.id)

    if department not in (None, "", "none"):
        try:
            department = int(department)
        except (TypeError, ValueError):
            raise ValidationFailed("责任单位不正确", {"department": "责任单位应为编号"}) from None

    def by_department(stmt: sa.Select, column: Any) -> sa.Select:
        if department in (None, ""):
            return stmt
        if department == "none":
            return stmt.where(column.is_(None))
        return stmt.where(column == department)

    if measure in ("visits", "interactions"):
        stmt = (base.add_columns(Interaction.occurred_on, Interaction.summary, Interaction.id)
                .join(Interaction, Interaction.enterprise_id == Enterprise.id)
                .where(*visits_where(start, end, channel=Channel.VISIT if measure == "visits" else None)))
        stmt = flt.person(flt.enterprise(stmt), Interaction.created_by_id)
        stmt = stmt.order_by(Interaction.occurred_on.desc(), Interaction.id.desc())
        link = "/service/interactions/{}"
    elif measure.startswith("requests_"):
        where = {"requests_raised": raised_where, "requests_closed": closed_where,
                 "requests_overdue": overdue_where}[measure](start, end)
        stmt = (base.add_columns(ServiceRequest.raised_on, ServiceRequest.description, ServiceRequest.id)
                .join(ServiceRequest, ServiceRequest.enterprise_id == Enterprise.id).where(*where))
        stmt = by_department(flt.person(flt.enterprise(stmt), ServiceRequest.owner_id), ServiceRequest.department_id)
        stmt = stmt.order_by(ServiceRequest.raised_on.desc(), ServiceRequest.id.desc())
        link = "/service/requests/{}"
    elif measure.startswith("deliveries_"):
        where = delivered_where(start, end)
        if measure == "deliveries_late":
            where.append(PolicyDelivery.delivered_date > PolicyDelivery.promised_date)
        stmt = (base.add_columns(PolicyDelivery.delivered_date, PolicyDelivery.promised, PolicyDelivery.id)
                .join(PolicyDelivery, PolicyDelivery.enterprise_id == Enterprise.id).where(*where))
        stmt = by_department(flt.person(flt.enterprise(stmt), PolicyDelivery.owner_id), PolicyDelivery.department_id)
        stmt = stmt.order_by(PolicyDelivery.delivered_date.desc(), PolicyDelivery.id.desc())
        link = "/policy/{}"
    elif measure == "uncovered":
        if scope == "own":
            raise Forbidden("您只能查看本人的服务绩效")
        specialties = (sa.select(sa.func.count(sa.distinct(Assignment.specialty)))
                       .where(Assignment.enterprise_id == Enterprise.id, *_active_at(end)).scalar_subquery())
        stmt = (base.add_columns(sa.null(), specialties, sa.null())
                .where(listed_clause(), specialties < len(Specialty)))
        stmt = flt.enterprise(stmt).order_by(County.sort_order, Enterprise.name_pinyin, Enterprise.id)
        link = ""
    else:  # unvisited
        visited = sa.exists().where(Interaction.enterprise_id == Assignment.enterprise_id,
                                    Interaction.created_by_id == Assignment.commissioner_id,
                                    *visits_where(start, end))
        stmt = (base.add_columns(sa.null(), User.display_name, sa.null())
                .join(Assignment, Assignment.enterprise_id == Enterprise.id)
                .join(User, Assignment.commissioner_id == User.id)
                .where(*_during(start, end), ~visited).distinct())
        stmt = flt.person(flt.enterprise(stmt), Assignment.commissioner_id)
        stmt = stmt.order_by(County.name, Enterprise.name, User.display_name)
        link = ""
    found = db.session.execute(stmt.limit(RECORDS_LIMIT + 1)).all()
    rows = []
    for enterprise_id, name, county_name, day, text, record_id in found[:RECORDS_LIMIT]:
        if measure == "uncovered":
            text = f"已分配 {text} / {len(Specialty)} 类专员"
        rows.append({"enterprise_id": enterprise_id, "enterprise": name, "county": county_name, "date": day,
                     "text": str(text or ""), "link": link.format(record_id) if link and record_id else ""})
    return {"measure": measure, "label": MEASURES[measure], "rows": rows, "truncated": len(found) > RECORDS_LIMIT}
