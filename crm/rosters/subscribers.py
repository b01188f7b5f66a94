"""What the lists add to the enterprise registry below them: the 名单记录 card of 一企一档, the 所在名单 filter of
the enterprise search, and the history rows a viewer may not see (``crm.enterprises.hooks``).

Connected once, when the app factory imports this module (``crm.create_app``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.core.audit import AuditEntity, AuditLog
from crm.core.parsing import parse_enum
from crm.enterprises.hooks import history_filters, page_section, search_filter
from crm.enterprises.models import Enterprise
from crm.rosters import domain
from crm.rosters.models import RosterKind


@page_section(order=200)
def _timeline(enterprise: Enterprise, *, viewer: Any, editable: bool) -> tuple[str, dict[str, Any]]:
    """一企一档: every edition the enterprise was in, and where it was removed (only editions the viewer may see)."""
    return "rosters/_enterprise_timeline.html", {
        "roster_timeline": domain.enterprise_timeline(enterprise.id, viewer=viewer),
        "period_label": domain.period_label}


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
