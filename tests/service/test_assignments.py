"""Assignment rules (issue 4, point 2): one active commissioner per enterprise and specialty, handover history,
the suggestion and its cap, bulk assignment, assignments ended at publish, and who may assign."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from crm.auth.models import Specialty
from crm.core import cache
from crm.core.access import Action, can
from crm.core.audit import AuditLog
from crm.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.notifications.models import Notification
from crm.rosters import domain as rosters
from crm.rosters.models import RosterKind
from crm.service import assignments as domain
from crm.service import coverage
from crm.service.models import Assignment
from tests.conftest import assign, make_enterprise, make_user
from tests.rosters.factories import published_edition

TECH, FINANCE = Specialty.TECH, Specialty.FINANCE
SUPPLIER, POOL = RosterKind.SUPPLIER_LIST, RosterKind.CULTIVATION_POOL


# --- helpers -------------------------------------------------------------------------------------------------

def commissioner(*specialties: str, county: str | None = None, username: str | None = None):
    return make_user("commissioner", specialties=list(specialties) or ["tech"], county=county, username=username)


def notices(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def audit_rows(enterprise) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.enterprise_id == enterprise.id, AuditLog.entity_type == "assignment").order_by(AuditLog.id)))


def rows_of(enterprise, specialty=None) -> list[Assignment]:
    stmt = sa.select(Assignment).where(Assignment.enterprise_id == enterprise.id).order_by(Assignment.id)
    if specialty is not None:
        stmt = stmt.where(Assignment.specialty == specialty)
    return list(db.session.scalars(stmt))


def fill(user, n: int, specialty: str = "tech") -> None:
    """Give ``user`` n active assignments (on fresh enterprises), straight into the table."""
    for _ in range(n):
        assign(make_enterprise(), user, specialty)


def republish(kind: RosterKind, period: str, *, remove=(), add=()):
    edition = rosters.open_edition(None, kind, period)
    for enterprise in remove:
        rosters.remove_entry(None, edition, enterprise, "不再符合条件")
    for enterprise in add:
        rosters.add_entry(None, edition, enterprise, "新入库")
    rosters.submit(None, edition)
    rosters.publish(None, edition)
    return edition


@pytest.fixture
def city():
    return make_user("coordinator")


@pytest.fixture
def cap(app, monkeypatch):
    def set_cap(n: int) -> None:
        monkeypatch.setitem(app.config, "ASSIGNMENT_CAP", n)
    return set_cap


# --- assign, one active per specialty, handover ----------------------------------------------------------------

def test_assign_creates_the_active_assignment_audits_and_notifies(city):
    ent = make_enterprise()
    zhang = make_user("commissioner", username="zhangtech", specialties=["tech"])
    row = domain.assign(city, ent, "tech", zhang)
    assert (row.specialty, row.commissioner_id, row.started_on, row.ended_on) == (TECH, zhang.id, local_today(), None)
    [entry] = audit_rows(ent)
    assert entry.action == "create" and entry.actor_id == city.id
    assert entry.changes["specialty"] == [None, "科技"]
    assert entry.changes["commissioner"] == [None, "zhangtech(zhangtech)"]
    assert "分配科技服务专员" in entry.summary
    [notice] = notices(zhang)
    assert notice.kind == "assignment" and ent.name in notice.title and notice.link == f"/enterprises/{ent.id}"


def test_the_same_commissioner_again_changes_nothing(city):
    ent = make_enterprise()
    zhang = commissioner("tech")
    first = domain.assign(city, ent, TECH, zhang)
    again = domain.assign(city, ent, TECH, zhang)
    assert again.id == first.id
    assert len(rows_of(ent)) == 1 and len(audit_rows(ent)) == 1 and len(notices(zhang)) == 1


def test_handover_ends_the_old_one_keeps_history_and_tells_both(city):
    ent = make_enterprise()
    old, new = commissioner("tech"), commissioner("tech")
    first = assign(ent, old)  # started 2026-01-01
    second = domain.assign(city, ent, "科技", new)
    assert first.ended_on == local_today() and first.end_reason == "交接"
    assert second.ended_on is None and second.started_on == local_today()
    assert [a.id for a in domain.history(ent)] == [second.id, first.id]
    assert [a.commissioner_id for a in domain.active_assignments(ent)] == [new.id]
    [entry] = audit_rows(ent)
    assert entry.action == "handover" and entry.changes["commissioner"][1].endswith(f"({new.username})")
    assert "交接" in entry.summary
    assert [n.kind for n in notices(old)] == ["assignment_handover"]
    assert [n.kind for n in notices(new)] == ["assignment"]


def test_specialties_are_independent(city):
    ent = make_enterprise()
    both = commissioner("tech", "finance")
    domain.assign(city, ent, TECH, both)
    domain.assign(city, ent, FINANCE, both)
    assert [a.specialty for a in domain.active_assignments(ent)] == [TECH, FINANCE]
    assert domain.active_by_specialty(ent)[Specialty.LEGAL] is None


def test_the_database_refuses_a_second_active_row():
    ent = make_enterprise()
    a, b = commissioner("tech"), commissioner("tech")
    assign(ent, a)
    with pytest.raises(IntegrityError), db.session.begin_nested():
        db.session.add(Assignment(enterprise_id=ent.id, specialty=TECH, commissioner_id=b.id,
                                  started_on=date(2026, 2, 1)))
        db.session.flush()
    # an ended row beside the active one is fine: that is the history
    db.session.add(Assignment(enterprise_id=ent.id, specialty=TECH, commissioner_id=b.id,
                              started_on=date(2025, 1, 1), ended_on=date(2025, 12, 31), end_reason="交接"))
    db.session.flush()
    assert len(rows_of(ent, TECH)) == 2


def test_handover_start_date_rules(city):
    ent = make_enterprise()
    a, b = commissioner("tech"), commissioner("tech")
    assign(ent, a)
    with pytest.raises(ValidationFailed) as err:
        domain.assign(city, ent, TECH, b, start=date(2025, 12, 1))
    assert "started_on" in err.value.fields
    with pytest.raises(ValidationFailed):
        domain.assign(city, ent, TECH, b, start=date(2099, 1, 1))
    row = domain.assign(city, ent, TECH, b, start=date(2026, 3, 1))
    assert row.started_on == date(2026, 3, 1) and rows_of(ent, TECH)[0].ended_on == date(2026, 3, 1)


# --- who may be assigned ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, expected", [
    (lambda: make_user("coordinator"), "不是服务专员"),
    (lambda: make_user("leader"), "不是服务专员"),
    (lambda: commissioner("finance"), "没有科技专长"),
    (lambda: commissioner("tech", county="桐梓县"), "限于桐梓县"),
])
def test_who_cannot_be_assigned_gets_422_on_commissioner(city, make, expected):
    ent = make_enterprise(county="汇川区")
    with pytest.raises(ValidationFailed) as err:
        domain.assign(city, ent, TECH, make())
    assert err.value.status == 422 and expected in err.value.fields["commissioner"]
    assert rows_of(ent) == []


def test_a_deactivated_commissioner_cannot_be_assigned(city):
    ent = make_enterprise()
    user = commissioner("tech")
    user.active = False
    with pytest.raises(ValidationFailed) as err:
        domain.assign(city, ent, TECH, user)
    assert "已停用" in err.value.fields["commissioner"]


def test_a_commissioner_at_the_cap_is_refused(city, cap):
    cap(2)
    busy = commissioner("tech")
    fill(busy, 2)
    with pytest.raises(ValidationFailed) as err:
        domain.assign(city, make_enterprise(), TECH, busy)
    assert "上限2" in err.value.fields["commissioner"]


def test_unknown_specialty_and_username():
    with pytest.raises(ValidationFailed):
        domain.specialty_or_422("cooking")
    assert domain.parse_specialty("融资") is FINANCE and domain.parse_specialty("legal") is Specialty.LEGAL
    with pytest.raises(ValidationFailed) as err:
        domain.commissioner_by_username("nobody-here")
    assert "commissioner" in err.value.fields


# --- who may assign --------------------------------------------------------------------------------------------

def test_commissioners_and_leaders_cannot_assign():
    ent = make_enterprise()
    mine, other = commissioner("tech", "finance"), commissioner("finance")
    assign(ent, mine)
    with pytest.raises(Forbidden):  # may edit the enterprise, must not reassign it
        domain.assign(mine, ent, FINANCE, other)
    with pytest.raises(NotFound):  # not assigned: may not even see it
        domain.assign(other, ent, FINANCE, other)
    with pytest.raises(Forbidden):
        domain.assign(make_user("leader"), ent, FINANCE, other)
    assert domain.active_for(ent, FINANCE) is None


def test_county_coordinator_assigns_only_in_their_county():
    home, away = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    coordinator = make_user("coordinator", county="汇川区")
    tech = commissioner("tech")
    with pytest.raises(NotFound):
        domain.assign(coordinator, away, TECH, tech)
    assert domain.assign(coordinator, home, TECH, tech).ended_on is None
    assert domain.can_assign(make_user("admin"), away)


def test_a_commissioner_sees_the_enterprise_while_assigned(city):
    ent = make_enterprise()
    tech = commissioner("tech")
    assert not can(tech, Action.VIEW, ent)
    row = domain.assign(city, ent, TECH, tech)
    assert can(tech, Action.VIEW, ent) and can(tech, Action.EDIT, ent)
    domain.end_assignment(city, row, "人员调整")
    assert not can(tech, Action.VIEW, ent)


# --- ending ----------------------------------------------------------------------------------------------------

def test_end_needs_a_reason_notifies_and_happens_once(city):
    ent = make_enterprise()
    tech = commissioner("tech")
    row = domain.assign(city, ent, TECH, tech)
    with pytest.raises(ValidationFailed) as err:
        domain.end_assignment(city, row, "  ")
    assert "reason" in err.value.fields
    domain.end_assignment(city, row, "企业诉求已办结")
    assert (row.ended_on, row.end_reason) == (local_today(), "企业诉求已办结")
    assert notices(tech)[-1].kind == "assignment_end"
    assert audit_rows(ent)[-1].changes["end_reason"] == [None, "企业诉求已办结"]
    with pytest.raises(Conflict):
        domain.end_assignment(city, row, "再次")


def test_commissioner_cannot_end_their_own_assignment():
    ent = make_enterprise()
    tech = commissioner("tech")
    row = assign(ent, tech)
    with pytest.raises(Forbidden):
        domain.end_assignment(tech, row, "不想做了")
    assert row.ended_on is None


# --- suggestion --------------------------------------------------------------------------------------------

def test_suggestion_picks_the_fewest_active_assignments():
    ent = make_enterprise()
    busy, idle = commissioner("tech", username="a-busy"), commissioner("tech", username="b-idle")
    fill(busy, 2)
    fill(idle, 1)
    assert domain.suggest(ent, TECH) == idle
    commissioner("finance", username="a-finance")  # other specialty: never suggested for tech
    assert domain.suggest(ent, TECH) == idle


def test_suggestion_counts_every_specialty_and_breaks_ties_by_username():
    ent = make_enterprise()
    b, a = commissioner("tech", "finance", username="tie-b"), commissioner("tech", username="tie-a")
    assert domain.suggest(ent, TECH) == a
    fill(a, 1, "tech")
    fill(b, 1, "finance")  # load counts all specialties: equal again
    assert domain.suggest(ent, TECH) == a


def test_suggestion_prefers_the_same_county_then_city_wide():
    ent = make_enterprise(county="汇川区")
    local = commissioner("tech", county="汇川区", username="z-local")
    city_wide = commissioner("tech", username="a-city")
    commissioner("tech", county="桐梓县", username="0-other-county")  # never for a 汇川区 firm
    fill(local, 3)
    assert domain.suggest(ent, TECH) == local
    local.active = False
    assert domain.suggest(ent, TECH) == city_wide


def test_suggestion_respects_the_cap_and_is_none_when_everyone_is_full(cap):
    cap(2)
    ent = make_enterprise(county="汇川区")
    local = commissioner("tech", county="汇川区")
    city_wide = commissioner("tech")
    fill(local, 2)
    assert domain.suggest(ent, TECH) == city_wide  # the local one is at the cap
    fill(city_wide, 2)
    assert domain.suggest(ent, TECH) is None
    cap(3)
    assert domain.suggest(ent, TECH) == local
    assert domain.suggest(ent, Specialty.MEDIA) is None  # nobody has that specialty


def test_cap_defaults_to_40(app):
    assert app.config.get("ASSIGNMENT_CAP", 40) == domain.cap()
    assert domain.DEFAULT_CAP == 40


# --- bulk ------------------------------------------------------------------------------------------------------

def test_bulk_with_suggestions_spreads_the_load_and_reports(city, cap):
    cap(1)
    firms = [make_enterprise() for _ in range(4)]
    a, b = commissioner("tech", username="bulk-a"), commissioner("tech", username="bulk-b")
    already = commissioner("tech", username="bulk-c")
    assign(firms[0], already)  # bulk-c is now at the cap
    result = domain.bulk_assign(city, firms, TECH)
    assert [item.enterprise.id for item in result.unchanged] == [firms[0].id]
    assert [(i.enterprise.id, i.assignment.commissioner_id) for i in result.done] == [(firms[1].id, a.id),
                                                                                      (firms[2].id, b.id)]
    [failed] = result.not_done
    assert failed.enterprise.id == firms[3].id and "上限1家" in failed.message
    assert domain.active_for(firms[3], TECH) is None


def test_bulk_reports_no_candidate_and_no_right():
    coordinator = make_user("coordinator", county="汇川区")
    home, away = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    result = domain.bulk_assign(coordinator, [home, away], Specialty.LEGAL)
    messages = {item.enterprise.id: item.message for item in result.not_done}
    assert "没有可服务该企业的法务服务专员" in messages[home.id]
    assert "无权" in messages[away.id]
    assert result.done == []


def test_bulk_with_a_commissioner_hands_over_and_stops_at_the_cap(city, cap):
    cap(2)
    firms = [make_enterprise() for _ in range(3)]
    old, chosen = commissioner("tech"), commissioner("tech")
    assign(firms[0], old)
    result = domain.bulk_assign(city, firms, TECH, chosen)
    assert [i.message.startswith("交接给") for i in result.done] == [True, False]
    assert [i.enterprise.id for i in result.not_done] == [firms[2].id]
    assert "上限" in result.not_done[0].message
    assert rows_of(firms[0], TECH)[0].end_reason == "交接"
    again = domain.bulk_assign(city, firms[:1], TECH, chosen)
    assert [i.enterprise.id for i in again.unchanged] == [firms[0].id]


def test_bulk_with_a_wrong_commissioner_is_refused_whole(city):
    firms = [make_enterprise() for _ in range(2)]
    with pytest.raises(ValidationFailed) as err:
        domain.bulk_assign(city, firms, TECH, commissioner("finance"))
    assert "没有科技专长" in err.value.fields["commissioner"]
    assert all(domain.active_for(f, TECH) is None for f in firms)


# --- publish ends the assignments of enterprises that left both lists ---------------------------------------

def test_publish_ends_assignments_of_enterprises_that_left_both_lists():
    leaving, staying, moved, never = (make_enterprise() for _ in range(4))
    published_edition(SUPPLIER, "2026H1", [leaving, staying, moved])
    published_edition(POOL, "2026H1", [moved])
    tech, finance = commissioner("tech"), commissioner("finance")
    for ent in (leaving, staying, moved, never):
        assign(ent, tech)
    assign(leaving, finance, "finance")
    db.session.flush()
    republish(SUPPLIER, "2026H2", remove=[leaving, moved])
    db.session.expire_all()
    assert {a.enterprise_id for a in rows_of(leaving)} == {leaving.id}
    assert all(a.ended_on == local_today() and a.end_reason == "已移出名单" for a in rows_of(leaving))
    # still on the cultivation pool, still on the list, never listed: untouched
    for ent in (staying, moved, never):
        assert domain.active_for(ent, TECH) is not None
    assert [n.kind for n in notices(tech)] == ["assignment_unlisted"]
    assert leaving.name in notices(tech)[0].title
    assert leaving.name in notices(finance)[0].title
    assert any("已移出名单" in row.summary for row in audit_rows(leaving))
    # later the pool drops it too: now it is on neither list
    republish(POOL, "2026H2", remove=[moved], add=[staying])
    db.session.expire_all()
    assert domain.active_for(moved, TECH) is None
    assert rows_of(moved)[0].end_reason == "已移出名单"
    assert domain.active_for(staying, TECH) is not None


def test_first_publish_ends_nothing():
    ent = make_enterprise()
    tech = commissioner("tech")
    assign(ent, tech)
    published_edition(SUPPLIER, "2026H1", [make_enterprise()])
    assert domain.active_for(ent, TECH) is not None and notices(tech) == []


# --- coverage --------------------------------------------------------------------------------------------------

def test_coverage_lists_listed_enterprises_with_gaps_and_filters():
    a = make_enterprise("遵义覆盖甲有限公司", county="汇川区", cluster="装备制造")
    b = make_enterprise("遵义覆盖乙有限公司", county="桐梓县", cluster="电子信息")
    c = make_enterprise("遵义覆盖丙有限公司", county="汇川区", cluster="电子信息")
    make_enterprise("遵义覆盖丁未入库有限公司")
    published_edition(SUPPLIER, "2026H1", [a, b])
    published_edition(POOL, "2026H1", [b, c])
    tech = commissioner("tech")
    assign(a, tech)
    city = make_user("admin")
    rows = coverage.coverage(city)
    assert {r.enterprise.id for r in rows} == {a.id, b.id, c.id}
    keys = [(r.enterprise.county.sort_order, r.enterprise.name_pinyin) for r in rows]
    assert keys == sorted(keys)  # by county order, then pinyin
    by_id = {r.enterprise.id: r for r in rows}
    assert by_id[a.id].cells[TECH].commissioner_id == tech.id and TECH not in by_id[a.id].gaps
    assert by_id[b.id].lists == (SUPPLIER, POOL) and by_id[c.id].lists == (POOL,)
    assert coverage.gap_counts(rows) == {TECH: 2, FINANCE: 3, Specialty.LEGAL: 3, Specialty.MEDIA: 3,
                                       Specialty.TALENT: 3}
    assert {r.enterprise.id for r in coverage.coverage(city, roster="supplier_list")} == {a.id, b.id}
    assert {r.enterprise.id for r in coverage.coverage(city, county="汇川区")} == {a.id, c.id}
    assert {r.enterprise.id for r in coverage.coverage(city, cluster="电子信息")} == {b.id, c.id}
    assert {r.enterprise.id for r in coverage.coverage(city, missing="tech")} == {b.id, c.id}
    assert len(coverage.coverage(city, missing="any")) == 3
    with pytest.raises(ValidationFailed):
        coverage.coverage(city, roster="nonsense")


def test_coverage_is_scoped_to_what_the_user_sees():
    a, b = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    published_edition(SUPPLIER, "2026H1", [a, b])
    tech = commissioner("tech")
    assign(b, tech)
    assert [r.enterprise.id for r in coverage.coverage(make_user("coordinator", county="汇川区"))] == [a.id]
    assert [r.enterprise.id for r in coverage.coverage(tech)] == [b.id]
    assert len(coverage.coverage(make_user("leader"))) == 2


def test_coverage_takes_two_queries_whatever_the_rows(app, count_queries):
    def queries(user) -> int:
        with count_queries() as counted:
            coverage.coverage(user)
        return counted.count

    firms = [make_enterprise() for _ in range(12)]
    published_edition(SUPPLIER, "2026H1", firms)
    admin = make_user("admin")
    techs = [commissioner("tech") for _ in range(3)]
    assign(firms[0], techs[0])
    few = queries(admin)
    for i, firm in enumerate(firms[1:]):
        assign(firm, techs[i % 3])
    assert queries(admin) == few <= 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Enterprise)) >= 12


def test_coverage_page_counts_gaps_over_all_rows_in_three_queries(app, count_queries):
    firms = [make_enterprise(county="汇川区") for _ in range(7)]
    published_edition(SUPPLIER, "2026H1", firms)
    admin = make_user("admin")
    techs = [commissioner("tech") for _ in range(3)]
    for i, firm in enumerate(firms[:4]):
        assign(firm, techs[i % 3])
    everything = coverage.coverage(admin)
    with count_queries() as queries:
        result = coverage.coverage_page(admin, 2, 3)
    # the counts, the page's enterprises (their ids a subquery), their assignments; and on PostgreSQL the data
    # versions the counts are cached under (crm/core/cache.py)
    assert queries.count == 3 + cache.enabled()
    assert result.page.total == 7 and result.page.pages == 3
    assert [r.enterprise.id for r in result.page.items] == [r.enterprise.id for r in everything[3:6]]
    assert result.gap_counts == coverage.gap_counts(everything) == {TECH: 3, FINANCE: 7, Specialty.LEGAL: 7,
                                                                  Specialty.MEDIA: 7, Specialty.TALENT: 7}
    missing = coverage.coverage_page(admin, 1, 50, missing="tech")
    assert missing.page.total == 3 and missing.gap_counts[TECH] == 3 and missing.gap_counts[FINANCE] == 3
    assert coverage.coverage_page(admin, 1, 50, missing="any").page.total == 7
    assert coverage.coverage_page(admin, 9, 3).page.items == []
    assert coverage.coverage_page(admin, 9, 3, clamp=True).page.page == 3


def test_deactivating_or_changing_a_commissioner_ends_their_assignments_and_opens_gaps():
    """Review finding: a deactivated commissioner's enterprises must show as gaps, not as covered."""
    from crm.auth import domain as auth_domain
    from crm.notifications.models import Notification
    from crm.service import assignments as assignment_domain
    from crm.service.models import Assignment

    admin = make_user("admin")
    coordinator = make_user("coordinator", county="汇川区")
    tech = make_user("commissioner", specialties=["tech", "finance"])
    a, b = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    assignment_domain.assign(admin, a, "tech", tech)
    assignment_domain.assign(admin, b, "finance", tech)
    # dropping a specialty ends only that specialty's assignment
    auth_domain.update_user(admin, tech, display_name=tech.display_name, role="commissioner", county=None,
                            department=None, specialties=["tech"])
    active = db.session.scalars(sa.select(Assignment).where(Assignment.commissioner_id == tech.id,
                                                            Assignment.ended_on.is_(None))).all()
    assert [x.enterprise_id for x in active] == [a.id]
    # deactivation ends the rest, with the reason on the record, and the county's coordinator is told
    auth_domain.set_active(admin, tech, False)
    db.session.flush()
    ended = db.session.scalars(sa.select(Assignment).where(Assignment.commissioner_id == tech.id)).all()
    assert all(x.ended_on is not None for x in ended)
    assert {x.end_reason for x in ended} == {"用户角色、专长或区县范围变更", "账号已停用"}
    notes = db.session.scalars(sa.select(Notification).where(Notification.user_id == coordinator.id,
                                                             Notification.kind == "assignment_gap")).all()
    assert len(notes) == 1 and a.name in notes[0].body
