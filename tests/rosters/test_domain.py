"""The roster cycle: open, edit, submit, return, publish, supersede, diff, frozen editions, periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from crm.core.access import Action, can
from crm.core.audit import history_for_enterprise
from crm.core.errors import Conflict, NotFound, ValidationFailed
from crm.enterprises.models import EnterpriseStatus
from crm.extensions import db
from crm.rosters import domain
from crm.rosters.models import EditionStatus, RosterEdition, RosterKind, Tier
from tests.conftest import make_enterprise, make_user
from tests.rosters.factories import published_edition

SUPPLIER = RosterKind.SUPPLIER_LIST
POOL = RosterKind.CULTIVATION_POOL
SHANGHAI = timezone(timedelta(hours=8))


def test_period_edges_in_shanghai_time():
    assert domain.period_of(datetime(2026, 6, 30, 23, 59, tzinfo=SHANGHAI)) == "2026H1"
    assert domain.period_of(datetime(2026, 7, 1, 0, 5, tzinfo=SHANGHAI)) == "2026H2"
    # 1 July 00:05 in Shanghai is still 30 June in UTC: the half year follows Shanghai.
    assert domain.period_of(datetime(2026, 6, 30, 16, 5, tzinfo=UTC)) == "2026H2"
    assert domain.period_of(date(2026, 1, 1)) == "2026H1"
    assert domain.next_period("2026H2") == "2027H1"
    assert domain.period_label("2026H2") == "2026年下半年"
    with pytest.raises(ValidationFailed):
        domain.parse_period("2026H3")
    with pytest.raises(ValueError):
        domain.period_of(datetime(2026, 7, 1))


def test_new_draft_copies_latest_published_and_only_one_per_period():
    a, b = make_enterprise(), make_enterprise()
    first = published_edition(SUPPLIER, "2025H2", [a, b])
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    assert draft.status is EditionStatus.DRAFT and draft.based_on_id == first.id
    assert {e.enterprise_id for e in draft.entries} == {a.id, b.id}
    assert all(e.reason == "入库测试" for e in draft.entries)
    with pytest.raises(Conflict):
        domain.open_edition(None, SUPPLIER, "2026h1")
    # the other list is independent
    assert domain.open_edition(None, POOL, "2026H1").entries == []


def test_full_cycle_submit_return_publish_supersede():
    coordinator = make_user("coordinator")
    a, b, c = make_enterprise(), make_enterprise(), make_enterprise()
    first = published_edition(POOL, "2025H2", [a, b], tier="培育")
    draft = domain.open_edition(coordinator, POOL, "2026H1")
    domain.add_entry(coordinator, draft, c, "新认定省级专精特新", "链主")
    domain.update_entry(coordinator, draft, a, tier=Tier.LEADER, reason="产值突破10亿元")
    domain.remove_entry(coordinator, draft, b, "企业迁出遵义")
    domain.submit(coordinator, draft)
    assert draft.status is EditionStatus.IN_REVIEW
    with pytest.raises(ValidationFailed) as err:
        domain.return_edition(coordinator, draft, "")
    assert "退回意见" in err.value.fields["comment"]
    domain.return_edition(coordinator, draft, "请补充入库理由")
    assert draft.status is EditionStatus.DRAFT and draft.return_comment == "请补充入库理由"
    domain.submit(coordinator, draft)
    domain.publish(coordinator, draft)
    assert draft.status is EditionStatus.PUBLISHED and draft.published_by_id == coordinator.id
    assert first.status is EditionStatus.SUPERSEDED
    assert domain.latest_published(POOL).id == draft.id

    changes = domain.diff(POOL, "2025H2", "2026H1")
    assert [x["enterprise_id"] for x in changes.added] == [c.id] and changes.added[0]["tier"] == "chain_master"
    assert [x["enterprise_id"] for x in changes.removed] == [b.id]
    assert changes.removed[0]["reason"] == "企业迁出遵义"
    assert changes.tier_changed == [{**changes.tier_changed[0], "enterprise_id": a.id, "from_tier": "cultivating",
                                     "to_tier": "leader", "reason": "产值突破10亿元"}]


def test_frozen_edition_refuses_every_write():
    a, b = make_enterprise(), make_enterprise()
    edition = published_edition(SUPPLIER, "2025H2", [a])
    writes = [
        lambda: domain.add_entry(None, edition, b, "理由"),
        lambda: domain.update_entry(None, edition, a, reason="新理由"),
        lambda: domain.remove_entry(None, edition, a, "理由"),
        lambda: domain.submit(None, edition),
        lambda: domain.publish(None, edition),
        lambda: domain.return_edition(None, edition, "意见"),
    ]
    for write in writes:
        with pytest.raises(Conflict):
            write()
    assert [e.enterprise_id for e in edition.entries] == [a.id]
    newer = published_edition(SUPPLIER, "2026H1", [])
    assert edition.status is EditionStatus.SUPERSEDED
    with pytest.raises(Conflict) as err:
        domain.add_entry(None, edition, b, "理由")
    assert err.value.code == "frozen"
    assert newer.status is EditionStatus.PUBLISHED


def test_in_review_is_not_editable_and_publish_needs_review():
    a = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    with pytest.raises(ValidationFailed):
        domain.submit(None, draft)  # empty
    domain.add_entry(None, draft, a, "理由")
    with pytest.raises(Conflict) as err:
        domain.publish(None, draft)
    assert err.value.code == "not_in_review"
    domain.submit(None, draft)
    with pytest.raises(Conflict) as err:
        domain.remove_entry(None, draft, a, "理由")
    assert err.value.code == "in_review"


def test_entry_rules():
    a = make_enterprise()
    gone = make_enterprise(status=EnterpriseStatus.DEREGISTERED.value)
    supplier = domain.open_edition(None, SUPPLIER, "2026H1")
    pool = domain.open_edition(None, POOL, "2026H1")
    with pytest.raises(ValidationFailed) as err:
        domain.add_entry(None, supplier, a, "  ")
    assert "入库理由" in err.value.fields["reason"]
    with pytest.raises(ValidationFailed) as err:
        domain.add_entry(None, supplier, a, "理由", "龙头")
    assert "tier" in err.value.fields
    with pytest.raises(ValidationFailed):
        domain.add_entry(None, pool, a, "理由", "巨头")
    with pytest.raises(ValidationFailed):
        domain.add_entry(None, supplier, gone, "理由")
    entry = domain.add_entry(None, pool, a, "理由")
    assert entry.tier is Tier.CULTIVATING
    with pytest.raises(Conflict):
        domain.add_entry(None, pool, a, "再次")
    # an enterprise can be in both lists
    domain.add_entry(None, supplier, a, "配套长安汽车")
    with pytest.raises(ValidationFailed) as err:
        domain.remove_entry(None, pool, a, "")
    assert "移出理由" in err.value.fields["reason"]
    with pytest.raises(NotFound):
        domain.remove_entry(None, pool, make_enterprise(), "理由")


def test_cannot_publish_an_older_period_after_a_newer_one():
    published_edition(SUPPLIER, "2026H1", [make_enterprise()])
    old = domain.open_edition(None, SUPPLIER, "2025H2")
    domain.add_entry(None, old, make_enterprise(), "理由")
    domain.submit(None, old)
    with pytest.raises(Conflict) as err:
        domain.publish(None, old)
    assert err.value.code == "older_period"


def test_timeline_and_history_on_the_enterprise():
    a = make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    domain.remove_entry(None, draft, a, "不再配套成渝企业")
    published_edition(POOL, "2026H1", [a])
    timeline = domain.enterprise_timeline(a.id)
    assert [(r["kind"], r["period"], r["in_list"]) for r in timeline] == [
        (SUPPLIER, "2025H2", True), (POOL, "2026H1", True), (SUPPLIER, "2026H1", False)]
    assert timeline[-1]["reason"] == "不再配套成渝企业"
    actions = {r.action for r in history_for_enterprise(a.id) if r.entity_type == "roster_edition"}
    assert {"add_entry", "remove_entry"} <= actions


def test_re_adding_a_removed_enterprise_clears_the_removal():
    a = make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    domain.remove_entry(None, draft, a, "误操作")
    domain.add_entry(None, draft, a, "恢复")
    db.session.flush()
    assert draft.removals == []


def test_access_to_editions():
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    city = make_user("coordinator")
    county = make_user("coordinator", county="汇川区")
    leader = make_user("leader")
    commissioner = make_user("commissioner")
    assert can(city, Action.EDIT, draft) and can(city, Action.PUBLISH, draft)
    assert can(county, Action.EDIT, draft) and not can(county, Action.PUBLISH, draft)
    assert can(leader, Action.VIEW, draft) and not can(leader, Action.EDIT, draft)
    assert not can(commissioner, Action.VIEW, draft)
    domain.add_entry(None, draft, make_enterprise(), "理由")
    domain.submit(None, draft)
    domain.publish(None, draft)
    assert can(commissioner, Action.VIEW, draft) and not can(commissioner, Action.EDIT, draft)


def test_roster_filter_on_enterprise_search():
    from crm.core.pagination import paginate
    from crm.enterprises.domain import search_statement

    on, off = make_enterprise(), make_enterprise()
    published_edition(SUPPLIER, "2026H1", [on])
    admin = make_user("admin")
    ids = {e.id for e in paginate(search_statement(admin, roster="supplier_list"), 1, 200).items}
    assert on.id in ids and off.id not in ids
    with pytest.raises(ValidationFailed):
        search_statement(admin, roster="nonsense")


def test_a_publish_committed_elsewhere_is_seen_before_writing(app):
    """The edition object loaded earlier still says draft; the database says published: the write is refused."""
    a = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.flush()
    db.session.execute(sa.update(RosterEdition).where(RosterEdition.id == draft.id)
                       .values(status=EditionStatus.PUBLISHED, version=RosterEdition.version + 1)
                       .execution_options(synchronize_session=False))
    assert draft.status is EditionStatus.DRAFT  # the stale in-memory view
    with pytest.raises(Conflict) as err:
        domain.add_entry(None, draft, a, "并发写入")
    assert err.value.code == "frozen"


# --- batches (the Excel import) ---------------------------------------------------------------------------

def _audit_rows(edition: RosterEdition) -> list[tuple]:
    from crm.core.audit import AuditLog

    return [(row.action.value, row.enterprise_id, row.summary.split(":", 1)[1], row.changes, row.actor_id)
            for row in db.session.scalars(sa.select(AuditLog).where(
                AuditLog.entity_id == edition.id, AuditLog.action.in_(["add_entry", "update_entry"]))
                .order_by(AuditLog.id))]


def test_batches_write_what_one_at_a_time_writes_with_the_same_audit_rows():
    """add_entries / update_entries (the import) against add_entry / update_entry: the same entries, the same
    audit rows, a removal undone when a removed enterprise comes back; two editions built both ways agree."""
    actor = make_user("coordinator")
    firms = [make_enterprise() for _ in range(6)]
    published_edition(POOL, "2025H2", firms[:3], reason="原理由")
    one = domain.open_edition(actor, POOL, "2026H1")
    domain.remove_entry(actor, one, firms[2], "移出")
    db.session.flush()
    # the same starting point in another list: a second draft with the same entries and removal
    published_edition(SUPPLIER, "2025H2", firms[:3], reason="原理由")
    batch = domain.open_edition(actor, SUPPLIER, "2026H1")
    domain.remove_entry(actor, batch, firms[2], "移出")
    db.session.flush()
    assert len(batch.removals) == 1
    adds = [(firms[2], "回来了", None), (firms[3], "新增三", None), (firms[4], "新增四", None)]
    updates = [(firms[0], "新理由", None), (firms[1], "原理由", None)]  # the second changes nothing: no audit row
    for enterprise, reason, tier in adds:
        domain.add_entry(actor, one, enterprise, reason, tier)
    for enterprise, reason, tier in updates:
        domain.update_entry(actor, one, enterprise, reason=reason, tier=tier)
    added = domain.add_entries(actor, batch, adds)
    changed = domain.update_entries(actor, batch, updates)
    db.session.flush()
    assert [e.enterprise_id for e in added] == [f.id for f in firms[2:5]]
    assert [e.reason for e in changed] == ["新理由", "原理由"]

    def state(edition: RosterEdition) -> tuple:
        db.session.expire(edition)
        entries = sorted((e.enterprise_id, e.reason, e.proposed_by_id) for e in edition.entries)
        return entries, [r.enterprise_id for r in edition.removals]

    assert state(batch) == ([(e, r, p) for e, r, p in state(one)[0]], [])  # the removal is gone: firm 2 is back
    pool_rows = _audit_rows(one)
    # the pool gives every new entry the tier 培育: compare the rest
    for row in pool_rows:
        row[3].pop("tier", None)
    batch_rows = _audit_rows(batch)
    for row in batch_rows:
        row[3].pop("tier", None)
    assert batch_rows == pool_rows and len(batch_rows) == 4


def test_batches_refuse_what_one_at_a_time_refuses_and_say_which_item():
    firms = [make_enterprise() for _ in range(4)]
    gone = make_enterprise()
    gone.status = EnterpriseStatus.DEREGISTERED
    draft = domain.open_edition(None, POOL, "2026H1")
    domain.add_entry(None, draft, firms[0], "已在名单")
    cases = [
        ([(firms[1], "理由", None), (firms[0], "理由", None)], 1, Conflict, "已在该版本中"),
        ([(firms[1], "理由", None), (firms[1], "理由", None)], 1, Conflict, "已在该版本中"),  # twice in one batch
        ([(firms[1], "理由", None), (gone, "理由", None)], 1, ValidationFailed, "注销"),
        ([(firms[2], "", None)], 0, ValidationFailed, "请填写入库理由"),
        ([(firms[2], "理由", "皇冠")], 0, ValidationFailed, "层级"),
    ]
    before = sorted(e.enterprise_id for e in draft.entries)
    for items, index, kind, words in cases:
        with pytest.raises(domain.RefusedItem) as refused:
            domain.add_entries(None, draft, items)
        assert refused.value.index == index and isinstance(refused.value.error, kind)
        assert words in refused.value.error.message + str(refused.value.error.fields)
        db.session.expire(draft)
        assert sorted(e.enterprise_id for e in draft.entries) == before  # nothing written
    supplier = domain.open_edition(None, SUPPLIER, "2026H1")
    with pytest.raises(domain.RefusedItem) as refused:
        domain.add_entries(None, supplier, [(firms[1], "理由", "leader")])
    assert "不分层级" in refused.value.error.message
    published = published_edition(SUPPLIER, "2025H2", [firms[3]])
    with pytest.raises(Conflict):
        domain.add_entries(None, published, [(firms[1], "理由", None)])
    with pytest.raises(Conflict):
        domain.update_entries(None, published, [(firms[3], "理由", None)])
    with pytest.raises(domain.RefusedItem) as refused:
        domain.update_entries(None, draft, [(firms[0], "已在名单", None), (firms[3], "理由", None)])
    assert refused.value.index == 1 and isinstance(refused.value.error, NotFound)


def test_the_timeline_keeps_out_exactly_the_editions_the_viewer_may_not_see():
    """The timeline filters by the edition rule's own condition on the joined edition (crm/rosters/domain.py);
    for every role it shows the rows of the editions the rule lets them see, as the former ``NOT IN`` of
    :func:`domain.hidden_editions` did."""
    a = make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    published_edition(POOL, "2025H2", [a])
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    domain.remove_entry(None, draft, a, "草稿中移出")
    pool_draft = domain.open_edition(None, POOL, "2026H1")
    domain.add_entry(None, pool_draft, make_enterprise(), "他人")
    db.session.flush()
    everything = domain.enterprise_timeline(a.id)
    assert len(everything) == 4  # two published entries, the draft's copy of the entry and its removal
    for role in ("admin", "coordinator", "leader", "commissioner", "liaison"):
        viewer = make_user(role, specialties=["tech"] if role == "commissioner" else None)
        hidden = domain.hidden_editions(viewer)
        hidden_ids = set() if hidden is None else set(db.session.scalars(hidden))
        editions = {(e.kind, e.period): e for e in db.session.scalars(sa.select(RosterEdition))}
        expected = [r for r in everything if editions[(r["kind"], r["period"])].id not in hidden_ids]
        shown = domain.enterprise_timeline(a.id, viewer=viewer)
        assert shown == expected, role
        assert all(can(viewer, Action.VIEW, editions[(r["kind"], r["period"])]) for r in shown), role
    commissioner_rows = domain.enterprise_timeline(a.id, viewer=make_user("commissioner", specialties=["tech"]))
    assert {r["period"] for r in commissioner_rows} == {"2025H2"}
