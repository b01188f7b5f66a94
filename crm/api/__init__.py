"""The JSON API at /api/v1 (API.md). One module per capability, all calling the domain functions.

Every endpoint needs a bearer token unless it is marked :func:`crm.api.auth.public`; the session cookie is
never accepted here (which is why the blueprint is CSRF-exempt).
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.record_once
def _unescaped_chinese(state) -> None:
    # API.md: "UTF-8, Chinese text unescaped". Set here so crm/__init__.py need not know about it.
    state.app.json.ensure_ascii = False


# Route modules register themselves on ``bp``; imported last because they import ``bp``.
from crm.api import (  # noqa: E402, F401
    assignments,
    auth,
    dashboard,
    dashboard_service,
    enterprises,
    interactions,
    meetings,
    notifications,
    openapi,
    partners,
    policy,
    requests,
    roster_files,
    rosters,
    scheduler,
    supervisions,
    tasks,
)
