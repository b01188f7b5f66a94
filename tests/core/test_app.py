"""Configuration, security headers and the error contract."""

from __future__ import annotations

import pytest

from config import ProductionConfig, normalise_database_url
from crm import create_app
from tests.conftest import login, make_app, make_user


def test_production_refuses_missing_or_default_secret(monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")
    monkeypatch.setenv("SECRET_KEY", "dev-only-not-secret")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        ProductionConfig.check()
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-of-enough-length")
    ProductionConfig.check()


def test_plain_postgresql_url_uses_psycopg3():
    assert normalise_database_url("postgresql://u@h:5432/d") == "postgresql+psycopg://u@h:5432/d"
    assert normalise_database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_database_url("sqlite:///x") == "sqlite:///x"


def test_security_headers_and_strict_csp(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html
    assert "/static/vendor/bootstrap/bootstrap.min.css" in html


def test_static_assets_are_served_locally(client):
    assert client.get("/static/vendor/bootstrap/bootstrap.min.css").status_code == 200
    assert client.get("/static/vendor/bootstrap/bootstrap.bundle.min.js").status_code == 200


def test_chinese_404_page_and_json_404_for_api(client):
    login(client, make_user("leader"))
    page = client.get("/no/such/page")
    assert page.status_code == 404 and "不存在" in page.get_data(as_text=True)
    api = client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404
    assert api.get_json()["error"]["code"] == "not_found"


def test_unexpected_error_gives_chinese_500(app):
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], PROPAGATE_EXCEPTIONS=False)

    @other.route("/_boom_test")
    def _boom():
        raise ValueError("boom")

    @other.route("/api/v1/_boom_test")
    def _api_boom():
        raise ValueError("boom")

    with other.app_context():
        page = other.test_client().get("/_boom_test")
        api = other.test_client().get("/api/v1/_boom_test")
    assert page.status_code == 500 and "系统内部错误" in page.get_data(as_text=True)
    assert "boom" not in page.get_data(as_text=True)
    assert api.status_code == 500 and api.get_json()["error"]["code"] == "server_error"


def test_home_redirects_to_sign_in_then_to_enterprises(client):
    assert client.get("/").headers["Location"].startswith("/login")
    login(client, make_user("coordinator"))  # a leader lands on their own page (tests/meetings/test_leader_home.py)
    assert client.get("/").headers["Location"].endswith("/enterprises/")


def test_babel_defaults_to_simplified_chinese_and_shanghai(app):
    from flask_babel import format_datetime, get_locale, get_timezone

    with app.test_request_context("/"):
        assert str(get_locale()) == "zh_Hans_CN"
        assert str(get_timezone()) == "Asia/Shanghai"
        from datetime import UTC, datetime

        assert "2026" in format_datetime(datetime(2026, 6, 30, 16, 5, tzinfo=UTC), "yyyy-MM-dd HH:mm")
        assert format_datetime(datetime(2026, 6, 30, 16, 5, tzinfo=UTC), "yyyy-MM-dd HH:mm") == "2026-07-01 00:05"


def test_nul_bytes_in_query_or_form_are_a_400_not_a_500(client):
    login(client, make_user("coordinator"))
    assert client.get("/enterprises/?q=%00").status_code == 400
    response = client.post("/enterprises/new", data={"name": "a\x00b"})
    assert response.status_code == 400


def test_commissioners_land_on_their_workspace(client):
    login(client, make_user("commissioner", specialties=["tech"]))
    assert client.get("/").headers["Location"].endswith("/service/")
