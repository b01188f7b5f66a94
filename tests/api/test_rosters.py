"""Roster endpoints: the whole cycle, frozen and in-review refusals, access per role, diff, Excel out and in."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import unquote

import openpyxl
import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.enterprises.models import EnterpriseStatus
from crm.extensions import db
from crm.rosters import domain
from crm.rosters.models import EditionStatus, RosterEdition, RosterEntry, RosterKind, RosterRemoval, Tier
from tests.api.support import bearer, error_of
from tests.conftest import make_enterprise, make_user
from tests.rosters.factories import published_edition

SUPPLIER = RosterKind.SUPPLIER_LIST
POOL = RosterKind.CULTIVATION_POOL
ROOT = "/api/v1/rosters"
EDITION_KEYS = {
    "kind", "kind_label", "period", "period_label", "status", "status_label", "entries_count", "based_on",
    "opened_at", "opened_by", "submitted_at", "submitted_by", "returned_at", "returned_by", "return_comment",
    "published_at", "published_by", "superseded_at", "version",
}
ENTRY_KEYS = {"enterprise_id", "name", "uscc", "county", "cluster", "supply_category", "main_products", "reason",
              "tier", "tier_label", "proposed_by", "created_at"}
OFFICIAL_COLUMNS = ["序号", "企业名称", "统一社会信用代码", "区县", "产业集群", "配套类别", "主要产品", "成渝配套对象",
                    "入库理由"]


# --- helpers -------------------------------------------------------------------------------------------------

def editions_url(kind: RosterKind | str) -> str:
    return f"{ROOT}/{kind}/editions"


def edition_url(kind: RosterKind | str, period: str, suffix: str = "") -> str:
    return f"{ROOT}/{kind}/editions/{period}{suffix}"


def entry_url(kind: RosterKind | str, period: str, enterprise_id: int) -> str:
    return edition_url(kind, period, f"/entries/{enterprise_id}")


def entries_of(kind: RosterKind, period: str) -> set[tuple[int, str, Tier | None]]:
    db.session.expire_all()
    edition = domain.get_edition(kind, period)
    return {(e.enterprise_id, e.reason, e.tier) for e in db.session.scalars(
        sa.select(RosterEntry).where(RosterEntry.edition_id == edition.id))}


def state_of(kind: RosterKind, period: str) -> tuple[Any, ...]:
    """Everything a refused write must leave alone: status, version, entries, removals, the audit trail."""
    db.session.expire_all()
    edition = domain.get_edition(kind, period)
    removals = db.session.scalar(sa.select(sa.func.count()).select_from(RosterRemoval)
                                 .where(RosterRemoval.edition_id == edition.id))
    audits = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    return edition.status, edition.version, edition.return_comment, entries_of(kind, period), removals, audits


def draft_with(kind: RosterKind, period: str, enterprises, reason: str = "入库测试") -> RosterEdition:
    edition = domain.open_edition(None, kind, period)
    for enterprise in enterprises:
        domain.add_entry(None, edition, enterprise, reason)
    db.session.flush()
    return edition


def workbook(rows, columns=None) -> bytes:
    """An XLSX as a coordinator makes it: a title row, the header, then ``rows``."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["配套企业名单(测试)"])
    ws.append(columns or ["序号", "企业名称", "统一社会信用代码", "区县", "入库理由"])
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def row_for(enterprise, reason: str = "导入入库理由", number: int = 1) -> list[Any]:
    return [number, enterprise.name, enterprise.uscc, enterprise.county.name, reason]


def upload(client, kind, period, data: bytes, headers, filename: str = "名单.xlsx"):
    return client.post(edition_url(kind, period, "/import"), data={"file": (io.BytesIO(data), filename)},
                       headers=headers, content_type="multipart/form-data")


def wrong_check_digit(code: str) -> str:
    return code[:-1] + ("0" if code[-1] != "0" else "1")


# --- the whole cycle -----------------------------------------------------------------------------------------

