"""The meetings calendar: the calendar page and its events, the private feed (``/calendar/<token>.ics``) and
its management page, one meeting as ``.ics``, and a leader's home page.

The feed URL carries its own credential (a token kept hashed, :mod:`crm.meetings.feed`): it opens that one feed
and signs no one in. Every other page needs a signed-in user and shows only the meetings they may read
(``meetings_statement``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, abort, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy.orm import selectinload

from crm.auth.models import Role
from crm.core import cache
from crm.core.access import Action, scope
from crm.core.errors import DomainError
from crm.core.pages import attempt, load, page
from crm.core.pagination import Page, parse_page_args
from crm.core.time import SHANGHAI, local_today, to_local
from crm.core.transactions import prepared
from crm.extensions import db
from crm.meetings import domain, feed, ics
from crm.meetings.access import may_plan
from crm.meetings.models import Meeting, MeetingKind, MeetingStatus

bp = Blueprint("calendar", __name__)

MAX_RANGE = timedelta(days=400)  # FullCalendar asks for a month or a week; a year and a bit is the most we answer
UPCOMING_DAYS = 90
UPCOMING_PER_PAGE = 10  # about a week of meetings at provincial scale (≈ 1.7 a day); the rest a click away
RULE_READERS = (Role.ADMIN, Role.COORDINATOR, Role.LEADER)
STATUS_BADGES = {MeetingStatus.PLANNED: "text-bg-info", MeetingStatus.CONFIRMED: "text-bg-primary",
                 MeetingStatus.HELD: "text-bg-success", MeetingStatus.CANCELLED: "text-bg-secondary"}


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"status_badge": STATUS_BADGES.get, "chengyu_reason": domain.chengyu_reason}


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
    body = ics.feed_ics(user, _base_url())
    response = _ics_response(body)
    response.headers["X-Robots-Tag"] = "noindex"
    # Calendars poll the feed (hourly, X-PUBLISHED-TTL): the ETag is a hash of the body, so one that sends
    # If-None-Match gets a 304 without the body (≈ 400 KB for a leader) once nothing changed. "no-cache" instead of
    # "no-store" lets the calendar keep its copy to revalidate; "private" keeps proxies from storing it.
    response.headers["Cache-Control"] = "private, no-cache"
    response.set_etag(hashlib.blake2b(body, digest_size=16).hexdigest())
    return response.make_conditional(request)


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
def meeting_ics(meeting_id: int):
    meeting = load(Meeting, meeting_id, Action.VIEW)  # 404 for a meeting the user may not see
    return _ics_response(ics.meeting_ics(meeting, _base_url()), f"meeting-{meeting.id}.ics")


# --- the calendar page and its events ------------------------------------------------------------------------

@bp.route("/calendar/")
@login_required
@page
def index():
    kind = request.args.get("kind", "")
    city = request.args.get("city", "")
    return render_template(
        "meetings/calendar.html", kinds=list(MeetingKind), cities=domain.cities(current_user),
        kind=kind if MeetingKind.find(kind) else "", city=city, may_plan=may_plan(current_user))


class BadArgument(ValueError):
    """A query argument the events endpoint refuses (400, with its Chinese message)."""


def _moment(raw: str | None, name: str) -> datetime:
    """FullCalendar's ``start``/``end``: an ISO date or date-time; without an offset it is Asia/Shanghai time
    (the calendar runs in that zone, so it sends floating times)."""
    text = (raw or "").strip()
    if not text:
        raise BadArgument(f"请提供 {name} 参数(ISO 8601 日期或日期时间)")
    try:
        moment = datetime.fromisoformat(text.replace(" ", "+", 1) if "T" in text and " " in text else text)
    except ValueError:
        raise BadArgument(f"{name} 参数格式应为 2026-07-01 或 2026-07-01T00:00:00+08:00") from None
    if not domain.EARLIEST_YEAR <= moment.year <= domain.LATEST_YEAR:
        raise BadArgument(f"{name} 参数的年份应在 {domain.EARLIEST_YEAR}–{domain.LATEST_YEAR} 之间")
    return moment if moment.tzinfo else moment.replace(tzinfo=SHANGHAI)


def _event_arguments(args: Any) -> dict[str, Any]:
    start, end = _moment(args.get("start"), "start"), _moment(args.get("end"), "end")
    if end <= start:
        raise BadArgument("end 应晚于 start")
    if end - start > MAX_RANGE:
        raise BadArgument(f"查询范围最长 {MAX_RANGE.days} 天")
    kind_raw = (args.get("kind") or "").strip()
    kind = MeetingKind.find(kind_raw) if kind_raw else None
    if kind_raw and kind is None:
        raise BadArgument(f"未知会议类型 {kind_raw[:40]};可选:{MeetingKind.allowed_text()}")
    city = (args.get("city") or "").strip()
    if len(city) > domain.CITY_MAX:
        raise BadArgument(f"城市最长 {domain.CITY_MAX} 个字符")
    return {"start": start, "end": end, "kind": kind, "city": city or None}


def _floating(value: datetime) -> str:
    """Asia/Shanghai wall time without an offset: what FullCalendar shows as is in its ``Asia/Shanghai`` zone."""
    return to_local(value).replace(tzinfo=None).isoformat(timespec="minutes")


def event_json(meeting: Meeting) -> dict[str, Any]:
    cancelled = meeting.status is MeetingStatus.CANCELLED
    return {
        "id": str(meeting.id),
        "title": ("[已取消] " if cancelled else "") + meeting.title,
        "start": _floating(meeting.starts_at),
        "end": _floating(meeting.ends_at),
        "url": url_for("meetings.detail", meeting_id=meeting.id),
        "classNames": [f"meeting-kind-{meeting.kind.value}", f"meeting-status-{meeting.status.value}"],
        "extendedProps": {
            "kind": meeting.kind.value, "kindLabel": meeting.kind.label,
            "status": meeting.status.value, "statusLabel": meeting.status.label,
            "city": meeting.city, "venue": meeting.venue,
        },
    }


@bp.route("/calendar/events.json")
@login_required
@page
def events():
    """The meetings the user may read in [start, end), for FullCalendar; bad arguments → 400 with a message."""
    try:
        arguments = _event_arguments(request.args)
    except BadArgument as err:
        return jsonify({"error": "invalid_argument", "message": str(err)}), 400
    meetings = db.session.scalars(domain.meetings_statement(current_user, **arguments))
    response = jsonify([event_json(m) for m in meetings])
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- a leader's home -------------------------------------------------------------------------------------------

def _day_start(day) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def _home_statement(today, page_no: int, per_page: int) -> tuple[sa.Select, sa.Subquery]:
    """Today's meetings (those overlapping today) and one page of the next ones (starting tomorrow up to
    :data:`UPCOMING_DAYS` ahead: a meeting running into tomorrow is one of today's) with their count, in one
    statement: the meetings of [today, +90 days) the user may read, numbered by start within each side
    (``row_number()`` / ``count(*)`` over ``starts_at >= tomorrow``), all of today's kept and the page's numbers of
    the rest. Two statements with the partners (was five: today's, the count, the page, and partners twice).
    Returns the statement and its numbered subquery (for the count of a page past the end)."""
    start, tomorrow = _day_start(today), _day_start(today + timedelta(days=1))
    end = _day_start(today + timedelta(days=UPCOMING_DAYS + 1))
    later = sa.case((Meeting.starts_at >= tomorrow, 1), else_=0)
    numbered = scope(current_user, Meeting, sa.select(
        Meeting.id.label("id"), later.label("later"),
        sa.func.row_number().over(partition_by=later, order_by=(Meeting.starts_at, Meeting.id)).label("number"),
        sa.func.count().over(partition_by=later).label("total"),
    ).where(Meeting.ends_at > start, Meeting.starts_at < end), Action.VIEW).subquery()
    offset = (page_no - 1) * per_page
    # Prepared (crm.core.transactions.prepared): a window of dates read by ix_meetings_starts_at whatever the day
    # and page, one plan kept (planning was ≈ 0.7 of its ≈ 1.7 ms).
    return prepared(
        sa.select(Meeting, numbered.c.later, numbered.c.total).join(numbered, numbered.c.id == Meeting.id)
        .where(sa.or_(numbered.c.later == 0, numbered.c.number.between(offset + 1, offset + per_page)))
        .options(selectinload(Meeting.partner_links)).order_by(Meeting.starts_at, Meeting.id)), numbered


def _today_and_upcoming(stmt: sa.Select, numbered: sa.Subquery, page_no: int, per_page: int
                        ) -> tuple[list[Meeting], Page]:
    """The meetings of a :func:`_home_statement`: today's, and the page of the next ones with their count."""
    rows = db.session.execute(stmt).all()
    todays = [m for m, is_later, _ in rows if not is_later]
    items = [m for m, is_later, _ in rows if is_later]
    total = next((n for _, is_later, n in rows if is_later), None)
    if total is None:  # none on this page: nothing ahead at all, or a page past the end (counted then only)
        total = 0 if page_no == 1 else db.session.scalar(
            sa.select(sa.func.count()).select_from(numbered).where(numbered.c.later == 1)) or 0
    return todays, Page(items=items, total=total, page=page_no, per_page=per_page)


# What the home's meetings and rule read, as data versions (crm/core/cache.py): the meetings with their
# enterprises, partners and officials (``meetings``, e8b3f1c6a2d4) and a commissioner's scope (crm/meetings/access.py:
# their assignments, ``assignments``).
HOME_KINDS = ("meetings", "assignments")


@bp.route("/calendar/home")
@login_required
@page
def home():
    """Today's meetings, the next 90 days' a page at a time, and this year's rule at a glance (a leader's landing
    page).

    Issue 11: the page listed every meeting of the next 90 days (158 at provincial scale, 99 KB) and every meeting
    of the year in the rule card (438, 99 KB): 201 KB and ≈ 140 ms of ORM and Jinja. Now today's meetings in full,
    the next ones :data:`UPCOMING_PER_PAGE` a page (``?page=N``, plain links; those of this week marked), the rule
    card :data:`domain.RULE_SHOWN` a kind with the rest one click away (the list of that year and kind)."""
    today = local_today()
    try:
        page_no, per_page = parse_page_args(request.args, UPCOMING_PER_PAGE)
    except DomainError:  # a malformed page number: the first page (nothing here is worth a 400)
        page_no, per_page = 1, UPCOMING_PER_PAGE
    stmt, numbered = _home_statement(today, page_no, per_page)
    show_rule = current_user.role in RULE_READERS

    def draw() -> str:
        todays, upcoming = _today_and_upcoming(stmt, numbered, page_no, per_page)
        return render_template(
            "meetings/_home_body.html", todays=todays, upcoming=upcoming, days=UPCOMING_DAYS,
            week_end=_day_start(today + timedelta(days=7 - today.weekday())), page_args=(
                {"per_page": per_page} if per_page != UPCOMING_PER_PAGE else {}),
            year=today.year, rule=domain.yearly_rule(today.year) if show_rule else None)

    # Read and drawn once per change of the meetings (crm.core.cache.cached_markup): the key is the statement
    # (the user's scope, today, the page) and whether the rule is shown. The meetings as ORM objects and their
    # drawing were ≈ 15 of the view's 25 ms at provincial scale (benchmarks/README.md, "Eighth pass").
    body = cache.cached_markup("calendar.home", HOME_KINDS,
                               (request.script_root, today, show_rule, *cache.statement_key(stmt)), draw)
    return render_template("meetings/leader_home.html", today=today, body=body)
