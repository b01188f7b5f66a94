"""Web plumbing shared by every page: sign-in loader, template helpers, security headers, the home page, the
health check."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, abort, current_app, g, jsonify, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required
from markupsafe import Markup

from crm.auth.domain import load_session_user, session_figure
from crm.auth.models import Role
from crm.core import cache
from crm.core.access import Action, can
from crm.core.errors import Forbidden
from crm.core.pages import page
from crm.core.time import format_local, utcnow
from crm.extensions import db
from crm.history import template_globals
from crm.scheduler.models import SchedulerHeartbeat
from crm.scheduler.process import HEARTBEAT_SECONDS
from crm.service.access import LIAISON_FENCED, liaison_may_open

log = logging.getLogger(__name__)

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
    if current_user.role is Role.LIAISON:  # their department's routed 诉求 and 政策兑现, overdue first
        return redirect(url_for("service.department_home"))
    if current_user.role is Role.COMMISSIONER:  # their day starts with their own enterprises
        return redirect(url_for("service.workspace"))
    if current_user.role is Role.LEADER:  # leadership reads meetings and the yearly rule first
        return redirect(url_for("calendar.home"))
    return redirect(url_for("enterprises.index"))


# --- /healthz -------------------------------------------------------------------------------------------------

# A scheduler whose last beat is older than this is reported "stale" (three missed beats).
SCHEDULER_STALE_SECONDS = 3 * HEARTBEAT_SECONDS
_HEADS = "crm.migration_heads"


def migration_heads(directory: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The head revision(s) of the migration scripts in ``directory``, and every revision they know (read from
    the files, ~10 ms)."""
    config = AlembicConfig()
    config.set_main_option("script_location", directory)
    scripts = ScriptDirectory.from_config(config)
    return tuple(sorted(scripts.get_heads())), frozenset(script.revision for script in scripts.walk_revisions())


def init_health(app: Flask) -> None:
    """Read the scripts' head once at start-up: /healthz then costs three small queries (load balancers poll
    it)."""
    migrate = app.extensions.get("migrate")
    app.extensions[_HEADS] = migration_heads(migrate.directory) if migrate is not None else ((), frozenset())