def test_whole_cycle_open_edit_review_publish_and_diff(client):
    coordinator = make_user("coordinator")
    a, b, c = make_enterprise(), make_enterprise(county="桐梓县"), make_enterprise()
    published_edition(POOL, "2025H2", [a, b], tier="培育")
    headers = bearer(coordinator)

    # open: a copy of the latest published edition
    opened = client.post(editions_url(POOL), json={"period": "2026h1"}, headers=headers)
    assert opened.status_code == 201, opened.get_data(as_text=True)
    body = opened.get_json()
    assert set(body) == EDITION_KEYS
    assert (body["kind"], body["period"], body["status"], body["based_on"], body["entries_count"]) == (
        "cultivation_pool", "2026H1", "draft", "2025H2", 2)
    assert body["opened_by"] == coordinator.username and body["opened_at"].endswith("+08:00")
    assert opened.headers["Location"].endswith(edition_url(POOL, "2026H1"))

    # add, change the tier, remove with a reason
    added = client.post(edition_url(POOL, "2026H1", "/entries"),
                        json={"enterprise_id": c.id, "reason": "新认定省级专精特新", "tier": "chain_master"},
                        headers=headers)
    assert added.status_code == 201, added.get_data(as_text=True)
    entry = added.get_json()
    assert set(entry) == ENTRY_KEYS
    assert (entry["enterprise_id"], entry["reason"], entry["tier"], entry["tier_label"], entry["proposed_by"]) == (
        c.id, "新认定省级专精特新", "chain_master", "链主", coordinator.username)
    assert (entry["name"], entry["uscc"], entry["county"], entry["cluster"]) == (c.name, c.uscc, "汇川区", "装备制造")
    assert added.headers["Location"].endswith(entry_url(POOL, "2026H1", c.id))
    assert client.get(added.headers["Location"], headers=headers).get_json() == entry

    patched = client.patch(entry_url(POOL, "2026H1", a.id), json={"tier": "龙头", "reason": "产值突破10亿元"},
                           headers=headers)
    assert patched.status_code == 200, patched.get_data(as_text=True)
    assert (patched.get_json()["tier"], patched.get_json()["reason"]) == ("leader", "产值突破10亿元")

    removed = client.delete(entry_url(POOL, "2026H1", b.id), json={"reason": "企业迁出遵义"}, headers=headers)
    assert removed.status_code == 204 and removed.get_data() == b""

    detail = client.get(edition_url(POOL, "2026H1"), headers=headers).get_json()
    assert set(detail) == EDITION_KEYS | {"entries", "counts_by_county"}
    assert {(e["enterprise_id"], e["tier"]) for e in detail["entries"]} == {(a.id, "leader"), (c.id, "chain_master")}
    assert detail["entries_count"] == 2 and detail["counts_by_county"] == [{"county": "汇川区", "count": 2}]
    assert all(set(e) == ENTRY_KEYS for e in detail["entries"])

    # review: submit, return with a comment, submit again, publish
    submitted = client.post(edition_url(POOL, "2026H1", "/submit"), headers=headers)
    assert submitted.status_code == 200, submitted.get_data(as_text=True)
    assert submitted.get_json()["status"] == "in_review"
    assert submitted.get_json()["submitted_by"] == coordinator.username
    returned = client.post(edition_url(POOL, "2026H1", "/return"), json={"comment": "请补充入库理由"},
                           headers=headers)
    assert returned.status_code == 200, returned.get_data(as_text=True)
    assert (returned.get_json()["status"], returned.get_json()["return_comment"]) == ("draft", "请补充入库理由")
    assert returned.get_json()["returned_by"] == coordinator.username
    assert client.post(edition_url(POOL, "2026H1", "/submit"), json={}, headers=headers).status_code == 200
    published = client.post(edition_url(POOL, "2026H1", "/publish"), headers=headers)
    assert published.status_code == 200, published.get_data(as_text=True)
    body = published.get_json()
    assert body["status"] == "published" and body["published_by"] == coordinator.username
    assert body["published_at"].endswith("+08:00")

    listed = client.get(editions_url(POOL), headers=headers).get_json()
    assert [(i["period"], i["status"], i["entries_count"]) for i in listed["items"]] == [
        ("2026H1", "published", 2), ("2025H2", "superseded", 2)]
    assert listed["total"] == 2 and listed["page"] == 1 and all(set(i) == EDITION_KEYS for i in listed["items"])
    superseded = client.get(edition_url(POOL, "2025H2"), headers=headers).get_json()
    assert superseded["superseded_at"] is not None

    # diff, with the reasons
    diff = client.get(f"{ROOT}/{POOL}/diff", query_string={"from": "2025H2", "to": "2026H1"}, headers=headers)
    assert diff.status_code == 200, diff.get_data(as_text=True)
    result = diff.get_json()
    assert (result["kind"], result["from"], result["to"]) == ("cultivation_pool", "2025H2", "2026H1")
    assert [(x["enterprise_id"], x["reason"], x["tier"]) for x in result["added"]] == [
        (c.id, "新认定省级专精特新", "chain_master")]
    assert [(x["enterprise_id"], x["reason"], x["county"]) for x in result["removed"]] == [
        (b.id, "企业迁出遵义", "桐梓县")]
    assert [(x["enterprise_id"], x["from_tier"], x["to_tier"], x["reason"]) for x in result["tier_changed"]] == [
        (a.id, "cultivating", "leader", "产值突破10亿元")]
    raw = diff.get_data(as_text=True)
    assert "企业迁出遵义" in raw and "\\u" not in raw


def test_supplier_list_cycle_from_an_empty_list(client):
    coordinator = make_user("coordinator")
    a = make_enterprise()
    headers = bearer(coordinator)
    body = client.post(editions_url(SUPPLIER), json={"period": "2026H2"}, headers=headers).get_json()
    assert (body["status"], body["based_on"], body["entries_count"]) == ("draft", None, 0)
    error = error_of(client.post(edition_url(SUPPLIER, "2026H2", "/submit"), headers=headers), 422)
    assert "entries" in error["fields"]
    response = client.post(edition_url(SUPPLIER, "2026H2", "/entries"), json={"enterprise_id": a.id,
                                                                               "reason": "为长安汽车配套"},
                           headers=headers)
    assert response.status_code == 201 and response.get_json()["tier"] is None
    error_of(client.post(edition_url(SUPPLIER, "2026H2", "/publish"), headers=headers), 409, "not_in_review")
    assert client.post(edition_url(SUPPLIER, "2026H2", "/submit"), headers=headers).status_code == 200
    assert client.post(edition_url(SUPPLIER, "2026H2", "/publish"), headers=headers).status_code == 200
    assert entries_of(SUPPLIER, "2026H2") == {(a.id, "为长安汽车配套", None)}


