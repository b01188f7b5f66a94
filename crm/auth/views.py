"""Sign-in, sign-out and the admin's user pages."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import domain
from crm.auth.forms import ConfirmForm, LoginForm, PasswordResetForm, UserForm
from crm.auth.models import User
from crm.core.access import Action, require
from crm.core.errors import DomainError, RateLimited
from crm.extensions import db
from crm.reference.models import County, Department, all_of

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """Only a local path: one leading slash, no scheme, no host, no backslash tricks (PITFALLS)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = domain.authenticate(form.username.data, form.password.data)
        except RateLimited as err:
            form.form_errors.append(err.message)
            status = 429
        except DomainError as err:
            form.form_errors.append(err.message)
            status = 200
        else:
            db.session.commit()
            login_user(user, remember=form.remember.data)
            flash(f"欢迎,{user.display_name}", "success")
            return redirect(safe_next(request.args.get("next")) or url_for("web.home"))
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    logout_user()
    flash("您已退出登录", "info")
    return redirect(url_for("auth.login"))


# --- admin: users ----------------------------------------------------------------------------------------

def _fill_choices(form: UserForm) -> None:
    form.department.choices = [("", "(无)")] + [(d.name, d.name) for d in all_of(Department)]
    form.county.choices = [("", "全市(不限区县)")] + [(c.name, c.name) for c in all_of(County)]


def _load_user(user_id: int) -> User:
    require(current_user, Action.MANAGE_USERS)
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    require(current_user, Action.EDIT, user)
    return user


@bp.route("/admin/users")
@login_required
def users():
    require(current_user, Action.MANAGE_USERS)
    rows = db.session.scalars(sa.select(User).order_by(User.role, User.username)).all()
    return render_template("auth/users.html", users=rows, confirm=ConfirmForm())


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
def user_new():
    require(current_user, Action.MANAGE_USERS)
    form = UserForm()
    _fill_choices(form)
    if form.validate_on_submit():
        try:
            user = domain.create_user(
                current_user, username=form.username.data, password=form.password.data or "",
                role=form.role.data, display_name=form.display_name.data, county=form.county.data or None,
                department=form.department.data or None, specialties=form.specialties.data,
                phone=form.phone.data or "")
        except DomainError as err:
            db.session.rollback()
            _attach_errors(form, err)
        else:
            db.session.commit()
            flash(f"已创建用户 {user.username}", "success")
            return redirect(url_for("auth.users"))
    return render_template("auth/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
def user_edit(user_id: int):
    user = _load_user(user_id)
    form = UserForm(obj=None if request.method == "POST" else user)
    _fill_choices(form)
    if request.method == "GET":
        form.role.data = user.role.value
        form.department.data = user.department.name if user.department else ""
        form.county.data = user.county.name if user.county else ""
        form.specialties.data = [s.value for s in user.specialties]
    form.username.data = user.username  # not editable
    if form.validate_on_submit():
        try:
            domain.update_user(current_user, user, display_name=form.display_name.data, role=form.role.data,
                               county=form.county.data or None, department=form.department.data or None,
                               specialties=form.specialties.data, phone=form.phone.data or "")
        except DomainError as err:
            db.session.rollback()
            _attach_errors(form, err)
        else:
            db.session.commit()
            flash("用户信息已保存", "success")
            return redirect(url_for("auth.users"))
    return render_template("auth/user_form.html", form=form, user=user, reset_form=PasswordResetForm(),
                           confirm=ConfirmForm())


@bp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@login_required
def user_password(user_id: int):
    user = _load_user(user_id)
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            domain.set_password(current_user, user, form.password.data)
        except DomainError as err:
            db.session.rollback()
            flash(err.fields.get("password", err.message), "danger")
        else:
            db.session.commit()
            flash(f"已重置 {user.username} 的密码,其已登录的会话均已失效", "success")
    else:
        flash("请输入新密码", "danger")
    return redirect(url_for("auth.user_edit", user_id=user.id))


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@login_required
def user_active(user_id: int):
    user = _load_user(user_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        active = request.args.get("to") == "1"
        try:
            domain.set_active(current_user, user, active)
        except DomainError as err:
            db.session.rollback()
            flash(err.message, "danger")
        else:
            db.session.commit()
            flash(f"已{'启用' if active else '停用'}用户 {user.username}", "success")
    return redirect(url_for("auth.users"))


def _attach_errors(form, err: DomainError) -> None:
    placed = False
    for name, message in err.fields.items():
        field = getattr(form, name, None)
        if field is not None:
            field.errors = [*field.errors, message]
            placed = True
    if not placed:
        form.form_errors.append(err.message)
