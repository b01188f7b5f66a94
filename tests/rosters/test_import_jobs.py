"""Roster imports are not lost (issue 10, item 8): queued with their file, claimed once, run by a bounded pool,
all or nothing, and the scheduler's sweep takes what a recycled web worker left and gives up what a dead
process left (``crm.rosters.import_jobs``).

The first tests run in the per-test transaction (imports inline); those marked "own database" use real
threads and connections, and one kills a real process mid-import with SIGKILL.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.rosters import domain, import_jobs, imports, jobs
from crm.rosters.models import ImportStatus, RosterEntry, RosterImport, RosterKind
from crm.scheduler.models import JobRun, RunOutcome
from crm.scheduler.registry import JOBS
from crm.scheduler.runner import run_job
from tests.conftest import BACKEND, make_enterprise, make_user, own_database
from tests.rosters.test_excel import row_for, workbook_bytes
from tests.rosters.test_views import (
    _sqlite_outer_transaction,  # noqa: F401  (autouse: views commit)
    page_text,
    upload,
    xlsx_file,
)

SUPPLIER = RosterKind.SUPPLIER_LIST
ROOT = Path(__file__).resolve().parents[2]
STALE = "导入进程中断(超过 10 分钟无进展),未写入任何数据,请重新上传"
SWEEP_AT = datetime(2026, 12, 6, 8, 1, tzinfo=UTC)  # a fire time of the every-minute sweep


def queued(edition, author, data: bytes, *, age: timedelta = timedelta(0)) -> RosterImport:
    record = import_jobs.queue_import(author, edition, "名单.xlsx", data)
    record.created_at = record.created_at - age
    db.session.commit()
    return record


def entry_count(edition_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry)
                             .where(RosterEntry.edition_id == edition_id))


def stored_file(import_id: int) -> bytes | None:
    return db.session.scalar(sa.select(RosterImport.data).where(RosterImport.id == import_id))


# --- in the per-test transaction -----------------------------------------------------------------------------

def test_the_upload_is_stored_queued_with_its_file_then_run_and_the_file_cleared(client, monkeypatch):
    """The view commits the queued row with its file before anything runs; the worker clears the file."""
    city = make_user("coordinator")
    firm = make_enterprise("遵义排队零部件有限公司")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.commit()
    from tests.conftest import login
    login(client, city)
    seen: list[tuple] = []
    real = import_jobs.take_and_run

    def watched(import_id: int):
        record = db.session.get(RosterImport, import_id)
        seen.append((record.status, stored_file(import_id) is not None, record.started_at))
        return real(import_id)

    monkeypatch.setattr(import_jobs, "take_and_run", watched)
    data = xlsx_file([{"统一社会信用代码": firm.uscc, "入库理由": "配套"}])
    response = upload(client, SUPPLIER, "2026H1", data)
    assert 'data-import-result="done"' in response.get_data(as_text=True)
    assert seen == [(ImportStatus.QUEUED, True, None)]
    record = db.session.scalar(sa.select(RosterImport).order_by(RosterImport.id.desc()))
    db.session.refresh(record)
    assert record.status is ImportStatus.DONE and record.rows_written == 1
    assert record.started_at is not None and record.heartbeat_at is not None and record.finished_at is not None
    assert stored_file(record.id) is None
    assert entry_count(draft.id) == 1


def test_a_queued_import_shows_and_polls_as_waiting(client):
    city = make_user("coordinator")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    record = queued(draft, city, b"PK")
    from tests.conftest import login
    login(client, city)
    body = client.get(f"/rosters/imports/{record.id}").get_data(as_text=True)
    assert 'data-import-status="queued"' in body and f'data-import-poll="/rosters/imports/{record.id}.json"' in body
    assert "正在等待导入线程" in page_text(client.get(f"/rosters/imports/{record.id}"))
    assert client.get(f"/rosters/imports/{record.id}.json").get_json() == {
        "id": record.id, "status": "queued", "status_label": "排队等待", "rows_total": 0, "rows_checked": 0,
        "rows_written": 0, "problems": 0, "finished": False}


def test_an_import_is_claimed_once_and_run_once():
    city = make_user("coordinator")
    firms = [make_enterprise() for _ in range(3)]
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    record = queued(draft, city, workbook_bytes([row_for(f, number=n) for n, f in enumerate(firms, 1)]))
    assert import_jobs.take_and_run(record.id).status is ImportStatus.DONE
    assert import_jobs.take_and_run(record.id) is None  # no longer queued: nobody takes it again
    assert import_jobs.claim(record.id) is False
    record_id, draft_id, city_id = record.id, draft.id, city.id
    db.session.add(RosterImport(edition_id=draft_id, user_id=city_id, filename="未保存.xlsx"))  # unsaved work:
    with pytest.raises(RuntimeError, match="干净的会话"):  # a claim would commit it, so it refuses
        import_jobs.claim(record_id)
    db.session.rollback()
    assert entry_count(draft.id) == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "add_entry")) == 3


def test_the_sweep_gives_up_imports_without_progress_and_leaves_the_others():
    city = make_user("coordinator")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    now = datetime.now(UTC)
    rows = {}
    for name, status, beat in (("dead", ImportStatus.CHECKING, now - timedelta(minutes=11)),
                               ("slow", ImportStatus.CHECKING, now - timedelta(minutes=9)),
                               ("never", ImportStatus.CHECKING, None),
                               ("done", ImportStatus.DONE, now - timedelta(hours=2))):
        record = RosterImport(edition_id=draft.id, user_id=city.id, filename=f"{name}.xlsx", status=status,
                              data=b"file", heartbeat_at=beat, started_at=beat,
                              created_at=now - timedelta(minutes=30 if beat is None else 12))
        db.session.add(record)
        rows[name] = record
    fresh = queued(draft, city, b"file")  # queued a moment ago: its worker's pool is about to take it
    db.session.commit()

    run = run_job("sweep_roster_imports", SWEEP_AT)
    assert run.outcome is RunOutcome.SUCCESS, run.error
    dead, never = rows["dead"], rows["never"]
    assert f"2 个导入超过 10 分钟无进展,已标记为失败(编号 {dead.id}、{never.id})" == run.summary
    db.session.expire_all()
    for record in (dead, never):
        assert record.status is ImportStatus.ERROR and record.finished_at is not None
        assert record.report == [{"row": None, "field": "文件", "message": STALE}]
        assert stored_file(record.id) is None
    assert rows["slow"].status is ImportStatus.CHECKING and stored_file(rows["slow"].id) == b"file"
    assert rows["done"].status is ImportStatus.DONE and stored_file(rows["done"].id) == b"file"
    assert fresh.status is ImportStatus.QUEUED and stored_file(fresh.id) == b"file"
    # through the exactly-once registry: the same fire time again does nothing
    assert run_job("sweep_roster_imports", SWEEP_AT).outcome is RunOutcome.SKIPPED


def test_the_sweep_is_a_registered_job_every_minute():
    spec = JOBS["sweep_roster_imports"]
    assert spec.func == "crm.rosters.jobs:sweep_roster_imports" and spec.load() is jobs.sweep_roster_imports
    first = spec.trigger.get_next_fire_time(None, SWEEP_AT)
    assert spec.trigger.get_next_fire_time(first, first) - first == timedelta(minutes=1)


def test_an_import_given_up_while_it_ran_writes_nothing():
    """The sweep and a slow import at once: the import's end sees the row is no longer ``checking`` and rolls
    its entries back, so the report ("nothing written") and the entries agree."""
    city = make_user("coordinator")
    firm = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    record = queued(draft, city, workbook_bytes([row_for(firm)]))
    assert import_jobs.claim(record.id)
    real = import_jobs.import_rows

    def slower_than_the_limit(*args: Any, **kwargs: Any):
        result = real(*args, **kwargs)  # entries written in this transaction, not committed
        with db.session.no_autoflush:
            db.session.execute(sa.update(RosterImport).where(RosterImport.id == record.id)
                               .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=20)))
            assert import_jobs.give_up_stale() == [record.id]  # what the sweep does meanwhile
        return result

    import_jobs.import_rows = slower_than_the_limit
    try:
        finished = import_jobs.run_import_record(record.id, stored_file(record.id))
    finally:
        import_jobs.import_rows = real
    assert entry_count(draft.id) == 0
    assert finished is not None and finished.status is not ImportStatus.DONE


# --- own database: real threads, real connections, a killed process ----------------------------------------

@pytest.fixture
def pooled_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    overrides: dict[str, Any] = {"ROSTER_IMPORT_INLINE": False, "ROSTER_IMPORT_WORKERS": 2}
    if BACKEND == "sqlite":
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "connect_args": {"timeout": 60}}
    with own_database(tmp_path_factory, "rimport", **overrides) as application:
        yield application


def _world(app: Flask, firms: int) -> dict[str, Any]:
    with app.app_context():
        city = make_user("coordinator")
        enterprises = [make_enterprise() for _ in range(firms)]
        draft = domain.open_edition(None, SUPPLIER, "2026H1")
        data = workbook_bytes([row_for(f, number=n) for n, f in enumerate(enterprises, 1)])
        record = import_jobs.queue_import(city, draft, "名单.xlsx", data)
        db.session.commit()
        ids = {"city": city.id, "draft": draft.id, "import": record.id, "firms": firms}
        db.session.remove()
    return ids


def test_a_queued_import_left_by_a_recycled_worker_is_run_by_the_sweep_once(pooled_app):
    world = _world(pooled_app, 4)
    with pooled_app.app_context():  # its web worker was recycled before its pool took it: two minutes ago
        db.session.execute(sa.update(RosterImport).values(created_at=datetime.now(UTC) - timedelta(minutes=2)))
        db.session.commit()
        run = run_job("sweep_roster_imports", SWEEP_AT)
        assert run.outcome is RunOutcome.SUCCESS, run.error
        assert run.summary == f"1 个排队超过 60 秒的导入已交给导入线程(编号 {world['import']})"
        # meanwhile a second taker (another worker's pool, a later sweep) tries too: only one gets it
        takers = [import_jobs.start(world["import"]) for _ in range(3)]
        db.session.remove()
    assert all(t is not None for t in takers)
    assert import_jobs.wait_idle(120)
    with pooled_app.app_context():
        record = db.session.get(RosterImport, world["import"])
        assert record.status is ImportStatus.DONE and record.rows_written == 4
        assert stored_file(record.id) is None
        assert entry_count(world["draft"]) == 4
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "add_entry")) == 4
        assert db.session.scalar(sa.select(sa.func.count()).select_from(JobRun)) == 1


def test_the_page_hands_the_upload_to_the_pool_and_its_poll_follows_it(pooled_app):
    """Not inline: the request answers once the queued row is committed; the pool runs it; the poll ends."""
    from tests.conftest import login

    with pooled_app.app_context():
        city = make_user("coordinator")
        firms = [make_enterprise() for _ in range(3)]
        domain.open_edition(None, SUPPLIER, "2026H1")
        db.session.commit()
        data = xlsx_file([{"统一社会信用代码": f.uscc, "入库理由": "配套"} for f in firms])
        client = pooled_app.test_client()
        login(client, city)
        response = upload(client, SUPPLIER, "2026H1", data, follow=False)
        db.session.remove()
    assert response.status_code == 302
    poll = response.headers["Location"].split("localhost")[-1] + ".json"
    first = client.get(poll).get_json()
    assert first["status"] in ("queued", "checking", "done")
    assert import_jobs.wait_idle(120)
    last = client.get(poll).get_json()
    assert last.items() >= {"status": "done", "rows_written": 3, "finished": True}.items()
    with pooled_app.app_context():
        assert stored_file(last["id"]) is None


def test_concurrent_claims_of_one_import_give_it_to_exactly_one(pooled_app):
    world = _world(pooled_app, 1)
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def take() -> None:
        with pooled_app.app_context():
            barrier.wait()
            try:
                results.append(import_jobs.claim(world["import"]))
            except Exception as err:  # noqa: BLE001 - reported below
                results.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results, key=str) == [False] * 5 + [True], results


def test_an_import_given_up_by_the_sweep_stops_at_its_next_heartbeat(pooled_app, monkeypatch):
    """The sweep (another connection) gave it up: the running import's next progress write finds the row no
    longer ``checking``, stops and writes nothing; the sweep's report stays."""
    world = _world(pooled_app, 6)
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 2)
    with pooled_app.app_context():
        assert import_jobs.claim(world["import"])
        data = stored_file(world["import"])
        db.session.commit()
        beats = []
        real = import_jobs._progress_writer

        def writer(import_id: int):
            write = real(import_id)

            def step(checked: int, total: int) -> None:
                beats.append(checked)
                write(checked, total)
                if checked == 2:  # the sweep, in a transaction of its own, between two heartbeats
                    with pooled_app.app_context():
                        db.session.execute(sa.update(RosterImport).values(
                            heartbeat_at=datetime.now(UTC) - timedelta(minutes=11)))
                        db.session.commit()  # (the clock moving on, then the sweep)
                        assert import_jobs.give_up_stale() == [import_id]
                        db.session.commit()
            return step

        monkeypatch.setattr(import_jobs, "_progress_writer", writer)
        import_jobs.run_import_record(world["import"], data)
        db.session.remove()
    assert beats == [0, 2, 4]  # stopped at the first heartbeat after the sweep
    with pooled_app.app_context():
        record = db.session.get(RosterImport, world["import"])
        assert record.status is ImportStatus.ERROR
        assert record.report == [{"row": None, "field": "文件", "message": STALE}]
        assert entry_count(world["draft"]) == 0


