"""A department liaison officer (部门联络员) on the pages: they land on their department's ledger, see and move
exactly the 诉求 and 政策兑现 routed to their unit, and are refused the rest — other departments' records read like
ids never used, and the enterprise registry, lists, assignments, 服务记录, meetings and dashboards answer 403 even
for the enterprise behind their own records. Coordinators route and re-route from the record's page; re-routing
moves visibility; bad input is refused next to its field with nothing saved; the ledgers count per department.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.time import local_today
from crm.enterprises.domain import add_contact
from crm.extensions import db
from crm.notifications.models import Notification
from crm.reference.models import Department, by_name
from crm.service.models import (
    Channel,
    DeliveryStatus,
    Interaction,
    PolicyDelivery,
    PolicyKind,
    RequestStatus,
    ServiceRequest,
)
from crm.service.requests import LIAISON_MOVE_REFUSED
from tests.conftest import assign, login, make_enterprise, make_user

LAND, INDUSTRY = "市自然资源局", "市工业和科学技术局"
TODAY = local_today()  # set again as each test starts: the live_today fixture
pytestmark = pytest.mark.usefixtures("live_today")
MISSING = 999_999


def text(response) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def error_words(response) -> tuple:
    html = response.get_data(as_text=True)
    return response.status_code, re.findall(r'<h1 class="display-5">(.*?)</h1>|<p class="lead">(.*?)</p>', html, re.S)


@pytest.fixture
def world():
    commissioner = make_user("commissioner", specialties=["tech"])
    people = {"coordinator": make_user("coordinator"), "commissioner": commissioner,
              "county coordinator": make_user("coordinator", county="汇川区"),
              "land": make_user("liaison", department=LAND), "industry": make_user("liaison", department=INDUSTRY)}
    firm = make_enterprise("遵义联络测试用地有限公司", county="汇川区")
    other = make_enterprise("遵义联络测试隐藏有限公司", county="桐梓县")
    for enterprise in (firm, other):
        assign(enterprise, commissioner)
    add_contact(None, firm, {"name": "王经理", "post": "总经理", "phone": "0851-28881234"})
    land, industry = by_name(Department, LAND), by_name(Department, INDUSTRY)
    records = {
        "ours": ServiceRequest(enterprise=firm, category="用地", description="新增工业用地50亩", owner=commissioner,
                               raised_on=TODAY - timedelta(days=10), due_date=TODAY - timedelta(days=1),
                               status=RequestStatus.RAISED, department=land),
        "theirs": ServiceRequest(enterprise=other, category="融资服务", description="隐藏的融资诉求",
                                 owner=commissioner, raised_on=TODAY, due_date=TODAY + timedelta(days=9),
                                 status=RequestStatus.RAISED, department=industry),
        "unrouted": ServiceRequest(enterprise=firm, category="其他", description="未转办的诉求", owner=commissioner,
                                   raised_on=TODAY, due_date=TODAY + timedelta(days=9), status=RequestStatus.RAISED),
        "our delivery": PolicyDelivery(enterprise=firm, kind=PolicyKind.LAND, promised="保障用地50亩",
                                       owner=commissioner, promised_date=TODAY + timedelta(days=3),
                                       status=DeliveryStatus.PROMISED, department=land),
        "their delivery": PolicyDelivery(enterprise=other, kind=PolicyKind.LAND, promised="隐藏的贴息",
                                         promised_date=TODAY, status=DeliveryStatus.PROMISED, department=industry),
        "visit": Interaction(enterprise=firm, occurred_on=TODAY, channel=Channel.VISIT, specialty="tech",
                             summary="走访", created_by_id=commissioner.id),
    }
    db.session.add_all(records.values())
    db.session.commit()
    return people, firm, other, records


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def test_a_liaison_lands_on_their_department_ledger_with_their_nav(app, world):
    people, firm, _, records = world
    client = signed_in(app, people["land"])
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/service/department")
    page = client.get("/service/department")
    assert page.status_code == 200
    body = text(page)
    assert "新增工业用地50亩" in body and "保障用地50亩" in body and "逾期 1 天" in body
    assert "隐藏" not in body and "未转办的诉求" not in body
    nav = page.get_data(as_text=True).split("<main")[0]
    for entry in ("本单位台账", "诉求台账", "政策兑现", "整改事项", "任务台账"):
        assert entry in nav
    for entry in ("企业档案", "名单管理", "服务分配", "会议", "统计", "服务工作台", "管理"):
        assert entry not in nav, entry


def test_a_liaison_sees_exactly_their_routed_records_in_the_ledgers(app, world):
    people, _, _, records = world
    client = signed_in(app, people["land"])
    ledger = text(client.get("/service/requests/"))
    assert "新增工业用地50亩" in ledger and "隐藏的融资诉求" not in ledger and "未转办的诉求" not in ledger
    policy_page = text(client.get("/policy/"))
    assert "保障用地50亩" in policy_page and "隐藏的贴息" not in policy_page
    assert "保障用地50亩" in text(client.get("/policy/?q=联络测试用地"))


def test_other_departments_records_read_like_ids_never_used(app, world):
    people, _, _, records = world
    client = signed_in(app, people["land"])
    for url, hidden in (("/service/requests/{}", records["theirs"].id),
                        ("/service/requests/{}", records["unrouted"].id), ("/policy/{}", records["their delivery"].id)):
        there, never = client.get(url.format(hidden)), client.get(url.format(MISSING))
        assert there.status_code == 404 and error_words(there) == error_words(never)
        assert "隐藏" not in there.get_data(as_text=True)
    moved = client.post(f"/service/requests/{records['theirs'].id}/transition", data={"to": "accepted"})
    assert moved.status_code == 404
    assert db.session.get(ServiceRequest, records["theirs"].id).status is RequestStatus.RAISED


@pytest.mark.parametrize("url", [
    "/enterprises/", "/enterprises/{firm}", "/enterprises/{other}", "/enterprises/{firm}/edit", "/rosters/",
    "/assignments/", "/service/", "/service/interactions/{visit}", "/service/requests/new?enterprise_id={firm}",
    "/policy/new?enterprise_id={firm}", "/meetings/", "/calendar/", "/calendar/home", "/partners/", "/dashboard/",
    "/dashboard/service/", "/reference/parks", "/admin/holidays/",
])
def test_everything_else_of_the_enterprises_is_refused(app, world, url):
    people, firm, other, records = world
    client = signed_in(app, people["land"])
    response = client.get(url.format(firm=firm.id, other=other.id, visit=records["visit"].id))
    assert response.status_code == 403, url
    assert "部门联络员只能查看和办理转办至本单位的诉求与政策兑现" in text(response)
    assert firm.name not in text(response)


def test_the_request_page_shows_the_enterprise_name_and_contact_but_no_link(app, world):
    people, firm, _, records = world
    client = signed_in(app, people["land"])
    page = client.get(f"/service/requests/{records['ours'].id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and firm.name in html and "王经理" in html and "0851-28881234" in html
    assert f"/enterprises/{firm.id}" not in html
    assert "data-route-form" not in html  # a liaison does not route
    policy_page = client.get(f"/policy/{records['our delivery'].id}").get_data(as_text=True)
    assert firm.name in policy_page and f"/enterprises/{firm.id}" not in policy_page and "王经理" in policy_page
    assert 'id="cancel-form"' not in policy_page and 'id="edit-form"' not in policy_page
    assert 'id="deliver-form"' in policy_page and 'id="route-form"' not in policy_page


def test_a_liaison_moves_a_routed_request_but_leaves_the_closing_to_its_owner(app, world):
    people, _, _, records = world
    req_id = records["ours"].id
    client = signed_in(app, people["land"])
    for to in ("accepted", "in_progress", "resolved"):
        version = db.session.get(ServiceRequest, req_id).version
        moved = client.post(f"/service/requests/{req_id}/transition",
                            data={"to": to, "note": "已核实", "version": str(version)})
        assert moved.status_code == 303, to
        db.session.expire_all()
    assert db.session.get(ServiceRequest, req_id).status is RequestStatus.RESOLVED
    page = client.get(f"/service/requests/{req_id}").get_data(as_text=True)
    assert "data-transition-form" not in page  # the 回访 is the owner's
    version = db.session.get(ServiceRequest, req_id).version
    refused = client.post(f"/service/requests/{req_id}/transition",
                          data={"to": "closed", "note": "回访", "satisfaction": "5", "version": str(version)})
    assert refused.status_code == 303  # a button: the refusal is flashed on the record's page
    assert LIAISON_MOVE_REFUSED in client.get(refused.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ServiceRequest, req_id).status is RequestStatus.RESOLVED


def test_a_liaison_records_a_delivery_on_the_page(app, world):
    people, _, _, records = world
    delivery_id = records["our delivery"].id
    client = signed_in(app, people["land"])
    version = db.session.get(PolicyDelivery, delivery_id).version
    done = client.post(f"/policy/{delivery_id}", data={
        "deliver-delivered_date": TODAY.isoformat(), "deliver-evidence": "遵自然资〔2026〕12号",
        "deliver-version": str(version), "deliver-submit": "标记已兑现"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(PolicyDelivery, delivery_id).status is DeliveryStatus.DELIVERED
    version = db.session.get(PolicyDelivery, delivery_id).version
    cancel = client.post(f"/policy/{delivery_id}", data={
        "cancel-reason": "不办了", "cancel-version": str(version), "cancel-submit": "取消该项兑现"})
    assert cancel.status_code == 403
    db.session.expire_all()
    assert db.session.get(PolicyDelivery, delivery_id).status is DeliveryStatus.DELIVERED


def test_a_coordinator_re_routes_from_the_page_and_visibility_moves(app, world):
    people, _, _, records = world
    req_id = records["ours"].id
    coordinator = signed_in(app, people["coordinator"])
    page = coordinator.get(f"/service/requests/{req_id}").get_data(as_text=True)
    assert "data-route-form" in page and "改派" in page
    routed = coordinator.post(f"/service/requests/{req_id}/route", data={"department": INDUSTRY, "note": "属工信职能"})
    assert routed.status_code == 303
    assert f"诉求已由{LAND}改派至{INDUSTRY}" in text(coordinator.get(f"/service/requests/{req_id}"))
    assert signed_in(app, people["land"]).get(f"/service/requests/{req_id}").status_code == 404
    gained = signed_in(app, people["industry"]).get(f"/service/requests/{req_id}")
    assert gained.status_code == 200 and f"由{LAND}改派至{INDUSTRY}:属工信职能" in text(gained)
    [row] = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "service_request",
                                                         AuditLog.entity_id == req_id, AuditLog.action == "route"))
    assert row.changes["department"] == [LAND, INDUSTRY]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == people["industry"].id, Notification.kind == "request_routed")) == 1
    # the delivery likewise
    delivery_id = records["our delivery"].id
    assert coordinator.post(f"/policy/{delivery_id}/route", data={"department": INDUSTRY}).status_code == 303
    assert signed_in(app, people["land"]).get(f"/policy/{delivery_id}").status_code == 404
    assert signed_in(app, people["industry"]).get(f"/policy/{delivery_id}").status_code == 200


def test_bad_route_input_is_shown_next_to_its_field_and_nothing_is_saved(app, world):
    people, _, _, records = world
    req_id = records["ours"].id
    coordinator = signed_in(app, people["coordinator"])
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    for data, words in (({"department": "市不存在局"}, "未知责任单位:市不存在局"),
                        ({"department": ""}, "请选择转办的责任单位"),
                        ({"department": INDUSTRY, "note": "长" * 2001}, "转办说明最长2000个字符")):
        refused = coordinator.post(f"/service/requests/{req_id}/route", data=data)
        assert refused.status_code == 422 and words in text(refused)
        refused = coordinator.post(f"/policy/{records['our delivery'].id}/route", data=data)
        assert refused.status_code == 422 and words in text(refused)
    db.session.expire_all()
    assert db.session.get(ServiceRequest, req_id).department.name == LAND
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before


def test_who_may_not_route_is_refused(app, world):
    people, _, other, records = world
    for who, record, status in (("commissioner", "ours", 403), ("land", "ours", 403),
                                ("county coordinator", "theirs", 404)):
        client = signed_in(app, people[who])
        response = client.post(f"/service/requests/{records[record].id}/route", data={"department": INDUSTRY})
        assert response.status_code == status, who
    db.session.expire_all()
    assert db.session.get(ServiceRequest, records["ours"].id).department.name == LAND


def test_the_ledgers_filter_and_count_per_department(app, world):
    people, _, _, records = world
    client = signed_in(app, people["coordinator"])
    ledger = client.get("/service/requests/")
    html = ledger.get_data(as_text=True)
    assert "按责任单位统计" in html
    row = re.search(rf'<tr data-department="{LAND}">(.*?)</tr>', html, re.S).group(1)
    assert 'data-overdue-count="1"' in row
    only = text(client.get("/service/requests/", query_string={"department": LAND}))
    assert "新增工业用地50亩" in only and "隐藏的融资诉求" not in only and "未转办的诉求" not in only
    bad = client.get("/service/requests/", query_string={"department": "市不存在局"})
    assert bad.status_code == 400 and "未知责任单位:市不存在局" in text(bad)
    policy_page = client.get("/policy/", query_string={"department": INDUSTRY})
    assert "隐藏的贴息" in text(policy_page) and "保障用地50亩" not in text(policy_page)
    assert "按责任单位统计" in policy_page.get_data(as_text=True)
