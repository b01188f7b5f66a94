"""The daily rollup of 服务记录 (``InteractionDay``) always equals the aggregate of the records it replaces: after
every kind of write — the domain functions, ORM and bulk statements, a change of an enterprise's county, a deleted
enterprise's cascade — on SQLite (row triggers) and PostgreSQL (statement triggers), and the service dashboard's
figures equal those counted from the records."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from crm.core import cache
from crm.core.cache import PendingChange
from crm.dashboard import rollup
from crm.dashboard import service as perf
from crm.dashboard.cli import dashboard_cli
from crm.dashboard.models import InteractionDay
from crm.enterprises.domain import update_enterprise
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import County
from crm.service.interactions import log_interaction, update_interaction
from crm.service.models import Interaction
from tests.conftest import make_enterprise, make_user

DAY = date(2026, 11, 10)
NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)


def same() -> dict:
    db.session.flush()
    found = rollup.stored()
    assert found == rollup.direct()
    return found


def _log(actor, enterprise, day=DAY, channel="visit"):
    return log_interaction(actor, enterprise, {"date": day.isoformat(), "channel": channel, "specialty": "tech",
                                               "summary": "走访了解生产情况"}, today=date(2026, 12, 6))


def test_the_rollup_follows_every_write():
    a = make_user("commissioner", specialties=["tech"])
    b = make_user("commissioner", specialties=["tech"])
    e1, e2 = make_enterprise(county="汇川区"), make_enterprise(county="红花岗区")
    before = same()

    i1 = _log(a, e1)
    _log(a, e1, channel="call")
    i3 = _log(b, e2, day=date(2026, 11, 11))
    rows = same()
    assert {k: v for k, v in rows.items() if k not in before} == {
        (DAY, e1.county_id, a.id): (1, 2), (date(2026, 11, 11), e2.county_id, b.id): (1, 1)}

    update_interaction(a, i1, {"channel": "online", "version": i1.version}, today=date(2026, 12, 6))
    assert same()[(DAY, e1.county_id, a.id)] == (0, 2)
    update_interaction(b, i3, {"date": "2026-11-12", "version": i3.version}, today=date(2026, 12, 6))
    rows = same()
    assert (date(2026, 11, 11), e2.county_id, b.id) not in rows  # a group that falls to 0 is gone
    assert rows[(date(2026, 11, 12), e2.county_id, b.id)] == (1, 1)

    i3.created_by_id = a.id  # an ORM change of the author
    assert same()[(date(2026, 11, 12), e2.county_id, a.id)] == (1, 1)

    db.session.delete(i1)
    assert same()[(DAY, e1.county_id, a.id)] == (0, 1)

    # bulk statements (an import, a load): several rows in one statement, one without an author
    db.session.execute(sa.insert(Interaction), [
        {"enterprise_id": e1.id, "occurred_on": DAY, "channel": "visit", "specialty": "tech", "summary": "x",
         "participants": "", "created_by_id": None, "version": 1, "created_at": NOW},
        {"enterprise_id": e2.id, "occurred_on": DAY, "channel": "visit", "specialty": "tech", "summary": "y",
         "participants": "", "created_by_id": b.id, "version": 1, "created_at": NOW}])
    rows = same()
    assert rows[(DAY, e1.county_id, rollup.NO_AUTHOR)] == (1, 1)
    db.session.execute(sa.update(Interaction).where(Interaction.enterprise_id == e2.id)
                       .values(occurred_on=date(2026, 11, 20)))
    assert same()[(date(2026, 11, 20), e2.county_id, b.id)] == (1, 1)
    db.session.execute(sa.delete(Interaction).where(Interaction.created_by_id.is_(None)))
    same()


def test_the_rollup_follows_the_enterprise():
    a = make_user("commissioner", specialties=["tech"])
    e1, e2 = make_enterprise(county="汇川区"), make_enterprise(county="汇川区")
    _log(a, e1)
    _log(a, e2)
    old = e1.county_id
    assert same()[(DAY, old, a.id)] == (2, 2)

    update_enterprise(None, e1, {"county": "红花岗区"})  # the enterprise moves: its records count in the new county
    rows = same()
    assert rows[(DAY, old, a.id)] == (1, 1)
    assert rows[(DAY, e1.county_id, a.id)] == (1, 1)

    db.session.execute(sa.delete(Enterprise).where(Enterprise.id == e2.id))  # the database's cascade
    rows = same()
    assert (DAY, old, a.id) not in rows
    db.session.expunge_all()
    db.session.execute(sa.delete(Enterprise).where(Enterprise.id == e1.id))
    same()


def _one_record(conn, enterprise_id: int, author_id: int) -> None:
    conn.execute(sa.insert(Interaction).values(
        enterprise_id=enterprise_id, occurred_on=DAY, channel="visit", specialty="tech", summary="并发走访",
        participants="", created_by_id=author_id, version=1, created_at=NOW))


@pytest.mark.parametrize("first", ["writer", "mover"])
def test_a_county_move_and_a_new_record_of_the_enterprise_leave_the_rollup_right(fresh_app, first):
    """Two real transactions (PostgreSQL): one writes a 服务记录 for an enterprise while the other moves the
    enterprise to another county. Whichever starts first, the second waits for it (migration e5c2a7b913d4), and
    once both have committed the record counts in the new county. Without the wait the record stayed counted in
    the old county (its writer read the committed county; the mover's snapshot could not see the record)."""
    with fresh_app.app_context():
        engine = db.engine
        author = make_user("commissioner", specialties=["tech"])
        firm = make_enterprise(county="汇川区")
        new_county = db.session.scalar(sa.select(County.id).where(County.name == "红花岗区"))
        old_county, firm_id, author_id = firm.county_id, firm.id, author.id
        db.session.commit()
        writer, mover = engine.connect(), engine.connect()
        done = threading.Event()
        second = None
        try:
            def move() -> None:
                mover.execute(sa.update(Enterprise).where(Enterprise.id == firm_id).values(county_id=new_county))

            def write() -> None:
                _one_record(writer, firm_id, author_id)

            first_conn, first_step, second_conn, second_step = (
                (writer, write, mover, move) if first == "writer" else (mover, move, writer, write))
            first_step()
            if engine.dialect.name != "postgresql":  # SQLite: one writer at a time; the two run one after the other
                first_conn.commit()
                second_step()
                second_conn.commit()
                done.set()

            def then() -> None:
                second_step()
                second_conn.commit()
                done.set()

            if not done.is_set():
                second = threading.Thread(target=then)
                second.start()
                time.sleep(0.5)
                assert not done.is_set()  # the second transaction waits for the first …
                first_conn.commit()
                second.join(10)
                assert done.is_set()  # … and goes on once it has committed
            db.session.commit()  # a new snapshot: both commits
            assert rollup.stored() == rollup.direct()
            rows = rollup.stored()
            assert rows[(DAY, new_county, author_id)] == (1, 1) and (DAY, old_county, author_id) not in rows
        finally:
            for conn in (writer, mover):
                conn.rollback()
            if second is not None:
                second.join(10)
            for conn in (writer, mover):
                conn.close()
            db.session.rollback()


def test_rebuild_recomputes_it():
    a = make_user("commissioner", specialties=["tech"])
    _log(a, make_enterprise())
    expected = same()
    db.session.execute(sa.delete(InteractionDay))
    assert rollup.stored() == {}
    assert rollup.rebuild() == len(expected)
    assert same() == expected


def test_rebuild_moves_the_interactions_version():
    """The figures cached from the rollup are recomputed after a rebuild commits (PostgreSQL: it notes
    'interactions', so the transaction reads uncached and its commit moves the counter)."""
    db.session.execute(sa.delete(PendingChange))  # what earlier statements of this test's transaction noted
    rollup.rebuild()
    noted = set(db.session.scalars(sa.select(PendingChange.kind)))
    if cache.enabled():
        assert noted == {"interactions"} and cache.versions() is None
    else:  # SQLite: no counters, nothing cached
        assert noted == set() and cache.versions() is None


def test_the_rebuild_command_mends_a_drifted_rollup(app):
    """``flask dashboard rebuild-rollup`` recomputes the rollup and says how many groups it mended."""
    a = make_user("commissioner", specialties=["tech"])
    e1 = make_enterprise(county="汇川区")
    _log(a, e1)
    _log(a, e1, day=date(2026, 11, 11))
    expected = same()
    db.session.execute(sa.delete(InteractionDay).where(InteractionDay.day == DAY))  # a drift: one group lost
    db.session.execute(sa.update(InteractionDay).values(visits=InteractionDay.visits + 5))  # others miscounted
    drifted = rollup.stored()
    wrong = rollup.differences(expected, drifted)
    assert wrong == len(expected) and wrong >= 2

    result = app.test_cli_runner().invoke(dashboard_cli, ["rebuild-rollup"])
    assert result.exit_code == 0, result.output
    assert f"共 {len(expected)} 组;与重算前不同的组:{wrong}" in result.output
    assert same() == expected


def test_the_dashboard_figures_equal_the_records():
    """The figures the page shows come from the rollup; counted from the records they are the same."""
    admin = make_user("admin")
    a = make_user("commissioner", specialties=["tech"])
    e1, e2 = make_enterprise(county="汇川区"), make_enterprise(county="红花岗区")
    for day, enterprise, channel in ((DAY, e1, "visit"), (DAY, e1, "call"), (date(2026, 10, 31), e2, "visit"),
                                     (date(2026, 11, 30), e2, "online")):
        _log(a, enterprise, day=day, channel=channel)
    start, end = date(2026, 10, 15), date(2026, 11, 30)
    result = perf.performance(admin, start, end)

    def counted(*where):
        return db.session.execute(
            sa.select(sa.func.count().filter(Interaction.channel == "visit"), sa.func.count())
            .join(Enterprise, Interaction.enterprise_id == Enterprise.id)
            .where(Interaction.occurred_on >= start, Interaction.occurred_on <= end, *where)).one()

    assert (result["city"]["visits"], result["city"]["interactions"]) == tuple(counted())
    for row in result["counties"]:
        assert (row["visits"], row["interactions"]) == tuple(counted(Enterprise.county_id == row["county_id"]))
    mine = next(r for r in result["commissioners"] if r["user_id"] == a.id)
    assert (mine["visits"], mine["interactions"]) == (2, 4)
    months = {m["month"]: (m["visits"], m["interactions"]) for m in result["visits_by_month"]}
    assert months["2026-10"] == tuple(counted(Interaction.occurred_on < date(2026, 11, 1)))
    assert months["2026-11"] == tuple(counted(Interaction.occurred_on >= date(2026, 11, 1)))
    own = perf.performance(a, start, end)
    assert (own["total"]["visits"], own["total"]["interactions"]) == (2, 4)
