"""``flask --app wsgi backup create|restore`` on a database of its own (SQLite: the online backup API;
PostgreSQL: pg_dump -Fc / pg_restore --clean --if-exists): data is backed up, changed and deleted, restored, and
the restored database holds the same rows (counts and a checksum of several tables) at the same migration
version. Refusals: restore without ``--yes``, a file that is not a backup, an existing target, no pg_dump.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.backup import archive
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters import domain as rosters
from crm.rosters.models import RosterEntry, RosterKind
from tests.conftest import BACKEND, assign, make_enterprise, make_user, own_database
from tests.rosters.factories import published_edition

ROOT = Path(__file__).resolve().parents[2]
TABLES = ("users", "enterprises", "roster_editions", "roster_entries", "assignments", "audit_log", "alembic_version")


@pytest.fixture
def fresh_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with own_database(tmp_path_factory, "backup") as application:
        yield application


def fingerprint(app: Flask) -> dict[str, tuple[int, str]]:
    """Per table: the row count and a SHA-256 of every row in primary-key order."""
    with app.app_context():
        db.session.remove()
        found = {}
        with db.engine.connect() as conn:
            for name in TABLES:
                table = sa.Table(name, sa.MetaData(), autoload_with=conn)
                order = list(table.primary_key.columns) or list(table.columns)
                rows = conn.execute(sa.select(table).order_by(*order)).all()
                digest = hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()
                found[name] = (len(rows), digest)
        return found


@pytest.fixture
def world(fresh_app: Flask) -> dict[str, int]:
    with fresh_app.app_context():
        firms = [make_enterprise(county="汇川区") for _ in range(5)]
        published_edition(RosterKind.SUPPLIER_LIST, "2026H1", firms[:3])
        assign(firms[0], make_user("commissioner", specialties=["tech"]))
        make_user("coordinator", username="备份协调员")
        db.session.commit()
        ids = {"first": firms[0].id}
        db.session.remove()
    return ids


def cli(app: Flask, *args: str):
    # In the app's own context: the CLI otherwise runs in the current app's (the suite's shared database).
    with app.app_context():
        return app.test_cli_runner().invoke(args=["backup", *args], catch_exceptions=False)


def change_everything(app: Flask) -> None:
    with app.app_context():
        db.session.execute(sa.update(Enterprise).values(name=Enterprise.name + "(改)"))
        db.session.execute(sa.delete(RosterEntry))
        make_user("coordinator", username="恢复后应消失")
        rosters.open_edition(None, RosterKind.CULTIVATION_POOL, "2026H2")
        db.session.commit()
        db.session.remove()


def test_backup_change_restore_gives_back_the_same_rows(fresh_app, world, tmp_path):
    before = fingerprint(fresh_app)
    assert before["roster_entries"][0] == 3 and before["alembic_version"][0] == 1
    path = tmp_path / "crm.backup"
    result = cli(fresh_app, "create", str(path))
    assert result.exit_code == 0, result.output
    kind = "SQLite" if BACKEND == "sqlite" else "PostgreSQL"
    assert result.output.startswith(f"已备份{kind} 数据库") and str(path) in result.output
    with fresh_app.app_context():
        head = archive.current_head(db.engine)
    assert f"迁移版本 {head}" in result.output and path.stat().st_size > 0
    assert not list(tmp_path.glob(".*.partial"))
    assert path.stat().st_mode & 0o777 == 0o600  # hashes and personal data: the owner's only, whatever the umask

    change_everything(fresh_app)
    changed = fingerprint(fresh_app)
    assert changed["roster_entries"][0] == 0 and changed["enterprises"] != before["enterprises"]
    assert changed["users"][0] == before["users"][0] + 1

    refused = cli(fresh_app, "restore", str(path))  # no --yes: nothing happens
    assert refused.exit_code == 1
    assert "确认请加 --yes" in refused.output and "未做任何更改" in refused.output
    assert fingerprint(fresh_app) == changed

    restored = cli(fresh_app, "restore", str(path), "--yes")
    assert restored.exit_code == 0, restored.output
    assert restored.output.startswith(f"已用 {path} 恢复{kind} 数据库")
    assert f"备份的迁移版本 {head},恢复后 {head}" in restored.output
    assert fingerprint(fresh_app) == before
    with fresh_app.app_context():  # the app works on the restored database at once
        assert db.session.get(Enterprise, world["first"]).name.endswith("(改)") is False
        make_user("coordinator", username="恢复后新建")
        db.session.commit()
        db.session.remove()


def test_create_refuses_an_existing_file_unless_told(fresh_app, world, tmp_path):
    path = tmp_path / "existing.backup"
    path.write_bytes(b"keep me")
    result = cli(fresh_app, "create", str(path))
    assert result.exit_code == 1 and "已存在:覆盖请加 --yes" in result.output
    assert path.read_bytes() == b"keep me"
    assert cli(fresh_app, "create", str(path), "--yes").exit_code == 0
    assert path.read_bytes() != b"keep me"
    missing_dir = cli(fresh_app, "create", str(tmp_path / "nope" / "x.backup"))
    assert missing_dir.exit_code == 1 and "不存在" in missing_dir.output


def test_restore_refuses_what_is_not_a_backup_and_changes_nothing(fresh_app, world, tmp_path):
    before = fingerprint(fresh_app)
    text = tmp_path / "notes.txt"
    text.write_text("not a backup", encoding="utf-8")
    result = cli(fresh_app, "restore", str(text), "--yes")
    assert result.exit_code == 1 and "不是" in result.output and "备份文件,未做任何更改" in result.output
    result = cli(fresh_app, "restore", str(tmp_path / "missing.backup"), "--yes")
    assert result.exit_code == 1 and "不存在" in result.output
    assert fingerprint(fresh_app) == before


def test_a_backup_of_another_database_kind_or_app_is_refused(fresh_app, world, tmp_path):
    """A SQLite file without this app's migration table is not a backup of this app."""
    import sqlite3

    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    before = fingerprint(fresh_app)
    result = cli(fresh_app, "restore", str(other), "--yes")
    assert result.exit_code == 1
    if BACKEND == "sqlite":
        assert "没有迁移版本(alembic_version):不是本系统的备份" in result.output
    else:
        assert "不是 PostgreSQL(pg_dump -Fc) 备份文件" in result.output
    assert fingerprint(fresh_app) == before


