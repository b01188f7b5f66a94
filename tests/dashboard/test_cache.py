"""The service dashboard's cached figures (crm/core/cache.py): on PostgreSQL the heavy aggregates are kept per
process while the records behind them are unchanged; any committed write to those records — whoever makes it —
shows at the next view, and a transaction that wrote some reads uncached; on SQLite nothing is cached."""

from __future__ import annotations

import threading
import time
from datetime import date

import sqlalchemy as sa

from crm.core import cache
from crm.core.cache import DataVersion
from crm.dashboard import service as perf
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


def _world():
    """An admin, a commissioner and one enterprise of 汇川区 assigned to them, with one 诉求 (not yet committed)."""
    admin = make_user("admin")
    a = make_user("commissioner", specialties=["tech"])
    e1 = make_enterprise(county="汇川区")
    assign(e1, a)
    request(e1, a, "2026-11-03", "2026-11-10")
    return admin, a, e1


def test_the_writing_transaction_sees_its_changes():
    admin, a, e1 = _world()
    db.session.flush()
    assert cache.versions() is None  # this transaction wrote records: nothing cached is used (nor kept)
    first = _numbers(admin)
    assert _numbers(admin) == first

    request(e1, a, "2026-11-04", "2026-11-05")  # a new 诉求: raised and overdue move
    db.session.flush()
    second = _numbers(admin)
    assert second[:2] == (first[0] + 1, first[1] + 1)

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


def test_committed_changes_move_the_counters_and_the_cache_serves_between_them(fresh_app, count_queries):
    """Real commits (a database of its own): an unchanged view is served from the cache; a committed change of
    each kind moves its counter and shows at the next view."""
    cache.clear()
    with fresh_app.app_context():
        try:
            admin, a, e1 = _world()
            db.session.commit()

            def counters():
                db.session.commit()  # a new transaction: see what others committed
                return dict(db.session.execute(sa.select(DataVersion.name, DataVersion.version)).all())

            before = counters()
            assert set(perf.KINDS) <= set(before)  # and 'targets', the targets dashboard's (crm/dashboard/targets.py)
            with count_queries() as cold:
                first = _numbers(admin)
            with count_queries() as warm:
                assert _numbers(admin) == first
            if not cache.enabled():  # SQLite: no counters move, nothing is cached
                assert counters() == before and cache.versions() is None
                return
            assert warm.count < cold.count  # served from the cache

            request(e1, a, "2026-11-04", "2026-11-05")
            db.session.commit()
            moved = counters()
            assert moved["requests"] > before["requests"] and moved["assignments"] == before["assignments"]
            second = _numbers(admin)
            assert second[:2] == (first[0] + 1, first[1] + 1)

            e2 = make_enterprise(county="汇川区")
            assign(e2, a)
            interaction(e2, a, "2026-11-12")
            db.session.commit()
            assert counters()["assignments"] > moved["assignments"]
            third = _numbers(admin)
            assert third[6][a.id] == (first[6][a.id][0] + 1, first[6][a.id][1] + 1)

            db.session.execute(sa.update(Assignment).where(Assignment.enterprise_id == e2.id)
                               .values(started_on=date(2026, 12, 1)))  # a bulk statement too
            db.session.commit()
            assert _numbers(admin)[6][a.id] == first[6][a.id]
        finally:
            db.session.rollback()
            cache.clear()


def test_nothing_is_cached_without_the_counters():
    """A kind without a counter (an older database): a figure that names it is computed at every call, never kept;
    one over the other kinds still is."""
    db.session.execute(sa.delete(DataVersion).where(DataVersion.name == "requests"))
    stamp = cache.versions()
    assert stamp is None or "requests" not in stamp
    cache.clear()
    try:
        calls = []
        for _ in range(2):
            cache.cached(cache.versions(), ("requests",), ("no counter probe",), lambda: calls.append(1))
        assert len(calls) == 2
        kept = []
        for _ in range(2):
            cache.cached(cache.versions(), ("assignments",), ("counter probe",), lambda: kept.append(1))
        assert len(kept) == (1 if cache.enabled() else 2)
    finally:
        cache.clear()


