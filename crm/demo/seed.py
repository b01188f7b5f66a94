"""Apply the demo data (:mod:`crm.demo.data`) through the domain functions, idempotently.

Every write goes through the same functions the pages and the API use, with the system as the actor, so the
audit trail shows where each demo record came from. What already exists is left alone: users are matched by
username, enterprises by 统一社会信用代码 or name; a record someone else created under a demo firm's name is
never touched. A second run changes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from crm.auth.domain import create_user, get_user
from crm.auth.models import Role, Specialty
from crm.core import audit
from crm.demo.data import DEMO_USERS, build_demo_data, demo_password
from crm.demo.reference import load_demo_parks, load_reference_data
from crm.enterprises.domain import add_contact, create_enterprise, link_partner, name_key, set_figure
from crm.enterprises.models import Enterprise, EnterpriseFigure, EnterprisePartner
from crm.extensions import db
from crm.reference.models import County
from crm.rosters.domain import published_member_ids
from crm.rosters.models import RosterKind
from crm.service.assignments import suggest
from crm.service.models import Assignment

ABOVE_SCALE_WAN = 2000  # 规模以上: 主营业务收入 ≥ 2000万元


@dataclass
class SeedReport:
    created: Counter = field(default_factory=Counter)
    existing: Counter = field(default_factory=Counter)
    skipped: list[str] = field(default_factory=list)  # demo firms whose name or USCC a real record already uses


def seed_demo(password: str | None = None) -> SeedReport:
    """Load the reference data and the demo records; the caller commits."""
    report = SeedReport()
    report.created.update(load_reference_data())
    report.created.update(load_demo_parks())  # before the enterprises, which sit in them
    _seed_users(password or demo_password(), report)
    data = build_demo_data()
    enterprises = _seed_enterprises(data.enterprises, report)
    db.session.flush()
    from crm.demo.rosters import seed_holidays, seed_rosters

    # Lists before assignments: publishing ends the assignments of enterprises that left both lists.
    for key, created in (("holiday_years", seed_holidays()), ("editions", seed_rosters())):
        if created:
            report.created[key] += created
    _seed_assignments(data.assignments, enterprises, report)
    _fill_coverage(report)
    db.session.flush()
    from crm.demo.service import seed_service

    # Last: a year of interactions, requests and policy deliveries of the enterprises with commissioners.
    seed_service(report)
    from crm.demo.meetings import seed_meetings

    # Meetings last: their participants are the served enterprises, their follow-ups go to the commissioners.
    seed_meetings(report)
    from crm.demo.tasks import seed_tasks

    # The task ledger's progress reports and 专项督导 (after the users: the liaisons file and rectify).
    seed_tasks(report)
    return report


def _seed_users(password: str, report: SeedReport) -> None:
    for spec in DEMO_USERS:
        if get_user(spec.username) is not None:
            report.existing["users"] += 1
            continue
        create_user(None, username=spec.username, password=password, role=spec.role,
                    display_name=spec.display_name, county=spec.county, department=spec.department,
                    specialties=list(spec.specialties), phone=spec.phone)
        report.created["users"] += 1


def _seed_enterprises(specs, report: SeedReport) -> dict[str, Enterprise]:
    """Create what is missing; return the demo enterprises by USCC."""
    by_uscc = {e.uscc: e for e in db.session.scalars(sa.select(Enterprise))}
    by_key = {e.name_key: e for e in by_uscc.values()}
    figures = {(f.enterprise_id, f.year) for f in db.session.scalars(sa.select(EnterpriseFigure))}
    links = {(link.enterprise_id, link.partner.name) for link in db.session.scalars(sa.select(EnterprisePartner))}
    demo: dict[str, Enterprise] = {}
    for spec in specs:
        enterprise = by_uscc.get(spec.uscc)
        if enterprise is None and name_key(spec.name) in by_key:
            report.skipped.append(spec.name)
            continue
        if enterprise is not None and not enterprise.is_demo:
            report.skipped.append(spec.name)
            continue
        fresh = enterprise is None
        if fresh:
            enterprise = create_enterprise(None, spec.enterprise_data(), is_demo=True)
            report.created["enterprises"] += 1
        else:
            report.existing["enterprises"] += 1
        demo[spec.uscc] = enterprise
        for year, (output, chengyu) in spec.figures.items():
            if (enterprise.id, year) not in figures:
                # 规上 of that year: 主营业务收入 ≥ 2000万元 (a firm may have grown into it).
                set_figure(None, enterprise, year, {"output_value": output, "chengyu_output_value": chengyu,
                                                    "above_scale": output >= ABOVE_SCALE_WAN}, is_demo=True)
                report.created["figures"] += 1
        if fresh:  # contacts have no natural key: only a firm created now gets them
            for name, post, phone in spec.contacts:
                add_contact(None, enterprise, {"name": name, "post": post, "phone": phone})
                report.created["contacts"] += 1
        for partner, supplies in spec.partners:
            if (enterprise.id, partner) not in links:
                link_partner(None, enterprise, partner, supplies, is_demo=True)
                report.created["partner_links"] += 1
    return demo


def _seed_assignments(specs, enterprises: dict[str, Enterprise], report: SeedReport) -> None:
    """One-to-one service: enterprise × specialty → commissioner, only where none is active yet."""
    active = {(a.enterprise_id, a.specialty.value)
              for a in db.session.scalars(sa.select(Assignment).where(Assignment.ended_on.is_(None)))}
    for spec in specs:
        enterprise = enterprises.get(spec.uscc)
        commissioner = get_user(spec.username)
        if enterprise is None or commissioner is None or commissioner.role is not Role.COMMISSIONER:
            continue
        if (enterprise.id, spec.specialty) in active:
            report.existing["assignments"] += 1
            continue
        specialty = Specialty(spec.specialty)
        row = Assignment(enterprise_id=enterprise.id, specialty=specialty, commissioner_id=commissioner.id,
                         started_on=spec.started_on)
        db.session.add(row)
        db.session.flush()
        audit.record(None, "assignment", row.id, "create",
                     {"specialty": [None, specialty.value], "commissioner": [None, commissioner.username],
                      "started_on": [None, spec.started_on]},
                     enterprise_id=enterprise.id,
                     summary=f"分配{specialty.label}服务专员 {commissioner.display_name}")
        active.add((enterprise.id, spec.specialty))
        report.created["assignments"] += 1


GAP_EVERY = 13  # one slot in this many stays open, so the coverage matrix shows a few gaps


def _fill_coverage(report: SeedReport) -> None:
    """Give every enterprise on a current published list a commissioner per specialty, as the coordinators would
    with the suggestion (fewest active assignments, same county first, within the cap), leaving a few gaps."""
    listed = sa.union(*(published_member_ids(kind) for kind in RosterKind)).subquery()
    enterprises = list(db.session.scalars(sa.select(Enterprise).where(Enterprise.id.in_(sa.select(listed)))
                                          .order_by(Enterprise.id)))
    active = {(a.enterprise_id, a.specialty)
              for a in db.session.scalars(sa.select(Assignment).where(Assignment.ended_on.is_(None)))}
    for index, enterprise in enumerate(enterprises):
        for offset, specialty in enumerate(Specialty):
            if (enterprise.id, specialty) in active or (index * 5 + offset) % GAP_EVERY == 0:
                continue
            commissioner = suggest(enterprise, specialty)
            if commissioner is None:
                continue
            started = date(2025, 1, 1) + timedelta(days=(index * 7 + offset * 3) % 300)
            row = Assignment(enterprise_id=enterprise.id, specialty=specialty, commissioner_id=commissioner.id,
                             started_on=started)
            db.session.add(row)
            db.session.flush()
            audit.record(None, "assignment", row.id, "create",
                         {"specialty": [None, specialty.label], "commissioner": [None, commissioner.username],
                          "started_on": [None, started]},
                         enterprise_id=enterprise.id,
                         summary=f"分配{specialty.label}服务专员 {commissioner.display_name}")
            active.add((enterprise.id, specialty))
            report.created["assignments"] += 1


def demo_counts_by_county() -> list[tuple[str, int]]:
    """Demo enterprises per county, in the counties' order."""
    rows = db.session.execute(
        sa.select(County.name, sa.func.count(Enterprise.id))
        .select_from(County)
        .outerjoin(Enterprise, sa.and_(Enterprise.county_id == County.id, Enterprise.is_demo.is_(True)))
        .group_by(County.id, County.name, County.sort_order)
        .order_by(County.sort_order, County.id))
    return [(name, count) for name, count in rows]
