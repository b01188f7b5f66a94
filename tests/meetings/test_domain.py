"""The meeting rules: working days, versions, cancellation, participants, outcomes, the yearly rule, audit."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, ValidationFailed
from crm.enterprises.models import EnterprisePartner
from crm.extensions import db
from crm.meetings import domain
from crm.meetings.models import MeetingKind, MeetingStatus
from crm.notifications.models import Notification, NotificationKind
from crm.rosters.models import RosterKind
from crm.service.models import ServiceRequest
from tests.conftest import assign, make_enterprise, make_user
from tests.meetings.factories import at, load_holidays, make_meeting, partner
from tests.rosters.factories import published_edition


def _data(**extra):
    base = {"kind": "supply_demand", "title": "产销对接会", "starts_at": "2026-07-01T09:00:00+08:00",
            "ends_at": "2026-07-01T12:00:00+08:00", "city": "重庆", "venue": "会展中心"}
    return {**base, **extra}


# --- working days ----------------------------------------------------------------------------------------------

def test_a_meeting_on_a_statutory_holiday_is_refused_naming_it():
    load_holidays(2026)
    with pytest.raises(ValidationFailed) as err:
        domain.create_meeting(None, _data(starts_at="2026-10-02 09:00", ends_at="2026-10-02 11:00"))
    assert "2026-10-02" in err.value.fields["starts_at"] and "国庆节" in err.value.fields["starts_at"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.entity_type == "meeting")) == 0


def test_a_make_up_workday_is_accepted_and_a_plain_weekend_refused():
    load_holidays(2026)
    saved = domain.create_meeting(None, _data(starts_at="2026-10-10 09:00", ends_at="2026-10-10 11:00"))  # a Saturday
    assert saved.meeting.id and saved.warnings == []
    with pytest.raises(ValidationFailed) as err:
        domain.create_meeting(None, _data(starts_at="2026-10-17 09:00", ends_at="2026-10-17 11:00"))
    assert "周六" in err.value.fields["starts_at"] and "调休" in err.value.fields["starts_at"]


def test_an_explicit_confirmation_allows_a_non_working_day_and_says_so():
    load_holidays(2026)
    saved = domain.create_meeting(None, _data(starts_at="2026-10-01 09:00", ends_at="2026-10-01 11:00",
                                              allow_non_working_day=True))
    assert saved.meeting.id
    assert any("国庆节" in w for w in saved.warnings)


def test_a_year_without_holiday_data_counts_monday_to_friday_and_says_so():
    saved = domain.create_meeting(None, _data(starts_at="2031-03-04 09:00", ends_at="2031-03-04 11:00"))
    assert any("2031年节假日安排尚未录入" in w for w in saved.warnings)
    with pytest.raises(ValidationFailed):
        domain.create_meeting(None, _data(starts_at="2031-03-08 09:00", ends_at="2031-03-08 11:00"))  # a Saturday


@pytest.mark.parametrize(("field", "value"), [
    ("kind", "banquet"), ("title", ""), ("starts_at", "tomorrow"), ("ends_at", "2026-07-01T08:00:00+08:00"),
    ("city", ""), ("department", "不存在的局"), ("status", "cancelled"), ("title", "长" * 201),
    ("starts_at", "2026-07-01"), ("ends_at", "2026-07-20T09:00:00+08:00"),
])
def test_bad_input_is_refused_on_its_field(field, value):
    with pytest.raises(ValidationFailed) as err:
        domain.create_meeting(None, _data(**{field: value}))
    assert field in err.value.fields


def test_a_local_time_without_offset_is_shanghai_time():
    saved = domain.create_meeting(None, _data(starts_at="2026-07-01 09:00", ends_at="2026-07-01 10:00"))
    db.session.expire_all()
    assert saved.meeting.starts_at == at("2026-07-01 09:00")


# --- editing -----------------------------------------------------------------------------------------------------

def test_a_stale_version_is_refused_and_nothing_is_written():
    meeting = make_meeting()
    stale = meeting.version
    domain.update_meeting(None, meeting, {"title": "第一次修改"}, version=stale)
    with pytest.raises(Conflict) as err:
        domain.update_meeting(None, meeting, {"title": "第二次修改"}, version=stale)
    assert err.value.code == "stale"
    assert meeting.title == "第一次修改"


def test_each_change_raises_the_sequence_and_is_audited_old_to_new():
    meeting = make_meeting(title="旧名称")
    before = meeting.sequence
    domain.update_meeting(None, meeting, {"title": "新名称"})
    assert meeting.sequence == before + 1
    row = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "meeting",
                                                      AuditLog.action == "update"))
    assert row.changes["title"] == ["旧名称", "新名称"]
    domain.update_meeting(None, meeting, {"title": "新名称"})  # nothing changed: nothing raised
    assert meeting.sequence == before + 1


def test_a_new_time_tells_the_officials_and_the_commissioners_at_once():
    firm = make_enterprise()
    commissioner, official = make_user("commissioner", specialties=["tech"]), make_user("leader")
    assign(firm, commissioner)
    meeting = make_meeting(enterprises=[firm], officials=[official])
    domain.update_meeting(None, meeting, {"starts_at": "2026-07-02 09:00", "ends_at": "2026-07-02 11:00"})
    told = set(db.session.scalars(sa.select(Notification.user_id).where(
        Notification.kind == NotificationKind.MEETING_CHANGED)))
    assert told == {commissioner.id, official.id}


def test_held_needs_a_start_in_the_past_and_cannot_go_back():
    future = make_meeting(starts="2030-07-01 09:00")
    with pytest.raises(ValidationFailed) as err:
        domain.update_meeting(None, future, {"status": "held"})
    assert "尚未开始" in err.value.fields["status"]
    held = make_meeting(starts="2025-07-01 09:00", status="held")
    with pytest.raises(ValidationFailed):
        domain.update_meeting(None, held, {"status": "planned"})


def test_cancelling_keeps_the_meeting_tells_everyone_and_is_final():
    official = make_user("coordinator")
    meeting = make_meeting(officials=[official])
    with pytest.raises(ValidationFailed):
        domain.cancel_meeting(None, meeting, "  ")
    domain.cancel_meeting(None, meeting, "改期")
    assert meeting.status is MeetingStatus.CANCELLED and meeting.cancel_reason == "改期"
    assert db.session.scalar(sa.select(Notification).where(
        Notification.user_id == official.id, Notification.kind == NotificationKind.MEETING_CANCELLED))
    with pytest.raises(Conflict):
        domain.cancel_meeting(None, meeting, "再取消")
    with pytest.raises(Conflict):
        domain.update_meeting(None, meeting, {"title": "取消后修改"})


# --- participants ----------------------------------------------------------------------------------------------

def test_participants_replace_the_sets_given_and_keep_the_others():
    a, b = make_enterprise(), make_enterprise()
    official = make_user("leader")
    meeting = make_meeting(enterprises=[a], partners=[partner()], officials=[official])
    domain.set_participants(None, meeting, {"enterprises": [b.id]})
    assert [e.id for e in meeting.enterprises] == [b.id]
    assert [p.name for p in meeting.partners] == [partner().name]
    assert meeting.officials == [official]


def test_unknown_participants_are_refused_per_set():
    meeting = make_meeting()
    with pytest.raises(ValidationFailed) as err:
        domain.set_participants(None, meeting, {"enterprises": [999999], "partners": ["x"],
                                                "officials": ["nobody", "nul\x00name"]})
    assert set(err.value.fields) == {"enterprises", "partners", "officials"}


def test_a_county_coordinator_cannot_book_or_see_enterprises_outside_their_county():
    own, foreign = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    coordinator = make_user("coordinator", county="汇川区")
    meeting = make_meeting(coordinator, enterprises=[])
    with pytest.raises(ValidationFailed) as err:
        domain.set_participants(coordinator, meeting, {"enterprises": [own.id, foreign.id]})
    assert str(foreign.id) in err.value.fields["enterprises"] and foreign.name not in err.value.fields["enterprises"]
    # an enterprise booked by the city stays when the county coordinator saves their own choice
    domain.set_participants(None, meeting, {"enterprises": [foreign.id]})
    domain.set_participants(coordinator, meeting, {"enterprises": [own.id]})
    assert {e.id for e in meeting.enterprises} == {own.id, foreign.id}


def test_an_official_booked_into_two_overlapping_meetings_gets_a_warning():
    official = make_user("leader")
    make_meeting(title="上午会", starts="2026-07-01 09:00", hours=3, officials=[official])
    second = make_meeting(title="同时段", starts="2026-07-01 10:00", hours=1)
    saved = domain.set_participants(None, second, {"officials": [official.username]})
    assert any("上午会" in w for w in saved.warnings)
    later = make_meeting(title="下午会", starts="2026-07-01 14:00", hours=1)
    assert domain.set_participants(None, later, {"officials": [official.username]}).warnings == []


def test_inviting_a_list_adds_its_published_entries_filtered_by_county():
    hc, tz, off_list = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县"), make_enterprise()
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [hc, tz])
    meeting = make_meeting()
    assert domain.invite_list(None, meeting, "supplier_list", county="汇川区") == 1
    assert domain.invite_list(None, meeting, "supplier_list") == 1  # 桐梓县 added, 汇川区 not twice
    assert {e.id for e in meeting.enterprises} == {hc.id, tz.id}
    assert off_list.id not in {e.id for e in meeting.enterprises}
    assert "配套企业名单" in meeting.enterprise_links[0].invited_via
    with pytest.raises(ValidationFailed):
        domain.invite_list(None, meeting, "cultivation_pool")  # nothing published yet


# --- outcomes --------------------------------------------------------------------------------------------------

def test_agreements_need_a_held_meeting():
    firm = make_enterprise()
    meeting = make_meeting(starts="2030-07-01 09:00", enterprises=[firm])
    with pytest.raises(Conflict):
        domain.add_agreement(None, meeting, {"enterprise_id": firm.id, "partner_id": partner().id, "kind": "采购"})


def test_an_agreement_becomes_a_supply_link_on_the_enterprise():
    firm = make_enterprise()
    seres = partner("赛力斯集团股份有限公司")
    meeting = make_meeting(starts="2025-07-01 09:00", status="held", enterprises=[firm], city="遵义")
    agreement = domain.add_agreement(None, meeting, {"enterprise_id": firm.id, "partner_id": seres.id,
                                                     "kind": "配套", "amount": "1200.50"})
    assert agreement.amount == Decimal("1200.50")
    link = db.session.scalar(sa.select(EnterprisePartner).where(EnterprisePartner.enterprise_id == firm.id))
    assert link.partner_id == seres.id and "配套协议" in link.supplies
    assert seres in meeting.partners  # the partner signed there, so it took part
    assert domain.counts_with_chengyu(meeting)
    # a second agreement with the same pair adds no second link
    domain.add_agreement(None, meeting, {"enterprise_id": firm.id, "partner_id": seres.id, "kind": "采购"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EnterprisePartner)
                             .where(EnterprisePartner.enterprise_id == firm.id)) == 1


@pytest.mark.parametrize(("field", "value"), [("kind", "赠送"), ("amount", "-1"), ("amount", "abc"),
                                              ("amount", "1.234"), ("partner_id", 999999),
                                              ("enterprise_id", 999999)])
def test_bad_agreements_are_refused_on_their_field(field, value):
    firm = make_enterprise()
    meeting = make_meeting(starts="2025-07-01 09:00", status="held", enterprises=[firm])
    data = {"enterprise_id": firm.id, "partner_id": partner().id, "kind": "采购", field: value}
    with pytest.raises(ValidationFailed) as err:
        domain.add_agreement(None, meeting, data)
    assert field in err.value.fields


def test_a_follow_up_request_lands_in_the_ledger_linked_to_the_meeting():
    firm, other = make_enterprise(), make_enterprise()
    meeting = make_meeting(starts="2025-07-01 09:00", status="held", enterprises=[firm])
    req = domain.raise_follow_up(None, meeting, {"enterprise_id": firm.id, "category": "用地",
                                                 "description": "扩产用地"})
    assert db.session.get(ServiceRequest, req.id).enterprise_id == firm.id
    assert [f.request_id for f in meeting.follow_ups] == [req.id]
    assert req.raised_on.isoformat() == "2025-07-01"
    with pytest.raises(ValidationFailed):
        domain.raise_follow_up(None, meeting, {"enterprise_id": other.id, "category": "用地", "description": "x"})


# --- the yearly rule -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("city", "expected"), [("成都", True), ("重庆市渝北区", True), ("四川省绵阳市", True),
                                                ("宜宾", True), ("遵义", False), ("贵阳", False), ("", False)])
def test_the_chengyu_area(city, expected):
    assert domain.in_chengyu_city(city) is expected


def test_the_yearly_rule_counts_held_and_planned_meetings_with_the_chengyu_area():
    make_meeting(kind="supply_demand", starts="2025-05-06 09:00", status="held", city="重庆")
    make_meeting(kind="entrepreneur_forum", starts="2025-05-07 09:00", status="held", city="遵义")  # no 成渝 firm
    make_meeting(kind="entrepreneur_forum", starts="2025-11-04 09:00", city="遵义", partners=[partner()])
    cancelled = make_meeting(kind="supply_chain", starts="2025-06-03 09:00", city="成都")
    domain.cancel_meeting(None, cancelled, "取消")
    rows = {row.kind: row for row in domain.yearly_rule(2025)}
    assert rows[MeetingKind.SUPPLY_DEMAND].state == "held"
    assert rows[MeetingKind.ENTREPRENEUR_FORUM].state == "planned"  # the 遵义 one with a partner counts
    assert len(rows[MeetingKind.ENTREPRENEUR_FORUM].not_counting) == 1
    assert rows[MeetingKind.SUPPLY_CHAIN].state == "missing"  # cancelled never counts
    assert domain.kinds_planned(2025) == {MeetingKind.SUPPLY_DEMAND, MeetingKind.ENTREPRENEUR_FORUM}


def test_the_required_kinds_are_a_setting(app):
    app.config["MEETING_REQUIRED_KINDS"] = "supply_chain, other"
    try:
        assert domain.required_kinds() == [MeetingKind.SUPPLY_CHAIN, MeetingKind.OTHER]
        app.config["MEETING_REQUIRED_KINDS"] = "banquet"
        with pytest.raises(ValueError, match="banquet"):
            domain.required_kinds()
    finally:
        app.config.pop("MEETING_REQUIRED_KINDS", None)
    assert domain.required_kinds() == list(domain.DEFAULT_REQUIRED_KINDS)


def test_the_audience_is_officials_and_active_commissioners_of_the_enterprises():
    firm = make_enterprise()
    active, gone = make_user("commissioner", specialties=["tech"]), make_user("commissioner", specialties=["legal"])
    assign(firm, active)
    assign(firm, gone, "legal").ended_on = at("2026-01-02 00:00").date()
    official = make_user("leader")
    meeting = make_meeting(enterprises=[firm], officials=[official])
    assert {u.id for u in domain.audience(meeting)} == {active.id, official.id}
    assert meeting.ends_at - meeting.starts_at == timedelta(hours=3)


def test_the_yearly_rule_counted_in_sql_equals_the_direct_count_of_its_meetings():
    """yearly_rule groups in SQL and loads only the meetings its card names (issue 11): its figures and state
    equal counting every meeting of the year one by one, and it names the first RULE_SHOWN of each side."""
    cities = ["重庆", "重庆市渝北区", "四川省绵阳市", "成都", "遵义", "贵阳", "上海", "宜宾市"]
    statuses = ["held", None, "confirmed", "held", None]
    made = []
    for n in range(40):
        kind = ("supply_demand", "entrepreneur_forum", "supply_chain", "other")[n % 4]
        day = f"2025-{1 + n % 11:02d}-{3 + n % 20:02d} {9 + n % 8:02d}:00"
        made.append(make_meeting(kind=kind, starts=day, status=statuses[n % 5], city=cities[n % 8],
                                 partners=[partner()] if n % 7 == 0 else ()))
    for meeting in [m for m in made if m.status is not MeetingStatus.HELD][::4]:
        domain.cancel_meeting(None, meeting, "取消")
    make_meeting(kind="supply_demand", starts="2026-01-05 09:00", city="重庆")  # another year
    rows = domain.yearly_rule(2025, list(MeetingKind))
    in_year = [m for m in made if m.status is not MeetingStatus.CANCELLED]
    for row in rows:
        of_kind = sorted((m for m in in_year if m.kind is row.kind),
                         key=lambda m: (m.status is not MeetingStatus.HELD, m.starts_at, m.id))
        counting = [m for m in of_kind if domain.counts_with_chengyu(m)]
        not_counting = [m for m in of_kind if not domain.counts_with_chengyu(m)]
        held = [m for m in counting if m.status is MeetingStatus.HELD]
        assert (row.counting_total, row.not_counting_total, row.held_total) == (
            len(counting), len(not_counting), len(held)), row.kind
        assert row.state == ("held" if held else "planned" if counting else "missing")
        assert [m.id for m in row.counting] == [m.id for m in counting[:domain.RULE_SHOWN]]
        assert [m.id for m in row.not_counting] == [m.id for m in not_counting[:domain.RULE_SHOWN]]
        for shown, meeting in zip(row.counting + row.not_counting,
                                  counting[:domain.RULE_SHOWN] + not_counting[:domain.RULE_SHOWN], strict=True):
            assert row.reason(shown) == domain.chengyu_reason(meeting)
            assert (shown.title, shown.starts_at, shown.status) == (meeting.title, meeting.starts_at, meeting.status)
        assert row.more == len(of_kind) - len(row.counting) - len(row.not_counting)
    assert sum(r.counting_total + r.not_counting_total for r in rows) == len(in_year)
    assert {r.state for r in rows} >= {"held"}
