"""The page's roster import with progress (issue 3, point 5): :func:`run_import_record` runs
:func:`crm.rosters.imports.import_rows` for a recorded :class:`~crm.rosters.models.RosterImport`, in a thread,
committing its progress on a connection of its own so the page can poll it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from crm.auth.models import User
from crm.core.errors import DomainError, NotFound
from crm.core.time import utcnow
from crm.extensions import db
from crm.rosters.imports import FILE_FIELD, ImportResult, domain_message, import_rows, problem
from crm.rosters.models import (
    ImportStatus,
    RosterEdition,
    RosterImport,
)

log = logging.getLogger(__name__)


def _progress_writer(import_id: int) -> Callable[[int, int], None]:
    """Commit rows_checked/rows_total on a connection of its own, so a polling request sees them at once."""
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
                conn.execute(sa.update(RosterImport).where(RosterImport.id == import_id)
                             .values(rows_checked=checked, rows_total=total))
        except sa.exc.SQLAlchemyError:
            failed = True  # progress is for show: the import goes on without it
            log.warning("roster import %s: progress not recorded", import_id, exc_info=True)

    return write


def run_import_record(import_id: int, data: bytes) -> RosterImport:
    """Run the import of a :class:`RosterImport` row and record its outcome (for the page's progress bar).

    Use: in the request, ``check_file(...)``; create ``RosterImport(edition_id=..., user_id=current_user.id,
    filename=...)`` (status ``checking``) and **commit it**; then run this with the file's bytes inside an app
    context, usually in a thread::

        app = current_app._get_current_object()
        def work():
            with app.app_context():
                import_jobs.run_import_record(record_id, data)
        threading.Thread(target=work, daemon=True).start()

    and let the page poll the row (``status``, ``rows_checked``/``rows_total``, ``rows_written``, ``report``).

    While rows are checked, ``rows_checked``/``rows_total`` are committed on a separate connection every
    :data:`PROGRESS_EVERY` rows, so polling requests see them while this transaction is open. At the end, in
    this session's transaction, the row gets ``status`` (``done``: entries written; ``failed``: problems
    found, nothing written, ``report`` lists them; ``error``: the file could not be read or the edition cannot
    be changed, ``report`` holds one ``{"row": None, "field": "文件", ...}``), ``rows_total``, ``rows_checked``,
    ``rows_written`` (entries added or updated) and ``finished_at``; it is committed together with the entries.
    An unexpected error rolls everything back, records ``error`` and is logged, not raised.
    Returns the ``RosterImport`` row. The session must hold nothing uncommitted when this starts (on SQLite the
    read transaction is ended at each progress step). Under the test suite's per-test transaction there is no
    second connection: the import runs and is recorded, only the intermediate progress is not.
    """
    record = db.session.get(RosterImport, import_id)
    if record is None:
        raise NotFound(f"导入记录 {import_id} 不存在")
    edition = db.session.get(RosterEdition, record.edition_id)
    actor = db.session.get(User, record.user_id) if record.user_id else None
    try:
        result = import_rows(edition, data, actor, progress=_progress_writer(import_id))
    except DomainError as err:
        db.session.rollback()
        return _finish(import_id, ImportStatus.ERROR, [problem(None, FILE_FIELD, domain_message(err, "file"))])
    except Exception:
        log.exception("roster import %s failed", import_id)
        db.session.rollback()
        return _finish(import_id, ImportStatus.ERROR,
                       [problem(None, FILE_FIELD, "导入时发生系统错误,未写入任何数据,请稍后重试或联系管理员")])
    status = ImportStatus.DONE if result.ok else ImportStatus.FAILED
    return _finish(import_id, status, result.problems, result)


def _finish(import_id: int, status: ImportStatus, report: list[dict], result: ImportResult | None = None):
    record = db.session.get(RosterImport, import_id)
    record.status = status
    record.report = report
    if result is not None:
        record.rows_total = record.rows_checked = result.rows_total
        record.rows_written = result.rows_written
    record.finished_at = utcnow()
    db.session.commit()
    return record
