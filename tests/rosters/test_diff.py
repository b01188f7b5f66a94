"""The diff of two editions (issue 11): computed in SQL, equal to the direct comparison of the entries; the page
shows the counts and one page of each section, the rest one click away (its pager, the whole diff as XLSX)."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.extensions import db
from crm.rosters import domain
from crm.rosters.models import RosterEdition, RosterEntry, RosterKind, RosterRemoval, Tier
from tests.conftest import make_enterprise, make_user
from tests.rosters.factories import published_edition
from tests.rosters.test_views import _sqlite_outer_transaction, page_text, signed_in, url  # noqa: F401 - a fixture

SUPPLIER = RosterKind.SUPPLIER_LIST
POOL = RosterKind.CULTIVATION_POOL


@pytest.fixture
def city(client):
    return signed_in(client, "coordinator")


def _pool_history():
    """Three published pool editions: 2025H2, then 2026H1 (some removed with reasons, some added, some tiers
    changed), then 2026H2 (one more removed, one re-added, one tier changed back). Names not in id order."""
    firms = [make_enterprise(f"遵义对比{chr(0x4e00 + (i * 7919) % 500)}{i:02d}有限公司") for i in range(14)]
    first = published_edition(POOL, "2025H2", firms[:8], reason="首批")
    draft = domain.open_edition(None, POOL, "2026H1")
    for firm in firms[5:8]:
        domain.remove_entry(None, draft, firm, f"移出{firm.id}")
    for firm in firms[8:12]:
        domain.add_entry(None, draft, firm, f"新增{firm.id}", Tier.LEADER if firm.id % 2 else None)
    domain.update_entry(None, draft, firms[0], tier="leader")
    domain.update_entry(None, draft, firms[1], tier="chain_master", reason="升级")
    domain.update_entry(None, draft, firms[2], reason="只改理由")  # not a tier change
    domain.submit(None, draft)
    domain.publish(None, draft)
    draft = domain.open_edition(None, POOL, "2026H2")
    domain.remove_entry(None, draft, firms[3], "第二次移出")
    domain.add_entry(None, draft, firms[5], "重新入库")
    domain.add_entry(None, draft, firms[6], "重新入库")
    domain.remove_entry(None, draft, firms[6], "再次移出")  # removed in 2026H1 and again in 2026H2
    domain.update_entry(None, draft, firms[0], tier="cultivating")
    domain.submit(None, draft)
    domain.publish(None, draft)
    db.session.flush()
    return first, firms


def _direct(kind: RosterKind, from_period: str, to_period: str) -> dict[str, list[tuple]]:
    """The diff computed the plain way: load both editions' entries and compare them in Python."""
    old, new = domain.get_edition(kind, from_period), domain.get_edition(kind, to_period)

    def entries(edition: RosterEdition) -> dict[int, RosterEntry]:
        return {e.enterprise_id: e for e in db.session.scalars(
            sa.select(RosterEntry).where(RosterEntry.edition_id == edition.id))}

    before, after = entries(old), entries(new)
    low, high = sorted([old.period, new.period])
    reasons: dict[int, str] = {}
    for removal in db.session.scalars(sa.select(RosterRemoval).join(RosterRemoval.edition).where(
            RosterEdition.kind == kind, RosterEdition.period > low, RosterEdition.period <= high)
            .order_by(RosterEdition.period)):
        reasons[removal.enterprise_id] = removal.reason

    def name(eid: int) -> str:
        return (after.get(eid) or before[eid]).enterprise.name

    def code(tier) -> str | None:
        return tier.value if tier else None

    added = [(eid, e.reason, code(e.tier)) for eid, e in after.items() if eid not in before]
    removed = [(eid, reasons.get(eid, ""), code(e.tier)) for eid, e in before.items() if eid not in after]
    changed = [(eid, code(before[eid].tier), code(e.tier), e.reason) for eid, e in after.items()
               if eid in before and before[eid].tier != e.tier]
    return {section: sorted(rows, key=lambda row: (name(row[0]), row[0]))
            for section, rows in (("added", added), ("removed", removed), ("tier_changed", changed))}


