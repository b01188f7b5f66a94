"""Users, passwords, sign-in throttling and API tokens: the rules every entry point shares."""

from __future__ import annotations

import contextlib
import hashlib
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from crm.auth import throttle
from crm.auth.models import ApiToken, Role, Specialty, User, UserSession, UserSpecialty
from crm.auth.signals import user_deactivated, user_updated
from crm.core import audit
from crm.core.audit import AuditAction, AuditEntity
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.core.parsing import parse_enum, parse_id
from crm.core.time import format_local, utcnow
from crm.core.transactions import before_the_transaction, prepared
from crm.extensions import db
from crm.reference.models import County, Department, by_name

LOGIN_FAILED_MESSAGE = "用户名或密码不正确"
MIN_PASSWORD_LENGTH = 12


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(time_cost=cfg["ARGON2_TIME_COST"], memory_cost=cfg["ARGON2_MEMORY_COST"],
                          parallelism=cfg.get("ARGON2_PARALLELISM", 4))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords (zxcvbn's list, shipped with the app as a pinned dependency)."""
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def _common_core(password: str) -> str:
    """The password without the digits and symbols people add around a common word ("Password2026!")."""
    return password.lower().strip("0123456789!@#$%^&*()-_=+.,;:?~` ")


def check_password_strength(password: str, username: str | None = None) -> str | None:
    """A Chinese message when the password is too weak, else ``None``: at least 12 characters, letters with digits
    or symbols, not a common password (nor one with digits and symbols added around it), not containing the
    username. The same rule for ``user create``, the admin pages and the API."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少需要{MIN_PASSWORD_LENGTH}个字符"
    if password.isdigit() or password.isalpha():
        return "密码需同时包含字母和数字(或符号)"
    common = _common_passwords()
    if password.lower() in common or _common_core(password) in common:
        return "该密码过于常见,容易被猜中,请换一个"
    name = (username or "").strip().lower()
    if len(name) >= 3 and name in password.lower():
        return "密码不能包含用户名"
    return None


def get_user(username: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.username == username.strip()))


# A department liaison officer (部门联络员) is scoped to one department: without one they would see nothing.
LIAISON_NEEDS_DEPARTMENT = "部门联络员须指定所属责任单位"


def _resolve_refs(county: str | None, department: str | None) -> tuple[County | None, Department | None]:
    fields: dict[str, str] = {}
    county_obj = by_name(County, county) if county else None
    if county and county_obj is None:
        fields["county"] = f"未知区县:{county}"
    dept_obj = by_name(Department, department) if department else None
    if department and dept_obj is None:
        fields["department"] = f"未知责任单位:{department}"
    if fields:
        raise ValidationFailed("用户信息有误", fields)
    return county_obj, dept_obj


def create_user(
    actor: User | None,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str | None = None,
    county: str | None = None,
    department: str | None = None,
    specialties: list[Specialty | str] | None = None,
    phone: str = "",
) -> User:
    username = (username or "").strip()
    fields: dict[str, str] = {}
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        fields["username"] = "用户名只能包含字母、数字、点、下划线和连字符,最长64个字符"
    elif get_user(username):
        raise Conflict("用户名已存在", {"username": "该用户名已被使用"}, code="duplicate")
    role = parse_enum(Role, role, field="role", what="角色", fields=fields, required=True)
    weak = check_password_strength(password or "", username)
    if weak:
        fields["password"] = weak
    specs: list[Specialty] = []
    for s in specialties or []:
        spec = parse_enum(Specialty, s, field="specialty", what="专长", fields=fields)
        if spec is not None:
            specs.append(spec)
    if role is Role.LIAISON and not department:
        fields["department"] = LIAISON_NEEDS_DEPARTMENT
    if fields:
        raise ValidationFailed("用户信息有误", fields)
    county_obj, dept_obj = _resolve_refs(county, department)
    user = User(
        username=username,
        display_name=(display_name or username).strip(),
        password_hash=hash_password(password),
        role=role,
        county=county_obj,
        department=dept_obj,
        phone=phone.strip(),
    )
    user.specialty_rows = [UserSpecialty(specialty=s) for s in dict.fromkeys(specs)]
    db.session.add(user)
    db.session.flush()
    audit.record(
        actor, "user", user.id, "create",
        {"username": [None, username], "role": [None, role.value],
         "county": [None, county_obj.name if county_obj else None],
         "department": [None, dept_obj.name if dept_obj else None],
         "specialties": [None, [s.value for s in specs]]},
        summary=f"新建用户 {username}",
    )
    return user


def update_user(
    actor: User,
    user: User,
    *,
    display_name: str,
    role: Role | str,
    county: str | None,
    department: str | None,
    specialties: list[Specialty | str],
    phone: str = "",
) -> User:
    county_obj, dept_obj = _resolve_refs(county, department)
    role = Role(role)
    if role is Role.LIAISON and dept_obj is None:
        raise ValidationFailed("用户信息有误", {"department": LIAISON_NEEDS_DEPARTMENT})
    specs = [Specialty(s) for s in dict.fromkeys(specialties)]
    changes = audit.diff(user, {"display_name": display_name.strip(), "role": role, "phone": phone.strip()})
    old_county = user.county.name if user.county else None
    new_county = county_obj.name if county_obj else None
    if old_county != new_county:
        changes["county"] = [old_county, new_county]
    old_dept = user.department.name if user.department else None
    new_dept = dept_obj.name if dept_obj else None
    if old_dept != new_dept:
        changes["department"] = [old_dept, new_dept]
    old_specs = [s.value for s in user.specialties]
    if old_specs != [s.value for s in specs]:
        changes["specialties"] = [old_specs, [s.value for s in specs]]
    user.display_name = display_name.strip()
    user.role = role
    user.phone = phone.strip()
    user.county = county_obj
    user.department = dept_obj
    user.specialty_rows = [UserSpecialty(specialty=s) for s in specs]
    if changes:
        audit.record(actor, "user", user.id, "update", changes, summary=f"修改用户 {user.username}")
        db.session.flush()
        user_updated.send(user, actor=actor, changes=changes)  # e.g. the service ends what they no longer qualify for
    return user


def set_password(actor: User | None, user: User, password: str) -> None:
    weak = check_password_strength(password or "", user.username)
    if weak:
        raise ValidationFailed("密码不符合要求", {"password": weak})
    if is_locked(user):
        unlock(actor, user)
    user.password_hash = hash_password(password)
    user.session_version += 1  # every session ends (the version is in each session's id: an extra kill switch)
    end_sessions(user)
    _revoke_tokens(user)  # and so do API tokens: a stolen one must not outlive the reset
    user.failed_logins = 0
    user.locked_until = None
    audit.record(actor, "user", user.id, "password_reset", {}, summary=f"重置用户 {user.username} 的密码")


def set_active(actor: User, user: User, active: bool) -> None:
    if user.active == active:
        return
    if actor.id == user.id and not active:
        raise ValidationFailed("不能停用自己的账号", {"active": "不能停用自己的账号"})
    user.active = active
    if not active:
        user.session_version += 1
        end_sessions(user)
        _revoke_tokens(user)
        user_deactivated.send(user, actor=actor)  # e.g. the service ends their assignments
    audit.record(actor, "user", user.id, "activate" if active else "deactivate",
                 {"active": [not active, active]}, summary=("启用" if active else "停用") + f"用户 {user.username}")


def _revoke_tokens(user: User) -> None:
    for token in db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id,
                                                              ApiToken.revoked_at.is_(None))):
        token.revoked_at = utcnow()


def authenticate(username: str, password: str, *, device: str | None = None) -> User:
    """The user whose password this is, throttled (crm/auth/throttle.py); the failure message never says which
    half was wrong, and an unknown username is answered as a known one, in the same order, lock included.

    ``device``: the id of a valid device cookie naming this username. Its attempts ignore the account lock and are
    counted against that device only. Otherwise a failure of a known user is counted in SQL (atomically; the
    lock and its audit record committed before the refusal), and an unknown username's in the sign-in store.
    """
    name = (username or "").strip()
    user = get_user(name) if name else None
    now = utcnow()
    key = throttle.normalise(name)
    if device is not None:
        wait = throttle.locked_for("device", device)
    elif user is not None:
        wait = math.ceil((user.locked_until - now).total_seconds()) if user.locked_until and user.locked_until > now \
            else 0
    else:
        wait = throttle.locked_for("unknown", key)
    if wait > 0:
        raise throttle.SignInThrottled(wait)
    if user is None or not _verify(user.password_hash, password or ""):
        if user is None:
            _hasher_dummy_verify(password)  # the same time as a known user's verification
        if device is not None:
            throttle.count_failure("device", device)
        elif user is not None:
            count_failure(user)
            db.session.commit()
        else:
            throttle.count_failure("unknown", key)
        raise ValidationFailed(LOGIN_FAILED_MESSAGE)
    if not user.active:
        raise ValidationFailed(LOGIN_FAILED_MESSAGE)
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    if device is not None:
        throttle.forget("device", device)
    if not (user.locked_until and user.locked_until > now):  # a lock (bypassed by the owner's device) stays
        user.failed_logins = 0
        user.locked_until = None
    user.last_login_at = now
    return user


def count_failure(user: User) -> int:
    """One more failed sign-in of ``user``, counted in SQL (``failed_logins + 1 … RETURNING``: concurrent failures
    on any worker or host all count); at ``LOGIN_MAX_FAILURES`` the account is locked for ``LOGIN_LOCK_MINUTES``
    and its count starts again, audited. The new count (0 after a lock)."""
    cfg = current_app.config
    count = db.session.execute(
        sa.update(User).where(User.id == user.id).values(failed_logins=User.failed_logins + 1)
        .returning(User.failed_logins).execution_options(synchronize_session=False)).scalar_one()
    if count < cfg["LOGIN_MAX_FAILURES"]:
        return count
    until = utcnow() + timedelta(minutes=cfg["LOGIN_LOCK_MINUTES"])
    db.session.execute(sa.update(User).where(User.id == user.id).values(failed_logins=0, locked_until=until)
                       .execution_options(synchronize_session=False))
    audit.record(None, AuditEntity.USER, user.id, AuditAction.LOCK,
                 {"locked_until": [None, until], "failed_logins": [count, 0]},
                 summary=f"连续{count}次登录失败,账户 {user.username} 锁定至 {format_local(until)}")
    return 0


def is_locked(user: User) -> bool:
    return bool(user.locked_until and user.locked_until > utcnow())


def unlock(actor: User | None, user: User) -> None:
    """An admin (or ``flask user unlock``) lifts the lock and clears the failure count; audited."""
    if not is_locked(user) and not user.failed_logins:
        raise ValidationFailed(f"账户 {user.username} 未被锁定")
    changes = {"locked_until": [user.locked_until if is_locked(user) else None, None],
               "failed_logins": [user.failed_logins, 0]}
    user.locked_until = None
    user.failed_logins = 0
    audit.record(actor, AuditEntity.USER, user.id, AuditAction.UNLOCK, changes,
                 summary=f"解除账户 {user.username} 的登录锁定")


def sign_in(username: str, password: str, *, remember: bool = False, address: str = "", user_agent: str = "",
            device: str | None = None) -> User:
    """``authenticate``, then a new server-side session (``start_session``) for ``login_user``."""
    user = authenticate(username, password, device=device)
    start_session(user, remember=remember, address=address, user_agent=user_agent)
    return user


_DUMMY_HASH: dict[str, str] = {}


def _hasher_dummy_verify(password: str) -> None:
    """Spend the same time on unknown users, so timing does not reveal which usernames exist."""
    key = "dummy"
    if key not in _DUMMY_HASH:
        _DUMMY_HASH[key] = hash_password("dummy-password-1")
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher().verify(_DUMMY_HASH[key], password or "")


# --- browser sessions (server-side: crm.auth.models.UserSession) -------------------------------------------

def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def session_max_age() -> timedelta:
    """How long any session lives after its sign-in (``SESSION_MAX_DAYS``, also the remember cookie's life)."""
    return timedelta(days=current_app.config["SESSION_MAX_DAYS"])


def start_session(user: User, *, remember: bool = False, address: str = "", user_agent: str = "") -> str:
    """A new server-side session of ``user``: only the SHA-256 of its random secret is stored; the returned
    Flask-Login id ``"<user id>:<session_version>:<secret>"`` goes into the (signed) session and remember cookies
    and is set as ``user.session_key`` for ``login_user``."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(user_id=user.id, secret_hash=_secret_hash(secret), remember=bool(remember), created_at=now,
                      last_seen_at=now, address=(address or "")[:64], user_agent=(user_agent or "")[:200])
    db.session.add(row)
    db.session.flush()
    user.session_key = f"{user.id}:{user.session_version}:{secret}"
    user.session_row_id = row.id
    return user.session_key


def _parse_session_key(session_key: str) -> tuple[int, int, str] | None:
    try:
        user_id, version, secret = session_key.split(":", 2)
        return int(user_id), int(version), secret
    except (ValueError, AttributeError):
        return None


def session_alive(row: UserSession, now: datetime | None = None) -> bool:
    """Not ended, younger than ``SESSION_MAX_DAYS``, and (when not remembered) used within
    ``PERMANENT_SESSION_LIFETIME``."""
    now = now or utcnow()
    if row.ended_at is not None or row.created_at <= now - session_max_age():
        return False
    idle = current_app.config["PERMANENT_SESSION_LIFETIME"]
    return row.remember or (row.last_seen_at or row.created_at) > now - idle


# A session's or token's user with the specialties (User.specialty_rows, otherwise a second "selectin" query):
# joined, as one user has a handful of them.
# The user with what every page reads of them (specialties; county and department for the scope and the
# navigation's "角色 · 区县/单位"), joined into the one statement that finds the session or the token.
_USER_PARTS = (sa.orm.joinedload(User.specialty_rows), sa.orm.joinedload(User.county),
               sa.orm.joinedload(User.department))
_WITH_USER = sa.orm.joinedload(UserSession.user).options(*_USER_PARTS)
_TOKEN_WITH_USER = sa.orm.joinedload(ApiToken.user).options(*_USER_PARTS)


# The statements that find a session or a token on every request, built once per process with their values as
# parameters: building one and computing its cache key (SQLAlchemy keeps a built statement's key) was ≈ 0.1 ms of
# every request (issue 11, ninth pass). Each also reads the figures registered for this database
# (:func:`session_figure`); the second value is their names, in the statement's order.
@cache
def _found_by_hash(model: type, names: tuple[str, ...], dialect: str) -> tuple[sa.Select, tuple[str, ...]]:
    """The ``model`` row (``UserSession`` or ``ApiToken``) by its hash (parameter ``hash``), with its user and the
    figures."""
    with_user, hashed = ((_WITH_USER, UserSession.secret_hash) if model is UserSession
                         else (_TOKEN_WITH_USER, ApiToken.token_hash))
    columns = _figure_columns(names, dialect, model.user_id)
    return (prepared(sa.select(model, *(column for _, column in columns)).options(with_user)
                     .where(hashed == sa.bindparam("hash"))),
            tuple(name for name, _ in columns))


def _find_by_hash(model: type, hashed: str) -> tuple[Any, dict[str, Any]]:
    """The session or token whose hash this is (``None``) and the figures read with it (not yet ``loaded``)."""
    stmt, names = _found_by_hash(model, tuple(_SESSION_FIGURES), db.session.get_bind().dialect.name)
    with before_the_transaction():  # a page served from kept figures then sends nothing else: no BEGIN, no COMMIT
        found = db.session.execute(stmt, {"hash": hashed}).unique().first()
    return (None, {}) if found is None else (found[0], dict(zip(names, found[1:], strict=True)))


def _touch_due(last: datetime | None, now: datetime) -> bool:
    """Whether a session's ``last_seen_at`` or a token's ``last_used_at`` is old enough to be written again: at most
    once per ``SESSION_TOUCH_SECONDS`` (default 60), never on every request (a write per read, issue 11)."""
    touch = timedelta(seconds=current_app.config.get("SESSION_TOUCH_SECONDS", 60))
    return last is None or now - last >= touch


def load_session_user(session_key: str) -> User | None:
    """Flask-Login's loader (session and remember cookie alike): the user of a live session row whose secret
    this is; ``None`` for an ended, expired or unknown row, a bumped ``session_version`` or an inactive user.

    ``last_seen_at`` is written at most once per ``SESSION_TOUCH_SECONDS`` (committed here: the loader runs
    before the view, see crm/auth/views.py ``_load_user_first``), never on every request."""
    parsed = _parse_session_key(session_key)
    if parsed is None or not parsed[2]:
        return None
    user_id, version, secret = parsed
    # The session row, its user and the user's specialties in one statement (this runs before every page: three
    # round trips were a measurable share of a 20 ms page at provincial scale, issue 11).
    # Prepared (crm.core.transactions.prepared): one row by a unique key, the same plan for every value; the
    # planning was 0.5 ms of its 0.6 ms on every page.
    row, figures = _find_by_hash(UserSession, _secret_hash(secret))
    now = utcnow()
    if row is None or row.user_id != user_id or not session_alive(row, now):
        return None
    user = row.user
    if user is None or not user.active or user.session_version != version:
        return None
    user.session_figures = _figures_loaded(figures)  # before the touch's commit ends this transaction
    if _touch_due(row.last_seen_at, now):
        db.session.execute(sa.update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
        db.session.commit()
    user.session_key = session_key
    user.session_row_id = row.id
    return user


# --- what other capabilities read with the session's user ----------------------------------------------------

# (the user's id column, the database's dialect name) -> a scalar subquery on it, or None: nothing on this database
SessionFigure = Callable[[Any, str], Any]


@dataclass(frozen=True)
class _Figure:
    build: SessionFigure
    loaded: Callable[[Any], None] | None


_SESSION_FIGURES: dict[str, _Figure] = {}


def session_figure(name: str, build: SessionFigure, *, loaded: Callable[[Any], None] | None = None) -> None:
    """Read ``build(user_id, dialect)`` — a value correlated on the user's id, or ``None`` for nothing on that
    database — in the statement that finds the session (every page) or the API token (every API call), and keep
    it as ``user.session_figures[name]`` for that request; ``loaded(value)``, if given, is called with it as soon as
    the session or token is found valid, within that statement's transaction.

    Why: what every request reads besides its user — the notifications' unread badge, the cached figures' data
    versions — were a statement each, ≈ 0.3–0.5 ms with their round trip of a 3 ms page (issue 11, ninth pass); as
    columns of the statement every request runs first they cost the database an index lookup and the request
    nothing more. The registering capability reads the value (and counts afresh where its request may have changed
    it); this module knows it by name only. Registered once, at import or by the app factory: the statements are
    prepared with every registered figure."""
    _SESSION_FIGURES[name] = _Figure(build, loaded)


def _figure_columns(names: tuple[str, ...], dialect: str, user_id: Any) -> list[tuple[str, Any]]:
    built = ((name, _SESSION_FIGURES[name].build(user_id, dialect)) for name in names)
    return [(name, column.label(name)) for name, column in built if column is not None]


def _figures_loaded(figures: dict[str, Any]) -> dict[str, Any]:
    for name, value in figures.items():
        loaded = _SESSION_FIGURES[name].loaded
        if loaded is not None:
            loaded(value)
    return figures


def live_sessions(user: User) -> list[UserSession]:
    """The user's sessions that still open the app, newest first."""
    now = utcnow()
    rows = db.session.scalars(
        sa.select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
               UserSession.created_at > now - session_max_age())
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())).all()
    return [row for row in rows if session_alive(row, now)]


