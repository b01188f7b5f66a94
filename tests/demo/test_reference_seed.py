"""``seed-reference``: only what the plan states, idempotent, no demo rows; ``seed-demo`` refused in production.

Every number, department, firm and park of the reference data is checked against the plan's own text
(``crm/demo/plan.txt``, a verbatim copy of ``../shared/seed/000_1bc59414bff406b1.txt``): the targets are read out
of the plan's sentences here, not copied from the seed.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

import crm.demo
from crm.auth.models import User
from crm.core.audit import AuditLog
from crm.demo.cli import PRODUCTION_REFUSAL
from crm.demo.reference import (
    ALL_COUNTY_GOVERNMENTS,
    COUNTIES,
    DEMO_PARKS,
    DEMO_RECOGNITIONS,
    DEPARTMENTS,
    PARKS,
    PARTNERS,
    PLAN_TARGETS,
    TARGETS,
    load_demo_parks,
)
from crm.enterprises.models import Enterprise, EnterpriseFigure, EnterprisePartner
from crm.extensions import db
from crm.reference.models import Cluster, County, Department, EnclaveMode, Park, ParkKind, Partner, PlanTarget, Target
from tests.conftest import own_database

PLAN = (Path(crm.demo.__file__).parent / "plan.txt").read_text(encoding="utf-8")
TABLES = (County, Cluster, Department, Partner, Park, Target, PlanTarget)


def _counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m))
            for m in (*TABLES, Enterprise, EnterpriseFigure, EnterprisePartner, User, AuditLog)}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    with own_database(tmp_path_factory, "reference", reference_data=False) as application:
        runner = application.test_cli_runner()
        first = runner.invoke(args=["seed-reference"])
        with application.app_context():
            after_first = _counts()
        second = runner.invoke(args=["seed-reference"])
        with application.app_context():
            after_second = _counts()
        yield SimpleNamespace(app=application, runner=runner, first=first, second=second,
                              after_first=after_first, after_second=after_second)


@pytest.fixture
def ctx(seeded):
    with seeded.app.app_context():
        yield seeded
        db.session.rollback()


# --- the command ---------------------------------------------------------------------------------------------

def test_seed_reference_prints_what_it_created_and_a_second_run_changes_nothing(seeded):
    assert seeded.first.exit_code == 0, seeded.first.output
    out = seeded.first.output
    assert "已载入方案基础数据" in out
    for line in (f"区县:新建 {len(COUNTIES)}", f"责任单位:新建 {len(DEPARTMENTS)}", "方案列明的成渝企业:新建 12",
                 "方案列明的园区:新建 1", "区县和全市目标:新建 18", "园区和落户目标:新建 4"):
        assert line in out, line
    assert seeded.second.exit_code == 0, seeded.second.output
    assert "本次未作改动" in seeded.second.output
    assert seeded.after_second == seeded.after_first


def test_seed_reference_creates_no_demo_rows(ctx):
    counts = ctx.after_first
    assert counts["Enterprise"] == counts["EnterpriseFigure"] == counts["EnterprisePartner"] == 0
    assert counts["User"] == 0 and counts["AuditLog"] == 0
    parks = db.session.scalars(sa.select(Park)).all()
    assert [(p.name, p.county.name, p.kind, p.supporting, p.recognised_on, p.recognition_document, p.is_demo)
            for p in parks] == [("桐梓(重庆)工业园", "桐梓县", ParkKind.INDUSTRIAL_PARK, False, None, "", False)]
    assert counts["Department"] == len(DEPARTMENTS) and counts["County"] == 15
    assert all(p.in_plan for p in db.session.scalars(sa.select(Partner)))


def test_every_county_government_the_plan_makes_responsible_is_a_department(ctx):
    assert ALL_COUNTY_GOVERNMENTS in PLAN
    names = set(db.session.scalars(sa.select(Department.name)))
    expected = {f"{county}人民政府" for county, _ in COUNTIES if county != "新蒲新区"} | {"新蒲新区管委会"}
    assert len(expected) == 15 and expected <= names
    for once_missing in ("绥阳县人民政府", "凤冈县人民政府", "湄潭县人民政府", "余庆县人民政府", "习水县人民政府",
                         "赤水市人民政府", "仁怀市人民政府"):
        assert once_missing in names


def test_a_county_government_is_its_county_unit_and_a_city_department_none(ctx):
    by_name = {d.name: d for d in db.session.scalars(sa.select(Department))}
    counties = {c.id: c.name for c in db.session.scalars(sa.select(County))}
    assert counties[by_name["红花岗区人民政府"].county_id] == "红花岗区"
    assert counties[by_name["新蒲新区管委会"].county_id] == "新蒲新区"
    assert counties[by_name["仁怀市人民政府"].county_id] == "仁怀市"
    assert by_name["市自然资源局"].county_id is None
    assert sum(d.county_id is not None for d in by_name.values()) == 15


def test_county_targets_add_up_to_the_city(ctx):
    def sums(year: int) -> tuple[tuple[int, Decimal], tuple[int, Decimal]]:
        rows = db.session.scalars(sa.select(Target).where(Target.year == year)).all()
        city = [(t.target_firms, t.target_output) for t in rows if t.county_id is None]
        counties = [t for t in rows if t.county_id is not None]
        return city[0], (sum(t.target_firms for t in counties), sum(t.target_output for t in counties))

    assert sums(2025) == ((75, Decimal(90)), (75, Decimal(90)))
    assert sums(2027) == ((110, Decimal(175)), (110, Decimal(175)))
    plan = {(p.year, p.metric): p.target for p in db.session.scalars(sa.select(PlanTarget))}
    assert plan == {(2025, "parks"): 2, (2027, "parks"): 5, (2025, "settled_from_chengyu"): 10,
                    (2027, "settled_from_chengyu"): 50}


# --- against the plan's text ---------------------------------------------------------------------------------

TARGET_SENTENCE = re.compile(
    r"(?:到)?(20\d\d)年,(力争在|[^,。]*?在)关键材料、关键零部件、关键设备等产业与成渝地区相互配套规模以上企业"
    r"(?:分别)?突破([\d家、]+?)[,、]力争产值(?:分别)?突破([\d亿元、]+)")


def plan_targets_from_text() -> dict[str | None, dict[int, tuple[int, int]]]:
    """unit → year → (firms, 产值 亿元), read from the plan's sentences (the city: "力争在…")."""
    found: dict[str | None, dict[int, tuple[int, int]]] = {}
    for year, who, firms, outputs in TARGET_SENTENCE.findall(PLAN):
        units = [None] if who == "力争在" else who.removesuffix("在").split("、")
        firm_numbers = [int(n) for n in re.findall(r"(\d+)家", firms)]
        output_numbers = [int(n) for n in re.findall(r"(\d+)亿元", outputs)]
        assert len(units) == len(firm_numbers) == len(output_numbers), (year, who)
        for unit, f, o in zip(units, firm_numbers, output_numbers, strict=True):
            found.setdefault(unit, {})[int(year)] = (f, o)
    return found


