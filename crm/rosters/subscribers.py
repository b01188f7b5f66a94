"""What the lists add to the enterprise registry below them: the 名单记录 card of 一企一档, the 所在名单 filter of
the enterprise search, and the history rows a viewer may not see (``crm.enterprises.hooks``).

Connected once, when the app factory imports this module (``crm.create_app``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import url_for

from crm.core.audit import AuditEntity, AuditLog
from crm.core.parsing import parse_enum
from crm.enterprises.hooks import history_filters, page_section, search_filter
from crm.enterprises.models import Enterprise
from crm.rosters import domain
from crm.rosters.models import RosterKind


@page_section(order=200)
def _timeline(enterprise: Enterprise, *, viewer: Any, editable: bool) -> tuple[str, dict[str, Any]]:
    """一企一档: every edition the enterprise was in, and where it was removed (only editions the viewer may see).
    Each row's link to its edition from one ``url_for`` (:func:`_edition_urls`), not one a row."""
    timeline = domain.enterprise_timeline(enterprise.id, viewer=viewer)
    return "rosters/_enterprise_timeline.html", {
        "roster_timeline": timeline, "period_label": domain.period_label,
        "edition_url": _edition_urls() if timeline else None}


_SAFE = re.compile(r"[A-Za-z0-9_]+\Z")


def _edition_urls() -> Callable[[RosterKind, str], str]:
    """``url_for("rosters.edition", kind=kind.value, period=period)`` for the rows of the roster card at the cost
    of one call: the URL is built around two markers and each row's kind and period put in their place (both are
    letters, digits and ``_``: nothing to quote, the same string as ``url_for``; anything else asks ``url_for``).
    12 editions of the rich record were 12 calls, ≈ 0.5 ms of the card."""
    head, _, rest = url_for("rosters.edition", kind="K0KIND0K", period="P0PERIOD0P").partition("K0KIND0K")
    middle, _, tail = rest.partition("P0PERIOD0P")

    def edition_url(kind: RosterKind, period: str) -> str:
        if _SAFE.match(kind.value) and _SAFE.match(period):
            return f"{head}{kind.value}{middle}{period}{tail}"
        return url_for("rosters.edition", kind=kind.value, period=period)

    return edition_url


@search_filter("roster", "所在名单", [(kind.value, kind.label) for kind in RosterKind])
def _on_list(stmt: sa.Select, roster: str) -> sa.Select:
    """Only enterprises on the current published edition of a list (``supplier_list`` / ``cultivation_pool``)."""
    kind = parse_enum(RosterKind, roster, field="roster", what="名单", title="名单类型不正确")
    return stmt.where(Enterprise.id.in_(domain.published_member_ids(kind)))


@history_filters.connect
def _hide_editions(viewer: Any, **_: Any) -> Any:
    """The history must not show what the list pages hide: a commissioner sees no rows of drafts or reviews."""
    hidden = domain.hidden_editions(viewer)
    if hidden is None:
        return None
    return ~sa.and_(AuditLog.entity_type == AuditEntity.ROSTER_EDITION, AuditLog.entity_id.in_(hidden))