def end_session(user: User, session_id: int | None = None) -> None:
    """End one session of ``user`` (default: the one ``user`` was loaded for); another user's id is unknown."""
    row_id = user.session_row_id if session_id is None else parse_id(session_id)
    row = db.session.get(UserSession, row_id) if row_id else None  # parse_id: no 32-bit overflow on PostgreSQL
    if row is None or row.user_id != user.id:
        raise NotFound("该登录会话不存在")
    if row.ended_at is None:
        row.ended_at = utcnow()


def end_sessions(user: User, *, keep: int | None = None) -> int:
    """End every live session of ``user`` but ``keep`` (a session row id); how many ended."""
    stmt = sa.update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    return db.session.execute(stmt.values(ended_at=utcnow()).execution_options(synchronize_session="fetch")).rowcount


def sign_out(user: User) -> None:
    """Sign-out: the session ``user`` was loaded for ends on the server, so a copied cookie no longer works."""
    if user.session_row_id is not None:
        end_session(user)


def sign_out_everywhere(user: User) -> None:
    """End every session and revoke every API token of ``user`` (the current ones too); audited."""
    sessions = end_sessions(user)
    tokens = revoke_all_tokens(user)
    user.session_version += 1
    audit.record(user, AuditEntity.USER, user.id, AuditAction.SIGN_OUT_ALL,
                 {"sessions": [sessions, 0], "tokens": [tokens, 0]},
                 summary=f"{user.username} 退出所有登录(会话 {sessions} 个,访问令牌 {tokens} 个)")


