"""POST /api/v1/auth/password and DELETE /api/v1/auth/sessions (sign out everywhere)."""

from __future__ import annotations

import sqlalchemy as sa

from crm.auth import domain
from crm.core.audit import AuditAction, AuditLog
from crm.extensions import db
from tests.api.support import bearer, error_of
from tests.conftest import TEST_PASSWORD, login, make_user

URL = "/api/v1/auth/password"
PROBE = "/api/v1/enterprises"


def _audits(user, action):
    return db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_id == user.id,
                                                        AuditLog.action == action)).all()


def test_change_password_keeps_the_callers_token_and_ends_the_rest(client, app):
    user = make_user("coordinator")
    mine = bearer(user)
    other_token = bearer(user)
    browser = app.test_client()
    login(browser, user)
    response = client.post(URL, json={"current_password": TEST_PASSWORD, "new_password": "Api-new-pass-2026"},
                           headers=mine)
    assert response.status_code == 204
    assert client.get(PROBE, headers=mine).status_code == 200  # the caller's own token stays
    error_of(client.get(PROBE, headers=other_token), 401)  # every other token is revoked
    assert browser.get("/enterprises/").status_code == 302  # and every web session ends
    assert domain._verify(user.password_hash, "Api-new-pass-2026")
    [entry] = _audits(user, AuditAction.PASSWORD_CHANGE)
    assert entry.changes == {"other_sessions_ended": [None, 1], "tokens_revoked": [None, 1]}


def test_change_password_field_errors(client):
    user = make_user("coordinator")
    headers = bearer(user)
    wrong = error_of(client.post(URL, json={"current_password": "wrong-pass-1", "new_password": "Api-new-pass-2026"},
                                 headers=headers), 422)
    assert wrong["fields"] == {"current_password": "当前密码不正确"}
    weak = error_of(client.post(URL, json={"current_password": TEST_PASSWORD, "new_password": "short1"},
                                headers=headers), 422)
    assert weak["fields"] == {"new_password": "密码至少需要12个字符"}
    common = error_of(client.post(URL, json={"current_password": TEST_PASSWORD, "new_password": "password12345"},
                                  headers=headers), 422)
    assert common["fields"]["new_password"] == "该密码过于常见,容易被猜中,请换一个"
    missing = error_of(client.post(URL, json={"new_password": "Api-new-pass-2026"}, headers=headers), 422)
    assert set(missing["fields"]) == {"current_password"}
    typed = error_of(client.post(URL, json={"current_password": TEST_PASSWORD, "new_password": 123456789012},
                                 headers=headers), 422)
    assert set(typed["fields"]) == {"new_password"}
    extra = error_of(client.post(URL, json={"current_password": TEST_PASSWORD, "new_password": "Api-new-pass-2026",
                                            "username": "admin"}, headers=headers), 422)
    assert set(extra["fields"]) == {"username"}
    error_of(client.post(URL, data="nope", content_type="application/json", headers=headers), 400)
    assert domain._verify(user.password_hash, TEST_PASSWORD)
    assert not _audits(user, AuditAction.PASSWORD_CHANGE)


def test_change_password_needs_a_token(client, app):
    user = make_user("coordinator")
    browser = app.test_client()
    login(browser, user)  # the session cookie never opens the API
    error_of(browser.post(URL, json={"current_password": TEST_PASSWORD, "new_password": "Api-new-pass-2026"}), 401)
    assert domain._verify(user.password_hash, TEST_PASSWORD)


def test_sign_out_everywhere_ends_sessions_and_every_token(client, app):
    user = make_user("coordinator")
    headers = bearer(user)
    second = bearer(user)
    browser = app.test_client()
    login(browser, user)
    assert client.delete("/api/v1/auth/sessions", headers=headers).status_code == 204
    error_of(client.get(PROBE, headers=headers), 401)
    error_of(client.get(PROBE, headers=second), 401)
    assert browser.get("/enterprises/").status_code == 302
    [entry] = _audits(user, AuditAction.SIGN_OUT_ALL)
    assert entry.changes == {"sessions": [1, 0], "tokens": [2, 0]}


def test_new_endpoints_are_documented(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/auth/password"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    ref = schema["$ref"].rsplit("/", 1)[1]
    assert set(doc["components"]["schemas"][ref]["properties"]) == {"current_password", "new_password"}
    assert {"204", "401", "422"} <= set(op["responses"])
    assert "204" in doc["paths"]["/auth/sessions"]["delete"]["responses"]


def test_wrong_current_passwords_count_as_failed_sign_ins(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 3)
    user = make_user("coordinator")
    headers = bearer(user)
    wrong = {"current_password": "wrong-pass-123", "new_password": "Api-new-pass-2026"}
    for _ in range(3):
        error_of(client.post(URL, json=wrong, headers=headers), 422)
    locked = client.post(URL, json={"current_password": TEST_PASSWORD, "new_password": "Api-new-pass-2026"},
                         headers=headers)
    assert "登录失败次数过多" in error_of(locked, 429, "rate_limited")["message"]
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert domain._verify(user.password_hash, TEST_PASSWORD)
    assert len(_audits(user, AuditAction.LOCK)) == 1
    # The page says the same, with Retry-After.
    domain.unlock(None, user)
    db.session.commit()
    login_client = app.test_client()
    login(login_client, user)
    for _ in range(3):
        assert login_client.post("/account/password", data={"current_password": "wrong-pass-123",
                                                             "new_password": "Brand-new-pass-9",
                                                             "new_password2": "Brand-new-pass-9"}).status_code == 422
    page = login_client.post("/account/password", data={"current_password": TEST_PASSWORD,
                                                         "new_password": "Brand-new-pass-9",
                                                         "new_password2": "Brand-new-pass-9"})
    assert page.status_code == 429 and "登录失败次数过多" in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) > 0
