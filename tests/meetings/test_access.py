"""The meetings a commissioner reads: the rule's SQL condition (correlated EXISTS, crm/meetings/access.py) keeps
the meaning of the union it replaced, for lists, single meetings and the rows judged through their meeting."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from crm.core.access import Action, can, scope
from crm.extensions import db
from crm.meetings.models import Meeting, MeetingEnterprise, MeetingOfficial
from crm.service.models import Assignment
from tests.conftest import assign, make_enterprise, make_user
from tests.meetings.factories import make_meeting


def _union_rule(user) -> set[int]:
    """The former definition, written out: the meetings of the user's actively assigned enterprises, UNION those
    they are booked into as an official."""
    assigned = sa.select(Assignment.enterprise_id).where(Assignment.commissioner_id == user.id,
                                                         Assignment.ended_on.is_(None))
    ids = sa.union(sa.select(MeetingEnterprise.meeting_id).where(MeetingEnterprise.enterprise_id.in_(assigned)),
                   sa.select(MeetingOfficial.meeting_id).where(MeetingOfficial.user_id == user.id))
    return set(db.session.scalars(sa.select(Meeting.id).where(Meeting.id.in_(ids))))


def test_a_commissioner_reads_the_meetings_of_their_enterprises_and_those_they_are_booked_into():
    commissioner = make_user("commissioner", specialties=["tech"])
    colleague = make_user("commissioner", specialties=["legal"])
    mine, also_mine, other, handed_over = make_enterprise(), make_enterprise(), make_enterprise(), make_enterprise()
    assign(mine, commissioner)
    assign(also_mine, commissioner, "legal")
    assign(other, colleague, "legal")
    assign(handed_over, commissioner).ended_on = date(2026, 3, 1)  # ended: no longer theirs
    assign(handed_over, colleague, "legal")
    db.session.flush()
    seen = {
        "mine": make_meeting(title="mine", enterprises=[mine, other]),
        "both mine": make_meeting(title="both", enterprises=[mine, also_mine]),
        "official": make_meeting(title="official", officials=[commissioner]),
        "official and mine": make_meeting(title="official+mine", enterprises=[also_mine], officials=[commissioner]),
    }
    refused = {
        "other": make_meeting(title="other", enterprises=[other]),
        "handed over": make_meeting(title="handed", enterprises=[handed_over]),
        "a colleague's booking": make_meeting(title="colleague", enterprises=[other], officials=[colleague]),
        "nobody": make_meeting(title="nobody"),
    }
    expected = {m.id for m in seen.values()}
    listed = set(db.session.scalars(scope(commissioner, Meeting, sa.select(Meeting.id), Action.VIEW)))
    assert listed == expected == _union_rule(commissioner)
    for name, meeting in seen.items():
        assert can(commissioner, Action.VIEW, meeting), name
    for name, meeting in refused.items():
        assert not can(commissioner, Action.VIEW, meeting), name
        assert not can(commissioner, Action.EDIT, meeting), name
    # the colleague: theirs, by their enterprises (the handed-over one is now theirs) and their booking
    assert (set(db.session.scalars(scope(colleague, Meeting, sa.select(Meeting.id), Action.VIEW)))
            == {seen["mine"].id, refused["other"].id, refused["handed over"].id, refused["a colleague's booking"].id}
            == _union_rule(colleague))
    # rows judged through their meeting (Through): a participant row of a refused meeting is refused
    rows = set(db.session.execute(scope(commissioner, MeetingEnterprise, sa.select(
        MeetingEnterprise.meeting_id, MeetingEnterprise.enterprise_id), Action.VIEW)))
    assert {meeting_id for meeting_id, _ in rows} == expected - {seen["official"].id}
    assert (other.id, seen["mine"].id) in {(e, m) for m, e in rows}


def test_the_condition_correlates_on_the_meeting_in_a_statement_that_joins_the_participants():
    """Joined to meeting_enterprises and assignments itself, a statement keeps its own rows: the rule's EXISTS
    correlates on ``meetings`` only."""
    commissioner = make_user("commissioner", specialties=["tech"])
    mine, other = make_enterprise(), make_enterprise()
    assign(mine, commissioner)
    meeting = make_meeting(title="mine", enterprises=[mine, other])
    make_meeting(title="other", enterprises=[other])  # refused, though the statement reads its rows too
    stmt = (sa.select(Meeting.id, MeetingEnterprise.enterprise_id)
            .join(MeetingEnterprise, MeetingEnterprise.meeting_id == Meeting.id)
            .outerjoin(Assignment, Assignment.enterprise_id == MeetingEnterprise.enterprise_id))
    assert set(db.session.execute(scope(commissioner, Meeting, stmt, Action.VIEW))) == {
        (meeting.id, mine.id), (meeting.id, other.id)}
