"""Statements built once per viewer (crm.core.cache.built_for): kept per viewer and key on PostgreSQL while the
``reference`` version holds, built anew when the viewer's role or county changes; built every time on SQLite.
And 一企一档 through them: each viewer keeps their own scope."""

from __future__ import annotations

import sqlalchemy as sa

from crm.auth import domain as auth
from crm.core import cache
from crm.core.access import Action, where
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters import domain as rosters
from crm.rosters.models import RosterKind
from tests.conftest import assign, in_both_orders, login, make_enterprise, make_user
from tests.rosters.factories import published_edition


def _scoped(user):
    """A statement shaped by ``user``'s scope, as a section builds one."""
    return sa.select(Enterprise.id).where(Enterprise.id == sa.bindparam("enterprise_id"), where(
        user, Enterprise, Action.VIEW) if where(user, Enterprise, Action.VIEW) is not None else sa.true())


def _counties(stmt) -> list[int]:
    """The county ids ``stmt`` compares with (its scope's literal values)."""
    return sorted(value for value in stmt.compile().params.values() if isinstance(value, int))


def test_a_statement_is_built_once_per_viewer_and_key_and_again_when_the_viewer_changes(committed):
    a = make_user("coordinator", county="汇川区")
    b = make_user("coordinator", county="红花岗区")
    db.session.commit()
    builds = []

    def build(user):
        builds.append(user.id)
        return _scoped(user)

    first = cache.built_for(a, "probe", lambda: build(a))
    again = cache.built_for(a, "probe", lambda: build(a))
    other = cache.built_for(b, "probe", lambda: build(b))
    other_key = cache.built_for(a, "probe", lambda: build(a), "another key")
    if not cache.enabled():  # SQLite: nothing is kept, every call builds
        assert builds == [a.id, a.id, b.id, a.id] and first is not again
        return
    assert again is first and builds == [a.id, b.id, a.id]  # the same viewer and key: kept
    assert other is not first and _counties(other) != _counties(first)  # each viewer their own scope
    assert other_key is not first

    hc_county = _counties(first)
    auth.update_user(b, a, display_name=a.display_name, role="coordinator", county="红花岗区", department=None,
                     specialties=[], phone="")  # the rule reads the county: ``reference`` moves
    db.session.commit()
    moved = cache.built_for(a, "probe", lambda: build(a))
    assert moved is not first and builds[-1] == a.id
    assert _counties(moved) == _counties(other) != hc_county  # the new county, never the old one


def test_a_transaction_that_wrote_builds_every_time(committed):
    a = make_user("coordinator", county="汇川区")
    db.session.flush()  # written, not committed: nothing kept is used
    builds = []
    for _ in range(2):
        cache.built_for(a, "probe", lambda: builds.append(1) or _scoped(a))
    assert builds == [1, 1]
    db.session.rollback()


def test_each_viewer_of_the_record_keeps_their_own_scope(committed):
    """A commissioner and a coordinator read 一企一档 in turn, twice each (the second from the kept statements):
    the commissioner's page keeps out a draft list's removal (its roster card and its history), the coordinator's
    shows it; once the commissioner is made a coordinator, their page shows it too."""
    firm = make_enterprise()
    commissioner = make_user("commissioner", specialties=["tech"])
    coordinator = make_user("coordinator")
    assign(firm, commissioner)
    published_edition(RosterKind.SUPPLIER_LIST, "2025H2", [firm], reason="已发布的入库理由")
    draft = rosters.open_edition(None, RosterKind.SUPPLIER_LIST, "2026H1")
    rosters.remove_entry(None, draft, firm, "草稿中的内部移出理由")
    db.session.commit()
    theirs, mine = committed.test_client(), committed.test_client()
    login(theirs, commissioner)
    login(mine, coordinator)

    def page(client) -> str:
        response = client.get(f"/enterprises/{firm.id}")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    for client in in_both_orders(theirs, mine):
        html = page(client)
        assert "已发布的入库理由" in html
        assert html.count("草稿中的内部移出理由") == (0 if client is theirs else 2)  # the card and the history

    auth.update_user(coordinator, commissioner, display_name=commissioner.display_name, role="coordinator",
                     county=None, department=None, specialties=[], phone="")
    db.session.commit()
    assert page(theirs).count("草稿中的内部移出理由") == 2
