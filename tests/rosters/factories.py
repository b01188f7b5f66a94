"""Roster factories for tests."""

from __future__ import annotations

from crm.rosters import domain
from crm.rosters.models import RosterKind


def published_edition(kind: RosterKind, period: str, enterprises, reason: str = "入库测试", tier=None):
    """An edition of ``kind`` for ``period`` with these enterprises, taken through review to published."""
    edition = domain.open_edition(None, kind, period)
    present = {e.enterprise_id for e in edition.entries}
    for enterprise in enterprises:
        if enterprise.id not in present:
            domain.add_entry(None, edition, enterprise, reason, tier)
    domain.submit(None, edition)
    domain.publish(None, edition)
    return edition
