"""The service pages' counts cached under data versions (crm/core/cache.py; benchmarks/README.md, "Fifth pass:
cached counts"): the coverage matrix's total and gaps, the ledger's per-department summary, the coordinators'
workspace summary.

With real commits on a database of the module's own: a view while nothing changed is served (one statement fewer
than computing it); a committed write of each kind the count reads — by another transaction, through any path —
shows at the next view, and that view equals the count computed with nothing kept; two users of different scopes
(the city, a county, a commissioner) never get each other's numbers. On SQLite nothing is cached and the numbers
are the same."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from crm.core import cache
from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Cluster, County, Department
from crm.rosters.models import RosterEdition, RosterEntry, RosterKind
from crm.service import coverage
from crm.service.models import Assignment, Interaction, ServiceRequest
from crm.service.requests import department_counts, requests_statement
from crm.service.workspace import workspace_page
from tests.conftest import assign, counting_queries, login, make_enterprise, make_user
from tests.rosters.factories import published_edition

TODAY = local_today()
PAST = (TODAY - timedelta(days=40)).isoformat()


def look(view: Callable[[], Any]) -> tuple[Any, int]:
    """``view()`` in a new transaction (what others committed is visible) and the statements it sent."""
    db.session.commit()
    with counting_queries() as queries:
        value = view()
    return value, queries.count


def uncached(view: Callable[[], Any]) -> Any:
    """``view()`` computed with nothing kept: what a served view must equal."""
    db.session.commit()
    cache.clear()
    return view()


def served_twice(view: Callable[[], Any]) -> Any:
    """The view computed, then served: the same value, on PostgreSQL one statement fewer per figure it kept (the
    count, and the counties' names when it filters by one: their statements not sent, the versions read once
    either way); on SQLite the same statements."""
    cache.clear()
    first, cold = look(view)
    kept = len(cache._entries)
    again, warm = look(view)
    assert again == first
    assert warm == (cold - kept if cache.enabled() else cold), (cold, warm, kept)
    assert kept >= 1 if cache.enabled() else kept == 0
    return first


def moves(view: Callable[[], Any], write: Callable[[], Any]) -> Any:
    """Commit ``write()`` (after the view was kept) and check that the next view shows it and equals the count
    computed afresh."""
    before = served_twice(view)
    write()
    db.session.commit()
    after, _ = look(view)
    assert after != before, "the write must change this count (else the test proves nothing)"
    assert after == uncached(view)
    return after


def _published(kind: RosterKind) -> RosterEdition:
    return db.session.scalars(sa.select(RosterEdition).where(RosterEdition.kind == kind,
                                                             RosterEdition.status == "published")).one()


def _listed(kind: RosterKind, firms: list[Enterprise]) -> None:
    """``firms`` on the published edition of ``kind`` (the module's database may already have one)."""
    edition = db.session.scalars(sa.select(RosterEdition).where(RosterEdition.kind == kind,
                                                                RosterEdition.status == "published")).first()
    if edition is None:
        published_edition(kind, "2026H1", firms)
        return
    db.session.add_all(RosterEntry(edition_id=edition.id, enterprise_id=firm.id, reason="补录") for firm in firms)
    db.session.flush()


def _raise(firm: Enterprise, owner, *, due: str = PAST, department: Department | None = None) -> None:
    db.session.add(ServiceRequest(enterprise_id=firm.id, category="其他", description="测试诉求", owner_id=owner.id,
                                  department_id=department.id if department else None,
                                  raised_on=date.fromisoformat(PAST) - timedelta(days=5),
                                  due_date=date.fromisoformat(due), status="in_progress"))


def _move(firm: Enterprise, county: str) -> None:
    db.session.execute(sa.update(Enterprise).where(Enterprise.id == firm.id).values(
        county_id=sa.select(County.id).where(County.name == county).scalar_subquery()))


def coordinator_beside_one_firm(app) -> tuple[Any, Enterprise]:
    """A listed enterprise of 汇川区 assigned to a commissioner who owns an overdue 诉求 of it (committed), and a
    client signed in as a city coordinator: what every service page shows something of."""
    firm = make_enterprise(county="汇川区")
    _listed(RosterKind.SUPPLIER_LIST, [firm])
    commissioner = make_user("commissioner", specialties=["tech"])
    assign(firm, commissioner)
    _raise(firm, commissioner)
    coordinator = make_user("coordinator")
    db.session.commit()
    client = app.test_client()
    login(client, coordinator)
    return client, firm


# --- the coverage matrix -----------------------------------------------------------------------------------------

def test_coverage_counts_follow_every_kind_of_write_and_every_scope(committed):
    hc = [make_enterprise(county="汇川区", cluster="装备制造") for _ in range(4)]
    tz = [make_enterprise(county="桐梓县", cluster="装备制造") for _ in range(2)]
    outside = make_enterprise(county="汇川区")  # on no list
    _listed(RosterKind.SUPPLIER_LIST, hc[:3] + tz)
    _listed(RosterKind.CULTIVATION_POOL, hc[2:])
    tech = make_user("commissioner", specialties=["tech", "legal"])
    other = make_user("commissioner", specialties=["tech"])
    assign(hc[0], tech)
    assign(tz[0], tech)
    assign(hc[1], other)
    city, county = make_user("coordinator"), make_user("coordinator", county="汇川区")
    db.session.commit()

    def counts(user, **filters):
        return lambda: coverage.coverage_counts(coverage.coverage_statement(user, **filters))

    city_hc, county_own, mine = counts(city, county="汇川区"), counts(county), counts(tech)
    city_all, clustered = counts(city), counts(city, county="汇川区", cluster="装备制造")

    # scopes: the city's view of 汇川区 and the county coordinator's own hold the same rows here, the city's whole
    # view and a commissioner's do not; interleaved, each one is its own (and equal to a fresh count)
    assert served_twice(city_all)[0] > served_twice(city_hc)[0] > served_twice(mine)[0]
    for view in (mine, city_all, county_own, city_hc, mine, city_all):
        assert look(view)[0] == uncached(view)
    assert look(mine)[0][0] == 2  # the commissioner's two listed enterprises, never the city's figure

    tech_gap = lambda result: result[1]["tech"]  # noqa: E731
    before = tech_gap(served_twice(city_hc))
    after = moves(city_hc, lambda: assign(hc[2], other))  # an assignment
    assert tech_gap(after) == before - 1
    after = moves(city_hc, lambda: db.session.execute(  # an assignment ended (a bulk statement)
        sa.update(Assignment).where(Assignment.enterprise_id == hc[2].id).values(ended_on=TODAY)))
    assert tech_gap(after) == before
    total = moves(county_own, lambda: db.session.add(  # an entry of a published edition (any writer)
        RosterEntry(edition_id=_published(RosterKind.SUPPLIER_LIST).id, enterprise_id=outside.id,
                    reason="补录")))[0]
    assert moves(county_own, lambda: _move(outside, "桐梓县"))[0] == total - 1  # a county change
    assert moves(mine, lambda: assign(hc[3], tech, "legal"))[0] == 3  # the commissioner's scope
    assert moves(clustered, lambda: db.session.execute(  # an enterprise's cluster (the cluster filter)
        sa.update(Enterprise).where(Enterprise.id == hc[0].id).values(
            cluster_id=sa.select(Cluster.id).where(Cluster.name == "电子信息").scalar_subquery())))[0] \
        == look(city_hc)[0][0] - 1
    cluster = db.session.scalars(sa.select(Cluster).where(Cluster.name == "装备制造")).one()
    try:
        assert moves(clustered, lambda: setattr(cluster, "name", "装备制造(更名)"))[0] == 0  # a cluster's name
    finally:
        cluster.name = "装备制造"
        db.session.commit()


# --- the request ledger ---------------------------------------------------------------------------------------------

def test_ledger_department_counts_follow_every_kind_of_write_and_every_scope(committed):
    land = db.session.scalars(sa.select(Department).order_by(Department.sort_order, Department.id)).first()
    owner = make_user("commissioner", specialties=["tech"])
    hc = [make_enterprise(county="汇川区") for _ in range(3)]
    tz = make_enterprise(county="桐梓县")
    for firm in hc:
        _raise(firm, owner, department=land)
    _raise(tz, owner)
    _raise(hc[0], owner, due=(TODAY + timedelta(days=30)).isoformat())  # open, not overdue
    assign(hc[0], owner)
    city, county = make_user("coordinator"), make_user("coordinator", county="汇川区")
    db.session.commit()

    def counts(user, **filters):
        return lambda: department_counts(requests_statement(user, overdue=True, today=TODAY, **filters), TODAY,
                                         only_overdue=True)

    def total(rows):
        return sum(row["total"] for row in rows)

    city_view, county_view, own_view = counts(city), counts(county), counts(owner)
    by_owner = counts(city, owner=owner.username)
    assert total(served_twice(city_view)) > total(served_twice(county_view)) > total(served_twice(own_view)) == 1
    for view in (own_view, city_view, county_view, own_view, city_view):
        assert look(view)[0] == uncached(view)

    assert total(moves(county_view, lambda: _raise(hc[1], owner))) == 4  # a 诉求 (and its department: none)
    assert total(moves(county_view, lambda: _move(hc[2], "桐梓县"))) == 3  # a county change
    assert total(moves(own_view, lambda: assign(hc[1], owner, "legal"))) == 3  # the commissioner's scope
    assert total(moves(county_view, lambda: db.session.execute(  # a 诉求 closed (a bulk statement)
        sa.update(ServiceRequest).where(ServiceRequest.enterprise_id == hc[1].id).values(status="closed")))) == 1
    original = land.name
    try:
        rows = moves(county_view, lambda: setattr(land, "name", f"{original}(更名)"))  # a department's name
        assert rows[0]["department"] == f"{original}(更名)"
    finally:
        land.name = original
        db.session.commit()
    name = owner.username
    assert total(served_twice(by_owner)) > 0
    try:
        moves(by_owner, lambda: setattr(owner, "username", f"{name}-renamed"))  # the owner filter's username
        assert total(look(by_owner)[0]) == 0
    finally:
        owner.username = name
        db.session.commit()


# --- the coordinators' workspace ------------------------------------------------------------------------------------

def test_workspace_summary_follows_every_kind_of_write_and_every_scope(committed):
    a = make_user("commissioner", specialties=["tech"])
    hc = [make_enterprise(county="汇川区") for _ in range(3)]
    tz = make_enterprise(county="桐梓县")
    for firm in [*hc, tz]:
        assign(firm, a)
    b = make_user("commissioner", specialties=["legal"])
    assign(hc[0], b, "legal")
    city, county = make_user("coordinator"), make_user("coordinator", county="汇川区")
    db.session.commit()

    def summary(user):
        return lambda: workspace_page(user, None, TODAY, 1, 30).summary

    city_view, county_view, own_view = summary(city), summary(county), summary(b)
    assert served_twice(city_view)["enterprises"] > served_twice(county_view)["enterprises"] >= 3
    for view in (county_view, city_view, own_view, county_view, own_view):
        assert look(view)[0] == uncached(view)
    assert look(own_view)[0]["enterprises"] == 1  # a commissioner's own (not cached: their page's window totals)

    extra = make_enterprise(county="汇川区")
    db.session.commit()
    before = look(county_view)[0]
    assert moves(county_view, lambda: assign(extra, a))["enterprises"] == before["enterprises"] + 1  # assignments
    assert moves(county_view, lambda: db.session.add(Interaction(  # interactions: contacted at last
        enterprise_id=extra.id, occurred_on=TODAY, channel="visit", specialty="tech", summary="走访",
        created_by_id=a.id)))["never"] == before["never"]
    assert moves(county_view, lambda: _raise(extra, a))["overdue_requests"] == before["overdue_requests"] + 1
    assert moves(county_view, lambda: _move(extra, "桐梓县"))["enterprises"] == before["enterprises"]  # county


# --- the pages ------------------------------------------------------------------------------------------------------

# Each page keeps its count, its user chooser (tests/service/test_cached_choosers.py) and its filters' names: a
# second view sends none of their statements, and reads the versions once for all of them.
@pytest.mark.parametrize("path", ["/assignments/?county=汇川区", "/service/requests/?overdue=1", "/service/"])
def test_a_second_view_of_each_page_sends_one_statement_fewer_per_kept_figure(committed, path):
    client, _ = coordinator_beside_one_firm(committed)
    client.get(path)  # the session, the navigation and the statements built once per process
    cache.clear()  # the warm-up kept the count: the first view below computes it

    def view():
        response = client.get(path)
        assert response.status_code == 200
        return None

    _, cold = look(view)
    # each kept figure is one statement (the drawn rows kept beside them, crm.core.cache.cached_markup, are none)
    kept = sum(1 for key in cache._entries if key[0] != "markup")
    drawn = len(cache._entries) - kept
    _, warm = look(view)
    # the count, the chooser, and on two of them the filters' names (the counties, departments or clusters)
    assert warm == (cold - kept if cache.enabled() else cold), (cold, warm, kept)
    assert kept >= 2 if cache.enabled() else kept == 0
    assert drawn == (1 if cache.enabled() else 0)  # the page's rows, drawn once


# --- the key ------------------------------------------------------------------------------------------------------

def test_a_statement_key_holds_the_scope_the_filters_and_today():
    """Keys are equal only for the same question: rebuilt statements of one user and filter share it; another
    county's coordinator, another commissioner, another filter, another day or execution value do not."""
    hc, tz = make_user("coordinator", county="汇川区"), make_user("coordinator", county="桐梓县")
    one, two = (make_user("commissioner", specialties=["tech"]) for _ in range(2))

    def key(user, **filters):
        return cache.statement_key(requests_statement(user, overdue=True, today=TODAY, **filters))

    assert key(hc) == key(hc)
    keys = [key(hc), key(tz), key(one), key(two), key(hc, county="桐梓县"), key(hc, owner=one.username),
            cache.statement_key(requests_statement(hc, overdue=True, today=TODAY + timedelta(days=1)))]
    assert len(set(keys)) == len(keys)
    stmt = sa.select(sa.literal(1)).where(sa.bindparam("given", type_=sa.Integer) > 0)
    assert cache.statement_key(stmt, {"given": 1}) != cache.statement_key(stmt, {"given": 2})
    text = sa.text("SELECT :n").bindparams(n=1)
    assert cache.statement_key(text) != cache.statement_key(sa.text("SELECT :n").bindparams(n=2))
