"""Sign-in, sign-out, throttling, deactivation and session invalidation."""

from __future__ import annotations

from crm.auth import domain
from crm.extensions import db
from tests.conftest import TEST_PASSWORD, csrf_token_from, login, make_user


def test_sign_in_and_out(client):
    user = make_user("coordinator")
    login(client, user)
    assert client.get("/admin/users").status_code == 403  # signed in, but not an admin
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/enterprises/").status_code == 302  # back to the sign-in page


def test_failed_sign_in_does_not_say_which_half_was_wrong(client):
    user = make_user("coordinator")
    wrong_password = client.post("/login", data={"username": user.username, "password": "nope-nope-1"})
    unknown_user = client.post("/login", data={"username": "nobody", "password": TEST_PASSWORD})
    for response in (wrong_password, unknown_user):
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "用户名或密码不正确" in text


def test_repeated_failures_lock_the_account(client, app):
    user = make_user("coordinator")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/login", data={"username": user.username, "password": "wrong-pass-1"})
    locked = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.get_data(as_text=True)


def test_deactivated_user_cannot_sign_in_and_loses_session(client):
    admin = make_user("admin")
    user = make_user("leader")
    login(client, user)
    assert client.get("/enterprises/").status_code == 200
    domain.set_active(admin, user, False)
    db.session.flush()
    assert client.get("/enterprises/").status_code == 302  # the old session is gone
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert "用户名或密码不正确" in response.get_data(as_text=True)


def test_password_reset_ends_other_sessions(client):
    user = make_user("leader")
    login(client, user)
    domain.set_password(None, user, "Another-pass-2")
    db.session.flush()
    assert client.get("/enterprises/").status_code == 302


def test_next_parameter_only_accepts_local_paths(client):
    user = make_user("leader")
    for bad in ("//evil.example", "/\\evil.example", "https://evil.example/", "/\t/evil"):
        response = client.post(f"/login?next={bad}", data={"username": user.username, "password": TEST_PASSWORD})
        assert response.headers["Location"].endswith("/"), bad
        client.post("/logout")
    response = client.post("/login?next=/enterprises/", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.headers["Location"].endswith("/enterprises/")


def test_password_is_argon2id(app):
    user = make_user("leader")
    assert user.password_hash.startswith("$argon2id$")


def test_csrf_refused_without_token(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = make_user("leader")
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)
    page = client.get("/login").get_data(as_text=True)
    token = csrf_token_from(page)
    ok = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "csrf_token": token})
    assert ok.status_code == 302