def test_an_enterprise_can_be_in_both_lists(client):
    a = make_enterprise()
    draft_with(SUPPLIER, "2026H1", [])
    draft_with(POOL, "2026H1", [])
    headers = bearer(make_user("admin"))
    for kind in (SUPPLIER, POOL):
        response = client.post(edition_url(kind, "2026H1", "/entries"), json={"enterprise_id": a.id, "reason": "理由"},
                               headers=headers)
        assert response.status_code == 201, response.get_data(as_text=True)
    assert client.get(entry_url(POOL, "2026H1", a.id), headers=headers).get_json()["tier"] == "cultivating"


# --- opening -------------------------------------------------------------------------------------------------

def test_duplicate_period_is_409_and_nothing_is_opened(client):
    draft_with(SUPPLIER, "2026H1", [make_enterprise()])
    headers = bearer(make_user("coordinator"))
    before = state_of(SUPPLIER, "2026H1")
    error = error_of(client.post(editions_url(SUPPLIER), json={"period": "2026H1"}, headers=headers), 409,
                     "duplicate")
    assert "period" in error["fields"]
    assert state_of(SUPPLIER, "2026H1") == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterEdition)) == 1


@pytest.mark.parametrize("data", [{"period": "2026H3"}, {"period": "26H1"}, {"period": ""}, {"period": 2026},
                                  {"period": None}, {}, {"period": "2026H1", "note": "x"}])
def test_bad_period_is_422(client, data):
    headers = bearer(make_user("coordinator"))
    error = error_of(client.post(editions_url(SUPPLIER), json=data, headers=headers), 422)
    assert set(error["fields"]) & {"period", "note"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterEdition)) == 0


def test_unknown_kind_is_404_everywhere(client):
    headers = bearer(make_user("admin"))
    error_of(client.get(editions_url("black_list"), headers=headers), 404, "not_found")
    error_of(client.post(editions_url("black_list"), json={"period": "2026H1"}, headers=headers), 404)
    error_of(client.get(edition_url("black_list", "2026H1"), headers=headers), 404)
    error_of(client.get(f"{ROOT}/black_list/diff?from=2025H2&to=2026H1", headers=headers), 404)


@pytest.mark.parametrize("period", ["2030H1", "2026H3", "latest"])
def test_missing_or_malformed_edition_is_404(client, period):
    headers = bearer(make_user("admin"))
    for method, suffix in (("GET", ""), ("POST", "/submit"), ("GET", "/export.xlsx")):
        error = error_of(client.open(edition_url(SUPPLIER, period, suffix), method=method, headers=headers), 404)
        assert error["message"] == "记录不存在或您无权查看"


def test_malformed_body_is_400(client):
    draft_with(SUPPLIER, "2026H1", [make_enterprise()])
    headers = bearer(make_user("admin"))
    for method, url in (("POST", editions_url(SUPPLIER)), ("POST", edition_url(SUPPLIER, "2026H1", "/entries")),
                        ("POST", edition_url(SUPPLIER, "2026H1", "/return"))):
        error_of(client.open(url, method=method, data="[1, 2", content_type="application/json", headers=headers),
                 400, "bad_request")


# --- entries -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kind", "data", "fields"), [
    (SUPPLIER, {}, {"enterprise_id", "reason"}),
    (SUPPLIER, {"enterprise_id": "abc", "reason": "理由"}, {"enterprise_id"}),
    (SUPPLIER, {"enterprise_id": True, "reason": "理由"}, {"enterprise_id"}),
    (SUPPLIER, {"enterprise_id": None, "reason": " "}, {"enterprise_id", "reason"}),
    (SUPPLIER, {"reason": ["理由"]}, {"enterprise_id", "reason"}),
    (SUPPLIER, {"enterprise_id": 0, "reason": "理", "extra": 1}, {"extra"}),
    (SUPPLIER, {"enterprise_id": "ENT", "reason": "理" * 1001}, {"reason"}),
    (SUPPLIER, {"enterprise_id": "ENT", "reason": "理由", "tier": "龙头"}, {"tier"}),
    (POOL, {"enterprise_id": "ENT", "reason": "理由", "tier": "巨头"}, {"tier"}),
    (POOL, {"enterprise_id": "ENT", "reason": "理由", "tier": 1}, {"tier"}),
])
def test_bad_entry_is_422_and_nothing_is_added(client, kind, data, fields):
    enterprise = make_enterprise()
    draft_with(kind, "2026H1", [])
    data = {key: enterprise.id if value == "ENT" else value for key, value in data.items()}
    headers = bearer(make_user("coordinator"))
    error = error_of(client.post(edition_url(kind, "2026H1", "/entries"), json=data, headers=headers), 422)
    assert fields <= set(error["fields"]), error
    assert entries_of(kind, "2026H1") == set()


