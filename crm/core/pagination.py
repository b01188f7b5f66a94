"""Pagination shared by pages and the API (API.md: ``?page=1&per_page=50``, max 200)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app

from crm.core.errors import DomainError
from crm.extensions import db

MAX_PAGE = 1_000_000


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def parse_page_args(args: Any, default_per_page: int | None = None) -> tuple[int, int]:
    """Read ``page`` and ``per_page``; refuse nonsense with a field-level message."""
    max_per_page = current_app.config["PER_PAGE_MAX"]
    default = default_per_page or current_app.config["PER_PAGE_DEFAULT"]
    fields: dict[str, str] = {}
    try:
        raw = str(args.get("page", 1)).strip()
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:
            raise ValueError
        page = int(raw)
    except (TypeError, ValueError):
        fields["page"] = f"页码必须是1到{MAX_PAGE}之间的整数"
        page = 1
    try:
        raw = str(args.get("per_page", default)).strip()
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= max_per_page:
            raise ValueError
        per_page = int(raw)
    except (TypeError, ValueError):
        fields["per_page"] = f"每页条数必须在1到{max_per_page}之间"
        per_page = default
    if fields:
        raise DomainError("分页参数不正确", fields)
    return page, per_page


def paginate(stmt: sa.Select, page: int, per_page: int) -> Page:
    total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = list(db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, total=total, page=page, per_page=per_page)
