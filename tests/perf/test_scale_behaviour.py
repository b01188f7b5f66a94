"""What the provincial-scale work (issue 11) changed in behaviour, on both databases: the 一企一档 page stays small
with a long timeline and pages it; the enterprise list's estimated total; the search by fragment; the streamed
export."""

from __future__ import annotations

import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.core.pagination import paginate
from crm.enterprises.domain import search_statement
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters import exports
from crm.rosters.models import RosterKind
from crm.service.models import Channel, Interaction
from tests.conftest import api_token, assign, login, make_enterprise, make_user
from tests.rosters.factories import published_edition

TODAY = date(2026, 12, 6)


# --- 一企一档 with a long timeline ---------------------------------------------------------------------------

@pytest.fixture
def long_record():
    coordinator = make_user("coordinator")
    commissioner = make_user("commissioner", specialties=["tech"])
    enterprise = make_enterprise()
    assign(enterprise, commissioner, "tech")
    for n in range(200):
        db.session.add(Interaction(
            enterprise_id=enterprise.id, occurred_on=TODAY - timedelta(days=n), channel=Channel.VISIT,
            specialty="tech", summary=f"第{n}次走访:了解企业生产经营、订单和融资需求,协调解决用地用电问题。" * 3,
            created_by_id=commissioner.id, next_follow_up=TODAY + timedelta(days=30) if n == 0 else None))
        db.session.add(AuditLog(
            actor_id=coordinator.id, actor_name=coordinator.display_name, entity_type=AuditEntity.ENTERPRISE,
            entity_id=enterprise.id, enterprise_id=enterprise.id, action=AuditAction.UPDATE,
            summary=f"修改企业档案 第{n}次", changes={"main_products": [f"旧产品{n}" * 5, f"新产品{n}" * 5]}))
    db.session.flush()
    return coordinator, commissioner, enterprise


