"""``flask --app wsgi user create`` and ``user unlock``."""

from __future__ import annotations

import os

import click
from flask.cli import AppGroup

from crm.core.errors import DomainError
from crm.extensions import db

user_cli = AppGroup("user", help="用户管理")


@user_cli.command("create")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(["admin", "coordinator", "commissioner", "leader"]))
@click.option("--county", default=None, help="区县范围(中文名称)")
@click.option("--department", default=None, help="责任单位(中文名称)")
@click.option("--specialty", "specialties", multiple=True,
              type=click.Choice(["tech", "finance", "legal", "media", "talent"]))
@click.option("--name", "display_name", default=None, help="姓名")
def create_user_command(username, role, county, department, specialties, display_name):
    """Create a user; the password comes from CRM_PASSWORD or a prompt."""
    from crm.auth.domain import create_user

    password = os.environ.get("CRM_PASSWORD") or click.prompt("密码", hide_input=True, confirmation_prompt=True)
    try:
        user = create_user(None, username=username, password=password, role=role, display_name=display_name,
                           county=county, department=department, specialties=list(specialties))
    except DomainError as err:
        db.session.rollback()
        details = "; ".join(f"{k}: {v}" for k, v in err.fields.items())
        raise click.ClickException(f"{err.message}{(' — ' + details) if details else ''}") from None
    db.session.commit()
    click.echo(f"已创建用户 {user.username}({user.role.value})")


@user_cli.command("unlock")
@click.argument("username")
def unlock_user_command(username):
    """Lift a sign-in lock (after repeated failed sign-ins); audited."""
    from crm.auth.domain import get_user, unlock

    user = get_user(username)
    if user is None:
        raise click.ClickException(f"用户不存在:{username}")
    try:
        unlock(None, user)
    except DomainError as err:
        db.session.rollback()
        raise click.ClickException(err.message) from None
    db.session.commit()
    click.echo(f"已解除 {user.username} 的登录锁定")
