"""``flask --app wsgi backup create PATH`` and ``flask --app wsgi backup restore PATH --yes``.

``create`` refuses an existing file unless ``--yes``; ``restore`` replaces the whole database and refuses
without ``--yes``. Both print what they did (or, on stderr, why not) and exit 1 on a refusal or a failure.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from crm.backup import archive
from crm.extensions import db
from crm.web import migration_heads

backup_cli = AppGroup("backup", help="数据库备份与恢复:SQLite 用在线备份 API,PostgreSQL 用 pg_dump / pg_restore。")


@backup_cli.command("create")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="目标文件已存在时覆盖它")
def create_command(path: str, yes: bool) -> None:
    """把整个数据库备份到 PATH(一个文件)。"""
    try:
        click.echo(archive.create(db.engine, path, overwrite=yes))
    except archive.BackupError as err:
        raise click.ClickException(err.message) from None


@backup_cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="确认用备份覆盖当前数据库的全部数据")
def restore_command(path: str, yes: bool) -> None:
    """用 PATH 的备份替换当前数据库的全部数据(须加 --yes 确认)。"""
    try:
        known = migration_heads(current_app.extensions["migrate"].directory)[1]
        _source, head = archive.check(db.engine, path, known)
        if not yes:
            raise archive.BackupError(
                f"恢复会用 {path}(迁移版本 {head})覆盖{archive.describe(db.engine.url)}的全部数据,未做任何更改。"
                "确认请加 --yes(建议先用 backup create 备份当前数据)")
        db.session.remove()
        click.echo(archive.restore(db.engine, path, known))
    except archive.BackupError as err:
        raise click.ClickException(err.message) from None
