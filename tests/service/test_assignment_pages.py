"""Assignment pages: the coverage matrix, one enterprise's commissioners, bulk assignment.

Test data is committed before requests (a refused change rolls the request's session back, and must not take
the test's setup with it); the outer transaction still rolls everything back after each test.
"""

from __future__ import annotations

import html as html_lib
import re

import pytest
import sqlalchemy as sa

from crm.auth.models import Specialty
from crm.extensions import db
from crm.notifications.models import Notification
from crm.rosters.models import RosterKind
from crm.service import assignments as domain
from crm.service.models import Assignment
from tests.conftest import assign, csrf_token_from, login, make_enterprise, make_user
from tests.rosters.factories import published_edition

TECH = Specialty.TECH
SUPPLIER, POOL = RosterKind.SUPPLIER_LIST, RosterKind.CULTIVATION_POOL


# --- helpers -------------------------------------------------------------------------------------------------

def page_text(response) -> str:
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html_lib.unescape(body))


def matrix_rows(response) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-enterprise="(\d+)">', response.get_data(as_text=True))]


def row_html(response, enterprise_id: int) -> str:
    html = response.get_data(as_text=True)
    start = html.index(f'<tr data-enterprise="{enterprise_id}">')
    return html[start:html.index("</tr>", start)]


def gap_count(response, specialty: str) -> int:
    match = re.search(rf'data-gap="{specialty}">.*?<span data-count>(\d+)</span>', response.get_data(as_text=True),
                      re.S)
    assert match, specialty
    return int(match.group(1))


def selected_option(html: str, select_id: str) -> tuple[str, str] | None:
    start = html.index(f'id="{select_id}"')
    block = html[start:html.index("</select>", start)]
    match = re.search(r'<option[^>]*\bselected\b[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', block) or re.search(
        r'<option[^>]*value="([^"]*)"[^>]*\bselected\b[^>]*>([^<]*)</option>', block)
    return (match.group(1), html_lib.unescape(match.group(2))) if match else None


def active(enterprise, specialty=TECH) -> Assignment | None:
    db.session.expire_all()
    return domain.active_for(enterprise, specialty)


def commissioner(*specialties: str, **kwargs):
    return make_user("commissioner", specialties=list(specialties) or ["tech"], **kwargs)


@pytest.fixture
def listed():
    """Three listed enterprises (two counties) and one unlisted."""
    a = make_enterprise("遵义页面甲机械有限公司", county="汇川区")
    b = make_enterprise("遵义页面乙电子有限公司", county="汇川区", cluster="电子信息")
    c = make_enterprise("遵义页面丙材料有限公司", county="桐梓县")
    unlisted = make_enterprise("遵义页面丁未入库有限公司")
    published_edition(SUPPLIER, "2026H1", [a, b])
    published_edition(POOL, "2026H1", [c])
    return a, b, c, unlisted


@pytest.fixture
def coordinator(client):
    user = make_user("coordinator")
    db.session.commit()
    login(client, user)
    return user


# --- the matrix ----------------------------------------------------------------------------------------------

def test_matrix_shows_listed_enterprises_and_marks_gaps(client, listed, coordinator):
    a, b, c, unlisted = listed
    tech = commissioner("tech")
    assign(a, tech)
    db.session.commit()
    response = client.get("/assignments/")
    assert response.status_code == 200
    assert set(matrix_rows(response)) == {a.id, b.id, c.id}
    assert unlisted.name not in page_text(response)
    assert tech.display_name in row_html(response, a.id)
    assert row_html(response, a.id).count("未分配") == 4
    assert row_html(response, b.id).count("未分配") == 5
    assert 'class="table-danger' in row_html(response, b.id)
    assert gap_count(response, "tech") == 2 and gap_count(response, "finance") == 3
    assert 'name="enterprise_ids"' in response.get_data(as_text=True)  # a coordinator gets the bulk tools


