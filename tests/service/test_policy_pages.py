"""政策兑现 pages: the list (filters, late flags, totals), create, edit, mark delivered, cancel with a reason, put
back to promised; per-record access (another commissioner's record is 404, a leader's write 403) and the stale
version message.

Test data is committed before requests (a refused change rolls the request's session back, and must not take
the test's setup with it); the conftest's outer transaction still rolls everything back after each test.
The blueprint is registered here when the app factory does not register it yet.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.core.audit import AuditLog
from crm.core.time import local_today
from crm.extensions import db
from crm.service import policy
from crm.service.models import DeliveryStatus, PolicyDelivery
from tests.conftest import assign, login, make_enterprise, make_user

TODAY = local_today()  # set again as each test starts: the live_today fixture
pytestmark = pytest.mark.usefixtures("live_today")


def register_policy_pages(app: Flask) -> None:
    """The 政策兑现 blueprint, unless the app factory registers it already."""
    from crm.service.policy_views import bp

    if "policy" not in app.blueprints:
        app._got_first_request = False  # the session's app has served requests; registering is still safe here
        app.register_blueprint(bp)


@pytest.fixture(autouse=True)
def _policy_pages(app):
    register_policy_pages(app)


# --- helpers -------------------------------------------------------------------------------------------------

def page_text(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html_lib.unescape(body))


def listed_ids(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-delivery="(\d+)"', response.get_data(as_text=True))]


def row_html(response, delivery_id: int) -> str:
    html = response.get_data(as_text=True)
    start = html.index(f'<tr data-delivery="{delivery_id}"')
    return html[start:html.index("</tr>", start)]


def field_errors(response, field_id: str) -> str:
    """The invalid-feedback text right after one field."""
    html = response.get_data(as_text=True)
    anchor = html.index(f'id="{field_id}"')
    end = html.find('<div class="mb-3">', anchor)
    block = html[anchor:end if end != -1 else None]
    return " ".join(html_lib.unescape(m) for m in re.findall(r'class="invalid-feedback[^"]*">([^<]+)<', block))


def make_delivery(enterprise, **overrides) -> PolicyDelivery:
    data = {"kind": "用地", "promised": "新增工业用地50亩,优先保障", "amount": "120.5",
            "promised_date": (TODAY + timedelta(days=30)).isoformat()}
    data.update(overrides)
    return policy.create_delivery(None, enterprise, data)


def fresh(delivery: PolicyDelivery) -> PolicyDelivery:
    db.session.expire_all()
    return db.session.get(PolicyDelivery, delivery.id)


def audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.entity_type == "policy_delivery"))


@pytest.fixture
def enterprise():
    return make_enterprise("遵义兑现页面测试机械有限公司", county="汇川区")


@pytest.fixture
def coordinator(client):
    user = make_user("coordinator")
    db.session.commit()
    login(client, user)
    return user


# --- create --------------------------------------------------------------------------------------------------

def test_create_from_the_enterprise(client, enterprise, coordinator):
    owner = make_user("commissioner", specialties=["finance"], username="policy-owner")
    assign(enterprise, owner, "finance")
    db.session.commit()
    page = client.get(f"/policy/new?enterprise_id={enterprise.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert enterprise.name in page_text(page) and 'value="policy-owner"' in html and 'value="融资"' in html
    response = client.post(f"/policy/new?enterprise_id={enterprise.id}", data={
        "kind": "融资", "promised": "技改项目贷款贴息(演示)", "amount": "300.5",
        "promised_date": (TODAY + timedelta(days=20)).isoformat(), "owner": "policy-owner",
        "department": "市财政局", "evidence": ""})
    assert response.status_code == 302
    delivery = db.session.scalar(sa.select(PolicyDelivery).where(PolicyDelivery.enterprise_id == enterprise.id))
    assert response.headers["Location"].endswith(f"/policy/{delivery.id}")
    assert delivery.status is DeliveryStatus.PROMISED and delivery.amount == Decimal("300.50")
    assert delivery.owner.username == "policy-owner" and delivery.department.name == "市财政局"
    assert delivery.created_by_id == coordinator.id
    detail = client.get(response.headers["Location"])
    text = page_text(detail)
    assert "已登记政策兑现(融资)" in text and "技改项目贷款贴息" in text and "300.5 万元" in text
    assert "待兑现" in text and "登记政策兑现(融资)" in text  # the record's history


def test_create_with_a_delivered_date_is_delivered(client, enterprise, coordinator):
    response = client.post(f"/policy/new?enterprise_id={enterprise.id}", data={
        "kind": "用电", "promised": "电费补贴", "amount": "12",
        "promised_date": (TODAY - timedelta(days=30)).isoformat(),
        "delivered_date": (TODAY - timedelta(days=10)).isoformat(), "evidence": "遵工信发〔2026〕12号"})
    assert response.status_code == 302
    delivery = db.session.scalar(sa.select(PolicyDelivery).where(PolicyDelivery.enterprise_id == enterprise.id))
    assert delivery.status is DeliveryStatus.DELIVERED
    assert policy.is_late(delivery)


def test_create_errors_are_shown_next_to_their_fields(client, enterprise, coordinator):
    before = audit_count()
    response = client.post(f"/policy/new?enterprise_id={enterprise.id}", data={
        "kind": "", "promised": " ", "amount": "-3", "promised_date": "2026-02-30",
        "delivered_date": (TODAY + timedelta(days=3)).isoformat()})
    assert response.status_code == 422
    assert "请选择政策类别" in field_errors(response, "kind")
    assert "请填写承诺内容" in field_errors(response, "promised")
    assert "金额不能为负数" in field_errors(response, "amount")
    assert "格式应为" in field_errors(response, "promised_date")
    assert "不能晚于今天" in field_errors(response, "delivered_date")
    assert "政策兑现信息有误" in page_text(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PolicyDelivery)) == 0
    assert audit_count() == before
    # an unknown kind names the allowed ones
    response = client.post(f"/policy/new?enterprise_id={enterprise.id}", data={
        "kind": "补贴", "promised": "x", "promised_date": TODAY.isoformat()})
    assert response.status_code == 422 and "可选:税收、用地" in field_errors(response, "kind")


def test_new_without_an_enterprise_offers_a_choice(client, enterprise, coordinator):
    response = client.get("/policy/new")
    assert response.status_code == 200
    assert f'value="{enterprise.id}"' in response.get_data(as_text=True)
    assert client.get("/policy/new?enterprise_id=abc").status_code == 404
    assert client.get("/policy/new?enterprise_id=99999999").status_code == 404


# --- one record: deliver, cancel, reopen, edit ---------------------------------------------------------------

def test_mark_delivered_late_shows_the_flag(client, enterprise, coordinator):
    delivery = make_delivery(enterprise, promised_date=(TODAY - timedelta(days=20)).isoformat())
    db.session.commit()
    page = client.get(f"/policy/{delivery.id}")
    assert page.status_code == 200 and "逾期未兑现" in page_text(page)
    response = client.post(f"/policy/{delivery.id}", data={
        "deliver-delivered_date": (TODAY - timedelta(days=2)).isoformat(), "deliver-evidence": "土地出让合同已签订",
        "deliver-version": str(delivery.version), "deliver-submit": "标记已兑现"})
    assert response.status_code == 302
    delivery = fresh(delivery)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.delivered_date == TODAY - timedelta(days=2) and delivery.evidence == "土地出让合同已签订"
    text = page_text(client.get(f"/policy/{delivery.id}"))
    assert "已标记为已兑现" in text and "逾期兑现" in text
    assert "已兑现" in text and "待兑现 → 已兑现" in text  # the history in Chinese


def test_mark_delivered_needs_a_date(client, enterprise, coordinator):
    delivery = make_delivery(enterprise)
    db.session.commit()
    response = client.post(f"/policy/{delivery.id}", data={
        "deliver-delivered_date": "", "deliver-evidence": "", "deliver-version": str(delivery.version),
        "deliver-submit": "标记已兑现"})
    assert response.status_code == 422
    assert "须填写兑现日期" in field_errors(response, "deliver-delivered_date")
    assert fresh(delivery).status is DeliveryStatus.PROMISED


def test_cancel_needs_a_reason(client, enterprise, coordinator):
    delivery = make_delivery(enterprise)
    db.session.commit()
    before = audit_count()
    response = client.post(f"/policy/{delivery.id}", data={
        "cancel-reason": "  ", "cancel-version": str(delivery.version), "cancel-submit": "取消该项兑现"})
    assert response.status_code == 422
    assert "请填写取消原因" in field_errors(response, "cancel-reason")
    assert fresh(delivery).status is DeliveryStatus.PROMISED and audit_count() == before
    response = client.post(f"/policy/{delivery.id}", data={
        "cancel-reason": "企业项目终止,不再申请用地", "cancel-version": str(delivery.version),
        "cancel-submit": "取消该项兑现"}, follow_redirects=True)
    assert "已取消该项政策兑现" in page_text(response)
    delivery = fresh(delivery)
    assert delivery.status is DeliveryStatus.CANCELLED and "企业项目终止" in delivery.evidence
    # a cancelled record can be taken up again
    response = client.post(f"/policy/{delivery.id}", data={
        "reopen-version": str(delivery.version), "reopen-submit": "改回待兑现"})
    assert response.status_code == 302 and fresh(delivery).status is DeliveryStatus.PROMISED


def test_edit_saves_and_a_stale_version_is_refused(client, enterprise, coordinator):
    delivery = make_delivery(enterprise)
    db.session.commit()
    seen = delivery.version
    html = client.get(f"/policy/{delivery.id}").get_data(as_text=True)
    assert f'id="edit-version" name="edit-version" type="hidden" value="{seen}"' in html
    form = {"edit-kind": "用地", "edit-promised": "新增工业用地60亩", "edit-amount": "150",
            "edit-promised_date": delivery.promised_date.isoformat(), "edit-evidence": "", "edit-owner": "",
            "edit-department": "市自然资源局", "edit-version": str(seen), "edit-submit": "保存修改"}
    response = client.post(f"/policy/{delivery.id}", data=form)
    assert response.status_code == 302
    delivery = fresh(delivery)
    assert delivery.amount == Decimal("150.00") and delivery.promised == "新增工业用地60亩"
    assert delivery.department.name == "市自然资源局"
    # someone else saved meanwhile: the old version is refused, nothing written
    before = audit_count()
    response = client.post(f"/policy/{delivery.id}", data={**form, "edit-amount": "999"})
    assert response.status_code == 409
    assert "已被他人修改" in page_text(response)
    assert fresh(delivery).amount == Decimal("150.00") and audit_count() == before


def test_a_delivered_record_can_be_put_back(client, enterprise, coordinator):
    delivery = make_delivery(enterprise, delivered_date=TODAY.isoformat(), evidence="到账凭证")
    db.session.commit()
    html = client.get(f"/policy/{delivery.id}").get_data(as_text=True)
    assert "deliver-submit" not in html and "cancel-submit" not in html and "reopen-submit" in html
    response = client.post(f"/policy/{delivery.id}", data={
        "reopen-version": str(delivery.version), "reopen-submit": "改回待兑现"}, follow_redirects=True)
    assert "已改回待兑现" in page_text(response)
    delivery = fresh(delivery)
    assert delivery.status is DeliveryStatus.PROMISED and delivery.delivered_date is None


def test_a_post_without_a_known_button_changes_nothing(client, enterprise, coordinator):
    delivery = make_delivery(enterprise)
    db.session.commit()
    response = client.post(f"/policy/{delivery.id}", data={"whatever": "1"})
    assert response.status_code == 302 and fresh(delivery).version == delivery.version


# --- the list ------------------------------------------------------------------------------------------------

@pytest.fixture
def catalogue(enterprise):
    other = make_enterprise("遵义兑现列表乙化工有限公司", county="桐梓县", cluster="现代化工")
    rows = {
        "late": make_delivery(enterprise, promised_date=(TODAY - timedelta(days=5)).isoformat(), amount="100"),
        "future": make_delivery(enterprise, kind="税收", promised_date=(TODAY + timedelta(days=5)).isoformat(),
                                amount="50.25"),
        "late_delivered": make_delivery(other, kind="引才", promised_date=(TODAY - timedelta(days=40)).isoformat(),
                                        delivered_date=(TODAY - timedelta(days=10)).isoformat(), amount="30"),
        "on_time": make_delivery(other, kind="融资", promised_date=(TODAY - timedelta(days=40)).isoformat(),
                                 delivered_date=(TODAY - timedelta(days=45)).isoformat(), amount="2000"),
        "cancelled": make_delivery(other, kind="用电", amount="7"),
    }
    policy.update_delivery(None, rows["cancelled"], {"status": "cancelled", "evidence": "企业放弃"})
    db.session.commit()
    return enterprise, other, rows


def test_list_flags_late_ones_and_totals(client, catalogue, coordinator):
    _, _, rows = catalogue
    response = client.get("/policy/")
    assert response.status_code == 200
    assert set(listed_ids(response)) == {d.id for d in rows.values()}
    assert "逾期" in row_html(response, rows["late"].id) and "table-danger" in row_html(response, rows["late"].id)
    assert "逾期兑现" in row_html(response, rows["late_delivered"].id)
    for name in ("future", "on_time", "cancelled"):
        assert "逾期" not in row_html(response, rows[name].id), name
    text = page_text(response)
    assert "共 5 项" in text
    assert "承诺金额 2,180.25 万元" in text  # the cancelled one left out
    assert "已兑现 2,030 万元" in text and "逾期 2 项" in text


def test_list_filters(client, catalogue, coordinator):
    enterprise, other, rows = catalogue
    assert set(listed_ids(client.get("/policy/?late=1"))) == {rows["late"].id, rows["late_delivered"].id}
    assert set(listed_ids(client.get("/policy/?late=0"))) == {rows["future"].id, rows["on_time"].id,
                                                             rows["cancelled"].id}
    assert listed_ids(client.get("/policy/?kind=税收")) == [rows["future"].id]
    assert set(listed_ids(client.get("/policy/?status=delivered"))) == {rows["late_delivered"].id,
                                                                       rows["on_time"].id}
    response = client.get("/policy/?county=桐梓县")
    assert set(listed_ids(response)) == {rows[n].id for n in ("late_delivered", "on_time", "cancelled")}
    assert "共 3 项" in page_text(response) and "承诺金额 2,030 万元" in page_text(response)  # totals follow
    assert set(listed_ids(client.get("/policy/?q=兑现列表乙"))) == {rows[n].id for n in
                                                                  ("late_delivered", "on_time", "cancelled")}
    response = client.get(f"/policy/?enterprise_id={enterprise.id}")
    assert set(listed_ids(response)) == {rows["late"].id, rows["future"].id}
    assert f"只显示 {enterprise.name} 的政策兑现" in page_text(response)
    response = client.get("/policy/?kind=补贴&late=maybe")
    assert response.status_code == 400
    assert "未知政策类别" in page_text(response) and "逾期筛选" in page_text(response)
    assert len(listed_ids(response)) == 5


# --- access --------------------------------------------------------------------------------------------------

def test_commissioner_sees_only_their_enterprises(client, catalogue):
    enterprise, other, rows = catalogue
    a = make_user("commissioner", specialties=["tech"])
    b = make_user("commissioner", specialties=["tech"])
    assign(enterprise, a)
    assign(other, b)
    db.session.commit()
    login(client, a)
    listing = client.get("/policy/")
    assert set(listed_ids(listing)) == {rows["late"].id, rows["future"].id}
    assert "共 2 项" in page_text(listing) and "承诺金额 150.25 万元" in page_text(listing)
    assert client.get(f"/policy/{rows['late'].id}").status_code == 200
    # B's enterprise, addressed by id: not found, and nothing changes
    target = rows["on_time"]
    before = audit_count()
    assert client.get(f"/policy/{target.id}").status_code == 404
    response = client.post(f"/policy/{target.id}", data={
        "cancel-reason": "越权取消", "cancel-version": str(target.version), "cancel-submit": "取消该项兑现"})
    assert response.status_code == 404
    assert client.get(f"/policy/new?enterprise_id={other.id}").status_code == 404
    response = client.post(f"/policy/new?enterprise_id={other.id}", data={
        "kind": "用地", "promised": "越权登记", "promised_date": TODAY.isoformat()})
    assert response.status_code == 404
    assert fresh(target).status is DeliveryStatus.DELIVERED and audit_count() == before
    assert client.get(f"/policy/?enterprise_id={other.id}").get_data(as_text=True).count(other.name) == 0
    # their own enterprise: they record, with themselves as the default owner
    page = client.get(f"/policy/new?enterprise_id={enterprise.id}").get_data(as_text=True)
    assert re.search(rf'<option selected value="{a.username}"|<option value="{a.username}" selected', page)


def test_leader_reads_and_changes_nothing(client, catalogue):
    enterprise, _, rows = catalogue
    leader = make_user("leader")
    db.session.commit()
    login(client, leader)
    listing = client.get("/policy/")
    assert len(listed_ids(listing)) == 5 and "登记政策兑现" not in page_text(listing)
    target = rows["late"]
    page = client.get(f"/policy/{target.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'method="post"' not in html.split("<main", 1)[1] and "逾期未兑现" in page_text(page)
    before = audit_count()
    for data in ({"deliver-delivered_date": TODAY.isoformat(), "deliver-version": str(target.version),
                  "deliver-submit": "标记已兑现"},
                 {"cancel-reason": "领导取消", "cancel-version": str(target.version), "cancel-submit": "取消"},
                 {"edit-kind": "税收", "edit-promised": "x", "edit-promised_date": TODAY.isoformat(),
                  "edit-version": str(target.version), "edit-submit": "保存修改"}):
        response = client.post(f"/policy/{target.id}", data=data)
        assert response.status_code == 403
        assert "您没有权限" in page_text(response)
    assert client.get("/policy/new").status_code == 403
    assert client.get(f"/policy/new?enterprise_id={enterprise.id}").status_code == 403
    assert client.post(f"/policy/new?enterprise_id={enterprise.id}", data={
        "kind": "用地", "promised": "领导登记", "promised_date": TODAY.isoformat()}).status_code == 403
    assert fresh(target).status is DeliveryStatus.PROMISED and audit_count() == before


def test_unknown_records_are_404(client, coordinator):
    assert client.get("/policy/99999999").status_code == 404
    assert client.get("/policy/99999999999").status_code == 404


def test_forms_need_the_csrf_token(client, enterprise, coordinator, app, monkeypatch):
    delivery = make_delivery(enterprise)
    db.session.commit()
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = client.post(f"/policy/{delivery.id}", data={
        "cancel-reason": "没有令牌", "cancel-version": str(delivery.version), "cancel-submit": "取消该项兑现"})
    assert response.status_code == 400 and "表单已过期" in page_text(response)
    assert fresh(delivery).status is DeliveryStatus.PROMISED


def test_pages_have_no_inline_script_or_style(client, catalogue, coordinator):
    enterprise, _, rows = catalogue
    for url in ("/policy/", "/policy/?late=1", "/policy/new", f"/policy/new?enterprise_id={enterprise.id}",
                f"/policy/{rows['late'].id}", f"/policy/{rows['on_time'].id}"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=", html), url
        assert not re.search(r"\son[a-z]+=", html), url
        assert 'name="viewport"' in html


def test_an_enterprise_id_of_thousands_of_digits_is_refused_not_crashed(client, coordinator):
    huge = "9" * 4400  # int() refuses more than 4300 digits: it was a 500
    assert client.get(f"/policy/?enterprise_id={huge}").status_code in (200, 400)
    assert client.get(f"/policy/new?enterprise_id={huge}").status_code in (400, 404)
