"""The workspace's maintained figures (``service_attention``, kept by database triggers) always equal the direct
computation from assignments, interactions and requests, whatever wrote them (the domain, plain SQL, a cascade);
and the coordinator's index-driven page shows the same rows in the same order as sorting everything."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import assignments as assignment_domain
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from crm.service.models import (
    SPECIALTY_BITS,
    Assignment,
    Interaction,
    RequestStatus,
    ServiceAttention,
    ServiceRequest,
)
from crm.service.workspace import workspace_page, workspace_rows
from tests.conftest import assign, make_enterprise, make_user

S = RequestStatus
OPEN = (S.RAISED, S.ACCEPTED, S.IN_PROGRESS)
ZERO = (0, 0, None, None, 0, None, 0)


def direct(enterprise_id: int) -> tuple:
    """(active assignments, their specialties' bits, last contact, its follow-up, open requests, earliest open due
    date, resolved) from
    the source rows, as the workspace defines them."""
    active = list(db.session.scalars(sa.select(Assignment.specialty).where(
        Assignment.enterprise_id == enterprise_id, Assignment.ended_on.is_(None))))
    latest = db.session.scalars(sa.select(Interaction).where(Interaction.enterprise_id == enterprise_id)
                                .order_by(Interaction.occurred_on.desc(), Interaction.id.desc()).limit(1)).first()
    requests = list(db.session.scalars(sa.select(ServiceRequest).where(
        ServiceRequest.enterprise_id == enterprise_id)))
    open_ = [r for r in requests if r.status in OPEN]
    return (len(active), sum(SPECIALTY_BITS[s] for s in active),
            latest.occurred_on if latest else None, latest.next_follow_up if latest else None,
            len(open_), min((r.due_date for r in open_), default=None),
            sum(1 for r in requests if r.status is S.RESOLVED))


def stored(enterprise_id: int) -> tuple:
    row = db.session.execute(sa.select(
        ServiceAttention.active_assignments, ServiceAttention.active_specialties, ServiceAttention.last_contact,
        ServiceAttention.follow_up, ServiceAttention.open_requests, ServiceAttention.next_due,
        ServiceAttention.awaiting_visit)
        .where(ServiceAttention.enterprise_id == enterprise_id)).first()
    return tuple(row) if row is not None else ZERO


def check(*enterprises) -> None:
    db.session.flush()
    db.session.expire_all()
    for e in enterprises:
        assert stored(e.id) == direct(e.id), e.name


def log(actor, enterprise, days_ago: int, follow_up_in: int | None = None):
    day = local_today() - timedelta(days=days_ago)
    data = {"date": day.isoformat(), "channel": "call", "specialty": "tech", "summary": f"电话联系 {days_ago}",
            "next_follow_up": (day + timedelta(days=follow_up_in)).isoformat() if follow_up_in is not None else ""}
    return interaction_domain.log_interaction(actor, enterprise, data, today=local_today())


def raise_req(actor, enterprise, *, raised_ago: int = 2, due_in: int = 10):
    today = local_today()
    req = request_domain.raise_request(actor, enterprise, {
        "category": "融资服务", "description": "企业诉求",
        "raised_on": (today - timedelta(days=raised_ago)).isoformat(),
        "due_date": (today + timedelta(days=due_in)).isoformat()}, today=today)
    req.due_date = today + timedelta(days=due_in)  # exactly (a given rest day would move to the next working day)
    db.session.flush()
    return req


def test_the_figures_equal_the_direct_computation_after_every_kind_of_write():
    coordinator = make_user("coordinator")
    a = make_user("commissioner", specialties=["tech", "finance"])
    e1, e2, untouched = make_enterprise(), make_enterprise(), make_enterprise()
    check(e1, e2, untouched)
    assert stored(untouched.id) == ZERO  # nothing yet: no row, read as zeros

    first = assign(e1, a, "tech")
    assign(e1, a, "finance")
    check(e1, e2)
    assert stored(e1.id)[:2] == (2, 0b11)  # 科技 and 融资

    older = log(a, e1, days_ago=20, follow_up_in=5)
    check(e1)
    log(a, e1, days_ago=3, follow_up_in=10)
    check(e1)
    assert stored(e1.id)[2] == local_today() - timedelta(days=3)
    # a correction that makes the older record the latest one
    interaction_domain.update_interaction(a, older, {"date": (local_today() - timedelta(days=1)).isoformat(),
                                                     "next_follow_up": (local_today() + timedelta(days=4)).isoformat(),
                                                     "version": str(older.version)}, today=local_today())
    check(e1)
    assert stored(e1.id)[2:4] == (local_today() - timedelta(days=1), local_today() + timedelta(days=4))

    late = raise_req(a, e1, raised_ago=30, due_in=-2)
    soon = raise_req(a, e1, raised_ago=1, due_in=7)
    check(e1)
    assert stored(e1.id)[4:6] == (2, late.due_date)
    for to in (S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED):
        request_domain.transition(a, late, to)
        check(e1)
    assert stored(e1.id)[4:] == (1, soon.due_date, 1)
    request_domain.transition(a, late, S.CLOSED, note="回访满意", satisfaction=5)
    check(e1)
    request_domain.transition(a, late, S.IN_PROGRESS, note="企业再次反映")  # reopened: open again
    check(e1)
    assert stored(e1.id)[4] == 2

    assignment_domain.end_assignment(coordinator, first, "调整分工")
    check(e1)
    assert stored(e1.id)[:2] == (1, 0b10)  # 融资 only

    # writes that bypass the domain: plain SQL, an ORM delete, moving a record to another enterprise
    db.session.execute(sa.update(ServiceRequest).where(ServiceRequest.id == soon.id).values(
        due_date=local_today() - timedelta(days=9)))
    check(e1)
    db.session.execute(sa.update(Interaction).where(Interaction.enterprise_id == e1.id).values(enterprise_id=e2.id))
    check(e1, e2)
    assert stored(e1.id)[2] is None and stored(e2.id)[2] is not None
    for interaction in db.session.scalars(sa.select(Interaction).where(Interaction.enterprise_id == e2.id)):
        db.session.delete(interaction)
    check(e1, e2)
    db.session.execute(sa.delete(ServiceRequest).where(ServiceRequest.enterprise_id == e1.id))
    check(e1, e2, untouched)

    # deleting the enterprise cascades to its rows and to its figures
    assign(e2, a, "tech")
    log(a, e2, days_ago=2)
    check(e2)
    db.session.execute(sa.delete(Enterprise).where(Enterprise.id == e2.id))
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceAttention)
                             .where(ServiceAttention.enterprise_id == e2.id)) == 0


def _world(a, county: str):
    """Seven enterprises of ``a`` in ``county`` covering every group of the attention order."""
    made = [make_enterprise(county=county) for _ in range(7)]
    for e in made:
        assign(e, a, "tech")
    both, late, missed, never, old, recent, never_late = made
    log(a, both, days_ago=20, follow_up_in=5)
    raise_req(a, both, raised_ago=30, due_in=-3)
    log(a, late, days_ago=1)
    raise_req(a, late, raised_ago=30, due_in=-1)
    log(a, missed, days_ago=20, follow_up_in=10)
    log(a, old, days_ago=100)
    log(a, recent, days_ago=2, follow_up_in=30)
    raise_req(a, recent, raised_ago=2, due_in=8)
    raise_req(a, never_late, raised_ago=30, due_in=-5)
    return [both, never_late, late, missed, never, old, recent]


def _paged(user, today: date, per_page: int) -> list[int]:
    first = workspace_page(user, None, today, 1, per_page)
    ids = [row.enterprise.id for row in first.page.items]
    for n in range(2, first.page.pages + 1):
        ids += [row.enterprise.id for row in workspace_page(user, None, today, n, per_page).page.items]
    return ids


def test_a_coordinators_pages_show_the_attention_order_of_everyone_served():
    a = make_user("commissioner", specialties=["tech"])
    b = make_user("commissioner", specialties=["tech"])
    mine = _world(a, "汇川区")
    other = _world(b, "桐梓县")
    db.session.flush()
    today = local_today()
    city = make_user("coordinator")
    everything = [row.enterprise.id for row in workspace_rows(city, None, today)]  # sorting all of them
    assert set(everything) == {e.id for e in mine + other}
    assert [i for i in everything if i in {e.id for e in mine}] == [e.id for e in mine]
    for per_page in (1, 2, 3, 14):
        assert _paged(city, today, per_page) == everything
    result = workspace_page(city, None, today, 1, 3)
    assert result.summary == {"enterprises": 14, "overdue_requests": 6, "overdue_follow_ups": 4, "never": 4}
    assert [row.overdue_requests for row in result.page.items] == [1, 1, 1]
    assert workspace_page(city, None, today, 99, 3).page.page == 5  # past the end: the last page

    county = make_user("coordinator", county="汇川区")
    assert _paged(county, today, 2) == [e.id for e in mine]  # only their county
    assert workspace_page(county, None, today, 1, 2).summary["enterprises"] == 7


def test_overdue_follows_the_date_without_any_write():
    a = make_user("commissioner", specialties=["tech"])
    coordinator = make_user("coordinator")
    mine = _world(a, "汇川区")
    db.session.flush()
    later = local_today() + timedelta(days=40)  # every request and follow-up date has passed by then
    result = workspace_page(coordinator, None, later, 1, 10)
    assert result.summary["overdue_requests"] == 4 and result.summary["overdue_follow_ups"] == 3
    recent = mine[-1]
    row = next(r for r in result.page.items if r.enterprise.id == recent.id)
    assert row.overdue_requests == 1 and row.overdue_follow_ups == 1


def test_two_writers_for_the_same_enterprise_leave_the_figures_right(tmp_path_factory):
    """Two transactions add interactions to the same enterprise at once, the later-dated one first and held open:
    the second writer waits for the enterprise's row (locked by the first one's recomputation) and, once the first
    committed, recomputes from a snapshot that holds it — it must not store its own view, in which the later
    interaction does not exist."""
    import threading
    import time

    from tests.conftest import BACKEND, own_database

    overrides = {"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30}}} if BACKEND == "sqlite" else {}
    with own_database(tmp_path_factory, "attention", **overrides) as application:
        with application.app_context():
            a = make_user("commissioner", specialties=["tech"])
            e = make_enterprise()
            assign(e, a)
            db.session.commit()
            ids = (a.id, e.id)
            db.session.remove()
        today = local_today()
        errors: list[BaseException] = []

        def write(days_ago: int, hold: float, start: float) -> None:
            time.sleep(start)
            try:
                with application.app_context(), db.engine.begin() as conn:
                    conn.execute(sa.insert(Interaction).values(
                        enterprise_id=ids[1], occurred_on=today - timedelta(days=days_ago), channel="call",
                        specialty="tech", participants="", summary=f"{days_ago} 天前", created_by_id=ids[0]))
                    time.sleep(hold)
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)

        later = threading.Thread(target=write, args=(1, 0.8, 0))
        older = threading.Thread(target=write, args=(30, 0, 0.3))
        later.start()
        older.start()
        later.join(60)
        older.join(60)
        assert not errors, errors
        with application.app_context():
            assert stored(ids[1]) == direct(ids[1])
            assert stored(ids[1])[2] == today - timedelta(days=1)
            db.session.remove()


def test_a_truncate_recomputes_every_row():
    from tests.conftest import BACKEND

    a = make_user("commissioner", specialties=["tech"])
    e1, e2 = make_enterprise(), make_enterprise()
    assign(e1, a)
    assign(e2, a)
    log(a, e1, days_ago=3)
    check(e1, e2)
    if BACKEND == "postgres":  # SQLite has no TRUNCATE (its DELETE without WHERE fires the row triggers)
        db.session.execute(sa.text("TRUNCATE assignments"))
    else:
        db.session.execute(sa.delete(Assignment))
    check(e1, e2)
    assert stored(e1.id)[:3] == (0, 0, local_today() - timedelta(days=3)) and stored(e2.id)[:2] == (0, 0)
