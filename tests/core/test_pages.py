"""The one request path of pages (``crm.core.pages``): a write commits once; a conflict is the Chinese conflict
message with nothing saved; a ``DomainError`` is put on the form's fields; a write outside it is refused."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import get_flashed_messages
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired

from crm.core.errors import Conflict, ValidationFailed
from crm.core.messages import FIX_FIELDS, FORM_EXPIRED, RACE_MESSAGE, STALE_MESSAGE
from crm.core.pages import attempt, page
from crm.extensions import db
from crm.reference.models import Department


class NameForm(FlaskForm):
    name = StringField("名称", validators=[DataRequired(message="请填写名称")])
    version = HiddenField()


@pytest.fixture
def commits() -> Iterator[list[Session]]:
    seen: list[Session] = []

    def count(session: Session) -> None:
        seen.append(session)

    sa.event.listen(Session, "after_commit", count)
    yield seen
    sa.event.remove(Session, "after_commit", count)


def department(name: str) -> Department | None:
    return db.session.scalar(sa.select(Department).where(Department.name == name))


def post(app, data: dict[str, Any] | None = None):
    return app.test_request_context("/", method="POST", data=data if data is not None else {"name": "x"})


def add(name: str) -> Department:
    row = Department(name=name, sort_order=99)
    db.session.add(row)
    db.session.flush()
    return row


def test_success_commits_once_and_flashes(app, commits):
    with post(app):
        form = NameForm()
        done = attempt(lambda: add("测试单位甲"), form, success=lambda row: f"已添加{row.name}")
        assert done and done.status == 200 and done.value.name == "测试单位甲"
        assert len(commits) == 1
        assert get_flashed_messages(with_categories=True) == [("success", "已添加测试单位甲")]
    assert department("测试单位甲") is not None


def test_integrity_conflict_is_the_chinese_message_and_nothing_is_saved(app, commits):
    taken = db.session.scalars(sa.select(Department.name)).first()
    assert taken is not None  # the reference data's departments

    def clash() -> None:
        add("测试单位乙")  # saved only with the rest
        add(taken)  # the unique name is taken: IntegrityError at the flush

    with post(app):
        form = NameForm()
        done = attempt(clash, form)
        assert not done and done.status == 409 and done.notice == RACE_MESSAGE
        assert done.error is not None and done.error.code == "stale"
        assert form.form_errors == [RACE_MESSAGE]
        assert commits == []
    assert department("测试单位乙") is None


def test_stale_data_is_a_conflict_with_the_page_message(app):
    def stale() -> None:
        add("测试单位丙")
        raise StaleDataError("UPDATE statement on table expected to update 1 row(s); 0 were matched.")

    with post(app):
        form = NameForm()
        done = attempt(stale, form, conflict=STALE_MESSAGE, notice="page")
        assert done.status == 409 and done.notice == STALE_MESSAGE and form.form_errors == []
    assert department("测试单位丙") is None


def test_domain_error_goes_onto_the_fields_and_nothing_is_saved(app, commits):
    def refuse() -> None:
        add("测试单位丁")
        raise ValidationFailed("名称有误", {"name": "名称已被使用", "version": "版本已过期", "owner": "负责人不存在"})

    with post(app):
        form = NameForm()
        done = attempt(refuse, form)
        assert not done and done.status == 422 and not done.flashed
        assert form.name.errors == ["名称已被使用"]
        # The error's message, then what has no visible field (a hidden field, an unknown key), above the form.
        assert form.form_errors == ["名称有误", "版本已过期", "负责人不存在"]
        assert commits == []
    assert department("测试单位丁") is None


def test_domain_error_aliases_and_flash(app):
    with post(app):
        form = NameForm()
        done = attempt(lambda: (_ for _ in ()).throw(ValidationFailed("有误", {"title": "标题太长"})), form,
                       aliases={"title": "name"})
        assert form.name.errors == ["标题太长"] and done.status == 422
    with post(app):
        done = attempt(lambda: (_ for _ in ()).throw(Conflict("已发布的版本不能修改", {"name": "不能改"})),
                       NameForm(), show="flash")
        assert done.flashed and done.status == 409
        assert get_flashed_messages(with_categories=True) == [("danger", "已发布的版本不能修改:不能改")]
    with post(app):  # form_or_flash: a key the form does not show → flashed
        form = NameForm()
        done = attempt(lambda: (_ for _ in ()).throw(Conflict("已冻结", {"tier": "x"})), form, show="form_or_flash")
        assert done.flashed and form.form_errors == []


def test_invalid_form_and_expired_page(app, monkeypatch, commits):
    called: list[bool] = []
    with post(app, {"name": ""}):
        form = NameForm()
        done = attempt(lambda: called.append(True), form)
        assert done.status == 422 and form.name.errors == ["请填写名称"] and form.form_errors == [FIX_FIELDS]
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    with post(app, {"name": "x"}):
        form = NameForm()
        done = attempt(lambda: called.append(True), form)
        assert done.status == 400 and done.notice == FORM_EXPIRED and form.form_errors == [FORM_EXPIRED]
    with post(app, {"name": "x"}):
        done = attempt(lambda: called.append(True), NameForm(), show="flash")
        assert done.flashed and get_flashed_messages() == [FORM_EXPIRED]
    assert called == [] and commits == []
    with app.test_request_context("/"):  # a GET: nothing is attempted, the page is shown
        done = attempt(lambda: called.append(True), NameForm())
        assert not done and done.status == 200 and called == []


def test_a_page_that_writes_outside_attempt_is_refused_and_rolled_back(app):
    @page
    def sloppy() -> str:
        add("测试单位戊")
        return "ok"

    @page
    def careful() -> str:
        attempt(lambda: add("测试单位己"))
        return "ok"

    with post(app):
        with pytest.raises(RuntimeError, match="wrote outside attempt"):
            sloppy()
        assert careful() == "ok"
    assert department("测试单位戊") is None and department("测试单位己") is not None


def test_every_html_page_is_on_the_one_path(app):
    """Every view outside the JSON API (and the static files and the health check) is a ``@page``."""
    outside = {"static", "web.healthz"}
    missing = sorted(endpoint for endpoint, view in app.view_functions.items()
                     if not endpoint.startswith("api.") and endpoint not in outside
                     and not getattr(view, "is_page", False))
    assert missing == []
