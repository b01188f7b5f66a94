"""Sign-in throttling that cannot be turned against users (PITFALLS: sign-in; README: sign-in throttling).

Four mechanisms, for the sign-in page and ``POST /api/v1/auth/token`` alike:

1. Flask-Limiter, per client address: failed attempts (``LOGIN_RATE_PER_ADDRESS``).
2. Flask-Limiter, per submitted username, known or not (the same key either way): failed attempts
   (``LOGIN_RATE_PER_USERNAME``); not for an attempt from a trusted device (4).
3. The account lock: ``LOGIN_MAX_FAILURES`` consecutive failures, counted atomically in SQL, lock the account for
   ``LOGIN_LOCK_MINUTES`` (audited; an admin may unlock). An unknown username goes through the same counting here,
   in the sign-in store (:func:`locked_for` / :func:`count_failure`), so its answers are a known one's, in the
   same order, lock included.
4. Device cookies (OWASP): a successful sign-in on the page sets a long-lived, signed, HttpOnly cookie naming the
   user. An attempt for that username carrying it is not subject to 2 and 3: it is counted against that device
   only (the same number of failures locks that device, for the same time). A stranger can lock ``admin`` out
   of every other browser, never out of the admin's own.

Breaches answer 429 with a Chinese message and ``Retry-After`` (the page or API.md's JSON error).

The store of 3 and 4 is the app's own (``app.extensions["crm_sign_in_store"]``) on ``RATELIMIT_STORAGE_URI``, the
limiter's storage: memory by default (per process), Redis when set, so several hosts share it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, request
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits.storage import Storage, storage_from_string

from crm.auth.models import User
from crm.core.errors import RateLimited
from crm.extensions import db, limiter

DEVICE_SALT = "crm-device-cookie"
log = logging.getLogger(__name__)
STORE = "crm_sign_in_store"
# How long an unknown username's (or a device's) failure count is kept without a new failure.
FAILURE_MEMORY_SECONDS = 30 * 24 * 3600


def init_app(app: Flask) -> None:
    """Bind Flask-Limiter and the sign-in store to ``app`` (called once per app, from the auth blueprint)."""
    limiter.init_app(app)
    app.extensions[STORE] = storage_from_string(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")


def normalise(username: Any) -> str:
    return username.strip().lower()[:64] if isinstance(username, str) else ""


def submitted_username() -> str:
    """The username of this sign-in attempt (form or JSON body), normalised; ``""`` when there is none."""
    if request.is_json:
        data = request.get_json(silent=True)
        return normalise(data.get("username")) if isinstance(data, dict) else ""
    return normalise(request.form.get("username"))


# --- messages ------------------------------------------------------------------------------------------------

def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))


class SignInThrottled(RateLimited):
    """429: this attempt is refused before the password is looked at; ``retry_after`` in seconds."""

    def __init__(self, retry_after: int, message: str | None = None):
        self.retry_after = max(1, int(retry_after))
        super().__init__(message or f"登录失败次数过多,请{minutes(self.retry_after)}分钟后再试")


def too_frequent(retry_after: int) -> SignInThrottled:
    return SignInThrottled(retry_after, f"登录尝试过于频繁,请{minutes(retry_after)}分钟后再试")


def limit_breached() -> SignInThrottled:
    """The 429 of a Flask-Limiter breach, with the seconds until its window lets one more attempt through."""
    current = limiter.current_limit
    retry = current.window[0] - time.time() if current is not None else 60
    return too_frequent(math.ceil(retry))


# --- device cookies ------------------------------------------------------------------------------------------

def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=DEVICE_SALT)


def _device_payload() -> dict[str, str] | None:
    raw = request.cookies.get(current_app.config["DEVICE_COOKIE_NAME"])
    if not raw:
        return None
    try:
        data = _serializer().loads(raw, max_age=current_app.config["DEVICE_COOKIE_DAYS"] * 86400)
    except BadSignature:  # also an expired one (SignatureExpired is a BadSignature)
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(key), str) for key in ("u", "d", "k")):
        return None
    return data


def _binding(user: User) -> str:
    """What a device cookie is bound to: it changes with the password (change or reset) and with "sign out
    everywhere" (``session_version``), so a cookie obtained with a stolen password stops counting then."""
    return hashlib.sha256(f"{user.session_version}:{user.password_hash}".encode()).hexdigest()[:24]


