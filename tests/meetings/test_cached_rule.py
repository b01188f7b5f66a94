"""The yearly rule's rows kept under the data version ``meetings`` (crm/core/cache.py; the seventh provincial-scale
pass): with real commits on a database of the module's own, a second view while nothing changed reads no meeting
(PostgreSQL); a committed change of a meeting or of its partners shows at the next view and equals the rule
computed with nothing kept. On SQLite nothing is kept and the rule is the same."""

from __future__ import annotations

import sqlalchemy as sa

from crm.core import cache
from crm.extensions import db
from crm.meetings import domain
from crm.meetings.models import Meeting, MeetingKind, MeetingPartner
from tests.conftest import counting_queries
from tests.meetings.factories import make_meeting, partner

YEAR = 2027


def _rule() -> dict[MeetingKind, tuple[str, int, int, tuple[int, ...]]]:
    return {row.kind: (row.state, row.counting_total, row.not_counting_total,
                       tuple(m.id for m in row.counting + row.not_counting))
            for row in domain.yearly_rule(YEAR)}


def _look() -> tuple[dict, list[str]]:
    db.session.commit()  # a new transaction: what others committed is visible
    with counting_queries() as queries:
        value = _rule()
    return value, [s for s in queries.statements if "FROM meetings" in s]


def _uncached() -> dict:
    db.session.commit()
    cache.clear()
    return _rule()


def test_the_rule_is_kept_until_a_meeting_or_its_partners_change(committed):
    meeting = make_meeting(kind="supply_demand", title="遵义计划产销对接会", starts=f"{YEAR}-03-02 09:00",
                           city="遵义")
    db.session.commit()
    cache.clear()
    first, read = _look()
    assert read  # computed
    assert first[MeetingKind.SUPPLY_DEMAND][:3] == ("missing", 0, 1)  # in Zunyi with no 成渝 firm: not counting
    again, read_again = _look()
    assert again == first
    if cache.enabled():
        assert read_again == []  # served
    else:
        assert read_again  # SQLite: computed again

    # a 成渝 partner joins (meeting_partners): the meeting counts now
    db.session.add(MeetingPartner(meeting_id=meeting.id, partner_id=partner().id))
    db.session.commit()
    with_partner, read = _look()
    assert read and with_partner[MeetingKind.SUPPLY_DEMAND][:3] == ("planned", 1, 0)
    assert with_partner == _uncached()

    # the meeting is cancelled by a statement of its own (any path moves the version): it no longer counts
    _look()
    db.session.execute(sa.update(Meeting).where(Meeting.id == meeting.id).values(status="cancelled"))
    db.session.commit()
    cancelled, read = _look()
    assert read and cancelled[MeetingKind.SUPPLY_DEMAND][:3] == ("missing", 0, 0)
    assert cancelled == _uncached()