def test_every_target_number_is_the_plans(ctx):
    from_text = plan_targets_from_text()
    seeded = {unit: {2025: (f25, o25), 2027: (f27, o27)} for unit, (f25, o25, f27, o27) in TARGETS.items()}
    assert from_text == seeded
    stored: dict[str | None, dict[int, tuple[int, int]]] = {}
    for t in db.session.scalars(sa.select(Target)):
        stored.setdefault(t.county.name if t.county else None, {})[t.year] = (t.target_firms, int(t.target_output))
    assert stored == from_text


def test_every_park_and_settled_number_is_the_plans():
    parks = {int(y): int(n) for y, n in re.findall(r"到(20\d\d)年,力争[^。]*?配套产业园区(\d+)个以上", PLAN)}
    settled = {int(y): int(n) for y, n in re.findall(r"到(20\d\d)年,力争完成(\d+)家成渝地区企业落户", PLAN)}
    assert parks == {2025: 2, 2027: 5} and settled == {2025: 10, 2027: 50}
    assert {(y, m): t for y, m, t in PLAN_TARGETS} == {
        **{(y, "parks"): n for y, n in parks.items()}, **{(y, "settled_from_chengyu"): n for y, n in settled.items()}}


def test_every_department_firm_and_park_is_named_by_the_plan():
    county_governments = {f"{county}人民政府" for county, _ in COUNTIES}
    not_in_text = [name for name in DEPARTMENTS if name not in PLAN
                   and not (name in county_governments and ALL_COUNTY_GOVERNMENTS in PLAN)]
    assert not_in_text == []
    for name, _region, _city, _industry, words in PARTNERS:
        assert words in PLAN, words  # how the plan names the firm ...
        assert words in name, name  # ... is part of the registered name the catalogue keeps
    assert len(PARTNERS) == 12
    for name, county, _kind in PARKS:
        assert name in PLAN and county in PLAN
    assert [name for name, *_ in PARKS] == ["桐梓(重庆)工业园"]
    # The demo's parks and recognitions are kept apart from the reference data.
    assert not {p.name for p in DEMO_PARKS} & {name for name, *_ in PARKS}


