"""Application factory: config → extensions → models → subscribers → blueprints → error handlers → CLI."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flask import Flask

from config import CONFIGS, resolve_secret_key

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    # Only an explicit choice of development (argument or CRM_ENV) may run without a SECRET_KEY.
    from_environment = config_name is None
    explicit = config_name or os.environ.get("CRM_ENV", "").strip().lower() or None
    config_name = explicit or "development"
    if config_name not in CONFIGS:
        raise RuntimeError(f"未知的 CRM_ENV={config_name!r}(可用:{', '.join(CONFIGS)})")
    config_cls = CONFIGS[config_name]
    if hasattr(config_cls, "check"):
        config_cls.check()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder="static",
        instance_path=str(ROOT / "instance"),
    )
    app.config.from_object(config_cls)
    if overrides:
        app.config.update(overrides)
    Path(app.instance_path).mkdir(exist_ok=True)
    app.config["SECRET_KEY"] = resolve_secret_key(app.config, explicit_development=explicit == "development",
                                                  instance_path=app.instance_path, from_environment=from_environment)

    from crm import web
    from crm.app import init_request_log
    from crm.core import transactions
    from crm.core.errors import register_error_handlers
    from crm.extensions import babel, csrf, db, login_manager, migrate

    init_request_log(app)  # first: every request has its id and log line, whatever a later hook does
    db.init_app(app)
    transactions.init_app(app)  # the one SQLite write-lock mechanism
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    babel.init_app(app, default_locale="zh_Hans_CN", default_timezone="Asia/Shanghai")
    web.init_login(app, login_manager)

    _import_models()
    _register_access_rules()
    _connect_subscribers()
    _bounded_int_urls(app)
    _register_blueprints(app)
    register_error_handlers(app)
    web.init_templates(app)
    web.init_security_headers(app)
    web.init_liaison_fence(app)
    web.init_health(app)
    _register_cli(app)
    return app


def _bounded_int_urls(app: Flask) -> None:
    """``<int:id>`` in every URL stops at PostgreSQL's integer range: a larger id is a 404, not a 500."""
    from werkzeug.exceptions import NotFound
    from werkzeug.routing import IntegerConverter

    from crm.core.parsing import MAX_ID

    class BoundedInt(IntegerConverter):
        # Raising NotFound (not ValidationError, which Werkzeug may turn into a 405 for another method's rule).
        def to_python(self, value: str) -> int:
            number = super().to_python(value)
            if number > MAX_ID:
                raise NotFound()
            return number

    app.url_map.converters["int"] = BoundedInt


def _import_models() -> None:
    """Import every model module so metadata (and Alembic) sees all tables."""
    from crm.auth import models as _auth  # noqa: F401
    from crm.core import audit as _audit  # noqa: F401
    from crm.core import cache as _cache  # noqa: F401
    from crm.dashboard import models as _dashboard  # noqa: F401
    from crm.enterprises import models as _enterprises  # noqa: F401
    from crm.holidays import models as _holidays  # noqa: F401
    from crm.meetings import models as _meetings  # noqa: F401
    from crm.notifications import models as _notifications  # noqa: F401
    from crm.reference import models as _reference  # noqa: F401
    from crm.rosters import models as _rosters  # noqa: F401
    from crm.scheduler import models as _scheduler  # noqa: F401
    from crm.service import models as _service  # noqa: F401
    from crm.tasks import models as _tasks  # noqa: F401


def _register_access_rules() -> None:
    """Each capability registers its access rules with ``crm.core.access`` when its module is imported."""
    from crm.auth import access as _auth  # noqa: F401
    from crm.enterprises import access as _enterprises  # noqa: F401
    from crm.meetings import access as _meetings  # noqa: F401
    from crm.notifications import access as _notifications  # noqa: F401
    from crm.reference import access as _reference  # noqa: F401
    from crm.rosters import access as _rosters  # noqa: F401
    from crm.service import access as _service  # noqa: F401
    from crm.tasks import access as _tasks  # noqa: F401
    from crm.tasks import supervision_access as _supervision  # noqa: F401


def _connect_subscribers() -> None:
    """Connect what each capability hears from those below it (blinker signals, page sections, search filters):
    a lower capability sends and never imports its hearers. Connecting twice is a no-op (blinker keys receivers
    by identity), so every app of a test run shares them."""
    from crm.meetings import subscribers as _meetings  # noqa: F401
    from crm.rosters import subscribers as _rosters  # noqa: F401
    from crm.service import subscribers as _service  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from crm.api import bp as api_bp
    from crm.auth.views import bp as auth_bp
    from crm.dashboard.report_views import bp as reports_bp
    from crm.dashboard.service_views import bp as performance_bp
    from crm.dashboard.views import bp as dashboard_bp
    from crm.enterprises.views import bp as enterprises_bp
    from crm.extensions import csrf
    from crm.holidays.views import bp as holidays_bp
    from crm.meetings.calendar_views import bp as calendar_bp
    from crm.meetings.partner_views import bp as partners_bp
    from crm.meetings.views import bp as meetings_bp
    from crm.notifications.views import bp as notifications_bp
    from crm.notifications.views import inject_unread_count
    from crm.reference.views import bp as reference_bp
    from crm.rosters.views import bp as rosters_bp
    from crm.scheduler.views import bp as scheduler_bp
    from crm.service.assignment_views import bp as assignments_bp
    from crm.service.policy_views import bp as policy_bp
    from crm.service.views import bp as service_bp
    from crm.tasks.situation_views import bp as situation_bp
    from crm.tasks.supervision_views import bp as supervision_bp
    from crm.tasks.views import bp as tasks_bp
    from crm.web import bp as web_bp

    app.register_blueprint(web_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(enterprises_bp)
    app.register_blueprint(rosters_bp)
    app.register_blueprint(assignments_bp)
    app.register_blueprint(service_bp)
    app.register_blueprint(policy_bp)
    app.register_blueprint(scheduler_bp)
    app.register_blueprint(holidays_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(meetings_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(partners_bp)
    app.register_blueprint(calendar_bp)
    app.register_blueprint(reference_bp)
    app.register_blueprint(performance_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(supervision_bp)
    app.register_blueprint(situation_bp)
    app.register_blueprint(tasks_bp)
    app.context_processor(inject_unread_count)
    # The API authenticates with bearer tokens only (never the session cookie), so CSRF does not apply.
    csrf.exempt(api_bp)
    app.register_blueprint(api_bp)


def _register_cli(app: Flask) -> None:
    from crm.auth.cli import user_cli
    from crm.backup.cli import backup_cli
    from crm.dashboard.cli import dashboard_cli
    from crm.demo.cli import demo_accounts_command, seed_demo_command, seed_reference_command
    from crm.holidays.cli import holidays_cli
    from crm.scheduler.cli import scheduler_cli

    app.cli.add_command(user_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(holidays_cli)
    app.cli.add_command(seed_reference_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(demo_accounts_command)
    app.cli.add_command(backup_cli)
    app.cli.add_command(dashboard_cli)