def _database_revisions() -> tuple[str, tuple[str, ...] | None]:
    """("ok" or "unreachable", the database's alembic revisions or ``None`` when it has none / is unreachable)."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as err:
        db.session.rollback()
        log.warning("healthz: database unreachable: %s", type(err).__name__)
        return "unreachable", None
    try:
        return "ok", tuple(sorted(db.session.scalars(sa.text("SELECT version_num FROM alembic_version"))))
    except sa.exc.SQLAlchemyError:  # never migrated: no alembic_version table
        db.session.rollback()
        return "ok", None


def _age(moment: datetime, now: datetime) -> float:
    return round(max((now - moment).total_seconds(), 0.0), 1)


def scheduler_status(now: datetime | None = None) -> dict[str, Any]:
    """The scheduler processes' heartbeats (crm/scheduler/process.py): the active one's host and the age of its
    last beat; "stale" when no active scheduler beat within ``SCHEDULER_STALE_SECONDS``, "missing" when no
    scheduler ever beat. Reported only: a web host serves whether or not the scheduler host is up."""
    now = now or utcnow()
    stale_after = current_app.config.get("SCHEDULER_STALE_SECONDS", SCHEDULER_STALE_SECONDS)
    answer: dict[str, Any] = {"status": "missing", "active_host": None, "last_beat_age_seconds": None,
                              "standby_hosts": [], "stale_after_seconds": stale_after}
    try:
        rows = db.session.execute(sa.select(SchedulerHeartbeat.host, SchedulerHeartbeat.active,
                                            SchedulerHeartbeat.beat_at)
                                  .order_by(SchedulerHeartbeat.beat_at.desc()).limit(50)).all()
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return {**answer, "status": "unknown"}
    if not rows:
        return answer
    active = [row for row in rows if row.active]
    newest = active[0] if active else rows[0]
    age = _age(newest.beat_at, now)
    answer.update(active_host=newest.host if newest.active else None, last_beat_age_seconds=age,
                  standby_hosts=[row.host for row in rows if not row.active and _age(row.beat_at, now) <= stale_after],
                  status="ok" if newest.active and age <= stale_after else "stale")
    return answer


@bp.route("/healthz")
def healthz():
    """200 when the database answers and its migrations are the code's head; 503 otherwise (a load balancer
    takes the host out). The scheduler's heartbeat is reported but never makes it 503: the scheduler runs on
    one host at a time, and the web hosts must keep serving while it is down (README, "Production")."""
    heads, known = current_app.extensions[_HEADS]
    database, current = _database_revisions()
    if current is None:
        migrations = "unknown" if database != "ok" else "behind"  # unreachable / never migrated
    elif set(current) == set(heads):
        migrations = "current"
    elif set(current) - known:
        migrations = "ahead"  # a revision this code does not know: the database is newer (a host not updated)
    else:
        migrations = "behind"
    healthy = database == "ok" and migrations == "current"
    body = {
        "status": "ok" if healthy else "unavailable",
        "database": database,
        "migrations": {"status": migrations, "current": ",".join(current) if current else None,
                       "head": ",".join(heads)},
        "scheduler": scheduler_status() if database == "ok" else {"status": "unknown"},
    }
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    db.session.rollback()  # read-only: end the transaction
    return response


def init_login(app: Flask, login_manager: LoginManager) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "warning"
    login_manager.session_protection = app.config["SESSION_PROTECTION"]
    login_manager.user_loader(load_session_user)
    # The cached figures' data versions come with the session or token (crm/core/cache.py versions_column)
    session_figure(cache.VERSIONS_FIGURE, cache.versions_column, loaded=cache.note_versions)

    @app.teardown_request
    def _forget_loaded_user(_exc):
        # Flask-Login caches the user on ``g``; drop it so every request loads (and re-checks) its user,
        # even where an outer app context outlives the request (tests, CLI).
        g.pop("_login_user", None)


def init_liaison_fence(app: Flask) -> None:
    """A department liaison opens only their routed records' pages, their account, inbox and the task ledger
    (``crm.service.access.liaison_may_open``); any other page answers 403 before its view runs. The API does
    the same after reading the token (``crm.api.auth``)."""

    @app.before_request
    def _liaison_fence():
        # Open endpoints first, without loading the user: /healthz must answer with the database down.
        if request.path.startswith("/api/") or liaison_may_open(request.endpoint):
            return None
        if current_user.is_authenticated and current_user.role is Role.LIAISON:
            raise Forbidden(LIAISON_FENCED)
        return None


# The navigation's links (base.html: ≈ 30 a page, on every page), each built once per process and mount point.
_FIXED_URLS: dict[tuple[Any, ...], str] = {}


def fixed_url(endpoint: str, **values: str) -> str:
    """``url_for(endpoint, **values)`` for a link that is the same on every page (the navigation, the static
    assets), built once per process: a relative address depends on nothing else than the endpoint, its values and
    where the app is mounted (``request.script_root``). ≈ 30 ``url_for`` a page were ≈ 0.5 ms of every view
    (issue 11, sixth pass). Never for a link with a record's id or a user's choice in it (use ``url_for``)."""
    key = (request.script_root, endpoint, *sorted(values.items()))
    found = _FIXED_URLS.get(key)
    if found is None:
        found = _FIXED_URLS[key] = url_for(endpoint, **values)
    return found


# The navigation's links drawn (templates/_nav_links.html), per what they depend on: at most a few thousand
# (roles × city-wide or not × pages), each ≈ 3 KB.
_NAV_LINKS: dict[tuple[Any, ...], Markup] = {}
NAV_LINKS_MAX = 4096


def nav_links() -> Markup:
    """The navigation's links for the signed-in user on this page, drawn once per process for each role, city-wide
    or county, right to manage users, page (the link shown active) and mount point: what the partial reads, and
    nothing else (no name, no count, no token). Drawing them was ≈ 60 % of base.html on every page (≈ 0.2 ms;
    issue 11, ninth pass)."""
    user = current_user._get_current_object()
    key = (request.script_root, user.role, user.county_id is None, can(user, Action.MANAGE_USERS),
           request.endpoint, request.blueprint)
    found = _NAV_LINKS.get(key)
    if found is None:
        if len(_NAV_LINKS) >= NAV_LINKS_MAX:
            _NAV_LINKS.clear()
        found = _NAV_LINKS[key] = Markup(render_template("_nav_links.html"))  # noqa: S704 (drawn by a template)
    return found


def init_templates(app: Flask) -> None:
    app.jinja_env.filters["local"] = format_local
    app.jinja_env.globals.update(template_globals())
    app.jinja_env.globals.update(can=can, Action=Action, Role=Role, fixed_url=fixed_url, nav_links=nav_links)

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
