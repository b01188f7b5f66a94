"""Loading records for the API: 404 when missing or hidden, 403 when only seen; query-string ids and flags."""

from __future__ import annotations

from typing import Any

from flask import request

from crm.api.auth import current_user
from crm.core.access import Action, require
from crm.core.errors import DomainError, NotFound, ValidationFailed
from crm.core.parsing import MAX_ID, parse_id
from crm.enterprises.models import Enterprise
from crm.extensions import db

NOT_FOUND = "记录不存在或您无权查看"  # the same words as access.require, so 404s do not differ
BAD_QUERY = "查询参数不正确"
BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def found(obj: Any, action: Action) -> Any:
    """``obj`` if the caller may ``action`` it: 404 when it is missing or hidden from them, 403 when only seen."""
    if obj is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), action, obj)
    return obj


def get_or_404(model: type, record_id: int, action: Action) -> Any:
    return found(db.session.get(model, record_id) if record_id <= MAX_ID else None, action)


def body_enterprise(data: dict[str, Any], action: Action) -> Enterprise:
    """The body's ``enterprise_id`` as an enterprise the caller may ``action``: 422 when missing or not an id,
    404 when it does not exist or the caller may not see it, 403 when they may see but not change it."""
    raw = data.get("enterprise_id")
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip().isascii() \
            or not str(raw).strip().isdigit():
        raise ValidationFailed("请求数据有误", {"enterprise_id": "请提供企业 id(正整数)"})
    enterprise_id = parse_id(raw)
    return found(db.session.get(Enterprise, enterprise_id) if enterprise_id is not None else None, action)


def query_id(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    number_ = parse_id(raw)
    if number_ is None:
        raise DomainError(BAD_QUERY, {name: f"{name} 必须是正整数"})
    return number_


def query_bool(name: str) -> bool | None:
    raw = request.args.get(name, "").strip().lower()
    if not raw:
        return None
    if raw not in BOOLS:
        raise DomainError(BAD_QUERY, {name: f"{name} 只能是 true 或 false"})
    return BOOLS[raw]
