"""The page's roster imports: queued with their file, run by a bounded worker, never lost, never run twice.

Issue 3 (point 5) gave the page an import with a progress bar; issue 10 (item 8) makes it survive a recycled web
worker. The life of an import (:class:`~crm.rosters.models.RosterImport`):

1. **queued** — the upload view checks the file (``imports.check_file``), stores it in the row with
   :func:`queue_import` and commits; then :func:`start` hands the id to this process's bounded pool (a small
   module-level ``ThreadPoolExecutor``, ``ROSTER_IMPORT_WORKERS`` threads, default 2), which takes it at once.
2. **checking** — taking an import is one atomic claim (:func:`claim`: ``UPDATE … SET status='checking',
   started_at=now, heartbeat_at=now WHERE id=? AND status='queued'``, committed): of any number of takers (the
   pool of the web worker that stored it, another worker's, the scheduler's sweep) exactly one gets it, so
   nothing runs twice. The running import commits ``rows_checked`` / ``rows_total`` and ``heartbeat_at`` on a
   connection of its own every :data:`~crm.rosters.imports.PROGRESS_EVERY` rows, so the page's poll shows them.
3. **done / failed / error** — the entries and the outcome are committed in *one* transaction, all or nothing:
   a process killed mid-import (SIGKILL, a recycled worker, a crash) leaves no entry behind, the database rolls
   its transaction back. The file's bytes are cleared once the import has finished, whatever the outcome.

The scheduler's sweep (:func:`sweep`, job ``sweep_roster_imports`` every minute, through the exactly-once
registry) is what makes a lost import come back or come to an end:

- a **queued** import nobody has taken for ``ROSTER_IMPORT_QUEUE_GRACE_SECONDS`` (its web worker was recycled
  before its pool took it) is handed to the scheduler process's pool, which claims and runs it;
- a **checking** import whose heartbeat is older than ``ROSTER_IMPORT_STALE_MINUTES`` (default 10) — its
  process died — is marked ``error`` with the reason :data:`STALE_REASON` in its report, and its file cleared.
  Its transaction is gone with the process, so nothing of it was written. Should the import still be alive
  after all (slower than the limit), its end finds the row no longer ``checking`` and rolls its work back: the
  row and the entries never disagree.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from crm.auth.models import User
from crm.core.errors import DomainError, NotFound
from crm.core.time import utcnow
from crm.core.transactions import lock_for_update
from crm.extensions import db
from crm.rosters.imports import FILE_FIELD, ImportResult, domain_message, import_rows, problem
from crm.rosters.models import (
    ImportStatus,
    RosterEdition,
    RosterImport,
)

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 2
DEFAULT_GRACE_SECONDS = 60
DEFAULT_STALE_MINUTES = 10
STALE_REASON = "导入进程中断(超过 {minutes} 分钟无进展),未写入任何数据,请重新上传"
SYSTEM_ERROR = "导入时发生系统错误,未写入任何数据,请稍后重试或联系管理员"
RUNNING = (ImportStatus.QUEUED, ImportStatus.CHECKING)


class ImportAbandoned(Exception):
    """The row is no longer ``checking`` while the import runs (the sweep gave it up): stop, write nothing."""


# --- queueing ------------------------------------------------------------------------------------------------

def queue_import(actor: Any, edition: RosterEdition, filename: str, data: bytes) -> RosterImport:
    """Record an upload as a queued import holding its file (in the caller's transaction; the caller commits,
    then calls :func:`start`). The file has passed ``imports.check_file``; the edition's rules are checked when
    the import runs (``import_rows``), as they may change while it waits."""
    record = RosterImport(edition_id=edition.id, user_id=getattr(actor, "id", None), filename=filename,
                          status=ImportStatus.QUEUED, data=data)
    db.session.add(record)
    db.session.flush()
    return record


# --- the bounded pool ----------------------------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_pid: int | None = None
_pending: set[Future] = set()


def _executor(app: Flask) -> ThreadPoolExecutor:
    """This process's pool, made on first use (after a fork: a new one — threads do not survive ``fork``)."""
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            size = max(1, int(app.config.get("ROSTER_IMPORT_WORKERS") or DEFAULT_WORKERS))
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="roster-import")
            _pool_pid = os.getpid()
            _pending.clear()
        return _pool


def _forget(future: Future) -> None:
    with _pool_lock:
        _pending.discard(future)


def start(import_id: int, *, app: Flask | None = None, inline: bool | None = None) -> Future | None:
    """Hand a committed queued import to this process's bounded pool, which claims and runs it.

    ``inline`` (default: config ``ROSTER_IMPORT_INLINE``, else true under test) runs it here and now instead —
    the test suite's per-test transaction has one connection, which threads must not share. Returns the
    pool's future, or ``None`` when run inline.
    """
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    if inline is None:
        inline = bool(app.config.get("ROSTER_IMPORT_INLINE", app.testing))
    if inline:
        take_and_run(import_id)
        return None
    future = _executor(app).submit(_work, app, import_id)
    with _pool_lock:
        _pending.add(future)
    future.add_done_callback(_forget)
    return future