def test_matrix_filters(client, listed, coordinator):
    a, b, c, _ = listed
    assign(a, commissioner("tech"))
    db.session.commit()
    assert set(matrix_rows(client.get("/assignments/?roster=supplier_list"))) == {a.id, b.id}
    assert set(matrix_rows(client.get("/assignments/?county=桐梓县"))) == {c.id}
    assert set(matrix_rows(client.get("/assignments/?cluster=电子信息"))) == {b.id}
    assert set(matrix_rows(client.get("/assignments/?missing=tech"))) == {b.id, c.id}
    response = client.get("/assignments/?roster=nonsense")
    assert response.status_code == 400 and "名单类型不正确" in page_text(response)
    assert set(matrix_rows(response)) == {a.id, b.id, c.id}
    unknown = client.get("/assignments/?county=不存在县")  # a typo is said, not shown as "no gaps"
    assert unknown.status_code == 422 and "未知区县:不存在县" in page_text(unknown)


def test_matrix_pages_and_counts_gaps_over_every_page(client, listed, coordinator):
    a, b, c, _ = listed
    assign(a, commissioner("tech"))
    db.session.commit()
    everything = matrix_rows(client.get("/assignments/"))
    first = client.get("/assignments/?per_page=2")
    assert matrix_rows(first) == everything[:2]
    assert gap_count(first, "tech") == 2 and gap_count(first, "finance") == 3  # all matching, not the page's
    assert '<span data-total>3</span>' in first.get_data(as_text=True)
    assert "第 1 / 2 页" in page_text(first) and "per_page=2" in first.get_data(as_text=True)
    assert matrix_rows(client.get("/assignments/?per_page=2&page=2")) == everything[2:]
    assert matrix_rows(client.get("/assignments/?per_page=2&page=9")) == everything[2:]  # the last page
    assert matrix_rows(client.get("/assignments/?missing=tech&per_page=1&page=2")) == [
        i for i in everything if i != a.id][1:]
    bad = client.get("/assignments/?page=abc")
    assert bad.status_code == 400 and "页码" in page_text(bad) and matrix_rows(bad) == everything


def test_matrix_for_a_commissioner_and_a_leader(client, listed):
    a, b, c, _ = listed
    tech = commissioner("tech")
    assign(b, tech)
    db.session.commit()
    login(client, tech)
    response = client.get("/assignments/")
    assert matrix_rows(response) == [b.id]
    assert 'name="enterprise_ids"' not in response.get_data(as_text=True)
    client.post("/logout")
    login(client, make_user("leader"))
    response = client.get("/assignments/")
    assert set(matrix_rows(response)) == {a.id, b.id, c.id}
    assert "批量分配" not in response.get_data(as_text=True)


# --- one enterprise ------------------------------------------------------------------------------------------

def test_enterprise_page_preselects_the_suggestion_and_assigns(client, listed, coordinator):
    a, *_ = listed
    busy = commissioner("tech", username="page-busy")
    idle = commissioner("tech", username="page-idle")
    assign(make_enterprise(), busy)
    db.session.commit()
    html = client.get(f"/assignments/enterprise/{a.id}").get_data(as_text=True)
    value, label = selected_option(html, "assign-tech-commissioner")
    assert value == "page-idle" and "建议" in label
    response = client.post(f"/assignments/enterprise/{a.id}",
                           data={"assign-tech-commissioner": "page-busy", "assign-tech-submit": "分配"})
    assert response.status_code == 302
    assert active(a).commissioner_id == busy.id
    page = client.get(response.headers["Location"])
    assert "已将科技服务分配给" in page_text(page)
    # the assigned slot now keeps its commissioner selected; handing over is a deliberate choice
    assert selected_option(page.get_data(as_text=True), "assign-tech-commissioner")[0] == "page-busy"
    response = client.post(f"/assignments/enterprise/{a.id}",
                           data={"assign-tech-commissioner": "page-idle", "assign-tech-submit": "交接"},
                           follow_redirects=True)
    assert "科技服务已交接给" in page_text(response)
    assert active(a).commissioner_id == idle.id
    text = page_text(response)
    assert "分配记录" in text and "交接" in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                             .where(Notification.user_id == busy.id)) == 2  # assigned, then handed over


