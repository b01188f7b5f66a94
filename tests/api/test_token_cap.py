"""API token cap per user and "revoke all" (issue 10, item 6).

Past ``API_TOKEN_CAP`` active tokens, issuing one more revokes the oldest (it is not refused: a script that
re-issues on every run keeps working). ``DELETE /api/v1/auth/tokens`` revokes every token of the caller.
"""

from __future__ import annotations

import sqlalchemy as sa

from crm.auth import domain
from crm.auth.models import ApiToken
from crm.extensions import db
from tests.conftest import TEST_PASSWORD, make_user

TOKEN_URL = "/api/v1/auth/token"
ALL_URL = "/api/v1/auth/tokens"
PROBE = "/api/v1/enterprises"


def _issue(client, user) -> str:
    response = client.post(TOKEN_URL, json={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 201
    return response.get_json()["token"]


def _status(client, token: str) -> int:
    return client.get(PROBE, headers={"Authorization": f"Bearer {token}"}).status_code


def _active(user) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))


def test_default_cap_is_ten(app):
    assert app.config["API_TOKEN_CAP"] == 10


def test_one_more_than_the_cap_revokes_the_oldest(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_CAP", 3)
    user = make_user("coordinator")
    other = make_user("coordinator")
    db.session.commit()
    other_token = _issue(client, other)
    tokens = [_issue(client, user) for _ in range(3)]
    assert _active(user) == 3
    assert all(_status(client, token) == 200 for token in tokens)
    newest = _issue(client, user)
    assert _active(user) == 3
    assert _status(client, tokens[0]) == 401  # the oldest went
    assert [_status(client, token) for token in (*tokens[1:], newest)] == [200, 200, 200]
    assert _status(client, other_token) == 200  # the cap counts per user
    assert _active(other) == 1


def test_expired_or_revoked_tokens_do_not_count(client, app, monkeypatch):
    from datetime import timedelta

    monkeypatch.setitem(app.config, "API_TOKEN_CAP", 2)
    user = make_user("coordinator")
    db.session.commit()
    domain.issue_token(user, lifetime=timedelta(seconds=-1))  # expired
    revoked, _ = domain.issue_token(user)
    domain.revoke_token(revoked)
    db.session.commit()
    first, second = _issue(client, user), _issue(client, user)
    assert _status(client, first) == 200 and _status(client, second) == 200


def test_revoke_all_ends_every_token_of_the_caller_only(client):
    user = make_user("coordinator")
    other = make_user("coordinator")
    db.session.commit()
    tokens = [_issue(client, user) for _ in range(3)]
    other_token = _issue(client, other)
    response = client.delete(ALL_URL, headers={"Authorization": f"Bearer {tokens[1]}"})
    assert response.status_code == 204 and response.get_data() == b""
    for token in tokens:  # the one used for the request included
        refused = client.get(PROBE, headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
        assert refused.get_json()["error"]["code"] == "invalid_token"
    assert _active(user) == 0
    assert _status(client, other_token) == 200
    # A new sign-in works afterwards.
    assert _status(client, _issue(client, user)) == 200


def test_revoke_all_needs_a_valid_token(client):
    assert client.delete(ALL_URL).status_code == 401
    assert client.delete(ALL_URL, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_revoke_all_is_documented(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    operation = doc["paths"]["/auth/tokens"]["delete"]
    assert "204" in operation["responses"]
    assert operation.get("security") != []  # needs a token