def _as_rows(result: domain.Diff) -> dict[str, list[tuple]]:
    return {
        "added": [(i["enterprise_id"], i["reason"], i["tier"]) for i in result.added],
        "removed": [(i["enterprise_id"], i["reason"], i["tier"]) for i in result.removed],
        "tier_changed": [(i["enterprise_id"], i["from_tier"], i["to_tier"], i["reason"]) for i in result.tier_changed],
    }


def test_the_sql_diff_equals_the_direct_comparison_both_ways_and_across_editions():
    _first, firms = _pool_history()
    for periods in (("2025H2", "2026H1"), ("2026H1", "2026H2"), ("2025H2", "2026H2"), ("2026H2", "2025H2"),
                    ("2026H1", "2026H1")):
        result = domain.diff(POOL, *periods)
        assert _as_rows(result) == _direct(POOL, *periods), periods
        assert result.counts == {k: len(v) for k, v in _as_rows(result).items()}
    # the facts behind it, spelled out once
    result = domain.diff(POOL, "2025H2", "2026H1")
    assert {i["enterprise_id"] for i in result.removed} == {f.id for f in firms[5:8]}
    assert {i["enterprise_id"]: i["reason"] for i in result.removed} == {f.id: f"移出{f.id}" for f in firms[5:8]}
    assert {i["enterprise_id"] for i in result.added} == {f.id for f in firms[8:12]}
    assert {i["enterprise_id"]: (i["from_tier"], i["to_tier"]) for i in result.tier_changed} == {
        firms[0].id: ("cultivating", "leader"), firms[1].id: ("cultivating", "chain_master")}
    assert set(result.added[0]) == {"enterprise_id", "name", "uscc", "county", "reason", "tier"}
    assert result.added[0]["county"] == "汇川区" and result.added[0]["uscc"]
    # a firm removed in 2026H1 and back in 2026H2 is in neither section over the whole span; the later removal's
    # reason is the one shown
    result = domain.diff(POOL, "2025H2", "2026H2")
    assert firms[5].id not in {i["enterprise_id"] for i in result.removed + result.added}
    reasons = {i["enterprise_id"]: i["reason"] for i in result.removed}
    assert reasons == {firms[3].id: "第二次移出", firms[6].id: "再次移出", firms[7].id: f"移出{firms[7].id}"}
    assert firms[0].id not in {i["enterprise_id"] for i in result.tier_changed}  # leader, then back


def _section_ids(body: str, section: str) -> list[str]:
    match = re.search(rf'data-diff="{section}">(.*?)</table>', body, re.S)
    return re.findall(r"/enterprises/(\d+)\"", match.group(1)) if match else []


