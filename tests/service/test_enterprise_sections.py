"""一企一档 grows: the enterprise page's 服务专员, 服务记录, 诉求 and 政策兑现 sections, their write links (hidden from
leaders), the history's Chinese labels for service records, and a fixed number of queries.

Test data is committed before requests; the conftest's outer transaction rolls everything back after each test.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import timedelta

import pytest

from crm.core.time import local_today
from crm.extensions import db
from crm.service import interactions, policy, requests
from tests.conftest import assign, login, make_enterprise, make_user
from tests.service.test_policy_pages import register_policy_pages

TODAY = local_today()  # set again as each test starts: the live_today fixture
pytestmark = pytest.mark.usefixtures("live_today")


@pytest.fixture(autouse=True)
def _policy_pages(app):
    register_policy_pages(app)


def page_text(html: str) -> str:
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html)))


def section(response, section_id: str) -> str:
    """The markup of one section of the enterprise page."""
    html = response.get_data(as_text=True)
    start = html.index(f'<section class="col-12 col-xl-6" id="{section_id}"')
    return html[start:html.index("</section>", start)]


def days(n: int) -> str:
    return (TODAY + timedelta(days=n)).isoformat()


def visit(user, enterprise, when: int, summary: str, *, follow_up: int | None = None, specialty: str = "tech"):
    return interactions.log_interaction(user, enterprise, {
        "date": days(when), "channel": "visit", "specialty": specialty, "summary": summary,
        "next_follow_up": days(follow_up) if follow_up is not None else None})


@pytest.fixture
def record():
    """An enterprise with a tech commissioner (no finance one), interactions, requests and deliveries."""
    enterprise = make_enterprise("遵义一企一档服务测试有限公司", county="汇川区")
    tech = make_user("commissioner", specialties=["tech"], username="sections-tech")
    tech.display_name, tech.phone = "陈专员", "0851-28000099"
    talent = make_user("commissioner", specialties=["talent"], username="sections-talent")
    talent.display_name = "吴专员"
    assign(enterprise, tech, "tech")
    assign(enterprise, talent, "talent")
    old = visit(tech, enterprise, -90, "走访了解培育项目申报情况")
    middle = visit(talent, enterprise, -40, "对接人才引进需求", specialty="talent")
    latest = visit(tech, enterprise, -20, "协调用电增容,约定两周后回访", follow_up=-6)
    overdue = requests.raise_request(tech, enterprise, {
        "category": "用电", "description": "新厂房用电增容审批缓慢", "raised_on": days(-40),
        "interaction_id": middle.id})
    requests.transition(tech, overdue, "accepted")
    fresh_one = requests.raise_request(tech, enterprise, {"category": "培育项目申报",
                                                          "description": "申报省级专精特新"})
    closed = requests.raise_request(tech, enterprise, {"category": "融资服务", "description": "流动资金贷款",
                                                       "raised_on": days(-60)})
    for to in ("accepted", "in_progress", "resolved"):
        requests.transition(tech, closed, to)
    requests.transition(tech, closed, "closed", note="回访企业,贷款已到位", satisfaction=5)
    ancient = requests.raise_request(tech, enterprise, {"category": "其他", "description": "很久以前的诉求",
                                                        "raised_on": days(-400)})
    for to in ("accepted", "in_progress", "resolved"):
        requests.transition(tech, ancient, to)
    requests.transition(tech, ancient, "closed", note="已回访", satisfaction=4)
    late = policy.create_delivery(None, enterprise, {"kind": "用地", "promised": "新增工业用地30亩",
                                                     "amount": "80", "promised_date": days(-10)})
    on_time = policy.create_delivery(None, enterprise, {"kind": "引才", "promised": "人才安家补贴",
                                                        "amount": "20", "promised_date": days(-30),
                                                        "delivered_date": days(-35), "evidence": "已到账"})
    db.session.commit()
    return {"enterprise": enterprise, "tech": tech, "talent": talent, "old": old, "middle": middle,
            "latest": latest, "overdue": overdue, "fresh": fresh_one, "closed": closed, "ancient": ancient,
            "late": late, "on_time": on_time}


def test_sections_show_what_the_enterprise_has(client, record):
    e = record["enterprise"]
    login(client, make_user("coordinator"))
    response = client.get(f"/enterprises/{e.id}")
    assert response.status_code == 200

    commissioners = section(response, "commissioners")
    assert "陈专员" in commissioners and 'href="tel:0851-28000099"' in commissioners and "吴专员" in commissioners
    assert commissioners.count("未分配") == 3  # 融资 法务 媒体
    assert re.search(r'data-specialty="finance">\s*<span class="fw-semibold">融资</span>\s*'
                     r'<span class="badge text-bg-danger" data-gap>', commissioners)
    assert f'href="/assignments/enterprise/{e.id}"' in commissioners

    visits = section(response, "interactions")
    ids = [int(i) for i in re.findall(r'data-interaction="(\d+)"', visits)]
    assert ids == [record["latest"].id, record["middle"].id, record["old"].id]  # newest first
    assert "共 3 条" in page_text(visits) and f"最近 {days(-20)}" in page_text(visits)
    assert f'href="/service/interactions/new?enterprise_id={e.id}"' in visits and "记录走访" in visits
    assert "跟进已逾期" in page_text(visits) and visits.count("data-follow-up-overdue") == 1

    asks = section(response, "requests")
    shown = [int(i) for i in re.findall(r'data-request="(\d+)"', asks)]
    # open ones first (earliest due first), then the recent done ones; one closed 400 days ago is left out
    assert shown == [record["overdue"].id, record["fresh"].id, record["closed"].id]
    overdue_item = asks[asks.index(f'data-request="{record["overdue"].id}"'):]
    overdue_item = overdue_item[:overdue_item.index("</li>")]
    assert "data-overdue" in overdue_item and "已受理" in overdue_item
    assert record["overdue"].due_date.isoformat() in overdue_item
    assert asks.count("data-overdue") == 1
    assert f'href="/service/requests/{record["overdue"].id}"' in asks
    assert "满意度 5/5" in page_text(asks) and "已办结" in page_text(asks)
    assert f'href="/service/requests/new?enterprise_id={e.id}"' in asks

    deliveries = section(response, "policy")
    assert f'href="/policy/{record["late"].id}"' in deliveries
    assert f'href="/policy/new?enterprise_id={e.id}"' in deliveries and "登记政策兑现" in deliveries
    late_item = deliveries[deliveries.index(f'data-delivery="{record["late"].id}"'):]
    assert "data-late" in late_item[:late_item.index("</li>")]
    assert deliveries.count("data-late") == 1  # delivered early: not late
    assert "80.00 万元" in page_text(deliveries)


def test_leader_sees_the_sections_without_write_links(client, record):
    e = record["enterprise"]
    login(client, make_user("leader"))
    response = client.get(f"/enterprises/{e.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for words in ("陈专员", "协调用电增容", "新厂房用电增容", "新增工业用地30亩"):
        assert words in html
    for link in ("/service/interactions/new", "/service/requests/new", "/policy/new", "/assignments/enterprise/"):
        assert link not in html, link
    sections = " ".join(section(response, name) for name in ("commissioners", "interactions", "requests", "policy"))
    for label in ("记录走访", "登记诉求", "登记政策兑现", "分配服务专员"):
        assert label not in page_text(sections), label  # (the history may say 登记诉求: what was done)
    assert f'href="/service/requests/{record["overdue"].id}"' in html  # reading is fine


def test_commissioner_logs_visits_but_does_not_assign(client, record):
    e = record["enterprise"]
    login(client, record["tech"])
    response = client.get(f"/enterprises/{e.id}")
    html = response.get_data(as_text=True)
    assert f'/service/interactions/new?enterprise_id={e.id}' in html
    assert "/assignments/enterprise/" not in html and "分配服务专员" not in page_text(html)


def test_history_names_service_changes_in_chinese(client, record):
    e = record["enterprise"]
    login(client, make_user("coordinator"))
    history = client.get(f"/enterprises/{e.id}").get_data(as_text=True)
    history = page_text(history[history.index('id="history"'):])
    assert "诉求" in history and "状态: 已提出 → 已受理" in history
    assert "状态: 已解决 → 已办结" in history and "满意度: (空) → 5" in history
    assert "服务记录" in history and "服务方式: (空) → 走访" in history and "服务领域: (空) → 科技" in history
    assert "政策兑现" in history and "政策类别: (空) → 用地" in history and "承诺兑现日期" in history
    assert "状态: (空) → 待兑现" in history
    for code in ("raised", "accepted", "in_progress", "promised", "occurred_on", "next_follow_up"):
        assert code not in history, code


def test_history_labels_assignments(client):
    from crm.service import assignments

    e = make_enterprise(county="汇川区")
    tech = make_user("commissioner", specialties=["tech"])
    coordinator = make_user("coordinator")
    assignments.assign(coordinator, e, "tech", tech)
    db.session.commit()
    login(client, coordinator)
    history = client.get(f"/enterprises/{e.id}").get_data(as_text=True)
    history = page_text(history[history.index('id="history"'):])
    assert "服务分配" in history and "专长: (空) → 科技" in history and "服务专员: (空) →" in history


def test_the_page_makes_a_fixed_number_of_queries(client, count_queries):
    coordinator = make_user("coordinator")
    small = make_enterprise(county="汇川区")
    large = make_enterprise(county="汇川区")
    one = make_user("commissioner", specialties=["tech"])
    assign(small, one, "tech")
    visit(one, small, -3, "一次走访")
    requests.raise_request(one, small, {"category": "其他", "description": "一个诉求"})
    policy.create_delivery(None, small, {"kind": "税收", "promised": "一项承诺", "promised_date": days(5)})
    for specialty in ("tech", "finance", "legal", "media", "talent"):
        user = make_user("commissioner", specialties=[specialty])
        user.phone = "0851-28000000"
        assign(large, user, specialty)
        for n in range(3):
            # every record by someone else, so no user is already loaded by another section
            visit(make_user("coordinator"), large, -n * 7 - 1, f"{specialty} 走访 {n}", specialty=specialty,
                  follow_up=-n)
            req = requests.raise_request(user, large, {"category": "其他", "description": f"{specialty} 诉求 {n}",
                                                       "raised_on": days(-n * 20),
                                                       "owner": make_user("coordinator").username})
            if n:
                requests.transition(user, req, "accepted")
            policy.create_delivery(None, large, {"kind": "用地", "promised": f"{specialty} 承诺 {n}", "amount": "1",
                                                 "owner": make_user("coordinator").username,
                                                 "promised_date": days(-3)})
    db.session.commit()
    login(client, coordinator)

    def queries_for(path: str) -> int:
        db.session.expire_all()
        with count_queries() as queries:
            assert client.get(path).status_code == 200
        return queries.count

    queries_for(f"/enterprises/{small.id}")  # the first request also opens the session's savepoint
    few, many = queries_for(f"/enterprises/{small.id}"), queries_for(f"/enterprises/{large.id}")
    assert few == many, (few, many)
