"""``flask --app wsgi dashboard rebuild-rollup``: recompute the service dashboard's daily rollup from the records."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from crm.dashboard import rollup
from crm.extensions import db

dashboard_cli = AppGroup("dashboard", help="看板数据维护:从服务记录重算每日汇总(rebuild-rollup)。")


@dashboard_cli.command("rebuild-rollup")
def rebuild_rollup_command() -> None:
    """从服务记录重算服务看板的每日汇总(触发器平时自动维护;仅在关闭触发器写入数据、或核对时使用)。

    重算期间服务记录和企业的写入会等待(大数据量时约数秒)。"""
    before = rollup.stored()
    groups = rollup.rebuild()
    changed = rollup.differences(before, rollup.stored())
    db.session.commit()
    click.echo(f"已重算服务记录每日汇总:共 {groups} 组;与重算前不同的组:{changed}")
