"""``flask --app wsgi seed-reference``, ``seed-demo`` and ``demo-accounts``.

``seed-reference`` loads the plan's facts only and is safe in production; ``seed-demo`` adds the demo records on
top and is refused when ``CRM_ENV=production`` (the variable that selects the production configuration).
"""

from __future__ import annotations

import os
import time
import unicodedata

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from crm.auth.domain import get_user
from crm.auth.models import Role
from crm.core.errors import DomainError
from crm.extensions import db
from crm.service.access import assigned_enterprise_ids

REFERENCE_LABELS = {
    "counties": "区县", "clusters": "产业集群", "supply_categories": "配套类别", "departments": "责任单位",
    "partners": "方案列明的成渝企业", "parks": "方案列明的园区", "targets": "区县和全市目标",
    "plan_targets": "园区和落户目标", "tasks": "重点任务和保障措施", "task_units": "任务责任单位",
    "task_milestones": "任务节点目标",
}
PRODUCTION_REFUSAL = ("生产环境(CRM_ENV=production)不能加载演示数据:演示企业、账号和园区认定会混入真实数据。"
                      "只需方案的基础数据时请运行 flask --app wsgi seed-reference")
LABELS = {
    **REFERENCE_LABELS, "demo_parks": "演示园区", "demo_recognitions": "演示园区认定",
    "users": "用户", "enterprises": "企业", "figures": "产值记录", "contacts": "联系人",
    "partner_links": "成渝配套关系", "assignments": "专员分配", "holiday_years": "节假日年份",
    "editions": "名单版本", "interactions": "服务记录", "requests": "诉求", "policy_deliveries": "政策兑现",
    "meetings": "会议活动", "agreements": "会议签约", "follow_ups": "会后诉求",
    "progress_reports": "进展报告", "supervisions": "专项督导", "rectification_items": "整改事项",
}


@click.command("seed-reference")
@with_appcontext
def seed_reference_command():
    """Load the plan's reference data only (idempotent, safe in production)."""
    from crm.demo.reference import load_reference_data

    created = load_reference_data()
    db.session.commit()
    if not created:
        click.echo("方案基础数据已齐全,本次未作改动。")
        return
    click.echo("已载入方案基础数据:")
    for key, label in REFERENCE_LABELS.items():
        if created[key]:
            click.echo(f"  {label}:新建 {created[key]}")


def production() -> bool:
    return os.environ.get("CRM_ENV", "").strip().lower() == "production"


@click.command("seed-demo")
@with_appcontext
def seed_demo_command():
    """Load the plan's reference data and demo records (idempotent); refused in production."""
    from crm.demo.seed import demo_counts_by_county, seed_demo

    if production():
        raise click.ClickException(PRODUCTION_REFUSAL)
    started = time.perf_counter()
    try:
        report = seed_demo()
    except DomainError as err:
        db.session.rollback()
        details = "; ".join(f"{k}: {v}" for k, v in err.fields.items())
        raise click.ClickException(f"演示数据加载失败:{err.message}{(' — ' + details) if details else ''}") from None
    db.session.commit()
    elapsed = time.perf_counter() - started
    if report.created:
        click.echo(f"演示数据已加载(用时 {elapsed:.1f} 秒):")
    else:
        click.echo(f"演示数据已存在,本次未作改动(用时 {elapsed:.1f} 秒):")
    for key, label in LABELS.items():
        created, existing = report.created[key], report.existing[key]
        if created or existing:
            click.echo(f"  {label}:新建 {created},已有 {existing}")
    if report.skipped:
        click.echo(f"  跳过 {len(report.skipped)} 家(名称或统一社会信用代码已被非演示记录使用):"
                   + "、".join(report.skipped))
    counts = demo_counts_by_county()
    click.echo("  各区县演示企业:" + "、".join(f"{name} {count}" for name, count in counts)
               + f"(合计 {sum(c for _, c in counts)})")
    click.echo("  演示账号:flask --app wsgi demo-accounts")


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def _password_works(password_hash: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(password_hash, password)  # the cost parameters come from the hash
    except (VerificationError, InvalidHashError):
        return False


@click.command("demo-accounts")
@with_appcontext
def demo_accounts_command():
    """Print the demo sign-ins (username, role, scope, password)."""
    from crm.demo.data import DEMO_USERS, PASSWORD_ENV, demo_password

    password = demo_password()
    rows = []
    for spec in DEMO_USERS:
        user = get_user(spec.username)
        if user is None:
            continue
        scope = [user.county.name if user.county else "全市"]
        if user.department:
            scope.append(user.department.name)
        if user.role is Role.COMMISSIONER:  # sees only the enterprises assigned to them
            scope[0] = "、".join(s.label for s in user.specialties) + "专员"
            assigned = db.session.scalar(
                sa.select(sa.func.count()).select_from(assigned_enterprise_ids(user).subquery()))
            scope.append(f"服务企业 {assigned} 家")
        if not user.active:
            shown = "(账号已停用)"
        elif _password_works(user.password_hash, password):
            shown = password
        else:
            shown = "(密码已修改,不是演示密码)"
        rows.append((user.username, user.display_name, user.role.label, " · ".join(scope), shown))
    if not rows:
        click.echo("尚未创建演示账号。请先运行:flask --app wsgi seed-demo")
        return
    header = ("用户名", "姓名", "角色", "范围", "密码")
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    click.echo("演示账号(仅用于演示和测试环境,请勿在生产环境使用):")
    for row in [header, tuple("-" * w for w in widths), *rows]:
        click.echo("  " + "  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=True)).rstrip())
    missing = [spec.username for spec in DEMO_USERS if get_user(spec.username) is None]
    if missing:
        click.echo("以下演示账号不存在:" + "、".join(missing))
    click.echo(f"登录地址:/login;演示密码可通过环境变量 {PASSWORD_ENV} 在运行 seed-demo 前设置。")