def wait_idle(timeout: float) -> bool:
    """Wait until this process's pool has nothing left to do (tests, a clean shutdown); true when it is idle."""
    with _pool_lock:
        pending = list(_pending)
    _done, not_done = wait_futures(pending, timeout=timeout)
    return not not_done


def _work(app: Flask, import_id: int) -> None:
    with app.app_context():
        try:
            take_and_run(import_id)
        except Exception:
            log.exception("roster import %s failed", import_id)
        finally:
            db.session.remove()


# --- claiming and running ------------------------------------------------------------------------------------

def claim(import_id: int) -> bool:
    """Take a queued import: one atomic UPDATE, committed; true for exactly one of any number of takers."""
    session = db.session
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("claim 需要干净的会话:请先提交或回滚未保存的更改")
    session.commit()  # end any read: a fresh transaction (SQLite: the claim must be able to take the write lock)
    now = utcnow()
    taken = db.session.execute(
        sa.update(RosterImport)
        .where(RosterImport.id == import_id, RosterImport.status == ImportStatus.QUEUED)
        .values(status=ImportStatus.CHECKING, started_at=now, heartbeat_at=now)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    return taken


def take_and_run(import_id: int) -> RosterImport | None:
    """Claim the import and run it; ``None`` when someone else took it (or it is no longer queued)."""
    if not claim(import_id):
        log.info("roster import %s: already taken", import_id)
        return None
    data = db.session.scalar(sa.select(RosterImport.data).where(RosterImport.id == import_id))
    if data is None:  # cannot happen: the file stays until the import has finished
        return _finish(import_id, ImportStatus.ERROR, [problem(None, FILE_FIELD, SYSTEM_ERROR)])
    db.session.commit()  # end the read: the import starts a transaction of its own
    return run_import_record(import_id, data)


def _progress_writer(import_id: int) -> Callable[[int, int], None]:
    """Commit rows_checked/rows_total and the heartbeat on a connection of its own, so a polling request (and
    the sweep) see them at once. Raises :class:`ImportAbandoned` when the row is no longer ``checking``."""
    engine = db.engine
    if not isinstance(engine, sa.Engine):
        # The session is bound to a single connection (the test suite's per-test transaction): there is no second
        # connection to commit on, so progress is not recorded; the import itself runs as usual.
        return lambda checked, total: None
    sqlite = engine.dialect.name == "sqlite"
    postgres = engine.dialect.name == "postgresql"
    failed = False

    def write(checked: int, total: int) -> None:
        nonlocal failed
        if failed:
            return
        if sqlite:
            # SQLite: another connection cannot commit while this session holds its read transaction (and in WAL
            # mode this session could not write afterwards). Nothing has been written yet, so end it here.
            db.session.rollback()
        try:
            with engine.begin() as conn:
                if postgres:  # never wait long on the row (a caller that left it locked would hang us)
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                found = conn.execute(
                    sa.update(RosterImport)
                    .where(RosterImport.id == import_id, RosterImport.status == ImportStatus.CHECKING)
                    .values(rows_checked=checked, rows_total=total, heartbeat_at=utcnow())).rowcount
        except sa.exc.SQLAlchemyError:
            failed = True  # progress is for show: the import goes on without it (its end checks the row)
            log.warning("roster import %s: progress not recorded", import_id, exc_info=True)
            return
        if found == 0:
            raise ImportAbandoned(import_id)

    return write


def run_import_record(import_id: int, data: bytes) -> RosterImport:
    """Run a claimed (``checking``) import and record its outcome, all in one transaction with its entries.

    :func:`crm.rosters.imports.import_rows` checks every row (committing progress and heartbeat on a separate
    connection every :data:`~crm.rosters.imports.PROGRESS_EVERY` rows); then, in this session's transaction,
    the row gets ``status`` (``done``: entries written; ``failed``: problems found, nothing written, ``report``
    lists them; ``error``: the file could not be read or the edition cannot be changed, ``report`` holds one
    ``{"row": None, "field": "文件", ...}``), the counts and ``finished_at``, its file is cleared, and it is
    committed together with the entries. An unexpected error rolls everything back, records ``error`` and is
    logged, not raised. If the sweep gave the import up meanwhile (the row is no longer ``checking``), the work
    is rolled back and the row left as the sweep wrote it. Returns the ``RosterImport`` row.

    The session must hold nothing uncommitted when this starts (on SQLite the read transaction is ended at each
    progress step). Under the test suite's per-test transaction there is no second connection: the import runs
    and is recorded, only the intermediate progress is not.
    """
    record = db.session.get(RosterImport, import_id)
    if record is None:
        raise NotFound(f"导入记录 {import_id} 不存在")
    edition = db.session.get(RosterEdition, record.edition_id)
    actor = db.session.get(User, record.user_id) if record.user_id else None
    try:
        result = import_rows(edition, data, actor, progress=_progress_writer(import_id))
    except ImportAbandoned:
        db.session.rollback()
        log.warning("roster import %s: given up by the sweep while running; nothing written", import_id)
        return db.session.get(RosterImport, import_id)
    except DomainError as err:
        db.session.rollback()
        return _finish(import_id, ImportStatus.ERROR, [problem(None, FILE_FIELD, domain_message(err, "file"))])
    except Exception:
        log.exception("roster import %s failed", import_id)
        db.session.rollback()
        return _finish(import_id, ImportStatus.ERROR, [problem(None, FILE_FIELD, SYSTEM_ERROR)])
    status = ImportStatus.DONE if result.ok else ImportStatus.FAILED
    return _finish(import_id, status, result.problems, result)


def _finish(import_id: int, status: ImportStatus, report: list[dict], result: ImportResult | None = None):
    """Record the outcome in the import's transaction, unless the sweep has given the import up (then roll
    everything back: its report already says nothing was written)."""
    record = lock_for_update(RosterImport, import_id)
    if record is None or record.status is not ImportStatus.CHECKING:
        db.session.rollback()
        log.warning("roster import %s: no longer checking, its work rolled back", import_id)
        return db.session.get(RosterImport, import_id)
    record.status = status
    record.report = report
    if result is not None:
        record.rows_total = record.rows_checked = result.rows_total
        record.rows_written = result.rows_written
    record.finished_at = utcnow()
    record.data = None  # the file is kept only until the import has run
    db.session.commit()
    return record


# --- the sweep (scheduler job ``sweep_roster_imports``) --------------------------------------------------------

def stale_minutes() -> int:
    return max(1, int(current_app.config.get("ROSTER_IMPORT_STALE_MINUTES") or DEFAULT_STALE_MINUTES))


def grace_seconds() -> int:
    return max(0, int(current_app.config.get("ROSTER_IMPORT_QUEUE_GRACE_SECONDS", DEFAULT_GRACE_SECONDS)))


def give_up_stale(now: Any = None) -> list[int]:
    """Mark ``checking`` imports without a heartbeat for ``ROSTER_IMPORT_STALE_MINUTES`` as ``error`` (their
    process died; nothing of theirs was committed), with the reason, and clear their files. In the caller's
    transaction; one UPDATE, so an import finishing at the same moment either wins (it is no longer
    ``checking``) or finds itself given up (its end rolls back). Returns their ids."""
    now = now or utcnow()
    minutes = stale_minutes()
    last_sign = sa.func.coalesce(RosterImport.heartbeat_at, RosterImport.started_at, RosterImport.created_at)
    stale = (RosterImport.status == ImportStatus.CHECKING, last_sign < now - timedelta(minutes=minutes))
    ids = list(db.session.scalars(sa.select(RosterImport.id).where(*stale).order_by(RosterImport.id)))
    if not ids:
        return []
    report = [problem(None, FILE_FIELD, STALE_REASON.format(minutes=minutes))]
    db.session.execute(
        sa.update(RosterImport).where(RosterImport.id.in_(ids), *stale)
        .values(status=ImportStatus.ERROR, report=report, finished_at=now, data=None)
        .execution_options(synchronize_session=False))
    return ids


def waiting_too_long(now: Any = None) -> list[int]:
    """Queued imports nobody has taken for ``ROSTER_IMPORT_QUEUE_GRACE_SECONDS`` (oldest first)."""
    now = now or utcnow()
    return list(db.session.scalars(
        sa.select(RosterImport.id)
        .where(RosterImport.status == ImportStatus.QUEUED,
               RosterImport.created_at < now - timedelta(seconds=grace_seconds()))
        .order_by(RosterImport.created_at, RosterImport.id)))


def sweep() -> str:
    """Give up stale imports and hand forgotten queued ones to this process's pool; a Chinese summary.

    Runs inside the scheduler's claim transaction (it never commits): the pool's threads claim each import in a
    transaction of their own, after this one has committed (on SQLite they wait for its write lock).
    """
    given_up = give_up_stale()
    taken = waiting_too_long()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    for import_id in taken:
        start(import_id, app=app, inline=False)
    parts = []
    if given_up:
        parts.append(f"{len(given_up)} 个导入超过 {stale_minutes()} 分钟无进展,已标记为失败(编号 "
                     f"{'、'.join(map(str, given_up))})")
    if taken:
        parts.append(f"{len(taken)} 个排队超过 {grace_seconds()} 秒的导入已交给导入线程(编号 "
                     f"{'、'.join(map(str, taken))})")
    return ";".join(parts) or "没有中断或积压的名单导入"
