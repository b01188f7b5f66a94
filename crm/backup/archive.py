"""Back up the whole database to one file, and restore it (``flask --app wsgi backup create|restore``).

- **SQLite**: SQLite's online backup API (``sqlite3.Connection.backup``), page by page under SQLite's own
  locking, so the app may keep running: a backup is a consistent copy of one moment; a restore copies the backup
  into the live database file the same way (writers wait for it, then see the restored data).
- **PostgreSQL**: ``pg_dump -Fc`` (custom format, one consistent snapshot) and ``pg_restore --clean --if-exists
  --no-owner --single-transaction --exit-on-error`` (all or nothing: a failed restore leaves the database as it
  was). Both programs are taken from ``PATH``; their major version must be at least the server's.

A backup is written to a temporary file beside the target and renamed into place only when complete, so a
failed or interrupted backup never leaves a truncated file under the name asked for. Before a restore touches
the database, the file is checked: it must be a backup of this kind of database holding this app's
``alembic_version`` (its migration version is shown). Refusals and failures raise :class:`BackupError` with a
Chinese message; the CLI (:mod:`crm.backup.cli`) prints it.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import sqlalchemy as sa

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
TOOL_TIMEOUT_SECONDS = 6 * 3600


class BackupError(Exception):
    """A refusal or failure, with its Chinese message."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


# --- what the database is ------------------------------------------------------------------------------------

def backend(url: sa.URL) -> str:
    name = url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"不支持备份 {name} 数据库:只支持 SQLite 和 PostgreSQL")
    return name


def describe(url: sa.URL) -> str:
    """The database as an operator reads it (no password)."""
    if url.get_backend_name() == "sqlite":
        return f"SQLite 数据库 {url.database}"
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    return f"PostgreSQL 数据库 {url.database}({where})"


def _sqlite_file(url: sa.URL) -> Path:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        raise BackupError("内存中的 SQLite 数据库无法备份或恢复:请用 DATABASE_URL 指定数据库文件")
    return Path(database)


def current_head(engine: sa.Engine) -> str:
    """The database's migration version(s) (``alembic_version``), or "(无)"."""
    try:
        with engine.connect() as conn:
            heads = list(conn.scalars(sa.text("SELECT version_num FROM alembic_version ORDER BY version_num")))
    except sa.exc.SQLAlchemyError:
        return "(无)"
    return ",".join(heads) or "(无)"


def _size(path: Path) -> str:
    size = path.stat().st_size
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"  # not reached


# --- the PostgreSQL client programs --------------------------------------------------------------------------

def tool(name: str) -> str:
    """The path of ``pg_dump`` / ``pg_restore`` on PATH, or a Chinese error saying how to get it."""
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"找不到 {name}:请安装与服务器版本相同或更新的 PostgreSQL 客户端程序"
                          f"(Debian/Ubuntu:apt-get install postgresql-client),并确保 {name} 在 PATH 中")
    return found


def _libpq(url: sa.URL) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password (that goes in ``PGPASSWORD``, not on the command line)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        # the program is pg_dump / pg_restore found on PATH, the arguments are ours: no shell, no user input
        done = subprocess.run(args, env=env, capture_output=True, text=True,  # noqa: S603
                              timeout=TOOL_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BackupError(f"{what}失败:{err}") from None
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout or "").strip().splitlines()[-3:])
        raise BackupError(f"{what}失败({Path(args[0]).name} 退出码 {done.returncode}):{detail}")
    return done


# --- create --------------------------------------------------------------------------------------------------