# --- demo parks ----------------------------------------------------------------------------------------------

def test_demo_parks_and_recognitions_are_marked_and_loaded_once(ctx):
    created = load_demo_parks()
    assert created == {"demo_parks": len(DEMO_PARKS), "demo_recognitions": len(DEMO_RECOGNITIONS)}
    assert load_demo_parks() == {}
    tongzi = db.session.scalar(sa.select(Park).where(Park.name == "桐梓(重庆)工业园"))
    assert tongzi.is_demo and tongzi.supporting and tongzi.recognised_on.year == 2024
    assert "演示" in tongzi.recognition_document
    demo = {p.name: p for p in db.session.scalars(sa.select(Park).where(Park.name != "桐梓(重庆)工业园"))}
    assert set(demo) == {p.name for p in DEMO_PARKS} and all(p.is_demo for p in demo.values())
    high_tech = demo["遵义国家高新技术产业开发区"]
    assert high_tech.supporting and high_tech.recognised_on.year == 2025 and "演示" in high_tech.recognition_document
    enclaves = [p for p in demo.values() if p.kind is ParkKind.ENCLAVE]
    assert len(enclaves) == 1 and enclaves[0].enclave_mode is EnclaveMode.SHARED and enclaves[0].chengyu_counterpart


def test_a_real_recognition_is_never_replaced_by_the_demo(ctx):
    tongzi = db.session.scalar(sa.select(Park).where(Park.name == "桐梓(重庆)工业园"))
    tongzi.supporting, tongzi.recognised_on, tongzi.recognition_document = True, None, "遵府发〔2026〕1号"
    created = load_demo_parks()
    assert "demo_recognitions" not in created
    assert not tongzi.is_demo and tongzi.recognition_document == "遵府发〔2026〕1号"


# --- seed-demo in production ---------------------------------------------------------------------------------

def test_seed_demo_is_refused_in_production(ctx, monkeypatch):
    monkeypatch.setenv("CRM_ENV", "production")
    result = ctx.runner.invoke(args=["seed-demo"])
    assert result.exit_code != 0
    assert PRODUCTION_REFUSAL in result.output and "seed-reference" in result.output
    assert _counts() == ctx.after_first  # nothing loaded
    monkeypatch.setenv("CRM_ENV", "production")
    again = ctx.runner.invoke(args=["seed-reference"])  # the plan's facts stay loadable in production
    assert again.exit_code == 0 and "本次未作改动" in again.output
