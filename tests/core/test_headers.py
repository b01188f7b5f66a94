"""Security headers and caching (issue 10, item 6).

``Cache-Control: no-store`` on every API answer and signed-in page (static files may be cached); a
``Permissions-Policy`` everywhere; HSTS only where the configuration says the site is HTTPS (production).
"""

from __future__ import annotations

import secrets

import pytest

from config import DevelopmentConfig, ProductionConfig, TestingConfig
from crm import create_app
from crm.extensions import db
from crm.web import PERMISSIONS_POLICY
from tests.api.support import bearer
from tests.conftest import login, make_user

HSTS = "max-age=31536000; includeSubDomains"


def assert_permissions_policy(response):
    policy = response.headers["Permissions-Policy"]
    assert policy == PERMISSIONS_POLICY
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy


def test_api_answers_are_not_stored(client):
    user = make_user("coordinator")
    headers = bearer(user)
    ok = client.get("/api/v1/enterprises", headers=headers)
    assert ok.status_code == 200
    assert ok.headers["Cache-Control"] == "no-store"
    assert_permissions_policy(ok)
    # Refusals and the public document too.
    refused = client.get("/api/v1/enterprises")
    assert refused.status_code == 401 and refused.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/openapi.json").headers["Cache-Control"] == "no-store"


def test_signed_in_pages_are_not_stored(client):
    user = make_user("coordinator")
    db.session.commit()
    login(client, user)
    for url in ("/enterprises/", "/admin/users"):
        response = client.get(url)
        assert response.headers["Cache-Control"] == "no-store", url
        assert_permissions_policy(response)
    assert "Strict-Transport-Security" not in response.headers  # testing config: no HSTS


def test_anonymous_login_page_and_static_files(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers.get("Cache-Control") in (None, "no-store")
    assert_permissions_policy(page)
    asset = client.get("/static/vendor/bootstrap/bootstrap.min.css")
    assert asset.status_code == 200
    assert "no-store" not in asset.headers.get("Cache-Control", "")  # static files may be cached
    asset.close()


def test_hsts_only_in_production():
    assert ProductionConfig.SECURITY_HSTS is True
    assert DevelopmentConfig.SECURITY_HSTS is False and TestingConfig.SECURITY_HSTS is False


@pytest.fixture
def production_app(app, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    return create_app("production", {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                                     "SERVER_NAME": "localhost"})


def test_production_sends_hsts_and_permissions_policy(production_app):
    client = production_app.test_client()
    page = client.get("/login", base_url="https://localhost")
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"] == HSTS
    assert_permissions_policy(page)
    api = client.get("/api/v1/enterprises", base_url="https://localhost")
    assert api.status_code == 401
    assert api.headers["Strict-Transport-Security"] == HSTS
    assert api.headers["Cache-Control"] == "no-store"


def test_development_sends_no_hsts(app, monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    dev = create_app("development", {"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                                      "SECRET_KEY_FILE": str(tmp_path / "secret_key"), "SERVER_NAME": "localhost"})
    page = dev.test_client().get("/login")
    assert page.status_code == 200
    assert "Strict-Transport-Security" not in page.headers
    assert_permissions_policy(page)
