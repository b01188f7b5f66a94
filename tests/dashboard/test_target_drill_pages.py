"""The drill-down pages at provincial scale (issue 11: no page over 150 KB): the firms and settled firms behind a
number are drawn 50 a page, while the count and the sums shown are those of every row (the API answers all)."""

from __future__ import annotations

import re
from datetime import date
from unittest import mock

import pytest

from crm.dashboard import rules, targets
from crm.extensions import db
from crm.rosters import domain as rosters
from tests.conftest import login, make_enterprise, make_user
from tests.dashboard import targets_world

TODAY = date(2026, 12, 6)


@pytest.fixture(autouse=True)
def _today():
    with mock.patch.object(targets, "local_today", return_value=TODAY), \
            mock.patch.object(rules, "local_today", return_value=TODAY):
        yield


def _links(text: str) -> list[str]:
    return re.findall(r'href="/enterprises/(\d+)"', text)


def test_the_firms_behind_a_number_are_drawn_a_page_at_a_time(client):
    world = targets_world.build()
    edition = rosters.open_edition(None, targets_world.KIND, "2027H1")  # a copy of 2026H1 (A, B, C, F) and 57 more
    for i in range(57):
        firm = make_enterprise(county="汇川区")
        targets_world.figure(firm, 2027, str(100 + i))
        rosters.add_entry(None, edition, firm, "入库测试")
    targets_world.publish(edition)
    db.session.flush()
    leader = make_user("leader")
    everything = targets.drill_firms(2027, leader, today=TODAY)
    assert len(everything) == 60  # A, B, F and the 57 (C is 规下)
    login(client, leader)

    first = client.get("/dashboard/targets/2027/firms").get_data(as_text=True)
    assert _links(first) == [str(row["id"]) for row in everything[:50]]  # the largest first, as before
    assert '<span class="badge text-bg-secondary">60</span>' in first
    total = sum(row["output"] for row in everything)
    assert f"{total:.4f}" in first and "全部 60 家" in first  # the sum of every row, not the page's
    assert "/dashboard/targets/2027/firms?page=2" in first
    second = client.get("/dashboard/targets/2027/firms?page=2").get_data(as_text=True)
    assert _links(second) == [str(row["id"]) for row in everything[50:]]
    county = client.get("/dashboard/targets/2027/firms?county=汇川区&page=2").get_data(as_text=True)
    assert "county=%E6%B1%87%E5%B7%9D%E5%8C%BA" in county  # the pager keeps the county
    assert client.get("/dashboard/targets/2027/firms?page=0").status_code in (400, 422)

    settled = client.get("/dashboard/targets/2027/settled?per_page=2").get_data(as_text=True)
    assert len(_links(settled)) == 2 and '<span class="badge text-bg-secondary">3</span>' in settled  # S2, S3, S4
    assert world.settled["S2"].name in settled
