"""The service dashboard's cached figures (crm/dashboard/cache.py): on PostgreSQL the heavy aggregates are kept per
process while the records behind them are unchanged, and any write to those records — whoever makes it — shows
at the next view; on SQLite nothing is cached."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from crm.dashboard import cache
from crm.dashboard import service as perf
from crm.dashboard.models import DataVersion
from crm.extensions import db
from crm.service.models import Assignment, RequestStatus, ServiceRequest
from tests.conftest import assign, make_enterprise, make_user
from tests.dashboard.service_data import interaction, request

START, END = date(2026, 11, 1), date(2026, 11, 30)


def _numbers(viewer):
    result = perf.performance(viewer, START, END)
    city = result["city"]
    return (city["requests_raised"], city["requests_overdue"], city["requests_closed"], city["listed"],
            city["fully_covered"], city["visits"],
            {r["user_id"]: (r["assigned_enterprises"], r["visited_enterprises"]) for r in result["commissioners"]})


def test_a_change_shows_at_the_next_view(count_queries):
    admin = make_user("admin")
    a = make_user("commissioner", specialties=["tech"])
    e1 = make_enterprise(county="汇川区")
    assign(e1, a)
    request(e1, a, "2026-11-03", "2026-11-10")
    db.session.flush()
    first = _numbers(admin)
    with count_queries() as queries:
        assert _numbers(admin) == first
    again = queries.count

    request(e1, a, "2026-11-04", "2026-11-05")  # a new 诉求: raised and overdue move
    db.session.flush()
    with count_queries() as queries:
        second = _numbers(admin)
    assert second[:2] == (first[0] + 1, first[1] + 1)
    if cache.enabled():
        assert again < queries.count  # the unchanged view was served from the cache, the changed one computed

    row = db.session.scalars(sa.select(ServiceRequest).where(ServiceRequest.raised_on == date(2026, 11, 4))).one()
    row.status = RequestStatus.CLOSED  # closed in the period
    row.closed_at = row.resolved_at = perf._utc_bounds(date(2026, 11, 20), date(2026, 11, 20))[0]
    db.session.flush()
    assert _numbers(admin)[2] == second[2] + 1

    e2 = make_enterprise(county="汇川区")
    assign(e2, a)  # an assignment: 走访覆盖 counts it at once
    interaction(e2, a, "2026-11-12")
    db.session.flush()
    third = _numbers(admin)
    assert third[6][a.id] == (first[6][a.id][0] + 1, first[6][a.id][1] + 1)
    assert third[5] == first[5] + 1

    db.session.execute(sa.update(Assignment).where(Assignment.enterprise_id == e2.id)
                       .values(started_on=date(2026, 12, 1)))  # a bulk statement too
    assert _numbers(admin)[6][a.id] == first[6][a.id]


def test_the_counters_move_only_on_postgresql():
    before = dict(db.session.execute(sa.select(DataVersion.name, DataVersion.version)).tuples().all())
    assert set(before) == set(cache.KINDS)
    a = make_user("commissioner", specialties=["tech"])
    assign(make_enterprise(), a)
    after = dict(db.session.execute(sa.select(DataVersion.name, DataVersion.version)).tuples().all())
    if cache.enabled():
        assert after["assignments"] > before["assignments"]
        assert after["requests"] == before["requests"]
    else:
        assert cache.versions() is None


def test_nothing_is_cached_without_the_counters():
    db.session.execute(sa.delete(DataVersion).where(DataVersion.name == "requests"))
    assert cache.versions() is None
