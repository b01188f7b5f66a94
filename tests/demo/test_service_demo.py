"""``seed-demo``'s service records (crm/demo/service.py): a year of interactions, requests in every status (some
overdue, closed ones with the enterprise's satisfaction, some reopened), policy deliveries of every kind (some
late), gaps left in the coverage, real timelines by the right actors, and a second run that changes nothing.

Like tests/demo/test_seed.py: the seed runs twice through the CLI into a fresh database made by the migrations,
once for this module; the tests read that database inside its own app context.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from crm.auth.models import Role, User
from crm.core.audit import AuditLog
from crm.core.time import SHANGHAI, local_today, utcnow
from crm.demo.data import demo_password
from crm.demo.service import MARK
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import assignments, coverage, policy, requests
from crm.service.models import (
    Assignment,
    Channel,
    DeliveryStatus,
    Interaction,
    PolicyDelivery,
    PolicyKind,
    RequestEvent,
    RequestStatus,
    ServiceRequest,
)
from tests.conftest import own_database

MODELS = (Interaction, ServiceRequest, RequestEvent, PolicyDelivery, AuditLog)
SERVICE_ENTITIES = ("interaction", "service_request", "policy_delivery")


def _counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in MODELS}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    with own_database(tmp_path_factory, "servicedemo", reference_data=False) as application:
        runner = application.test_cli_runner()
        first = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_first = _counts()
        second = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_second = _counts()
        yield SimpleNamespace(app=application, first=first, second=second, after_first=after_first,
                              after_second=after_second)


@pytest.fixture
def ctx(seeded):
    with seeded.app.app_context():
        yield seeded


def _all(model, *options):
    return list(db.session.scalars(sa.select(model).options(*options).order_by(model.id)))


# --- the command -----------------------------------------------------------------------------------------------

def test_seed_reports_the_service_records_and_loads_them_once(seeded):
    assert seeded.first.exit_code == 0, seeded.first.output
    for label in ("服务记录:新建", "诉求:新建", "政策兑现:新建", "会议活动:新建", "会议签约:新建", "会后诉求:新建"):
        assert label in seeded.first.output, label
    assert seeded.after_first["Interaction"] > 300
    assert seeded.second.exit_code == 0, seeded.second.output
    assert "本次未作改动" in seeded.second.output
    assert f"服务记录:新建 0,已有 {seeded.after_first['Interaction']}" in seeded.second.output
    assert seeded.after_second == seeded.after_first


# --- interactions ----------------------------------------------------------------------------------------------

def test_a_year_of_interactions_by_the_assigned_commissioners(ctx):
    today = local_today()
    rows = _all(Interaction)
    days = [i.occurred_on for i in rows]
    assert min(days) <= today - timedelta(days=300) and min(days) >= today - timedelta(days=366)
    assert max(days) >= today - timedelta(days=7) and max(days) <= today
    assert {i.channel for i in rows} == set(Channel)
    assert all(i.summary.endswith(MARK) for i in rows)
    text = " ".join(i.summary for i in rows)
    for topic in ("专精特新", "贷款", "对接会", "人才", "用电", "用地"):
        assert topic in text, topic
    active = {(a.enterprise_id, a.specialty, a.commissioner_id)
              for a in _all(Assignment) if a.ended_on is None}
    assert all((i.enterprise_id, i.specialty, i.created_by_id) in active for i in rows)
    assert all(i.enterprise.is_demo for i in rows)
    # every demo enterprise with a commissioner has been contacted
    assert {e for e, _, _ in active} == {i.enterprise_id for i in rows}
    # each commissioner's visits are spread over the year, weeks apart
    by_pair = defaultdict(list)
    for i in rows:
        by_pair[(i.enterprise_id, i.specialty)].append(i.occurred_on)
    assert sum(len(v) >= 4 for v in by_pair.values()) > len(by_pair) / 2


def test_some_follow_ups_are_overdue_and_some_enterprises_quiet(ctx):
    today = local_today()
    latest: dict[int, Interaction] = {}
    for i in _all(Interaction):
        if i.enterprise_id not in latest or (i.occurred_on, i.id) > (latest[i.enterprise_id].occurred_on,
                                                                    latest[i.enterprise_id].id):
            latest[i.enterprise_id] = i
    overdue = [i for i in latest.values() if i.next_follow_up and i.next_follow_up < today]
    quiet = [i for i in latest.values() if (today - i.occurred_on).days > 60]
    assert len(overdue) >= 3 and len(quiet) >= 3
    assert any(i.next_follow_up and i.next_follow_up > today for i in latest.values())  # and some ahead


# --- requests --------------------------------------------------------------------------------------------------

def test_requests_in_every_status_with_overdue_and_closed_ones(ctx):
    today = local_today()
    rows = _all(ServiceRequest)
    statuses = Counter(r.status for r in rows)
    assert set(statuses) == set(RequestStatus), statuses
    overdue = [r for r in rows if requests.is_overdue(r, today)]
    assert len(overdue) >= 3
    assert {r.status for r in overdue} >= {RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS}
    assert any(r.status in requests.OPEN_STATUSES and not requests.is_overdue(r, today) for r in rows)
    closed = [r for r in rows if r.status is RequestStatus.CLOSED]
    assert closed and all(r.satisfaction in range(1, 6) and r.closed_at for r in closed)
    assert all(r.events[-1].to_status is RequestStatus.CLOSED and r.events[-1].satisfaction == r.satisfaction
               for r in closed)
    reopened = [r for r in rows if any(e.from_status in (RequestStatus.RESOLVED, RequestStatus.CLOSED)
                                       and e.to_status is RequestStatus.IN_PROGRESS for e in r.events)]
    assert len(reopened) >= 2
    assert any(r.status is RequestStatus.CLOSED for r in reopened)  # reopened, then closed after all
    assert all(r.description.endswith(MARK) for r in rows)


def test_request_timelines_are_real(ctx):
    now = utcnow()
    for r in _all(ServiceRequest):
        owner = r.owner
        assert owner is not None and owner.role is Role.COMMISSIONER
        assert r.created_by_id == owner.id
        assert r.interaction is not None and r.interaction.enterprise_id == r.enterprise_id
        assert r.interaction.occurred_on == r.raised_on and r.interaction.created_by_id == owner.id
        assert r.department is not None
        events = r.events
        assert events[0].from_status is None and events[0].to_status is RequestStatus.RAISED
        assert events[0].at.astimezone(SHANGHAI).date() == r.raised_on
        assert all(e.actor_id == owner.id for e in events)
        moments = [e.at for e in events]
        assert moments == sorted(moments) and len(set(moments)) == len(moments) and moments[-1] < now
        assert all(e.at.astimezone(SHANGHAI).hour in range(9, 18) for e in events)
        for before, after in zip(events, events[1:], strict=False):
            assert after.from_status is before.to_status
            assert after.to_status in requests.TRANSITIONS[before.to_status]
        assert events[-1].to_status is r.status
        if r.status is RequestStatus.RESOLVED:
            assert r.resolved_at == events[-1].at


def test_service_records_are_audited_under_who_did_them(ctx):
    rows = list(db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type.in_(SERVICE_ENTITIES))))
    kinds = Counter(r.entity_type for r in rows)
    assert kinds["interaction"] == ctx.after_first["Interaction"]
    assert kinds["service_request"] == ctx.after_first["RequestEvent"]  # one per step: raised, then transitions
    actors = {r.actor_id for r in rows}
    assert None not in actors
    roles = {u.role for u in db.session.scalars(sa.select(User).where(User.id.in_(actors)))}
    assert roles <= {Role.COMMISSIONER, Role.COORDINATOR}


# --- policy deliveries -----------------------------------------------------------------------------------------

def test_deliveries_of_every_kind_some_late(ctx):
    today = local_today()
    rows = _all(PolicyDelivery)
    assert {d.kind for d in rows} == set(PolicyKind)
    assert all(d.promised.endswith(MARK) for d in rows)
    delivered = [d for d in rows if d.status is DeliveryStatus.DELIVERED]
    late_delivered = [d for d in delivered if policy.is_late(d, today)]
    on_time = [d for d in delivered if not policy.is_late(d, today)]
    past_due = [d for d in rows if d.status is DeliveryStatus.PROMISED and policy.is_late(d, today)]
    ahead = [d for d in rows if d.status is DeliveryStatus.PROMISED and not policy.is_late(d, today)]
    cancelled = [d for d in rows if d.status is DeliveryStatus.CANCELLED]
    assert len(late_delivered) >= 3 and len(on_time) >= 3 and len(past_due) >= 3 and ahead and cancelled
    assert all(d.delivered_date <= today for d in delivered)
    assert all(d.evidence.startswith("取消原因") for d in cancelled)
    assert sum(bool(policy.warnings_of(d)) for d in rows) >= 1  # one delivered without its evidence note
    amounts = [d.amount for d in rows if d.amount is not None]
    assert len(amounts) > len(rows) / 2 and all(a > 0 for a in amounts)
    assert all(d.owner is not None and d.department is not None for d in rows)
    for kind in (PolicyKind.TAX, PolicyKind.LAND, PolicyKind.POWER, PolicyKind.FINANCING, PolicyKind.TALENT):
        assert len({d.status for d in rows if d.kind is kind}) >= 2, kind  # each kind shows a mix


# --- coverage and the pages ------------------------------------------------------------------------------------

def test_coverage_keeps_some_gaps(ctx):
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    rows = coverage.coverage(admin)
    assert rows
    assert any(row.gaps for row in rows)  # listed, and no commissioner of some specialty
    assert any(0 < len(row.gaps) < len(assignments.SPECIALTIES) for row in rows)  # served, but not fully


def test_a_demo_enterprise_page_shows_its_service_story(ctx):
    quiet = db.session.scalar(
        sa.select(Enterprise).join(ServiceRequest, ServiceRequest.enterprise_id == Enterprise.id)
        .where(ServiceRequest.status == RequestStatus.CLOSED).order_by(Enterprise.id).limit(1))
    client = ctx.app.test_client()
    response = client.post("/login", data={"username": "leader", "password": demo_password()})
    assert response.status_code == 302
    html = client.get(f"/enterprises/{quiet.id}").get_data(as_text=True)
    for section in ('id="commissioners"', 'id="interactions"', 'id="requests"', 'id="policy"'):
        assert section in html, section
    assert "已办结" in html and "满意度" in html and MARK in html
    assert re.search(r'data-interaction="\d+"', html)
