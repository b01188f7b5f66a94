"""Access rules of the meetings, registered with :mod:`crm.core.access`.

- Meetings are the city's programme: admins, coordinators and leaders read every meeting; a commissioner reads
  the meetings an enterprise assigned to them takes part in, and those they are booked into as an official.
- Admins and city-wide coordinators change any meeting; a county coordinator the meetings they created.
  Leaders change nothing (the general rule refuses them every write).
- Participants, agreements and follow-ups are judged by their meeting.
- The 成渝 partner catalogue is read by everyone signed in and kept by admins and coordinators.
- A calendar feed token is its owner's alone.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.auth.models import Role
from crm.core import access
from crm.core.access import Action, Condition, Through
from crm.extensions import db
from crm.meetings.models import (
    CalendarFeedToken,
    Meeting,
    MeetingAgreement,
    MeetingEnterprise,
    MeetingFollowUp,
    MeetingOfficial,
    MeetingPartner,
)
from crm.reference.models import Partner
from crm.service.access import assigned_enterprise_ids

READERS = (Role.COORDINATOR, Role.LEADER)
KEEPERS = (Role.COORDINATOR,)


def _commissioner_meeting_ids(user: Any) -> sa.Select:
    """``SELECT meeting_id`` of the meetings of the commissioner's enterprises and those they are booked into."""
    through_enterprises = sa.select(MeetingEnterprise.meeting_id).where(
        MeetingEnterprise.enterprise_id.in_(assigned_enterprise_ids(user)))
    as_official = sa.select(MeetingOfficial.meeting_id).where(MeetingOfficial.user_id == user.id)
    return sa.union(through_enterprises, as_official)


class MeetingRule:
    def can(self, user: Any, action: Action, meeting: Meeting) -> bool:
        if user.is_admin:
            return True
        if action is Action.VIEW:
            if user.role in READERS:
                return True
            if user.role is Role.COMMISSIONER and meeting.id is not None:
                return bool(db.session.scalar(sa.select(sa.exists().where(
                    Meeting.id == meeting.id, Meeting.id.in_(_commissioner_meeting_ids(user))))))
            return False
        if action is Action.EDIT and user.role in KEEPERS:
            return user.county_id is None or meeting.created_by_id == user.id
        return False

    def where(self, user: Any, action: Action) -> Condition:
        if user.is_admin:
            return None
        if action is Action.VIEW:
            if user.role in READERS:
                return None
            if user.role is Role.COMMISSIONER:
                return Meeting.id.in_(_commissioner_meeting_ids(user))
            return sa.false()
        if action is Action.EDIT and user.role in KEEPERS:
            return None if user.county_id is None else Meeting.created_by_id == user.id
        return sa.false()


class PartnerRule:
    """Everyone signed in reads the catalogue; admins and coordinators keep it."""

    def can(self, user: Any, action: Action, partner: Partner) -> bool:
        return self.where(user, action) is None

    def where(self, user: Any, action: Action) -> Condition:
        if action is Action.VIEW or user.is_admin:
            return None
        if action is Action.EDIT and user.role in KEEPERS:
            return None
        return sa.false()


class OwnFeed:
    def can(self, user: Any, action: Action, token: CalendarFeedToken) -> bool:
        return action in (Action.VIEW, Action.EDIT) and token.user_id == user.id

    def where(self, user: Any, action: Action) -> Condition:
        if action not in (Action.VIEW, Action.EDIT):
            return sa.false()
        return CalendarFeedToken.user_id == user.id


def may_plan(user: Any) -> bool:
    """Whether the user creates meetings at all (the 新建会议 button); each meeting's own rule then decides."""
    return access.can(user, Action.CREATE) and getattr(user, "role", None) in (Role.ADMIN, *KEEPERS)


def may_keep_partners(user: Any) -> bool:
    return access.can(user, Action.CREATE) and getattr(user, "role", None) in (Role.ADMIN, *KEEPERS)


access.register(Meeting, MeetingRule())
access.register(Partner, PartnerRule())
access.register(CalendarFeedToken, OwnFeed())
for _model in (MeetingEnterprise, MeetingPartner, MeetingOfficial, MeetingAgreement, MeetingFollowUp):
    access.register(_model, Through("meeting", Meeting, _model.meeting_id))