def test_adding_twice_is_409_and_a_deregistered_enterprise_422(client):
    a = make_enterprise()
    gone = make_enterprise(status=EnterpriseStatus.DEREGISTERED.value)
    draft_with(SUPPLIER, "2026H1", [a])
    headers = bearer(make_user("coordinator"))
    url = edition_url(SUPPLIER, "2026H1", "/entries")
    error_of(client.post(url, json={"enterprise_id": a.id, "reason": "再次"}, headers=headers), 409, "duplicate")
    error = error_of(client.post(url, json={"enterprise_id": gone.id, "reason": "理由"}, headers=headers), 422)
    assert "enterprise_id" in error["fields"]
    for missing in (999999, 2**40):
        error_of(client.post(url, json={"enterprise_id": missing, "reason": "理由"}, headers=headers), 404)
    assert entries_of(SUPPLIER, "2026H1") == {(a.id, "入库测试", None)}


def test_patch_and_delete_an_enterprise_not_on_the_edition_is_404(client):
    on, off = make_enterprise(), make_enterprise()
    draft_with(SUPPLIER, "2026H1", [on])
    headers = bearer(make_user("coordinator"))
    error_of(client.patch(entry_url(SUPPLIER, "2026H1", off.id), json={"reason": "x"}, headers=headers), 404)
    error_of(client.delete(entry_url(SUPPLIER, "2026H1", off.id), json={"reason": "x"}, headers=headers), 404)
    error_of(client.get(entry_url(SUPPLIER, "2026H1", off.id), headers=headers), 404)


@pytest.mark.parametrize("kwargs", [{}, {"json": {}}, {"json": {"reason": "  "}}, {"json": {"reason": None}},
                                    {"json": {"reason": 5}}])
def test_delete_needs_a_reason(client, kwargs):
    a = make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    domain.open_edition(None, SUPPLIER, "2026H1")
    headers = bearer(make_user("coordinator"))
    before = state_of(SUPPLIER, "2026H1")
    error = error_of(client.delete(entry_url(SUPPLIER, "2026H1", a.id), headers=headers, **kwargs), 422)
    assert "reason" in error["fields"]
    assert state_of(SUPPLIER, "2026H1") == before


def test_patch_validates_and_an_empty_patch_changes_nothing(client):
    a = make_enterprise()
    draft_with(POOL, "2026H1", [a])
    headers = bearer(make_user("coordinator"))
    url = entry_url(POOL, "2026H1", a.id)
    assert "reason" in error_of(client.patch(url, json={"reason": ""}, headers=headers), 422)["fields"]
    assert "tier" in error_of(client.patch(url, json={"tier": "巨头"}, headers=headers), 422)["fields"]
    assert "name" in error_of(client.patch(url, json={"name": "x"}, headers=headers), 422)["fields"]
    before = state_of(POOL, "2026H1")
    response = client.patch(url, json={}, headers=headers)
    assert response.status_code == 200 and response.get_json()["tier"] == "cultivating"
    assert state_of(POOL, "2026H1") == before


def test_detail_filters_by_county_and_cluster(client):
    a = make_enterprise(county="汇川区", cluster="航空航天装备")
    b = make_enterprise(county="桐梓县", cluster="装备制造")
    published_edition(SUPPLIER, "2026H1", [a, b])
    headers = bearer(make_user("leader"))
    url = edition_url(SUPPLIER, "2026H1")
    ids = lambda **q: [e["enterprise_id"] for e in client.get(url, query_string=q, headers=headers)  # noqa: E731
                       .get_json()["entries"]]
    assert sorted(ids()) == sorted([a.id, b.id])
    assert ids(county="桐梓县") == [b.id]
    assert ids(cluster="航空航天装备") == [a.id]
    assert ids(county="桐梓县", cluster="航空航天装备") == []
    body = client.get(url, query_string={"county": "桐梓县"}, headers=headers).get_json()
    assert body["entries_count"] == 2 and {c["county"] for c in body["counts_by_county"]} == {"汇川区", "桐梓县"}


def test_editions_list_paginates_and_filters_by_status(client):
    for period in ("2025H1", "2025H2"):
        published_edition(SUPPLIER, period, [make_enterprise()])
    draft_with(SUPPLIER, "2026H1", [])
    headers = bearer(make_user("coordinator"))
    page = client.get(editions_url(SUPPLIER), query_string={"per_page": 2, "page": 2}, headers=headers).get_json()
    assert (page["total"], page["page"], page["per_page"]) == (3, 2, 2)
    assert [i["period"] for i in page["items"]] == ["2025H1"]
    drafts = client.get(editions_url(SUPPLIER), query_string={"status": "draft"}, headers=headers).get_json()
    assert [i["period"] for i in drafts["items"]] == ["2026H1"]
    assert "status" in error_of(client.get(editions_url(SUPPLIER), query_string={"status": "old"},
                                           headers=headers), 400)["fields"]
    error_of(client.get(editions_url(SUPPLIER), query_string={"per_page": 201}, headers=headers), 400)


