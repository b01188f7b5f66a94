"""The workspace's commissioner chooser (drawn by a plain loop over its choices): every commissioner the viewer
may pick, labelled name(username) · county, the chosen one selected; a county coordinator's lists their county's
and the city-wide ones only."""

from __future__ import annotations

import re

from crm.extensions import db
from tests.conftest import assign, login, make_enterprise, make_user


def options(html: str) -> list[tuple[str, str, str]]:
    select = re.search(r'<select[^>]* data-autosubmit[^>]* name="commissioner"[^>]*>(.*?)</select>', html, re.S)
    assert select, "the chooser"
    return re.findall(r'<option (selected )?value="([^"]*)">([^<]*)</option>', select.group(1))


def test_the_chooser_lists_the_commissioners_and_selects_the_chosen_one(client):
    city = make_user("commissioner", username="chooser-city", specialties=["tech"])
    hc = make_user("commissioner", username="chooser-hc", county="汇川区", specialties=["tech"])
    tz = make_user("commissioner", username="chooser-tz", county="桐梓县", specialties=["tech"])
    enterprise = make_enterprise(county="汇川区")
    assign(enterprise, hc)
    coordinator = make_user("coordinator")
    county_coordinator = make_user("coordinator", county="汇川区")
    db.session.commit()

    login(client, coordinator)
    html = client.get("/service/?commissioner=chooser-hc").get_data(as_text=True)
    found = options(html)
    assert found[0] == ("selected ", "", "全部服务专员") or found[0] == ("", "", "全部服务专员")
    by_value = {value: (selected, label) for selected, value, label in found}
    assert by_value["chooser-hc"] == ("selected ", f"{hc.display_name}(chooser-hc) · 汇川区")
    assert by_value["chooser-city"] == ("", f"{city.display_name}(chooser-city)")
    assert "chooser-tz" in by_value
    assert [selected for selected, _, _ in found].count("selected ") == 1
    assert f'data-enterprise="{enterprise.id}"' in html or str(enterprise.id) in html

    client.delete_cookie("session")
    client.delete_cookie("remember_token")
    login(client, county_coordinator)
    assert f"{county_coordinator.display_name}" in client.get("/service/").get_data(as_text=True)
    values = {value for _, value, _ in options(client.get("/service/").get_data(as_text=True))}
    assert {"chooser-hc", "chooser-city"} <= values and "chooser-tz" not in values
    assert tz.username not in values
