"""``/healthz``: 200 when the database answers at the code's migration head; 503 when it is unreachable or its
migrations are behind (or unknown to the code); the scheduler's heartbeat reported, never a 503 by itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from crm import ROOT
from crm.core.time import utcnow
from crm.extensions import db
from crm.scheduler.models import SchedulerHeartbeat
from crm.web import SCHEDULER_STALE_SECONDS, migration_heads
from tests.conftest import BACKEND, make_app, own_database

HEADS, KNOWN = migration_heads(str(ROOT / "migrations"))


def unreachable_url(tmp_path) -> str:
    if BACKEND == "postgres":
        return "postgresql://postgres@127.0.0.1:9/unreachable"  # nothing listens on port 9
    return f"sqlite:///{tmp_path}/missing-dir/crm.sqlite3"  # its directory does not exist: cannot be opened


def test_healthy_database_at_the_head(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["migrations"] == {"status": "current", "current": ",".join(HEADS), "head": ",".join(HEADS)}
    # No scheduler ever beat on this database: reported, and still 200.
    assert body["scheduler"]["status"] == "missing" and body["scheduler"]["active_host"] is None


def test_the_head_is_read_once_at_start_up(app, monkeypatch):
    import crm.web

    def boom(_directory):
        raise AssertionError("the scripts were read again")

    monkeypatch.setattr(crm.web, "migration_heads", boom)
    assert app.test_client().get("/healthz").status_code == 200


def test_scheduler_heartbeat_is_reported(client):
    now = utcnow()
    db.session.add_all([
        SchedulerHeartbeat(host="sched-a", pid=11, active=True, started_at=now - timedelta(hours=1),
                           beat_at=now - timedelta(seconds=20)),
        SchedulerHeartbeat(host="sched-b", pid=12, active=False, started_at=now - timedelta(hours=1),
                           beat_at=now - timedelta(seconds=5)),
    ])
    db.session.flush()
    scheduler = client.get("/healthz").get_json()["scheduler"]
    assert scheduler["status"] == "ok"
    assert scheduler["active_host"] == "sched-a"
    assert 20 <= scheduler["last_beat_age_seconds"] < 60
    assert scheduler["standby_hosts"] == ["sched-b"]
    assert scheduler["stale_after_seconds"] == SCHEDULER_STALE_SECONDS


def test_a_stale_scheduler_is_reported_but_the_web_host_stays_in_service(client):
    now = utcnow()
    db.session.add(SchedulerHeartbeat(host="sched-a", pid=11, active=True, started_at=now - timedelta(days=1),
                                      beat_at=now - timedelta(seconds=SCHEDULER_STALE_SECONDS + 30)))
    db.session.flush()
    response = client.get("/healthz")
    assert response.status_code == 200  # report-only: a load balancer must not drop web hosts for it
    scheduler = response.get_json()["scheduler"]
    assert scheduler["status"] == "stale" and scheduler["active_host"] == "sched-a"
    assert scheduler["last_beat_age_seconds"] > SCHEDULER_STALE_SECONDS


def test_only_standby_schedulers_is_stale(client):
    db.session.add(SchedulerHeartbeat(host="sched-b", pid=12, active=False, started_at=utcnow(), beat_at=utcnow()))
    db.session.flush()
    scheduler = client.get("/healthz").get_json()["scheduler"]
    assert scheduler["status"] == "stale" and scheduler["active_host"] is None
    assert scheduler["standby_hosts"] == ["sched-b"]


def test_unreachable_database_is_503(tmp_path):
    application = make_app(unreachable_url(tmp_path))
    response = application.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["database"] == "unreachable"
    assert body["migrations"]["status"] == "unknown" and body["migrations"]["head"] == ",".join(HEADS)
    assert "9" not in str(body["database"]) and "missing-dir" not in response.get_data(as_text=True)


def test_migrations_behind_is_503(tmp_path_factory):
    older = next(script.down_revision for script in _scripts() if script.revision in HEADS)
    assert isinstance(older, str)
    with own_database(tmp_path_factory, "behind", migrate=False) as application:
        with application.app_context():
            upgrade(revision=older)
            db.session.remove()
        response = application.test_client().get("/healthz")
        body = response.get_json()
        assert response.status_code == 503, body
        assert body["status"] == "unavailable" and body["database"] == "ok"
        assert body["migrations"] == {"status": "behind", "current": older, "head": ",".join(HEADS)}
        with application.app_context():  # then migrated to the head: healthy again, no restart
            upgrade()
            db.session.remove()
        assert application.test_client().get("/healthz").status_code == 200


def test_never_migrated_database_is_503(tmp_path_factory):
    with own_database(tmp_path_factory, "empty", migrate=False) as application:
        response = application.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.get_json()["migrations"] == {"status": "behind", "current": None, "head": ",".join(HEADS)}


def test_a_database_newer_than_the_code_is_503(client, app):
    conn = db.session.connection()
    conn.execute(sa.text("UPDATE alembic_version SET version_num = 'fffffffffff1'"))
    body = client.get("/healthz").get_json()
    assert body["status"] == "unavailable"
    assert body["migrations"]["status"] == "ahead" and body["migrations"]["current"] == "fffffffffff1"


@pytest.mark.parametrize("header", ["", "Bearer nonsense"])
def test_healthz_needs_no_sign_in(client, header):
    response = client.get("/healthz", headers={"Authorization": header} if header else {})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"


def _scripts():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return list(ScriptDirectory.from_config(config).walk_revisions())