def test_committers_lock_the_counters_in_name_order(fresh_app):
    """At commit a transaction that noted two kinds (here 'requests' first, then 'interactions') locks their counters
    in name order: while it waits for the 'interactions' counter it holds no lock on 'requests'. Two committers that
    wrote the kinds in opposite orders therefore queue instead of deadlocking."""
    with fresh_app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":  # SQLite: no counters, no deferred triggers, nothing cached
            assert not cache.enabled()
            return
        holder, writer, probe = engine.connect(), engine.connect(), engine.connect()
        done = threading.Event()
        thread = None
        try:
            holder.execute(sa.text("SELECT 1 FROM dashboard_data_versions WHERE name = 'interactions' FOR UPDATE"))
            before = dict(probe.execute(sa.select(DataVersion.name, DataVersion.version)).all())
            probe.rollback()
            writer.execute(sa.text("INSERT INTO dashboard_pending_changes (kind) VALUES ('requests')"))
            writer.execute(sa.text("INSERT INTO dashboard_pending_changes (kind) VALUES ('interactions')"))

            def commit() -> None:
                writer.commit()
                done.set()

            thread = threading.Thread(target=commit)
            thread.start()
            time.sleep(0.5)
            assert not done.is_set()  # waiting for the held 'interactions' counter …
            probe.execute(sa.text("SELECT 1 FROM dashboard_data_versions WHERE name = 'requests' FOR UPDATE NOWAIT"))
            probe.rollback()  # … without holding 'requests' (NOWAIT would have raised)
            holder.rollback()
            thread.join(10)
            assert done.is_set()
            after = dict(probe.execute(sa.select(DataVersion.name, DataVersion.version)).all())
            assert after["requests"] > before["requests"] and after["interactions"] > before["interactions"]
            assert after["assignments"] == before["assignments"]
            assert probe.execute(sa.text("SELECT count(*) FROM dashboard_pending_changes")).scalar() == 0
        finally:
            holder.rollback()
            if thread is not None:
                thread.join(10)
            for conn in (holder, writer, probe):
                conn.close()


def restore_counters_table() -> None:
    """What ``pg_restore --clean`` does to the counters: the table dropped and created anew with the dumped rows
    (inside the test's transaction, rolled back at its end)."""
    for statement in ("CREATE TABLE restored_versions AS SELECT * FROM dashboard_data_versions",
                      "ALTER TABLE dashboard_data_versions RENAME TO dashboard_data_versions_gone",
                      "ALTER TABLE restored_versions RENAME TO dashboard_data_versions"):
        db.session.execute(sa.text(statement))


def test_a_restored_counters_table_empties_the_cache():
    """A backup restored into a running system (``pg_restore --clean``) recreates the counters' table with values
    that may repeat ones already cached: the new table (its ``tableoid``) empties the cache."""
    if not cache.enabled():  # SQLite: nothing is cached, nothing to forget
        assert cache.versions() is None
        return
    cache.clear()
    try:
        stamp = cache.versions()
        assert cache.cached(stamp, ("requests",), ("restore probe",), lambda: "before") == "before"
        assert cache.cached(cache.versions(), ("requests",), ("restore probe",), lambda: "again") == "before"
        restore_counters_table()
        assert cache.versions() == stamp  # the same counters …
        assert cache.cached(cache.versions(), ("requests",), ("restore probe",), lambda: "after") == "after"
    finally:
        cache.clear()


def test_the_rows_names_and_meetings_are_kept_until_they_change(fresh_app, count_queries):
    """The view's rows joined to the meetings and the names (``perf._shown``, kinds ``meetings`` and ``reference``:
    migration b4e1d7a9c3f2): a second view sends none of their statements; a committed meeting, a partner added to
    a meeting, an enterprise added to one, a department's or a commissioner's new name each show at the next view,
    equal to the view computed with nothing kept."""
    from crm.meetings.models import MeetingEnterprise, MeetingPartner
    from crm.reference.models import Department
    from tests.meetings.factories import make_meeting, partner

    def view(viewer):
        db.session.commit()  # a new transaction: what others committed is visible
        with count_queries() as queries:
            result = perf.performance(viewer, START, END)
        return result, queries.count

    def fresh(viewer):
        db.session.commit()
        cache.clear()
        return perf.performance(viewer, START, END)

    cache.clear()
    with fresh_app.app_context():
        try:
            admin, a, e1 = _world()
            department = db.session.scalars(sa.select(Department).order_by(Department.id)).first()
            request(e1, a, "2026-11-03", "2026-11-10", department=department)
            db.session.commit()
            first, cold = view(admin)
            again, warm = view(admin)
            assert again == first
            if not cache.enabled():  # SQLite: nothing kept, the same statements
                assert warm == cold
                return
            assert warm < cold - 3  # the meetings, counties, departments and names are not read again

            def shows(write, check):
                write()
                db.session.commit()
                after, _ = view(admin)
                assert check(after), after
                assert after == fresh(admin)
                view(admin)  # kept again

            city = lambda r: r["city"]["meetings_chengyu"]  # noqa: E731
            assert city(first) == 0
            meeting = make_meeting(title="成都对接会", starts="2026-11-12 09:00", city="成都", status="held")
            shows(lambda: None, lambda r: city(r) == 1)  # a meeting held in 成渝 (committed by make_meeting's caller)
            county = lambda r: next(c for c in r["counties"] if c["county"] == "汇川区")["meetings_chengyu"]  # noqa: E731
            assert county(view(admin)[0]) == 0
            shows(lambda: db.session.add(MeetingEnterprise(meeting_id=meeting.id, enterprise_id=e1.id)),
                  lambda r: county(r) == 1)  # an enterprise of the county took part
            away = make_meeting(title="遵义座谈会", starts="2026-11-14 09:00", city="遵义", status="held")
            db.session.commit()
            assert city(view(admin)[0]) == 1  # held in 遵义 with no 成渝 firm: does not count
            shows(lambda: db.session.add(MeetingPartner(meeting_id=away.id, partner_id=partner().id)),
                  lambda r: city(r) == 2)  # a 成渝 firm took part
            original = department.name
            shows(lambda: setattr(department, "name", f"{original}(更名)"),
                  lambda r: any(d["department"] == f"{original}(更名)" for d in r["departments"]))
            shows(lambda: setattr(a, "display_name", "改名的专员"),
                  lambda r: [c["name"] for c in r["commissioners"] if c["user_id"] == a.id] == ["改名的专员"])
            department.name = original
            db.session.commit()
        finally:
            db.session.rollback()
            cache.clear()


