"""One request path for every HTML page: load → check → call the domain → commit once → render or redirect.

A page view is a Flask view function decorated with :func:`page` (under ``login_required``). It

1. loads its records and checks access before anything else (:func:`load`, or the feature's own loader that ends
   in ``require``: 404 when the user may not see the record, 403 when they may see but not change it);
2. builds its form and, on a write, hands the domain call to :func:`attempt`, which validates the form, calls
   the function, commits once, and turns every refusal into a message on the page with nothing saved:

   - the form did not validate: an expired page (no valid CSRF token) → :data:`FORM_EXPIRED`, 400; otherwise the
     fields carry their messages, :data:`FIX_FIELDS` above the form, 422;
   - a :class:`DomainError` → rolled back; each ``fields`` message next to its field, the error's message, hidden
     fields' and unknown keys' messages above the form (or flashed, for buttons), the error's status;
   - a conflict at the write (``IntegrityError``, ``StaleDataError``) → rolled back, the Chinese conflict message
     above the form (or flashed), 409;
3. on success flashes and redirects; otherwise renders the page with ``outcome.status``.

``@page`` holds the path together: a view that leaves flushed or pending writes uncommitted when it returns (a
write that did not go through :func:`attempt`) is rolled back and reported, so nothing is saved by accident and
nothing is lost silently. Core code: this module imports no feature package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from flask import abort, current_app, flash
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from crm.core.access import Action, require
from crm.core.errors import Conflict, DomainError
from crm.core.messages import FIX_FIELDS, FORM_EXPIRED, RACE_MESSAGE, STALE_MESSAGE
from crm.core.parsing import MAX_ID
from crm.extensions import db

__all__ = ["FIX_FIELDS", "FORM_EXPIRED", "RACE_MESSAGE", "STALE_MESSAGE", "Outcome", "attempt", "csrf_failed",
           "error_text", "flash_error", "load", "page", "place_errors"]

log = logging.getLogger(__name__)

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Show = Literal["form", "flash", "form_or_flash", "caller"]
Notice = Literal["form", "page", "flash"]

# Fields a user cannot see or correct: their messages go above the form.
NOT_ON_FORM = ("HiddenField", "CSRFTokenField", "SubmitField")
CONFLICTS = (IntegrityError, StaleDataError)
_UNCOMMITTED = "crm.pages.uncommitted"


@dataclass
class Outcome:
    """What :func:`attempt` did: ``ok`` (truthy) with the domain function's ``value``, or refused with the
    ``status`` to answer, the ``error``, a page-level ``notice`` (expired page, conflict) and whether the
    refusal was ``flashed`` (the view then redirects instead of showing the form). ``invalid``: the form's own
    fields did not validate (nothing was called)."""

    ok: bool
    status: int = 200
    value: Any = None
    error: DomainError | None = None
    notice: str | None = None
    flashed: bool = False
    invalid: bool = False

    def __bool__(self) -> bool:
        return self.ok


# --- load and check ------------------------------------------------------------------------------------------

def load(model: type[T], record_id: int | None, action: Action | None = Action.VIEW) -> T:
    """The record, if it exists and the signed-in user may do ``action`` to it: 404 otherwise (403 when they may
    see it but not do this). Ids beyond the 32-bit range cannot exist (and PostgreSQL would refuse them)."""
    record = db.session.get(model, record_id) if record_id is not None and 0 < record_id <= MAX_ID else None
    if record is None:
        abort(404)
    if action is not None:
        require(current_user, action, record)
    return record


# --- messages on the page -------------------------------------------------------------------------------------

def csrf_failed(form: Any) -> bool:
    """After ``validate_on_submit``: was the form refused for its CSRF token (an expired page)?"""
    return "csrf_token" in form.errors


def place_errors(form: Any, err: DomainError, aliases: Mapping[str, str] | None = None) -> bool:
    """Put ``err`` on ``form``: each ``fields`` message next to its field (``aliases`` maps the domain's key to
    the form's field name); the error's message, and the messages of hidden fields and unknown keys, above the
    form. True when every field message found a visible field."""
    aliases = aliases or {}
    above = [err.message]
    placed = True
    for name, message in err.fields.items():
        field = form._fields.get(aliases.get(name, name))
        if field is not None and field.type not in NOT_ON_FORM:
            if message not in field.errors:
                field.errors = [*field.errors, message]
        else:
            placed = False
            above.append(message)
    for message in reversed(list(dict.fromkeys(m for m in above if m not in form.form_errors))):
        form.form_errors.insert(0, message)
    return placed


def _placeable(form: Any, err: DomainError, aliases: Mapping[str, str] | None) -> bool:
    aliases = aliases or {}
    if not err.fields:
        return False
    for name in err.fields:
        field = form._fields.get(aliases.get(name, name))
        if field is None or field.type in NOT_ON_FORM:
            return False
    return True


def error_text(err: DomainError) -> str:
    """One line for a flash: the message, then the field messages it does not already say."""
    details = ";".join(dict.fromkeys(m for m in err.fields.values() if m not in err.message))
    return f"{err.message}:{details}" if details else err.message


def flash_error(err: DomainError) -> None:
    flash(error_text(err), "danger")


def _notify(form: Any, message: str, notice: Notice) -> bool:
    """A page-level message: above the form, left to the page (``outcome.notice``), or flashed."""
    if notice == "flash":
        flash(message, "danger")
        return True
    if notice == "form" and form is not None and message not in form.form_errors:
        form.form_errors.insert(0, message)
    return False


def _form_refused(form: Any, show: Show, notice: Notice, invalid: str | None) -> Outcome:
    if csrf_failed(form):
        flashed = _notify(form, FORM_EXPIRED, "flash" if show == "flash" else notice)
        return Outcome(False, 400, notice=FORM_EXPIRED, flashed=flashed)
    if show == "flash":
        messages = [m for name, errors in form.errors.items() if name is not None for m in errors]
        text = ";".join(dict.fromkeys(m for m in messages if m != invalid))
        flash(f"{invalid}:{text}" if invalid and text else (invalid or text or FIX_FIELDS), "danger")
        return Outcome(False, 422, flashed=True, invalid=True)
    if invalid and invalid not in form.form_errors:
        form.form_errors.insert(0, invalid)
    return Outcome(False, 422, invalid=True)


# --- the write ------------------------------------------------------------------------------------------------

def attempt(action: Callable[[], Any], form: Any = None, *, validate: bool = True, show: Show = "form",
            notice: Notice = "form", aliases: Mapping[str, str] | None = None, conflict: str = RACE_MESSAGE,
            invalid: str | None = FIX_FIELDS, success: str | Callable[[Any], str] | None = None) -> Outcome:
    """Validate ``form`` (unless ``validate=False``: the caller did), call ``action`` and commit once.

    ``show`` says where a :class:`DomainError` goes: ``"form"`` (next to the fields, see :func:`place_errors`),
    ``"flash"`` (one flashed line; buttons whose page redirects), or ``"form_or_flash"`` (on the form when every
    field message has its field there, else flashed) or ``"caller"`` (nothing shown: the view shows
    ``outcome.error`` its own way, e.g. an import's report). ``notice`` says where the expired-page and conflict
    messages go: above the form, to the page (``outcome.notice``, for pages that show one message above several
    forms), or flashed. ``invalid`` is said above a form whose fields did not validate (``None``: nothing);
    with ``show="flash"`` it titles the flashed field messages. ``success`` is flashed after the commit.
    """
    if validate and form is not None and not form.validate_on_submit():
        if not form.is_submitted():  # a GET: nothing to do, show the page
            return Outcome(False, 200)
        return _form_refused(form, show, notice, invalid)
    try:
        value = action()
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flashed = False
        if show == "caller":
            pass
        elif show == "flash" or form is None or (show == "form_or_flash" and not _placeable(form, err, aliases)):
            flash_error(err)
            flashed = True
        else:
            place_errors(form, err, aliases)
        return Outcome(False, err.status, error=err, flashed=flashed)
    except CONFLICTS:  # someone else changed or took the same rows between our checks and the write
        db.session.rollback()
        err = Conflict(conflict, code="stale")
        # A conflict has no field: flashed where refusals may be flashed, else where ``notice`` says.
        flashed = _notify(form, conflict, "flash" if show in ("flash", "form_or_flash") or form is None else notice)
        return Outcome(False, 409, error=err, notice=conflict, flashed=flashed)
    if success is not None:
        flash(success(value) if callable(success) else success, "success")
    return Outcome(True, 200, value=value)


# --- the decorator --------------------------------------------------------------------------------------------

def page(view: F) -> F:
    """Mark ``view`` as a page on the one request path (see the module docstring).

    Writes are committed by :func:`attempt` only: whatever the view leaves flushed or pending and uncommitted when
    it returns is rolled back, and reported (an error under test and in debug, a logged error otherwise).
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = db.session()
        session.info[_UNCOMMITTED] = False  # what was flushed before the view is not the view's doing
        pending = set(session.new) | set(session.deleted)
        response = view(*args, **kwargs)
        if session.info.get(_UNCOMMITTED) or (set(session.new) | set(session.deleted)) - pending:
            session.rollback()
            message = f"page {view.__qualname__} wrote outside attempt(): rolled back, nothing saved"
            if current_app.testing or current_app.debug:
                raise RuntimeError(message)
            log.error(message)
        return response

    wrapper.is_page = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


@sa.event.listens_for(Session, "after_flush")
def _remember_write(session: Session, _context: Any) -> None:
    session.info[_UNCOMMITTED] = True


@sa.event.listens_for(Session, "after_transaction_end")
def _forget_write(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_UNCOMMITTED, None)
