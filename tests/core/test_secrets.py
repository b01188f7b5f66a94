"""No well-known secret, ever: the app refuses a missing key or one written in the code (issue 10, item 1).

Only explicit development (``CRM_ENV=development``) runs without ``SECRET_KEY``: it makes a random key in
``instance/secret_key`` (mode 0600) on first run and reuses it.
"""

from __future__ import annotations

import secrets
import stat

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from config import SECRET_KEY_REFUSAL, WELL_KNOWN_SECRETS, TestingConfig
from crm import create_app
from crm.auth.domain import start_session
from crm.extensions import db
from tests.conftest import login, make_user

OLD_DEV_KEY = "dev-only-not-secret"


@pytest.fixture
def bare_env(monkeypatch, tmp_path):
    """No SECRET_KEY, no CRM_ENV; a database URL so production's own check passes; the key file under tmp."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("CRM_ENV", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    return {"SECRET_KEY_FILE": str(tmp_path / "instance" / "secret_key")}


def test_missing_key_is_refused_unless_development_is_explicit(bare_env):
    with pytest.raises(RuntimeError, match="SECRET_KEY") as refused:
        create_app(None, bare_env)  # unset CRM_ENV no longer means "the development key"
    assert str(refused.value) == SECRET_KEY_REFUSAL
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production", bare_env)


def test_a_key_written_in_the_code_is_refused(bare_env, monkeypatch):
    assert OLD_DEV_KEY in WELL_KNOWN_SECRETS and TestingConfig.SECRET_KEY in WELL_KNOWN_SECRETS
    for key in (OLD_DEV_KEY, TestingConfig.SECRET_KEY, "short-key"):
        monkeypatch.setenv("SECRET_KEY", key)
        for env in (None, "development", "production"):
            if env:
                monkeypatch.setenv("CRM_ENV", env)
            else:
                monkeypatch.delenv("CRM_ENV", raising=False)
            with pytest.raises(RuntimeError, match="SECRET_KEY"):
                create_app(None, bare_env)
    # Nor may an override smuggle it in, or CRM_ENV=testing bring the testing key to a real server.
    monkeypatch.delenv("SECRET_KEY")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("development", {**bare_env, "SECRET_KEY": OLD_DEV_KEY})
    monkeypatch.setenv("CRM_ENV", "testing")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(None, bare_env)


def test_unknown_crm_env_is_a_clear_error(bare_env, monkeypatch):
    monkeypatch.setenv("CRM_ENV", "prod")
    with pytest.raises(RuntimeError, match="CRM_ENV"):
        create_app(None, bare_env)


def test_explicit_development_makes_a_private_key_once_and_reuses_it(bare_env, monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("CRM_ENV", "development")
    key_file = Path(bare_env["SECRET_KEY_FILE"])
    assert not key_file.exists()
    first = create_app(None, bare_env)
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = first.config["SECRET_KEY"]
    assert len(key) >= 32 and key not in WELL_KNOWN_SECRETS
    assert key_file.read_text().strip() == key
    second = create_app(None, bare_env)
    assert second.config["SECRET_KEY"] == key
    # The file alone does not make a server without CRM_ENV=development serve.
    monkeypatch.delenv("CRM_ENV")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(None, bare_env)
    # Another checkout gets another key.
    other = create_app("development", {"SECRET_KEY_FILE": str(key_file.parent / "other")})
    assert other.config["SECRET_KEY"] != key


def test_development_key_file_is_made_private_again(bare_env, monkeypatch):
    from pathlib import Path

    key_file = Path(bare_env["SECRET_KEY_FILE"])
    key_file.parent.mkdir(parents=True)
    key_file.write_text(secrets.token_hex(32))
    key_file.chmod(0o644)
    app = create_app("development", bare_env)
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_production_with_a_good_key_serves(bare_env, monkeypatch):
    good = secrets.token_hex(32)
    monkeypatch.setenv("SECRET_KEY", good)
    monkeypatch.setenv("CRM_ENV", "production")
    app = create_app(None, bare_env)
    assert app.config["SECRET_KEY"] == good
    assert app.config["SESSION_COOKIE_SECURE"] is True
    # The environment's key also serves development, without any file.
    monkeypatch.setenv("CRM_ENV", "development")
    assert create_app(None, bare_env).config["SECRET_KEY"] == good


def _session_cookie(secret: str, user) -> str:
    signer = Flask(__name__)
    signer.secret_key = secret
    serializer = SecureCookieSessionInterface().get_signing_serializer(signer)
    return serializer.dumps({"_user_id": user.get_id(), "_fresh": True})


def test_a_cookie_signed_with_the_old_dev_key_does_not_open_admin_users(app):
    admin = make_user("admin")
    start_session(admin)  # a live server-side session: the cookie's signature is the only thing under test
    db.session.commit()
    assert app.config["SECRET_KEY"] != OLD_DEV_KEY
    name = app.config["SESSION_COOKIE_NAME"]
    forged = app.test_client()
    forged.set_cookie(name, _session_cookie(OLD_DEV_KEY, admin), domain="localhost")
    response = forged.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    # Control: the very same session signed with the app's own key does open it (the forgery is the only change).
    genuine = app.test_client()
    genuine.set_cookie(name, _session_cookie(app.config["SECRET_KEY"], admin), domain="localhost")
    assert genuine.get("/admin/users").status_code == 200
    # And a real sign-in still works.
    signed_in = app.test_client()
    login(signed_in, admin)
    assert signed_in.get("/admin/users").status_code == 200