def test_stale_version_is_409_and_nothing_changes(client):
    draft = draft_with(SUPPLIER, "2026H1", [make_enterprise()])
    headers = bearer(make_user("coordinator"))
    before = state_of(SUPPLIER, "2026H1")
    url = edition_url(SUPPLIER, "2026H1", "/submit")
    error = error_of(client.post(url, json={"version": draft.version + 5}, headers=headers), 409, "stale")
    assert "version" in error["fields"]
    assert "version" in error_of(client.post(url, json={"version": 1.5}, headers=headers), 422)["fields"]
    assert state_of(SUPPLIER, "2026H1") == before
    current = client.get(edition_url(SUPPLIER, "2026H1"), headers=headers).get_json()["version"]
    assert client.post(url, json={"version": current}, headers=headers).status_code == 200


# --- frozen and in review ------------------------------------------------------------------------------------

def _writes(kind: RosterKind, period: str, on, off) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("POST", edition_url(kind, period, "/entries"), {"json": {"enterprise_id": off.id, "reason": "新增"}}),
        ("PATCH", entry_url(kind, period, on.id), {"json": {"reason": "新理由"}}),
        ("DELETE", entry_url(kind, period, on.id), {"json": {"reason": "移出"}}),
        ("POST", edition_url(kind, period, "/submit"), {}),
        ("POST", edition_url(kind, period, "/return"), {"json": {"comment": "退回"}}),
        ("POST", edition_url(kind, period, "/publish"), {}),
        ("POST", edition_url(kind, period, "/import"),
         {"data": {"file": (io.BytesIO(workbook([row_for(off)])), "名单.xlsx")},
          "content_type": "multipart/form-data"}),
    ]


@pytest.mark.parametrize("status", ["published", "superseded"])
def test_frozen_edition_refuses_every_kind_of_write_with_409(client, status):
    on, off = make_enterprise(), make_enterprise()
    published_edition(SUPPLIER, "2025H2", [on])
    if status == "superseded":
        published_edition(SUPPLIER, "2026H1", [on])
    headers = bearer(make_user("admin"))
    before = state_of(SUPPLIER, "2025H2")
    assert before[0].value == status
    for method, url, kwargs in _writes(SUPPLIER, "2025H2", on, off):
        error = error_of(client.open(url, method=method, headers=headers, **kwargs), 409, "frozen")
        assert "不能" in error["message"], (method, url)
    # a frozen edition answers "frozen" even when the body is missing or wrong
    error_of(client.delete(entry_url(SUPPLIER, "2025H2", on.id), headers=headers), 409, "frozen")
    error_of(client.post(edition_url(SUPPLIER, "2025H2", "/return"), json={}, headers=headers), 409, "frozen")
    error_of(client.post(edition_url(SUPPLIER, "2025H2", "/entries"), json={}, headers=headers), 409, "frozen")
    assert state_of(SUPPLIER, "2025H2") == before


def test_edition_in_review_refuses_entry_changes_with_in_review(client):
    on, off = make_enterprise(), make_enterprise()
    draft = draft_with(SUPPLIER, "2026H1", [on])
    domain.submit(None, draft)
    headers = bearer(make_user("admin"))
    before = state_of(SUPPLIER, "2026H1")
    for method, url, kwargs in _writes(SUPPLIER, "2026H1", on, off)[:4] + _writes(SUPPLIER, "2026H1", on, off)[6:]:
        error_of(client.open(url, method=method, headers=headers, **kwargs), 409, "in_review")
    assert state_of(SUPPLIER, "2026H1") == before


def test_return_needs_a_comment_and_an_edition_in_review(client):
    draft = draft_with(SUPPLIER, "2026H1", [make_enterprise()])
    headers = bearer(make_user("coordinator"))
    url = edition_url(SUPPLIER, "2026H1", "/return")
    error_of(client.post(url, json={"comment": "意见"}, headers=headers), 409, "not_in_review")
    domain.submit(None, draft)
    db.session.commit()
    before = state_of(SUPPLIER, "2026H1")
    for data in ({}, {"comment": " "}, {"comment": 3}):
        assert "comment" in error_of(client.post(url, json=data, headers=headers), 422)["fields"]
    assert state_of(SUPPLIER, "2026H1") == before


# --- access --------------------------------------------------------------------------------------------------

