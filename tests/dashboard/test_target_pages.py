"""The targets dashboard pages: the year's numbers with their rules, the chart's data (the table's rows), the
drill-down, who sees what, and the admins' counting rules page."""

from __future__ import annotations

import html
import json
import re
from datetime import date, datetime
from unittest import mock

import pytest
import sqlalchemy as sa

from crm.core.time import SHANGHAI
from crm.dashboard import jobs, rules, targets
from crm.dashboard.models import CountingRules, OutputMeasure
from crm.extensions import db
from crm.reference.models import Target
from tests.conftest import csrf_token_from, login, make_user
from tests.dashboard import targets_world

TODAY = date(2026, 12, 6)


@pytest.fixture
def world():
    return targets_world.build()


@pytest.fixture(autouse=True)
def _today():
    with mock.patch.object(targets, "local_today", return_value=TODAY), \
            mock.patch.object(rules, "local_today", return_value=TODAY):
        yield


def page(client, user, url):
    login(client, user)
    return client.get(url)


def chart_of(text: str) -> dict:
    match = re.search(r'data-chart="([^"]*)"', text)
    return json.loads(html.unescape(match.group(1)))


def test_the_year_page(client, world):
    response = page(client, make_user("leader"), "/dashboard/targets/2025")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "2025年目标" in text and "2027年目标" in text  # the year tabs
    assert 'data-unit="汇川区"' in text and 'data-unit="桐梓县"' in text
    assert "/dashboard/targets/2025/firms?county=%E6%B1%87%E5%B7%9D%E5%8C%BA" in text  # drill-down of 汇川区
    assert html.escape(world.editions["2025H2"].period) and "2025年下半年版" in text  # the rule beside the number
    assert "落户日期在2024年12月3日至2025年12月31日之间" in text
    assert "尚差 7家" in text  # the city: 10 − 3
    assert "已冻结" not in text
    chart = chart_of(text)  # the chart's data are the table's rows
    assert chart["units"] == ["遵义市", "汇川区", "桐梓县"]
    assert chart["actual_firms"] == [3, 2, 1] and chart["target_firms"] == [10, 6, 4]
    assert chart["actual_output"] == [3.734567, 2.5, 1.234567]
    assert "vendor/echarts/echarts.min.js" in text and "js/dashboard.js" in text
    assert "<script>" not in text and " style=" not in text


def test_dashboard_home_is_the_first_year_not_over(client, world):
    text = page(client, make_user("admin"), "/dashboard/").get_data(as_text=True)
    assert "2027年 · 进度判断日 2026-12-06" in text
    assert "统计口径设置" in text  # an admin's link


def test_a_frozen_year_is_marked(client, world):
    jobs.snapshot_targets(datetime(2026, 1, 1, 0, 30, tzinfo=SHANGHAI))
    text = page(client, make_user("leader"), "/dashboard/targets/2025").get_data(as_text=True)
    assert re.search(r"已冻结\S\d{4}-\d{2}-\d{2}\S", text)


def test_county_targets_not_adding_up_are_said(client, world):
    target = db.session.scalars(sa.select(Target).where(Target.year == 2025, Target.county_id.is_not(None))).first()
    target.target_firms += 1
    db.session.flush()
    text = page(client, make_user("leader"), "/dashboard/targets/2025").get_data(as_text=True)
    assert "2025年各区县规上配套企业目标合计 11 家,与全市目标 10 家不一致" in text


def test_a_county_scoped_user_sees_their_county_and_the_city(client, world):
    text = page(client, make_user("coordinator", county="桐梓县"), "/dashboard/targets/2025").get_data(as_text=True)
    assert 'data-unit="桐梓县"' in text and 'data-unit="汇川区"' not in text and 'data-unit="city"' in text
    assert chart_of(text)["units"] == ["遵义市", "桐梓县"]


def test_commissioners_are_refused(client, world):
    commissioner = make_user("commissioner", specialties=["tech"])
    login(client, commissioner)
    for url in ("/dashboard/", "/dashboard/targets/2025", "/dashboard/targets/2025/firms",
                "/dashboard/targets/2025/settled", "/dashboard/targets/2025/parks", "/dashboard/rules"):
        assert client.get(url).status_code == 403, url
    assert "目标完成" not in client.get("/service/").get_data(as_text=True)  # no nav link


def test_nav_link_and_leader_home(client, world):
    leader = make_user("leader")
    login(client, leader)
    assert 'href="/dashboard/"' in client.get("/calendar/home").get_data(as_text=True)


def test_a_year_without_targets_is_404(client, world):
    assert page(client, make_user("admin"), "/dashboard/targets/2026").status_code == 404


def test_drill_down_to_the_firms(client, world):
    text = page(client, make_user("leader"), "/dashboard/targets/2025/firms?county=汇川区").get_data(as_text=True)
    assert f'/enterprises/{world.firms["A"].id}"' in text and f'/enterprises/{world.firms["F"].id}"' in text
    assert "遵义乙配套有限公司" not in text and "桐梓丙配套有限公司" not in text
    assert "2.5000" in text


def test_drill_down_is_scoped(client, world):
    scoped = make_user("coordinator", county="桐梓县")
    login(client, scoped)
    assert client.get("/dashboard/targets/2025/firms?county=汇川区").status_code == 403
    text = client.get("/dashboard/targets/2025/firms").get_data(as_text=True)
    assert "桐梓丙配套有限公司" in text and "遵义甲配套有限公司" not in text


def test_drill_down_of_settled_firms_and_parks(client, world):
    login(client, make_user("leader"))
    settled = client.get("/dashboard/targets/2025/settled").get_data(as_text=True)
    assert "成渝落户测试S2有限公司" in settled and "成渝落户测试S1有限公司" not in settled
    parks = client.get("/dashboard/targets/2027/parks").get_data(as_text=True)
    assert "测试配套产业园P1" in parks and "测试配套产业园P2" in parks and "测试配套产业园P3" not in parks


def test_an_admin_changes_the_rules(client, world):
    admin = make_user("admin")
    login(client, admin)
    form = client.get("/dashboard/rules")
    assert form.status_code == 200
    token = csrf_token_from(form.get_data(as_text=True))
    response = client.post("/dashboard/rules", data={
        "csrf_token": token, "output_measure": "chengyu_output_value", "settled_since": "2025-01-01",
        "trajectory_start": "2024-12-03", "version": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    saved = db.session.get(CountingRules, 1)
    assert saved.output_measure is OutputMeasure.CHENGYU and saved.settled_since == date(2025, 1, 1)


def test_a_bad_date_is_refused_on_the_form(client, world):
    login(client, make_user("admin"))
    token = csrf_token_from(client.get("/dashboard/rules").get_data(as_text=True))
    response = client.post("/dashboard/rules", data={
        "csrf_token": token, "output_measure": "output_value", "settled_since": "1999-01-01",
        "trajectory_start": "2024-12-03", "version": "1"})
    assert response.status_code == 422
    assert "2000 年至 2100 年" in response.get_data(as_text=True)
    assert db.session.get(CountingRules, 1) is None


@pytest.mark.parametrize("spec", [{"role": "leader"}, {"role": "coordinator"}])
def test_only_admins_reach_the_rules_page(client, spec):
    assert page(client, make_user(**spec), "/dashboard/rules").status_code == 403
