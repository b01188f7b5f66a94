"""Request ids and one structured log line per request.

Every request gets an id: the ``X-Request-ID`` the reverse proxy sent when it is a short ``[A-Za-z0-9-]`` word
(so the proxy's, the app's and the user's view of one request share it), otherwise a fresh random one. It is
echoed in the response's ``X-Request-ID`` header and shown on the Chinese error pages (``请求编号``), so a user
can quote it and an operator can find the request's log line.

The log line (logger ``crm.request``, level INFO) is one JSON object:
``{"event": "request", "request_id", "method", "path", "status", "duration_ms", "user_id", "remote_addr"}``.
``path`` is the path only: no query string (it may carry a token or a search for a person), no cookies, no
headers. ``user_id`` is the signed-in user (page or API token) when the request already loaded one; the log
never loads a user itself. ``remote_addr`` is the client's address: behind reverse proxies set
``CRM_PROXY_HOPS`` (config ``PROXY_HOPS``) to their number, and Werkzeug's ``ProxyFix`` takes the client address
and scheme from that many ``X-Forwarded-For`` / ``X-Forwarded-Proto`` hops (the sign-in throttle per address and
the log then see the client, not the proxy). Without it (the default, 0) those headers are ignored: a client
cannot set its own address.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import secrets
import sys
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger("crm.request")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9-]{1,64}")


def new_request_id() -> str:
    return secrets.token_hex(8)


def valid_request_id(value: str | None) -> bool:
    return bool(value) and REQUEST_ID_PATTERN.fullmatch(value) is not None  # type: ignore[arg-type]


def request_id() -> str:
    """This request's id (made on first use, so an error raised before any hook ran still has one); "" outside
    a request."""
    if not has_request_context():
        return ""
    rid = g.get("request_id")
    if rid is None:
        sent = request.headers.get(REQUEST_ID_HEADER, "").strip()
        rid = sent if valid_request_id(sent) else new_request_id()
        g.request_id = rid
    return rid


def _user_id() -> int | None:
    """The user this request already loaded (an API token's, or the session's); never a new query."""
    api_user = g.get("api_user")
    if api_user is not None:
        return getattr(api_user, "id", None)
    user = g.get("_login_user")  # Flask-Login's cache: present only when the request looked at current_user
    if user is not None and getattr(user, "is_authenticated", False):
        return getattr(user, "id", None)
    return None


def _line(status: int) -> dict[str, Any]:
    started = g.get("request_started")
    return {
        "event": "request",
        "request_id": request_id(),
        "method": request.method,
        "path": request.path,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started is not None else None,
        "user_id": _user_id(),
        "remote_addr": request.remote_addr,
    }


def _emit(line: dict[str, Any]) -> None:
    log.info(json.dumps(line, ensure_ascii=False, separators=(",", ":")))


PROXY_HOPS_REFUSAL = "CRM_PROXY_HOPS 必须是 0 到 5 之间的整数(本应用前面反向代理的层数)"


def proxy_hops(app: Flask) -> int:
    value = app.config.get("PROXY_HOPS", os.environ.get("CRM_PROXY_HOPS", "0"))
    try:
        hops = int(str(value).strip() or "0")
    except ValueError:
        raise RuntimeError(PROXY_HOPS_REFUSAL) from None
    if not 0 <= hops <= 5:
        raise RuntimeError(PROXY_HOPS_REFUSAL)
    return hops


def init_request_log(app: Flask) -> None:
    """Register the hooks (first, so no other ``before_request`` can end a request before it has an id); trust
    ``PROXY_HOPS`` reverse proxies for the client's address and scheme."""
    hops = proxy_hops(app)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not app.testing and not log.handlers and not logging.getLogger().handlers:
        # gunicorn and ``flask run`` configure no handler for the app's loggers: the line goes to stderr.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.propagate = False

    @app.before_request
    def _start() -> None:
        g.request_started = time.perf_counter()
        g.request_logged = False
        request_id()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = request_id()
        if not g.get("request_logged"):
            g.request_logged = True
            _emit(_line(response.status_code))
        return response

    @app.teardown_request
    def _log_unfinished(exc: BaseException | None) -> None:
        # An exception that escaped every handler (after_request never ran): still one line, status 500.
        if not g.get("request_logged") and g.get("request_started") is not None:
            g.request_logged = True
            _emit(_line(500))
        for key in ("request_id", "request_started", "request_logged"):
            g.pop(key, None)

    @app.context_processor
    def _request_id() -> dict[str, Any]:
        return {"request_id": request_id}


def settle() -> None:
    """Once the app is built in a serving process (wsgi.py): move every object alive now — the modules,
    SQLAlchemy's mappers and compiled statements, the compiled templates, ≈ 400,000 at provincial scale — out of
    the garbage collector's reach (``gc.freeze``). They live as long as the process, yet each full collection
    walked them all: 150–700 ms measured on the benchmark's 2 cores, a stall of whichever request triggered it
    (issue 11, sixth pass). Collections of what requests allocate are unchanged."""
    gc.collect()  # what start-up left as garbage is freed, not frozen
    gc.freeze()