def test_the_page_shows_counts_and_one_page_per_section_the_rest_one_click_away(app, client, city, monkeypatch):
    _first, firms = _pool_history()
    db.session.commit()
    monkeypatch.setitem(app.config, "PER_PAGE_DEFAULT", 2)
    full = domain.diff(POOL, "2025H2", "2026H1")
    assert full.counts == {"added": 4, "removed": 3, "tier_changed": 2}
    query = {"from": "2025H2", "to": "2026H1"}
    response = client.get(url(POOL, "diff"), query_string=query)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    text = page_text(response)
    assert "新增 4 家" in text and "移出 3 家" in text and "层级变化 2 家" in text
    assert _section_ids(body, "added") == [str(i["enterprise_id"]) for i in full.added[:2]]
    assert _section_ids(body, "removed") == [str(i["enterprise_id"]) for i in full.removed[:2]]
    assert _section_ids(body, "tier") == [str(i["enterprise_id"]) for i in full.tier_changed]
    assert "第 1 / 2 页,共 4 家" in text and "第 1 / 2 页,共 3 家" in text
    assert 'data-pager="tier_changed"' not in body  # one page only: no pager
    # the next page of one section keeps the other sections where they were
    nxt = re.search(r'data-pager="added".*?href="([^"]+)" rel="next"', body, re.S).group(1).replace("&amp;", "&")
    assert "added_page=2" in nxt and nxt.endswith("#added")
    response = client.get(nxt)
    body = response.get_data(as_text=True)
    assert _section_ids(body, "added") == [str(i["enterprise_id"]) for i in full.added[2:]]
    assert _section_ids(body, "removed") == [str(i["enterprise_id"]) for i in full.removed[:2]]
    nxt = re.search(r'data-pager="removed".*?href="([^"]+)" rel="next"', body, re.S).group(1).replace("&amp;", "&")
    assert "added_page=2" in nxt and "removed_page=2" in nxt
    body = client.get(nxt).get_data(as_text=True)
    assert _section_ids(body, "added") == [str(i["enterprise_id"]) for i in full.added[2:]]
    assert _section_ids(body, "removed") == [str(i["enterprise_id"]) for i in full.removed[2:]]
    assert re.search(r'data-pager="removed".*?href="[^"]+" rel="prev"', body, re.S)
    # past the end: the last page of that section
    response = client.get(url(POOL, "diff"), query_string={**query, "added_page": "9"})
    assert response.status_code == 200 and "第 2 / 2 页,共 4 家" in page_text(response)
    assert _section_ids(response.get_data(as_text=True), "added") == [str(i["enterprise_id"]) for i in full.added[2:]]
    # a malformed page: 400, page 1 shown with the reason
    response = client.get(url(POOL, "diff"), query_string={**query, "added_page": "x"})
    assert response.status_code == 400 and "页码" in page_text(response)
    assert _section_ids(response.get_data(as_text=True), "added") == [str(i["enterprise_id"]) for i in full.added[:2]]
    # everything, in one file: every row of every section
    link = re.search(r'href="([^"]+)" data-diff-download', body).group(1).replace("&amp;", "&")
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert response.headers["Cache-Control"] == "no-store"
    workbook = load_workbook(BytesIO(response.get_data()), read_only=True)
    assert workbook.sheetnames == ["新增", "移出", "层级变化"]
    sheets = {name: list(workbook[name].iter_rows(min_row=3, values_only=True)) for name in workbook.sheetnames}
    assert [row[2] for row in sheets["新增"]] == [i["uscc"] for i in full.added]
    assert [row[4] for row in sheets["移出"]] == [i["reason"] for i in full.removed]
    assert [(row[4], row[5]) for row in sheets["层级变化"]] == [
        (Tier(i["from_tier"]).label, Tier(i["to_tier"]).label) for i in full.tier_changed]
    assert sheets["层级变化"] and len(sheets["新增"]) == 4 and len(sheets["移出"]) == 3


def test_the_supplier_list_diff_file_has_no_tier_sheet_and_hides_what_the_user_may_not_see(client):
    a, b = make_enterprise(), make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    published_edition(SUPPLIER, "2026H1", [b])
    draft = domain.open_edition(None, SUPPLIER, "2026H2")
    db.session.commit()
    assert draft.status.value == "draft"
    signed_in(client, "commissioner", specialties=["tech"])
    query = {"from": "2025H2", "to": "2026H1"}
    response = client.get(url(SUPPLIER, "diff.xlsx"), query_string=query)
    assert response.status_code == 200
    workbook = load_workbook(BytesIO(response.get_data()), read_only=True)
    assert workbook.sheetnames == ["新增", "移出"]
    # a draft is not theirs to see: no file of it either
    assert client.get(url(SUPPLIER, "diff.xlsx"), query_string={"from": "2026H1", "to": "2026H2"}).status_code == 404
    assert client.get(url(SUPPLIER, "diff.xlsx"), query_string={"from": "2026H1"}).status_code == 400


def test_the_api_still_answers_the_whole_diff_whatever_the_page_size(app, client, monkeypatch):
    """API.md: ``GET /api/v1/rosters/<kind>/diff`` → every added, removed and changed enterprise (no paging)."""
    from tests.api.support import bearer

    _pool_history()
    headers = bearer(make_user("coordinator"))
    monkeypatch.setitem(app.config, "PER_PAGE_DEFAULT", 2)
    response = client.get("/api/v1/rosters/cultivation_pool/diff", query_string={"from": "2025H2", "to": "2026H1"},
                          headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    full = domain.diff(POOL, "2025H2", "2026H1")
    assert body["added"] == full.added and body["removed"] == full.removed
    assert body["tier_changed"] == full.tier_changed
    assert [len(body[k]) for k in ("added", "removed", "tier_changed")] == [4, 3, 2]
