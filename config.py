"""Configuration classes, read from the environment.

Secrets and database URLs come only from environment variables; the development default is an SQLite file
under ``instance/``. No configuration serves with a missing ``SECRET_KEY`` or one written in the code
(:func:`resolve_secret_key`), except explicit development (``CRM_ENV=development``), which makes a random key in
``instance/secret_key`` on first run (mode 0600) and reuses it.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
# Keys that were ever written in this code base (and its docs): public, so a cookie signed with one is forgeable.
# The testing key is only accepted under ``TESTING`` (TestingConfig), never from the environment.
WELL_KNOWN_SECRETS = frozenset({"dev-only-not-secret", "testing-secret", "change-me", "changeme", "secret",
                                "dev", "development"})
MIN_SECRET_LENGTH = 16
SECRET_KEY_REFUSAL = ("拒绝启动:必须通过环境变量 SECRET_KEY 设置至少16个字符、未写在代码中的随机密钥"
                      "(例如 python -c 'import secrets; print(secrets.token_hex(32))');"
                      "仅开发环境(CRM_ENV=development)可省略,届时自动生成 instance/secret_key")


def normalise_database_url(url: str) -> str:
    """Operators hand us plain ``postgresql://`` URLs; make the driver explicit (psycopg 3)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _codes(text: str) -> tuple[str, ...]:
    """``"a, b,c"`` → ``("a", "b", "c")`` (commas or spaces; empty parts dropped)."""
    return tuple(part for part in re.split(r"[,\s]+", text or "") if part)


def _off(text: str | None) -> bool:
    """An environment switch turned off: ``0``, ``false``, ``no`` or ``off`` (any case); unset is on."""
    return (text or "").strip().lower() in {"0", "false", "no", "off"}


def _on(text: str | None) -> bool:
    """An environment switch turned on: ``1``, ``true``, ``yes`` or ``on`` (any case); unset is off."""
    return (text or "").strip().lower() in {"1", "true", "yes", "on"}


def _month_pairs(text: str) -> dict[str, int]:
    """``"supply_demand:4,supply_chain:9"`` → ``{"supply_demand": 4, "supply_chain": 9}``."""
    pairs = {}
    for part in _codes(text):
        code, _, month = part.partition(":")
        pairs[code] = int(month)
    return pairs


