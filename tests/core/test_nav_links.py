"""The navigation's links drawn once per process (crm.web.nav_links, templates/_nav_links.html): each role sees its
own links, a county-scoped coordinator not the city's report, the page's own link is the active one, and a kept
drawing is the one drawn afresh — whoever was served first."""

from __future__ import annotations

import re

import pytest

from crm import web
from tests.conftest import login, make_user

LINKS = re.compile(r'<ul class="navbar-nav me-auto">.*?\n      </ul>', re.S)


def _links(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    found = LINKS.search(response.get_data(as_text=True))
    assert found, path
    return found.group(0)


def _signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _active(links: str) -> list[str]:
    return re.findall(r'class="nav-link(?: dropdown-toggle)? active"[^>]*>([^<]+)<', links)


@pytest.mark.parametrize(("role", "county", "shown", "hidden"), [
    ("admin", None, ["服务分配", "用户管理", "定时任务", "方案落实情况报告"], ["我的企业", "本单位台账"]),
    ("coordinator", None, ["服务分配", "园区与目标", "方案落实情况报告"], ["用户管理", "我的企业"]),
    ("coordinator", "汇川区", ["服务分配", "园区与目标"], ["方案落实情况报告", "用户管理"]),
    ("leader", None, ["服务分配", "目标完成", "方案落实情况报告"], ["园区与目标", "用户管理"]),
    ("commissioner", "汇川区", ["我的企业", "我的服务绩效"], ["服务分配", "目标完成", "管理"]),
])
def test_each_role_is_drawn_its_own_links_kept_or_not(app, role, county, shown, hidden):
    web._NAV_LINKS.clear()
    user = make_user(role, county=county, specialties=["tech"] if role == "commissioner" else None)
    client = _signed_in(app, user)
    for first in (make_user("admin"), make_user("commissioner", county="汇川区", specialties=["tech"])):
        _links(_signed_in(app, first), "/enterprises/")  # someone else drawn first
        kept = _links(client, "/enterprises/")
        web._NAV_LINKS.clear()
        assert kept == _links(client, "/enterprises/")  # the same as drawn afresh
        for text in shown:
            assert f">{text}" in kept, (role, county, text)
        for text in hidden:
            assert f">{text}" not in kept, (role, county, text)


def test_the_active_link_follows_the_page(client):
    web._NAV_LINKS.clear()
    login(client, make_user("coordinator"))
    assert _active(_links(client, "/enterprises/")) == ["企业档案"]
    assert _active(_links(client, "/service/")) == ["服务工作台"]
    assert _active(_links(client, "/service/requests/")) == ["诉求台账"]  # the same blueprint, another page
    assert _active(_links(client, "/enterprises/")) == ["企业档案"]  # kept, still this page's
    assert _active(_links(client, "/notifications/")) == []


def test_a_liaison_sees_only_their_department_links(app):
    web._NAV_LINKS.clear()
    _links(_signed_in(app, make_user("admin")), "/service/requests/")
    links = _links(_signed_in(app, make_user("liaison")), "/service/requests/")
    assert ">本单位台账<" in links and ">诉求台账<" in links and ">企业档案<" not in links
    assert _active(links) == ["诉求台账"]


def test_the_drawings_kept_are_bounded(client, monkeypatch):
    monkeypatch.setattr(web, "NAV_LINKS_MAX", 2)
    web._NAV_LINKS.clear()
    login(client, make_user("admin"))
    for path in ("/enterprises/", "/service/", "/notifications/", "/rosters/"):
        _links(client, path)
        assert len(web._NAV_LINKS) <= 2


def test_a_city_and_a_county_coordinator_are_never_served_each_others_links(app):
    city = _signed_in(app, make_user("coordinator"))
    county = _signed_in(app, make_user("coordinator", county="汇川区"))
    for order in ((city, county), (county, city)):
        web._NAV_LINKS.clear()
        for client in (*order, *order):
            assert (">方案落实情况报告" in _links(client, "/enterprises/")) is (client is city)
