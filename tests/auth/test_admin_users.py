"""The admin's user pages and the ``user create`` command."""

from __future__ import annotations

import sqlalchemy as sa

from crm.auth.models import Role, Specialty, User
from crm.core.audit import AuditLog
from crm.extensions import db
from tests.conftest import TEST_PASSWORD, login, make_user


def _user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == username))


def test_only_admin_reaches_user_pages(client):
    for role in ("coordinator", "commissioner", "leader"):
        user = make_user(role)
        login(client, user)
        assert client.get("/admin/users").status_code == 403
        assert client.post("/admin/users/new", data={"username": "x"}).status_code == 403
        assert client.post(f"/admin/users/{user.id}/active?to=0").status_code == 403
        client.post("/logout")
    admin = make_user("admin")
    login(client, admin)
    page = client.get("/admin/users")
    assert page.status_code == 200
    assert admin.username in page.get_data(as_text=True)


def test_admin_creates_a_commissioner(client):
    login(client, make_user("admin"))
    response = client.post("/admin/users/new", data={
        "username": "wang.tech", "display_name": "王科技", "role": "commissioner", "department": "市工业和科学技术局",
        "county": "汇川区", "specialties": ["tech", "finance"], "phone": "0851-28880001", "password": "Strong-pass-9"})
    assert response.status_code == 302
    user = _user("wang.tech")
    assert user.role is Role.COMMISSIONER and user.county.name == "汇川区"
    assert user.specialties == [Specialty.TECH, Specialty.FINANCE]
    row = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "user", AuditLog.entity_id == user.id))
    assert row.action == "create" and row.changes["role"] == [None, "commissioner"]


def test_create_user_errors_are_next_to_fields_and_nothing_is_saved(client):
    login(client, make_user("admin"))
    response = client.post("/admin/users/new", data={
        "username": "bad user!", "display_name": "", "role": "leader", "password": "short"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "用户名只能包含" in text and "请输入姓名" in text
    assert _user("bad user!") is None
    response = client.post("/admin/users/new", data={
        "username": "weak", "display_name": "弱密码", "role": "leader", "password": "short"})
    assert "密码至少需要12个字符" in response.get_data(as_text=True)
    assert _user("weak") is None


def test_duplicate_username_refused(client):
    existing = make_user("leader")
    login(client, make_user("admin"))
    response = client.post("/admin/users/new", data={
        "username": existing.username, "display_name": "重复", "role": "leader", "password": "Strong-pass-9"})
    assert "该用户名已被使用" in response.get_data(as_text=True)


def test_admin_edits_resets_and_deactivates(client):
    admin = make_user("admin")
    target = make_user("commissioner")
    login(client, admin)
    response = client.post(f"/admin/users/{target.id}", data={
        "display_name": "新名字", "role": "coordinator", "county": "播州区", "department": "", "phone": ""})
    assert response.status_code == 302
    assert target.display_name == "新名字" and target.role is Role.COORDINATOR and target.county.name == "播州区"
    update = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_id == target.id, AuditLog.action == "update"))
    assert update.changes["role"] == ["commissioner", "coordinator"]
    assert update.changes["county"] == [None, "播州区"]

    version = target.session_version
    assert client.post(f"/admin/users/{target.id}/password", data={"password": "Reset-pass-77"}).status_code == 302
    assert target.session_version == version + 1

    assert client.post(f"/admin/users/{target.id}/active?to=0").status_code == 302
    assert target.active is False
    other = client.application.test_client()
    refused = other.post("/login", data={"username": target.username, "password": "Reset-pass-77"})
    assert "用户名或密码不正确" in refused.get_data(as_text=True)
    assert client.post(f"/admin/users/{target.id}/active?to=1").status_code == 302
    assert target.active is True


def test_admin_cannot_deactivate_self(client):
    admin = make_user("admin")
    login(client, admin)
    client.post(f"/admin/users/{admin.id}/active?to=0")
    assert admin.active is True


def test_cli_user_create(app, monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", "Cli-password-1")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "create", "li.fin", "--role", "commissioner", "--county", "桐梓县",
                                 "--department", "市投资促进局", "--specialty", "finance", "--specialty", "talent"])
    assert result.exit_code == 0, result.output
    user = _user("li.fin")
    assert user.county.name == "桐梓县" and user.specialties == [Specialty.FINANCE, Specialty.TALENT]
    bad = runner.invoke(args=["user", "create", "li.x", "--role", "leader", "--county", "不存在县"])
    assert bad.exit_code != 0 and "未知区县" in bad.output
    assert _user("li.x") is None


def test_cli_refuses_weak_password(app, monkeypatch):
    monkeypatch.setenv("CRM_PASSWORD", "123")
    result = app.test_cli_runner().invoke(args=["user", "create", "weakling", "--role", "leader"])
    assert result.exit_code != 0 and "密码" in result.output
    assert TEST_PASSWORD  # the fixtures' password is strong enough for create_user


def test_a_liaison_needs_a_department_and_keeps_it(client):
    import pytest

    from crm.auth.domain import LIAISON_NEEDS_DEPARTMENT, create_user, update_user
    from crm.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        create_user(None, username="li.nodept", password="Strong-pass-9", role="liaison")
    assert refused.value.fields == {"department": LIAISON_NEEDS_DEPARTMENT}
    assert _user("li.nodept") is None
    liaison = make_user("liaison", department="市自然资源局")
    assert liaison.role is Role.LIAISON and liaison.department.name == "市自然资源局"
    with pytest.raises(ValidationFailed) as refused:
        update_user(None, liaison, display_name="x", role="liaison", county=None, department=None, specialties=[])
    assert refused.value.fields == {"department": LIAISON_NEEDS_DEPARTMENT}