def create(engine: sa.Engine, path: str | os.PathLike, *, overwrite: bool = False) -> str:
    """Back the database up into ``path``; returns what was done, in Chinese. An existing file is refused unless
    ``overwrite``."""
    url = engine.url
    kind = backend(url)
    target = Path(path).expanduser().absolute()
    if target.is_dir():
        raise BackupError(f"{target} 是一个目录:请给出备份文件的路径")
    if not target.parent.is_dir():
        raise BackupError(f"目录 {target.parent} 不存在")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} 已存在:覆盖请加 --yes")
    if kind == "sqlite" and _sqlite_file(url).absolute() == target:
        raise BackupError("备份文件不能是数据库文件本身")
    temporary = target.with_name(f".{target.name}.{os.getpid()}.partial")
    # Readable by the owner only (password, session and token hashes, personal data), whatever the umask: the
    # file is made 0600 empty, and SQLite / pg_dump write into it; the rename keeps the mode.
    temporary.unlink(missing_ok=True)
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    try:
        if kind == "sqlite":
            _sqlite_backup(_sqlite_file(url), temporary)
        else:
            _pg_dump(url, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return f"已备份{describe(url)} → {target}({_size(target)},迁移版本 {current_head(engine)})"


def _sqlite_backup(database: Path, target: Path) -> None:
    if not database.is_file():
        raise BackupError(f"数据库文件 {database} 不存在")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
    except sqlite3.Error as err:
        raise BackupError(f"SQLite 备份失败:{err}") from None
    finally:
        source.close()


def _pg_dump(url: sa.URL, target: Path) -> None:
    uri, env = _libpq(url)
    _run([tool("pg_dump"), "--format=custom", f"--file={target}", f"--dbname={uri}"], env, "pg_dump 备份")


# --- restore -------------------------------------------------------------------------------------------------

def check(engine: sa.Engine, path: str | os.PathLike, known: frozenset[str] | None = None) -> tuple[Path, str]:
    """The backup file, checked before anything is touched, and its migration version. With ``known`` (every
    revision of this code's migrations), a backup at a revision this code does not know — from a newer release —
    is refused: this code could not serve it, nor migrate it down."""
    kind = backend(engine.url)
    source = Path(path).expanduser().absolute()
    if not source.is_file():
        raise BackupError(f"备份文件 {source} 不存在")
    with source.open("rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    expected, label = (SQLITE_MAGIC, "SQLite") if kind == "sqlite" else (PG_MAGIC, "PostgreSQL(pg_dump -Fc)")
    if not magic.startswith(expected):
        raise BackupError(f"{source} 不是 {label} 备份文件,未做任何更改")
    head = _sqlite_head(source) if kind == "sqlite" else _pg_head(source)
    if not head:
        raise BackupError(f"{source} 中没有迁移版本(alembic_version):不是本系统的备份,未做任何更改")
    unknown = sorted(set(head.split(",")) - known) if known is not None else []
    if unknown:
        raise BackupError(f"{source} 的迁移版本 {','.join(unknown)} 不是本版本代码所知的版本(可能来自更新的版本):"
                          "请用与备份相同版本的代码恢复,未做任何更改")
    return source, head


def restore(engine: sa.Engine, path: str | os.PathLike, known: frozenset[str] | None = None) -> str:
    """Replace the database's content with the backup's; returns what was done, in Chinese. The caller has
    confirmed (``--yes``). The engine's pooled connections are closed first (they would hold locks)."""
    url = engine.url
    source, head = check(engine, path, known)
    engine.dispose()
    if backend(url) == "sqlite":
        _sqlite_restore(source, _sqlite_file(url))
    else:
        uri, env = _libpq(url)
        _run([tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--exit-on-error", f"--dbname={uri}", str(source)], env, "pg_restore 恢复")
    engine.dispose()
    return f"已用 {source} 恢复{describe(url)}(备份的迁移版本 {head},恢复后 {current_head(engine)})"


def _sqlite_head(source: Path) -> str:
    try:
        conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            problem = conn.execute("PRAGMA quick_check").fetchone()[0]
            if problem != "ok":
                raise BackupError(f"备份文件 {source} 已损坏({problem}),未做任何更改")
            rows = conn.execute("SELECT version_num FROM alembic_version ORDER BY version_num").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return ""
    return ",".join(row[0] for row in rows)


def _sqlite_restore(source: Path, database: Path) -> None:
    try:
        backup = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            live = sqlite3.connect(database, timeout=60)
            try:
                backup.backup(live)
            finally:
                live.close()
        finally:
            backup.close()
    except sqlite3.Error as err:
        raise BackupError(f"SQLite 恢复失败:{err}") from None


def _pg_head(source: Path) -> str:
    """The ``alembic_version`` rows inside a custom-format dump (``pg_restore`` writes them out as COPY data)."""
    done = _run([tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(source)],
                dict(os.environ), "读取备份文件")
    match = re.search(r"^COPY \S*alembic_version \(version_num\) FROM stdin;\n(.*?)^\\\.$", done.stdout,
                      re.S | re.M)
    return ",".join(sorted(match.group(1).split())) if match else ""
