"""一企一档's service cards after the fourth provincial-scale pass (benchmarks/README.md, "Fourth pass: coverage and
一企一档"): read as plain columns in four statements, the same rows and words as the entities gave."""

from __future__ import annotations

import re
from datetime import date, timedelta

from crm.core import cache
from crm.core.time import local_today
from crm.extensions import db
from crm.service import policy, requests
from crm.service.enterprise_page import SECTION_ROWS, enterprise_sections
from crm.service.models import Channel, Interaction
from tests.conftest import assign, login, make_enterprise, make_user


def _log(enterprise, author, when: date, summary: str) -> Interaction:
    row = Interaction(enterprise_id=enterprise.id, occurred_on=when, channel=Channel.VISIT, specialty="tech",
                      summary=summary, created_by_id=author.id if author else None)
    db.session.add(row)
    db.session.flush()
    return row


def test_the_service_cards_read_four_statements_whatever_the_record_holds(app, count_queries):
    today = local_today()
    firm = make_enterprise(county="汇川区")
    tech = make_user("commissioner", specialties=["tech", "finance", "legal", "media", "talent"])
    for specialty in ("tech", "finance", "legal", "media", "talent"):
        assign(firm, tech, specialty)
    for n in range(SECTION_ROWS * 3):
        _log(firm, make_user("coordinator"), today - timedelta(days=n), f"走访{n}")
    for n in range(12):
        requests.raise_request(tech, firm, {"category": "其他", "description": f"诉求{n}",
                                            "owner": make_user("coordinator").username})
        policy.create_delivery(None, firm, {"kind": "用地", "promised": f"承诺{n}", "promised_date":
                                            (today - timedelta(days=n)).isoformat()})
    db.session.flush()
    cache.versions()  # read, as on a page, by the statement that finds the session (crm.core.cache.versions_column)
    with app.test_request_context(f"/enterprises/{firm.id}?interactions_page=2"), count_queries() as queries:
        found = enterprise_sections(firm, tech, True)
    assert queries.count == 4  # a page of 服务记录 with its count, the 诉求, the 政策兑现, the commissioners
    assert found["interaction_page"] == 2 and found["interaction_total"] == SECTION_ROWS * 3
    assert [i.summary for i in found["interactions"]] == [f"走访{n}" for n in range(SECTION_ROWS, 2 * SECTION_ROWS)]
    assert len(found["requests"]) == 12 and len(found["deliveries"]) == 12
    assert all(found["commissioners"][s].display_name == tech.display_name for s in found["commissioners"])


def test_the_cards_name_authors_owners_and_commissioners(client):
    today = local_today()
    firm = make_enterprise("遵义明文列测试有限公司", county="汇川区")
    tech = make_user("commissioner", specialties=["tech"], username="plain-tech")
    tech.display_name, tech.phone = "李专员", "0851 2800 0001"
    assign(firm, tech, "tech")
    _log(firm, None, today - timedelta(days=2), "系统导入的记录")
    _log(firm, tech, today - timedelta(days=1), "专员的走访")
    owner = make_user("coordinator", username="plain-owner")
    owner.display_name = "赵科长"
    requests.raise_request(tech, firm, {"category": "其他", "description": "有负责人的诉求", "owner": owner.username})
    db.session.commit()
    login(client, tech)  # a commissioner: the statements keep their scope (their enterprise: every row)
    html = client.get(f"/enterprises/{firm.id}").get_data(as_text=True)
    visits = html[html.index('id="interactions"'):]
    visits = visits[:visits.index("</section>")]
    assert re.findall(r'<span class="small text-muted">([^<]+)</span>', visits) == ["李专员", "系统"]
    asks = html[html.index('id="requests"'):]
    assert "负责人 赵科长" in asks[:asks.index("</section>")]
    people = html[html.index('id="commissioners"'):]
    people = people[:people.index("</section>")]
    assert 'href="tel:085128000001">0851 2800 0001</a>' in people and "李专员" in people


def test_the_timeline_pages_count_and_clamp_as_before(client):
    today = local_today()
    firm = make_enterprise(county="汇川区")
    empty = make_enterprise(county="汇川区")
    coordinator = make_user("coordinator")
    for n in range(SECTION_ROWS * 2 + 3):
        _log(firm, coordinator, today - timedelta(days=n), f"第{n}次")
    db.session.commit()
    login(client, coordinator)

    def card(path: str) -> str:
        html = client.get(path).get_data(as_text=True)
        start = html.index('id="interactions"')
        return html[start:html.index("</section>", start)]

    first = card(f"/enterprises/{firm.id}")
    assert f"共 {SECTION_ROWS * 2 + 3} 条,最近 {today.isoformat()}" in first and "第 1 / 3 页" in first
    last = card(f"/enterprises/{firm.id}?interactions_page=3")
    assert "第 3 / 3 页" in last and re.findall(r"第(\d+)次", last) == [str(n) for n in range(20, 23)]
    assert card(f"/enterprises/{firm.id}?interactions_page=99") == last  # past the end: the last page
    assert f"共 {SECTION_ROWS * 2 + 3} 条" in last
    nothing = card(f"/enterprises/{empty.id}?interactions_page=5")
    assert "共 0 条" in nothing and "尚无服务记录" in nothing and "data-interaction-pages" not in nothing
