"""Web plumbing shared by every page: sign-in loader, template helpers, security headers, the home page."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, g, redirect, request, url_for
from flask_login import LoginManager, current_user, login_required

from crm.auth.domain import load_session_user
from crm.auth.models import Role
from crm.core.access import Action, can
from crm.core.pages import page
from crm.core.time import format_local
from crm.history import template_globals

bp = Blueprint("web", __name__)

# No page needs the device's sensors, payment or the other powerful features: switched off for every origin.
# (Only features Chromium knows: an unknown one is a console error in the browser tests.)
PERMISSIONS_POLICY = ("camera=(), microphone=(), geolocation=(), payment=(), usb=(), midi=(), magnetometer=(), "
                      "gyroscope=(), accelerometer=(), display-capture=()")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)


@bp.route("/")
@login_required
@page
def home():
    if current_user.role is Role.COMMISSIONER:  # their day starts with their own enterprises
        return redirect(url_for("service.workspace"))
    if current_user.role is Role.LEADER:  # leadership reads meetings and the yearly rule first
        return redirect(url_for("calendar.home"))
    return redirect(url_for("enterprises.index"))


@bp.route("/healthz")
def healthz():
    return {"status": "ok"}


def init_login(app: Flask, login_manager: LoginManager) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = app.config["SESSION_PROTECTION"]
    login_manager.user_loader(load_session_user)

    @app.teardown_request
    def _forget_loaded_user(_exc):
        # Flask-Login caches the user on ``g``; drop it so every request loads (and re-checks) its user,
        # even where an outer app context outlives the request (tests, CLI).
        g.pop("_login_user", None)


def init_templates(app: Flask) -> None:
    app.jinja_env.filters["local"] = format_local
    app.jinja_env.globals.update(template_globals())
    app.jinja_env.globals.update(can=can, Action=Action, Role=Role)

    @app.context_processor
    def _user():
        return {"current_user": current_user}


def init_security_headers(app: Flask) -> None:
    """A strict CSP and the usual headers (Flask-Talisman is unmaintained: PITFALLS); NUL bytes refused.

    PostgreSQL refuses NUL in text, so a ``?q=%00`` would otherwise end as a 500 instead of a 400.
    """

    @app.before_request
    def _refuse_nul():
        if request.path.startswith(("/static/", "/api/")):  # the API answers NUL with its JSON field errors
            return None
        values = list(request.args.values()) + list(request.view_args.values() if request.view_args else [])
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values += list(request.form.values())
        if any(isinstance(v, str) and "\x00" in v for v in values):
            abort(400)
        return None

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        # Nothing but static files is cached: API answers and signed-in pages carry personal data (a shared
        # computer's back button or a proxy must not show them again); anonymous pages gain nothing from a cache.
        if not request.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        if app.config.get("SECURITY_HSTS"):
            response.headers.setdefault("Strict-Transport-Security",
                                        f"max-age={app.config.get('HSTS_MAX_AGE', 31536000)}; includeSubDomains")
        return response
