"""Bearer tokens: issue, use, expiry, revocation, deactivation; the session cookie is never accepted."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.auth import domain
from crm.auth.models import ApiToken
from crm.core.time import utcnow
from crm.extensions import db
from tests.api.support import bearer, error_of
from tests.conftest import TEST_PASSWORD, login, make_user

TOKEN_URL = "/api/v1/auth/token"
PROBE = "/api/v1/enterprises"


def test_issue_token_then_use_it(client, app):
    user = make_user("coordinator")
    db.session.commit()
    response = client.post(TOKEN_URL, json={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"token", "expires_at"}
    assert body["expires_at"].endswith("+08:00")
    lifetime = datetime.fromisoformat(body["expires_at"]) - utcnow()
    assert abs(lifetime - app.config["API_TOKEN_LIFETIME"]) < timedelta(minutes=1)
    # Stored hashed: the token itself is nowhere in the table.
    assert db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == body["token"])) is None
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.user_id == user.id))
    assert row is not None and row.token_hash != body["token"]
    ok = client.get(PROBE, headers={"Authorization": f"Bearer {body['token']}"})
    assert ok.status_code == 200
    db.session.refresh(row)
    assert row.last_used_at is not None


def test_bad_credentials_do_not_say_which_half_was_wrong(client):
    user = make_user("coordinator")
    db.session.commit()
    wrong_password = client.post(TOKEN_URL, json={"username": user.username, "password": "wrong-pass-1"})
    unknown_user = client.post(TOKEN_URL, json={"username": "nobody-here", "password": TEST_PASSWORD})
    first = error_of(wrong_password, 401)
    second = error_of(unknown_user, 401)
    assert first == second
    assert first["message"] == "用户名或密码不正确"
    assert wrong_password.headers["WWW-Authenticate"].startswith("Bearer")


def test_deactivated_user_gets_no_token(client):
    admin = make_user("admin")
    user = make_user("leader")
    domain.set_active(admin, user, False)
    db.session.commit()
    response = client.post(TOKEN_URL, json={"username": user.username, "password": TEST_PASSWORD})
    assert error_of(response, 401)["message"] == "用户名或密码不正确"


def test_locked_account_answers_429(client, app):
    user = make_user("coordinator")
    db.session.commit()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        error_of(client.post(TOKEN_URL, json={"username": user.username, "password": "wrong-pass-1"}), 401)
    locked = client.post(TOKEN_URL, json={"username": user.username, "password": TEST_PASSWORD})
    assert "登录失败次数过多" in error_of(locked, 429, "rate_limited")["message"]


@pytest.mark.parametrize("kwargs", [
    {"data": "username=a&password=b", "content_type": "application/x-www-form-urlencoded"},
    {"data": "{not json", "content_type": "application/json"},
    {"data": b"\xff\xfe\x00", "content_type": "application/json"},
    {"json": ["user", "pass"]},
    {"json": "user:pass"},
    {"json": {"username": "someone"}},
    {"json": {"username": "someone", "password": 12345678901}},
    {"json": {"username": ["a"], "password": "x"}},
    {},
])
def test_malformed_token_request_is_400(client, kwargs):
    error_of(client.post(TOKEN_URL, **kwargs), 400, "bad_request")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc",
                                    "Bearer not-a-real-token", "Bearer \u00e9\u00e9"])
def test_missing_or_bad_token_is_401(client, header):
    headers = {} if header is None else {"Authorization": header}
    response = client.get(PROBE, headers=headers)
    error_of(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="crm"'


def test_session_cookie_is_not_accepted(client):
    user = make_user("admin")
    db.session.commit()
    login(client, user)
    assert client.get("/enterprises/").status_code == 200  # the cookie works for pages …
    error_of(client.get(PROBE), 401)  # … but never for the API
    error_of(client.post("/api/v1/enterprises", json={"name": "x"}), 401)


def test_expired_token_is_401(client):
    user = make_user("coordinator")
    token, _ = domain.issue_token(user, lifetime=timedelta(seconds=-1))
    db.session.commit()
    error_of(client.get(PROBE, headers={"Authorization": f"Bearer {token}"}), 401, "invalid_token")


def test_token_expires_after_its_lifetime(client, app):
    user = make_user("coordinator")
    token, row = domain.issue_token(user)
    db.session.commit()
    assert domain.resolve_token(token)[0] is not None
    later = utcnow() + app.config["API_TOKEN_LIFETIME"] + timedelta(seconds=1)
    assert domain.resolve_token(token, now=later) == (None, False)


def test_last_used_at_is_written_at_most_once_a_minute(client, app):
    """An API read is not a write: the token's last use is noted when it is older than SESSION_TOUCH_SECONDS."""
    user = make_user("coordinator")
    token, row = domain.issue_token(user)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    writes: list[str] = []

    def count_updates(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            writes.append(statement)

    engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count_updates)
    try:
        assert client.get(PROBE, headers=headers).status_code == 200
        assert client.get(PROBE, headers=headers).status_code == 200
        assert client.get(PROBE, headers=headers).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", count_updates)
    assert len(writes) == 1  # the first use only
    db.session.refresh(row)
    first = row.last_used_at
    assert first is not None
    touch = timedelta(seconds=app.config["SESSION_TOUCH_SECONDS"])
    assert domain.resolve_token(token, now=first + touch - timedelta(seconds=1)) == (row.user, False)
    assert row.last_used_at == first
    user_back, touched = domain.resolve_token(token, now=first + touch)
    assert user_back == row.user and touched and row.last_used_at == first + touch


