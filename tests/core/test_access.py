"""The one access function: every role's allowed and refused cases, per record."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core.access import Action, can, probe, require, scope, shared_probes
from crm.core.errors import Forbidden, NotFound
from crm.enterprises.models import Enterprise
from crm.extensions import db
from tests.conftest import assign, make_enterprise, make_user


@pytest.fixture
def world():
    huichuan = make_enterprise(county="汇川区")
    tongzi = make_enterprise(county="桐梓县")
    return huichuan, tongzi


def visible(user) -> set[int]:
    return set(db.session.scalars(scope(user, Enterprise, sa.select(Enterprise.id))))


def test_admin_does_everything(world):
    admin = make_user("admin")
    for ent in world:
        assert can(admin, Action.VIEW, ent) and can(admin, Action.EDIT, ent)
    assert can(admin, Action.CREATE) and can(admin, Action.MANAGE_USERS)


def test_city_coordinator_reads_and_edits_all_but_manages_no_users(world):
    coordinator = make_user("coordinator")
    assert all(can(coordinator, Action.EDIT, ent) for ent in world)
    assert can(coordinator, Action.CREATE)
    assert not can(coordinator, Action.MANAGE_USERS)
    assert {e.id for e in world} <= visible(coordinator)


def test_county_coordinator_only_their_county(world):
    huichuan, tongzi = world
    coordinator = make_user("coordinator", county="汇川区")
    assert can(coordinator, Action.EDIT, huichuan)
    assert not can(coordinator, Action.VIEW, tongzi)
    assert huichuan.id in visible(coordinator) and tongzi.id not in visible(coordinator)
    with pytest.raises(NotFound):
        require(coordinator, Action.EDIT, tongzi)


def test_commissioner_only_assigned_enterprises(world):
    huichuan, tongzi = world
    commissioner = make_user("commissioner", specialties=["tech"])
    other = make_user("commissioner", specialties=["tech"])
    assign(huichuan, commissioner)
    assign(tongzi, other)
    assert can(commissioner, Action.VIEW, huichuan) and can(commissioner, Action.EDIT, huichuan)
    assert not can(commissioner, Action.VIEW, tongzi)
    assert not can(commissioner, Action.CREATE)
    assert visible(commissioner) == {huichuan.id}
    with pytest.raises(NotFound):
        require(commissioner, Action.VIEW, tongzi)


def test_ended_assignment_no_longer_gives_access(world):
    from datetime import date

    huichuan, _ = world
    commissioner = make_user("commissioner")
    row = assign(huichuan, commissioner)
    row.ended_on = date(2026, 6, 30)
    db.session.flush()
    assert not can(commissioner, Action.VIEW, huichuan)


def test_leader_reads_everything_changes_nothing(world):
    leader = make_user("leader")
    for ent in world:
        assert can(leader, Action.VIEW, ent)
        assert not can(leader, Action.EDIT, ent)
        with pytest.raises(Forbidden):
            require(leader, Action.EDIT, ent)
    assert not can(leader, Action.CREATE)


def test_inactive_or_anonymous_user_can_do_nothing(world):
    user = make_user("admin")
    user.active = False
    assert not can(user, Action.VIEW, world[0])
    assert not can(None, Action.VIEW, world[0])


def test_a_contact_is_judged_by_its_enterprise(world):
    from crm.enterprises.domain import add_contact

    huichuan, _ = world
    contact = add_contact(None, huichuan, {"name": "张三", "post": "总经理", "phone": "0851-28880000"})
    county_user = make_user("coordinator", county="桐梓县")
    assert not can(county_user, Action.EDIT, contact)
    assert can(make_user("coordinator", county="汇川区"), Action.EDIT, contact)


def test_a_list_entry_is_seen_with_its_edition_and_changed_with_its_enterprise(world):
    from crm.rosters import domain as rosters
    from crm.rosters.models import RosterKind

    huichuan, tongzi = world
    draft = rosters.open_edition(None, RosterKind.SUPPLIER_LIST, "2026H1")
    ours = rosters.add_entry(None, draft, huichuan, "入库测试")
    theirs = rosters.add_entry(None, draft, tongzi, "入库测试")
    county = make_user("coordinator", county="汇川区")
    assert can(county, Action.VIEW, theirs) and not can(county, Action.EDIT, theirs)
    assert can(county, Action.EDIT, ours)
    commissioner = make_user("commissioner")
    assign(huichuan, commissioner)
    assert not can(commissioner, Action.VIEW, ours)  # a draft is not theirs to read
    assert not can(make_user("leader"), Action.EDIT, ours)


def test_each_user_reads_only_their_own_notifications(world):
    from crm.notifications.domain import notify

    admin, other = make_user("admin"), make_user("coordinator")
    (row,) = notify([other], "refresh_opened", "通知")
    assert can(other, Action.EDIT, row)
    assert not can(admin, Action.VIEW, row)  # an admin too: another's inbox is not theirs


def test_a_record_of_an_unregistered_type_is_refused(world):
    assert not can(make_user("admin"), Action.VIEW, object())


def test_a_probe_runs_once_per_key_inside_shared_probes_and_every_time_outside():
    runs: list[str] = []

    def ask(key: str) -> bool:
        return probe(key, lambda: runs.append(key) or True)

    assert ask("a") and ask("a") and runs == ["a", "a"]  # outside a block: every time
    runs.clear()
    with shared_probes():
        assert ask("a") and ask("a") and ask("b")
        with shared_probes():  # a block of its own: nothing carried in
            ask("a")
        ask("a")
    assert runs == ["a", "b", "a"]
    ask("a")
    assert runs == ["a", "b", "a", "a"]  # the block's answers are gone with it


def test_a_commissioners_view_and_edit_of_one_enterprise_share_one_probe_and_answer_as_before(world, count_queries):
    huichuan, tongzi = world
    tech = make_user("commissioner", specialties=["tech"])
    assign(huichuan, tech)
    db.session.flush()
    with count_queries() as queries, shared_probes():
        assert can(tech, Action.VIEW, huichuan) and can(tech, Action.EDIT, huichuan)
        assert not can(tech, Action.VIEW, tongzi) and not can(tech, Action.EDIT, tongzi)
    assert queries.count == 2  # one EXISTS per enterprise, not per action
    leader = make_user("leader")
    with shared_probes():  # the probe is the one-to-one rule's; the registry's rule still refuses a leader's edit
        assert can(leader, Action.VIEW, huichuan) and not can(leader, Action.EDIT, huichuan)
