"""Bad input found in review: each is a clear 4xx, never a 500, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from werkzeug.routing import IntegerConverter

from crm.core.errors import ValidationFailed
from crm.core.parsing import check_version, clean_filename, parse_id
from crm.enterprises import domain
from tests.conftest import api_token, login, make_enterprise, make_uscc, make_user


@pytest.mark.parametrize("path", [
    "/enterprises/2147483648", "/enterprises/99999999999999999999/edit", "/rosters/imports/99999999999999999999",
    "/admin/users/99999999999999999999",
])
def test_ids_beyond_the_integer_range_are_404_pages(client, path):
    login(client, make_user("admin"))
    assert client.get(path).status_code == 404


def test_ids_beyond_the_integer_range_are_404_in_the_api(client):
    headers = api_token(make_user("admin"))
    for method in ("get", "patch"):
        response = getattr(client, method)("/api/v1/enterprises/99999999999999999999", headers=headers, json={})
        assert response.status_code == 404, method
        assert response.get_json()["error"]["code"] == "not_found"


def test_every_route_given_an_id_beyond_the_integer_range_answers_4xx(app, client):
    """Every rule with an ``<int:…>`` argument, every method, as an admin (browser and API): never a 500.

    PostgreSQL refuses a 21-digit integer parameter with a DataError; a view must not hand it to the database."""
    user = make_user("admin")
    headers = api_token(user)
    login(client, user)
    huge = 99999999999999999999
    tried = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, converter in rule._converters.items() if isinstance(converter, IntegerConverter)]
        if not ints:
            continue
        path = rule.build({name: huge if name in ints else "x" for name in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, headers=headers if rule.rule.startswith("/api/") else {},
                                   json={} if rule.rule.startswith("/api/") else None)
            tried.append(rule.rule)
            assert response.status_code < 500, (method, path, response.status_code)
    assert "/account/sessions/<int:session_id>/end" in tried and len(tried) > 50


@pytest.mark.parametrize("page", ["999999999999999999", "99999999999999999999", "0", "-1", "²", "1e3"])
def test_absurd_page_numbers_are_refused_not_crashed(client, page):
    headers = api_token(make_user("admin"))
    response = client.get(f"/api/v1/enterprises?page={page}", headers=headers)
    assert response.status_code == 400 and "page" in response.get_json()["error"]["fields"]
    login(client, make_user("admin"))
    assert client.get(f"/enterprises/?page={page}").status_code == 400


@pytest.mark.parametrize("value", ["²", "١", 1.5, True, float("inf"), "1e400", -3, 0, "99999999999999"])
def test_parse_id_accepts_only_positive_ascii_integers(value):
    assert parse_id(value) is None


def test_parse_id_accepts_ints_and_digit_strings():
    assert parse_id(7) == 7 and parse_id(" 42 ") == 42


def test_unicode_digits_in_api_ids_are_422_or_400(client):
    enterprise = make_enterprise()
    headers = api_token(make_user("admin"))
    assert client.get("/api/v1/interactions?enterprise_id=%C2%B2", headers=headers).status_code == 400
    response = client.post("/api/v1/interactions", headers=headers, json={
        "enterprise_id": "²", "date": "2026-01-05", "channel": "visit", "specialty": "tech", "summary": "x"})
    assert response.status_code == 422
    response = client.post("/api/v1/requests", headers=headers, json={
        "enterprise_id": enterprise.id, "category": "融资服务", "description": "x", "interaction_id": "²"})
    assert response.status_code in (404, 422)


def test_infinite_version_is_a_field_error(client):
    enterprise = make_enterprise()
    with pytest.raises(ValidationFailed):
        check_version(enterprise, float("inf"))
    headers = api_token(make_user("admin"))
    response = client.patch(f"/api/v1/enterprises/{enterprise.id}", headers=headers,
                            data='{"main_products": "x", "version": 1e400}', content_type="application/json")
    assert response.status_code == 422 and "version" in response.get_json()["error"]["fields"]


def test_long_names_fit_their_derived_columns():
    ent = domain.create_enterprise(None, {"name": "双" * 120, "uscc": make_uscc(), "county": "汇川区",
                                          "cluster": "装备制造"})
    assert len(ent.name_pinyin) <= 600
    with pytest.raises(ValidationFailed) as err:
        domain.create_enterprise(None, {"name": "㍿" * 100, "uscc": make_uscc(), "county": "汇川区",
                                        "cluster": "装备制造"})
    assert "name" in err.value.fields


def test_uploaded_file_names_are_cleaned():
    assert clean_filename("a\x00b.xlsx") == "ab.xlsx"
    assert clean_filename("") == "未命名文件"
    assert len(clean_filename("x" * 500)) == 200


def test_password_reset_revokes_api_tokens(client):
    from crm.auth.domain import set_password

    user = make_user("leader")
    headers = api_token(user)
    assert client.get("/api/v1/enterprises", headers=headers).status_code == 200
    set_password(None, user, "Brand-new-pass-9")
    assert client.get("/api/v1/enterprises", headers=headers).status_code == 401


def test_policy_delivery_dates_and_ids_are_strict(client):
    """Review finding: year 0001, week dates and Unicode digits were accepted for policy deliveries."""
    enterprise = make_enterprise()
    headers = api_token(make_user("admin"))
    base = {"enterprise_id": enterprise.id, "kind": "用地", "promised": "保障用地 20 亩"}
    for bad in ("0001-01-01", "9999-12-31", "20260110", "2026-W02-1"):
        response = client.post("/api/v1/policy-deliveries", headers=headers, json={**base, "promised_date": bad})
        assert response.status_code == 422 and "promised_date" in response.get_json()["error"]["fields"], bad
    response = client.post("/api/v1/policy-deliveries", headers=headers,
                           json={**base, "enterprise_id": "١", "promised_date": "2026-01-10"})
    assert response.status_code == 422
    assert client.get("/api/v1/policy-deliveries?enterprise_id=١", headers=headers).status_code in (400, 422)


def test_coverage_with_an_unknown_county_says_so(client):
    headers = api_token(make_user("admin"))
    response = client.get("/api/v1/assignments/coverage?county=火星", headers=headers)
    assert response.status_code == 422 and "county" in response.get_json()["error"]["fields"]