def test_an_upload_is_not_held_up_by_a_running_import_of_the_same_edition(pooled_app, monkeypatch):
    """The running import keeps its edition locked against other changes (PostgreSQL ``FOR NO KEY UPDATE``),
    not against a second upload being queued for it (its row references the edition): the second coordinator's
    request answers at once instead of hanging until the first import ends."""
    world = _world(pooled_app, 6)
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 2)
    paused, resume = threading.Event(), threading.Event()
    real = import_jobs._progress_writer

    def writer(import_id: int):
        write = real(import_id)

        def step(checked: int, total: int) -> None:
            write(checked, total)
            if checked == 2:  # mid-way through checking, its transaction (and the edition's lock) open
                paused.set()
                resume.wait(60)
        return step

    monkeypatch.setattr(import_jobs, "_progress_writer", writer)
    import_jobs.start(world["import"], app=pooled_app)
    assert paused.wait(60)
    try:
        with pooled_app.app_context():
            if db.engine.dialect.name == "postgresql":
                db.session.execute(sa.text("SET LOCAL lock_timeout = '3s'"))
            from crm.auth.models import User
            from crm.rosters.models import RosterEdition
            second = import_jobs.queue_import(db.session.get(User, world["city"]),
                                              db.session.get(RosterEdition, world["draft"]), "第二份.xlsx", b"PK")
            db.session.commit()
            second_id = second.id
            db.session.remove()
    finally:
        resume.set()
    assert import_jobs.wait_idle(120)
    with pooled_app.app_context():
        assert db.session.get(RosterImport, world["import"]).status is ImportStatus.DONE
        assert db.session.get(RosterImport, second_id).status is ImportStatus.QUEUED
        assert entry_count(world["draft"]) == 6