def trusted_device(username: str | None = None) -> str | None:
    """The device id of this request's valid device cookie when it names ``username`` (default: the submitted
    one) and is still bound to that user's password and sessions; ``None`` otherwise, and always on the API
    (tokens are for scripts: the account's rules apply)."""
    if request.blueprint == "api":
        return None
    name = normalise(username) if username is not None else submitted_username()
    data = _device_payload()
    if not name or data is None or data["u"] != name:
        return None
    user = db.session.scalar(sa.select(User).where(sa.func.lower(User.username) == name))
    if user is None or not hmac.compare_digest(data["k"], _binding(user)):
        return None
    return data["d"]


def device_cookie_value(user: User, device: str | None = None) -> str:
    return _serializer().dumps({"u": normalise(user.username), "d": device or secrets.token_urlsafe(16),
                                "k": _binding(user)})


def set_device_cookie(response: Any, user: User, device: str | None = None) -> None:
    """Name ``user`` on this browser for ``DEVICE_COOKIE_DAYS`` (renewed at each sign-in, same device id)."""
    cfg = current_app.config
    response.set_cookie(cfg["DEVICE_COOKIE_NAME"], device_cookie_value(user, device),
                        max_age=cfg["DEVICE_COOKIE_DAYS"] * 86400, httponly=True,
                        secure=cfg["SESSION_COOKIE_SECURE"], samesite="Lax", path="/")


# --- failure counts outside the users table (unknown usernames, trusted devices) --------------------------------

def _store() -> Storage:
    return current_app.extensions[STORE]


def _keys(kind: str, key: str) -> tuple[str, str]:
    return f"crm/sign-in/{kind}/failures/{key}", f"crm/sign-in/{kind}/lock/{key}"


def _store_failed(what: str) -> None:
    """The store (Redis) is unreachable: sign-in goes on without this count — the account lock in SQL still holds
    for known users — rather than refusing everyone with a 500 (``RATELIMIT_SWALLOW_ERRORS`` does the same for
    Flask-Limiter's limits, which fall back to memory)."""
    log.error("登录限流存储不可用(%s),本次不计数", what, exc_info=True)


def locked_for(kind: str, key: str) -> int:
    """Seconds left of the lock of ``key`` (``kind``: ``"unknown"`` username or ``"device"``), 0 when none."""
    _, lock = _keys(kind, key)
    store = _store()
    try:
        if store.get(lock) <= 0:
            return 0
        return max(1, math.ceil(store.get_expiry(lock) - time.time()))
    except Exception:  # noqa: BLE001 — any storage backend's connection error
        _store_failed("locked_for")
        return 0


def count_failure(kind: str, key: str) -> bool:
    """One more failure of ``key``; at ``LOGIN_MAX_FAILURES`` it is locked for ``LOGIN_LOCK_MINUTES`` and its
    count starts again (the account lock's rule, crm/auth/domain.py). True when this failure locked it."""
    failures, lock = _keys(kind, key)
    store = _store()
    try:
        if store.incr(failures, FAILURE_MEMORY_SECONDS) < current_app.config["LOGIN_MAX_FAILURES"]:
            return False
        store.incr(lock, current_app.config["LOGIN_LOCK_MINUTES"] * 60)
        store.clear(failures)
    except Exception:  # noqa: BLE001
        _store_failed("count_failure")
        return False
    return True


def forget(kind: str, key: str) -> None:
    try:
        for item in _keys(kind, key):
            _store().clear(item)
    except Exception:  # noqa: BLE001
        _store_failed("forget")


# --- the Flask-Limiter limits ----------------------------------------------------------------------------------

def _failed(response: Any) -> bool:
    """Only failed attempts count: a wrong password (the page's 200, the API's 401) or a refused form (422)."""
    return response.status_code in (200, 401, 422)


def _username_key() -> str:
    return submitted_username() or "-"


def _config(key: str) -> Callable[[], str]:
    return lambda: current_app.config[key]


_per_address = limiter.shared_limit(_config("LOGIN_RATE_PER_ADDRESS"), scope="sign-in-address",
                                    key_func=get_remote_address, methods=["POST"], deduct_when=_failed)
_per_username = limiter.shared_limit(_config("LOGIN_RATE_PER_USERNAME"), scope="sign-in-username",
                                     key_func=_username_key, methods=["POST"], deduct_when=_failed,
                                     exempt_when=lambda: trusted_device() is not None)


def sign_in_limits(view: Callable[..., Any]) -> Callable[..., Any]:
    """The per-address and per-username limits of a sign-in endpoint (POST only), shared by the page and the API;
    their breach is a ``RateLimitExceeded`` answered by ``crm.auth.views`` (429, Chinese, ``Retry-After``)."""
    return _per_address(_per_username(view))