def test_county_coordinator_edits_only_their_county_and_cannot_review(client):
    mine, theirs, listed = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县"), \
        make_enterprise(county="桐梓县")
    draft_with(SUPPLIER, "2026H1", [listed])
    coordinator = make_user("coordinator", county="汇川区")
    headers = bearer(coordinator)
    url = edition_url(SUPPLIER, "2026H1", "/entries")
    before = state_of(SUPPLIER, "2026H1")
    error = error_of(client.post(url, json={"enterprise_id": theirs.id, "reason": "理由"}, headers=headers), 404)
    assert error["message"] == "记录不存在或您无权查看"
    error_of(client.patch(entry_url(SUPPLIER, "2026H1", listed.id), json={"reason": "x"}, headers=headers), 404)
    error_of(client.delete(entry_url(SUPPLIER, "2026H1", listed.id), json={"reason": "x"}, headers=headers), 404)
    assert state_of(SUPPLIER, "2026H1") == before
    assert client.post(url, json={"enterprise_id": mine.id, "reason": "理由"}, headers=headers).status_code == 201
    # proposing is theirs; submitting, returning and publishing belong to the city
    for suffix, data in (("/submit", None), ("/publish", None), ("/return", {"comment": "x"})):
        error_of(client.post(edition_url(SUPPLIER, "2026H1", suffix), json=data, headers=headers), 403, "forbidden")
    domain.submit(None, domain.get_edition(SUPPLIER, "2026H1"))
    db.session.commit()
    error_of(client.post(edition_url(SUPPLIER, "2026H1", "/publish"), headers=headers), 403, "forbidden")
    assert domain.get_edition(SUPPLIER, "2026H1").status is EditionStatus.IN_REVIEW


def test_leader_reads_everything_and_every_write_is_403(client):
    on, off = make_enterprise(), make_enterprise()
    published_edition(SUPPLIER, "2025H2", [on])
    draft_with(SUPPLIER, "2026H1", [])  # a copy: ``on`` is on it too
    headers = bearer(make_user("leader"))
    before = state_of(SUPPLIER, "2026H1"), state_of(SUPPLIER, "2025H2")
    assert client.get(edition_url(SUPPLIER, "2026H1"), headers=headers).status_code == 200
    assert client.get(edition_url(SUPPLIER, "2026H1", "/export.csv"), headers=headers).status_code == 200
    assert client.get(f"{ROOT}/{SUPPLIER}/diff?from=2025H2&to=2026H1", headers=headers).status_code == 200
    assert [i["period"] for i in client.get(editions_url(SUPPLIER), headers=headers).get_json()["items"]] == [
        "2026H1", "2025H2"]
    error_of(client.post(editions_url(SUPPLIER), json={"period": "2026H2"}, headers=headers), 403, "forbidden")
    for period in ("2026H1", "2025H2"):
        for method, url, kwargs in _writes(SUPPLIER, period, on, off):
            error_of(client.open(url, method=method, headers=headers, **kwargs), 403, "forbidden")
    assert (state_of(SUPPLIER, "2026H1"), state_of(SUPPLIER, "2025H2")) == before


def test_commissioner_sees_published_editions_only(client):
    on, off = make_enterprise(), make_enterprise()
    published_edition(SUPPLIER, "2025H2", [on])
    draft_with(SUPPLIER, "2026H1", [])  # a copy: ``on`` is on it too
    headers = bearer(make_user("commissioner", specialties=["tech"]))
    hidden = error_of(client.get(edition_url(SUPPLIER, "2026H1"), headers=headers), 404)
    missing = error_of(client.get(edition_url(SUPPLIER, "2030H1"), headers=headers), 404)
    assert hidden == missing  # a draft's existence does not leak
    for suffix in ("/export.xlsx", "/export.csv", f"/entries/{on.id}"):
        error_of(client.get(edition_url(SUPPLIER, "2026H1", suffix), headers=headers), 404)
    error_of(client.get(f"{ROOT}/{SUPPLIER}/diff?from=2025H2&to=2026H1", headers=headers), 404)
    error_of(client.post(edition_url(SUPPLIER, "2026H1", "/entries"), json={"enterprise_id": off.id, "reason": "x"},
                         headers=headers), 404)
    listed = client.get(editions_url(SUPPLIER), headers=headers).get_json()
    assert [i["period"] for i in listed["items"]] == ["2025H2"] and listed["total"] == 1
    published = client.get(edition_url(SUPPLIER, "2025H2"), headers=headers)
    assert published.status_code == 200 and [e["enterprise_id"] for e in published.get_json()["entries"]] == [on.id]
    error_of(client.post(edition_url(SUPPLIER, "2025H2", "/submit"), headers=headers), 403, "forbidden")
    error_of(client.post(editions_url(SUPPLIER), json={"period": "2026H2"}, headers=headers), 403)


def test_no_token_is_401(client):
    error_of(client.get(editions_url(SUPPLIER)), 401)
    error_of(client.post(editions_url(SUPPLIER), json={"period": "2026H1"}), 401)


# --- diff ----------------------------------------------------------------------------------------------------

def test_diff_query_errors(client):
    published_edition(SUPPLIER, "2025H2", [make_enterprise()])
    headers = bearer(make_user("admin"))
    url = f"{ROOT}/{SUPPLIER}/diff"
    assert set(error_of(client.get(url, headers=headers), 400)["fields"]) == {"from", "to"}
    assert set(error_of(client.get(url, query_string={"from": "2025H2", "to": "2025H5"}, headers=headers),
                        400)["fields"]) == {"to"}
    error_of(client.get(url, query_string={"from": "2025H2", "to": "2030H1"}, headers=headers), 404)
    same = client.get(url, query_string={"from": "2025h2", "to": "2025H2"}, headers=headers).get_json()
    assert (same["added"], same["removed"], same["tier_changed"]) == ([], [], [])