def test_enterprise_page_refuses_who_cannot_be_assigned(client, listed, coordinator):
    a, *_ = listed
    leader = make_user("leader", username="page-leader")
    commissioner("finance", username="page-finance")
    db.session.commit()
    for username, words in (("page-leader", "不是服务专员"), ("page-finance", "没有科技专长"),
                            ("nobody-like-this", "没有用户名为")):
        response = client.post(f"/assignments/enterprise/{a.id}",
                               data={"assign-tech-commissioner": username, "assign-tech-submit": "分配"})
        assert response.status_code == 422, username
        assert words in page_text(response)
        assert active(a) is None
    assert leader.role.value == "leader"
    response = client.post(f"/assignments/enterprise/{a.id}",
                           data={"assign-tech-commissioner": "", "assign-tech-submit": "分配"})
    assert response.status_code == 422 and "请选择服务专员" in page_text(response)


def test_enterprise_page_ends_an_assignment_with_a_reason(client, listed, coordinator):
    a, *_ = listed
    tech = commissioner("tech")
    assign(a, tech)
    db.session.commit()
    response = client.post(f"/assignments/enterprise/{a.id}",
                           data={"end-tech-reason": "", "end-tech-submit": "结束分配"})
    assert response.status_code == 422 and "请填写结束原因" in page_text(response)
    assert active(a) is not None
    response = client.post(f"/assignments/enterprise/{a.id}",
                           data={"end-tech-reason": "企业需求已完成", "end-tech-submit": "结束分配"},
                           follow_redirects=True)
    assert "已结束" in page_text(response) and "企业需求已完成" in page_text(response)
    assert active(a) is None
    # nothing left to end: said so, no 500
    response = client.post(f"/assignments/enterprise/{a.id}",
                           data={"end-tech-reason": "再来一次", "end-tech-submit": "结束分配"})
    assert response.status_code == 409 and "没有科技服务专员" in page_text(response)


def test_enterprise_page_refusals(client, listed):
    a, b, c, _ = listed
    tech = commissioner("tech")
    other = commissioner("tech")
    assign(a, tech)
    county = make_user("coordinator", county="汇川区")
    leader = make_user("leader")
    db.session.commit()
    post = {"assign-tech-commissioner": other.username, "assign-tech-submit": "分配"}

    login(client, tech)  # may see the page; must not reassign
    page = client.get(f"/assignments/enterprise/{a.id}")
    assert page.status_code == 200 and "assign-tech-commissioner" not in page.get_data(as_text=True)
    assert client.post(f"/assignments/enterprise/{a.id}", data=post).status_code == 403
    assert client.get(f"/assignments/enterprise/{b.id}").status_code == 404
    client.post("/logout")

    login(client, leader)
    assert client.get(f"/assignments/enterprise/{a.id}").status_code == 200
    assert client.post(f"/assignments/enterprise/{b.id}", data=post).status_code == 403
    client.post("/logout")

    login(client, county)
    assert client.get(f"/assignments/enterprise/{c.id}").status_code == 404  # 桐梓县
    assert client.post(f"/assignments/enterprise/{c.id}", data=post).status_code == 404
    assert client.post(f"/assignments/enterprise/{b.id}", data=post).status_code == 302  # 汇川区: theirs
    assert active(a).commissioner_id == tech.id and active(c) is None and active(b).commissioner_id == other.id
    assert client.get("/assignments/enterprise/99999999").status_code == 404
    assert client.get("/assignments/enterprise/99999999999").status_code == 404


def test_enterprise_page_without_candidates_says_so(client, listed, coordinator):
    a, *_ = listed
    response = client.get(f"/assignments/enterprise/{a.id}")
    assert "暂无具备媒体专长" in page_text(response)


# --- bulk ----------------------------------------------------------------------------------------------------

def test_bulk_with_suggestions_lists_done_and_not_done(client, listed, coordinator, app, monkeypatch):
    a, b, c, _ = listed
    monkeypatch.setitem(app.config, "ASSIGNMENT_CAP", 1)
    one = commissioner("tech", username="bulk-page-one")
    db.session.commit()
    response = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id), str(b.id)],
                                                      "specialty": "tech", "commissioner": "", "submit": "批量分配"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r"已分配 <span data-done>1</span>", html)
    assert re.search(r"未能分配 <span data-not-done>1</span>", html)
    assert "上限1家" in page_text(response)
    assert active(a).commissioner_id == one.id and active(b) is None


