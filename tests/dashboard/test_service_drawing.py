"""The service dashboard's tables as drawn since issue 11's fourth pass (crm/dashboard/service_views.py): cells built
in the view with one ``url_for`` per row, and the figures kept per process under the data versions
(crm/dashboard/service.py ``_figures``). The links must be exactly the ones the per-cell ``url_for`` made; a
committed write must show at the next view; a county user must never be served the city's (or another county's)
figures."""

from __future__ import annotations

import re
from html import unescape

from flask import url_for

from crm.core import cache
from crm.dashboard import service as perf
from crm.dashboard.service_views import DRILL
from crm.extensions import db
from tests.conftest import login, make_user
from tests.dashboard.service_data import END, START, build, interaction
from tests.dashboard.test_service_pages import NOVEMBER, URL, kpi, signed_in

COUNTY_COLUMNS = ("visits", "interactions", "requests_raised", "requests_closed", "requests_overdue",
                  "deliveries_delivered", "listed", "meetings_chengyu")
DEPARTMENT_COLUMNS = ("requests_raised", "requests_closed", "requests_overdue", "deliveries_delivered")
PEOPLE_COLUMNS = ("visits", "interactions", "requests_raised", "requests_closed", "requests_overdue",
                  "deliveries_delivered", "assigned_enterprises", "visited_enterprises")


def _expected_links(result, base_args):
    """Every drill-down link of the three tables, made as the template's old macro made them: ``url_for`` per
    cell with the measure, the period (and county) and the row's own argument, for a number that is not 0."""
    def links(row, columns, extra):
        return [url_for("performance.records", measure=DRILL[m], **dict(base_args, **extra))
                for m in columns if row[m]]
    found = []
    for row in result["counties"]:
        found += links(row, COUNTY_COLUMNS, {"county": row["county"]})
    if result["scope"] == "city":
        found += links(result["city"], COUNTY_COLUMNS, {"county": ""})
    for row in result["departments"]:
        department = row["department_id"] if row["department_id"] is not None else "none"
        found += links(row, DEPARTMENT_COLUMNS, {"department": department})
    for row in result["commissioners"]:
        found += links(row, PEOPLE_COLUMNS, {"commissioner": row["user_id"]})
    return sorted(found)


def _table_links(html):
    tables = "".join(re.findall(r'data-table="(?:counties|departments|commissioners)">.*?</table>', html, re.S))
    return sorted(unescape(href) for href in re.findall(r'<a href="([^"]+)" data-drill="', tables))


def test_every_drill_down_link_is_the_one_url_for_makes(app):
    data = build()
    leader = make_user("leader")
    county_user = make_user("coordinator", county="汇川区")
    cases = [(leader, {}, None), (leader, {"county": "汇川区"}, "汇川区"), (county_user, {}, None)]
    for viewer, query, county in cases:
        c = signed_in(app.test_client(), viewer)
        html = c.get(URL, query_string={**NOVEMBER, **query}).get_data(as_text=True)
        result = perf.performance(viewer, START, END, county)
        base_args = {"from": "2026-11-01", "to": "2026-11-30"}
        if result["county"]:
            base_args["county"] = result["county"]
        with app.test_request_context():
            expected = _expected_links(result, base_args)
        assert expected and _table_links(html) == expected, (viewer.role, query)
    # the numbers beside the links are the domain's (a commissioner's row: 专员乙 visited e3 and e1)
    html = signed_in(app.test_client(), leader).get(URL, query_string=NOVEMBER).get_data(as_text=True)
    row = re.search(rf'<th scope="row">{data.b.display_name}</th>(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r'<td class="text-end">(.*?)</td>', row)]
    assert cells[:2] == ["2", "3"] and cells[-3:] == ["1", "1", "100.0%"]


def test_cached_figures_follow_committed_writes_and_stay_with_their_county(fresh_app, count_queries):
    """Real commits on a database of its own (PostgreSQL: the figures are cached; SQLite: computed every time,
    the same answers): the city's view never answers a county user, a county's never the city, and a committed
    服务记录 shows at the next view of each."""
    cache.clear()
    with fresh_app.app_context():
        try:
            data = build()
            leader = make_user("leader")
            county_user = make_user("coordinator", county="汇川区")
            db.session.commit()
            city_client, county_client = fresh_app.test_client(), fresh_app.test_client()
            login(city_client, leader)
            login(county_client, county_user)

            def visits(c, query=None):
                db.session.commit()  # a new transaction: what was committed since
                html = c.get(URL, query_string={**NOVEMBER, **(query or {})}).get_data(as_text=True)
                return kpi(html, "visits"), html

            with count_queries() as cold:
                assert visits(city_client)[0] == "3"
            with count_queries() as warm:
                assert visits(city_client)[0] == "3"
            if cache.enabled():
                assert warm.count < cold.count  # served from the cache
            county_visits, html = visits(county_client)
            assert county_visits == "2" and "全市 3" in html  # 汇川区: e1's two visits, not the city's
            assert visits(city_client, {"county": "汇川区"})[0] == "2"
            assert visits(city_client)[0] == "3"
            assert county_client.get(URL, query_string={**NOVEMBER, "county": "红花岗区"}).status_code == 403

            interaction(data.e3, data.b, "2026-11-23")  # 红花岗区: the city moves, 汇川区 does not
            db.session.commit()
            city_visits, html = visits(city_client)
            assert city_visits == "4"
            row = re.search(rf'<th scope="row">{data.b.display_name}</th>(.*?)</tr>', html, re.S).group(1)
            assert re.sub(r"<[^>]+>", "", re.findall(r'<td class="text-end">(.*?)</td>', row)[0]) == "3"
            county_visits, html = visits(county_client)
            assert county_visits == "2" and "全市 4" in html

            interaction(data.e2, data.a, "2026-11-24")  # 汇川区 now: both move
            db.session.commit()
            assert visits(county_client)[0] == "3" and visits(city_client)[0] == "5"
            data.b.display_name = "专员乙改"  # a name is read on every view: no data version needed
            db.session.commit()
            assert "专员乙改" in visits(city_client)[1]
        finally:
            db.session.rollback()
            cache.clear()


def test_the_kept_body_is_the_one_for_its_commissioners_page_and_period(fresh_app, monkeypatch):
    """The dashboard's body is kept once drawn (crm.core.cache.cached_markup) under the scope, county, period and
    commissioners' page: another page of commissioners, or another period, is never served the kept one, and each
    kept body equals the one drawn with nothing kept."""
    from crm.dashboard import service_views

    monkeypatch.setattr(service_views, "COMMISSIONERS_PER_PAGE", 1)
    cache.clear()
    with fresh_app.app_context():
        try:
            build()
            leader = make_user("leader")
            db.session.commit()
            client = fresh_app.test_client()
            login(client, leader)

            def body(query):
                db.session.commit()
                html = client.get(URL, query_string=query).get_data(as_text=True)
                return html[html.index('aria-label="关键指标"'):html.index("统计口径")]

            queries = [{**NOVEMBER, "commissioners_page": str(n)} for n in (1, 2, 3)]
            queries.append({"from": "2026-11-20", "to": "2026-11-30", "commissioners_page": "1"})
            fresh = []
            for query in queries:
                cache.clear()
                fresh.append(body(query))
            assert len(set(fresh)) == len(queries)  # four different bodies
            cache.clear()
            for _ in range(2):  # drawn, then kept: each its own
                assert [body(query) for query in queries] == fresh
        finally:
            db.session.rollback()
            cache.clear()
