"""``seed-demo`` and ``demo-accounts``: the demo data loads, is marked demo, and loads only once.

The seed runs (twice, through the CLI) once per module into a fresh database made by the migrations; the
tests then read that database, inside its own app context (``ctx``: pushed over the shared test app's, so
``with_appcontext`` commands and ``db.session`` use the seeded database). Tests that change data use the
shared, rolled-back ``app`` fixture instead.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from stdnum.cn import uscc as stdnum_uscc

from crm.auth.models import Role, User
from crm.core.access import scope
from crm.core.audit import AuditLog
from crm.demo.cli import demo_accounts_command, seed_demo_command
from crm.demo.data import (
    COUNTY_PROFILES,
    DEFAULT_DEMO_PASSWORD,
    DEMO_USERS,
    PASSWORD_ENV,
    build_demo_data,
    demo_password,
)
from crm.demo.reference import COUNTIES
from crm.enterprises.models import Enterprise, EnterpriseContact, EnterpriseFigure, EnterprisePartner
from crm.extensions import db
from crm.reference.models import County, Park
from crm.service.models import Assignment
from tests.conftest import make_enterprise, own_database

# Every enterprise the plan names, with the county the demo puts it in.
PLAN_ENTERPRISES = {
    "遵义双盛电气系统有限公司": "桐梓县",
    "贵州榆琳科技有限公司": "桐梓县",
    "贵州彩阳电暖科技有限公司": "桐梓县",
    "遵义森永科工有限公司": "桐梓县",
    "贵州航锐航空精密零部件制造有限公司": "红花岗区",
    "贵州精立航太科技有限公司": "红花岗区",
    "遵义市飞宇电子有限公司": "红花岗区",
    "遵义市大地和电气有限公司": "红花岗区",
    "贵州蓝辉新材料有限公司": "红花岗区",
    "遵义长征汽车零部件有限公司": None,
    "贵州新蓝辉金属制品有限公司": None,
    "遵义正合铝业有限公司": None,
    "贵州容百锂电材料有限公司": None,
    "贵州梅岭电源有限公司": None,
    "遵义天磁锰业集团有限公司": None,
    "遵义钛业股份有限公司": None,
    "遵义华明电力设备有限公司": None,
}
MODELS = (User, Enterprise, EnterpriseFigure, EnterpriseContact, EnterprisePartner, Assignment, AuditLog)


def _counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in MODELS}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    with own_database(tmp_path_factory, "demo", reference_data=False) as application:
        runner = application.test_cli_runner()
        first = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_first = _counts()
        second = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_second = _counts()
        yield SimpleNamespace(app=application, runner=runner, first=first, second=second,
                              after_first=after_first, after_second=after_second)


@pytest.fixture
def ctx(seeded):
    with seeded.app.app_context():
        yield seeded


def test_cli_seeds_and_reports(seeded):
    assert seeded.first.exit_code == 0, seeded.first.output
    assert "演示数据已加载" in seeded.first.output
    assert "企业:新建 162,已有 0" in seeded.first.output
    assert "汇川区 50" in seeded.first.output


def test_second_run_changes_nothing(seeded):
    assert seeded.second.exit_code == 0, seeded.second.output
    assert "本次未作改动" in seeded.second.output
    assert seeded.after_second == seeded.after_first
    assert seeded.after_first["Enterprise"] == sum(p.total for p in COUNTY_PROFILES.values())
    assert seeded.after_first["User"] == len(DEMO_USERS)


def test_every_county_has_a_realistic_number_of_enterprises(ctx):
    rows = dict(db.session.execute(
        sa.select(County.name, sa.func.count(Enterprise.id)).join(Enterprise, Enterprise.county_id == County.id)
        .group_by(County.name)).all())
    assert set(rows) == {name for name, _ in COUNTIES}
    assert max(rows, key=rows.get) == "汇川区"
    assert 40 <= rows["汇川区"] <= 60
    assert all(3 <= n <= 8 for name, n in rows.items() if name in {"凤冈县", "湄潭县", "余庆县", "赤水市"})
    # The counties with a target in the plan hold at least that many 规上 demo firms.
    above = dict(db.session.execute(
        sa.select(County.name, sa.func.count(Enterprise.id)).join(Enterprise, Enterprise.county_id == County.id)
        .where(Enterprise.above_scale.is_(True)).group_by(County.name)).all())
    for county, target in {"桐梓县": 10, "红花岗区": 5, "汇川区": 35, "播州区": 10, "新蒲新区": 5,
                           "道真自治县": 3, "正安县": 5, "务川自治县": 2}.items():
        assert above[county] >= target, county


def test_plan_enterprises_exist_with_valid_uscc(ctx):
    found = {e.name: e for e in db.session.scalars(
        sa.select(Enterprise).where(Enterprise.name.in_(PLAN_ENTERPRISES)))}
    assert set(found) == set(PLAN_ENTERPRISES)
    for name, county in PLAN_ENTERPRISES.items():
        enterprise = found[name]
        assert stdnum_uscc.is_valid(enterprise.uscc), name
        assert enterprise.uscc.startswith("915203"), name
        assert enterprise.above_scale
        if county:
            assert enterprise.county.name == county, name
    assert found["贵州容百锂电材料有限公司"].park.name == "遵义国家高新技术产业开发区"
    assert {link.partner.name for link in found["贵州航锐航空精密零部件制造有限公司"].partner_links} >= {
        "成都飞机工业(集团)有限责任公司"}


def test_all_demo_records_are_marked_and_plausible(ctx):
    enterprises = list(db.session.scalars(sa.select(Enterprise)))
    assert all(e.is_demo for e in enterprises)
    assert all(stdnum_uscc.is_valid(e.uscc) for e in enterprises)
    assert len({e.uscc for e in enterprises}) == len(enterprises)
    figures = list(db.session.scalars(sa.select(EnterpriseFigure)))
    assert figures and all(f.is_demo for f in figures)
    assert all(0 <= f.chengyu_output_value <= f.output_value for f in figures)
    # 规上 of each year: recorded on every demo figure, ≥ 2000万元 that year (some firms grew into it)
    assert all(f.above_scale is (f.output_value >= 2000) for f in figures)
    assert any(f.above_scale is False and f.enterprise.above_scale for f in figures)
    # supply links of the plan's 成渝 firms (from the profiles and from meeting agreements) are demo data
    links = list(db.session.scalars(sa.select(EnterprisePartner)))
    assert links and all(link.is_demo for link in links)
    parks = list(db.session.scalars(sa.select(Park)))
    assert [p.name for p in parks if not p.is_demo] == []  # the plan's own park carries a demo recognition
    assert sorted(p.name for p in parks if p.supporting) == ["桐梓(重庆)工业园", "遵义国家高新技术产业开发区"]
    for e in enterprises:
        years = {f.year for f in e.figures}
        arrived = e.settled_on.year if e.settled_from_chengyu else 0
        assert years == {y for y in (2024, 2025) if y >= arrived}, e.name
        latest = max(e.figures, key=lambda f: f.year, default=None)
        if latest is not None:
            assert (latest.output_value >= 2000) == e.above_scale, e.name  # 规上: ≥ 2000万元
        assert 1 <= len(e.contacts) <= 2
        assert all(c.phone.startswith("0851-2") for c in e.contacts)
    assert sum(e.above_scale for e in enterprises) > 0.75 * len(enterprises)
    assert sum(bool(e.partner_links) for e in enterprises) > 0.4 * len(enterprises)
    settled = [e for e in enterprises if e.settled_from_chengyu]
    assert len(settled) >= 10 and all(e.settled_on for e in settled)


def test_writes_are_in_the_audit_trail_as_the_system(ctx):
    rows = list(db.session.scalars(sa.select(AuditLog)))
    kinds = Counter(r.entity_type for r in rows)
    assert kinds["enterprise"] == ctx.after_first["Enterprise"]
    assert kinds["figure"] == ctx.after_first["EnterpriseFigure"]
    assert kinds["assignment"] == ctx.after_first["Assignment"]
    assert kinds["user"] == len(DEMO_USERS)
    # The loader writes as the system; the demo's service records are written by the commissioner (or the
    # coordinator) who would have done it, so their timelines are real (tests/demo/test_service_demo.py).
    # A meeting's follow-up 诉求 is raised by the enterprise's commissioner too (crm/demo/meetings.py).
    # The task ledger's progress reports and 专项督导 are the liaisons' and the coordinator's (crm/demo/tasks.py).
    loader = [r for r in rows if r.entity_type not in ("interaction", "service_request", "policy_delivery",
                                                       "task_report", "supervision", "rectification")
              and not (r.entity_type == "meeting" and r.action == "follow_up")]
    assert {r.actor_name for r in loader} == {"系统"}
    assert all(r.actor_id is None for r in loader)


def test_each_commissioner_sees_assigned_enterprises(ctx):
    commissioners = [u for u in db.session.scalars(sa.select(User)) if u.role is Role.COMMISSIONER]
    assert {s for u in commissioners for s in u.specialties} == {"tech", "finance", "legal", "media", "talent"}
    for user in commissioners:
        active = list(db.session.scalars(sa.select(Assignment).where(
            Assignment.commissioner_id == user.id, Assignment.ended_on.is_(None))))
        assert active, user.username
        assert {a.specialty for a in active} == set(user.specialties)
        visible = db.session.scalars(scope(user, Enterprise, sa.select(Enterprise))).all()
        assert len(visible) == len(active)
    hc = db.session.scalar(sa.select(User).where(User.username == "coordinator_hc"))
    assert hc.county.name == "汇川区"
    assert {e.county.name for e in db.session.scalars(scope(hc, Enterprise, sa.select(Enterprise)))} == {"汇川区"}


def test_every_demo_user_can_sign_in(seeded):
    roles = set()
    for spec in DEMO_USERS:
        client = seeded.app.test_client()
        response = client.post("/login", data={"username": spec.username, "password": demo_password()})
        assert response.status_code == 302, (spec.username, response.get_data(as_text=True)[:500])
        roles.add(spec.role)
    assert roles == {r.value for r in Role}


def test_demo_accounts_lists_the_sign_ins(ctx):
    result = ctx.runner.invoke(demo_accounts_command)
    assert result.exit_code == 0, result.output
    for spec in DEMO_USERS:
        assert spec.username in result.output
    for label in ("管理员", "协调员", "服务专员", "领导", "汇川区", "科技专员"):
        assert label in result.output
    assert result.output.count(demo_password()) == len(DEMO_USERS)


def test_demo_accounts_does_not_show_a_password_that_no_longer_works(ctx):
    from crm.auth.domain import get_user, hash_password

    user = get_user("leader")
    saved = user.password_hash
    user.password_hash = hash_password("Changed-pass-9")
    db.session.commit()
    try:
        result = ctx.runner.invoke(demo_accounts_command)
        leader_line = next(line for line in result.output.splitlines() if line.strip().startswith("leader"))
        assert demo_password() not in leader_line
        assert "密码已修改" in leader_line
    finally:
        get_user("leader").password_hash = saved
        db.session.commit()


def test_demo_accounts_command_is_registered(seeded):
    assert "demo-accounts" in seeded.app.cli.commands
    assert seeded.app.cli.commands["seed-demo"] is seed_demo_command


# --- without the seeded database ----------------------------------------------------------------------------

def test_demo_accounts_says_when_there_are_none(app):
    result = app.test_cli_runner().invoke(demo_accounts_command)
    assert result.exit_code == 0
    assert "尚未创建演示账号" in result.output
    assert DEFAULT_DEMO_PASSWORD not in result.output


def test_a_real_record_with_a_demo_name_is_left_alone(app):
    from crm.demo.seed import SeedReport, _seed_enterprises

    specs = build_demo_data().enterprises[:3]
    real = make_enterprise(specs[0].name, county="汇川区")
    report = SeedReport()
    created = _seed_enterprises(specs, report)
    assert report.skipped == [specs[0].name]
    assert not real.is_demo and real.figures == [] and real.partner_links == []
    assert set(created) == {s.uscc for s in specs[1:]}


def test_build_is_deterministic():
    first, second = build_demo_data(), build_demo_data()
    assert [(s.name, s.uscc, s.figures, s.contacts) for s in first.enterprises] == [
        (s.name, s.uscc, s.figures, s.contacts) for s in second.enterprises]
    assert first.assignments == second.assignments
    assert len({s.name for s in first.enterprises}) == len(first.enterprises)
    assert all(s.uscc.startswith("9152") and stdnum_uscc.is_valid(s.uscc) for s in first.enterprises)


def test_demo_password_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    assert demo_password() == DEFAULT_DEMO_PASSWORD
    monkeypatch.setenv(PASSWORD_ENV, "Other-demo-2027")
    assert demo_password() == "Other-demo-2027"


def test_lists_published_each_half_year_and_the_current_refresh_in_progress(ctx):
    from crm.core.time import local_today
    from crm.holidays.workdays import year_has_data
    from crm.rosters import domain as roster_domain
    from crm.rosters.models import EditionStatus, RosterKind

    current = roster_domain.period_of(local_today())
    for kind in RosterKind:
        editions = {e.period: e for e in roster_domain.editions(kind)}
        assert "2025H1" in editions and current in editions
        assert editions[current].status is EditionStatus.DRAFT
        published = [e for p, e in editions.items() if p != current]
        assert published and all(e.status in (EditionStatus.PUBLISHED, EditionStatus.SUPERSEDED) for e in published)
        assert roster_domain.latest_published(kind).period == max(p for p in editions if p != current)
        assert all(entry.reason for e in editions.values() for entry in e.entries)
        changes = roster_domain.diff(kind, "2025H1", "2025H2")
        assert changes.added and changes.removed and all(r["reason"] for r in changes.removed)
    assert year_has_data(2025) and year_has_data(2026)
