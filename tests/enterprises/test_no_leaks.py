"""Nothing leaks across scopes (issue 10, item 5): a duplicate 统一社会信用代码 or name on create or edit, page
and API, names the enterprise that holds it only when the user may see that enterprise.

The attacks: a county coordinator of 汇川区 creating (or editing towards) a firm whose code or name exists in
红花岗区, and a commissioner renaming their own enterprise to another commissioner's. Each answer must be the
neutral "already registered, ask a city-wide coordinator" and hold none of the hidden firm's name, code, county
or id; the same attack on a firm the user may see names it.
"""

from __future__ import annotations

import html as html_lib
import json
import re

import pytest
import sqlalchemy as sa

from crm.enterprises.domain import DUPLICATE_NAME_HIDDEN, DUPLICATE_USCC_HIDDEN
from crm.enterprises.models import Enterprise
from crm.extensions import db
from tests.api.support import bearer, error_of
from tests.conftest import assign, login, make_enterprise, make_uscc, make_user
from tests.enterprises.test_views import field_block, form_data, page_text

HIDDEN_NAME = "遵义隐秘精工(红花岗)有限公司"


@pytest.fixture
def world():
    hidden = make_enterprise(HIDDEN_NAME, county="红花岗区")
    own = make_enterprise("遵义汇川自有机械有限公司", county="汇川区")
    county = make_user("coordinator", county="汇川区")
    commissioner = make_user("commissioner", specialties=["tech"])
    other = make_user("commissioner", specialties=["tech"])
    neighbour = make_enterprise("遵义汇川邻家电子有限公司", county="汇川区")  # same county, another's firm
    assign(own, commissioner)
    assign(neighbour, other)
    db.session.commit()
    return {"hidden": hidden, "own": own, "neighbour": neighbour, "county": county, "commissioner": commissioner}


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Enterprise))


def assert_nothing_of(text: str, enterprise: Enterprise, *, typed: str = "") -> None:
    """None of ``enterprise``'s identifying values is in ``text``, except what the user typed themselves."""
    for value in (enterprise.name, enterprise.uscc, f"/enterprises/{enterprise.id}", enterprise.county.name):
        if value != typed:
            assert value not in text, value


def answer_of(response) -> tuple[int, object]:
    """What a refusal says: the status and the API's error object, or the error page's heading and message (not
    the rest of the page, which carries a per-request id)."""
    if response.mimetype == "application/json":
        return response.status_code, response.get_json()
    html = response.get_data(as_text=True)
    parts = re.findall(r'<h1 class="display-5">(.*?)</h1>|<p class="lead">(.*?)</p>', html, re.S)
    return response.status_code, [html_lib.unescape("".join(p)).strip() for p in parts]


# --- pages -----------------------------------------------------------------------------------------------------

def test_a_county_coordinator_creating_a_hidden_firm_s_code_is_not_told_whose_it_is(client, world):
    hidden = world["hidden"]
    login(client, world["county"])
    before = count()
    response = client.post("/enterprises/new", data=form_data(name="遵义新来的零件有限公司", uscc=hidden.uscc))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert DUPLICATE_USCC_HIDDEN in field_block(html, "uscc")
    assert_nothing_of(page_text(response), hidden, typed=hidden.uscc)
    assert count() == before


def test_a_county_coordinator_creating_a_hidden_firm_s_name_is_not_told_its_code(client, world):
    hidden = world["hidden"]
    login(client, world["county"])
    response = client.post("/enterprises/new", data=form_data(name="遵义隐秘精工 (红花岗) 有限公司"))
    assert response.status_code == 409
    assert DUPLICATE_NAME_HIDDEN in field_block(response.get_data(as_text=True), "name")
    assert_nothing_of(page_text(response), hidden)


def test_editing_towards_a_hidden_firm_s_code_or_name_is_refused_without_naming_it(client, world):
    hidden, own = world["hidden"], world["own"]
    login(client, world["county"])
    for field, value, message in (("uscc", hidden.uscc, DUPLICATE_USCC_HIDDEN),
                                  ("name", HIDDEN_NAME, DUPLICATE_NAME_HIDDEN)):
        data = form_data(**{"name": own.name, "uscc": own.uscc, "version": str(own.version), field: value})
        response = client.post(f"/enterprises/{own.id}/edit", data=data)
        assert response.status_code == 409
        assert message in field_block(response.get_data(as_text=True), field)
        assert_nothing_of(page_text(response), hidden, typed=value)
    db.session.refresh(own)
    assert own.name == "遵义汇川自有机械有限公司"