def change_password(user: User, current_password: str, new_password: str, *, new_password2: str | None = None,
                    keep_session: int | None = None, keep_token: str | None = None) -> None:
    """The user's own password change: the current password, then the strength rule of ``user create``.

    Every other session ends and every API token is revoked, except the session ``keep_session`` (the page's own)
    or the token ``keep_token`` (the API caller's own); audited without any password.

    A wrong current password is a failed sign-in (counted, committed, locks the account like one): a stolen session
    or token cannot guess the password unthrottled. A locked account answers 429 before anything is checked."""
    now = utcnow()
    if is_locked(user):
        raise throttle.SignInThrottled(math.ceil((user.locked_until - now).total_seconds()))
    fields: dict[str, str] = {}
    if not current_password or not _verify(user.password_hash, current_password):
        count_failure(user)
        db.session.commit()
        fields["current_password"] = "当前密码不正确"
    weak = check_password_strength(new_password or "", user.username)
    if weak:
        fields["new_password"] = weak
    elif current_password and new_password == current_password:
        fields["new_password"] = "新密码不能与当前密码相同"
    if new_password2 is not None and new_password2 != new_password and "new_password" not in fields:
        fields["new_password2"] = "两次输入的新密码不一致"
    if fields:
        raise ValidationFailed("密码未修改", fields)
    user.password_hash = hash_password(new_password)
    sessions = end_sessions(user, keep=keep_session)
    kept = db.session.scalar(sa.select(ApiToken.id).where(ApiToken.token_hash == _token_hash(keep_token))) \
        if keep_token else None
    tokens = 0
    for token in db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id,
                                                              ApiToken.revoked_at.is_(None))):
        if token.id != kept:
            token.revoked_at = utcnow()
            tokens += 1
    audit.record(user, AuditEntity.USER, user.id, AuditAction.PASSWORD_CHANGE,
                 {"other_sessions_ended": [None, sessions], "tokens_revoked": [None, tokens]},
                 summary=f"{user.username} 修改了自己的密码")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- API tokens -------------------------------------------------------------------------------------------

