"""What the meetings add to the capabilities below them: a 会议活动 card on the 一企一档 page (the meetings the
enterprise takes part in that the viewer may read, and the agreements it signed there)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.core.access import Action, scope
from crm.enterprises.hooks import page_section
from crm.enterprises.models import Enterprise
from crm.extensions import db

from .models import Meeting, MeetingAgreement, MeetingEnterprise

SHOWN = 10


@page_section(order=150)
def _meeting_card(enterprise: Enterprise, *, viewer: Any, editable: bool) -> tuple[str, dict[str, Any]] | None:
    stmt = (sa.select(Meeting).join(MeetingEnterprise, MeetingEnterprise.meeting_id == Meeting.id)
            .where(MeetingEnterprise.enterprise_id == enterprise.id).order_by(Meeting.starts_at.desc()))
    meetings = list(db.session.scalars(scope(viewer, Meeting, stmt, Action.VIEW).limit(SHOWN)))
    agreements = list(db.session.scalars(
        scope(viewer, Meeting, sa.select(MeetingAgreement).join(Meeting, Meeting.id == MeetingAgreement.meeting_id)
              .where(MeetingAgreement.enterprise_id == enterprise.id), Action.VIEW)
        .order_by(MeetingAgreement.created_at.desc()).limit(SHOWN)))
    if not meetings and not agreements:
        return None
    return "meetings/_enterprise_meetings.html", {"meetings": meetings, "agreements": agreements}
