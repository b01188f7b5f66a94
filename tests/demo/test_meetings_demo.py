"""``seed-demo``'s meetings (crm/demo/meetings.py): last year's programme held with the 成渝 area (participants,
agreements that became supply links, follow-up 诉求, one cancelled), this year's so far, the coming months' plan
with the leader on it, all audited, on working days, and a second run that changes nothing.

Like tests/demo/test_service_demo.py: the seed runs twice through the CLI into a fresh database made by the
migrations, once for this module; the tests read that database inside its own app context.
"""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from crm.auth.models import User
from crm.core.access import Action, can
from crm.core.audit import AuditLog
from crm.core.time import SHANGHAI, local_today, utcnow
from crm.demo.meetings import LAST_YEAR, MARK, PLAN, SERVICE_STORY_DAYS
from crm.enterprises.models import EnterprisePartner
from crm.extensions import db
from crm.holidays.workdays import is_working_day
from crm.meetings import domain
from crm.meetings.models import (
    Meeting,
    MeetingAgreement,
    MeetingFollowUp,
    MeetingKind,
    MeetingOfficial,
    MeetingStatus,
)
from crm.service.models import Assignment, Channel, RequestStatus, ServiceRequest
from tests.conftest import own_database

MODELS = (Meeting, MeetingAgreement, MeetingFollowUp, MeetingOfficial, ServiceRequest, EnterprisePartner, AuditLog)
REQUIRED = [MeetingKind.SUPPLY_DEMAND, MeetingKind.ENTREPRENEUR_FORUM, MeetingKind.SUPPLY_CHAIN]


def _counts() -> dict[str, int]:
    return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in MODELS}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    with own_database(tmp_path_factory, "meetingsdemo", reference_data=False) as application:
        runner = application.test_cli_runner()
        first = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_first = _counts()
        second = runner.invoke(args=["seed-demo"])
        with application.app_context():
            after_second = _counts()
        yield SimpleNamespace(app=application, first=first, second=second, after_first=after_first,
                              after_second=after_second)


@pytest.fixture
def ctx(seeded):
    with seeded.app.app_context():
        yield seeded


def _user(username: str) -> User:
    return db.session.scalar(sa.select(User).where(User.username == username))


def _meetings(year: int | None = None) -> list[Meeting]:
    stmt = sa.select(Meeting).order_by(Meeting.starts_at, Meeting.id)
    if year is not None:
        start, end = domain.year_bounds(year)
        stmt = stmt.where(Meeting.starts_at >= start, Meeting.starts_at < end)
    return list(db.session.scalars(stmt))


def _local_day(meeting: Meeting):
    return meeting.starts_at.astimezone(SHANGHAI).date()


def test_the_meetings_load_once(seeded):
    assert seeded.first.exit_code == 0, seeded.first.output
    assert seeded.after_first["Meeting"] >= len(LAST_YEAR) + len(PLAN)
    assert seeded.second.exit_code == 0, seeded.second.output
    assert "本次未作改动" in seeded.second.output
    assert seeded.after_second == seeded.after_first


def test_every_demo_meeting_is_marked_and_audited(ctx):
    meetings = _meetings()
    assert all(m.agenda.endswith(MARK) for m in meetings)
    assert all(m.created_by_id is None for m in meetings)  # the loader, as the rest of seed-demo
    rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "meeting")).all()
    created = [r for r in rows if r.action == "create"]
    assert sorted(a.entity_id for a in created) == sorted(m.id for m in meetings)
    assert {r.action for r in rows} >= {"create", "participants", "agreement", "follow_up", "cancel"}
    # The system plans; a follow-up is raised by the commissioner who serves the enterprise.
    assert {r.actor_id for r in rows if r.action != "follow_up"} == {None}
    follow_up_actors = {r.actor_id for r in rows if r.action == "follow_up"}
    assert None not in follow_up_actors
    assert {u.role.value for u in db.session.scalars(sa.select(User).where(User.id.in_(follow_up_actors)))} == {
        "commissioner"}


