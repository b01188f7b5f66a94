"""Pagination shared by pages and the API (API.md: ``?page=1&per_page=50``, max 200)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from crm.core import cache
from crm.core.errors import DomainError
from crm.extensions import db

MAX_PAGE = 1_000_000


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int
    # True when ``total`` is the planner's estimate of an unfiltered table (pages show "约 N", the API says
    # ``total_estimated``), never when a filter or a user's scope narrows the rows: those are counted exactly
    estimated: bool = False
    # Whether a row follows this page, when it was read rather than derived from ``total`` (an estimated total may
    # be stale either way; the page must neither stop short of the real end nor offer a page past it).
    more: bool | None = None
    # A kept page's key (:func:`paginate`'s ``kept``): what determines its items under the kinds' versions, for
    # what is drawn from them alone (crm.core.cache.cached_markup); ``None`` when the page was not kept.
    key: tuple[Any, ...] | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.more if self.more is not None else self.page < self.pages


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


def paginate(stmt: sa.Select, page: int, per_page: int, *, key: Any = None, estimate: str | None = None,
             rows: Callable[[sa.Select], sa.Select] | None = None, count_with_page: bool = False,
             kept: tuple[str, Iterable[str]] | None = None) -> Page:
    """One page of ``stmt`` (its ORDER BY must end with a unique column) and the number of rows in all.

    ``key``: the primary key column of ``stmt``'s entity. The page's keys are read first (``SELECT key … WHERE …
    ORDER BY … LIMIT/OFFSET``: narrow rows, no joins of the eager-loaded relations; a deep page's OFFSET walks
    the sort index only — index-only on PostgreSQL) and then those rows are loaded with their relations (a
    "deferred join", in one statement: the keys are a subquery): page 1,000 of 100,000 enterprises reads 50 rows,
    not 50,000, and a search matching 25,000 enterprises sorts their keys and joins county / cluster for 50 of
    them.

    ``estimate``: the table ``stmt`` reads. When ``stmt`` has no WHERE at all (an admin's or a city-wide user's
    unfiltered list), on PostgreSQL, and the planner's estimate (``pg_class.reltuples``, kept by autovacuum /
    ANALYZE) is at least ``COUNT_ESTIMATE_ABOVE`` rows (config, default 50,000), the total is that estimate and
    the page says so (:attr:`Page.estimated`): an exact ``count(*)`` reads every row of the table (11 ms at
    100,000 enterprises, growing with it) on every request. Any filter or scope: an exact count.

    ``count_with_page`` (with ``key``): the exact count comes with the page's keys, ``count(*) OVER ()`` in the
    same statement (:func:`_counted_page`), instead of a ``count(*)`` of its own first. For a statement whose
    matches are all read and sorted anyway to find the page (a search: the matches come from the trigram / bigram
    index unordered), the count was a second pass over the same match set; a list read in its index's order
    (50 entries for page 1) would read every match for the window instead, so that caller leaves it off.

    ``kept`` ``(name, kinds)``: the page (its items, which must be plain rows: ``rows`` given, the same for every
    call of that ``name``, and its total) is kept per process while the data versions of ``kinds`` — every table
    ``stmt`` and ``rows`` read — are unchanged (crm/core/cache.py), keyed by ``stmt`` itself
    (:func:`crm.core.cache.statement_key`: the user's scope, the filters, the sort) and the page; the page's
    :attr:`Page.key` says so. Read directly on SQLite or in a transaction that wrote versioned records. An
    estimated total is kept with the page it came with (an estimate either way).
    """
    if kept is not None:
        name, kinds = kept[0], tuple(kept[1])
        stamp = cache.versions()
        if stamp is not None:
            found_key = (name, *cache.statement_key(stmt), page, per_page, estimate, count_with_page)
            found = cache.cached(stamp, kinds, ("page", kinds, *found_key), lambda: _paginate(
                stmt, page, per_page, key=key, estimate=estimate, rows=rows, count_with_page=count_with_page))
            return replace(found, items=list(found.items), key=found_key)
    return _paginate(stmt, page, per_page, key=key, estimate=estimate, rows=rows, count_with_page=count_with_page)


def _paginate(stmt: sa.Select, page: int, per_page: int, *, key: Any, estimate: str | None,
              rows: Callable[[sa.Select], sa.Select] | None, count_with_page: bool) -> Page:
    """:func:`paginate`, never kept."""
    if count_with_page and key is not None and not (estimate is not None and stmt.whereclause is None):
        counted = _counted_page(stmt, page, per_page, key, rows)
        if counted is not None:
            return counted
    total, estimated = None, False
    if estimate is not None and stmt.whereclause is None:
        total = _estimated_rows(estimate)
        estimated = total is not None
    if total is None:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    offset = (page - 1) * per_page
    # With an estimate, one row more is read: whether another page follows is then known, not guessed.
    limit = per_page + 1 if estimated else per_page
    if key is not None:
        # One statement: the page's keys as a subquery (the planner drives from its LIMIT: a few rows probed by
        # primary key), the outer query loading those rows in the same order. Sending the keys back as literals
        # cost a round trip and a statement more on every list.
        page_keys = stmt.with_only_columns(key).limit(limit).offset(offset)
        narrowed = stmt.where(key.in_(page_keys.correlate(None).scalar_subquery()))
        items = list(db.session.execute(rows(narrowed)).all() if rows is not None else db.session.scalars(narrowed))
    else:
        items = list(db.session.scalars(stmt.limit(limit).offset(offset)))
    more = len(items) > per_page
    items = items[:per_page]
    if not estimated:
        return Page(items=items, total=total, page=page, per_page=per_page)
    seen = offset + len(items)
    if not more and items:
        total, estimated = seen, False  # this page reached the end: the exact count is known
    elif more:
        total = max(total, seen + 1)  # a stale, low estimate never ends the list early
    return Page(items=items, total=total, page=page, per_page=per_page, estimated=estimated, more=more)


def _counted_page(stmt: sa.Select, page: int, per_page: int, key: Any,
                  rows: Callable[[sa.Select], sa.Select] | None) -> Page | None:
    """One page of ``stmt`` and its exact total in one statement::

        SELECT <the page's columns>, page_keys.total
        FROM enterprises JOIN (SELECT id AS key, count(*) OVER () AS total, <the sort values> AS o0, o1 …
                               FROM … WHERE … ORDER BY … LIMIT/OFFSET) AS page_keys ON id = page_keys.key
        ORDER BY page_keys.o0, page_keys.o1 …

    The window counts the rows before LIMIT/OFFSET apply, so the match set is read once (the count and the keys'
    sort each read it). The outer query neither repeats ``stmt``'s WHERE (the keys passed it already; re-testing
    it cost, for q=鑫源, ``crm_bigrams(name)`` on each of the 50 rows, ≈ 0.9 ms) nor its joins (the ``county``
    sort's): it orders by the sort values the keys carry out. A page past the end has no row to carry the total:
    it is then counted on its own (an empty page 1: nothing matches). ``None`` when the ORDER BY holds more than
    columns, ASC and DESC (NULLS FIRST …): the caller then counts and reads the page as usual."""
    offset = (page - 1) * per_page
    carried, order = [], []
    for n, clause in enumerate(stmt._order_by_clauses):  # (no public accessor for a Select's ORDER BY)
        descending = isinstance(clause, UnaryExpression) and clause.modifier is operators.desc_op
        if isinstance(clause, UnaryExpression):
            if clause.modifier not in (operators.asc_op, operators.desc_op) or clause.operator is not None:
                return None
            clause = clause.element
        if isinstance(clause, UnaryExpression):
            return None
        carried.append(clause.label(f"o{n}"))
        order.append(descending)
    keys = (stmt.with_only_columns(key.label("key"), sa.func.count().over().label("total"), *carried)
            .limit(per_page).offset(offset).subquery("page_keys"))
    outer = (sa.select(key.class_ if rows is None else key).join(keys, key == keys.c.key)
             .order_by(*(keys.c[f"o{n}"].desc() if descending else keys.c[f"o{n}"]
                         for n, descending in enumerate(order))))
    if rows is not None:
        # the rows keep the extra ``total`` column (read by name, it is one attribute more)
        found = db.session.execute(rows(outer).add_columns(keys.c.total)).all()
        items = list(found)
    else:
        found = db.session.execute(outer.add_columns(keys.c.total)).all()
        items = [row[0] for row in found]
    if found:
        total = found[0][-1]
    elif page == 1:
        total = 0
    else:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return Page(items=items, total=total, page=page, per_page=per_page)


def _estimated_rows(table: str) -> int | None:
    """The planner's row estimate of ``table`` on PostgreSQL when it is at least ``COUNT_ESTIMATE_ABOVE``; else
    ``None`` (count exactly: SQLite, a small table, or one never analysed — reltuples −1)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    threshold = current_app.config.get("COUNT_ESTIMATE_ABOVE", 50_000)
    if not threshold:
        return None
    rows = db.session.scalar(sa.text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:table)"),
                             {"table": table})
    if rows is None or rows < threshold:
        return None
    return int(rows)