def test_a_commissioner_taking_another_commissioner_s_name_or_code_is_not_told_whose(client, world):
    neighbour, own = world["neighbour"], world["own"]
    login(client, world["commissioner"])
    for field, value, message in (("name", neighbour.name, DUPLICATE_NAME_HIDDEN),
                                  ("uscc", neighbour.uscc, DUPLICATE_USCC_HIDDEN)):
        data = form_data(**{"name": own.name, "uscc": own.uscc, "version": str(own.version), field: value})
        response = client.post(f"/enterprises/{own.id}/edit", data=data)
        assert response.status_code == 409
        assert message in field_block(response.get_data(as_text=True), field)
        assert_nothing_of(page_text(response).replace("汇川区", ""), neighbour, typed=value)


def test_a_firm_the_user_may_see_is_named(client, world):
    """The neutral words are for hidden firms only: a coordinator is still told which of theirs it is."""
    own = world["own"]
    login(client, world["county"])
    response = client.post("/enterprises/new", data=form_data(name="遵义另一家零件有限公司", uscc=own.uscc))
    assert response.status_code == 409
    assert f"该统一社会信用代码已被“{own.name}”使用" in field_block(response.get_data(as_text=True), "uscc")
    response = client.post("/enterprises/new", data=form_data(name=own.name))
    assert own.uscc in field_block(response.get_data(as_text=True), "name")


# --- API -------------------------------------------------------------------------------------------------------

def payload(**overrides):
    data = {"name": "遵义接口新来零件有限公司", "uscc": make_uscc(), "county": "汇川区", "cluster": "装备制造"}
    data.update(overrides)
    return data


def test_the_api_does_not_name_a_hidden_duplicate_on_create_or_patch(client, world):
    hidden, own = world["hidden"], world["own"]
    headers = bearer(world["county"])
    attempts = [
        ("post", "/api/v1/enterprises", payload(uscc=hidden.uscc), "uscc", DUPLICATE_USCC_HIDDEN),
        ("post", "/api/v1/enterprises", payload(name=HIDDEN_NAME), "name", DUPLICATE_NAME_HIDDEN),
        ("patch", f"/api/v1/enterprises/{own.id}", {"uscc": hidden.uscc}, "uscc", DUPLICATE_USCC_HIDDEN),
        ("patch", f"/api/v1/enterprises/{own.id}", {"name": HIDDEN_NAME}, "name", DUPLICATE_NAME_HIDDEN),
    ]
    before = count()
    for method, url, body, field, message in attempts:
        response = getattr(client, method)(url, json=body, headers=headers)
        error = error_of(response, 409, "duplicate")
        assert error["fields"] == {field: message}
        text = json.dumps(response.get_json(), ensure_ascii=False)
        assert_nothing_of(text, hidden, typed=body[field])
        assert str(hidden.id) not in text
    assert count() == before


def test_the_api_commissioner_patch_does_not_name_another_s_firm(client, world):
    neighbour, own = world["neighbour"], world["own"]
    headers = bearer(world["commissioner"])
    response = client.patch(f"/api/v1/enterprises/{own.id}", json={"name": neighbour.name}, headers=headers)
    assert error_of(response, 409, "duplicate")["fields"] == {"name": DUPLICATE_NAME_HIDDEN}
    assert neighbour.uscc not in response.get_data(as_text=True)
    response = client.patch(f"/api/v1/enterprises/{own.id}", json={"uscc": neighbour.uscc}, headers=headers)
    assert error_of(response, 409, "duplicate")["fields"] == {"uscc": DUPLICATE_USCC_HIDDEN}
    assert neighbour.name not in response.get_data(as_text=True)


def test_the_api_names_a_duplicate_the_caller_may_see(client, world):
    own = world["own"]
    response = client.post("/api/v1/enterprises", json=payload(uscc=own.uscc), headers=bearer(world["county"]))
    assert own.name in error_of(response, 409, "duplicate")["fields"]["uscc"]


@pytest.mark.parametrize("path", ["/api/v1/enterprises/{id}", "/api/v1/enterprises/{id}/history",
                                  "/enterprises/{id}", "/enterprises/{id}/edit"])
def test_a_hidden_enterprise_answers_exactly_like_a_missing_one(client, world, path):
    """Same status, same words: a county coordinator cannot tell 红花岗区's firm from an id never used."""
    hidden = world["hidden"]
    login(client, world["county"])
    headers = bearer(world["county"])
    missing = db.session.scalar(sa.select(sa.func.max(Enterprise.id))) + 1000
    responses = [client.get(path.format(id=ident), headers=headers) for ident in (hidden.id, missing)]
    assert answer_of(responses[0]) == answer_of(responses[1])
    assert answer_of(responses[0])[0] == 404 and answer_of(responses[0])[1]
    assert HIDDEN_NAME not in responses[0].get_data(as_text=True)