def test_without_the_postgresql_tools_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    for name in ("pg_dump", "pg_restore"):
        with pytest.raises(archive.BackupError) as err:
            archive.tool(name)
        assert err.value.message.startswith(f"找不到 {name}:请安装") and "postgresql-client" in err.value.message


def test_the_command_is_registered_for_flask_app_wsgi(fresh_app, world, tmp_path):
    """Through the real entry point, as an operator runs it."""
    with fresh_app.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRM_", "TEST_DATABASE", "SECRET_KEY"))}
    env.update(DATABASE_URL=url, CRM_ENV="development", SECRET_KEY=os.urandom(16).hex())
    flask = str(Path(sys.executable).with_name("flask"))
    path = tmp_path / "cli.backup"
    done = subprocess.run([flask, "--app", "wsgi", "backup", "create", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("已备份") and path.is_file()
    refused = subprocess.run([flask, "--app", "wsgi", "backup", "restore", str(path)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "确认请加 --yes" in refused.stderr


def test_a_backup_from_a_newer_release_is_refused(fresh_app, world, tmp_path):
    """Its migration version is one this code does not know: restoring it would leave a database no code here can
    serve or migrate down."""
    with fresh_app.app_context():
        head = archive.current_head(db.engine)
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = 'f00dfeed0001'"))
        db.session.commit()
    path = tmp_path / "newer.backup"
    assert cli(fresh_app, "create", str(path)).exit_code == 0
    with fresh_app.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = :head"), {"head": head})
        db.session.commit()
    before = fingerprint(fresh_app)
    result = cli(fresh_app, "restore", str(path), "--yes")
    assert result.exit_code == 1
    assert "迁移版本 f00dfeed0001 不是本版本代码所知的版本" in result.output and "未做任何更改" in result.output
    assert fingerprint(fresh_app) == before