def test_last_year_each_required_kind_was_held_with_the_chengyu_area(ctx):
    last_year = local_today().year - 1
    meetings = _meetings(last_year)
    assert len(meetings) == len(LAST_YEAR)
    rule = domain.yearly_rule(last_year, REQUIRED)
    assert [row.state for row in rule] == ["held"] * 3
    held = [m for m in meetings if m.status is MeetingStatus.HELD]
    assert {m.kind for m in held} == set(MeetingKind)
    assert {m.city for m in held} >= {"重庆", "成都"}
    assert any(not domain.in_chengyu_city(m.city) and m.partner_links for m in held)  # counts through partners
    for meeting in held:
        assert meeting.enterprise_links and meeting.partner_links and meeting.official_links
        assert meeting.outcome_summary
        assert "leader" in {u.username for u in meeting.officials}
    [cancelled] = [m for m in meetings if m.status is MeetingStatus.CANCELLED]
    assert cancelled.cancel_reason and cancelled.kind is MeetingKind.SUPPLY_CHAIN


def test_meetings_land_on_working_days_except_the_one_confirmed_on_a_weekend(ctx):
    off = [m for m in _meetings() if not is_working_day(_local_day(m))]
    assert [(m.kind, _local_day(m).weekday()) for m in off] == [(MeetingKind.OTHER, 5)]
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "meeting",
                                                        AuditLog.entity_id == off[0].id,
                                                        AuditLog.action == "create"))
    assert audit is not None


def test_agreements_became_supply_links_of_the_participants(ctx):
    agreements = db.session.scalars(sa.select(MeetingAgreement)).all()
    assert len(agreements) >= 6
    links = {(link.enterprise_id, link.partner_id) for link in db.session.scalars(sa.select(EnterprisePartner))}
    for agreement in agreements:
        meeting = agreement.meeting
        assert meeting.status is MeetingStatus.HELD
        assert agreement.enterprise_id in {link.enterprise_id for link in meeting.enterprise_links}
        assert agreement.partner_id in {link.partner_id for link in meeting.partner_links}
        assert (agreement.enterprise_id, agreement.partner_id) in links
        assert agreement.amount and agreement.amount > 0
    assert {a.kind.value for a in agreements} >= {"采购", "配套", "合作"}


def test_follow_ups_are_requests_owned_by_the_enterprises_commissioner(ctx):
    follow_ups = db.session.scalars(sa.select(MeetingFollowUp)).all()
    assert len(follow_ups) >= 3
    statuses = set()
    for follow_up in follow_ups:
        req = follow_up.request
        meeting = follow_up.meeting
        assert req.enterprise_id in {link.enterprise_id for link in meeting.enterprise_links}
        assert req.description.endswith(MARK)
        assert req.owner is not None and req.owner.role.value == "commissioner"
        assert db.session.scalar(sa.select(Assignment.id).where(
            Assignment.enterprise_id == req.enterprise_id, Assignment.commissioner_id == req.owner_id,
            Assignment.ended_on.is_(None))) is not None
        assert req.raised_on == meeting.ends_at.astimezone(SHANGHAI).date()
        assert (local_today() - req.raised_on).days <= SERVICE_STORY_DAYS  # within the service story's year
        assert req.created_by_id == req.owner_id and req.department is not None
        talk = req.interaction  # the conversation at the meeting, logged by the commissioner
        assert talk.channel is Channel.MEETING and talk.occurred_on == req.raised_on
        assert talk.created_by_id == req.owner_id and meeting.title in talk.summary
        times = [event.at for event in req.events]
        assert times == sorted(times) and times[-1] <= utcnow()
        statuses.add(req.status)
        if req.status is RequestStatus.CLOSED:
            assert req.satisfaction == 5
    assert RequestStatus.CLOSED in statuses


def test_the_coming_months_fill_a_leaders_calendar(ctx):
    leader = _user("leader")
    now = utcnow()
    coming = list(db.session.scalars(domain.meetings_statement(leader, start=now, end=now + timedelta(days=130))))
    assert len(coming) == len(PLAN)
    assert all(m.status in (MeetingStatus.PLANNED, MeetingStatus.CONFIRMED) for m in coming)
    assert {m.status for m in coming} == {MeetingStatus.PLANNED, MeetingStatus.CONFIRMED}
    assert _local_day(coming[0]) <= local_today() + timedelta(days=14)
    assert _local_day(coming[-1]) >= local_today() + timedelta(days=90)
    with_leader = [m for m in coming if leader in m.officials]
    assert len(with_leader) >= len(PLAN) - 1
    assert all(can(leader, Action.VIEW, m) and not can(leader, Action.EDIT, m) for m in coming)
    # The people a reminder would reach: the leader, and the commissioners of the enterprises taking part.
    busy = next(m for m in with_leader if m.enterprise_links)
    people = domain.audience(busy)
    assert leader in people and any(u.role.value == "commissioner" for u in people)
