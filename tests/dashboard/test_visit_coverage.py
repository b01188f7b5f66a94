"""走访覆盖 of the service dashboard (crm/dashboard/service.py): the enterprises assigned to a commissioner during the
period, and those of them the commissioner visited in it. Issue 11, fifth pass: two statements — the assigned ones
kept per process under ``assignments`` alone, the visited ones counted from the period's visits — so that a new
服务记录 recounts only the visits."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from crm.core import cache
from crm.dashboard import service as perf
from crm.extensions import db
from crm.service.models import Assignment
from tests.conftest import assign, make_enterprise, make_user
from tests.dashboard.service_data import interaction

START, END = date(2026, 11, 1), date(2026, 11, 30)


def _people(viewer, start=START, end=END):
    result = perf.performance(viewer, start, end)
    return {r["user_id"]: (r["assigned_enterprises"], r["visited_enterprises"]) for r in result["commissioners"]}


def test_only_visits_in_the_period_by_the_assigned_commissioner_count_once_per_enterprise():
    admin = make_user("admin")
    a = make_user("commissioner", specialties=["tech", "finance"])
    b = make_user("commissioner", specialties=["legal"])
    both, other_county, unassigned, ended, by_call, late, early = (
        make_enterprise(county="汇川区"), make_enterprise(county="红花岗区"), make_enterprise(county="汇川区"),
        make_enterprise(county="汇川区"), make_enterprise(county="汇川区"), make_enterprise(county="汇川区"),
        make_enterprise(county="汇川区"))
    assign(both, a, "tech")
    assign(both, a, "finance")  # two specialties of one pair: one enterprise
    assign(both, b, "legal")  # assigned, never visits it (a's visits are a's)
    assign(other_county, a, "tech")
    assign(ended, a, "tech").ended_on = date(2026, 10, 31)  # ended before the period: neither assigned nor visited
    assign(by_call, a, "tech")
    assign(late, a, "tech")
    assign(early, a, "tech").ended_on = date(2026, 11, 3)  # ended in the period: still assigned during it
    for day in ("2026-11-02", "2026-11-20"):
        interaction(both, a, day)  # two visits: one enterprise
    interaction(other_county, a, "2026-11-30")  # the period's last day
    interaction(unassigned, a, "2026-11-05")  # not assigned to a: not counted
    interaction(ended, a, "2026-11-05")
    interaction(by_call, a, "2026-11-05", channel="call")  # not a visit
    interaction(late, a, "2026-12-01")  # after the period
    interaction(early, a, "2026-11-25")  # visited after the assignment ended, but within the period
    db.session.flush()

    people = _people(admin)
    assert people[a.id] == (5, 3)  # both, other_county, by_call, late, early; visited: both, other_county, early
    assert people[b.id] == (1, 0)

    # a period longer than a month (perf.PROBE_DAYS) counts the same way (a hashed semi-join instead of probes)
    year = _people(admin, date(2026, 1, 1), date(2026, 12, 31))
    assert year[a.id] == (6, 5)  # now also: ended (assigned until 10-31) and visited; late (visited on 12-01)
    assert year[b.id] == (1, 0)
    # a commissioner's own view; one county's
    own = perf.performance(a, START, END)["commissioners"]
    assert [(r["user_id"], r["assigned_enterprises"], r["visited_enterprises"]) for r in own] == [(a.id, 5, 3)]
    county = perf.performance(admin, START, END, county="红花岗区")["commissioners"]
    assert {r["user_id"]: (r["assigned_enterprises"], r["visited_enterprises"]) for r in county}[a.id] == (1, 1)



def test_a_new_visit_recounts_the_visits_not_the_assignments(fresh_app, count_queries):
    """Committed changes (a database of its own): after a new 服务记录 the next view shows it, and on PostgreSQL the
    assignments are not counted again; a new assignment recounts them."""
    cache.clear()
    with fresh_app.app_context():
        try:
            admin = make_user("admin")
            a = make_user("commissioner", specialties=["tech"])
            e1, e2 = make_enterprise(county="汇川区"), make_enterprise(county="汇川区")
            assign(e1, a)
            assign(e2, a)
            interaction(e1, a, "2026-11-03")
            db.session.commit()
            assert _people(admin)[a.id] == (2, 1)

            interaction(e2, a, "2026-11-04")
            db.session.commit()
            with count_queries() as after_visit:
                assert _people(admin)[a.id] == (2, 2)
            assigned_counts = [s for s in after_visit.statements if "count(DISTINCT assignments.enterprise_id)" in s]
            visited_counts = [s for s in after_visit.statements if "visited_pairs" in s]
            assert len(visited_counts) == 1
            assert len(assigned_counts) == (0 if cache.enabled() else 1)

            e3 = make_enterprise(county="汇川区")
            assign(e3, a)
            db.session.commit()
            with count_queries() as after_assignment:
                assert _people(admin)[a.id] == (3, 2)
            assert sum("count(DISTINCT assignments.enterprise_id)" in s for s in after_assignment.statements) == 1

            db.session.execute(sa.update(Assignment).where(Assignment.enterprise_id == e2.id)
                               .values(started_on=date(2026, 12, 1)))  # a bulk statement: e2 leaves the period
            db.session.commit()
            assert _people(admin)[a.id] == (2, 1)
        finally:
            db.session.rollback()
            cache.clear()