def test_revoked_token_is_401_afterwards(client):
    user = make_user("coordinator")
    headers = bearer(user)
    other = bearer(user)
    assert client.get(PROBE, headers=headers).status_code == 200
    response = client.delete(TOKEN_URL, headers=headers)
    assert response.status_code == 204 and response.get_data() == b""
    error_of(client.get(PROBE, headers=headers), 401, "invalid_token")
    error_of(client.delete(TOKEN_URL, headers=headers), 401)
    assert client.get(PROBE, headers=other).status_code == 200  # only the token used was revoked


def test_revoking_needs_a_token(client):
    error_of(client.delete(TOKEN_URL), 401)


def test_deactivated_users_token_is_401(client):
    admin = make_user("admin")
    user = make_user("coordinator")
    headers = bearer(user)
    assert client.get(PROBE, headers=headers).status_code == 200
    domain.set_active(admin, user, False)
    db.session.commit()
    error_of(client.get(PROBE, headers=headers), 401)


def test_inactive_flag_alone_refuses_the_token(client):
    """Even if a token escaped revocation, an inactive user's token does not work."""
    user = make_user("coordinator")
    headers = bearer(user)
    user.active = False
    db.session.commit()
    error_of(client.get(PROBE, headers=headers), 401)


def test_token_of_one_request_does_not_leak_into_the_next(client):
    """``g`` outlives a request in tests and the CLI; a request without a token must still be refused."""
    user = make_user("admin")
    headers = bearer(user)
    assert client.get(PROBE, headers=headers).status_code == 200
    error_of(client.get(PROBE), 401)


def _concrete(rule: str) -> str:
    """A URL for a rule: every variable 1, except a year."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "2025" if m.group(1) == "year" else "1", rule)


def test_every_endpoint_but_the_public_ones_needs_a_token(app, client):
    """Default deny: a new endpoint is closed unless it is marked public on purpose."""
    public = {("/api/v1/auth/token", "POST"), ("/api/v1/openapi.json", "GET")}
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (rule.rule, method) in public:
                continue
            response = client.open(_concrete(rule.rule), method=method, json={})
            error_of(response, 401)
            checked += 1
    assert checked >= 7