def test_bulk_with_a_commissioner_and_hidden_ids(client, listed):
    a, b, c, _ = listed
    county = make_user("coordinator", county="汇川区")
    tech = commissioner("tech", username="bulk-page-tech")
    db.session.commit()
    login(client, county)
    response = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id), str(b.id), str(c.id)],
                                                      "specialty": "tech", "commissioner": "bulk-page-tech"})
    assert response.status_code == 200
    text = page_text(response)
    assert "另有 1 家企业不存在或您无权查看" in text and c.name not in text
    assert active(a).commissioner_id == tech.id and active(b).commissioner_id == tech.id and active(c) is None


def test_bulk_refusals_redirect_with_a_message(client, listed, coordinator):
    a, *_ = listed
    commissioner("finance", username="bulk-page-fin")
    db.session.commit()
    response = client.post("/assignments/bulk", data={"specialty": "tech"}, follow_redirects=True)
    assert "请至少勾选一家企业" in page_text(response)
    for bad in ("abc", "²", "-1", "99999999999"):
        response = client.post("/assignments/bulk", data={"enterprise_ids": [bad], "specialty": "tech"},
                               follow_redirects=True)
        assert response.status_code == 200 and "企业选择有误" in page_text(response), bad
    response = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id)], "specialty": "cooking"},
                           follow_redirects=True)
    assert "请选择专长" in page_text(response)
    response = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id)], "specialty": "tech",
                                                      "commissioner": "bulk-page-fin"}, follow_redirects=True)
    assert "没有科技专长" in page_text(response)
    assert active(a) is None


def test_bulk_is_for_coordinators_only(client, listed):
    a, *_ = listed
    tech = commissioner("tech")
    assign(a, tech)
    db.session.commit()
    login(client, tech)
    response = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id)], "specialty": "finance"})
    assert response.status_code == 403


# --- CSRF, CSP, robustness -----------------------------------------------------------------------------------

def test_forms_need_the_csrf_token(client, listed, coordinator, app, monkeypatch):
    a, *_ = listed
    commissioner("tech", username="csrf-tech")
    db.session.commit()
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    post = {"assign-tech-commissioner": "csrf-tech", "assign-tech-submit": "分配"}
    response = client.post(f"/assignments/enterprise/{a.id}", data=post)
    assert response.status_code == 400 and "表单已过期" in page_text(response)
    assert active(a) is None
    html = client.get(f"/assignments/enterprise/{a.id}").get_data(as_text=True)
    token = re.search(r'name="assign-tech-csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    assert client.post(f"/assignments/enterprise/{a.id}",
                       data={**post, "assign-tech-csrf_token": token}).status_code == 302
    assert active(a) is not None
    response = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id)], "specialty": "finance"},
                           follow_redirects=True)
    assert "表单已过期" in page_text(response)
    token = csrf_token_from(client.get("/assignments/").get_data(as_text=True))
    response = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id)], "specialty": "finance",
                                                      "csrf_token": token})
    assert response.status_code == 200


def test_pages_have_no_inline_script_or_style(client, listed, coordinator):
    a, b, *_ = listed
    tech = commissioner("tech")
    assign(a, tech)
    db.session.commit()
    bulk = client.post("/assignments/bulk", data={"enterprise_ids": [str(a.id), str(b.id)], "specialty": "tech"})
    for response in (client.get("/assignments/"), client.get(f"/assignments/enterprise/{a.id}"), bulk,
                     client.get("/assignments/?roster=nonsense")):
        html = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert "style=" not in html
        assert not re.search(r"\son[a-z]+=", html)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "js/assignments.js" in client.get("/assignments/").get_data(as_text=True)
    assert client.get("/static/js/assignments.js").status_code == 200


def test_pages_need_sign_in(client):
    assert client.get("/assignments/").status_code == 302
    assert client.post("/assignments/bulk").status_code in (302, 401)


def test_bulk_refuses_huge_or_odd_ids_without_a_500(client, listed, coordinator):
    for junk in ("9" * 5000, "²", "0"):
        response = client.post("/assignments/bulk", data={"enterprise_ids": [junk], "specialty": "tech",
                                                          "commissioner": "", "submit": "批量分配"},
                               follow_redirects=True)
        assert response.status_code < 500, junk
        assert "企业选择有误" in page_text(response), junk
