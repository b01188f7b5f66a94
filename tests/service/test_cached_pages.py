"""The service pages' rows kept per process under data versions (crm/core/cache.py; the seventh provincial-scale
pass): the coordinators' and a commissioner's workspace page, the coverage matrix's page, the ledger's page.

With real commits on a database of the module's own: a second view while nothing changed sends fewer statements
(PostgreSQL) and is the same page; every committed change of what the rows show — a 服务记录, a 诉求 resolved, an
assignment ended, an enterprise renamed (migration c3f8a2d6e9b1) — shows at the next view, which equals the page
drawn with nothing kept. On SQLite nothing is kept and the pages are the same."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from crm.auth.models import User
from crm.core import cache
from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service.models import Assignment, Interaction, ServiceRequest
from tests.conftest import in_both_orders, login, make_user
from tests.service.test_cached_choosers import _fresh, _page
from tests.service.test_cached_counts import PAST, coordinator_beside_one_firm

WORKSPACE, COVERAGE, LEDGER = "/service/", "/assignments/?county=汇川区", "/service/requests/?overdue=1"


def _kept_then_changed(client, path: str, write, shown: str) -> None:
    """The page kept (a second view: fewer statements on PostgreSQL, the same page), then ``write`` committed: the
    next view shows ``shown`` and equals the page drawn afresh."""
    first, cold = _page(client, path)
    again, warm = _page(client, path)
    assert again == first
    assert warm < cold if cache.enabled() else warm == cold, (path, cold, warm)
    assert shown not in first, (path, shown)
    write()
    db.session.commit()
    after = _page(client, path)[0]
    assert shown in after, (path, shown)
    assert after == _fresh(client, path)


def _rename(firm: Enterprise, name: str):
    return lambda: db.session.execute(sa.update(Enterprise).where(Enterprise.id == firm.id).values(name=name))


def test_a_coordinators_pages_follow_a_rename_and_their_records(committed):
    client, firm = coordinator_beside_one_firm(committed)
    for path in (WORKSPACE, COVERAGE, LEDGER):
        client.get(path)  # the welcome shown, the statements built once per process
    cache.clear()
    for n, path in enumerate((WORKSPACE, COVERAGE, LEDGER)):
        _kept_then_changed(client, path, _rename(firm, f"改名测试企业{n}有限公司"), f"改名测试企业{n}有限公司")

    # the workspace: a 服务记录 logged today (its last contact)
    commissioner_id = db.session.scalar(sa.select(Assignment.commissioner_id)
                                        .where(Assignment.enterprise_id == firm.id))
    today = local_today()

    def visit():
        db.session.add(Interaction(enterprise_id=firm.id, occurred_on=today, channel="visit", specialty="tech",
                                   summary="走访", created_by_id=commissioner_id))

    _kept_then_changed(client, WORKSPACE, visit, 'data-days-since="0"')
    # the coverage matrix: the assignment ended (a gap)
    _kept_then_changed(client, COVERAGE, lambda: db.session.execute(
        sa.update(Assignment).where(Assignment.enterprise_id == firm.id).values(ended_on=today)),
        'data-specialty="tech" data-gap')


def test_a_resolved_request_leaves_the_kept_ledger(committed):
    client, firm = coordinator_beside_one_firm(committed)
    client.get(LEDGER)
    cache.clear()
    first, _ = _page(client, LEDGER)
    assert firm.name in first
    _page(client, LEDGER)  # kept
    db.session.execute(sa.update(ServiceRequest).where(ServiceRequest.enterprise_id == firm.id)
                       .values(status="resolved"))
    db.session.commit()
    after = _page(client, LEDGER)[0]
    assert firm.name not in after
    assert after == _fresh(client, LEDGER)


def test_a_commissioners_workspace_follows_a_rename(committed):
    client, firm = coordinator_beside_one_firm(committed)
    commissioner = db.session.scalar(sa.select(Assignment.commissioner_id).where(Assignment.enterprise_id == firm.id))
    from crm.auth.models import User

    own = committed.test_client()
    login(own, db.session.get(User, commissioner))
    own.get(WORKSPACE)
    cache.clear()
    _kept_then_changed(own, WORKSPACE, _rename(firm, "专员改名测试有限公司"), "专员改名测试有限公司")


def test_the_kept_coverage_rows_are_drawn_for_what_the_viewer_may_do(committed):
    """The matrix's drawn rows are kept (crm.core.cache.cached_markup) under the page's statement and whether the
    viewer gets the bulk form's check boxes: a leader (reads only) and a city coordinator see the same rows of the
    same scope, only the coordinator with a check box per row, whoever viewed first."""
    client, firm = coordinator_beside_one_firm(committed)
    leader = make_user("leader")
    db.session.commit()
    reader = committed.test_client()
    login(reader, leader)
    box = f'name="enterprise_ids" value="{firm.id}"'
    for viewer in in_both_orders(reader, client):
        html = _page(viewer, COVERAGE)[0]
        assert firm.name in html
        assert (box in html) is (viewer is client), (viewer is client)


def test_the_kept_ledger_rows_follow_the_day(committed, monkeypatch):
    """The ledger's drawn rows are kept under the page's statement and today: the same 诉求, unchanged, is drawn
    overdue once its due date has passed, though nothing was written."""
    from crm.service import views

    client, firm = coordinator_beside_one_firm(committed)
    due = date.fromisoformat(PAST)
    ledger = "/service/requests/"
    cache.clear()
    for today, late in ((due - timedelta(days=1), False), (due + timedelta(days=1), True)):
        monkeypatch.setattr(views, "local_today", lambda today=today: today)
        for _ in range(2):  # drawn, then kept
            html = _page(client, ledger)[0]
            row = html[html.index("data-request="):html.index("</tr>", html.index("data-request="))]
            assert firm.name in row
            assert ("data-overdue" in row) is late, (today, row)


def test_the_kept_workspace_rows_are_drawn_for_who_views_them(committed):
    """A coordinator's view of one commissioner's enterprises (``?commissioner=``) shows the same enterprises as the
    commissioner's own 我的企业, drawn differently: the commissioner sees their specialty alone, the coordinator the
    commissioner's name beside it. Kept drawn rows (crm.core.cache.cached_markup) are never served across the two,
    whoever viewed first."""
    client, firm = coordinator_beside_one_firm(committed)
    commissioner_id = db.session.scalar(sa.select(Assignment.commissioner_id)
                                        .where(Assignment.enterprise_id == firm.id))
    commissioner = db.session.get(User, commissioner_id)
    own = committed.test_client()
    login(own, commissioner)
    theirs = f"/service/?commissioner={commissioner.username}"
    named = f"· {commissioner.display_name}"
    for viewer, path in in_both_orders((own, WORKSPACE), (client, theirs)):
        html = _page(viewer, path)[0]
        row = html[html.index(f'data-enterprise="{firm.id}"'):]
        row = row[:row.index("</tr>")]
        assert (named in row) is (viewer is client), (path, row)


def test_the_kept_workspace_rows_offer_logging_only_to_who_may_log(committed):
    """A leader (reads only) and a city coordinator read the same rows of everyone's served enterprises; only the
    coordinator's rows have 记录走访, whoever viewed first (the drawn rows are kept per viewer's rights)."""
    client, firm = coordinator_beside_one_firm(committed)
    leader = make_user("leader")
    db.session.commit()
    reader = committed.test_client()
    login(reader, leader)
    button = f'data-log="{firm.id}"'
    for viewer in in_both_orders(reader, client):
        html = _page(viewer, WORKSPACE)[0]
        assert f'data-enterprise="{firm.id}"' in html
        assert (button in html) is (viewer is client)
