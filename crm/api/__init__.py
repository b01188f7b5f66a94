"""The JSON API at /api/v1 (API.md). One module per capability, all calling the domain functions."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")
