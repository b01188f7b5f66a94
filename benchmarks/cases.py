"""The benchmark's cases: the hot paths it times (domain calls and pages) and the pages it checks for N+1."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from benchmarks.harness import Bench
from crm.extensions import db


def run_benchmarks(bench: Bench) -> None:
    from crm.auth.models import User
    from crm.core.pagination import paginate
    from crm.enterprises.domain import search_statement
    from crm.rosters import domain as rosters
    from crm.rosters import exports, imports
    from crm.rosters.models import RosterEdition
    from crm.service.assignments import coverage
    from crm.service.interactions import last_contact
    from crm.service.models import Assignment
    from crm.service.requests import requests_statement

    fx = bench.fx
    coordinator_id = fx.users["coordinator"]
    # the commissioner with the most active assignments stands for "a commissioner with ~300 enterprises"
    with bench.app.app_context():
        commissioner_id, load = db.session.execute(
            sa.select(Assignment.commissioner_id, sa.func.count()).where(Assignment.ended_on.is_(None))
            .group_by(Assignment.commissioner_id).order_by(sa.func.count().desc(), Assignment.commissioner_id)
            .limit(1)).one()
        commissioner_name = db.session.get(User, commissioner_id).username
        their_ids = list(db.session.scalars(sa.select(Assignment.enterprise_id).where(
            Assignment.commissioner_id == commissioner_id, Assignment.ended_on.is_(None))))
    bench.log(f"commissioner {commissioner_name}: {load} active assignments")
    published, draft = fx.periods[-2], fx.periods[-1]
    previous = fx.periods[-3]
    kind = "supplier_list"
    per_page = 50

    def users(*ids: int) -> Callable[[], Any]:
        return lambda: [db.session.get(User, i) for i in ids]

    coord = users(coordinator_id)
    comm = users(commissioner_id)

    def page_of(**filters: Any) -> Callable[[Any], Any]:
        return lambda ctx: paginate(search_statement(ctx[0], **filters), 1, per_page)

    log = bench.log
    log(f"\n{'operation':<60} {'median ms':>9} {'p95 ms':>9} {'queries':>7}")
    g = "enterprises (domain: search_statement + paginate, 50 per page)"
    log(f"-- {g}")
    bench.domain(g, "list p1 unfiltered (city coordinator)", coord, page_of())
    bench.domain(g, f"search name fragment '{fx.q_name}'", coord, page_of(q=fx.q_name))
    bench.domain(g, f"search pinyin initials '{fx.q_initials}'", coord, page_of(q=fx.q_initials))
    bench.domain(g, f"search USCC fragment '{fx.q_uscc}'", coord, page_of(q=fx.q_uscc))
    bench.domain(g, "county + cluster filter (city coordinator)", coord,
                 page_of(county="汇川区", cluster="装备制造"))
    bench.domain(g, "sort -updated, page 1 (city coordinator)", coord, page_of(sort="-updated"))
    bench.domain(g, "page 100 unfiltered (offset 4,950)", coord,
                 lambda ctx: paginate(search_statement(ctx[0]), 100, per_page))
    bench.domain(g, "roster filter supplier_list (city coordinator)", coord, page_of(roster="supplier_list"))
    bench.domain(g, f"list p1 unfiltered (commissioner, {load} enterprises)", comm, page_of())
    bench.domain(g, f"search name fragment '{fx.q_name}' (commissioner)", comm, page_of(q=fx.q_name))
    bench.domain(g, "county + cluster filter (commissioner)", comm, page_of(county="汇川区", cluster="装备制造"))

    g = "pages (Flask test client, signed in; whole request incl. template)"
    log(f"-- {g}")
    bench.http(g, "GET /enterprises/ (city coordinator)", "coordinator", "/enterprises/", expect="enterprise-table")
    bench.http(g, f"GET /enterprises/?q={fx.q_name} (city coordinator)", "coordinator", f"/enterprises/?q={fx.q_name}",
               expect="enterprise-table")
    bench.http(g, "GET /enterprises/ (commissioner)", commissioner_name, "/enterprises/", expect="enterprise-table")
    bench.http(g, "GET /enterprises/<id> detail, long record (coordinator)", "coordinator",
               f"/enterprises/{fx.rich_enterprise}")
    bench.http(g, "GET /enterprises/<id> detail (commissioner, own enterprise)", commissioner_name,
               f"/enterprises/{their_ids[0]}")
    bench.http(g, f"GET /rosters/{kind}/{published} (edition page)", "coordinator", f"/rosters/{kind}/{published}",
               expect="roster-table")
    bench.http(g, "GET /rosters/?kind=supplier_list (published list)", "coordinator", "/rosters/?kind=supplier_list",
               expect="roster-table")
    bench.http(g, f"GET /rosters/{kind}/diff {previous}→{published}", "coordinator",
               f"/rosters/{kind}/diff?from={previous}&to={published}", expect='data-diff="added"')
    bench.http(g, "GET /assignments/ coverage (commissioner)", commissioner_name, "/assignments/",
               expect="coverage-table")
    bench.http(g, "GET /assignments/ coverage (city coordinator, all listed)", "coordinator", "/assignments/",
               repeat=max(1, min(bench.repeat, 3)), expect="coverage-table")
    bench.http(g, "GET /assignments/enterprise/<id> (coordinator)", "coordinator",
               f"/assignments/enterprise/{fx.rich_enterprise}")

    # the service pages, when this version of the app has them
    views = bench.app.view_functions
    if "service.workspace" in views:
        bench.http(g, "GET /service/ workspace (commissioner)", commissioner_name, "/service/")
        bench.http(g, "GET /service/ workspace (city coordinator)", "coordinator", "/service/")
    if "service.requests_index" in views:
        bench.http(g, "GET /service/requests/?overdue=1 (city coordinator)", "coordinator",
                   "/service/requests/?overdue=1")
        bench.http(g, "GET /service/requests/?overdue=1 (commissioner)", commissioner_name,
                   "/service/requests/?overdue=1")
    if "policy.index" in views:
        bench.http(g, "GET /policy/ (city coordinator)", "coordinator", "/policy/")

    g = "rosters (domain)"
    log(f"-- {g}")

    def edition_of(k: str, period: str) -> Callable[[], Any]:
        return lambda: db.session.get(RosterEdition, fx.editions[(k, period)])

    bench.domain(g, f"entries page 1 + counts_by_county ({kind} {published})", edition_of(kind, published),
                 lambda e: (paginate(rosters.entries_statement(e), 1, per_page), rosters.counts_by_county(e)))
    bench.domain(g, "entries page 1, county filter", edition_of(kind, published),
                 lambda e: paginate(rosters.entries_statement(e, county="汇川区"), 1, per_page))
    bench.domain(g, f"diff {kind} {previous}→{published}", lambda: None,
                 lambda _: rosters.diff(kind, previous, published))
    bench.domain(g, f"diff cultivation_pool {fx.periods[0]}→{published}", lambda: None,
                 lambda _: rosters.diff("cultivation_pool", fx.periods[0], published))
    heavy = max(1, min(bench.repeat, 3))
    with bench.app.app_context():
        export_published = exports.export_xlsx(db.session.get(RosterEdition, fx.editions[(kind, published)]))
        export_draft = exports.export_xlsx(db.session.get(RosterEdition, fx.editions[(kind, draft)]))
        rows = db.session.scalar(sa.select(sa.func.count()).select_from(
            rosters.entries_statement(db.session.get(RosterEdition, fx.editions[(kind, published)]))
            .order_by(None).subquery()))
    bench.domain(g, f"export_xlsx ({rows} entries)", edition_of(kind, published),
                 lambda e: exports.export_xlsx(e), repeat=heavy, note=f"{len(export_published) // 1024} KB")
    bench.domain(g, "export_csv (same edition)", edition_of(kind, published), lambda e: exports.export_csv(e),
                 repeat=heavy)
    bench.domain(g, f"check_file of a {rows}-row XLSX (upload check)", lambda: None,
                 lambda _: imports.check_file("list.xlsx", export_draft))

    def import_setup(period: str) -> Callable[[], Any]:
        return lambda: (db.session.get(RosterEdition, fx.editions[(kind, period)]),
                        db.session.get(User, coordinator_id))

    def run_import(ctx: Any, data: bytes, expect_added: int | None) -> None:
        result = imports.import_rows(ctx[0], data, ctx[1])
        if not result.ok or (expect_added is not None and result.added != expect_added):
            raise RuntimeError(f"unexpected import result: {result.summary} {result.problems[:3]}")

    bench.domain(g, f"import_rows check, {rows} rows all unchanged (draft)", import_setup(draft),
                 lambda ctx: run_import(ctx, export_draft, 0), repeat=heavy)
    bench.domain(g, f"import_rows write, {rows} new entries (rolled back)", import_setup(fx.empty_draft[1]),
                 lambda ctx: run_import(ctx, export_published, rows), repeat=max(1, min(bench.repeat, 2)),
                 warm_up=False, note="no warm-up")

    g = "service (domain)"
    log(f"-- {g}")
    bench.domain(g, "coverage matrix (city coordinator, all listed)", coord, lambda ctx: coverage(ctx[0]),
                 repeat=heavy)
    bench.domain(g, "coverage matrix missing=any, 汇川区 (city coordinator)", coord,
                 lambda ctx: coverage(ctx[0], county="汇川区", missing="any"))
    bench.domain(g, "coverage matrix (commissioner)", comm, lambda ctx: coverage(ctx[0]))
    from crm.service import assignments as service_assignments
    from crm.service import workspace as service_workspace

    if hasattr(service_assignments, "coverage_page"):  # versions with the paginated matrix
        bench.domain(g, "coverage_page 1 + gap counts (city coordinator, all listed)", coord,
                     lambda ctx: service_assignments.coverage_page(ctx[0], 1, per_page))
    if hasattr(service_workspace, "workspace_page"):  # versions with the workspace sorted in SQL
        from crm.core.time import local_today

        bench.domain(g, "workspace_page 1 (city coordinator, all commissioners)", coord,
                     lambda ctx: service_workspace.workspace_page(ctx[0], None, local_today(), 1, per_page))
    bench.domain(g, "requests_statement overdue, page 1 (city coordinator)", coord,
                 lambda ctx: paginate(requests_statement(ctx[0], overdue=True), 1, per_page))
    bench.domain(g, "requests_statement overdue, page 1 (commissioner)", comm,
                 lambda ctx: paginate(requests_statement(ctx[0], overdue=True), 1, per_page))
    bench.domain(g, "requests_statement open, county 汇川区 (city coordinator)", coord,
                 lambda ctx: paginate(requests_statement(ctx[0], status=["raised", "accepted", "in_progress"],
                                                         county="汇川区"), 1, per_page))
    bench.domain(g, f"last_contact for {min(300, len(their_ids))} enterprises", lambda: None,
                 lambda _: last_contact(their_ids[:300]))

    log("\nN+1 check (queries per request at a small and a large page)")
    bench.check_growth("/enterprises/", "coordinator", ("per_page=10", "/enterprises/?per_page=10"),
                       ("per_page=200", "/enterprises/?per_page=200"))
    bench.check_growth("/enterprises/ (commissioner)", commissioner_name,
                       ("per_page=10", "/enterprises/?per_page=10"), ("per_page=200", "/enterprises/?per_page=200"))
    bench.check_growth("/rosters/<kind>/<period>", "coordinator",
                       ("per_page=10", f"/rosters/{kind}/{published}?per_page=10"),
                       ("per_page=200", f"/rosters/{kind}/{published}?per_page=200"))
    bench.check_growth("/enterprises/<id>", "coordinator",
                       ("plain record", f"/enterprises/{fx.plain_enterprise}"),
                       ("long record", f"/enterprises/{fx.rich_enterprise}"))
    bench.check_growth("/assignments/ (coverage)", "coordinator",
                       ("one county", "/assignments/?county=务川自治县"), ("all listed", "/assignments/"))
    if "service.requests_index" in views:
        bench.check_growth("/service/requests/", "coordinator", ("per_page=10", "/service/requests/?per_page=10"),
                           ("per_page=200", "/service/requests/?per_page=200"))
    if "service.workspace" in views:
        bench.check_growth("/service/ (workspace)", "coordinator", ("per_page=10", "/service/?per_page=10"),
                           ("per_page=200", "/service/?per_page=200"))
    if "policy.index" in views:
        bench.check_growth("/policy/", "coordinator", ("per_page=10", "/policy/?per_page=10"),
                           ("per_page=200", "/policy/?per_page=200"))
    bench.check_growth("/rosters/<kind>/diff", "coordinator",
                       ("consecutive", f"/rosters/{kind}/diff?from={previous}&to={published}"),
                       ("3 refreshes apart", f"/rosters/{kind}/diff?from={fx.periods[0]}&to={published}"))
