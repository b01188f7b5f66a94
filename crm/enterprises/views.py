"""Enterprise pages."""

from __future__ import annotations

from flask import Blueprint
from flask_login import login_required

bp = Blueprint("enterprises", __name__, url_prefix="/enterprises")


@bp.route("/")
@login_required
def index():
    return "TODO"
