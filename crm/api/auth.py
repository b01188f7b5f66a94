"""Bearer-token authentication: the only way into the API (never the session cookie).

Default deny: the blueprint's ``before_request`` demands a valid token for every endpoint, except views
marked :func:`public`, so a new endpoint cannot be left open by forgetting a decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from flask import current_app, g, request
from pydantic import ConfigDict, Field

from crm.api import bp
from crm.api.schema import DateTimeStr, Input, Msg, Shape, body, dump, operation
from crm.auth.domain import (
    LOGIN_FAILED_MESSAGE,
    authenticate,
    change_password,
    issue_token,
    resolve_token,
    revoke_all_tokens,
    revoke_token,
    sign_out_everywhere,
)
from crm.auth.models import Role, User
from crm.auth.throttle import SignInThrottled, sign_in_limits
from crm.core.errors import DomainError, Forbidden, Unauthorized, ValidationFailed, json_error
from crm.core.time import isoformat_local
from crm.extensions import db
from crm.service.access import LIAISON_FENCED, liaison_may_open

TOKEN_MISSING = "请提供有效的访问令牌(Authorization: Bearer <令牌>)"
TOKEN_INVALID = "访问令牌无效、已过期或已撤销,请重新获取"


def public(view: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a view as reachable without a token (token issue, the OpenAPI document)."""
    view.api_public = True  # type: ignore[attr-defined]
    return view


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def current_user() -> User:
    """The user of this request's token (set by the blueprint's ``before_request``)."""
    user = g.get("api_user")
    if user is None:
        raise Unauthorized(TOKEN_MISSING)
    return user


@bp.before_request
def _authenticate() -> None:
    # ``g`` lives on the app context, which can outlive a request (tests, CLI): always start clean.
    g.api_user = None
    g.api_token = None
    view = current_app.view_functions.get(request.endpoint or "")
    if getattr(view, "api_public", False):
        return
    token = bearer_token()
    if token is None:
        raise Unauthorized(TOKEN_MISSING)
    user, touched = resolve_token(token)
    if user is None:
        raise Unauthorized(TOKEN_INVALID, code="invalid_token")
    if touched:
        db.session.commit()  # keeps the token's last_used_at (at most once a minute: resolve_token)
    g.api_user = user
    g.api_token = token
    if user.role is Role.LIAISON and not liaison_may_open(request.endpoint, getattr(view, "__module__", None)):
        raise Forbidden(LIAISON_FENCED)  # their routed records only (crm.service.access)


@bp.after_request
def _challenge(response):
    if response.status_code == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="crm"')
    return response


@bp.teardown_request
def _forget(_exc: BaseException | None) -> None:
    g.pop("api_user", None)
    g.pop("api_token", None)


class TokenRequest(Input):
    model_config = ConfigDict(extra="ignore")
    INVALID: ClassVar[str] = "请求需要用户名和密码"
    ERROR: ClassVar[type[DomainError]] = DomainError  # 400, as a malformed request
    username: Annotated[str, Field(pattern=r"\S"), Msg("请填写用户名(字符串)")]
    password: Annotated[str, Field(min_length=1, json_schema_extra={"format": "password"}), Msg("请填写密码(字符串)")]


class Token(Shape):
    """令牌(只显示这一次)"""

    token: str
    expires_at: DateTimeStr = Field(examples=["2026-07-01T09:00:00+08:00"])


def _throttled(err: SignInThrottled):
    """429 in API.md's error shape, with ``Retry-After`` (seconds)."""
    db.session.rollback()
    response, status = json_error(429, err.code, err.message)
    response.headers["Retry-After"] = str(err.retry_after)
    return response, status


@bp.post("/auth/token")
@public
@sign_in_limits
@operation("用用户名和密码换取访问令牌", ok=Token, status=201, body=TokenRequest, errors=(401, 422, 429),
           description="失败的尝试按客户端地址和用户名限流,连续失败会暂时锁定账户:429,响应头 Retry-After 给出秒数。"
                       "未知用户名与已知用户名的回答完全相同。")
def issue():
    """Exchange username and password for a bearer token; the answer never says which half was wrong.

    Throttled like the sign-in page (crm/auth/throttle.py): 429 with ``Retry-After``."""
    data = body(TokenRequest)
    username, password = data["username"], data["password"]
    try:
        user = authenticate(username, password)
    except SignInThrottled as err:
        return _throttled(err)
    except ValidationFailed:
        raise Unauthorized(LOGIN_FAILED_MESSAGE, code="invalid_credentials") from None
    token, row = issue_token(user)
    db.session.commit()
    return dump(Token(token=token, expires_at=isoformat_local(row.expires_at))), 201


@bp.delete("/auth/token")
@operation("撤销本次请求所用的令牌", ok=None, status=204)
def revoke():
    """Revoke the token this request was made with (sign-out for API clients)."""
    revoke_token(g.api_token)
    db.session.commit()
    return "", 204


@bp.delete("/auth/tokens")
@operation("撤销本人的全部访问令牌(包括本次请求所用的令牌)", ok=None, status=204)
def revoke_all():
    """Revoke every token of the caller, e.g. after a laptop is lost; each then answers 401."""
    revoke_all_tokens(current_user())
    db.session.commit()
    return "", 204


@bp.delete("/auth/sessions")
@operation("退出所有登录:结束本人全部网页登录会话并撤销全部访问令牌(包括本次请求所用的令牌)", ok=None, status=204)
def sign_out_all():
    """Sign out everywhere: every browser session of the caller ends and every token (this one too) is revoked."""
    sign_out_everywhere(current_user())
    db.session.commit()
    return "", 204


class PasswordChange(Input):
    """修改本人密码"""

    current_password: Annotated[str, Field(min_length=1, json_schema_extra={"format": "password"}),
                                Msg("请填写当前密码(字符串)")]
    new_password: Annotated[str, Field(min_length=1, json_schema_extra={"format": "password"}),
                            Msg("请填写新密码(字符串)")]


@bp.post("/auth/password")
@operation("修改本人密码(其他访问令牌和全部网页登录会话随即失效,本次请求所用的令牌保留)", ok=None, status=204,
           body=PasswordChange, errors=(422, 429),
           description="当前密码错误按一次登录失败计数;账户因此被锁定时回答 429,响应头 Retry-After 给出秒数。")
def password():
    """Change the caller's own password: ``current_password`` must be right and ``new_password`` pass the rule of
    ``user create``. Every web session of the caller ends and every other token is revoked; this token stays."""
    data = body(PasswordChange, "密码未修改")
    try:
        change_password(current_user(), data["current_password"], data["new_password"], keep_token=g.api_token)
    except SignInThrottled as err:
        return _throttled(err)
    db.session.commit()
    return "", 204
