"""Helpers of the scheduler tests that subprocesses may import too (no pytest, no side effects)."""

from __future__ import annotations

from flask import Flask


def register_scheduler(application: Flask) -> Flask:
    """The scheduler's blueprint and CLI group, unless the app factory registers them already."""
    from crm.scheduler.cli import scheduler_cli
    from crm.scheduler.views import bp

    if "scheduler" not in application.blueprints:
        application.register_blueprint(bp)
    if "scheduler" not in application.cli.commands:
        application.cli.add_command(scheduler_cli)
    return application