SCRIPT = r"""
import sys, time
from wsgi import app
from crm.extensions import db
from crm.rosters import domain, import_jobs, imports

imports.PROGRESS_EVERY = 2  # a heartbeat every two rows
real_add = domain.add_entries

def add_entries(*args, **kwargs):
    rows = real_add(*args, **kwargs)
    db.session.flush()  # written, in the open transaction: mid-way (the outcome is not yet recorded)
    print("MIDWAY", flush=True)
    time.sleep(600)
    return rows

domain.add_entries = add_entries
with app.app_context():
    import_jobs.take_and_run(int(sys.argv[1]))
print("FINISHED", flush=True)
"""


def test_a_process_killed_mid_import_leaves_no_entries_and_the_sweep_marks_it_failed(pooled_app, tmp_path):
    world = _world(pooled_app, 6)
    with pooled_app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "TEST_DATABASE", "SECRET_KEY"))}
    env.update(DATABASE_URL=url, CRM_ENV="development", SECRET_KEY=secrets.token_hex(32), PYTHONUNBUFFERED="1")
    errors = tmp_path / "import.stderr"  # a file, not a pipe nobody reads (a full pipe would block the child)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(world["import"])], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=errors.open("w"))
    try:
        lines: list[str] = []  # read with a deadline: a child that hangs fails the test instead of the CI job
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(120)
        line = lines[0] if lines else ""
        assert line.strip() == "MIDWAY", (line, errors.read_text())
        # it is running: claimed, with a heartbeat and its progress committed. (A plain reader: on SQLite the app's
        # transactions all begin with the write lock, which the import holds; a reader may still look.)
        peek = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with peek.connect() as conn:
            status, beat, checked = conn.execute(sa.select(
                RosterImport.status, RosterImport.heartbeat_at, RosterImport.rows_checked)
                .where(RosterImport.id == world["import"])).one()
            assert conn.scalar(sa.select(sa.func.count()).select_from(RosterEntry)) == 0  # not committed
        peek.dispose()
        assert (status, checked) == (ImportStatus.CHECKING, 6) and beat is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == -signal.SIGKILL

    with pooled_app.app_context():
        assert entry_count(world["draft"]) == 0  # the open transaction died with the process
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "add_entry")) == 0
        # a minute later the sweep leaves it alone: its heartbeat is recent
        first = run_job("sweep_roster_imports", SWEEP_AT)
        assert first.summary == "没有中断或积压的名单导入"
        assert db.session.get(RosterImport, world["import"]).status is ImportStatus.CHECKING
        # eleven minutes without progress (the clock moved on): the next sweep marks it failed, with its reason
        record = db.session.get(RosterImport, world["import"])
        record.heartbeat_at = record.heartbeat_at - timedelta(minutes=11)
        db.session.commit()
        run = run_job("sweep_roster_imports", SWEEP_AT + timedelta(minutes=1))
        assert run.summary.startswith("1 个导入超过 10 分钟无进展,已标记为失败"), run.summary
        db.session.expire_all()
        record = db.session.get(RosterImport, world["import"])
        assert record.status is ImportStatus.ERROR
        assert record.report == [{"row": None, "field": "文件", "message": STALE}]
        assert stored_file(record.id) is None and entry_count(world["draft"]) == 0
        db.session.remove()
