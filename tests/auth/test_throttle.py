"""Sign-in throttling that cannot be turned against users (crm/auth/throttle.py): Flask-Limiter per address and per
username (429, Chinese, Retry-After), no username enumeration, failure counts atomic in SQL, the device cookie,
lock and unlock audited."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from crm.auth import domain, throttle
from crm.auth.models import User
from crm.core.audit import AuditAction, AuditLog
from crm.core.errors import ValidationFailed
from crm.extensions import db, limiter
from tests.api.support import error_of
from tests.conftest import TEST_PASSWORD, counting_queries, csrf_token_from, login, make_app, make_user, own_database

TOKEN_URL = "/api/v1/auth/token"
REDIS_URL = os.environ.get("CRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def throttled(app, monkeypatch):
    """Fresh limiter storage and sign-in store for the session app; the tests lower the limits they test."""
    throttle.init_app(app)
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 3)
    yield app
    throttle.init_app(app)


def _unknown() -> str:
    return f"nobody-{uuid.uuid4().hex[:8]}"


def _page(client, username: str, password: str = "wrong-pass-123", **kwargs):
    return client.post("/login", data={"username": username, "password": password}, **kwargs)


def _api(client, username: str, password: str = "wrong-pass-123", **kwargs):
    return client.post(TOKEN_URL, json={"username": username, "password": password}, **kwargs)


def _retry_after(response) -> int:
    value = int(response.headers["Retry-After"])
    assert value > 0
    return value


def _audits(user, action):
    return db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_id == user.id, AuditLog.action == action)
                              .order_by(AuditLog.id)).all()


# --- Flask-Limiter -------------------------------------------------------------------------------------------

def test_per_username_limit_answers_429_in_chinese_with_retry_after(client, throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "LOGIN_MAX_FAILURES", 100)
    monkeypatch.setitem(throttled.config, "LOGIN_RATE_PER_USERNAME", "3 per minute")
    user = make_user("coordinator")
    db.session.commit()
    assert [_page(client, user.username).status_code for _ in range(3)] == [200, 200, 200]
    page = _page(client, user.username, TEST_PASSWORD)  # even the right password waits
    assert page.status_code == 429
    assert "登录尝试过于频繁,请1分钟后再试" in page.get_data(as_text=True)
    assert 0 < _retry_after(page) <= 60
    # The page and the API share the username's count.
    api = _api(client, user.username, TEST_PASSWORD)
    assert error_of(api, 429, "rate_limited")["message"] == "登录尝试过于频繁,请1分钟后再试"
    assert 0 < _retry_after(api) <= 60
    # Another username from the same address is not affected.
    other = make_user("coordinator")
    db.session.commit()
    login(client, other)


def test_successful_sign_ins_do_not_count(client, throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "LOGIN_RATE_PER_USERNAME", "2 per minute")
    monkeypatch.setitem(throttled.config, "LOGIN_RATE_PER_ADDRESS", "2 per minute")
    user = make_user("coordinator")
    db.session.commit()
    for _ in range(4):
        login(client, user)
        client.post("/logout")
        assert _api(client, user.username, TEST_PASSWORD).status_code == 201


def test_per_address_limit(client, throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "LOGIN_RATE_PER_ADDRESS", "3 per minute")
    here = {"environ_base": {"REMOTE_ADDR": "10.9.8.7"}}
    assert [_page(client, _unknown(), **here).status_code for _ in range(2)] == [200, 200]
    assert error_of(_api(client, _unknown(), **here), 401)
    refused = _page(client, _unknown(), **here)
    assert refused.status_code == 429 and "登录尝试过于频繁" in refused.get_data(as_text=True)
    _retry_after(refused)
    api = _api(client, _unknown(), **here)
    assert "登录尝试过于频繁" in error_of(api, 429, "rate_limited")["message"]
    _retry_after(api)
    assert _page(client, _unknown(), environ_base={"REMOTE_ADDR": "10.9.8.6"}).status_code == 200
    # GET is never limited.
    assert client.get("/login", **here).status_code == 200


# --- no enumeration ------------------------------------------------------------------------------------------

def _answers(client, send, username: str, attempts: int = 6) -> list[tuple]:
    out = []
    for _ in range(attempts):
        response = send(client, username)
        # Content-Length follows the (echoed) username's length only: the bodies are compared name-blind below;
        # the request id is random for every request.
        headers = sorted((k, v) for k, v in response.headers.items()
                         if k not in ("Retry-After", "Set-Cookie", "Content-Length", "X-Request-ID"))
        retry = int(response.headers["Retry-After"]) if "Retry-After" in response.headers else None
        out.append((response.status_code, response.get_data(as_text=True).replace(username, "<name>"), headers,
                    sorted(c.split("=", 1)[0] for c in response.headers.getlist("Set-Cookie")), retry))
    return out


@pytest.mark.parametrize("send", [_page, _api], ids=["page", "api"])
def test_an_unknown_username_is_answered_exactly_as_a_known_one(throttled, send, monkeypatch):
    known = make_user("coordinator")
    db.session.commit()
    for limited in (False, True):  # the lock alone, then with Flask-Limiter's per-username limit biting first
        if limited:
            monkeypatch.setitem(throttled.config, "LOGIN_RATE_PER_USERNAME", "2 per minute")
            known = make_user("coordinator")
            db.session.commit()
        first = _answers(throttled.test_client(), send, known.username)
        second = _answers(throttled.test_client(), send, _unknown())
        assert [a[0] for a in first] == ([200, 200, 429, 429, 429, 429] if send is _page and limited else
                                         [401, 401, 429, 429, 429, 429] if limited else
                                         [200, 200, 200, 429, 429, 429] if send is _page else
                                         [401, 401, 401, 429, 429, 429])
        for a, b in zip(first, second, strict=True):
            assert a[:4] == b[:4]
            assert (a[4] is None) == (b[4] is None) and abs((a[4] or 0) - (b[4] or 0)) <= 1


def test_unknown_usernames_keep_the_dummy_verification(throttled, monkeypatch):
    calls = []
    monkeypatch.setattr(domain, "_hasher_dummy_verify", lambda password: calls.append(password))
    with pytest.raises(ValidationFailed):
        domain.authenticate(_unknown(), "some-password-1")
    assert calls == ["some-password-1"]


# --- atomic counts ------------------------------------------------------------------------------------------

def _fail_concurrently(application, username: str, n: int) -> list[str]:
    barrier = threading.Barrier(n)
    outcomes: list[str] = []

    def attempt_once() -> None:
        with application.app_context():
            barrier.wait()
            try:
                domain.authenticate(username, "wrong-pass-123")
            except throttle.SignInThrottled:
                outcomes.append("locked")
            except ValidationFailed:
                outcomes.append("failed")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt_once) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_failure_counts_are_atomic_under_concurrent_attempts(tmp_path_factory):
    with own_database(tmp_path_factory, "atomic", LOGIN_MAX_FAILURES=1000) as application:
        with application.app_context():
            user = domain.create_user(None, username="racer", password=TEST_PASSWORD, role="leader")
            db.session.commit()
            user_id = user.id
        assert _fail_concurrently(application, "racer", 16) == ["failed"] * 16
        with application.app_context():
            assert db.session.get(User, user_id).failed_logins == 16
        # The count is one SQL statement the failure sends (UPDATE … + 1 … RETURNING), not a read then a write.
        with (application.test_request_context(), counting_queries() as queries,
              contextlib.suppress(ValidationFailed)):
            domain.authenticate("racer", "wrong-pass-123")
        updates = [q for q in queries.statements if q.lstrip().upper().startswith("UPDATE USERS")]
        assert len(updates) == 1, queries.statements
        assert "failed_logins + " in updates[0] and "RETURNING" in updates[0].upper(), updates[0]
        application.config["LOGIN_MAX_FAILURES"] = 5
        with application.app_context():
            domain.unlock(None, db.session.get(User, user_id))
            db.session.commit()
        outcomes = _fail_concurrently(application, "racer", 5)
        with application.app_context():
            user = db.session.get(User, user_id)
            assert sorted(outcomes) == ["failed"] * 5 and domain.is_locked(user) and user.failed_logins == 0
            locks = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_id == user_id,
                                                                 AuditLog.action == AuditAction.LOCK)).all()
            assert len(locks) == 1 and locks[0].changes["failed_logins"] == [5, 0]


# --- the device cookie ------------------------------------------------------------------------------------------

def test_the_owners_browser_still_signs_in_while_a_stranger_is_locked_out(throttled):
    owner = make_user("admin")
    db.session.commit()
    browser = throttled.test_client()
    response = _page(browser, owner.username, TEST_PASSWORD)
    assert response.status_code == 302
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("crm_device=")]
    assert "HttpOnly" in cookie and "Max-Age=15552000" in cookie and "SameSite=Lax" in cookie
    browser.post("/logout")

    stranger = throttled.test_client()
    assert [_page(stranger, owner.username).status_code for _ in range(3)] == [200, 200, 200]
    assert _page(stranger, owner.username, TEST_PASSWORD).status_code == 429  # the account is locked …
    assert error_of(_api(stranger, owner.username, TEST_PASSWORD), 429)
    assert _page(browser, owner.username, TEST_PASSWORD).status_code == 302  # … but not for its owner's browser
    browser.post("/logout")
    # The owner's own failures count against that browser only (not the account's count), with the same rule.
    db.session.expire_all()
    before = db.session.get(User, owner.id).failed_logins
    assert [_page(browser, owner.username).status_code for _ in range(3)] == [200, 200, 200]
    assert db.session.get(User, owner.id).failed_logins == before
    locked = _page(browser, owner.username, TEST_PASSWORD)
    assert locked.status_code == 429 and "登录失败次数过多" in locked.get_data(as_text=True)
    assert 14 * 60 < _retry_after(locked) <= 15 * 60


def test_the_device_cookie_is_also_exempt_from_the_per_username_limit(throttled, monkeypatch):
    monkeypatch.setitem(throttled.config, "LOGIN_RATE_PER_USERNAME", "2 per minute")
    owner = make_user("admin")
    db.session.commit()
    browser = throttled.test_client()
    login(browser, owner)
    browser.post("/logout")
    stranger = throttled.test_client()
    assert [_page(stranger, owner.username).status_code for _ in range(3)] == [200, 200, 429]
    login(browser, owner)


def test_only_a_valid_device_cookie_for_that_username_bypasses_the_lock(throttled):
    owner = make_user("admin")
    other = make_user("admin")
    db.session.commit()
    browser = throttled.test_client()
    login(browser, other)  # this browser belongs to someone else
    browser.post("/logout")
    for _ in range(3):
        _page(throttled.test_client(), owner.username)
    assert _page(browser, owner.username, TEST_PASSWORD).status_code == 429
    forged = throttled.test_client()
    good = URLSafeTimedSerializer(throttled.secret_key, salt=throttle.DEVICE_SALT)
    binding = throttle._binding(owner)
    forged.set_cookie("crm_device", URLSafeTimedSerializer("another-secret-key!!", salt=throttle.DEVICE_SALT)
                      .dumps({"u": owner.username, "d": "x", "k": binding}), domain="localhost")
    assert _page(forged, owner.username, TEST_PASSWORD).status_code == 429

    class Old(TimestampSigner):
        def get_timestamp(self) -> int:
            return super().get_timestamp() - (throttled.config["DEVICE_COOKIE_DAYS"] * 86400 + 60)

    expired = throttled.test_client()
    old = URLSafeTimedSerializer(throttled.secret_key, salt=throttle.DEVICE_SALT, signer=Old)
    expired.set_cookie("crm_device", old.dumps({"u": owner.username, "d": "y", "k": binding}), domain="localhost")
    assert _page(expired, owner.username, TEST_PASSWORD).status_code == 429
    unbound = throttled.test_client()  # signed, but not bound to the owner's password and sessions
    unbound.set_cookie("crm_device", good.dumps({"u": owner.username, "d": "w", "k": "0" * 24}), domain="localhost")
    assert _page(unbound, owner.username, TEST_PASSWORD).status_code == 429
    genuine = throttled.test_client()
    genuine.set_cookie("crm_device", throttle.device_cookie_value(owner, "z"), domain="localhost")
    assert _page(genuine, owner.username, TEST_PASSWORD).status_code == 302
    # The API never takes the device cookie: its clients are scripts, the account's rules apply.
    assert error_of(_api(genuine, owner.username, TEST_PASSWORD), 429)


@pytest.mark.parametrize("revoke", ["password reset", "sign out everywhere"])
def test_a_device_cookie_stops_counting_after_a_password_reset_or_sign_out_everywhere(throttled, revoke):
    """A device cookie got with a stolen password must not outlive the owner's remedy."""
    owner = make_user("admin")
    db.session.commit()
    browser = throttled.test_client()
    login(browser, owner)  # the device cookie is set here
    browser.post("/logout")
    password = TEST_PASSWORD
    if revoke == "password reset":
        password = "Another-Strong-Pass-2026"
        domain.set_password(None, owner, password)
    else:
        domain.sign_out_everywhere(owner)
    db.session.commit()
    for _ in range(3):
        _page(throttled.test_client(), owner.username)  # a stranger locks the account
    assert _page(browser, owner.username, password).status_code == 429


