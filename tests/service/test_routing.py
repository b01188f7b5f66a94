"""Routing 诉求 and 政策兑现 to a department (issue 12 item 2), the domain: who routes, the audit old → new, the
timeline note, the notifications, visibility moving with a re-route, bad input refused with nothing written, what a
liaison may do with what is routed to them, and the counts per department."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.core import access, cache
from crm.core.access import Action
from crm.core.audit import AuditLog
from crm.core.errors import Forbidden, ValidationFailed
from crm.core.time import local_today
from crm.extensions import db
from crm.notifications.models import Notification
from crm.reference.models import Department, by_name
from crm.service import policy, routing
from crm.service import requests as request_domain
from crm.service.models import DeliveryStatus, PolicyDelivery, PolicyKind, RequestEvent, RequestStatus, ServiceRequest
from tests.conftest import assign, make_enterprise, make_user

LAND, INDUSTRY = "市自然资源局", "市工业和科学技术局"
TODAY = local_today()  # set again as each test starts: the live_today fixture
pytestmark = pytest.mark.usefixtures("live_today")


@pytest.fixture
def people():
    return {
        "coordinator": make_user("coordinator"),
        "county coordinator": make_user("coordinator", county="汇川区"),
        "admin": make_user("admin"),
        "commissioner": make_user("commissioner", specialties=["tech"]),
        "leader": make_user("leader"),
        "land": make_user("liaison", department=LAND),
        "land2": make_user("liaison", department=LAND),
        "industry": make_user("liaison", department=INDUSTRY),
    }


@pytest.fixture
def firm(people):
    enterprise = make_enterprise(county="汇川区")
    assign(enterprise, people["commissioner"])
    return enterprise


def make_request(enterprise, owner=None, *, department=None, due=None, status=RequestStatus.RAISED):
    req = ServiceRequest(enterprise=enterprise, category="用地", description="新增工业用地50亩",
                         owner=owner, raised_on=TODAY - timedelta(days=20), due_date=due or TODAY + timedelta(days=5),
                         status=status, department=by_name(Department, department) if department else None)
    db.session.add(req)
    db.session.flush()
    return req


def make_delivery(enterprise, owner=None, *, department=None, promised_date=None):
    delivery = PolicyDelivery(enterprise=enterprise, kind=PolicyKind.LAND, promised="保障用地50亩", owner=owner,
                              promised_date=promised_date or TODAY + timedelta(days=10),
                              status=DeliveryStatus.PROMISED,
                              department=by_name(Department, department) if department else None)
    db.session.add(delivery)
    db.session.flush()
    return delivery


def audits(entity: str, ident: int) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.entity_type == entity, AuditLog.entity_id == ident, AuditLog.action == "route").order_by(AuditLog.id)))


def inbox(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)))


# --- routing a 诉求 ----------------------------------------------------------------------------------------------

def test_routing_a_request_sets_the_department_audits_notes_and_notifies(people, firm):
    req = make_request(firm, people["commissioner"])
    routing.route_request(people["coordinator"], req, LAND, "请核实用地指标")
    assert req.department.name == LAND
    [row] = audits("service_request", req.id)
    assert row.changes["department"] == [None, LAND] and row.changes["note"] == [None, "请核实用地指标"]
    assert row.enterprise_id == firm.id and row.actor_id == people["coordinator"].id
    event = req.events[-1]
    assert event.note == f"转办至{LAND}:请核实用地指标" and event.from_status is event.to_status is RequestStatus.RAISED
    for user in (people["land"], people["land2"], people["commissioner"]):  # the department's liaisons, the owner
        [told] = inbox(user)
        assert told.kind == "request_routed" and told.link == f"/service/requests/{req.id}" and LAND in told.title
        assert firm.name in told.body and "请核实用地指标" in told.body
    assert not inbox(people["industry"]) and not inbox(people["coordinator"])


def test_re_routing_moves_visibility_and_audits_old_to_new(people, firm):
    req = make_request(firm, department=LAND)
    land, industry = people["land"], people["industry"]
    assert access.can(land, Action.VIEW, req) and not access.can(industry, Action.VIEW, req)
    routing.route_request(people["admin"], req, INDUSTRY, "")
    assert not access.can(land, Action.VIEW, req) and not access.can(land, Action.EDIT, req)
    assert access.can(industry, Action.VIEW, req) and access.can(industry, Action.EDIT, req)
    scoped = set(db.session.scalars(access.scope(land, ServiceRequest, sa.select(ServiceRequest.id))))
    assert req.id not in scoped
    [row] = audits("service_request", req.id)
    assert row.changes == {"department": [LAND, INDUSTRY]}
    assert req.events[-1].note == f"由{LAND}改派至{INDUSTRY}"
    assert inbox(industry) and not inbox(land)


def test_a_county_coordinator_routes_only_in_their_county(people, firm):
    elsewhere = make_enterprise(county="桐梓县")
    outside = make_request(elsewhere)
    with pytest.raises(Forbidden):
        routing.route_request(people["county coordinator"], outside, LAND)
    assert outside.department is None and not audits("service_request", outside.id)
    inside = make_request(firm)
    routing.route_request(people["county coordinator"], inside, LAND)
    assert inside.department.name == LAND


@pytest.mark.parametrize("who", ["commissioner", "leader", "land"])
def test_commissioners_leaders_and_liaisons_do_not_route(people, firm, who):
    req = make_request(firm, people["commissioner"], department=LAND)
    with pytest.raises(Forbidden):
        routing.route_request(people[who], req, INDUSTRY)
    assert req.department.name == LAND and not audits("service_request", req.id)


@pytest.mark.parametrize(("department", "note", "field", "words"), [
    ("", "", "department", "请选择转办的责任单位"),
    ("市不存在局", "", "department", "未知责任单位:市不存在局"),
    (LAND, "", "department", f"该诉求已由{LAND}办理"),
    (INDUSTRY, "说" * 2001, "note", "转办说明最长2000个字符"),
    (123, "", "department", "责任单位请填写单位名称"),
])
def test_bad_input_is_refused_in_chinese_and_nothing_is_written(people, firm, department, note, field, words):
    req = make_request(firm, department=LAND)
    events = len(req.events)
    with pytest.raises(ValidationFailed) as refused:
        routing.route_request(people["coordinator"], req, department, note)
    assert refused.value.fields[field] == words
    db.session.rollback()  # as the page and the API do: nothing half-saved
    req = db.session.get(ServiceRequest, req.id)
    if req is not None:
        assert req.department.name == LAND and len(req.events) == events


# --- routing a 政策兑现 ------------------------------------------------------------------------------------------

def test_routing_a_delivery_audits_and_notifies(people, firm):
    delivery = make_delivery(firm, people["commissioner"])
    routing.route_delivery(people["coordinator"], delivery, LAND, "用地指标")
    routing.route_delivery(people["coordinator"], delivery, INDUSTRY, "")
    rows = audits("policy_delivery", delivery.id)
    assert [r.changes["department"] for r in rows] == [[None, LAND], [LAND, INDUSTRY]]
    assert [n.kind for n in inbox(people["land"])] == ["policy_routed"]
    assert [n.link for n in inbox(people["industry"])] == [f"/policy/{delivery.id}"]
    assert len(inbox(people["commissioner"])) == 2
    assert access.can(people["industry"], Action.EDIT, delivery)
    assert not access.can(people["land"], Action.VIEW, delivery)


def test_inactive_liaisons_are_not_told(people, firm):
    people["land2"].active = False
    delivery = make_delivery(firm)
    routing.route_delivery(people["coordinator"], delivery, LAND)
    assert inbox(people["land"]) and not inbox(people["land2"])


# --- what a liaison does with what is routed to them -------------------------------------------------------------

def test_a_liaison_takes_on_and_resolves_but_does_not_close(people, firm):
    req = make_request(firm, people["commissioner"], department=LAND)
    land = people["land"]
    assert [s.value for s in request_domain.allowed_for(land, req)] == ["accepted"]
    for to in ("accepted", "in_progress", "resolved"):
        request_domain.transition(land, req, to, note="已办理")
    assert req.status is RequestStatus.RESOLVED
    assert request_domain.allowed_for(land, req) == []
    for to in ("closed", "in_progress"):
        with pytest.raises(Forbidden):
            request_domain.transition(land, req, to, note="回访", satisfaction=5 if to == "closed" else None)
    assert req.status is RequestStatus.RESOLVED
    request_domain.transition(people["commissioner"], req, "closed", note="回访满意", satisfaction=5)
    assert req.status is RequestStatus.CLOSED


def test_a_liaison_records_a_delivery_but_does_not_change_the_promise_or_cancel(people, firm):
    delivery = make_delivery(firm, department=LAND)
    land = people["land"]
    for data in ({"promised": "改一下"}, {"department": INDUSTRY}, {"owner": None},
                 {"status": "cancelled", "evidence": "不办了"}):
        with pytest.raises(Forbidden):
            policy.update_delivery(land, delivery, data)
    assert delivery.status is DeliveryStatus.PROMISED and delivery.department.name == LAND
    policy.update_delivery(land, delivery, {"status": "delivered", "delivered_date": TODAY.isoformat(),
                                            "evidence": "遵自然资〔2026〕12号"})
    assert delivery.status is DeliveryStatus.DELIVERED
    policy.update_delivery(land, delivery, {"status": "promised"})  # entered by mistake: back to promised
    assert delivery.status is DeliveryStatus.PROMISED


def test_a_liaison_without_records_of_their_department_sees_none(people, firm):
    make_request(firm, department=INDUSTRY)
    make_request(firm)
    assert not db.session.scalars(access.scope(people["land"], ServiceRequest, sa.select(ServiceRequest))).all()
    assert not access.can(people["land"], Action.VIEW, firm)  # nor the enterprise behind the records


# --- the ledgers per department ------------------------------------------------------------------------------

def test_counts_per_department_in_one_query(people, firm, count_queries):
    late = TODAY - timedelta(days=3)
    make_request(firm, department=LAND, due=late)
    make_request(firm, department=LAND, due=late, status=RequestStatus.IN_PROGRESS)
    make_request(firm, department=LAND)
    make_request(firm, department=LAND, due=late, status=RequestStatus.RESOLVED)  # done: not overdue
    make_request(firm, department=INDUSTRY, due=late)
    make_request(firm, due=late)
    make_delivery(firm, department=LAND, promised_date=late)
    make_delivery(firm, department=INDUSTRY)
    stmt = request_domain.requests_statement(people["coordinator"])
    with count_queries() as queries:
        rows = routing.request_counts(stmt, TODAY)
    assert queries.count == 1 + cache.enabled()  # and on PostgreSQL the data versions (crm/core/cache.py)
    by_name_ = {row["department"]: row for row in rows}
    assert by_name_[LAND] == {"department": LAND, "total": 4, "open": 3, "overdue": 2}
    assert by_name_[INDUSTRY] == {"department": INDUSTRY, "total": 1, "open": 1, "overdue": 1}
    assert by_name_[None]["overdue"] == 1
    deliveries = {row["department"]: row for row in routing.delivery_counts(
        policy.deliveries_statement(people["coordinator"]), TODAY)}
    assert deliveries[LAND]["overdue"] == 1 and deliveries[INDUSTRY]["overdue"] == 0
    # the liaison's ledger is their department's only
    assert [r["department"] for r in routing.request_counts(
        request_domain.requests_statement(people["land"]), TODAY)] == [LAND]


def test_ledger_filters_by_department_and_refuses_an_unknown_one(people, firm):
    ours = make_request(firm, department=LAND)
    make_request(firm, department=INDUSTRY)
    stmt = request_domain.requests_statement(people["coordinator"], department=LAND)
    assert [r.id for r in db.session.scalars(stmt)] == [ours.id]
    with pytest.raises(ValidationFailed) as refused:
        request_domain.requests_statement(people["coordinator"], department="市不存在局")
    assert refused.value.fields == {"department": "未知责任单位:市不存在局"}
    with pytest.raises(ValidationFailed):
        policy.deliveries_statement(people["coordinator"], department="市不存在局")


def test_the_department_home_lists_overdue_first(people, firm):
    soon = make_request(firm, department=LAND, due=TODAY + timedelta(days=1))
    late = make_request(firm, department=LAND, due=TODAY - timedelta(days=1))
    done = make_request(firm, department=LAND, due=TODAY - timedelta(days=9), status=RequestStatus.CLOSED)
    assert [r.id for r in routing.department_requests(people["land"], TODAY)] == [late.id, soon.id, done.id]
    assert routing.department_requests(people["industry"], TODAY) == []
    assert not db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == soon.id)).all()


def test_a_record_raised_or_edited_with_a_department_tells_its_liaisons(people, firm):
    req = request_domain.raise_request(people["coordinator"], firm, {"category": "用地", "description": "扩建用地",
                                                                     "department": LAND})
    assert [(n.kind, n.link) for n in inbox(people["land"])] == [("request_routed", f"/service/requests/{req.id}")]
    delivery = policy.create_delivery(people["coordinator"], firm, {
        "kind": "用地", "promised": "保障用地", "promised_date": TODAY.isoformat(), "department": INDUSTRY})
    assert [n.kind for n in inbox(people["industry"])] == ["policy_routed"]
    policy.update_delivery(people["coordinator"], delivery, {"evidence": "补充说明"})  # no move: nobody told
    assert len(inbox(people["industry"])) == 1
    policy.update_delivery(people["coordinator"], delivery, {"department": LAND})
    assert [n.kind for n in inbox(people["land"])] == ["request_routed", "policy_routed"]
    assert not inbox(people["coordinator"])
