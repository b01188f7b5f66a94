"""A department liaison officer on a phone: signs in, lands on their department's ledger (overdue first), opens a
诉求 routed to them, takes it on and starts handling it; the enterprise's 一企一档 stays closed to them. Strict CSP,
CSRF on."""

from __future__ import annotations

from datetime import timedelta

from crm.core.time import local_today
from crm.enterprises.domain import add_contact
from crm.extensions import db
from crm.reference.models import Department, by_name
from crm.service.models import RequestStatus, ServiceRequest
from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import assign, make_enterprise, make_user


def test_a_liaison_moves_a_routed_request_on_a_phone(site, browser):
    def setup():
        today = local_today()
        firm = make_enterprise("遵义联络员用地测试有限公司")
        add_contact(None, firm, {"name": "李经理", "post": "办公室主任", "phone": "0851-28886666"})
        commissioner = make_user("commissioner", username="l_commissioner", specialties=["tech"])
        assign(firm, commissioner)
        make_user("liaison", username="l_liaison", department="市自然资源局")
        land, other = by_name(Department, "市自然资源局"), by_name(Department, "市工业和科学技术局")
        late = ServiceRequest(enterprise=firm, category="用地", description="新增工业用地50亩,请协调用地指标",
                              owner=commissioner, raised_on=today - timedelta(days=15),
                              due_date=today - timedelta(days=2), status=RequestStatus.RAISED, department=land)
        soon = ServiceRequest(enterprise=firm, category="用地", description="厂区道路规划许可",
                              owner=commissioner, raised_on=today, due_date=today + timedelta(days=8),
                              status=RequestStatus.RAISED, department=land)
        hidden = ServiceRequest(enterprise=firm, category="融资服务", description="别的单位的诉求",
                                owner=commissioner, raised_on=today, due_date=today + timedelta(days=8),
                                status=RequestStatus.RAISED, department=other)
        db.session.add_all([late, soon, hidden])
        db.session.flush()
        return firm.id, late.id, soon.id

    firm_id, late_id, soon_id = site.run(setup)
    page, problems = open_page(browser, phone=True)
    sign_in(page, site, "l_liaison")
    assert page.url.endswith("/service/department")
    rows = page.locator("[data-department-requests] [data-request]")
    assert rows.count() == 2 and rows.first.get_attribute("data-request") == str(late_id)  # overdue first
    assert "别的单位的诉求" not in page.content()
    assert no_horizontal_scroll(page)
    shot(page, "liaison-1-department-phone")

    rows.first.locator("a").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/service/requests/{late_id}")
    assert "遵义联络员用地测试有限公司" in page.inner_text("main") and "0851-28886666" in page.inner_text("main")
    assert page.locator(f'main a[href="/enterprises/{firm_id}"]').count() == 0
    assert no_horizontal_scroll(page)
    shot(page, "liaison-2-request-phone")

    page.fill("main form[data-transition-form] textarea[name=note]", "已受理,三个工作日内现场踏勘")
    page.click("main form[data-transition-form] [type=submit]")
    page.wait_for_url(f"**/service/requests/{late_id}")
    page.wait_for_selector('[data-status="accepted"]')
    assert "诉求已受理" in page.inner_text("main")
    page.click("main form[data-transition-form] [type=submit]")  # the one next step: 开始办理
    page.wait_for_selector('[data-status="in_progress"]')
    assert no_horizontal_scroll(page)
    shot(page, "liaison-3-moved-phone")
    status = site.run(lambda: db.session.get(ServiceRequest, late_id).status)
    assert status is RequestStatus.IN_PROGRESS

    assert not problems, problems

    refused = page.goto(f"{site.url}/enterprises/{firm_id}")  # the 一企一档 stays closed to them
    assert refused.status == 403 and "部门联络员只能查看和办理转办至本单位的诉求与政策兑现" in page.content()
