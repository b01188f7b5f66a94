"""The provincial-scale generator (benchmarks/province.py) at a tiny size gives the promised shape: the counts, the
enterprise with exactly 200 interactions, six full editions per list (plus the empty import draft) whose two latest
published ones differ, five active assignments per listed enterprise, overdue requests with their timelines, and
the same rows again from the same seed. PostgreSQL only (COPY): collected in the PostgreSQL run (conftest.py)."""

from datetime import date, timedelta

import psycopg
from sqlalchemy.engine import make_url
from stdnum.cn import uscc as stdnum_uscc

from benchmarks.province import RICH_INTERACTIONS, ProvinceScale, finish, generate
from tests.conftest import own_database

TINY = ProvinceScale(enterprises=400, edition_size=60, editions=6, commissioners=10, interactions=1500,
                     requests=300, meetings=6)


def _generate(tmp_path_factory, seed):
    with own_database(tmp_path_factory, "benchgen") as application:
        url = make_url(application.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
        with application.app_context(), psycopg.connect(url.render_as_string(hide_password=False)) as conn:
            manifest = generate(conn, TINY, seed, lambda _message: None)
            finish(conn, lambda _message: None)
            yield manifest, conn


def test_the_generated_shape(tmp_path_factory):
    for manifest, conn in _generate(tmp_path_factory, 7):
        def one(sql, *args, conn=conn):
            return conn.execute(sql, args).fetchone()[0]

        assert one("SELECT count(*) FROM enterprises") == 400
        assert one("SELECT count(*) FROM interactions") == 1500
        assert one("SELECT count(*) FROM service_requests") == 300
        assert one("SELECT count(*) FROM meetings") == 6
        assert one("SELECT count(*) FROM meeting_enterprises") >= 6 * 5
        assert one("SELECT count(*) FROM users WHERE role = 'commissioner'") == 10
        assert one("SELECT count(*) FROM users WHERE role = 'coordinator' AND county_id IS NOT NULL") == \
            one("SELECT count(*) FROM counties")
        assert {r[0] for r in conn.execute("SELECT role FROM users")} == {"admin", "coordinator", "commissioner",
                                                                           "leader"}
        # the 一企一档 enterprise: exactly 200 interactions; the harness's commissioner serves it
        assert one("SELECT count(*) FROM interactions WHERE enterprise_id = %s", manifest.rich_enterprise) \
            == RICH_INTERACTIONS
        assert one("SELECT count(*) FROM assignments a JOIN users u ON u.id = a.commissioner_id WHERE "
                   "a.enterprise_id = %s AND a.ended_on IS NULL AND u.username = %s",
                   manifest.rich_enterprise, manifest.commissioner) == 1
        # six editions per list, each with the edition size; the import draft empty; the latest published differ
        for kind in ("supplier_list", "cultivation_pool"):
            rows = conn.execute(
                "SELECT e.period, e.status, count(n.id) FROM roster_editions e LEFT JOIN roster_entries n "
                "ON n.edition_id = e.id WHERE e.kind = %s GROUP BY e.id ORDER BY e.period", (kind,)).fetchall()
            full = [r for r in rows if r[0] != manifest.import_period]
            assert [r[0] for r in full] == manifest.periods
            assert [r[1] for r in full] == ["superseded"] * 4 + ["published", "draft"]
            assert {r[2] for r in full} == {60}
        assert one("SELECT count(*) FROM roster_entries WHERE edition_id = %s", manifest.import_edition) == 0
        changed = one(
            "SELECT count(*) FROM (SELECT enterprise_id FROM roster_entries n JOIN roster_editions e ON "
            "e.id = n.edition_id WHERE e.kind = 'supplier_list' AND e.period = %s EXCEPT SELECT enterprise_id FROM "
            "roster_entries n JOIN roster_editions e ON e.id = n.edition_id WHERE e.kind = 'supplier_list' "
            "AND e.period = %s) added", manifest.periods[-2], manifest.periods[-3])
        assert changed > 0
        assert one("SELECT count(*) FROM roster_removals") > 0
        # every enterprise of either published edition: one active assignment in each of the five specialties
        assert one(
            "SELECT count(*) FROM (SELECT n.enterprise_id FROM roster_entries n JOIN roster_editions e ON "
            "e.id = n.edition_id WHERE e.status = 'published' GROUP BY n.enterprise_id HAVING (SELECT count(*) "
            "FROM assignments a WHERE a.enterprise_id = n.enterprise_id AND a.ended_on IS NULL) <> 5) bad") == 0
        # requests in every status, some overdue, each with one event per status reached
        statuses = {r[0] for r in conn.execute("SELECT DISTINCT status FROM service_requests")}
        assert statuses == {"raised", "accepted", "in_progress", "resolved", "closed"}
        overdue = one("SELECT count(*) FROM service_requests WHERE status IN ('raised', 'accepted', 'in_progress') "
                      "AND due_date < %s", date.today() - timedelta(days=1))
        assert 0 < overdue < 300
        assert one("SELECT count(*) FROM service_requests r WHERE (SELECT count(*) FROM request_events v WHERE "
                   "v.request_id = r.id) <> array_position(ARRAY['raised','accepted','in_progress','resolved',"
                   "'closed']::varchar[], r.status::varchar)") == 0
        # valid codes for the import; sequences moved past the explicit ids
        assert len(manifest.import_usccs) > 0 and all(stdnum_uscc.is_valid(u) for u in manifest.import_usccs)
        assert one("SELECT nextval(pg_get_serial_sequence('interactions', 'id'))") == 1501
        assert one("SELECT count(*) FROM calendar_feed_tokens") == 1
        names = [r[0] for r in conn.execute("SELECT name FROM enterprises ORDER BY id LIMIT 50")]
    for again, conn in _generate(tmp_path_factory, 7):  # the same seed, the same rows
        assert [r[0] for r in conn.execute("SELECT name FROM enterprises ORDER BY id LIMIT 50")] == names
        assert again.import_usccs == manifest.import_usccs