class Config:
    # Set by create_app from the environment (or the development key file): see resolve_secret_key.
    SECRET_KEY: str | None = None
    # Where explicit development keeps its generated key (None: ``<instance>/secret_key``).
    SECRET_KEY_FILE: str | None = None
    # Security headers (crm/web.py): HSTS only where the site is served over HTTPS (production).
    SECURITY_HSTS = False
    HSTS_MAX_AGE = 31536000
    SQLALCHEMY_DATABASE_URI = normalise_database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'crm.sqlite3'}")
    )
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # PostgreSQL keeps the plans of the statements marked crm.core.transactions.prepared on each connection
    # (CRM_DATABASE_PREPARE=0 turns it off, e.g. behind a transaction-pooling PgBouncer older than 1.21).
    DATABASE_PREPARE = not _off(os.environ.get("CRM_DATABASE_PREPARE"))
    # The pool pings a PostgreSQL connection only when its socket shows the server ended it
    # (crm.core.transactions._ping_only_when_unsure); CRM_DATABASE_PING_QUIET=1 pings every one it hands out.
    DATABASE_PING_QUIET = _on(os.environ.get("CRM_DATABASE_PING_QUIET"))
    # Sessions and cookies (see PITFALLS: "strong" logs out field staff whose IP changes).
    SESSION_PROTECTION = "basic"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    # A session that is not remembered ends after this long unused (server-side too: crm/auth/domain.py).
    PERMANENT_SESSION_LIFETIME = timedelta(hours=12)
    # Every session (remembered or not) ends this many days after its sign-in, whatever the cookie says.
    SESSION_MAX_DAYS = int(os.environ.get("CRM_SESSION_MAX_DAYS", 14))
    REMEMBER_COOKIE_DURATION = timedelta(days=SESSION_MAX_DAYS)
    # A session's last_seen_at is written at most this often (not on every request).
    SESSION_TOUCH_SECONDS = 60
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = False
    # A long visit report must not fail after an hour.
    WTF_CSRF_TIME_LIMIT = 12 * 3600
    MAX_CONTENT_LENGTH = int(os.environ.get("CRM_MAX_UPLOAD_BYTES", 10 * 1024 * 1024))
    # Each attachment of a progress report (crm/tasks/attachments.py); a whole upload stays within MAX_CONTENT_LENGTH.
    TASK_ATTACHMENT_MAX_BYTES = int(os.environ.get("CRM_TASK_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
    TASK_ATTACHMENT_MAX_FILES = int(os.environ.get("CRM_TASK_ATTACHMENT_MAX_FILES", 10))
    # The first day progress reports are owed (ISO date, e.g. 2027-01-01): the reminder job neither reminds nor
    # escalates a period that began before it, so going live does not flood every unit with reminders (and the
    # city coordinators with escalations) for months nobody could have reported in the CRM. Empty: every period.
    TASK_REPORTS_SINCE = os.environ.get("CRM_TASK_REPORTS_SINCE", "")
    BABEL_DEFAULT_LOCALE = "zh_Hans_CN"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    # API tokens
    API_TOKEN_LIFETIME = timedelta(hours=int(os.environ.get("CRM_API_TOKEN_HOURS", 24 * 7)))
    # At most this many active tokens per user: issuing one more revokes the oldest (crm/auth/domain.py).
    API_TOKEN_CAP = int(os.environ.get("CRM_API_TOKEN_CAP", 10))
    # Failed sign-in throttling (crm/auth/throttle.py). This many consecutive failures lock an account (counted in
    # the database) or a trusted device / unknown username (in the limiter's storage) for this many minutes.
    LOGIN_MAX_FAILURES = int(os.environ.get("CRM_LOGIN_MAX_FAILURES", 5))
    LOGIN_LOCK_MINUTES = int(os.environ.get("CRM_LOGIN_LOCK_MINUTES", 15))
    # Flask-Limiter on failed sign-ins (page and API token), per client address and per submitted username.
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")  # redis://127.0.0.1:6379/0
    RATELIMIT_STRATEGY = "moving-window"
    RATELIMIT_HEADERS_ENABLED = False  # Retry-After only on a 429 (crm/auth/views.py)
    # Redis down: the limits fall back to per-process memory (logged) instead of a 500 on every sign-in.
    RATELIMIT_SWALLOW_ERRORS = True
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    LOGIN_RATE_PER_ADDRESS = os.environ.get("CRM_LOGIN_RATE_PER_ADDRESS", "30 per 15 minutes;100 per day")
    LOGIN_RATE_PER_USERNAME = os.environ.get("CRM_LOGIN_RATE_PER_USERNAME", "10 per hour;30 per day")
    # The OWASP device cookie: set at a successful sign-in, it exempts its user's attempts from the account lock.
    DEVICE_COOKIE_NAME = "crm_device"
    DEVICE_COOKIE_DAYS = int(os.environ.get("CRM_DEVICE_COOKIE_DAYS", 180))
    # argon2id cost (argon2-cffi defaults: time_cost=3, memory_cost=65536 KiB).
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST = 65536
    # The half-year list refresh must be published by this day (MM-DD) of its half year; coordinators are
    # reminded from this many working days before it.
    ROSTER_REFRESH_DEADLINE = {"H1": os.environ.get("CRM_REFRESH_DEADLINE_H1", "03-31"),
                               "H2": os.environ.get("CRM_REFRESH_DEADLINE_H2", "09-30")}
    ROSTER_REMINDER_WORKDAYS = int(os.environ.get("CRM_REFRESH_REMINDER_WORKDAYS", 5))
    ROSTER_IMPORT_MAX_ROWS = int(os.environ.get("CRM_IMPORT_MAX_ROWS", 20000))
    # Page imports run in a bounded pool of this many threads per process; one still queued after the grace
    # seconds (its web worker was recycled) is taken by the scheduler's sweep, and one without progress for the
    # stale minutes is marked failed (crm/rosters/import_jobs.py).
    ROSTER_IMPORT_WORKERS = int(os.environ.get("CRM_IMPORT_WORKERS", 2))
    ROSTER_IMPORT_QUEUE_GRACE_SECONDS = int(os.environ.get("CRM_IMPORT_QUEUE_GRACE_SECONDS", 60))
    ROSTER_IMPORT_STALE_MINUTES = int(os.environ.get("CRM_IMPORT_STALE_MINUTES", 10))
    # Service jobs: an overdue request reaches the county's coordinators this many working days after its due
    # date; an assigned enterprise with no interaction in this many days reminds its commissioners.
    REQUEST_ESCALATION_GRACE_WORKDAYS = int(os.environ.get("CRM_REQUEST_ESCALATION_GRACE_WORKDAYS", 3))
    VISIT_CADENCE_DAYS = int(os.environ.get("CRM_VISIT_CADENCE_DAYS", 60))
    # 诉求 due dates: working days per category (Chinese names, e.g. {"用地": 20}); others get the default.
    REQUEST_DUE_WORKDAYS: dict[str, int] = {}
    REQUEST_DUE_WORKDAYS_DEFAULT = int(os.environ.get("CRM_REQUEST_DUE_WORKDAYS", 10))
    # At most this many active assignments per commissioner (the suggestion and manual assignment respect it).
    ASSIGNMENT_CAP = int(os.environ.get("CRM_ASSIGNMENT_CAP", 40))
    # Meetings with the 成渝 area. The kinds that must happen each year (codes, comma-separated); the yearly job
    # proposes the missing ones on the first working day of the year, each in its month (kind:month pairs).
    # Officials and the enterprises' commissioners are reminded this many days before a meeting.
    MEETING_REQUIRED_KINDS = _codes(os.environ.get("CRM_MEETING_REQUIRED_KINDS",
                                                   "supply_demand,entrepreneur_forum,supply_chain"))
    MEETING_PLAN_MONTHS = _month_pairs(os.environ.get("CRM_MEETING_PLAN_MONTHS",
                                                      "supply_demand:4,entrepreneur_forum:6,supply_chain:9,other:11"))
    MEETING_REMINDER_DAYS = tuple(int(n) for n in _codes(os.environ.get("CRM_MEETING_REMINDER_DAYS", "7,1")))
    PER_PAGE_DEFAULT = 50
    PER_PAGE_MAX = 200
    # An unfiltered list of a table at least this large shows the planner's estimate ("约 N") instead of an exact
    # count(*) on PostgreSQL (crm.core.pagination.paginate); 0: always count exactly
    COUNT_ESTIMATE_ABOVE = int(os.environ.get("CRM_COUNT_ESTIMATE_ABOVE", "50000"))


class DevelopmentConfig(Config):
    DEBUG = False


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing-secret"
    # The test fixtures pass the real URL (a temporary SQLite file or TEST_DATABASE_URL).
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    # Tests enable CSRF where they test it; the rest post forms without tokens.
    WTF_CSRF_ENABLED = False
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 64  # KiB; argon2 needs at least 8 × parallelism
    # Sign-in limits high enough never to bite; the throttling tests (tests/auth/test_throttle.py) lower them.
    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATE_PER_ADDRESS = "100000 per minute"
    LOGIN_RATE_PER_USERNAME = "100000 per minute"
    SERVER_NAME = "localhost"
    # Every JSON answer under /api/ is checked against the OpenAPI document (crm/api/openapi.py).
    API_VALIDATE_RESPONSES = True


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    SECURITY_HSTS = True

    @classmethod
    def check(cls) -> None:
        """Refuse to start with a missing or well-known secret, or without a database URL."""
        check_secret(os.environ.get("SECRET_KEY"))
        if "DATABASE_URL" not in os.environ:
            raise RuntimeError("生产环境必须通过环境变量 DATABASE_URL 指定数据库")


def check_secret(secret: str | None) -> str:
    """``secret`` when it is long enough and not written in the code; a clear RuntimeError otherwise."""
    secret = (secret or "").strip()
    if len(secret) < MIN_SECRET_LENGTH or secret.lower() in WELL_KNOWN_SECRETS:
        raise RuntimeError(SECRET_KEY_REFUSAL)
    return secret


def _development_key(path: Path) -> str:
    """The key in ``path``, made (random, mode 0600) on first use; two processes starting at once agree."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return check_secret(path.read_text())


def resolve_secret_key(config: dict, *, explicit_development: bool, instance_path: str,
                       from_environment: bool = False) -> str:
    """The app's signing key; refuses a missing or well-known one.

    Testing keeps its own (code-written) key, used only under ``TESTING`` and only when the test code chose the
    testing configuration (``create_app("testing")``), never through ``CRM_ENV=testing``. Otherwise the key comes from
    ``SECRET_KEY`` in the environment (or an explicit config override); without one, only explicit development
    (``CRM_ENV=development`` or ``create_app("development")``) gets a generated key under ``instance/``.
    """
    if config.get("TESTING") and not from_environment and config.get("SECRET_KEY"):
        return config["SECRET_KEY"]
    code_key = config.get("TESTING") and from_environment  # the testing key is in the code: never from CRM_ENV
    secret = (None if code_key else config.get("SECRET_KEY")) or os.environ.get("SECRET_KEY")
    if secret:
        return check_secret(secret)
    if explicit_development:
        return _development_key(Path(config.get("SECRET_KEY_FILE") or Path(instance_path) / "secret_key"))
    raise RuntimeError(SECRET_KEY_REFUSAL)


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