def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, lifetime: timedelta | None = None) -> tuple[str, ApiToken]:
    """A new token for ``user``; past ``API_TOKEN_CAP`` active tokens the oldest are revoked (not refused:
    a script that re-issues on every run keeps working, and a leaked old token dies sooner)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=now + (lifetime or current_app.config["API_TOKEN_LIFETIME"]),
    )
    db.session.add(row)
    db.session.flush()
    cap = max(1, int(current_app.config.get("API_TOKEN_CAP", 10)))
    active = db.session.scalars(
        sa.select(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()
    for old in active[cap:]:
        old.revoked_at = now
    return token, row


def revoke_all_tokens(user: User) -> int:
    """Revoke every active token of ``user`` (the one in use included); how many were revoked."""
    rows = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id,
                                                        ApiToken.revoked_at.is_(None))).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    return len(rows)


def resolve_token(token: str, now: datetime | None = None) -> tuple[User | None, bool]:
    """The active user of a valid, unrevoked, unexpired token (``None`` otherwise), and whether the token's
    ``last_used_at`` was moved and needs a commit.

    Token and user come in one statement. ``last_used_at`` is written at most once per ``SESSION_TOUCH_SECONDS``,
    as a session's ``last_seen_at`` is (:func:`load_session_user`): writing it on every call made every API read
    a write — an UPDATE, a COMMIT and the user read again after it, four round trips of a 10 ms request."""
    if not token:
        return None, False
    row, figures = _find_by_hash(ApiToken, _token_hash(token))  # as a session's user
    now = now or utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None, False
    if not row.user.active:
        return None, False
    row.user.session_figures = _figures_loaded(figures)
    if _touch_due(row.last_used_at, now):
        row.last_used_at = now
        return row.user, True
    return row.user, False


def revoke_token(token: str) -> bool:
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _token_hash(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    return True
