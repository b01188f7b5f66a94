"""Passwords: at least 12 characters, not a common password (nor one dressed up with digits and symbols), not
containing the username; the same rule for ``user create``, the admin page and a reset."""

from __future__ import annotations

import pytest

from crm.auth import domain
from crm.core.errors import ValidationFailed
from tests.conftest import login, make_user


@pytest.mark.parametrize(("password", "expected"), [
    ("Short-1", "至少需要12个字符"),
    ("abcdefghijklmn", "同时包含字母和数字"),
    ("123456789012", "同时包含字母和数字"),
    ("qwertyuiop123", "过于常见"),  # on the list as it is
    ("Password2026!", "过于常见"),  # a common word with digits and symbols added
    ("iloveyou12345", "过于常见"),
    ("zhangwei-2026-x", "不能包含用户名"),
])
def test_weak_passwords_are_refused_with_the_reason(app, password, expected):
    assert expected in domain.check_password_strength(password, "zhangwei")


@pytest.mark.parametrize("password", ["Demo-2026-zunyi", "Tongzi-gongye-88", "红花岗区-服务-2026"])
def test_good_passwords_pass(app, password):
    assert domain.check_password_strength(password, "zhangwei") is None


def test_the_rule_holds_for_create_and_reset(app):
    with pytest.raises(ValidationFailed) as err:
        domain.create_user(None, username="lihua", password="lihua-2026-abc", role="leader")
    assert "用户名" in err.value.fields["password"]
    user = make_user("leader", username="wangfang")
    with pytest.raises(ValidationFailed) as err:
        domain.set_password(None, user, "Password1234")
    assert "常见" in err.value.fields["password"]


def test_the_rule_holds_on_the_admin_page(client):
    login(client, make_user("admin"))
    response = client.post("/admin/users/new", data={
        "username": "chenjing", "display_name": "陈静", "role": "leader", "password": "Chenjing-2026"})
    assert "不能包含用户名" in response.get_data(as_text=True)


def test_the_rule_holds_for_user_create(app, monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", "Qwerty123456!")
    result = app.test_cli_runner().invoke(args=["user", "create", "zhaolei", "--role", "leader"])
    assert result.exit_code != 0 and "常见" in result.output
    assert domain.get_user("zhaolei") is None
