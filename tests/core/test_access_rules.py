"""Every registered access rule: its SQL scope and its per-record check agree, for every role and model.

For each model registered with ``crm.core.access`` the data set below holds records that some roles may and
others may not see or change; for VIEW and EDIT, what the scope returns must pass the check and what passes the
check must be in the scope. A model registered without records here fails the test, so a new rule cannot
escape it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.core import access
from crm.core.access import Action
from crm.enterprises import domain as enterprises
from crm.extensions import db
from crm.meetings import domain as meetings
from crm.meetings.models import CalendarFeedToken
from crm.notifications.models import Notification
from crm.reference.models import Department, Park, Partner, PlanTarget, Target
from crm.rosters import domain as rosters
from crm.rosters.models import RosterImport, RosterKind
from crm.service.models import Interaction, PolicyDelivery, PolicyKind, RequestCategory, ServiceRequest
from crm.tasks.models import Task
from tests.conftest import assign, make_enterprise, make_park, make_user
from tests.meetings.factories import make_meeting, partner
from tests.rosters.factories import published_edition
from tests.tasks.factories import make_report, safeguard
from tests.tasks.factories import unit as task_unit

ROLES = {
    "admin": {"role": "admin"},
    "city coordinator": {"role": "coordinator"},
    "county coordinator": {"role": "coordinator", "county": "汇川区"},
    "commissioner": {"role": "commissioner", "specialties": ["tech", "legal"]},
    "county commissioner": {"role": "commissioner", "county": "桐梓县", "specialties": ["finance"]},
    "leader": {"role": "leader"},
    "county leader": {"role": "leader", "county": "汇川区"},
    "liaison": {"role": "liaison", "department": "市自然资源局"},
    "inactive coordinator": {"role": "coordinator"},
}
ACTIONS = (Action.VIEW, Action.EDIT)
# the 成渝 catalogue, parks, departments and targets are reference data: every signed-in role reads all of it
EVERYONE_READS = {Partner, Park, Department, Target, PlanTarget, Task}  # and the plan's tasks


@pytest.fixture
def users():
    made = {name: make_user(**spec) for name, spec in ROLES.items()}
    made["inactive coordinator"].active = False
    db.session.flush()
    return made


@pytest.fixture
def world(users):
    """Two enterprises in each of two counties with what hangs off them, lists in every status, assignments
    (one ended), and notifications of several users."""
    hc1, hc2 = make_enterprise(county="汇川区"), make_enterprise(county="汇川区")
    tz1, tz2 = make_enterprise(county="桐梓县"), make_enterprise(county="桐梓县")
    firms = [hc1, hc2, tz1, tz2]

    # lists first: a publish ends the assignments of enterprises on no list
    published_edition(RosterKind.SUPPLIER_LIST, "2025H2", [hc1, tz1])  # superseded by the next
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [hc2])
    in_review = rosters.open_edition(None, RosterKind.CULTIVATION_POOL, "2025H2")
    for firm in (hc1, tz2):
        rosters.add_entry(None, in_review, firm, "入库测试", "培育")
    rosters.submit(None, in_review)
    draft = rosters.open_edition(None, RosterKind.CULTIVATION_POOL, "2026H1")
    for firm in (hc2, tz1):
        rosters.add_entry(None, draft, firm, "入库测试", "培育")
    for author in ("county coordinator", "admin"):  # import reports: their author, city coordinators, admins
        db.session.add(RosterImport(edition_id=draft.id, user_id=users[author].id, filename="名单.xlsx"))

    commissioner, county_commissioner = users["commissioner"], users["county commissioner"]
    other = make_user("commissioner", specialties=["tech", "media"])
    assign(hc1, commissioner)
    assign(tz1, commissioner, "legal")
    assign(hc2, county_commissioner, "finance")  # outside their county: the county still bounds them
    assign(tz2, county_commissioner, "finance")
    assign(tz2, other)
    assign(hc2, commissioner, "legal").ended_on = date(2026, 3, 31)  # ended: no access any more

    # 诉求 and 政策兑现 routed to departments: a liaison sees exactly their department's, whatever the county
    from crm.reference.models import by_name

    land, industry = by_name(Department, "市自然资源局"), by_name(Department, "市工业和科学技术局")
    for n, firm in enumerate(firms):
        enterprises.add_contact(None, firm, {"name": "张三", "post": "总经理", "phone": "0851-28880000"})
        enterprises.set_figure(None, firm, 2025, {"output_value": "100", "chengyu_output_value": "10"})
        enterprises.link_partner(None, firm, "重庆长安汽车股份有限公司", "零部件")
        for author in (commissioner, other, None):
            db.session.add(Interaction(enterprise_id=firm.id, occurred_on=date(2026, 5, 6), channel="visit",
                                       specialty="tech", summary="走访", created_by_id=getattr(author, "id", None)))
        db.session.add(ServiceRequest(enterprise_id=firm.id, category=RequestCategory.POWER, description="增容",
                                      raised_on=date(2026, 5, 6), due_date=date(2026, 5, 20),
                                      owner_id=commissioner.id if n % 2 else None,
                                      department_id=(land.id, industry.id, None, land.id)[n]))
        db.session.add(PolicyDelivery(enterprise_id=firm.id, kind=PolicyKind.TAX, promised="减免",
                                      amount=Decimal("12.5"), promised_date=date(2026, 6, 1),
                                      department_id=(None, land.id, land.id, industry.id)[n]))
    for user in (commissioner, users["admin"], users["county coordinator"], other):
        db.session.add(Notification(user_id=user.id, kind="refresh_opened", title="通知"))

    # meetings: one of the commissioner's enterprise (held, with outcomes), one the county commissioner is booked
    # into, one a county coordinator planned; feeds of two users
    changan, seres = partner(), partner("赛力斯集团股份有限公司")
    held = make_meeting(title="已举办", starts="2025-06-10 09:00", status="held", enterprises=[hc1, tz1],
                        partners=[changan], officials=[users["leader"]])
    for firm in (hc1, tz1):
        meetings.add_agreement(None, held, {"enterprise_id": firm.id, "partner_id": seres.id, "kind": "采购",
                                            "amount": "100"})
        meetings.raise_follow_up(None, held, {"enterprise_id": firm.id, "category": "用地", "description": "会后用地"})
    make_meeting(title="计划", starts="2026-09-08 09:00", enterprises=[tz2], partners=[seres],
                 officials=[county_commissioner, users["county coordinator"]])
    make_meeting(users["county coordinator"], title="区县", starts="2026-09-09 09:00", city="遵义")
    # reference data: the seeded departments, targets and the plan's park, and a demo park (kept by admins and
    # city coordinators)
    make_park("测试演示园区", "汇川区", is_demo=True)
    # progress reports: a city department's and 汇川区's (the county coordinator files for the latter only)
    for name in ("市自然资源局", "汇川区人民政府"):
        make_report(safeguard(2), task_unit(name))
    for user in (users["leader"], commissioner):
        issue = CalendarFeedToken(user_id=user.id, token_hash=f"{user.id:064d}")
        db.session.add(issue)
    # 专项督导: a city department's visit and a county's (汇川区), with items owned by several units
    from crm.tasks import supervision

    city = supervision.create_visit(users["admin"], {"visited_on": "2026-05-06", "department": "市工业和科学技术局",
                                                     "subject": "市级督导"}, today=date(2026, 6, 1))
    county = supervision.create_visit(users["admin"], {"visited_on": "2026-05-06", "county": "汇川区",
                                                       "subject": "区县督导"}, today=date(2026, 6, 1))
    supervision.create_visit(users["admin"], {"visited_on": "2026-05-06", "county": "桐梓县", "subject": "无事项"},
                             today=date(2026, 6, 1))
    for visit, unit in ((city, "市工业和科学技术局"), (city, "市自然资源局"), (county, "汇川区人民政府"),
                        (county, "市自然资源局")):
        supervision.add_item(users["admin"], visit, {"description": "整改", "department": unit, "due_workdays": 5})
    db.session.flush()
    return firms


def test_every_registered_model_has_a_rule_for_records_and_for_lists():
    models = access.registered_models()
    assert models, "no access rules registered"
    from crm.auth.models import User
    from crm.enterprises.models import Enterprise
    from crm.rosters.models import RosterEdition, RosterEntry
    from crm.service.models import Assignment

    for model in (Enterprise, RosterEdition, RosterEntry, Assignment, Interaction, ServiceRequest, PolicyDelivery,
                  Notification, User):
        assert model in models, f"{model.__name__} has no registered access rule"


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.value)
@pytest.mark.parametrize("role", list(ROLES))
def test_scope_and_check_agree(world, users, role, action):
    user = users[role]
    for model in access.registered_models():
        key = sa.inspect(model).primary_key[0]
        records = db.session.scalars(sa.select(model)).unique().all()
        assert len(records) >= 2, f"the data set has too few {model.__name__} records: cover every registered model"
        checked = {sa.inspect(r).identity[0] for r in records if access.can(user, action, r)}
        scoped = set(db.session.scalars(access.scope(user, model, sa.select(key), action)))
        assert scoped == checked, (
            f"{model.__name__}, {role}, {action}: only in the scope {sorted(scoped - checked)}, "
            f"only by the check {sorted(checked - scoped)}")
        if role == "inactive coordinator":
            assert not checked


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.value)
def test_the_data_set_tells_roles_apart(world, users, action):
    """Agreement on all-or-nothing would prove little: every model has records some role may and another
    active role may not ``action``."""
    active = [u for name, u in users.items() if name != "inactive coordinator"]
    for model in access.registered_models():
        if action is Action.VIEW and model in EVERYONE_READS:
            continue
        records = db.session.scalars(sa.select(model)).unique().all()
        counts = {sum(access.can(u, action, r) for r in records) for u in active}
        assert len(counts) > 1, f"{model.__name__}: every role {action}s the same records"


def test_who_may_agrees_with_the_check(world, users, monkeypatch):
    monkeypatch.setattr(access, "WHO_MAY_CHUNK", 2)  # several queries, answers still in order
    candidates = [*users.values(), *db.session.scalars(sa.select(type(users["admin"])))]
    candidates = list({u.id: u for u in candidates}.values())
    for firm in world:
        for action in ACTIONS:
            expected = [u for u in candidates if access.can(u, action, firm)]
            assert access.who_may(candidates, action, firm) == expected


def test_scope_inside_a_query_that_joins_the_parent(world, users):
    """A child's scope is a subquery of its parent's rule: it must keep its own FROM when the caller's query
    already joins the parent (as the ledgers do)."""
    from crm.enterprises.models import Enterprise

    user = users["county coordinator"]
    stmt = sa.select(ServiceRequest.id).join(Enterprise, ServiceRequest.enterprise_id == Enterprise.id)
    scoped = set(db.session.scalars(access.scope(user, ServiceRequest, stmt)))
    assert scoped == {r.id for r in db.session.scalars(sa.select(ServiceRequest)) if access.can(user, "view", r)}
    assert scoped and len(scoped) < len(world)


def test_the_core_imports_no_feature():
    """``crm.core.access`` dispatches by type; the rules come from the capabilities, never the other way."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(access.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    crm = {name for name in imported if name.startswith("crm.")}
    assert crm <= {"crm.core.errors", "crm.extensions"}, crm


# What a rule may read of its user: the user's own columns that move the ``reference`` version when they change (and
# what follows from them), so that a statement shaped by a viewer's scope may be kept per viewer while that version
# holds (crm.core.cache.built_for). Anything else a rule depends on must be SQL inside its condition.
RULE_READS = {"id", "role", "county_id", "department_id", "is_admin", "active", "is_authenticated", "specialties",
              "specialty_rows", "county", "department"}


class _Recording:
    """A user that notes every attribute a rule reads."""

    def __init__(self, user, read: set[str]) -> None:
        object.__setattr__(self, "_user", user)
        object.__setattr__(self, "_read", read)

    def __getattr__(self, name: str):
        self._read.add(name)
        return getattr(self._user, name)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.value)
def test_the_rules_read_only_what_moves_the_reference_version(users, action):
    for role, user in users.items():
        read: set[str] = set()
        for model in access.registered_models():
            access.where(_Recording(user, read), model, action)
        assert read, role
        assert read <= RULE_READS, f"{role}, {action}: a rule reads {sorted(read - RULE_READS)} of its user"