def test_a_transaction_reads_the_versions_once_until_it_writes_or_ends(fresh_app, count_queries):
    """``cache.versions()`` is read once per transaction while it only reads (a page keeping several figures sends
    one statement for all); a write in the transaction — by the ORM or a bulk statement — makes the next call read
    again (and see its own change: ``None``), and so do a commit and a rollback."""
    cache.clear()
    with fresh_app.app_context():
        try:
            admin, a, e1 = _world()
            db.session.commit()
            if not cache.enabled():  # SQLite: no statement at all
                with count_queries() as queries:
                    assert cache.versions() is None and cache.versions() is None
                assert queries.count == 0
                return
            with count_queries() as queries:
                first = cache.versions()
                assert cache.versions() == first and first
            assert queries.count == 1  # the second call is answered without a statement
            mine = cache.versions()
            mine["requests"] = -1  # each caller gets its own copy
            assert cache.versions() == first

            request(e1, a, "2026-11-04", "2026-11-05")  # an ORM write in this transaction
            db.session.flush()
            assert cache.versions() is None  # read again: this transaction's own change is pending
            db.session.commit()
            with count_queries() as queries:
                after = cache.versions()
            assert queries.count == 1 and after["requests"] > first["requests"]  # read again after the commit

            db.session.execute(sa.update(Assignment).where(Assignment.enterprise_id == e1.id)
                               .values(started_on=date(2026, 1, 2)))  # a bulk statement
            assert cache.versions() is None
            db.session.rollback()
            with count_queries() as queries:
                assert cache.versions() == after  # the rollback ended it: read again, nothing moved
            assert queries.count == 1
            db.session.rollback()
            db.session.get(type(e1), e1.id).main_products = "还没写入的修改"  # a change pending in the session
            assert cache.versions() is None  # flushed first, as the session's own statements would be
            db.session.rollback()
            assert cache.versions() == after  # read, and kept for the transaction
            db.session.get(type(e1), e1.id).main_products = "读过版本之后的修改"  # then a change, still pending
            assert cache.versions() is None
        finally:
            db.session.rollback()
            cache.clear()


def test_the_versions_read_with_the_session_answer_versions_without_a_statement(fresh_app, count_queries):
    """``cache.versions_column`` is read in the statement that finds the session or token (crm/web.py registers it
    as a session figure) and ``cache.note_versions`` keeps it as the transaction's versions: the same as
    ``versions()`` reads, no statement of its own; a transaction that already wrote versioned records reads
    nothing kept (``None``). On SQLite there is no such column."""
    cache.clear()
    with fresh_app.app_context():
        try:
            admin, a, e1 = _world()
            db.session.commit()
            dialect = db.session.get_bind().dialect.name
            if not cache.enabled():
                assert cache.versions_column(None, dialect) is None
                return
            read = cache.versions()
            db.session.commit()
            value = db.session.execute(sa.select(cache.versions_column(None, dialect))).scalar_one()
            cache.note_versions(value)
            with count_queries() as queries:
                assert cache.versions() == read
            assert queries.count == 0
            db.session.commit()

            request(e1, a, "2026-11-06", "2026-11-07")  # this transaction writes a 诉求, then reads the value
            db.session.flush()
            value = db.session.execute(sa.select(cache.versions_column(None, dialect))).scalar_one()
            db.session.connection().info.pop("crm_cache_versions", None)  # as if nothing had read them yet
            cache.note_versions(value)
            assert cache.versions() is None
        finally:
            db.session.rollback()
            cache.clear()