# --- lock and unlock ------------------------------------------------------------------------------------------

def test_lock_and_unlock_are_audited_and_only_admins_unlock(client, throttled, monkeypatch):
    user = make_user("coordinator")
    db.session.commit()
    for _ in range(3):
        _page(throttled.test_client(), user.username)
    db.session.expire_all()
    assert domain.is_locked(user)
    [lock] = _audits(user, AuditAction.LOCK)
    assert lock.actor_id is None and lock.entity_type.value == "user" and lock.changes["failed_logins"] == [3, 0]
    assert "锁定" in lock.summary

    commissioner = make_user("commissioner")
    login(client, commissioner)
    assert client.post(f"/admin/users/{user.id}/unlock").status_code == 403
    db.session.expire_all()
    assert domain.is_locked(user) and not _audits(user, AuditAction.UNLOCK)
    client.post("/logout")

    admin = make_user("admin")
    login(client, admin)
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "解除锁定" in page and "锁定至" in page
    assert "已锁定" in client.get("/admin/users").get_data(as_text=True)
    monkeypatch.setitem(throttled.config, "WTF_CSRF_ENABLED", True)
    assert client.post(f"/admin/users/{user.id}/unlock").status_code == 400  # no CSRF token
    db.session.expire_all()
    assert domain.is_locked(user)
    token = csrf_token_from(client.get(f"/admin/users/{user.id}").get_data(as_text=True))
    response = client.post(f"/admin/users/{user.id}/unlock", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert not domain.is_locked(user) and user.failed_logins == 0
    [unlocked] = _audits(user, AuditAction.UNLOCK)
    assert unlocked.actor_id == admin.id
    monkeypatch.setitem(throttled.config, "WTF_CSRF_ENABLED", False)
    login(throttled.test_client(), user)


def test_cli_unlock_and_reset_are_audited(throttled):
    user = make_user("coordinator")
    db.session.commit()
    runner = throttled.test_cli_runner()
    not_locked = runner.invoke(args=["user", "unlock", user.username])
    assert not_locked.exit_code != 0 and "未被锁定" in not_locked.output
    assert runner.invoke(args=["user", "unlock", "no-such-user"]).exit_code != 0
    for _ in range(3):
        _page(throttled.test_client(), user.username)
    result = runner.invoke(args=["user", "unlock", user.username])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert not domain.is_locked(user)
    [unlocked] = _audits(user, AuditAction.UNLOCK)
    assert unlocked.actor_id is None
    # An admin's password reset lifts a lock too, and says so in the trail.
    for _ in range(3):
        _page(throttled.test_client(), user.username)
    db.session.expire_all()
    domain.set_password(make_user("admin"), user, "Reset-pass-2026x")
    db.session.commit()
    assert len(_audits(user, AuditAction.UNLOCK)) == 2 and len(_audits(user, AuditAction.LOCK)) == 2


def test_a_limit_on_another_page_answers_with_the_error_page(tmp_path_factory, app):
    def wrap(application):
        @application.route("/probe-limited")
        @limiter.limit("1 per minute")
        def probe_limited():
            return "ok"

        return application

    try:
        with own_database(tmp_path_factory, "limited", reference_data=False, wrap=wrap) as other:
            client = other.test_client()
            assert client.get("/probe-limited").status_code == 200
            refused = client.get("/probe-limited")
            text = refused.get_data(as_text=True)
            assert refused.status_code == 429 and "操作过于频繁,请1分钟后再试" in text and "登录" not in text.split(
                "<main", 1)[1].split("</main>", 1)[0]
            assert 0 < _retry_after(refused) <= 60
    finally:
        throttle.init_app(app)


# --- Redis: several hosts share the counts ----------------------------------------------------------------------

def test_limits_and_locks_live_in_redis_when_configured(tmp_path_factory, app):
    import redis

    name = _unknown()
    overrides = {"RATELIMIT_STORAGE_URI": REDIS_URL, "LOGIN_RATE_PER_USERNAME": "3 per minute",
                 "LOGIN_MAX_FAILURES": 2}
    server = redis.Redis.from_url(REDIS_URL)
    try:
        with own_database(tmp_path_factory, "redis", **overrides) as host_a:
            host_b = make_app(host_a.config["SQLALCHEMY_DATABASE_URI"], **overrides)  # a second host, same Redis
            a, b = host_a.test_client(), host_b.test_client()
            assert [_page(a, name).status_code for _ in range(2)] == [200, 200]
            locked = _page(b, name)  # host B sees host A's lock of this (unknown) username
            assert locked.status_code == 429 and "登录失败次数过多" in locked.get_data(as_text=True)
            assert any(name in key.decode() for key in server.scan_iter(match=f"*{name}*"))
            other = _unknown()
            host_a.config["LOGIN_MAX_FAILURES"] = host_b.config["LOGIN_MAX_FAILURES"] = 100
            assert [_page(a, other).status_code for _ in range(3)] == [200, 200, 200]
            limited = _page(b, other)  # Flask-Limiter's per-username window is shared too
            assert limited.status_code == 429 and "登录尝试过于频繁" in limited.get_data(as_text=True)
            with host_b.app_context():
                db.engine.dispose()
    finally:
        for key in [*server.scan_iter(match=f"*{name}*"), *server.scan_iter(match="*nobody-*")]:
            server.delete(key)
        throttle.init_app(app)  # the session app's limiter storage back to memory






def test_an_unreachable_redis_does_not_stop_sign_in(tmp_path_factory, app, caplog):
    """Redis down: sign-in goes on (the limits fall back to memory, the store's counts are skipped and logged; the
    account lock in SQL still holds), never a 500 for everyone."""
    overrides = {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:9/0", "LOGIN_MAX_FAILURES": 2}  # nothing listens
    logger = logging.getLogger(throttle.__name__)
    logger.addHandler(caplog.handler)  # whatever an earlier app did to the loggers' propagation
    try:
        with own_database(tmp_path_factory, "noredis", **overrides) as host:
            with host.app_context():
                user_id = make_user("admin", username="redisless").id
                db.session.commit()
            client = host.test_client()
            wrong = [_page(client, name) for name in ("redisless", _unknown(), "redisless", "redisless")]
            assert [r.status_code for r in wrong[:3]] == [200, 200, 200]
            assert wrong[3].status_code == 429  # the known account's lock (SQL) still holds
            assert "登录限流存储不可用" in caplog.text
            with host.app_context():
                assert len(_audits(db.session.get(User, user_id), AuditAction.LOCK)) == 1
            other = host.test_client()
            with host.app_context():
                make_user("admin", username="redisless2")
                db.session.commit()
            signed_in = _page(other, "redisless2", TEST_PASSWORD)
            assert signed_in.status_code == 302, signed_in.get_data(as_text=True)[:300]
            with host.app_context():
                db.engine.dispose()
    finally:
        logger.removeHandler(caplog.handler)
        throttle.init_app(app)
