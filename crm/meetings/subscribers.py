"""What the meetings add to the capabilities below them: a 会议活动 card on the 一企一档 page (the meetings the
enterprise takes part in that the viewer may read, and the agreements it signed there)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.core.access import Action, scope
from crm.core.cache import built_for
from crm.core.transactions import prepared
from crm.enterprises.hooks import page_section
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.reference.models import Partner

from .models import Meeting, MeetingAgreement, MeetingEnterprise

SHOWN = 10


@page_section(order=150)
def _meeting_card(enterprise: Enterprise, *, viewer: Any, editable: bool) -> tuple[str, dict[str, Any]] | None:
    """The card's two lists as plain columns, only those it shows (the fifth provincial-scale pass,
    benchmarks/README.md "Fifth pass: 一企一档"): an agreement's partner name and meeting title come with it (they
    were a lazy load each, up to 20 statements for 10 agreements), a meeting is five columns, not an entity. Each
    list keeps the meeting scope of the viewer; for a commissioner that scope reads
    ``ix_assignments_active_commissioner`` and ``ix_meeting_enterprises_enterprise_id_meeting_id`` from the index
    alone (a sequential scan of meeting_enterprises before)."""
    meetings = db.session.execute(built_for(viewer, "meetings.enterprise_meetings", lambda: _meetings(viewer)),
                                  {"enterprise_id": enterprise.id}).all()
    agreements = db.session.execute(built_for(viewer, "meetings.enterprise_agreements", lambda: _agreements(viewer)),
                                    {"enterprise_id": enterprise.id}).all()
    if not meetings and not agreements:
        return None
    return "meetings/_enterprise_meetings.html", {"meetings": meetings, "agreements": agreements}


# Both by the enterprise's id, a parameter: prepared (crm.core.transactions.prepared), as all of 一企一档's statements,
# and built once per process for each viewer (crm.core.cache.built_for).
_ENTERPRISE = sa.bindparam("enterprise_id", type_=sa.Integer)


def _meetings(viewer: Any) -> sa.Select:
    stmt = (sa.select(Meeting.id, Meeting.title, Meeting.starts_at, Meeting.kind, Meeting.status)
            .join(MeetingEnterprise, MeetingEnterprise.meeting_id == Meeting.id)
            .where(MeetingEnterprise.enterprise_id == _ENTERPRISE).order_by(Meeting.starts_at.desc()))
    return prepared(scope(viewer, Meeting, stmt, Action.VIEW).limit(SHOWN))


def _agreements(viewer: Any) -> sa.Select:
    return prepared(
        scope(viewer, Meeting, sa.select(MeetingAgreement.meeting_id, MeetingAgreement.partner_id,
                                         MeetingAgreement.kind, MeetingAgreement.amount,
                                         Partner.name.label("partner_name"), Meeting.title.label("meeting_title"))
              .join(Meeting, Meeting.id == MeetingAgreement.meeting_id)
              .join(Partner, Partner.id == MeetingAgreement.partner_id)
              .where(MeetingAgreement.enterprise_id == _ENTERPRISE), Action.VIEW)
        .order_by(MeetingAgreement.created_at.desc()).limit(SHOWN))
