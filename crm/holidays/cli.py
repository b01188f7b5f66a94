"""``flask --app wsgi holidays seed|import``: the holiday table from the command line."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from crm.auth.models import User
from crm.core import spreadsheet
from crm.core.errors import ValidationFailed
from crm.extensions import db
from crm.holidays import domain

holidays_cli = AppGroup("holidays", help="节假日安排:从 chinese-calendar 载入,或导入国务院办公厅通知")

DEFAULT_SEED_YEARS = (2024, 2025, 2026)


@holidays_cli.command("seed")
@click.option("--year", "years", type=int, multiple=True,
              help="要载入的年份,可重复;默认 2024、2025、2026")
@click.option("--replace", is_flag=True, help="覆盖已录入的年份(默认不改动已有数据)")
def seed_command(years: tuple[int, ...], replace: bool) -> None:
    """从 chinese-calendar 载入节假日和调休上班日(幂等:已录入的年份不改动)。"""
    try:
        result = domain.load_from_chinese_calendar(years or DEFAULT_SEED_YEARS, replace=replace)
    except ValidationFailed as err:
        raise click.ClickException(err.fields.get("year", err.message)) from None
    db.session.commit()
    for year in result.loaded:
        click.echo(f"{year}年:已载入")
    for year in result.skipped:
        click.echo(f"{year}年:已有数据,未改动(如需覆盖请加 --replace)")
    for year in result.unavailable:
        click.echo(f"{year}年:chinese-calendar 没有该年数据,请用 holidays import 导入国务院办公厅通知", err=True)


@holidays_cli.command("import")
@click.argument("year", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--user", "username", default=None, help="记入审计日志的用户名(默认:系统)")
def import_command(year: int, file: Path, username: str | None) -> None:
    """导入某一年的节假日安排(CSV 或 XLSX,列:日期、类型(放假/上班)、名称),全部通过才写入。"""
    try:
        year = domain.check_year(year)
    except ValidationFailed as err:
        raise click.ClickException(err.fields["year"]) from None
    actor = None
    if username:
        actor = db.session.scalar(sa.select(User).where(User.username == username))
        if actor is None:
            raise click.ClickException(f"用户 {username} 不存在")
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and file.stat().st_size > limit:
        raise click.ClickException(f"文件过大:不能超过 {spreadsheet.size_text(limit)}")
    try:
        rows = domain.read_rows(file.name, file.read_bytes(), max_bytes=limit)
        result = domain.import_year(actor, year, rows)
    except domain.ImportRejected as err:
        db.session.rollback()
        click.echo(err.message, err=True)
        for problem in err.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1) from None
    except ValidationFailed as err:
        db.session.rollback()
        raise click.ClickException(err.fields.get("year") or err.message) from None
    db.session.commit()
    click.echo(f"已导入{result.year}年节假日安排:放假{result.holidays}天,调休上班{result.workdays}天")
