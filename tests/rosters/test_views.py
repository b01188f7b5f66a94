"""Roster pages: the published lists, editions, one edition's review cycle, entries, diff, exports and imports.

Test data is committed (``db.session.commit()``) before requests: a view that refuses a change rolls the
session back, and that must not take the test's own setup with it. The outer transaction still rolls
everything back at the end of each test.
"""

from __future__ import annotations

import html as html_lib
import re
from io import BytesIO

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.rosters import domain
from crm.rosters.models import (
    EditionStatus,
    ImportStatus,
    RosterEdition,
    RosterEntry,
    RosterImport,
    RosterKind,
    RosterRemoval,
    Tier,
)
from tests.conftest import assign, csrf_token_from, login, make_enterprise, make_user
from tests.rosters.factories import published_edition

SUPPLIER = RosterKind.SUPPLIER_LIST
POOL = RosterKind.CULTIVATION_POOL
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- helpers ---------------------------------------------------------------------------------------------

def page_text(response) -> str:
    """The visible text of a page: tags dropped, entities decoded, whitespace collapsed."""
    body = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return re.sub(r"\s+", " ", html_lib.unescape(body))


def listed(response) -> list[str]:
    """The enterprise ids in the entries table, in order."""
    return re.findall(r'<tr data-enterprise="(\d+)">', response.get_data(as_text=True))


def county_count(response, county: str) -> int | None:
    match = re.search(rf'data-county="{county}">.*?<span[^>]*data-count>(\d+)</span>', response.get_data(as_text=True),
                      re.S)
    return int(match.group(1)) if match else None


def url(kind: RosterKind, period: str = "", tail: str = "") -> str:
    return f"/rosters/{kind.value}/{period}{tail}"


def entries_of(edition: RosterEdition) -> dict[int, RosterEntry]:
    return {e.enterprise_id: e for e in db.session.scalars(
        sa.select(RosterEntry).where(RosterEntry.edition_id == edition.id))}


def snapshot(edition: RosterEdition) -> tuple:
    """Everything a refused POST must leave alone."""
    db.session.expire_all()
    fresh = db.session.get(RosterEdition, edition.id)
    entries = sorted((e.enterprise_id, e.reason, e.tier) for e in entries_of(fresh).values())
    removals = db.session.scalar(sa.select(sa.func.count()).select_from(RosterRemoval)
                                 .where(RosterRemoval.edition_id == edition.id))
    imports = db.session.scalar(sa.select(sa.func.count()).select_from(RosterImport))
    audits = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    return (fresh.status, fresh.version, fresh.return_comment, entries, removals, imports, audits)


def xlsx_file(rows: list[dict], kind: RosterKind = SUPPLIER) -> bytes:
    """An import file: the app's own template (title, header) with ``rows`` (column name → value) below."""
    from crm.rosters import exports

    template = load_workbook(BytesIO(exports.template_xlsx(kind)))
    header = [c.value for c in template.active[exports.HEADER_ROW]]
    book = Workbook()
    sheet = book.active
    sheet.append([template.active.cell(1, 1).value])
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(h, "") for h in header])
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def upload(client, kind: RosterKind, period: str, data: bytes, filename: str = "名单.xlsx", follow: bool = True):
    return client.post(url(kind, period, "/import"), data={"file": (BytesIO(data), filename)},
                       content_type="multipart/form-data", follow_redirects=follow)


@pytest.fixture(autouse=True)
def _sqlite_outer_transaction(_transaction):
    """Make the per-test rollback hold on SQLite when a view commits.

    pysqlite (Python 3.11) emits no BEGIN for ``conn.begin()``, so the session's SAVEPOINT is the outermost
    transaction and its RELEASE (every ``commit()``, e.g. at sign-in) commits for good: rows leak into later
    tests. An explicit BEGIN makes the conftest's outer transaction real. Harmless once conftest does it itself.
    """
    conn = db.engines[None]
    if conn.dialect.name == "sqlite" and not conn.connection.dbapi_connection.in_transaction:
        conn.exec_driver_sql("BEGIN")
    yield


def signed_in(client, role: str, **kwargs):
    user = make_user(role, **kwargs)
    db.session.commit()
    login(client, user)
    return user


@pytest.fixture
def city(client):
    """A city-wide coordinator (市工业和科学技术局): edits drafts, submits, returns and publishes."""
    return signed_in(client, "coordinator")


