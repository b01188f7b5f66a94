"""The pages /dashboard/service and /dashboard/service/records: the same numbers as the domain, scoped per role,
refusals (403), bad input (400 with a Chinese message, never 500), drill-down to the records and the 一企一档."""

from __future__ import annotations

import re

from crm.extensions import db
from tests.conftest import login, make_user
from tests.dashboard.service_data import build

URL = "/dashboard/service/"
NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def signed_in(client, user):
    db.session.commit()
    login(client, user)
    return client


def kpi(html: str, metric: str) -> str:
    match = re.search(rf'data-kpi="{metric}".*?fs-4 fw-semibold">(.*?)</div>', html, re.S)
    assert match, metric
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_city_page_shows_the_numbers_tables_chart_and_rankings(client):
    data = build()
    html = signed_in(client, make_user("leader")).get(URL, query_string=NOVEMBER).get_data(as_text=True)
    assert kpi(html, "requests_overdue") == "3"
    assert kpi(html, "median_days_to_close") == "9.5 天"
    assert kpi(html, "on_time_rate") == "50.0%"
    assert kpi(html, "mean_satisfaction") == "4.00"
    assert kpi(html, "coverage") == "33.3%"
    assert kpi(html, "meetings_chengyu") == "1"
    for table in ("visits-by-month", "counties", "departments", "commissioners"):
        assert f'data-table="{table}"' in html
    assert 'data-ranking="on_time"' in html and "perf_b" not in html  # names, not usernames
    assert data.b.display_name in html
    assert 'id="visits-chart" data-chart="' in html and "2026-11" in html
    assert "echarts.min.js" in html and "js/performance.js" in html
    assert "<script>" not in html and "style=" not in html
    # drill-down: the overdue number links to the records
    assert 'href="/dashboard/service/records?measure=requests_overdue&amp;from=2026-11-01&amp;to=2026-11-30"' in html
    assert '>服务绩效</a>' in html  # the nav link


def test_drill_down_lists_the_records_and_links_the_enterprise(client):
    data = build()
    c = signed_in(client, make_user("coordinator"))
    response = c.get("/dashboard/service/records", query_string={**NOVEMBER, "measure": "requests_overdue"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    for enterprise in (data.e2, data.e3, data.e4):
        assert f'href="/enterprises/{enterprise.id}"' in html
    assert f'href="/enterprises/{data.e1.id}"' not in html
    assert "期末逾期的诉求" in html and "/service/requests/" in html
    uncovered = c.get("/dashboard/service/records",
                      query_string={**NOVEMBER, "measure": "uncovered", "county": "汇川区"}).get_data(as_text=True)
    assert f'href="/enterprises/{data.e2.id}"' in uncovered and f'href="/enterprises/{data.e1.id}"' not in uncovered


def test_county_user_sees_their_county_and_the_city_total(client):
    build()
    c = signed_in(client, make_user("coordinator", county="汇川区"))
    html = c.get(URL, query_string=NOVEMBER).get_data(as_text=True)
    assert kpi(html, "requests_raised") == "4"
    assert "全市 7" in html
    assert "红花岗区" not in html.split('data-table="counties"')[1].split("</table>")[0]
    assert 'name="county"' not in html  # no county filter for a county-scoped user
    assert c.get(URL, query_string={**NOVEMBER, "county": "红花岗区"}).status_code == 403
    assert c.get("/dashboard/service/records",
                 query_string={**NOVEMBER, "measure": "visits", "county": "红花岗区"}).status_code == 403


def test_commissioner_sees_only_their_own(client):
    data = build()
    c = signed_in(client, data.a)
    html = c.get(URL, query_string=NOVEMBER).get_data(as_text=True)
    assert "我的服务绩效" in html
    assert data.b.display_name not in html and data.c.display_name not in html
    assert "data-ranking" not in html and 'data-table="counties"' not in html
    assert kpi(html, "requests_closed") == "3"
    assert kpi(html, "visit_coverage") == "50.0%"
    refused = c.get("/dashboard/service/records",
                    query_string={**NOVEMBER, "measure": "visits", "commissioner": data.b.id})
    assert refused.status_code == 403
    mine = c.get("/dashboard/service/records", query_string={**NOVEMBER, "measure": "requests_closed"})
    assert mine.status_code == 200 and f'href="/enterprises/{data.e1.id}"' in mine.get_data(as_text=True)
    assert c.get("/dashboard/service/records",
                 query_string={**NOVEMBER, "measure": "uncovered"}).status_code == 403


def test_bad_input_shows_the_page_with_a_message(client):
    build()
    c = signed_in(client, make_user("admin"))
    for query in ({"from": "2026-02-30"}, {"to": "abc"}, {"from": "2026-11-30", "to": "2026-11-01"},
                  {"county": "火星区"}):
        response = c.get(URL, query_string=query)
        html = response.get_data(as_text=True)
        assert response.status_code == 400, query
        assert "data-error" in html and "已按默认条件显示" in html
    for query in ({"measure": "nope"}, {"measure": "visits", "commissioner": "x"},
                  {"measure": "visits", "department": "x"}, {"measure": "visits", "from": "x"}):
        assert c.get("/dashboard/service/records", query_string=query).status_code == 400, query


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get(URL).status_code == 302


def test_the_commissioner_table_is_paged_and_the_rankings_still_see_everyone(client, monkeypatch):
    from crm.dashboard import service_views

    data = build()
    monkeypatch.setattr(service_views, "COMMISSIONERS_PER_PAGE", 1)
    c = signed_in(client, make_user("leader"))
    names, page = [], 1
    while True:
        html = c.get(URL, query_string={**NOVEMBER, "commissioners_page": page}).get_data(as_text=True)
        table = re.search(r'data-table="commissioners">.*?</table>', html, re.S).group(0)
        rows = re.findall(r'<tr><th scope="row">(.*?)</th>', table)
        assert len(rows) == 1
        names += rows
        assert 'data-ranking="on_time"' in html
        if "data-commissioners-next" not in html:
            break
        assert f"commissioners_page={page + 1}" in html and "from=2026-11-01" in html
        page += 1
    assert page >= 2 and len(names) == len(set(names)) and data.b.display_name in names
    # a bad or too large page number shows the nearest page, never an error
    for raw in ("0", "x", "999"):
        assert c.get(URL, query_string={**NOVEMBER, "commissioners_page": raw}).status_code == 200