# --- Excel out -----------------------------------------------------------------------------------------------

def _filenames(response) -> tuple[str, str]:
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    ascii_name = disposition.split('filename="', 1)[1].split('"', 1)[0]
    utf8_name = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    return ascii_name, utf8_name


def test_export_xlsx_opens_with_openpyxl(client):
    a = make_enterprise(main_products="=cmd|' /C calc'!A0")
    b = make_enterprise(county="桐梓县")
    published_edition(SUPPLIER, "2026H1", [a, b], reason="为长安汽车配套")
    response = client.get(edition_url(SUPPLIER, "2026H1", "/export.xlsx"), headers=bearer(make_user("commissioner")))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ascii_name, utf8_name = _filenames(response)
    assert ascii_name == "supplier_list_2026H1.xlsx" and utf8_name.endswith("2026H1.xlsx") and "名单" in utf8_name
    ws = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    rows = [[cell.value for cell in row] for row in ws.iter_rows()]
    header = next(i for i, row in enumerate(rows) if row[:len(OFFICIAL_COLUMNS)] == OFFICIAL_COLUMNS)
    data = {row[2]: row for row in rows[header + 1:]}
    assert set(data) == {a.uscc, b.uscc}
    assert data[a.uscc][1] == a.name and data[a.uscc][8] == "为长安汽车配套"
    cell = next(c for row in ws.iter_rows() for c in row if c.value == "=cmd|' /C calc'!A0")
    assert cell.data_type == "s"  # text, never a formula


def test_export_csv_decodes(client):
    a = make_enterprise()
    published_edition(SUPPLIER, "2026H1", [a], reason="为长安汽车配套")
    response = client.get(edition_url(SUPPLIER, "2026H1", "/export.csv"), headers=bearer(make_user("leader")))
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params.get("charset") == "utf-8"
    ascii_name, utf8_name = _filenames(response)
    assert ascii_name == "supplier_list_2026H1.csv" and utf8_name.endswith(".csv")
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:len(OFFICIAL_COLUMNS)] == OFFICIAL_COLUMNS
    assert [(r[1], r[2], r[8]) for r in rows[1:]] == [(a.name, a.uscc, "为长安汽车配套")]


def test_import_template_downloads(client):
    response = client.get(f"{ROOT}/{POOL}/template.xlsx", headers=bearer(make_user("coordinator")))
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    assert _filenames(response)[0] == "cultivation_pool_template.xlsx"
    assert openpyxl.load_workbook(io.BytesIO(response.get_data())).sheetnames
    error_of(client.get(f"{ROOT}/nope/template.xlsx", headers=bearer(make_user("coordinator"))), 404)


# --- Excel in ------------------------------------------------------------------------------------------------

