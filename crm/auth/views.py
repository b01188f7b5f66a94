"""Sign-in, sign-out, the user's own account page (sessions, password) and the admin's user pages."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import domain, throttle
from crm.auth.forms import ConfirmForm, LoginForm, PasswordChangeForm, PasswordResetForm, UserForm
from crm.auth.models import User
from crm.core.access import Action, require
from crm.core.errors import RateLimited, json_error, wants_json
from crm.core.pages import attempt, load, page
from crm.core.time import utcnow
from crm.extensions import db
from crm.reference.models import County, Department, all_of

bp = Blueprint("auth", __name__)
bp.record_once(lambda state: throttle.init_app(state.app))  # Flask-Limiter and the sign-in store, once per app


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


@bp.before_app_request
def _load_user_first() -> None:
    """Load the signed-in user before any view (the loader may commit its once-a-minute ``last_seen_at``, which
    must never happen halfway through a view's own writes). The API answers to bearer tokens only; static files
    and the health check need no user (a signed-in browser's ``/healthz`` in an outage stays the JSON answer)."""
    if request.endpoint not in ("static", "web.healthz") and request.blueprint != "api":
        _ = current_user.is_authenticated


def _client() -> dict[str, str]:
    return {"address": request.remote_addr or "", "user_agent": request.user_agent.string or ""}


def _rotate_csrf() -> None:
    """A new CSRF token after sign-in: one fetched before (e.g. planted by someone else) is refused after."""
    session.pop("csrf_token", None)
    g.pop("csrf_token", None)


def _login_page(form: LoginForm, error: RateLimited | None = None, status: int = 200):
    form.remember.label.text = f"记住我({domain.session_max_age().days}天)"
    response = make_response(render_template("auth/login.html", form=form, throttled=error is not None), status)
    if isinstance(error, throttle.SignInThrottled):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@bp.app_errorhandler(RateLimitExceeded)
def _too_many_attempts(_err: RateLimitExceeded):
    """A sign-in limit (crm/auth/throttle.py) was hit: 429, a Chinese message, ``Retry-After``; page or JSON."""
    error = throttle.limit_breached()
    if wants_json():
        response, status = json_error(429, error.code, error.message)
    elif request.endpoint != "auth.login":  # a limit on some other page: the error page
        message = f"操作过于频繁,请{throttle.minutes(error.retry_after)}分钟后再试"
        response = make_response(render_template("errors/error.html", status=429, message=message, fields={}))
        status = 429
    else:
        form = LoginForm()
        form.form_errors.insert(0, error.message)
        response, status = _login_page(form, error, 429), 429
    response.headers["Retry-After"] = str(error.retry_after)
    return response, status


@bp.route("/login", methods=["GET", "POST"])
@throttle.sign_in_limits
@page
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    device = throttle.trusted_device() if request.method == "POST" else None
    # A failed sign-in is counted by ``authenticate`` itself (committed before it refuses).
    signed_in = attempt(lambda: domain.sign_in(form.username.data, form.password.data, device=device,
                                               remember=bool(form.remember.data), **_client()), form, invalid=None)
    if signed_in:
        user = signed_in.value
        _rotate_csrf()
        login_user(user, remember=bool(form.remember.data), duration=domain.session_max_age())
        flash(f"欢迎,{user.display_name}", "success")
        response = redirect(safe_next(request.args.get("next")) or url_for("web.home"))
        throttle.set_device_cookie(response, user, device)  # this browser is now the user's own
        return response
    # A wrong password is an ordinary answer (200); only the throttle says 429.
    if isinstance(signed_in.error, RateLimited):
        return _login_page(form, signed_in.error, 429)
    return _login_page(form)


@bp.route("/logout", methods=["POST"])
@login_required
@page
def logout():
    # The session ends on the server: a copy of this browser's cookies no longer opens anything.
    attempt(lambda: domain.sign_out(current_user), show="flash")
    logout_user()
    flash("您已退出登录", "info")
    return redirect(url_for("auth.login"))


# --- the signed-in user's own account ---------------------------------------------------------------------

def browser_label(user_agent: str) -> str:
    """A short "浏览器 · 系统" for the session list (the full string is in the title attribute)."""
    ua = user_agent or ""
    browser = next((name for key, name in (("MicroMessenger", "微信"), ("Edg/", "Edge"), ("Firefox/", "Firefox"),
                                           ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
                    if key in ua), "未知浏览器")
    system = next((name for key, name in (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"),
                                          ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Linux", "Linux"))
                   if key in ua), "")
    return f"{browser} · {system}" if system else browser


@bp.route("/account")
@login_required
@page
def account():
    rows = domain.live_sessions(current_user)
    return render_template("auth/account.html", sessions=rows, current_id=current_user.session_row_id,
                           browser_label=browser_label, confirm=ConfirmForm())


@bp.route("/account/sessions/<int:session_id>/end", methods=["POST"])
@login_required
@page
def account_end_session(session_id: int):
    this_one = session_id == current_user.session_row_id
    ended = attempt(lambda: domain.end_session(current_user, session_id), ConfirmForm(), show="flash",
                    success="已退出该登录会话")
    if ended and this_one:
        logout_user()
        return redirect(url_for("auth.login"))
    return redirect(url_for("auth.account"))


@bp.route("/account/sign-out-all", methods=["POST"])
@login_required
@page
def account_sign_out_all():
    done = attempt(lambda: domain.sign_out_everywhere(current_user), ConfirmForm(), show="flash",
                   success="已退出所有设备上的登录,所有访问令牌均已撤销")
    if done:
        logout_user()
        return redirect(url_for("auth.login"))
    return redirect(url_for("auth.account"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@page
def account_password():
    form = PasswordChangeForm()
    changed = attempt(lambda: domain.change_password(
        current_user, form.current_password.data, form.new_password.data, new_password2=form.new_password2.data,
        keep_session=current_user.session_row_id), form, success="密码已修改,其他设备上的登录均已退出")
    if changed:
        return redirect(url_for("auth.account"))
    response = make_response(render_template("auth/password.html", form=form), changed.status)
    if isinstance(changed.error, throttle.SignInThrottled):
        response.headers["Retry-After"] = str(changed.error.retry_after)
    return response


# --- admin: users ----------------------------------------------------------------------------------------

def _fill_choices(form: UserForm) -> None:
    form.department.choices = [("", "(无)")] + [(d.name, d.name) for d in all_of(Department)]
    form.county.choices = [("", "全市(不限区县)")] + [(c.name, c.name) for c in all_of(County)]


def _load_user(user_id: int) -> User:
    require(current_user, Action.MANAGE_USERS)
    return load(User, user_id, Action.EDIT)


@bp.route("/admin/users")
@login_required
@page
def users():
    require(current_user, Action.MANAGE_USERS)
    rows = db.session.scalars(sa.select(User).order_by(User.role, User.username)).all()
    return render_template("auth/users.html", users=rows, confirm=ConfirmForm(), now=utcnow())


@bp.route("/admin/users/new", methods=["GET", "POST"])
@login_required
@page
def user_new():
    require(current_user, Action.MANAGE_USERS)
    form = UserForm()
    _fill_choices(form)
    created = attempt(lambda: domain.create_user(
        current_user, username=form.username.data, password=form.password.data or "", role=form.role.data,
        display_name=form.display_name.data, county=form.county.data or None,
        department=form.department.data or None, specialties=form.specialties.data, phone=form.phone.data or ""),
        form, invalid=None, success=lambda user: f"已创建用户 {user.username}")
    if created:
        return redirect(url_for("auth.users"))
    return render_template("auth/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@login_required
@page
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
    saved = attempt(lambda: domain.update_user(
        current_user, user, display_name=form.display_name.data, role=form.role.data,
        county=form.county.data or None, department=form.department.data or None,
        specialties=form.specialties.data, phone=form.phone.data or ""), form, invalid=None, success="用户信息已保存")
    if saved:
        return redirect(url_for("auth.users"))
    return render_template("auth/user_form.html", form=form, user=user, reset_form=PasswordResetForm(),
                           confirm=ConfirmForm(), locked=domain.is_locked(user))


@bp.route("/admin/users/<int:user_id>/password", methods=["POST"])
@login_required
@page
def user_password(user_id: int):
    user = _load_user(user_id)
    form, name = PasswordResetForm(), user.username
    attempt(lambda: domain.set_password(current_user, user, form.password.data), form, show="flash",
            invalid="请输入新密码", success=f"已重置 {name} 的密码,其已登录的会话均已失效")
    return redirect(url_for("auth.user_edit", user_id=user_id))


@bp.route("/admin/users/<int:user_id>/active", methods=["POST"])
@login_required
@page
def user_active(user_id: int):
    user = _load_user(user_id)
    active, name = request.args.get("to") == "1", user.username
    attempt(lambda: domain.set_active(current_user, user, active), ConfirmForm(), show="flash",
            success=f"已{'启用' if active else '停用'}用户 {name}")
    return redirect(url_for("auth.users"))


@bp.route("/admin/users/<int:user_id>/unlock", methods=["POST"])
@login_required
@page
def user_unlock(user_id: int):
    user = _load_user(user_id)
    name = user.username
    attempt(lambda: domain.unlock(current_user, user), ConfirmForm(), show="flash", success=f"已解除 {name} 的登录锁定")
    return redirect(url_for("auth.user_edit", user_id=user_id))
