"""The commissioners' daily pages: the workspace (我的企业), logging and correcting 服务记录, 诉求 from raising to
closure, the ledger and its export; per-record access, stale versions, CSRF, phone readiness, query count.

Test data is committed before requests (a refused change rolls the request's session back and must not take
the test's setup with it); the outer transaction still rolls everything back after each test.
"""

from __future__ import annotations

import html as html_lib
import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.core.time import format_local, local_today
from crm.extensions import db
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from crm.service.ledger import COLUMNS, XLSX_MIMETYPE
from crm.service.models import Interaction, RequestEvent, RequestStatus, ServiceRequest
from tests.conftest import assign, csrf_token_from, login, make_enterprise, make_user

S = RequestStatus
STALE = "该记录已被他人修改,请刷新后重试"


# --- helpers -------------------------------------------------------------------------------------------------

def page_text(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html_lib.unescape(body))


def html_of(response) -> str:
    return response.get_data(as_text=True)


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def input_value(html: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', html)
    assert match, name
    return match.group(1)


def checked(html: str, name: str) -> list[str]:
    return re.findall(rf'<input[^>]*\bchecked\b[^>]*name="{name}"[^>]*value="([^"]*)"', html)


def offered(html: str, name: str) -> list[str]:
    return re.findall(rf'<input[^>]*name="{name}" type="radio" value="([^"]*)"', html)


def workspace_rows(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-enterprise="(\d+)"', html_of(response))]


def workspace_cards(response) -> list[int]:
    return [int(i) for i in re.findall(r'data-card="(\d+)"', html_of(response))]


def ledger_rows(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-request="(\d+)"', html_of(response))]


def row_html(response, enterprise_id: int) -> str:
    html = html_of(response)
    start = html.index(f'<tr data-enterprise="{enterprise_id}"')
    return html[start:html.index("</tr>", start)]


def fresh(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def visit(**overrides) -> dict[str, str]:
    data = {"date": local_today().isoformat(), "channel": "visit", "specialty": "tech",
            "participants": "总经理王某", "summary": "走访企业,了解技改项目进展", "next_follow_up": ""}
    data.update(overrides)
    return data


def log(actor, enterprise, days_ago: int = 0, follow_up_in: int | None = None, specialty: str = "tech"):
    today = local_today()
    day = today - timedelta(days=days_ago)
    data = {"date": day.isoformat(), "channel": "call", "specialty": specialty, "summary": f"电话联系 {days_ago}",
            "next_follow_up": (day + timedelta(days=follow_up_in)).isoformat() if follow_up_in is not None else ""}
    return interaction_domain.log_interaction(actor, enterprise, data, today=today)


def raise_req(actor, enterprise, *, raised_ago: int = 2, due_in: int | None = 10, category: str = "融资服务",
              **extra):
    today = local_today()
    data = {"category": category, "description": f"企业诉求:{category}", "raised_on":
            (today - timedelta(days=raised_ago)).isoformat(),
            "due_date": (today + timedelta(days=due_in)).isoformat() if due_in is not None else None, **extra}
    return request_domain.raise_request(actor, enterprise, data, today=today)


def no_inline_code(response) -> None:
    html = html_of(response)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert "style=" not in html
    assert not re.search(r"\son[a-z]+=", html)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


@pytest.fixture
def world():
    """Commissioner A (科技) on ``ea``, commissioner B (融资) on ``eb``; both on ``shared`` (A 科技, B 融资)."""
    a = make_user("commissioner", username="page-a", specialties=["tech"])
    b = make_user("commissioner", username="page-b", specialties=["finance"])
    ea = make_enterprise("遵义甲精密机械有限公司", county="汇川区")
    eb = make_enterprise("遵义乙新材料有限公司", county="桐梓县")
    shared = make_enterprise("遵义丙电子有限公司", county="汇川区")
    assign(ea, a, "tech")
    assign(eb, b, "finance")
    assign(shared, a, "tech")
    assign(shared, b, "finance")
    coordinator = make_user("coordinator", username="page-coord")
    leader = make_user("leader", username="page-leader")
    db.session.commit()
    return {"a": a, "b": b, "ea": ea, "eb": eb, "shared": shared, "coordinator": coordinator, "leader": leader}


# --- the workspace and logging a visit -----------------------------------------------------------------------

def test_a_commissioner_logs_a_visit_from_the_workspace(client, world):
    a, ea = world["a"], world["ea"]
    login(client, a)
    page = client.get("/service/")
    assert page.status_code == 200
    assert set(workspace_rows(page)) == {ea.id, world["shared"].id}  # B's enterprise is not there
    assert set(workspace_cards(page)) == {ea.id, world["shared"].id}  # the phone's cards
    assert "从未联系" in page_text(page)
    link = re.search(rf'href="([^"]+)" data-log="{ea.id}"', html_of(page)).group(1)
    link = html_lib.unescape(link)
    assert f"enterprise_id={ea.id}" in link and "specialty=tech" in link

    form = client.get(link)
    assert form.status_code == 200
    html = html_of(form)
    assert ea.name in page_text(form)
    assert input_value(html, "date") == local_today().isoformat()
    assert checked(html, "channel") == ["visit"] and checked(html, "specialty") == ["tech"]
    assert offered(html, "specialty") == ["tech"]  # a commissioner logs only their own specialty
    assert set(offered(html, "channel")) == {"visit", "call", "online", "meeting"}

    response = client.post(link, data=visit(next_follow_up=(local_today() + timedelta(days=14)).isoformat()))
    assert response.status_code == 302 and response.headers["Location"].endswith("/service/")
    [saved] = db.session.scalars(sa.select(Interaction).where(Interaction.enterprise_id == ea.id))
    assert saved.created_by_id == a.id and saved.occurred_on == local_today()
    assert saved.next_follow_up == local_today() + timedelta(days=14)

    page = client.get("/service/")
    assert "已记录“遵义甲精密机械有限公司”的走访" in page_text(page)
    row = row_html(page, ea.id)
    assert f'data-last-contact="{local_today().isoformat()}"' in row and "今天" in row


def test_the_log_page_is_ready_for_a_phone(client, world):
    login(client, world["a"])
    response = client.get(f"/service/interactions/new?enterprise_id={world['ea'].id}")
    html = html_of(response)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    no_inline_code(response)
    assert "btn-lg" in html and "form-control-lg" in html  # large touch targets
    assert "js/service.js" in html and "css/service.css" in html
    assert client.get("/static/js/service.js").status_code == 200
    assert client.get("/static/css/service.css").status_code == 200
    for url in ("/service/", "/service/requests/", f"/service/requests/new?enterprise_id={world['ea'].id}"):
        no_inline_code(client.get(url))


def test_an_interaction_and_a_request_in_one_submit(client, world):
    a, ea = world["a"], world["ea"]
    login(client, a)
    url = f"/service/interactions/new?enterprise_id={ea.id}"
    response = client.post(url, data=visit(also_request="y", request_category="融资服务",
                                           request_description="企业需要技改贷款贴息"))
    assert response.status_code == 302
    [interaction] = db.session.scalars(sa.select(Interaction).where(Interaction.enterprise_id == ea.id))
    [req] = db.session.scalars(sa.select(ServiceRequest).where(ServiceRequest.enterprise_id == ea.id))
    assert req.interaction_id == interaction.id and req.owner_id == a.id and req.status is S.RAISED
    assert req.category.value == "融资服务"
    text = page_text(client.get("/service/"))
    assert f"已登记诉求,办理时限 {req.due_date.isoformat()}" in text and "工作日" in text


@pytest.mark.parametrize(("request_fields", "words"), [
    ({"request_category": "看病", "request_description": "企业需要看病"}, "未知诉求类别"),
    ({"request_category": "融资服务", "request_description": "字" * 4001}, "4000"),
])
def test_a_bad_request_field_saves_neither(client, world, request_fields, words):
    ea = world["ea"]
    login(client, world["a"])
    response = client.post(f"/service/interactions/new?enterprise_id={ea.id}",
                           data=visit(also_request="y", **request_fields))
    assert response.status_code == 422
    assert words in page_text(response) and "服务记录和诉求均未保存" in page_text(response)
    assert count(Interaction, Interaction.enterprise_id == ea.id) == 0
    assert count(ServiceRequest, ServiceRequest.enterprise_id == ea.id) == 0
    html = html_of(response)
    assert "企业需要看病" in html or "字字字" in html  # the input is kept for a second try
    assert checked(html, "also_request") == ["y"]


def test_every_problem_of_the_form_shows_at_once(client, world):
    ea = world["ea"]
    login(client, world["a"])
    response = client.post(f"/service/interactions/new?enterprise_id={ea.id}",
                           data=visit(summary="", date="2026-13-45", also_request="y", request_category="",
                                      request_description=" "))
    assert response.status_code == 422
    text = page_text(response)
    assert "请填写诉求内容" in text and "请填写服务内容摘要" in text and "YYYY-MM-DD" in text
    response = client.post(f"/service/interactions/new?enterprise_id={ea.id}",
                           data=visit(specialty="finance", channel="pigeon",
                                      date=(local_today() + timedelta(days=1)).isoformat()))
    assert response.status_code == 422
    text = page_text(response)
    assert "只能登记您本人专长领域" in text and "未知服务方式:pigeon" in text and "不能晚于今天" in text
    assert count(Interaction, Interaction.enterprise_id == ea.id) == 0


def test_the_log_form_without_or_with_a_bad_enterprise(client, world):
    login(client, world["a"])
    response = client.get("/service/interactions/new", follow_redirects=True)
    assert response.status_code == 200 and "请先在“我的企业”中选择" in page_text(response)
    for bad in ("abc", "0", "-1", "99999999999", "²"):
        assert client.get(f"/service/interactions/new?enterprise_id={bad}").status_code == 404, bad
        assert client.post(f"/service/interactions/new?enterprise_id={bad}", data=visit()).status_code == 404
    assert client.get("/service/interactions/99999999999").status_code == 404
    assert client.get("/service/requests/99999999999").status_code == 404
    assert client.post("/service/requests/99999999999/transition", data={"to": "accepted"}).status_code == 404


# --- correcting an interaction -------------------------------------------------------------------------------

def test_edit_an_interaction_and_a_stale_version(client, world):
    a, ea = world["a"], world["ea"]
    interaction = log(a, ea, days_ago=3)
    db.session.commit()
    login(client, a)
    url = f"/service/interactions/{interaction.id}"
    html = html_of(client.get(url))
    version = hidden(html, "version")
    assert checked(html, "channel") == ["call"]
    response = client.post(url, data=visit(date=interaction.occurred_on.isoformat(), summary="更正:电话回访",
                                           version=version))
    assert response.status_code == 302
    assert fresh(interaction).summary == "更正:电话回访" and fresh(interaction).channel.value == "visit"
    assert "服务记录已保存" in page_text(client.get(url))

    # Someone else saves in between: the old version is refused and nothing of ours is written.
    html = html_of(client.get(url))
    version = hidden(html, "version")
    interaction_domain.update_interaction(world["coordinator"], fresh(interaction), {"summary": "协调员的修改"})
    db.session.commit()
    response = client.post(url, data=visit(date=interaction.occurred_on.isoformat(), summary="我的修改",
                                           version=version))
    assert response.status_code == 409
    assert STALE in page_text(response) and "重新打开本页" in page_text(response)
    assert fresh(interaction).summary == "协调员的修改"
    # without a version nothing is written either
    response = client.post(url, data=visit(date=interaction.occurred_on.isoformat(), summary="无版本"))
    assert response.status_code == 422 and fresh(interaction).summary == "协调员的修改"


def test_a_commissioner_corrects_only_their_own_records(client, world):
    a, b, shared = world["a"], world["b"], world["shared"]
    theirs = log(b, shared, days_ago=1, specialty="finance")
    db.session.commit()
    login(client, a)
    url = f"/service/interactions/{theirs.id}"
    page = client.get(url)
    assert page.status_code == 200 and "修改记录" not in page_text(page)  # A sees it, without a form
    response = client.post(url, data=visit(specialty="tech", summary="A 改 B 的记录", version=str(theirs.version)))
    assert response.status_code == 403
    assert fresh(theirs).summary == "电话联系 1"


# --- requests: raising, the lifecycle, refusals --------------------------------------------------------------

def _move(client, req_id: int, to: str, **extra):
    html = html_of(client.get(f"/service/requests/{req_id}"))
    data = {"to": to, "version": hidden(html, "version"), "note": "", **extra}
    return client.post(f"/service/requests/{req_id}/transition", data=data, follow_redirects=True)


def test_a_request_through_its_lifecycle_to_closed(client, world):
    a, ea = world["a"], world["ea"]
    login(client, a)
    form = client.get(f"/service/requests/new?enterprise_id={ea.id}")
    html = html_of(form)
    assert "不填则按类别时限自动计算(工作日)" in page_text(form)
    assert re.search(r'<option selected value="page-a">', html)  # the commissioner owns it by default
    assert "page-b" not in html  # B does not serve this enterprise: not an eligible owner
    response = client.post(f"/service/requests/new?enterprise_id={ea.id}",
                           data={"category": "用地", "description": "扩建厂房需新增用地20亩", "owner": "page-a",
                                 "department": "", "due_date": ""})
    assert response.status_code == 302
    req = db.session.scalars(sa.select(ServiceRequest).where(ServiceRequest.enterprise_id == ea.id)).one()
    page = client.get(response.headers["Location"])
    text = page_text(page)
    assert f"已登记诉求,办理时限 {req.due_date.isoformat()}" in text
    assert "办理时限按10个工作日计算" in text  # the due note, on the flash and under the due date
    assert 'data-due-note' in html_of(page)
    assert offered(html_of(page), "to") == ["accepted"]

    for to in ("accepted", "in_progress", "resolved"):
        response = _move(client, req.id, to, note=f"{to} 说明")
        assert response.status_code == 200 and "诉求已" in page_text(response)
        assert fresh(req).status.value == to
    html = html_of(client.get(f"/service/requests/{req.id}"))
    assert offered(html, "to") == ["closed", "in_progress"]  # only the allowed next statuses
    assert 'data-satisfaction="required"' in html and 'data-satisfaction="optional"' in html

    response = _move(client, req.id, "closed", note="电话回访")  # no satisfaction
    assert response.status_code == 422 and "办结前须回访企业并填写满意度" in page_text(response)
    assert fresh(req).status is S.RESOLVED
    response = _move(client, req.id, "closed", note="电话回访,企业满意", satisfaction="9")
    assert response.status_code == 422 and "满意度应为1到5" in page_text(response)
    response = _move(client, req.id, "closed", note="电话回访,企业满意", satisfaction="5")
    assert response.status_code == 200 and "诉求已回访办结" in page_text(response)
    req = fresh(req)
    assert req.status is S.CLOSED and req.satisfaction == 5 and req.closed_at is not None

    events = list(db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == req.id)
                                     .order_by(RequestEvent.id)))
    assert [e.to_status for e in events] == [S.RAISED, S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED]
    page = client.get(f"/service/requests/{req.id}")
    text = page_text(page)
    assert text.count(a.display_name) >= 5
    assert format_local(events[-1].at) in text  # when, in Asia/Shanghai
    assert "电话回访,企业满意" in text and "满意度: 5 / 5" in text
    assert offered(html_of(page), "to") == ["in_progress"]  # reopening stays possible


def test_an_illegal_transition_is_refused_naming_the_allowed_ones(client, world):
    a, ea = world["a"], world["ea"]
    req = raise_req(a, ea)
    db.session.commit()
    login(client, a)
    response = _move(client, req.id, "closed", note="直接办结", satisfaction="5")
    assert "当前状态“已提出”只能变更为:已受理" in page_text(response)
    assert fresh(req).status is S.RAISED and count(RequestEvent, RequestEvent.request_id == req.id) == 1
    response = _move(client, req.id, "teleported")
    assert "未知目标状态:teleported" in page_text(response) and fresh(req).status is S.RAISED


def test_a_stale_version_on_a_transition_changes_nothing(client, world):
    a, ea = world["a"], world["ea"]
    req = raise_req(a, ea)
    db.session.commit()
    login(client, a)
    version = hidden(html_of(client.get(f"/service/requests/{req.id}")), "version")
    request_domain.transition(world["coordinator"], fresh(req), "accepted")  # someone else, meanwhile
    db.session.commit()
    response = client.post(f"/service/requests/{req.id}/transition",
                           data={"to": "accepted", "version": version, "note": ""}, follow_redirects=True)
    assert STALE in page_text(response)
    assert fresh(req).status is S.ACCEPTED and count(RequestEvent, RequestEvent.request_id == req.id) == 2


def test_the_request_form_refuses_bad_fields_in_chinese(client, world):
    ea = world["ea"]
    login(client, world["a"])
    response = client.post(f"/service/requests/new?enterprise_id={ea.id}",
                           data={"category": "看病", "description": "", "owner": "page-b",
                                 "department": "不存在的局", "due_date": "明天"})
    assert response.status_code == 422
    text = page_text(response)
    for words in ("未知诉求类别", "请填写诉求内容", "不是可负责该企业的在职用户", "未知责任单位", "YYYY-MM-DD"):
        assert words in text, words
    assert count(ServiceRequest, ServiceRequest.enterprise_id == ea.id) == 0


# --- access --------------------------------------------------------------------------------------------------

def test_commissioner_a_cannot_reach_b_s_enterprise_or_records(client, world):
    a, b, eb = world["a"], world["b"], world["eb"]
    theirs = log(b, eb, days_ago=2, specialty="finance")
    req = raise_req(b, eb)
    db.session.commit()
    login(client, a)
    assert client.get(f"/service/interactions/new?enterprise_id={eb.id}").status_code == 404
    assert client.post(f"/service/interactions/new?enterprise_id={eb.id}",
                       data=visit(also_request="y", request_category="法务",
                                  request_description="x")).status_code == 404
    assert client.get(f"/service/interactions/{theirs.id}").status_code == 404
    assert client.post(f"/service/interactions/{theirs.id}",
                       data=visit(summary="改", version=str(theirs.version))).status_code == 404
    assert client.get(f"/service/requests/new?enterprise_id={eb.id}").status_code == 404
    assert client.post(f"/service/requests/new?enterprise_id={eb.id}",
                       data={"category": "法务", "description": "x"}).status_code == 404
    assert client.get(f"/service/requests/{req.id}").status_code == 404
    assert client.post(f"/service/requests/{req.id}/transition",
                       data={"to": "accepted", "version": str(req.version)}).status_code == 404
    assert req.id not in ledger_rows(client.get("/service/requests/"))
    assert ledger_rows(client.get(f"/service/requests/?enterprise_id={eb.id}")) == []
    assert eb.name not in page_text(client.get(f"/service/requests/?enterprise_id={eb.id}"))
    assert eb.id not in workspace_rows(client.get("/service/"))
    export = client.get("/service/requests/export.xlsx")
    sheet = load_workbook(io.BytesIO(export.data)).active
    assert sheet.max_row == 1  # the header only
    # nothing changed
    assert count(Interaction, Interaction.enterprise_id == eb.id) == 1
    assert fresh(theirs).summary == "电话联系 2"
    assert fresh(req).status is S.RAISED and count(ServiceRequest, ServiceRequest.enterprise_id == eb.id) == 1


def test_a_leader_reads_every_page_and_every_post_is_refused(client, world):
    a, ea = world["a"], world["ea"]
    interaction = log(a, ea, days_ago=1)
    req = raise_req(a, ea)
    db.session.commit()
    login(client, world["leader"])
    workspace = client.get("/service/")
    assert workspace.status_code == 200
    assert set(workspace_rows(workspace)) == {ea.id, world["eb"].id, world["shared"].id}
    assert "data-log=" not in html_of(workspace)  # no 记录走访 button for a reader
    ledger_page = client.get(f"/service/requests/?enterprise_id={ea.id}")
    assert ledger_page.status_code == 200 and "data-raise" not in html_of(ledger_page)
    detail = client.get(f"/service/requests/{req.id}")
    assert detail.status_code == 200 and "data-transition-form" not in html_of(detail)
    page = client.get(f"/service/interactions/{interaction.id}")
    assert page.status_code == 200 and "修改记录" not in page_text(page)
    assert client.get("/service/requests/export.xlsx").status_code == 200
    assert client.get(f"/service/interactions/new?enterprise_id={ea.id}").status_code == 403
    assert client.get(f"/service/requests/new?enterprise_id={ea.id}").status_code == 403
    posts = [
        (f"/service/interactions/new?enterprise_id={ea.id}", visit()),
        (f"/service/interactions/{interaction.id}", visit(summary="领导改", version=str(interaction.version))),
        (f"/service/requests/new?enterprise_id={ea.id}", {"category": "法务", "description": "领导登记"}),
        (f"/service/requests/{req.id}/transition", {"to": "accepted", "version": str(req.version)}),
    ]
    for url, data in posts:
        assert client.post(url, data=data).status_code == 403, url
    assert count(Interaction, Interaction.enterprise_id == ea.id) == 1
    assert count(ServiceRequest, ServiceRequest.enterprise_id == ea.id) == 1
    assert fresh(interaction).summary == "电话联系 1" and fresh(req).status is S.RAISED


def test_forms_need_the_csrf_token(client, world, app, monkeypatch):
    ea = world["ea"]
    req = raise_req(world["a"], ea)
    db.session.commit()
    login(client, world["a"])
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    url = f"/service/interactions/new?enterprise_id={ea.id}"
    response = client.post(url, data=visit())
    assert response.status_code == 400 and "表单已过期" in page_text(response)
    assert count(Interaction, Interaction.enterprise_id == ea.id) == 0
    token = csrf_token_from(html_of(client.get(url)))
    assert client.post(url, data={**visit(), "csrf_token": token}).status_code == 302
    assert count(Interaction, Interaction.enterprise_id == ea.id) == 1
    response = client.post(f"/service/requests/{req.id}/transition",
                           data={"to": "accepted", "version": str(req.version)}, follow_redirects=True)
    assert "表单已过期" in page_text(response) and fresh(req).status is S.RAISED
    html = html_of(client.get(f"/service/requests/{req.id}"))
    response = client.post(f"/service/requests/{req.id}/transition",
                           data={"to": "accepted", "version": hidden(html, "version"),
                                 "csrf_token": csrf_token_from(html)}, follow_redirects=True)
    assert fresh(req).status is S.ACCEPTED
    new_url = f"/service/requests/new?enterprise_id={ea.id}"
    response = client.post(new_url, data={"category": "法务", "description": "合同纠纷咨询"})
    assert response.status_code == 400 and count(ServiceRequest, ServiceRequest.enterprise_id == ea.id) == 1


def test_pages_need_sign_in(client):
    for url in ("/service/", "/service/requests/", "/service/interactions/new?enterprise_id=1",
                "/service/requests/export.xlsx"):
        assert client.get(url).status_code == 302, url


# --- the ledger and its export -------------------------------------------------------------------------------

@pytest.fixture
def ledger(world):
    a, b, ea, eb = world["a"], world["b"], world["ea"], world["eb"]
    late = raise_req(a, ea, raised_ago=30, due_in=-5, category="用地")  # open and overdue
    done = raise_req(a, ea, raised_ago=20, due_in=-1, category="法务")
    for step in (S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED):
        request_domain.transition(a, done, step)  # resolved: past its due date, yet not overdue
    fresh_one = raise_req(b, eb, raised_ago=1, due_in=9, category="融资服务")
    accepted = raise_req(b, eb, raised_ago=3, due_in=7, category="用地")
    request_domain.transition(b, accepted, S.ACCEPTED)
    db.session.commit()
    return {"late": late, "done": done, "fresh": fresh_one, "accepted": accepted}


def test_the_ledger_filters_and_highlights_overdue(client, world, ledger):
    login(client, world["coordinator"])
    ids = {k: r.id for k, r in ledger.items()}
    response = client.get("/service/requests/")
    assert response.status_code == 200
    assert set(ledger_rows(response)) == set(ids.values())
    assert re.search(rf'<tr data-request="{ids["late"]}" class="table-danger"', html_of(response))
    assert not re.search(rf'<tr data-request="{ids["done"]}" class="table-danger"', html_of(response))
    assert set(ledger_rows(client.get("/service/requests/?status=raised&status=accepted"))) == {
        ids["late"], ids["fresh"], ids["accepted"]}
    assert ledger_rows(client.get("/service/requests/?overdue=1")) == [ids["late"]]
    assert set(ledger_rows(client.get("/service/requests/?county=桐梓县"))) == {ids["fresh"], ids["accepted"]}
    assert set(ledger_rows(client.get("/service/requests/?category=用地"))) == {ids["late"], ids["accepted"]}
    assert set(ledger_rows(client.get("/service/requests/?owner=page-b"))) == {ids["fresh"], ids["accepted"]}
    by_enterprise = client.get(f"/service/requests/?enterprise_id={world['ea'].id}")
    assert set(ledger_rows(by_enterprise)) == {ids["late"], ids["done"]}
    assert world["ea"].name in page_text(by_enterprise)
    assert "data-raise" in html_of(by_enterprise)  # a coordinator may raise one for it from here
    # the export link carries the filters
    page = client.get("/service/requests/?status=raised&status=accepted&county=桐梓县")
    link = html_lib.unescape(re.search(r'href="([^"]+)" data-export', html_of(page)).group(1))
    assert "status=raised" in link and "status=accepted" in link and "county=" in link
    # bad filters: said so, ignored, never a 500
    response = client.get("/service/requests/?status=bogus&county=火星县&category=看病&page=x")
    assert response.status_code == 400
    assert "未知状态:bogus" in page_text(response) and set(ledger_rows(response)) == set(ids.values())
    for query in ("enterprise_id=abc", "enterprise_id=99999999999", "per_page=100000", "overdue=maybe"):
        assert client.get(f"/service/requests/?{query}").status_code in (200, 400), query
    # pagination keeps the filters
    page = client.get("/service/requests/?per_page=1&category=用地")
    assert len(ledger_rows(page)) == 1 and "第 1 / 2 页" in page_text(page)
    nxt = html_lib.unescape(re.search(r'href="([^"]*page=2[^"]*)"', html_of(page)).group(1))
    assert "category=" in nxt and "per_page=1" in nxt
    assert len(ledger_rows(client.get(nxt))) == 1


def test_the_ledger_exports_to_excel_with_the_same_filters(client, world, ledger):
    login(client, world["coordinator"])
    response = client.get("/service/requests/export.xlsx?overdue=1")
    assert response.status_code == 200 and response.mimetype == XLSX_MIMETYPE
    assert "attachment" in response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == 2 and rows[1][1] == world["ea"].name and rows[1][COLUMNS.index("是否逾期")] == "是"
    everything = load_workbook(io.BytesIO(client.get("/service/requests/export.xlsx").data)).active
    assert everything.max_row == 1 + len(ledger)
    statuses = load_workbook(io.BytesIO(
        client.get("/service/requests/export.xlsx?status=raised&status=accepted&county=桐梓县").data)).active
    assert statuses.max_row == 3
    assert client.get("/service/requests/export.xlsx?status=bogus").status_code == 422


# --- the workspace: ordering, the chooser, query count -------------------------------------------------------

def _attention_world(a, prefix: str = "排序", county: str = "汇川区", cluster: str = "装备制造"):
    """Five enterprises of ``a``, one per reason for attention; returned in the expected order."""
    late_req = make_enterprise(f"遵义{prefix}诉求逾期有限公司", county=county, cluster=cluster)
    missed = make_enterprise(f"遵义{prefix}跟进逾期有限公司", county=county, cluster=cluster)
    never = make_enterprise(f"遵义{prefix}从未联系有限公司", county=county, cluster=cluster)
    old = make_enterprise(f"遵义{prefix}久未联系有限公司", county=county, cluster=cluster)
    recent = make_enterprise(f"遵义{prefix}近期联系有限公司", county=county, cluster=cluster)
    for e in (recent, old, never, missed, late_req):
        assign(e, a, "tech")
    log(a, late_req, days_ago=1)
    raise_req(a, late_req, raised_ago=30, due_in=-3)
    log(a, missed, days_ago=20, follow_up_in=10)  # follow-up 10 days ago, nothing since
    log(a, old, days_ago=100)
    log(a, old, days_ago=120, follow_up_in=5)  # a missed follow-up, but a later interaction came
    log(a, recent, days_ago=2, follow_up_in=30)  # follow-up still ahead
    raise_req(a, recent, raised_ago=2, due_in=8)
    return [late_req, missed, never, old, recent]


def test_the_workspace_puts_what_needs_attention_first(client, world):
    a = make_user("commissioner", username="page-order", specialties=["tech"])
    expected = _attention_world(a)
    db.session.commit()
    login(client, a)
    page = client.get("/service/")
    assert workspace_rows(page) == [e.id for e in expected]
    assert workspace_cards(page) == [e.id for e in expected]
    late_req, missed, never, old, recent = expected
    assert 'class="table-danger"' in row_html(page, late_req.id)
    assert 'data-overdue-follow-ups="1"' in row_html(page, missed.id)
    assert "data-overdue-follow-ups" not in row_html(page, old.id)
    assert 'data-days-since="100"' in row_html(page, old.id)
    assert 'data-open-requests="1"' in row_html(page, recent.id)
    from crm.holidays.workdays import next_working_day  # a due date given on a rest day moves to a working day

    due = next_working_day(local_today() + timedelta(days=8)).date.isoformat()
    assert f'data-next-due="{due}"' in row_html(page, recent.id)
    assert "text-danger" in row_html(page, late_req.id).split("data-next-due")[0].rsplit("<span", 1)[1]
    assert "从未联系" in row_html(page, never.id)


def test_a_coordinator_chooses_a_commissioner(client, world):
    login(client, world["coordinator"])
    page = client.get("/service/")
    assert set(workspace_rows(page)) == {world["ea"].id, world["eb"].id, world["shared"].id}
    assert "page-a" in html_of(page) and "data-log=" in html_of(page)
    assert set(workspace_rows(client.get("/service/?commissioner=page-b"))) == {world["eb"].id, world["shared"].id}
    response = client.get("/service/?commissioner=nobody")
    assert response.status_code == 400 and "没有可查看的服务专员" in page_text(response)
    assert client.get("/service/?page=abc").status_code == 400
    assert len(workspace_rows(client.get("/service/?page=999&per_page=2"))) == 1  # the last page


def test_a_coordinator_pages_through_the_workspace_in_attention_order(client, world):
    a = make_user("commissioner", username="page-paged", specialties=["tech"])
    expected = _attention_world(a, "分页")
    db.session.commit()
    login(client, world["coordinator"])
    url = "/service/?commissioner=page-paged&per_page=2"
    pages = [workspace_rows(client.get(f"{url}&page={n}")) for n in (1, 2, 3)]
    assert [i for ids in pages for i in ids] == [e.id for e in expected]
    assert [len(ids) for ids in pages] == [2, 2, 1]
    page = client.get(f"{url}&page=2")
    summary = dict(re.findall(r'data-summary="(\w+)">(\d+)<', html_of(page)))
    assert summary == {"enterprises": "5", "overdue_requests": "1", "overdue_follow_ups": "1", "never": "1"}
    assert workspace_rows(client.get(f"{url}&page=9")) == [expected[-1].id]  # past the end: the last page


def _queries(client, count_queries, url: str) -> int:
    db.session.commit()  # the same start for every measurement: a fresh transaction, nothing loaded
    with count_queries() as queries:
        assert client.get(url).status_code == 200
    return queries.count


@pytest.mark.parametrize("viewer", ["commissioner", "coordinator"])
def test_the_workspace_query_count_does_not_grow(client, world, viewer, count_queries):
    a = make_user("commissioner", username="page-count", specialties=["tech"])
    _attention_world(a, "计数一")
    db.session.commit()
    login(client, a if viewer == "commissioner" else world["coordinator"])
    client.get("/service/")  # warm up
    few = _queries(client, count_queries, "/service/")
    for n, (county, cluster) in enumerate((("桐梓县", "电子信息"), ("播州区", "基础材料"), ("正安县", "现代化工"))):
        _attention_world(a, f"计数{n + 2}", county, cluster)  # other counties and clusters: nothing lazy-loads
    db.session.commit()
    many = _queries(client, count_queries, "/service/")
    assert len(workspace_rows(client.get("/service/"))) >= 20
    assert many == few, (few, many)
    assert few <= 12


def test_follow_ups_count_only_without_a_later_interaction():
    a = make_user("commissioner", specialties=["tech"])
    e = make_enterprise()
    assign(e, a)
    first = log(a, e, days_ago=10, follow_up_in=2)
    db.session.flush()
    from crm.service.workspace import workspace_rows as rows_for

    [row] = rows_for(a, None, local_today())
    assert row.overdue_follow_ups == 1 and row.follow_up_due == first.next_follow_up
    log(a, e, days_ago=5)
    db.session.flush()
    [row] = rows_for(a, None, local_today())
    assert row.overdue_follow_ups == 0 and row.last_contact == local_today() - timedelta(days=5)
    assert row.days_since == 5 and isinstance(row.last_contact, date)


def test_ids_of_thousands_of_digits_or_unicode_digits_are_refused_not_crashed(client):
    # int() refuses more than 4300 digits, and "²".isdigit() is true: both were 500s
    enterprise = make_enterprise(county="汇川区")
    login(client, make_user("coordinator"))
    huge = "9" * 4400
    assert client.get(f"/service/requests/new?enterprise_id={huge}").status_code == 404
    assert client.get(f"/service/interactions/new?enterprise_id={huge}").status_code == 404
    listing = client.get(f"/service/requests/?enterprise_id={huge}")
    assert listing.status_code == 400 and "企业编号不正确" in listing.get_data(as_text=True)
    for junk in (huge, "%C2%B2"):
        assert client.get(f"/service/requests/new?enterprise_id={enterprise.id}&interaction_id={junk}"
                          ).status_code == 200