@pytest.mark.parametrize("who", ["coordinator", "commissioner"])
def test_a_record_with_200_interactions_stays_under_150_kb_and_pages_its_timeline(client, long_record, who):
    coordinator, commissioner, enterprise = long_record
    login(client, coordinator if who == "coordinator" else commissioner)
    response = client.get(f"/enterprises/{enterprise.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert len(response.data) <= 150 * 1024, f"{len(response.data) // 1024} KB"
    assert "<script>" not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)  # CSP: no inline script
    assert "第0次走访" in html and "第199次走访" not in html  # the newest first, the oldest a page away
    # the older interactions: plain links down the pages, the last page holds the oldest
    seen = 0
    url = re.search(r'href="([^"]*interactions_page=2[^"]*)"[^>]*data-older-interactions', html)
    assert url, "no link to older interactions"
    page = 2
    while url:
        html = client.get(url.group(1).replace("&amp;", "&")).get_data(as_text=True)
        seen += 1
        page += 1
        url = re.search(rf'href="([^"]*interactions_page={page}[^"]*)"[^>]*data-older-interactions', html)
    assert "第199次走访" in html and seen == 19  # 200 interactions, 10 a page
    # the older history likewise, 20 a page, down to the oldest
    html = client.get(f"/enterprises/{enterprise.id}").get_data(as_text=True)
    assert "修改企业档案 第199次" in html and "data-older-history" in html
    history_page, texts = 1, []
    while "data-older-history" in html:
        history_page += 1
        html = client.get(f"/enterprises/{enterprise.id}?history_page={history_page}").get_data(as_text=True)
        texts.append(html)
    assert history_page >= 10 and any("修改企业档案 第0次<" in text for text in texts[-2:])


def test_an_out_of_range_timeline_page_shows_the_last_one(client, long_record):
    coordinator, _commissioner, enterprise = long_record
    login(client, coordinator)
    html = client.get(f"/enterprises/{enterprise.id}?interactions_page=999&history_page=999").get_data(as_text=True)
    assert "第199次走访" in html and "data-older-interactions" not in html and "data-older-history" not in html


# --- the enterprise list's total --------------------------------------------------------------------------------

def test_the_total_is_exact_on_sqlite_and_whenever_a_filter_or_scope_narrows(app, monkeypatch):
    admin = make_user("admin")
    for _ in range(3):
        make_enterprise(county="红花岗区")
    exact = db.session.scalar(sa.select(sa.func.count()).select_from(Enterprise))
    monkeypatch.setitem(app.config, "COUNT_ESTIMATE_ABOVE", 1)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE enterprises"))
    page = paginate(search_statement(admin), 1, 1, key=Enterprise.id, estimate="enterprises")
    if db.engine.dialect.name == "postgresql":
        # unfiltered, the whole registry, a table "large" by the setting: the planner's estimate, said so
        assert page.estimated and page.has_next
        assert page.total == max(2, int(db.session.scalar(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = 'enterprises'::regclass"))))
        # a page that reaches the end knows the exact count
        last = paginate(search_statement(admin), 1, 50, key=Enterprise.id, estimate="enterprises")
        assert not last.estimated and last.total == exact and not last.has_next
    else:
        assert not page.estimated and page.total == exact
    narrowed = paginate(search_statement(admin, county="红花岗区"), 1, 50, key=Enterprise.id, estimate="enterprises")
    assert not narrowed.estimated and narrowed.total == db.session.scalar(
        sa.select(sa.func.count()).select_from(Enterprise).where(Enterprise.county.has(name="红花岗区")))
    county_user = make_user("coordinator", county="红花岗区")
    scoped = paginate(search_statement(county_user), 1, 50, key=Enterprise.id, estimate="enterprises")
    assert not scoped.estimated and scoped.total == narrowed.total
    monkeypatch.setitem(app.config, "COUNT_ESTIMATE_ABOVE", 0)  # 0: always exact
    assert not paginate(search_statement(admin), 1, 50, key=Enterprise.id, estimate="enterprises").estimated


@pytest.mark.parametrize("stale", [2, 1000])
def test_a_stale_estimate_neither_ends_the_list_early_nor_offers_pages_past_its_end(app, monkeypatch, stale):
    """The planner's estimate lags inserts and deletes: paging follows the rows actually read."""
    from crm.core import pagination

    admin = make_user("admin")
    for _ in range(5):
        make_enterprise()
    exact = db.session.scalar(sa.select(sa.func.count()).select_from(Enterprise))
    monkeypatch.setattr(pagination, "_estimated_rows", lambda table: stale)
    pages, number = [], 1
    while True:
        page = paginate(search_statement(admin), number, 2, key=Enterprise.id, estimate="enterprises")
        pages.append(page)
        if not page.has_next:
            break
        number += 1
    assert sum(len(p.items) for p in pages) == exact  # every row, none twice
    assert len({item.id for p in pages for item in p.items}) == exact
    assert pages[-1].total == exact and not pages[-1].estimated  # the last page knows the count
    assert all(p.total > (p.page - 1) * 2 + len(p.items) for p in pages[:-1])  # never claims the end early


def test_an_estimated_total_is_shown_as_such_on_the_page_and_in_the_api(client, app, monkeypatch):
    admin = make_user("admin")
    for _ in range(3):
        make_enterprise()
    monkeypatch.setitem(app.config, "COUNT_ESTIMATE_ABOVE", 1)
    if db.engine.dialect.name == "postgresql":
        db.session.execute(sa.text("ANALYZE enterprises"))
    estimated = db.engine.dialect.name == "postgresql"
    login(client, admin)
    html = client.get("/enterprises/?per_page=1").get_data(as_text=True)
    assert ("共 约 " in html) is estimated
    assert "共 约 " not in client.get("/enterprises/?per_page=1&county=汇川区").get_data(as_text=True)
    response = client.get("/api/v1/enterprises?per_page=1", headers=api_token(admin))
    assert set(response.get_json()) == {"items", "total", "page", "per_page"}  # API.md's envelope, unchanged
    assert (response.headers.get("X-Total-Estimated") == "true") is estimated
    response = client.get("/api/v1/enterprises?per_page=1&q=遵义", headers=api_token(admin))
    assert "X-Total-Estimated" not in response.headers


def test_deep_pages_return_the_same_rows_as_an_offset(app):
    admin = make_user("admin")
    for n in range(12):
        make_enterprise(f"深页测试{n:02d}机械有限公司")
    stmt = search_statement(admin, q="深页测试")
    everything = list(db.session.scalars(stmt))
    pages = [paginate(stmt, p, 5, key=Enterprise.id).items for p in (1, 2, 3)]
    assert [e.id for page in pages for e in page] == [e.id for e in everything]


def test_a_page_is_read_in_one_statement_after_its_count(app, count_queries):
    """The deferred join sends the page's keys as a subquery: the count, then the page (was three statements)."""
    county_user = make_user("coordinator", county="红花岗区")
    for n in range(5):
        make_enterprise(f"一句分页测试{n}机械有限公司", county="红花岗区")
    stmt = search_statement(county_user, q="一句分页测试")
    with count_queries() as queries:
        page = paginate(stmt, 2, 2, key=Enterprise.id)
    assert queries.count == 2
    assert [e.name for e in page.items] == [f"一句分页测试{n}机械有限公司" for n in (2, 3)]
    assert page.total == 5 and page.has_next


# --- search by fragment -----------------------------------------------------------------------------------------

@pytest.fixture
def named():
    admin = make_user("admin")
    rows = {name: make_enterprise(name) for name in (
        "遵义永兴汽车零部件有限公司", "汇川永兴电子有限公司", "遵义鑫源机械有限公司", "仁怀酱香包装有限公司",
        "ABB遵义电气有限公司", "遵义100%精密铸造有限公司")}
    return admin, rows


def _found(admin, q: str) -> set[str]:
    return {e.name for e in db.session.scalars(search_statement(admin, q=q)) if e.name in _NAMES}


_NAMES = {"遵义永兴汽车零部件有限公司", "汇川永兴电子有限公司", "遵义鑫源机械有限公司", "仁怀酱香包装有限公司",
          "ABB遵义电气有限公司", "遵义100%精密铸造有限公司"}


@pytest.mark.parametrize(("q", "expected"), [
    ("永兴", {"遵义永兴汽车零部件有限公司", "汇川永兴电子有限公司"}),       # two characters: the bigram index
    ("鑫源机械", {"遵义鑫源机械有限公司"}),                                 # three or more: trigrams
    ("义", {n for n in _NAMES if "义" in n}),                              # one character: a scan
    ("yxqc", {"遵义永兴汽车零部件有限公司"}),                               # pinyin initials
    ("YXQC", {"遵义永兴汽车零部件有限公司"}),                               # initials, any case
    ("xinyuan", {"遵义鑫源机械有限公司"}),                                  # full pinyin
    ("abb", {"ABB遵义电气有限公司"}),                                       # Latin letters in the name, any case
    ("100%", {"遵义100%精密铸造有限公司"}),                                 # % means itself
    ("0%精", {"遵义100%精密铸造有限公司"}),
    ("_", set()),                                                           # _ means itself too
    ("永兴电子", {"汇川永兴电子有限公司"}),
    ("兴汽", {"遵义永兴汽车零部件有限公司"}),
])
def test_a_fragment_finds_the_same_enterprises_on_both_databases(named, q, expected):
    admin, _rows = named
    assert _found(admin, q) == expected


def test_the_uscc_fragment_is_found(named):
    admin, rows = named
    enterprise = rows["仁怀酱香包装有限公司"]
    assert _found(admin, enterprise.uscc[-8:].lower()) == {"仁怀酱香包装有限公司"}


def test_search_results_keep_the_pinyin_order(named):
    admin, _rows = named
    names = [e.name for e in db.session.scalars(search_statement(admin, q="遵义")) if e.name in _NAMES]
    pinyins = [e.name_pinyin for e in db.session.scalars(search_statement(admin, q="遵义")) if e.name in _NAMES]
    assert pinyins == sorted(pinyins) and len(names) == 4
    reverse = [e.name_pinyin for e in db.session.scalars(search_statement(admin, q="遵义", sort="-name"))
               if e.name in _NAMES]
    assert reverse == sorted(reverse, reverse=True)


# --- the streamed export ----------------------------------------------------------------------------------------

def _reference_rows(edition) -> list[list[str]]:
    """The rows as the export built them before (ORM entities through entries_statement)."""
    from crm.rosters import domain

    rows = []
    for index, entry in enumerate(db.session.scalars(domain.entries_statement(edition)), start=1):
        e = entry.enterprise
        values = [str(index), e.name, e.uscc, e.county.name, e.cluster.name,
                  e.supply_category.name if e.supply_category else "", e.main_products or "",
                  "、".join(link.partner.name for link in e.partner_links), entry.reason]
        if edition.kind is RosterKind.CULTIVATION_POOL:
            values.append(entry.tier.label if entry.tier else "")
        rows.append(values)
    return rows


@pytest.mark.parametrize("kind", [RosterKind.SUPPLIER_LIST, RosterKind.CULTIVATION_POOL])
def test_the_xlsx_export_streams_and_holds_the_same_rows(client, kind):
    from crm.enterprises.domain import link_partner

    coordinator = make_user("coordinator")
    enterprises = [make_enterprise(county=county, supply_category=None if n == 2 else "关键零部件",
                                   main_products="=SUM(A1)" if n == 1 else "齿轮")
                   for n, county in enumerate(["汇川区", "红花岗区", "汇川区", "仁怀市"])]
    link_partner(None, enterprises[0], "重庆长安汽车股份有限公司", "壳体")
    link_partner(None, enterprises[0], "赛力斯集团股份有限公司", "线束")
    edition = published_edition(kind, "2026H1", enterprises)
    db.session.flush()
    expected = _reference_rows(edition)

    login(client, coordinator)
    response = client.get(f"/rosters/{kind.value}/2026H1/export.xlsx")
    assert response.status_code == 200
    assert response.is_streamed  # a file sent in blocks, not bytes built in memory
    sheet = load_workbook(io.BytesIO(response.data), read_only=True).worksheets[0]
    rows = [[cell if cell is not None else "" for cell in row] for row in sheet.iter_rows(min_row=3, values_only=True)]
    assert rows == expected
    assert any("重庆长安汽车股份有限公司、赛力斯集团股份有限公司" in row for row in rows)
    # the domain's bytes are the same workbook
    sheet = load_workbook(io.BytesIO(exports.export_xlsx(edition)), read_only=True).worksheets[0]
    assert [[c if c is not None else "" for c in row] for row in sheet.iter_rows(min_row=3, values_only=True)] \
        == expected

    response = client.get(f"/api/v1/rosters/{kind.value}/editions/2026H1/export.xlsx",
                          headers=api_token(coordinator))
    assert response.status_code == 200 and response.is_streamed


def test_the_export_builds_no_orm_entries(client):
    """Rows come as plain columns (no RosterEntry / Enterprise built per row): memory stays flat."""
    from crm.rosters.models import RosterEntry

    enterprises = [make_enterprise() for _ in range(5)]
    edition = published_edition(RosterKind.SUPPLIER_LIST, "2026H1", enterprises)
    db.session.flush()
    db.session.expunge_all()
    built: list = []
    listener = lambda target, _context: built.append(type(target))  # noqa: E731
    sa.event.listen(RosterEntry, "load", listener)
    sa.event.listen(Enterprise, "load", listener)
    try:
        edition = db.session.get(type(edition), edition.id)
        rows = list(exports._rows(edition))
    finally:
        sa.event.remove(RosterEntry, "load", listener)
        sa.event.remove(Enterprise, "load", listener)
    assert len(rows) == 5 and built == []


# --- the coordinator's workspace ---------------------------------------------------------------------------

SPECIALTY_VALUES = ("tech", "finance", "legal", "media", "talent")


@pytest.fixture
def served_city(app):
    """45 served enterprises with five commissioners each (the widest rows: five badges, card and table row),
    and 60 more commissioners in the chooser."""
    coordinator = make_user("coordinator")
    team = [make_user("commissioner", specialties=[s]) for s in SPECIALTY_VALUES]
    for _ in range(60):
        make_user("commissioner", specialties=["tech"])
    enterprises = [make_enterprise() for _ in range(45)]
    for enterprise in enterprises:
        for commissioner, specialty in zip(team, SPECIALTY_VALUES, strict=True):
            assign(enterprise, commissioner, specialty)
    return coordinator, enterprises


def test_the_coordinators_workspace_pages_30_rows_under_150_kb(client, served_city, count_queries):
    coordinator, enterprises = served_city
    login(client, coordinator)
    with count_queries() as queries:
        first = client.get("/service/")
    html = first.get_data(as_text=True)
    assert first.status_code == 200
    assert len(first.data) <= 150 * 1024, f"{len(first.data) // 1024} KB"
    shown = [int(i) for i in re.findall(r'<tr data-enterprise="(\d+)"', html)]
    assert len(shown) == 30
    rest = [int(i) for i in re.findall(r'<tr data-enterprise="(\d+)"',
                                       client.get("/service/?page=2").get_data(as_text=True))]
    assert sorted(shown + rest) == sorted(e.id for e in enterprises)  # every one, once
    # the figures are read from service_attention (kept by the database's triggers), never computed per view from
    # the interactions and requests (0.4–2.7 s for the city's 32,000 served enterprises at provincial scale), and
    # a city-wide coordinator's served enterprises are its rows, not assignments joined to every enterprise
    statements = "\n".join(queries.statements)
    assert "FROM service_attention" in statements
    assert "FROM interactions" not in statements and "GROUP BY" not in statements
    assert "FROM assignments JOIN enterprises" not in statements