def test_import_good_file_adds_and_updates(client):
    kept, changed, new = make_enterprise(), make_enterprise(), make_enterprise(county="桐梓县")
    draft_with(SUPPLIER, "2026H1", [kept, changed], reason="原理由")
    headers = bearer(make_user("coordinator"))
    data = workbook([row_for(kept, "原理由", 1), row_for(changed, "新的入库理由", 2), row_for(new, "新增企业", 3)])
    response = upload(client, SUPPLIER, "2026H1", data, headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert {k: body[k] for k in ("added", "updated", "unchanged", "rows_total")} == {
        "added": 1, "updated": 1, "unchanged": 1, "rows_total": 3}
    assert body["summary"]
    assert entries_of(SUPPLIER, "2026H1") == {(kept.id, "原理由", None), (changed.id, "新的入库理由", None),
                                             (new.id, "新增企业", None)}


def test_import_with_one_bad_row_writes_nothing_and_reports_rows(client):
    kept = make_enterprise()
    good = [make_enterprise() for _ in range(3)]
    draft_with(SUPPLIER, "2026H1", [kept], reason="原理由")
    headers = bearer(make_user("coordinator"))
    rows = [row_for(e, number=n) for n, e in enumerate(good, start=1)]
    rows.append([4, "遵义不存在的公司", wrong_check_digit(good[0].uscc), "汇川区", "理由"])
    rows.append([5, kept.name, kept.uscc, "火星区", "理由"])
    before = state_of(SUPPLIER, "2026H1")
    response = upload(client, SUPPLIER, "2026H1", workbook(rows), headers)
    assert response.status_code == 422 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields", "rows"}
    error = body["error"]
    assert error["code"] == "import_failed" and error["message"] and isinstance(error["fields"]["file"], str)
    assert all(set(problem) == {"row", "field", "message"} for problem in error["rows"])
    # the title is row 1 and the header row 2, so the 4th and 5th data rows are spreadsheet rows 6 and 7
    assert {(p["row"], p["field"]) for p in error["rows"]} == {(6, "统一社会信用代码"), (7, "区县")}
    assert state_of(SUPPLIER, "2026H1") == before


@pytest.mark.parametrize(("filename", "data"), [
    ("名单.csv", "序号,企业名称\n1,遵义厂\n".encode()),
    ("名单.xlsx", b"not a workbook at all"),
    ("名单.xlsx", b""),
])
def test_import_refuses_what_is_not_xlsx_with_422_on_file(client, filename, data):
    draft_with(SUPPLIER, "2026H1", [make_enterprise()])
    headers = bearer(make_user("coordinator"))
    before = state_of(SUPPLIER, "2026H1")
    error = error_of(upload(client, SUPPLIER, "2026H1", data, headers, filename), 422)
    assert error["fields"]["file"]
    assert state_of(SUPPLIER, "2026H1") == before


def test_import_without_a_file_is_422(client):
    draft_with(SUPPLIER, "2026H1", [])
    headers = bearer(make_user("coordinator"))
    url = edition_url(SUPPLIER, "2026H1", "/import")
    assert "file" in error_of(client.post(url, data={"other": "x"}, headers=headers,
                                          content_type="multipart/form-data"), 422)["fields"]
    assert "file" in error_of(client.post(url, json={"file": "x"}, headers=headers), 422)["fields"]


def test_import_over_the_upload_limit_is_413_on_file(app, client, monkeypatch):
    draft_with(SUPPLIER, "2026H1", [])
    headers = bearer(make_user("coordinator"))
    data = workbook([row_for(make_enterprise())])
    db.session.commit()
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", len(data) // 2)
    error = error_of(upload(client, SUPPLIER, "2026H1", data, headers), 413, "too_large")
    assert error["fields"]["file"]
    assert entries_of(SUPPLIER, "2026H1") == set()


def test_import_with_too_many_rows_is_422_on_file(app, client, monkeypatch):
    draft_with(SUPPLIER, "2026H1", [])
    enterprises = [make_enterprise() for _ in range(3)]
    headers = bearer(make_user("coordinator"))
    monkeypatch.setitem(app.config, "ROSTER_IMPORT_MAX_ROWS", 2)
    data = workbook([row_for(e, number=n) for n, e in enumerate(enterprises, start=1)])
    error = error_of(upload(client, SUPPLIER, "2026H1", data, headers), 422)
    assert error["fields"]["file"]
    assert entries_of(SUPPLIER, "2026H1") == set()


def test_county_coordinator_imports_only_their_county(client):
    """Import needs EDIT on the edition and, like adding one by one, on every enterprise it adds or changes."""
    mine, theirs = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    draft_with(POOL, "2026H1", [])
    headers = bearer(make_user("coordinator", county="汇川区"))
    columns = ["序号", "企业名称", "统一社会信用代码", "区县", "入库理由", "层级"]
    before = state_of(POOL, "2026H1")
    both = workbook([row_for(mine, number=1) + ["龙头"], row_for(theirs, number=2) + ["培育"]], columns)
    response = upload(client, POOL, "2026H1", both, headers)
    assert response.status_code == 422, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == "import_failed" and error["fields"]["file"]
    assert len(error["rows"]) == 1 and theirs.uscc in error["rows"][0]["message"]
    assert state_of(POOL, "2026H1") == before
    response = upload(client, POOL, "2026H1", workbook([row_for(mine) + ["龙头"]], columns), headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert entries_of(POOL, "2026H1") == {(mine.id, "导入入库理由", Tier.LEADER)}


# --- the OpenAPI document ------------------------------------------------------------------------------------

def test_schemas_name_the_fields_the_endpoints_send(client):
    a, b = make_enterprise(), make_enterprise()
    published_edition(POOL, "2025H2", [a, b])
    draft_with(POOL, "2026H1", [])
    headers = bearer(make_user("admin"))
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    listed = client.get(editions_url(POOL), headers=headers).get_json()
    assert set(listed["items"][0]) == set(schemas["RosterEdition"]["properties"])
    detail = client.get(edition_url(POOL, "2025H2"), headers=headers).get_json()
    assert set(detail) == set(schemas["RosterEditionDetail"]["properties"])
    assert set(detail["entries"][0]) == set(schemas["RosterEntry"]["properties"])
    client.delete(entry_url(POOL, "2026H1", a.id), json={"reason": "移出"}, headers=headers)
    client.patch(entry_url(POOL, "2026H1", b.id), json={"tier": "leader"}, headers=headers)
    client.post(edition_url(POOL, "2026H1", "/entries"), json={"enterprise_id": make_enterprise().id,
                                                               "reason": "新增"}, headers=headers)
    diff = client.get(f"{ROOT}/{POOL}/diff?from=2025H2&to=2026H1", headers=headers).get_json()
    assert set(diff) == set(schemas["RosterDiff"]["properties"])
    for key in ("added", "removed", "tier_changed"):
        assert len(diff[key]) == 1, key
        item = schemas["RosterDiff"]["properties"][key]["items"]["$ref"].rsplit("/", 1)[1]
        assert set(diff[key][0]) == set(schemas[item]["properties"]), key