# --- the whole cycle -------------------------------------------------------------------------------------

def test_whole_cycle_through_the_pages(client, city):
    a = make_enterprise("遵义甲零部件有限公司", county="汇川区")
    b = make_enterprise("遵义乙材料有限公司", county="汇川区")
    c = make_enterprise("桐梓丙电池材料有限公司", county="桐梓县", cluster="汽车及电池材料")
    published_edition(POOL, "2025H2", [a, b], tier="培育")
    db.session.commit()

    # open the draft: a copy of the latest published edition
    response = client.post(url(POOL), data={"period": "2026h1"})
    assert response.status_code == 302 and response.headers["Location"].endswith(url(POOL, "2026H1"))
    draft = domain.get_edition(POOL, "2026H1")
    assert draft.status is EditionStatus.DRAFT and set(entries_of(draft)) == {a.id, b.id}
    # the same period again: the domain's message next to the field
    response = client.post(url(POOL), data={"period": "2026H1"})
    assert response.status_code == 409
    assert re.search(r'is-invalid[^>]*>\s*<div class="invalid-feedback">该期次已存在', response.get_data(as_text=True))

    # find an enterprise by pinyin initials and add it
    response = client.get(url(POOL, "2026H1"), query_string={"q": "tzbdc"})
    assert response.status_code == 200
    assert f"/entries/add/{c.id}" in response.get_data(as_text=True)
    add_url = url(POOL, "2026H1", f"/entries/add/{c.id}")
    assert client.get(add_url).status_code == 200
    response = client.post(add_url, data={"reason": " ", "tier": "chain_master"})
    assert response.status_code == 422 and "请填写入库理由" in page_text(response)
    assert c.id not in entries_of(draft)
    response = client.post(add_url, data={"reason": "新认定省级专精特新", "tier": "chain_master"})
    assert response.status_code == 302
    assert entries_of(draft)[c.id].tier is Tier.CHAIN_MASTER

    # change a tier and a reason
    response = client.get(url(POOL, "2026H1", f"/entries/{a.id}"))
    assert "入库测试" in page_text(response)
    response = client.post(url(POOL, "2026H1", f"/entries/{a.id}"), data={"reason": "产值突破10亿元", "tier": "leader"})
    assert response.status_code == 302
    entry = entries_of(draft)[a.id]
    assert (entry.tier, entry.reason) == (Tier.LEADER, "产值突破10亿元")

    # remove needs a reason
    remove_url = url(POOL, "2026H1", f"/entries/{b.id}/remove")
    response = client.post(remove_url, data={"removal_reason": ""})
    assert response.status_code == 422 and "请填写移出理由" in page_text(response)
    assert "入库测试</textarea>" in response.get_data(as_text=True)  # the edit form keeps the entry's values
    assert b.id in entries_of(draft)
    response = client.post(remove_url, data={"removal_reason": "企业迁出遵义"}, follow_redirects=True)
    assert "已将“遵义乙材料有限公司”移出" in page_text(response)
    assert b.id not in entries_of(draft)
    assert "企业迁出遵义" in page_text(response)  # this edition's removals, with their reasons

    # submit, return (a comment is required), submit again, publish
    response = client.post(url(POOL, "2026H1", "/submit"), follow_redirects=True)
    assert "已提交审核" in page_text(response)
    assert domain.get_edition(POOL, "2026H1").status is EditionStatus.IN_REVIEW
    response = client.post(url(POOL, "2026H1", "/return"), data={"comment": ""})
    assert response.status_code == 422 and "请填写退回意见" in page_text(response)
    assert domain.get_edition(POOL, "2026H1").status is EditionStatus.IN_REVIEW
    response = client.post(url(POOL, "2026H1", "/return"), data={"comment": "请补充丙公司的配套对象"},
                           follow_redirects=True)
    assert "已退回修改" in page_text(response)
    assert "data-return-comment" in response.get_data(as_text=True)
    assert "请补充丙公司的配套对象" in page_text(response)
    assert domain.get_edition(POOL, "2026H1").status is EditionStatus.DRAFT
    assert client.post(url(POOL, "2026H1", "/submit")).status_code == 302
    page = client.get(url(POOL, "2026H1")).get_data(as_text=True)
    assert "data-confirm=" in page and "/publish" in page
    response = client.post(url(POOL, "2026H1", "/publish"), follow_redirects=True)
    assert "已发布" in page_text(response)
    db.session.expire_all()
    assert domain.get_edition(POOL, "2026H1").status is EditionStatus.PUBLISHED
    assert domain.get_edition(POOL, "2025H2").status is EditionStatus.SUPERSEDED
    published = domain.get_edition(POOL, "2026H1")
    assert published.published_by_id == city.id and published.submitted_by_id == city.id

    # the published list: its entries and the counts per county
    response = client.get("/rosters/", query_string={"kind": "cultivation_pool"})
    assert response.status_code == 200
    assert sorted(listed(response)) == sorted([str(a.id), str(c.id)])
    assert county_count(response, "汇川区") == 1 and county_count(response, "桐梓县") == 1
    assert county_count(response, "合计") == 2
    text = page_text(response)
    assert "龙头" in text and "链主" in text and "2026年上半年" in text

    # the diff: added, removed with its reason, tier changed
    response = client.get(url(POOL, "diff"), query_string={"from": "2025H2", "to": "2026H1"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    added = body[body.index('data-diff="added"'):body.index('id="removed"')]
    removed = body[body.index('data-diff="removed"'):body.index('id="tier"')]
    tier = body[body.index('data-diff="tier"'):]
    assert "桐梓丙电池材料有限公司" in added and "新认定省级专精特新" in added
    assert "遵义乙材料有限公司" in removed and "企业迁出遵义" in removed
    assert "遵义甲零部件有限公司" in tier and "培育 → 龙头" in html_lib.unescape(tier)


def test_editions_page_lists_periods_statuses_and_who_when(client, city):
    a = make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    draft = domain.open_edition(city, SUPPLIER, "2026H1")
    db.session.commit()
    response = client.get(url(SUPPLIER))
    assert response.status_code == 200
    text = page_text(response)
    assert "2025年下半年" in text and "2026年上半年" in text
    assert "已发布" in text and "草稿" in text
    assert f"{city.display_name} · " in text
    # times in Asia/Shanghai
    from crm.core.time import format_local

    assert format_local(draft.opened_at) in text
    # the open form suggests a period and refuses nonsense next to the field
    response = client.post(url(SUPPLIER), data={"period": "2026H3"})
    assert response.status_code == 422 and "期次格式应为 2026H1 或 2026H2" in page_text(response)


def test_index_empty_state_and_filters_keep_their_values(client, city):
    response = client.get("/rosters/")
    assert response.status_code == 200
    assert "尚未发布任何版本" in page_text(response)

    a = make_enterprise("遵义汇川装备有限公司", county="汇川区", cluster="装备制造")
    b = make_enterprise("遵义汇川电子有限公司", county="汇川区", cluster="电子信息")
    c = make_enterprise("桐梓装备有限公司", county="桐梓县", cluster="装备制造")
    published_edition(SUPPLIER, "2025H2", [a, b, c])
    db.session.commit()
    response = client.get("/rosters/")
    assert sorted(listed(response)) == sorted(str(e.id) for e in (a, b, c))
    assert county_count(response, "汇川区") == 2 and county_count(response, "桐梓县") == 1
    assert f'href="/enterprises/{a.id}"' in response.get_data(as_text=True)
    response = client.get("/rosters/", query_string={"county": "汇川区", "cluster": "装备制造"})
    assert listed(response) == [str(a.id)]
    body = response.get_data(as_text=True)
    assert '<option selected value="汇川区">' in body and '<option selected value="装备制造">' in body
    response = client.get("/rosters/", query_string={"county": "正安县"})
    assert listed(response) == [] and "没有符合条件的企业" in page_text(response)
    # the other list is empty
    assert "尚未发布任何版本" in page_text(client.get("/rosters/", query_string={"kind": "cultivation_pool"}))
    assert client.get("/rosters/", query_string={"kind": "nonsense"}).status_code == 404


def test_index_links_a_draft_to_those_who_may_see_it(client, city):
    a = make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    domain.open_edition(city, SUPPLIER, "2026H1")
    db.session.commit()
    response = client.get("/rosters/")
    assert 'data-pending="2026H1"' in response.get_data(as_text=True)
    assert url(SUPPLIER, "2026H1") in response.get_data(as_text=True)

    client.post("/logout")
    commissioner = make_user("commissioner", specialties=["tech"])
    db.session.commit()
    login(client, commissioner)
    response = client.get("/rosters/")
    assert response.status_code == 200
    assert 'data-pending' not in response.get_data(as_text=True)
    assert listed(response) == [str(a.id)]


def test_pagination_of_entries(client, city):
    enterprises = [make_enterprise() for _ in range(3)]
    published_edition(SUPPLIER, "2025H2", enterprises)
    db.session.commit()
    response = client.get(url(SUPPLIER, "2025H2"), query_string={"per_page": 2})
    assert len(listed(response)) == 2 and "第 1 / 2 页" in page_text(response)
    response = client.get(url(SUPPLIER, "2025H2"), query_string={"per_page": 2, "page": 2})
    assert len(listed(response)) == 1
    response = client.get(url(SUPPLIER, "2025H2"), query_string={"page": "x"})
    assert response.status_code == 400 and "页码必须是1到1000000之间的整数" in page_text(response)


def test_unknown_list_or_period_is_not_found(client, city):
    assert client.get("/rosters/nonsense/").status_code == 404
    assert client.get(url(SUPPLIER, "2026H1")).status_code == 404
    assert client.get(url(SUPPLIER, "banana")).status_code == 404
    assert client.get(url(SUPPLIER, "2026H1", "/export.xlsx")).status_code == 404


# --- frozen editions -------------------------------------------------------------------------------------

@pytest.mark.parametrize("superseded", [False, True])
def test_frozen_edition_refuses_every_kind_of_post(client, city, superseded):
    a, b, c = make_enterprise(), make_enterprise(), make_enterprise()
    edition = published_edition(POOL, "2025H2", [a, b], tier="培育")
    if superseded:
        published_edition(POOL, "2026H1", [a])
    db.session.commit()
    before = snapshot(edition)
    frozen = "不能再修改"
    base = url(POOL, "2025H2")

    response = client.get(base)
    body = response.get_data(as_text=True)
    assert "内容已冻结" in page_text(response)
    for control in ("/submit", "/publish", "/return", "/import", "/entries/add/", "修改/移出", 'name="q"'):
        assert control not in body, control

    refusals = [
        (f"{base}/entries/add/{c.id}", {"reason": "补录", "tier": "leader"}, frozen),
        (f"{base}/entries/{a.id}", {"reason": "改理由", "tier": "leader"}, frozen),
        (f"{base}/entries/{a.id}/remove", {"removal_reason": "迁出"}, frozen),
        (f"{base}/entries/{a.id}", {"reason": "", "tier": "leader"}, frozen),  # state before content
        (f"{base}/submit", {}, frozen),
        (f"{base}/return", {"comment": "退回"}, "不能退回"),
        (f"{base}/return", {"comment": ""}, "不能退回"),
        (f"{base}/publish", {}, "不能重复发布"),
    ]
    for path, data, message in refusals:
        response = client.post(path, data=data)
        assert response.status_code == 302, path
        followed = client.get(response.headers["Location"])
        assert followed.status_code == 200
        assert message in page_text(followed), path
        assert snapshot(edition) == before, path
    # an import, with a well-formed file
    response = upload(client, POOL, "2025H2", xlsx_file([], POOL))
    assert frozen in page_text(response)
    assert snapshot(edition) == before


# --- access ----------------------------------------------------------------------------------------------

def test_county_coordinator_adds_only_their_county_and_cannot_review(client):
    own = make_enterprise("汇川本区企业有限公司", county="汇川区")
    other = make_enterprise("桐梓外区企业有限公司", county="桐梓县")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.commit()
    signed_in(client, "coordinator", county="汇川区")
    base = url(SUPPLIER, "2026H1")

    response = client.get(base, query_string={"q": "企业有限公司"})
    body = response.get_data(as_text=True)
    assert f'data-candidate="{own.id}"' in body and f'data-candidate="{other.id}"' not in body
    assert "/submit" not in body and "/publish" not in body  # review controls are the city's
    assert client.get(f"{base}/entries/add/{other.id}").status_code == 404
    response = client.post(f"{base}/entries/add/{other.id}", data={"reason": "跨区"})
    assert response.status_code == 404
    assert other.id not in entries_of(draft)
    assert client.post(f"{base}/entries/add/{own.id}", data={"reason": "本区配套"}).status_code == 302
    assert own.id in entries_of(draft)

    assert client.post(f"{base}/submit").status_code == 403
    domain.submit(None, draft)
    db.session.commit()
    assert client.post(f"{base}/publish").status_code == 403
    assert client.post(f"{base}/return", data={"comment": "x"}).status_code == 403
    assert domain.get_edition(SUPPLIER, "2026H1").status is EditionStatus.IN_REVIEW


def test_leader_sees_published_and_draft_but_every_post_is_forbidden(client):
    a, b = make_enterprise(), make_enterprise()
    published_edition(POOL, "2025H2", [a], tier="培育")
    draft = domain.open_edition(None, POOL, "2026H1")
    review = domain.open_edition(None, SUPPLIER, "2026H1")
    domain.add_entry(None, review, a, "配套")
    domain.submit(None, review)
    db.session.commit()
    signed_in(client, "leader")

    assert client.get("/rosters/", query_string={"kind": "cultivation_pool"}).status_code == 200
    for path in (url(POOL, "2025H2"), url(POOL, "2026H1"), url(SUPPLIER, "2026H1"), url(POOL)):
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert not re.search(r'<form method="post" action="/rosters', body), path
    before, before_review = snapshot(draft), snapshot(review)
    pool, supplier = url(POOL, "2026H1"), url(SUPPLIER, "2026H1")
    posts = [
        (url(POOL), {"period": "2026H2"}),
        (f"{pool}/entries/add/{b.id}", {"reason": "x", "tier": "leader"}),
        (f"{pool}/entries/{a.id}", {"reason": "x", "tier": "leader"}),
        (f"{pool}/entries/{a.id}/remove", {"removal_reason": "x"}),
        (f"{pool}/submit", {}),
        (f"{supplier}/return", {"comment": "x"}),
        (f"{supplier}/publish", {}),
        (f"{pool}/import", {}),
    ]
    for path, data in posts:
        assert client.post(path, data=data).status_code == 403, path
    assert snapshot(draft) == before and snapshot(review) == before_review
    assert domain.find_edition(POOL, "2026H2") is None


def test_commissioner_sees_the_published_list_but_not_a_draft(client):
    a = make_enterprise()
    published_edition(SUPPLIER, "2025H2", [a])
    domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.commit()
    commissioner = signed_in(client, "commissioner", specialties=["tech"])

    response = client.get("/rosters/")
    assert response.status_code == 200 and listed(response) == [str(a.id)]
    # not assigned to it: the name is not a link to a record they may not open
    assert f'href="/enterprises/{a.id}"' not in response.get_data(as_text=True)
    assign(a, commissioner)
    db.session.commit()
    assert f'href="/enterprises/{a.id}"' in client.get("/rosters/").get_data(as_text=True)

    assert client.get(url(SUPPLIER, "2025H2")).status_code == 200
    assert client.get(url(SUPPLIER, "2026H1")).status_code == 404
    assert client.get(url(SUPPLIER, "2026H1", "/export.csv")).status_code == 404
    assert client.post(url(SUPPLIER, "2026H1", "/submit")).status_code == 404
    assert client.post(url(SUPPLIER, "2025H2", "/submit")).status_code == 403
    response = client.get(url(SUPPLIER))
    assert "2025年下半年" in page_text(response) and "2026年上半年" not in page_text(response)
    # the diff offers only what they may see
    response = client.get(url(SUPPLIER, "diff"), query_string={"from": "2025H2", "to": "2026H1"})
    assert response.status_code == 404 and "无权查看" in page_text(response)


def test_csrf_token_is_required(app, client, city, monkeypatch):
    a = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    domain.add_entry(None, draft, a, "配套")
    db.session.commit()
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    base = url(SUPPLIER, "2026H1")
    response = client.post(f"{base}/submit", follow_redirects=True)
    assert "表单已过期" in page_text(response)
    assert domain.get_edition(SUPPLIER, "2026H1").status is EditionStatus.DRAFT
    token = csrf_token_from(client.get(base).get_data(as_text=True))
    assert client.post(f"{base}/submit", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert domain.get_edition(SUPPLIER, "2026H1").status is EditionStatus.IN_REVIEW


def test_refusals_without_a_field_are_flashed(client, city):
    a = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.commit()
    base = url(SUPPLIER, "2026H1")
    response = client.post(f"{base}/submit", follow_redirects=True)
    assert "名单为空,不能提交审核:请至少添加一家企业" in page_text(response)
    assert client.post(f"{base}/entries/add/{a.id}", data={"reason": "配套"}).status_code == 302
    # the page says so before anyone tries again; a second POST gets the domain's refusal
    assert "该企业已在名单中" in page_text(client.get(f"{base}/entries/add/{a.id}"))
    response = client.post(f"{base}/entries/add/{a.id}", data={"reason": "再次"}, follow_redirects=True)
    assert "已在该版本中" in page_text(response)
    assert entries_of(draft)[a.id].reason == "配套"
    # in review: no entry changes, with the domain's message
    domain.submit(None, draft)
    db.session.commit()
    response = client.post(f"{base}/entries/{a.id}", data={"reason": "改"}, follow_redirects=True)
    assert "正在审核中" in page_text(response)
    assert entries_of(draft)[a.id].reason == "配套"
    assert client.get(f"{base}/entries/999999").status_code == 404


# --- Excel -----------------------------------------------------------------------------------------------

def test_exports_and_template_download(client, city):
    from urllib.parse import quote

    from crm.rosters import exports

    a = make_enterprise("遵义导出测试有限公司", main_products="=HYPERLINK(1)")
    edition = published_edition(POOL, "2025H2", [a], tier="龙头")
    db.session.commit()

    response = client.get(url(POOL, "2025H2", "/export.xlsx"))
    assert response.status_code == 200
    assert response.mimetype == XLSX
    assert quote(exports.export_filename(edition, "xlsx")) in response.headers["Content-Disposition"]
    sheet = load_workbook(BytesIO(response.data)).active
    values = [c.value for row in sheet.iter_rows() for c in row]
    assert a.uscc in values and "遵义导出测试有限公司" in values

    response = client.get(url(POOL, "2025H2", "/export.csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.data.decode("utf-8-sig")
    assert "遵义导出测试有限公司" in text and "'=HYPERLINK(1)" in text

    response = client.get(url(POOL, "template.xlsx"))
    assert response.status_code == 200 and response.mimetype == XLSX
    assert quote(exports.template_filename(POOL)) in response.headers["Content-Disposition"]
    assert client.get("/rosters/nonsense/template.xlsx").status_code == 404


def test_import_a_good_file_adds_entries_through_the_page(client, city):
    a = make_enterprise("遵义导入甲有限公司", county="汇川区")
    b = make_enterprise("遵义导入乙有限公司", county="播州区")
    draft = domain.open_edition(None, POOL, "2026H1")
    db.session.commit()
    # fill the template downloaded from the page
    book = load_workbook(BytesIO(client.get(url(POOL, "template.xlsx")).data))
    sheet = book.active
    header = [c.value for c in sheet[2]]
    for enterprise, reason, tier in ((a, "为长安汽车配套", "龙头"), (b, "省级专精特新", "")):
        row = {"企业名称": enterprise.name, "统一社会信用代码": enterprise.uscc.lower(), "区县": enterprise.county.name,
               "入库理由": reason, "层级": tier}
        sheet.append([row.get(h, "") for h in header])
    out = BytesIO()
    book.save(out)

    response = upload(client, POOL, "2026H1", out.getvalue(), follow=False)
    assert response.status_code == 302
    match = re.search(r"/rosters/imports/(\d+)$", response.headers["Location"])
    assert match
    import_id = int(match.group(1))
    response = client.get(response.headers["Location"])
    assert response.status_code == 200
    assert 'data-import-result="done"' in response.get_data(as_text=True)
    assert "已写入 2 行" in page_text(response)
    entries = entries_of(draft)
    assert set(entries) == {a.id, b.id}
    assert entries[a.id].tier is Tier.LEADER and entries[b.id].tier is Tier.CULTIVATING
    assert entries[a.id].proposed_by_id == city.id

    status = client.get(f"/rosters/imports/{import_id}.json")
    assert status.status_code == 200 and status.mimetype == "application/json"
    assert status.get_json().items() >= {"status": "done", "rows_total": 2, "rows_checked": 2, "rows_written": 2,
                                         "finished": True}.items()
    # the edition page lists the import
    assert f"/rosters/imports/{import_id}" in client.get(url(POOL, "2026H1")).get_data(as_text=True)


def test_import_a_bad_file_shows_the_row_report_and_writes_nothing(client, city):
    from tests.conftest import make_uscc

    a = make_enterprise("遵义报告甲有限公司")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.commit()
    before = entries_of(draft)
    unknown = make_uscc(987654)
    data = xlsx_file([
        {"统一社会信用代码": a.uscc, "入库理由": "配套"},
        {"统一社会信用代码": "12345", "入库理由": "配套"},
        {"统一社会信用代码": unknown, "入库理由": "配套"},
        {"统一社会信用代码": a.uscc, "入库理由": "重复"},
        {"统一社会信用代码": a.uscc, "区县": "不存在县", "入库理由": ""},
    ])
    response = upload(client, SUPPLIER, "2026H1", data)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'data-import-result="failed"' in body
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]+)</td><td>([^<]+)</td></tr>", body)
    assert {row for row, _, _ in rows} == {"4", "5", "6", "7"}
    text = page_text(response)
    assert unknown in text and "与第 3 行重复" in text and "未知区县:不存在县" in text and "请填写入库理由" in text
    assert entries_of(draft) == before == {}
    record = db.session.scalar(sa.select(RosterImport).order_by(RosterImport.id.desc()))
    assert record.status is ImportStatus.FAILED and record.rows_written == 0
    assert client.get(f"/rosters/imports/{record.id}.json").get_json()["status"] == "failed"


def test_import_refuses_what_is_not_an_xlsx_next_to_the_field(client, city):
    domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.commit()
    count = db.session.scalar(sa.select(sa.func.count()).select_from(RosterImport))
    response = upload(client, SUPPLIER, "2026H1", "统一社会信用代码,入库理由\n".encode(), filename="名单.csv")
    assert response.status_code == 422
    assert re.search(r'is-invalid[^>]*>\s*<div class="invalid-feedback">只能导入 Excel 工作簿',
                     response.get_data(as_text=True))
    response = upload(client, SUPPLIER, "2026H1", b"not a zip", filename="名单.xlsx")
    assert response.status_code == 422 and "不是 Excel 工作簿" in page_text(response)
    response = client.post(url(SUPPLIER, "2026H1", "/import"), data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "请选择要导入的 XLSX 文件" in page_text(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterImport)) == count


def test_import_progress_page_and_json_while_checking(client, city):
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    record = RosterImport(edition_id=draft.id, user_id=city.id, filename="大文件.xlsx", status=ImportStatus.CHECKING,
                          rows_total=500, rows_checked=200)
    db.session.add(record)
    db.session.commit()
    response = client.get(f"/rosters/imports/{record.id}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert f'data-import-poll="/rosters/imports/{record.id}.json"' in body
    assert 'data-import-status="checking"' in body
    assert '<progress class="roster-progress" value="200" max="500"' in body
    assert "/static/js/rosters.js" in body
    data = client.get(f"/rosters/imports/{record.id}.json").get_json()
    assert data == {"id": record.id, "status": "checking", "status_label": "正在检查", "rows_total": 500,
                    "rows_checked": 200, "rows_written": 0, "problems": 0, "finished": False}
    assert client.get("/rosters/imports/999999.json").status_code == 404

    client.post("/logout")
    signed_in(client, "leader")  # a report is its author's, city coordinators' and admins': 404, as if missing
    assert client.get(f"/rosters/imports/{record.id}").status_code == 404
    assert client.get(f"/rosters/imports/{record.id}.json").status_code == 404
    client.post("/logout")
    signed_in(client, "commissioner", specialties=["tech"])
    assert client.get(f"/rosters/imports/{record.id}.json").status_code == 404


# --- pages: no inline script or style (strict CSP) ---------------------------------------------------------

def test_no_inline_script_or_style_on_any_roster_page(client, city):
    a, b = make_enterprise("遵义页面甲有限公司"), make_enterprise("遵义页面乙有限公司")
    published_edition(POOL, "2025H2", [a, b], tier="培育")
    draft = domain.open_edition(None, POOL, "2026H1")
    domain.remove_entry(None, draft, b, "迁出")
    record = RosterImport(edition_id=draft.id, user_id=city.id, filename="x.xlsx", status=ImportStatus.FAILED,
                          report=[{"row": 3, "field": "统一社会信用代码", "message": "<script>alert(1)</script>"}])
    db.session.add(record)
    db.session.commit()
    pages = [
        "/rosters/", "/rosters/?kind=cultivation_pool", "/rosters/?kind=supplier_list", url(POOL),
        url(POOL, "2025H2"), url(POOL, "2026H1"), url(POOL, "2026H1") + "?q=页面",
        url(POOL, "2026H1", f"/entries/{a.id}"), url(POOL, "2026H1", f"/entries/add/{b.id}"),
        url(POOL, "diff"), url(POOL, "diff") + "?from=2025H2&to=2026H1", f"/rosters/imports/{record.id}",
    ]
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), path
        assert not re.search(r"\sstyle=|\son[a-z]+=", body), path
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], path


def test_entries_page_queries_do_not_grow_with_the_entries(client, city, count_queries):
    def queries_for(path: str) -> int:
        db.session.expire_all()  # the tests' session outlives requests: start each one from the database
        with count_queries() as queries:
            assert client.get(path).status_code == 200
        return queries.count

    published_edition(SUPPLIER, "2025H1", [make_enterprise() for _ in range(2)])
    published_edition(POOL, "2025H1", [make_enterprise() for _ in range(12)], tier="培育")
    db.session.commit()
    queries_for("/rosters/")  # the first request also opens the session's savepoint
    assert queries_for(url(SUPPLIER, "2025H1")) == queries_for(url(POOL, "2025H1"))
    assert queries_for("/rosters/?kind=supplier_list") == queries_for("/rosters/?kind=cultivation_pool")


def test_enterprise_page_shows_every_edition_it_was_in(client):
    from crm.rosters import domain as roster_domain
    from tests.conftest import login, make_enterprise, make_user
    from tests.rosters.factories import published_edition

    ent = make_enterprise()
    published_edition(RosterKind.SUPPLIER_LIST, "2025H2", [ent], reason="配套长安汽车线束")
    draft = roster_domain.open_edition(None, RosterKind.SUPPLIER_LIST, "2026H1")
    roster_domain.remove_entry(None, draft, ent, "产品转型,不再配套")
    login(client, make_user("leader"))
    html = client.get(f"/enterprises/{ent.id}").get_data(as_text=True)
    assert "名单记录" in html and "2025年下半年" in html and "配套长安汽车线束" in html
    assert "移出" in html and "产品转型,不再配套" in html


def test_commissioner_does_not_see_draft_membership_on_the_enterprise_page(client):
    """Review finding: the list pages hide drafts from commissioners; the 一企一档 page must too."""
    from crm.rosters import domain as roster_domain
    from tests.conftest import api_token, assign, login, make_enterprise, make_user
    from tests.rosters.factories import published_edition

    ent = make_enterprise()
    commissioner = make_user("commissioner", specialties=["tech"])
    assign(ent, commissioner)
    published_edition(RosterKind.SUPPLIER_LIST, "2025H2", [ent], reason="已发布的入库理由")
    draft = roster_domain.open_edition(None, RosterKind.SUPPLIER_LIST, "2026H1")
    roster_domain.remove_entry(None, draft, ent, "草稿中的内部移出理由")
    login(client, commissioner)
    html = client.get(f"/enterprises/{ent.id}").get_data(as_text=True)
    assert "已发布的入库理由" in html and "草稿中的内部移出理由" not in html
    history = client.get(f"/api/v1/enterprises/{ent.id}/history?per_page=200", headers=api_token(commissioner))
    assert "草稿中的内部移出理由" not in history.get_data(as_text=True)
    client.post("/logout")
    login(client, make_user("coordinator"))
    assert "草稿中的内部移出理由" in client.get(f"/enterprises/{ent.id}").get_data(as_text=True)


def test_the_roster_card_links_each_edition_as_url_for_does(client, app):
    """The card's links come from one url_for around markers (crm/rosters/subscribers.py): the same strings."""
    from flask import url_for

    from tests.conftest import login, make_enterprise, make_user
    from tests.rosters.factories import published_edition

    ent = make_enterprise()
    published_edition(RosterKind.SUPPLIER_LIST, "2025H2", [ent])
    published_edition(RosterKind.CULTIVATION_POOL, "2026H1", [ent])
    login(client, make_user("leader"))
    html = client.get(f"/enterprises/{ent.id}").get_data(as_text=True)
    with app.test_request_context():
        for kind, period in ((RosterKind.SUPPLIER_LIST, "2025H2"), (RosterKind.CULTIVATION_POOL, "2026H1")):
            assert f'<a href="{url_for("rosters.edition", kind=kind.value, period=period)}">' in html
