"""The targets dashboard at provincial scale (issue 11): its figures cached under the ``targets`` data version
(crm/dashboard/targets.py, migration e5b8d2f4a9c1) and the indexes its statements use.

On PostgreSQL a view while nothing changed is served from the cache; any committed write to what the dashboard
counts — by anyone, through any path — shows at the next view, and a transaction that wrote such records reads
uncached. On SQLite nothing is cached and the numbers are the same."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from crm.core import cache
from crm.core.cache import DataVersion
from crm.dashboard import rules as rules_domain
from crm.dashboard import targets
from crm.enterprises.models import Enterprise, EnterpriseFigure
from crm.extensions import db
from crm.reference.models import Target
from crm.rosters import domain as rosters
from crm.rosters.models import RosterEntry
from tests.conftest import make_enterprise, make_user
from tests.dashboard import targets_world
from tests.dashboard.test_cache import restore_counters_table

TODAY = date(2026, 12, 6)  # 2025 is over, 2027 is not


def _numbers(data):
    city = data["city"]
    return (city["target_firms"], city["actual_firms"], city["actual_output"], data["settled_from_chengyu"]["actual"],
            data["parks"]["actual"], data["expected_share"],
            [(row["unit"], row["actual_firms"], row["actual_output"]) for row in data["units"]])


def test_a_transaction_that_wrote_reads_its_own_changes_uncached():
    admin = make_user("admin")
    world = targets_world.build()
    assert targets.data_version() is None  # it wrote records (PostgreSQL: its note is pending); SQLite: never cached
    first = targets.dashboard(2027, admin, today=TODAY)
    assert first["city"]["actual_firms"] == 3  # A, B, F (tests/dashboard/test_targets.py works them out)
    world.firms["C"].above_scale = True  # 规上 now, on the 2026H1 list: counts for 2027
    db.session.flush()
    second = targets.dashboard(2027, admin, today=TODAY)
    assert second["city"]["actual_firms"] == 4
    assert [(r["unit"], r["actual_firms"]) for r in second["units"]] == [("汇川区", 3), ("桐梓县", 1)]


def test_each_committed_change_shows_at_the_next_view(fresh_app, count_queries):
    """Real commits (a database of its own): an unchanged view comes from the cache in one statement; a committed
    change to each kind of record the dashboard counts moves the version and shows at the next view."""
    cache.clear()
    with fresh_app.app_context():
        try:
            admin = make_user("admin")
            world = targets_world.build()
            db.session.commit()

            def view(year=2027, today=TODAY):
                db.session.commit()  # a new transaction: what others committed is visible
                return targets.dashboard(year, admin, today=today)

            def version():
                db.session.commit()
                return db.session.scalar(sa.select(DataVersion.version).where(DataVersion.name == "targets"))

            with count_queries() as cold:
                first = view()
            with count_queries() as warm:
                assert view() == first
            assert _numbers(first)[:5] == (20, 3, 4.0, 3, 2)
            if not cache.enabled():  # SQLite: nothing cached, no counter moves
                assert targets.data_version() is None and warm.count == cold.count
                world.firms["C"].above_scale = True
                db.session.commit()
                assert view()["city"]["actual_firms"] == 4
                return
            assert warm.count < cold.count  # the version, then the cached figures (and the user, expired by commit)
            assert not [stmt for stmt in warm.statements if "roster_entries" in stmt or "targets" in stmt]
            assert view(today=date(2026, 12, 7))["expected_share"] > first["expected_share"]  # a new day: recomputed

            def changed(write, check):
                before = version()
                write()
                db.session.commit()
                assert version() > before
                check(view())

            f, s = world.firms, world.settled
            changed(lambda: setattr(f["C"], "above_scale", True),  # an enterprise's 规上 flag
                    lambda data: _numbers(data)[1] == 4 or _fail(data))
            changed(lambda: targets_world.figure(f["B"], 2027, "20000"),  # a yearly figure
                    lambda data: data["city"]["actual_output"] == 6.0 or _fail(data))
            changed(lambda: db.session.execute(sa.update(EnterpriseFigure)  # a bulk statement
                                               .where(EnterpriseFigure.enterprise_id == f["B"].id)
                                               .values(output_value=Decimal("30000"))),
                    lambda data: data["city"]["actual_output"] == 7.0 or _fail(data))
            changed(lambda: _remove_from_published(world, f["F"]),  # the list in force
                    lambda data: data["city"]["actual_firms"] == 3 or _fail(data))
            changed(lambda: setattr(s["S1"], "settled_on", date(2025, 1, 1)),  # a settled firm's date
                    lambda data: data["settled_from_chengyu"]["actual"] == 4 or _fail(data))
            changed(lambda: make_enterprise(county="播州区", above_scale=False, settled_from_chengyu=True,
                                            settled_on="2026-01-05"),  # a new settled firm
                    lambda data: data["settled_from_chengyu"]["actual"] == 5 or _fail(data))
            changed(lambda: setattr(world.parks["P4"], "recognised_on", date(2026, 7, 1)),  # a park recognised
                    lambda data: data["parks"]["actual"] == 3 or _fail(data))
            changed(lambda: db.session.execute(sa.update(Target).where(Target.year == 2027, Target.county_id.is_(None))
                                               .values(target_firms=21)),  # a target
                    lambda data: (data["city"]["target_firms"] == 21 and len(data["targets_add_up"]) == 1)
                    or _fail(data))
            changed(lambda: rules_domain.update_rules(admin, {"trajectory_start": "2026-01-01"}),  # the rules
                    lambda data: data["rules"]["trajectory_start"] == "2026-01-01" or _fail(data))
            newcomer = make_enterprise(county="汇川区")
            counted = view()["city"]["actual_firms"]
            before = version()
            rosters.add_entry(None, world.editions["2026H2"], newcomer, "入库测试")  # next half year's draft
            db.session.commit()
            assert version() == before  # a draft is not counted: editing it recounts nothing
            assert view()["city"]["actual_firms"] == counted
            targets_world.publish(world.editions["2026H2"])  # published: it is the list in force now
            db.session.commit()
            assert version() > before
            # E, the newcomer, and F (taken off 2026H1 by the correction above, after the draft was copied from it)
            assert view()["city"]["actual_firms"] == counted + 3

            for year in (2025, 2027):  # after all that, what is served is what a direct count gives
                assert view(year) == view(year) == targets.compute(year, today=TODAY)

            before = version()
            db.session.execute(sa.update(Enterprise).where(Enterprise.id == f["A"].id).values(main_products="轴承"))
            db.session.commit()
            assert version() == before  # what the dashboard does not count moves nothing
        finally:
            db.session.rollback()
            cache.clear()


def _remove_from_published(world, firm) -> None:
    """Take ``firm`` off the published 2026H1 edition by a plain statement (as a correction script would)."""
    db.session.execute(sa.delete(RosterEntry).where(RosterEntry.edition_id == world.editions["2026H1"].id,
                                                    RosterEntry.enterprise_id == firm.id))


def _fail(data):
    raise AssertionError(_numbers(data))


def test_the_statements_can_use_their_indexes():
    """The settled firms' count matches the partial index's predicate, and the counted firms read one year's
    figures by ``ix_enterprise_figures_year_enterprise_id`` — the same numbers either way (test_targets.py)."""
    bind = db.session.get_bind()
    rules = rules_domain.current_rules()
    if bind.dialect.name != "postgresql":
        return
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    db.session.execute(sa.text("SET LOCAL enable_bitmapscan = off"))

    def plan(stmt) -> str:
        compiled = stmt.compile(bind=bind, compile_kwargs={"literal_binds": True})
        return "\n".join(db.session.execute(sa.text(f"EXPLAIN {compiled}")).scalars())

    settled = plan(sa.select(sa.func.count()).select_from(targets.settled_statement(2025, rules).subquery()))
    assert "ix_enterprises_settled_on_chengyu" in settled
    firms = plan(sa.select(sa.func.count()).select_from(
        sa.select(EnterpriseFigure.enterprise_id).where(EnterpriseFigure.year == 2025).subquery()))
    assert "ix_enterprise_figures_year_enterprise_id" in firms


def test_a_restored_counters_table_empties_the_targets_cache():
    """The targets' own version reader checks the counters' table too (a restored backup: crm/core/cache.py)."""
    if not cache.enabled():  # SQLite: nothing cached
        assert targets.data_version() is None
        return
    cache.clear()
    kinds = (targets.VERSION_KIND,)
    try:
        stamp = targets.data_version()
        assert cache.cached(stamp, kinds, ("restore probe",), lambda: "before") == "before"
        assert cache.cached(targets.data_version(), kinds, ("restore probe",), lambda: "again") == "before"
        restore_counters_table()
        assert targets.data_version() == stamp  # the same counter …
        assert cache.cached(targets.data_version(), kinds, ("restore probe",), lambda: "after") == "after"
    finally:
        cache.clear()
