"""Server-side sessions: sign-out ends the session (a copied cookie stops working), expiry, sign out everywhere,
CSRF rotation at sign-in, the account page and the self-service password change."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.auth import domain
from crm.auth.models import ApiToken, UserSession
from crm.core.audit import AuditAction, AuditLog
from crm.core.time import utcnow
from crm.extensions import db
from tests.conftest import TEST_PASSWORD, api_token, counting_queries, csrf_token_from, login, make_user

PROBE = "/enterprises/"
CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def _signed_in(response) -> bool:
    return response.status_code == 200


def _copy_cookies(source, target, *names: str) -> None:
    for name in names:
        cookie = source.get_cookie(name)
        assert cookie is not None, name
        target.set_cookie(name, cookie.value, domain="localhost")


def _rows(user) -> list[UserSession]:
    return db.session.scalars(sa.select(UserSession).where(UserSession.user_id == user.id)
                              .order_by(UserSession.id)).all()


def _audits(user, action: AuditAction) -> list[AuditLog]:
    return db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_id == user.id,
                                                        AuditLog.action == action)).all()


def test_sign_in_creates_a_session_row_storing_only_the_secrets_hash(client, app):
    user = make_user("leader")
    login(client, user)
    [row] = _rows(user)
    assert row.ended_at is None and row.remember is False and row.last_seen_at is not None
    with client.session_transaction() as flask_session:
        key = flask_session["_user_id"]
    user_id, version, secret = key.split(":", 2)
    assert int(user_id) == user.id and int(version) == user.session_version and len(secret) >= 40
    assert secret not in row.secret_hash and row.secret_hash == domain._secret_hash(secret)


def test_sign_out_ends_the_session_so_a_copied_session_cookie_no_longer_works(client, app):
    user = make_user("leader")
    login(client, user)
    thief = app.test_client()
    _copy_cookies(client, thief, app.config["SESSION_COOKIE_NAME"])
    assert _signed_in(thief.get(PROBE))  # the copy works while the session lives
    assert client.post("/logout").status_code == 302
    assert thief.get(PROBE).status_code == 302  # ended on the server
    [row] = _rows(user)
    assert row.ended_at is not None


def test_sign_out_ends_a_copied_remember_cookie_too(client, app):
    user = make_user("leader")
    client.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "remember": "y"})
    assert client.get_cookie("remember_token") is not None
    thief = app.test_client()
    _copy_cookies(client, thief, "remember_token")  # only the remember cookie: no Flask session at all
    assert _signed_in(thief.get(PROBE))
    client.post("/logout")
    other_thief = app.test_client()
    _copy_cookies(thief, other_thief, "remember_token")
    assert other_thief.get(PROBE).status_code == 302
    assert _rows(user)[0].remember is True


def test_sessions_expire_server_side_after_the_configured_days(client, app, monkeypatch):
    assert app.config["SESSION_MAX_DAYS"] == 14
    assert app.config["REMEMBER_COOKIE_DURATION"] == timedelta(days=14)
    user = make_user("leader")
    client.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "remember": "y"})
    [row] = _rows(user)
    row.created_at = utcnow() - timedelta(days=13, hours=23)
    db.session.commit()
    assert _signed_in(client.get(PROBE))
    row = _rows(user)[0]
    row.created_at = utcnow() - timedelta(days=14, minutes=1)
    db.session.commit()
    assert client.get(PROBE).status_code == 302  # the remember cookie itself would still be valid
    # The limit is a setting.
    monkeypatch.setitem(app.config, "SESSION_MAX_DAYS", 30)
    assert _signed_in(client.get(PROBE))


def test_a_session_not_remembered_ends_when_idle(client, app):
    user = make_user("leader")
    login(client, user)
    row = _rows(user)[0]
    row.last_seen_at = utcnow() - app.config["PERMANENT_SESSION_LIFETIME"] - timedelta(minutes=1)
    db.session.commit()
    assert client.get(PROBE).status_code == 302
    remembered = app.test_client()
    remembered.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "remember": "y"})
    row = _rows(user)[-1]
    row.last_seen_at = utcnow() - app.config["PERMANENT_SESSION_LIFETIME"] - timedelta(minutes=1)
    db.session.commit()
    assert _signed_in(remembered.get(PROBE))


def test_last_seen_is_written_at_most_once_a_minute(client):
    user = make_user("leader")
    login(client, user)

    def updates() -> int:
        with counting_queries() as queries:
            assert _signed_in(client.get(PROBE))
        return sum(1 for s in queries.statements if s.lstrip().upper().startswith("UPDATE USER_SESSIONS"))

    assert [updates() for _ in range(3)] == [0, 0, 0]
    row = _rows(user)[0]
    row.last_seen_at = utcnow() - timedelta(seconds=61)
    db.session.commit()
    assert [updates() for _ in range(3)] == [1, 0, 0]
    assert utcnow() - _rows(user)[0].last_seen_at < timedelta(seconds=10)


def test_a_session_key_without_a_live_row_is_refused(client, app):
    user = make_user("leader")
    assert domain.load_session_user(f"{user.id}:{user.session_version}:") is None
    assert domain.load_session_user(f"{user.id}:{user.session_version}:not-a-real-secret") is None
    assert domain.load_session_user("garbage") is None
    key = domain.start_session(user)
    other = make_user("leader")
    assert domain.load_session_user(key.replace(f"{user.id}:", f"{other.id}:", 1)) is None  # secret of another
    assert domain.load_session_user(key) is user
    user.session_version += 1  # the extra kill switch
    assert domain.load_session_user(key) is None


def test_sign_out_everywhere_from_the_account_page(client, app):
    user = make_user("leader")
    bystander = make_user("leader")
    login(client, user)
    laptop = app.test_client()
    login(laptop, user)
    theirs = app.test_client()
    login(theirs, bystander)
    headers = api_token(user)
    db.session.commit()
    assert app.test_client().get("/api/v1/enterprises", headers=headers).status_code == 200
    page = client.get("/account").get_data(as_text=True)
    assert "退出所有登录" in page and 'action="/account/sign-out-all"' in page
    response = client.post("/account/sign-out-all")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(PROBE).status_code == 302
    assert laptop.get(PROBE).status_code == 302
    assert app.test_client().get("/api/v1/enterprises", headers=headers).status_code == 401
    assert _signed_in(theirs.get(PROBE))  # nobody else's
    [entry] = _audits(user, AuditAction.SIGN_OUT_ALL)
    assert entry.actor_id == user.id and entry.changes["sessions"] == [2, 0] and entry.changes["tokens"] == [1, 0]


def test_account_page_lists_sessions_and_ends_one(client, app):
    user = make_user("commissioner")
    client.post("/login", data={"username": user.username, "password": TEST_PASSWORD},
                headers={"User-Agent": CHROME}, environ_base={"REMOTE_ADDR": "10.1.2.3"})
    phone = app.test_client()
    login(phone, user)
    home = client.get("/service/").get_data(as_text=True)
    assert 'href="/account"' in home  # the user menu links to the account page
    page = client.get("/account").get_data(as_text=True)
    assert "10.1.2.3" in page and "Chrome · Windows" in page and "当前设备" in page
    assert page.count("退出此登录") == 2 and "修改密码" in page
    phone_row = _rows(user)[-1]
    assert client.post(f"/account/sessions/{phone_row.id}/end").status_code == 302
    assert phone.get("/service/").status_code == 302
    assert _signed_in(client.get("/service/"))
    # Another user's session is not theirs to end (and does not say it exists).
    other = make_user("leader")
    other_client = app.test_client()
    login(other_client, other)
    other_row = _rows(other)[0]
    client.post(f"/account/sessions/{other_row.id}/end")
    assert _signed_in(other_client.get(PROBE))
    assert "该登录会话不存在" in client.get("/account").get_data(as_text=True)
    # Ending one's own current session signs out.
    own = _rows(user)[0]
    response = client.post(f"/account/sessions/{own.id}/end")
    assert "/login" in response.headers["Location"]
    assert client.get("/service/").status_code == 302


def test_account_pages_need_sign_in(client):
    for url in ("/account", "/account/password"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.post("/account/sign-out-all").status_code == 302


def test_csrf_token_changes_at_sign_in(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    user = make_user("leader")
    before = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD,
                                           "csrf_token": before})
    assert response.status_code == 302
    refused = client.post("/logout", data={"csrf_token": before})  # the token fetched before sign-in
    assert refused.status_code == 400
    assert _signed_in(client.get(PROBE))
    after = csrf_token_from(client.get("/account").get_data(as_text=True))
    assert after != before
    assert client.post("/logout", data={"csrf_token": after}).status_code == 302
    assert client.get(PROBE).status_code == 302


# --- 修改密码 ------------------------------------------------------------------------------------------------

def _change(client, current: str, new: str, again: str | None = None):
    return client.post("/account/password", data={"current_password": current, "new_password": new,
                                                  "new_password2": new if again is None else again})


def test_change_password_page_refuses_with_messages_next_to_the_fields(client):
    user = make_user("leader")
    login(client, user)
    page = client.get("/account/password")
    assert page.status_code == 200 and "修改密码" in page.get_data(as_text=True)
    wrong = _change(client, "wrong-pass-123", "Brand-new-pass-9")
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.get_data(as_text=True)
    weak = _change(client, TEST_PASSWORD, "short1")
    assert weak.status_code == 422 and "密码至少需要12个字符" in weak.get_data(as_text=True)
    common = _change(client, TEST_PASSWORD, "password12345")
    assert "该密码过于常见" in common.get_data(as_text=True)
    named = _change(client, TEST_PASSWORD, f"x-{user.username}-2026")
    assert "密码不能包含用户名" in named.get_data(as_text=True)
    mismatch = _change(client, TEST_PASSWORD, "Brand-new-pass-9", "Brand-new-pass-8")
    assert mismatch.status_code == 422 and "两次输入的新密码不一致" in mismatch.get_data(as_text=True)
    same = _change(client, TEST_PASSWORD, TEST_PASSWORD + "")
    assert same.status_code == 422
    assert domain._verify(user.password_hash, TEST_PASSWORD)  # nothing changed
    assert not _audits(user, AuditAction.PASSWORD_CHANGE)


def test_change_password_keeps_this_session_and_ends_the_others(client, app):
    user = make_user("leader")
    login(client, user)
    laptop = app.test_client()
    login(laptop, user)
    headers = api_token(user)
    db.session.commit()
    response = _change(client, TEST_PASSWORD, "Brand-new-pass-9")
    assert response.status_code == 302 and response.headers["Location"].endswith("/account")
    assert _signed_in(client.get(PROBE))  # this one stays
    assert laptop.get(PROBE).status_code == 302  # the others end
    assert app.test_client().get("/api/v1/enterprises", headers=headers).status_code == 401
    [entry] = _audits(user, AuditAction.PASSWORD_CHANGE)
    assert entry.changes == {"other_sessions_ended": [None, 1], "tokens_revoked": [None, 1]}
    assert "Brand-new-pass-9" not in str(entry.changes) and TEST_PASSWORD not in str(entry.changes)
    fresh = app.test_client()
    assert fresh.post("/login", data={"username": user.username, "password": TEST_PASSWORD}).status_code == 200
    login(fresh, user, "Brand-new-pass-9")


def test_admin_reset_and_deactivation_end_session_rows(client):
    admin = make_user("admin")
    user = make_user("leader")
    login(client, user)
    domain.set_password(admin, user, "Another-pass-2")
    db.session.flush()
    assert all(row.ended_at is not None for row in _rows(user))
    login(client, user, "Another-pass-2")
    domain.set_active(admin, user, False)
    db.session.flush()
    assert all(row.ended_at is not None for row in _rows(user))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)
                             .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))) == 0


def test_the_session_and_the_token_bring_the_users_county_department_and_specialties(app):
    """One statement finds the session (or token) with what every page reads of its user: the navigation's county
    or department and the specialties are not read again (the county was a statement of its own per page)."""
    for role, extra in (("coordinator", {"county": "汇川区"}), ("liaison", {"department": "市自然资源局"}),
                        ("commissioner", {"specialties": ["tech", "legal"]})):
        user = make_user(role, **extra)
        key = domain.start_session(user)
        token, _ = domain.issue_token(user)
        db.session.commit()
        expected = (user.county.name if user.county else None, user.department.name if user.department else None,
                    user.specialties)
        for load in (lambda key=key: domain.load_session_user(key), lambda token=token: domain.resolve_token(token)[0]):
            db.session.expunge_all()  # nothing of the user already in the session
            with counting_queries() as queries:
                found = load()
                shown = (found.county.name if found.county else None,
                         found.department.name if found.department else None, found.specialties)
            reads = [s for s in queries.statements if not s.startswith(("SAVEPOINT", "RELEASE"))]  # test's own
            assert len(reads) == 1, reads
            assert shown == expected
