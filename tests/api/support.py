"""Helpers for the API tests."""

from __future__ import annotations

import itertools
from typing import Any

from stdnum.cn import uscc as stdnum_uscc

from crm.extensions import db
from tests.conftest import api_token

_seq = itertools.count(1)


def bearer(user) -> dict[str, str]:
    """Token headers for ``user``, with the setup committed.

    In the test transaction a commit only releases a savepoint (the outer transaction still rolls back at the
    end), but it keeps the setup when an error handler rolls the request's work back.
    """
    headers = api_token(user)
    db.session.commit()
    return headers


def lettered_uscc() -> str:
    """A valid code whose body has letters, to test case normalisation."""
    body = f"91520300MA6{next(_seq):06d}"
    return body + stdnum_uscc.calc_check_digit(body)


def payload(**overrides: Any) -> dict[str, Any]:
    """A valid POST /enterprises body."""
    n = next(_seq)
    body = f"91520302{n + 500000:09d}"
    data = {
        "name": f"遵义接口测试航空零部件有限公司{n}",
        "uscc": body + stdnum_uscc.calc_check_digit(body),
        "county": "汇川区",
        "cluster": "航空航天装备",
        "supply_category": "关键零部件",
        "above_scale": True,
        "main_products": "航空紧固件",
        "settled_from_chengyu": False,
        "settled_on": None,
    }
    data.update(overrides)
    return data


def error_of(response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert API.md's error shape exactly and return the inner ``error`` object."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) <= {"code", "message", "fields"} and {"code", "message"} <= set(error)
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and error["message"]
    if "fields" in error:
        assert error["fields"] and all(isinstance(k, str) and isinstance(v, str) for k, v in error["fields"].items())
    if code is not None:
        assert error["code"] == code
    return error
