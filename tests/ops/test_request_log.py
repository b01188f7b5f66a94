"""One structured log line per request (logger ``crm.request``) and the request id: taken from a valid
``X-Request-ID``, otherwise made; echoed in the response; shown on the Chinese error pages."""

from __future__ import annotations

import json
import logging
import re

import pytest

from crm.app import REQUEST_ID_HEADER, valid_request_id
from tests.conftest import api_token, login, make_app, make_user

KEYS = {"event", "request_id", "method", "path", "status", "duration_ms", "user_id", "remote_addr"}


@pytest.fixture
def lines(caplog):
    """The request log lines of the test, parsed."""
    logging.getLogger("crm.request").disabled = False
    caplog.set_level(logging.INFO, logger="crm.request")

    def parsed() -> list[dict]:
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "crm.request"]
    return parsed


def test_one_line_per_request_with_its_fields(client, lines):
    user = make_user("coordinator")
    login(client, user)
    response = client.get("/enterprises/?q=secret-search&token=abc123", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                          headers={"Cookie": "extra=cookie-value"})
    assert response.status_code == 200
    found = lines()
    assert len(found) == 2  # the sign-in post and the page
    line = found[-1]
    assert set(line) == KEYS
    assert line["event"] == "request" and line["method"] == "GET" and line["path"] == "/enterprises/"
    assert line["status"] == 200 and line["user_id"] == user.id and line["remote_addr"] == "10.1.2.3"
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["request_id"] == response.headers[REQUEST_ID_HEADER]
    assert found[0]["method"] == "POST" and found[0]["path"] == "/login" and found[0]["status"] == 302


def test_no_query_string_cookie_or_password_in_the_log(client, caplog, lines):
    user = make_user("coordinator")
    login(client, user)
    client.get("/enterprises/?q=secret-search&token=abc123")
    client.post("/login", data={"username": user.username, "password": "Wrong-password-123"})
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in ("secret-search", "abc123", "Wrong-password-123", "session=", "Cookie"):
        assert secret not in text


def test_api_requests_log_the_token_user(client, lines):
    user = make_user("admin")
    headers = api_token(user)
    assert client.get("/api/v1/enterprises", headers=headers).status_code == 200
    assert client.get("/api/v1/enterprises").status_code == 401
    ok, refused = lines()
    assert ok["user_id"] == user.id and ok["status"] == 200 and ok["path"] == "/api/v1/enterprises"
    assert refused["user_id"] is None and refused["status"] == 401


def test_anonymous_requests_have_no_user(client, lines):
    client.get("/login")
    assert lines()[-1]["user_id"] is None and lines()[-1]["status"] == 200


@pytest.mark.parametrize("sent", ["req-1234-abcd", "A" * 64, "0"])
def test_a_valid_request_id_is_kept_and_echoed(client, lines, sent):
    response = client.get("/login", headers={REQUEST_ID_HEADER: sent})
    assert response.headers[REQUEST_ID_HEADER] == sent
    assert lines()[-1]["request_id"] == sent


@pytest.mark.parametrize("sent", ["", "A" * 65, "abc def", "abc\tdef", "<script>x</script>", "id;drop", "请求",
                                  "a_b", "a.b"])
def test_an_invalid_request_id_is_replaced(client, lines, sent):
    response = client.get("/login", headers={REQUEST_ID_HEADER: sent})
    made = response.headers[REQUEST_ID_HEADER]
    assert made != sent and valid_request_id(made) and re.fullmatch(r"[0-9a-f]{16}", made)
    assert lines()[-1]["request_id"] == made


def test_every_request_gets_its_own_id(client):
    ids = {client.get("/login").headers[REQUEST_ID_HEADER] for _ in range(5)}
    assert len(ids) == 5


def test_the_request_id_is_on_the_404_page(client, lines):
    login(client, make_user("leader"))
    response = client.get("/no/such/page", headers={REQUEST_ID_HEADER: "trace-404"})
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "请求编号: <code class=\"request-id\">trace-404</code>" in html
    assert lines()[-1]["status"] == 404 and lines()[-1]["request_id"] == "trace-404"


def test_the_request_id_is_on_the_403_page(client):
    login(client, make_user("commissioner", specialties=["tech"]))
    response = client.get("/admin/users")
    rid = response.headers[REQUEST_ID_HEADER]
    assert response.status_code == 403 and f"请求编号: <code class=\"request-id\">{rid}</code>" in response.text


def test_the_request_id_is_on_the_500_page_and_in_the_log(app, lines, caplog):
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], PROPAGATE_EXCEPTIONS=False)

    @other.route("/_boom_request_id")
    def _boom():
        raise ValueError("boom")

    response = other.test_client().get("/_boom_request_id", headers={REQUEST_ID_HEADER: "trace-500"})
    html = response.get_data(as_text=True)
    assert response.status_code == 500 and "系统内部错误" in html and "boom" not in html
    assert "请求编号: <code class=\"request-id\">trace-500</code>" in html
    assert response.headers[REQUEST_ID_HEADER] == "trace-500"
    assert lines()[-1]["status"] == 500 and lines()[-1]["request_id"] == "trace-500"
    assert any("request_id=trace-500" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_api_errors_carry_the_request_id_header(client):
    response = client.get("/api/v1/enterprises", headers={REQUEST_ID_HEADER: "api-trace-1"})
    assert response.status_code == 401 and response.headers[REQUEST_ID_HEADER] == "api-trace-1"


def test_a_request_ended_by_an_earlier_hook_still_has_its_line(client, lines):
    login(client, make_user("coordinator"))
    response = client.get("/enterprises/?q=%00")  # refused by a before_request hook (crm/web.py)
    assert response.status_code == 400 and REQUEST_ID_HEADER in response.headers
    assert lines()[-1]["status"] == 400 and lines()[-1]["path"] == "/enterprises/"


def test_an_exception_escaping_every_handler_is_logged_as_500(app, lines):
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"], PROPAGATE_EXCEPTIONS=False)

    @other.after_request
    def _broken(_response):
        raise RuntimeError("after_request failed")

    response = other.test_client().get("/login", headers={REQUEST_ID_HEADER: "trace-teardown"})
    assert response.status_code == 500
    assert len(lines()) == 1 and lines()[-1]["status"] == 500 and lines()[-1]["request_id"] == "trace-teardown"


def test_behind_a_proxy_the_client_address_comes_from_the_trusted_hop(app, lines):
    behind = make_app(app.config["SQLALCHEMY_DATABASE_URI"], PROXY_HOPS=1)
    response = behind.test_client().get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"}, headers={
        "X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"})
    assert response.status_code == 200
    assert lines()[-1]["remote_addr"] == "203.0.113.9"  # the one hop the proxy added, not what the client wrote


def test_without_a_proxy_forwarded_headers_are_ignored(client, lines):
    client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert lines()[-1]["remote_addr"] == "10.0.0.2"


@pytest.mark.parametrize("hops", ["x", "-1", "6"])
def test_a_wrong_proxy_hop_count_refuses_to_start(app, hops):
    with pytest.raises(RuntimeError, match="CRM_PROXY_HOPS"):
        make_app(app.config["SQLALCHEMY_DATABASE_URI"], PROXY_HOPS=hops)
