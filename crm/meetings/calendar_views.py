"""The meetings calendar: the calendar page and its events, the private feed (``/calendar/<token>.ics``) and
its management page, one meeting as ``.ics``, and a leader's home page.

The feed URL carries its own credential (a token kept hashed, :mod:`crm.meetings.feed`): it opens that one feed
and signs no one in. Every other page needs a signed-in user and shows only the meetings they may read
(``meetings_statement``).
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from crm.core.access import Action
from crm.core.pages import attempt, load, page
from crm.meetings import feed, ics
from crm.meetings.models import Meeting

bp = Blueprint("calendar", __name__)


class ButtonForm(FlaskForm):
    """A POST button with its CSRF token."""


def _base_url() -> str:
    return request.url_root


def _ics_response(body: bytes, filename: str | None = None) -> Response:
    response = Response(body, content_type=ics.CONTENT_TYPE)
    response.headers["Cache-Control"] = "private, no-store"
    if filename:
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- the private feed ----------------------------------------------------------------------------------------

@bp.route("/calendar/<token>.ics")
@page
def feed_ics(token: str):
    """The feed of the token's owner; no sign-in. Unknown, revoked or guessed → 404 (nothing says which)."""
    outcome = attempt(lambda: feed.resolve_feed_token(token))  # commits the "last read" time
    user = outcome.value if outcome else None
    if user is None:
        abort(404)
    response = _ics_response(ics.feed_ics(user, _base_url()))
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _feed_url(token: str) -> str:
    return url_for("calendar.feed_ics", token=token, _external=True)


def _webcal(url: str) -> str:
    return "webcal://" + url.split("://", 1)[1] if "://" in url else url


@bp.route("/calendar/feed")
@login_required
@page
def feed_page():
    return render_template("meetings/feed.html", row=feed.current_feed(current_user), form=ButtonForm(),
                           new_url=None, webcal_url=None)


@bp.route("/calendar/feed/create", methods=["POST"])
@login_required
@page
def feed_create():
    form = ButtonForm()
    outcome = attempt(lambda: feed.issue_feed_token(current_user), form, show="flash")
    if not outcome:
        return render_template("meetings/feed.html", row=feed.current_feed(current_user), form=ButtonForm(),
                               new_url=None, webcal_url=None), outcome.status
    url = _feed_url(outcome.value)
    # Shown once, on this answer only (never put in a redirect or a flash: only its hash is kept).
    return render_template("meetings/feed.html", row=feed.current_feed(current_user), form=ButtonForm(),
                           new_url=url, webcal_url=_webcal(url))


@bp.route("/calendar/feed/revoke", methods=["POST"])
@login_required
@page
def feed_revoke():
    form = ButtonForm()
    attempt(lambda: feed.revoke_feed_token(current_user), form, show="flash",
            success=lambda revoked: "日历订阅地址已撤销,原地址不再可用" if revoked else "当前没有日历订阅地址")
    return redirect(url_for(".feed_page"), code=303)


# --- one meeting ---------------------------------------------------------------------------------------------

@bp.route("/meetings/<int:meeting_id>.ics")
@login_required
@page
def meeting_download(meeting_id: int):
    meeting = load(Meeting, meeting_id, Action.VIEW)  # 404 for a meeting the user may not see
    return _ics_response(ics.meeting_ics(meeting, _base_url()), f"meeting-{meeting.id}.ics")
