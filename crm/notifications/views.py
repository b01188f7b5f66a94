"""The inbox at /notifications: the signed-in user's own notifications, and the unread badge of the navigation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError

from crm.auth.forms import ConfirmForm as MarkForm  # an empty FlaskForm: a POST button with its CSRF token
from crm.core.pages import attempt, page
from crm.core.pagination import paginate, parse_page_args
from crm.core.parsing import parse_id
from crm.extensions import db
from crm.notifications import domain

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

PER_PAGE = 20


# Where one request keeps its count: a page renders several templates (the 一企一档 renders each capability's
# section with render_template), and every render runs the context processors; the badge is counted once.
_COUNTED = "crm.unread_notifications"


def _unread_this_request() -> int:
    """The signed-in user's unread count, read once per request: on a GET, the count read with the session
    (:data:`crm.notifications.domain.UNREAD_FIGURE`, no statement of its own); after a POST, which may have marked
    some read, counted again."""
    if _COUNTED not in request.environ:
        read_with_session = current_user.session_figures.get(domain.UNREAD_FIGURE)
        request.environ[_COUNTED] = (read_with_session if read_with_session is not None
                                     and request.method in ("GET", "HEAD") else domain.unread_count(current_user))
    return request.environ[_COUNTED]


def inject_unread_count() -> dict[str, Any]:
    """Context processor for the navigation badge: ``{{ unread_notifications }}`` (0 when signed out); counted
    once per request."""
    try:
        if current_user and current_user.is_authenticated:
            return {"unread_notifications": _unread_this_request()}
    except SQLAlchemyError:  # an error page must still render when the database is what failed
        db.session.rollback()
    return {"unread_notifications": 0}


def _back() -> str:
    """Back to the inbox page the button was on (only a page number is taken from the request)."""
    page = request.args.get("page", "")
    number = parse_id(page)
    return url_for("notifications.index", page=number) if number and 1 < number < 10**6 \
        else url_for("notifications.index")


@bp.route("/")
@login_required
@page
def index():
    page, per_page = parse_page_args(request.args, default_per_page=PER_PAGE)
    unread_only = request.args.get("unread") == "1"
    result = paginate(domain.inbox_statement(current_user, unread_only=unread_only), page, per_page)
    return render_template("notifications/index.html", page=result, unread_only=unread_only,
                           unread=_unread_this_request(), form=MarkForm())


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
@page
def read(notification_id: int):
    row = domain.get_own(current_user, notification_id)
    attempt(lambda: domain.mark_read(current_user, row), MarkForm(), show="flash")
    return redirect(_back(), code=303)


@bp.route("/<int:notification_id>/open", methods=["POST"])
@login_required
@page
def open_(notification_id: int):
    """Mark read and go to what the notification is about."""
    row = domain.get_own(current_user, notification_id)
    link = row.link
    if not attempt(lambda: domain.mark_read(current_user, row), MarkForm(), show="flash"):
        return redirect(_back(), code=303)
    target = link if link and domain.is_local_link(link) else _back()
    return redirect(target, code=303)


@bp.route("/read-all", methods=["POST"])
@login_required
@page
def read_all():
    attempt(lambda: domain.mark_all_read(current_user), MarkForm(), show="flash",
            success=lambda count: f"已将 {count} 条消息标记为已读" if count else "没有未读消息")
    return redirect(_back(), code=303)
