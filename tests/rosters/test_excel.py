"""Excel in and out of the official lists: neutralised exports, the template, file refusals, the all-or-nothing
import with its row-by-row report, and the recorded import with progress (issue 3, point 5)."""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa
from stdnum.cn import uscc as stdnum_uscc

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, ValidationFailed
from crm.enterprises.domain import link_partner
from crm.enterprises.models import EnterpriseStatus
from crm.extensions import db
from crm.rosters import domain, exports, import_jobs, imports
from crm.rosters.models import ImportStatus, RosterEntry, RosterImport, RosterKind, Tier
from tests.conftest import make_enterprise, make_user
from tests.rosters.factories import published_edition

SUPPLIER = RosterKind.SUPPLIER_LIST
POOL = RosterKind.CULTIVATION_POOL
FORMULAS = ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)"]


# --- helpers -------------------------------------------------------------------------------------------------

def workbook_bytes(rows, columns=None, *, title: str | None = "测试名单", sheets_before: int = 0) -> bytes:
    """An XLSX as a coordinator would make it: optional title row, header, then ``rows`` (values as given)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for number in range(sheets_before):
        ws.title = f"说明{number}"
        ws.append(["这是说明页"])
        ws = wb.create_sheet("名单")
    if title is not None:
        ws.append([title])
    ws.append(columns or ["序号", "企业名称", "统一社会信用代码", "区县", "入库理由"])
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def with_exact_number(data: bytes, coordinate: str, digits: str) -> bytes:
    """Rewrite one numeric cell to hold an exact integer, as some tools write them (openpyxl and Excel write
    doubles, which keep only 15–17 digits)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename.startswith("xl/worksheets/"):
                content = re.sub(rf'(<c r="{coordinate}" t="n"><v>)[^<]*(</v>)'.encode(),
                                 rb"\g<1>" + digits.encode() + rb"\g<2>", content)
            target.writestr(item, content)
    return buffer.getvalue()


def row_for(enterprise, reason="入库理由测试", number=1):
    return [number, enterprise.name, enterprise.uscc, enterprise.county.name, reason]


def wrong_check_digit(code: str) -> str:
    bad = "0" if code[-1] != "0" else "1"
    return code[:-1] + bad


def entries_of(edition):
    return {(e.enterprise_id, e.reason, e.tier) for e in db.session.scalars(
        sa.select(RosterEntry).where(RosterEntry.edition_id == edition.id))}


def audit_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))


def load(data: bytes):
    return openpyxl.load_workbook(io.BytesIO(data))


def formula_enterprises():
    return [make_enterprise(main_products=products) for products in FORMULAS]


# --- export --------------------------------------------------------------------------------------------------

def test_export_xlsx_writes_every_cell_as_text_and_neutralises_formulas():
    hostile = formula_enterprises()
    link_partner(None, hostile[0], "重庆长安汽车股份有限公司", "壳体")
    link_partner(None, hostile[0], "赛力斯集团股份有限公司", "线束")
    edition = published_edition(SUPPLIER, "2025H2", hostile, reason="=HYPERLINK(\"http://evil\",\"点我\")")
    data = exports.export_xlsx(edition)

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml and "<f " not in sheet_xml

    ws = load(data).worksheets[0]
    assert "配套企业名单" in ws.title and "2025H2" in ws.title
    assert "融入成渝经济圈工业配套企业名单" in ws.cell(1, 1).value
    header = [c.value for c in ws[exports.HEADER_ROW]]
    assert header == exports.OFFICIAL_COLUMNS
    data_rows = list(ws.iter_rows(min_row=exports.FIRST_DATA_ROW))
    assert len(data_rows) == 4
    for row in ws.iter_rows():
        for cell in row:
            if cell.value is not None:
                assert cell.data_type == "s", (cell.coordinate, cell.value)
    products = {row[6].value: row[6] for row in data_rows}
    assert set(products) == set(FORMULAS)
    for cell in products.values():
        assert cell.quotePrefix, cell.value
    for row in data_rows:
        assert row[8].value.startswith("=HYPERLINK") and row[8].quotePrefix
        assert row[0].value.isdigit() and row[0].data_type == "s"
    by_uscc = {row[2].value: row for row in data_rows}
    first = by_uscc[hostile[0].uscc]
    assert first[7].value == "重庆长安汽车股份有限公司、赛力斯集团股份有限公司"
    assert first[3].value == "汇川区" and first[4].value == "装备制造" and first[5].value == "关键零部件"
    assert [row[0].value for row in data_rows] == ["1", "2", "3", "4"]


def test_export_csv_is_utf8_bom_and_prefixes_formula_cells():
    hostile = formula_enterprises()
    edition = published_edition(SUPPLIER, "2025H2", hostile, reason="@入库")
    data = exports.export_csv(edition)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == exports.OFFICIAL_COLUMNS
    assert len(rows) == 5
    products = {row[6] for row in rows[1:]}
    assert products == {"'" + text for text in FORMULAS}
    assert all(row[8] == "'@入库" for row in rows[1:])
    assert {row[2] for row in rows[1:]} == {e.uscc for e in hostile}

    # Read back with openpyxl as a naive consumer would (append the CSV's cells): nothing becomes a formula.
    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    back = load(buffer.getvalue()).active
    for row in back.iter_rows():
        for cell in row:
            if cell.value is not None:
                assert cell.data_type == "s", (cell.coordinate, cell.value)


def test_pool_export_has_tier_in_chinese_after_reason():
    a, b = make_enterprise(), make_enterprise()
    edition = published_edition(POOL, "2025H2", [a], tier="龙头")
    draft = domain.open_edition(None, POOL, "2026H1")
    domain.add_entry(None, draft, b, "新认定", "链主")
    ws = load(exports.export_xlsx(draft)).worksheets[0]
    assert [c.value for c in ws[exports.HEADER_ROW]] == exports.OFFICIAL_COLUMNS + ["层级"]
    tiers = {row[2]: row[9] for row in ws.iter_rows(min_row=exports.FIRST_DATA_ROW, values_only=True)}
    assert tiers == {a.uscc: "龙头", b.uscc: "链主"}
    assert "草稿" in ws.cell(1, 1).value
    csv_rows = list(csv.reader(io.StringIO(exports.export_csv(edition).decode("utf-8-sig"))))
    assert csv_rows[0][-1] == "层级" and csv_rows[1][-1] == "龙头"
    assert exports.export_filename(edition, "xlsx") == "重点企业培育库_2025H2.xlsx"


def test_export_follows_the_list_order():
    names = [make_enterprise(county=county) for county in ("仁怀市", "红花岗区", "汇川区")]
    edition = published_edition(SUPPLIER, "2025H2", names)
    expected = [e.enterprise.uscc for e in db.session.scalars(domain.entries_statement(edition))]
    ws = load(exports.export_xlsx(edition)).worksheets[0]
    assert [row[2] for row in ws.iter_rows(min_row=exports.FIRST_DATA_ROW, values_only=True)] == expected
    assert [row[3] for row in ws.iter_rows(min_row=exports.FIRST_DATA_ROW, values_only=True)] == [
        "红花岗区", "汇川区", "仁怀市"]


def test_template_has_the_official_header_and_imports_as_empty():
    supplier = load(exports.template_xlsx("supplier_list"))
    assert [c.value for c in supplier.worksheets[0][exports.HEADER_ROW]] == exports.OFFICIAL_COLUMNS
    assert supplier.worksheets[1].title == "填写说明"
    assert supplier.worksheets[0].column_dimensions["C"].number_format == "@"
    pool = load(exports.template_xlsx(POOL))
    assert [c.value for c in pool.worksheets[0][exports.HEADER_ROW]] == exports.OFFICIAL_COLUMNS + ["层级"]
    assert pool.worksheets[0].data_validations.dataValidation[0].formula1 == '"龙头,链主,培育"'
    imports.check_file(exports.template_filename(POOL), exports.template_xlsx(POOL))
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    result = imports.import_rows(draft, exports.template_xlsx(SUPPLIER), None)
    assert not result.ok and result.problems == [
        {"row": exports.HEADER_ROW, "field": "文件", "message": "文件中没有数据行"}]


# --- import --------------------------------------------------------------------------------------------------

def test_round_trip_export_of_published_edition_imports_unchanged():
    supplier = [make_enterprise(main_products=p) for p in FORMULAS] + [make_enterprise()]
    link_partner(None, supplier[1], "重庆长安汽车股份有限公司", "壳体")
    published_edition(SUPPLIER, "2025H2", supplier, reason="-配套长安")
    pool_published = published_edition(POOL, "2025H2", supplier[:2], tier="链主")
    for kind, published in ((SUPPLIER, domain.latest_published(SUPPLIER)), (POOL, pool_published)):
        draft = domain.open_edition(None, kind, "2026H1")
        before, audits = entries_of(draft), audit_count()
        data = exports.export_xlsx(published)
        imports.check_file("export.xlsx", data)
        result = imports.import_rows(draft, data, None)
        assert result.ok, result.problems
        assert (result.rows_total, result.added, result.updated, result.unchanged) == (
            len(before), 0, 0, len(before))
        assert entries_of(draft) == before and audit_count() == audits
        assert "未变" in result.summary


def test_import_adds_and_updates_through_the_domain_with_audit():
    coordinator = make_user("coordinator")
    a, b, c = make_enterprise(), make_enterprise(), make_enterprise()
    published_edition(POOL, "2025H2", [a, b], reason="原理由", tier="培育")
    draft = domain.open_edition(coordinator, POOL, "2026H1")
    columns = ["统一社会信用代码", "入库理由", "层级"]  # no title row, minimal columns
    data = workbook_bytes([[a.uscc, "原理由", "培育"], [b.uscc, "原理由", "龙头"], [c.uscc, "  新认定  ", None]],
                          columns, title=None)
    audits = audit_count()
    result = imports.import_rows(draft, data, coordinator)
    assert result.ok and (result.added, result.updated, result.unchanged, result.rows_total) == (1, 1, 1, 3)
    assert result.to_dict()["summary"] == result.summary and "新增 1 家" in result.summary
    assert entries_of(draft) == {(a.id, "原理由", Tier.CULTIVATING), (b.id, "原理由", Tier.LEADER),
                                 (c.id, "新认定", Tier.CULTIVATING)}
    rows = list(db.session.scalars(sa.select(AuditLog).where(AuditLog.id > 0).order_by(AuditLog.id.desc())
                                   .limit(audit_count() - audits)))
    assert {(r.action, r.enterprise_id, r.actor_id) for r in rows} == {
        ("add_entry", c.id, coordinator.id), ("update_entry", b.id, coordinator.id)}
    entry = db.session.scalar(sa.select(RosterEntry).where(RosterEntry.edition_id == draft.id,
                                                           RosterEntry.enterprise_id == c.id))
    assert entry.proposed_by_id == coordinator.id


def test_500_row_file_with_one_bad_check_digit_writes_nothing():
    enterprises = [make_enterprise() for _ in range(500)]
    published_edition(SUPPLIER, "2025H2", enterprises[:300], reason="原理由")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    rows = [row_for(e, "新理由" if i % 6 == 0 else "原理由", i + 1) for i, e in enumerate(enterprises)]
    bad_index = 377
    rows[bad_index][2] = wrong_check_digit(rows[bad_index][2])
    bad_row = exports.FIRST_DATA_ROW + bad_index
    data = workbook_bytes(rows)
    imports.check_file("名单.xlsx", data)
    before, audits = entries_of(draft), audit_count()

    started = time.perf_counter()
    result = imports.import_rows(draft, data, None)
    checked_in = time.perf_counter() - started
    assert not result.ok and result.rows_total == 500
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem["row"] == bad_row and problem["field"] == "统一社会信用代码" and "校验位" in problem["message"]
    assert "未写入" in result.summary
    assert result.added == result.updated == 0
    assert entries_of(draft) == before and audit_count() == audits

    rows[bad_index][2] = enterprises[bad_index].uscc
    started = time.perf_counter()
    result = imports.import_rows(draft, workbook_bytes(rows), None)
    written_in = time.perf_counter() - started
    assert result.ok, result.problems[:3]
    assert (result.added, result.updated, result.unchanged) == (200, 50, 250)
    assert len(entries_of(draft)) == 500 and audit_count() == audits + 250
    print(f"\n500 rows: checked (with the bad row) in {checked_in:.2f}s, checked and written in {written_in:.2f}s")


def test_a_refusal_while_writing_rolls_back_every_row(monkeypatch):
    enterprises = [make_enterprise() for _ in range(5)]
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    audits = audit_count()
    real, calls = domain._refuse_unlisted, []

    def refuse_the_third(enterprise):
        calls.append(enterprise.id)
        if len(calls) == 3:
            raise ValidationFailed("入库理由有误", {"reason": "测试:入库理由被拒绝"})
        return real(enterprise)

    monkeypatch.setattr(domain, "_refuse_unlisted", refuse_the_third)
    result = imports.import_rows(draft, workbook_bytes([row_for(e) for e in enterprises]), None)
    assert not result.ok and result.added == 0
    assert result.problems == [{"row": 5, "field": "入库理由", "message": "测试:入库理由被拒绝"}]
    assert entries_of(draft) == set() and audit_count() == audits


def test_a_refused_update_rolls_back_the_rows_already_added(monkeypatch):
    """The file's new entries are written first, then its changed ones: a refusal among the latter takes the
    former back too (the savepoint), and names its own row."""
    listed, new = [make_enterprise() for _ in range(2)], [make_enterprise() for _ in range(3)]
    published_edition(SUPPLIER, "2025H2", listed, reason="原理由")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    before, audits = entries_of(draft), audit_count()
    real = domain._change_entry

    def refuse_the_second(actor, edition, enterprise, entry, reason, tier):
        if enterprise.id == listed[1].id:
            raise ValidationFailed("入库理由有误", {"reason": "测试:修改被拒绝"})
        return real(actor, edition, enterprise, entry, reason, tier)

    monkeypatch.setattr(domain, "_change_entry", refuse_the_second)
    rows = [row_for(e, "新理由", n) for n, e in enumerate(listed + new, start=1)]
    result = imports.import_rows(draft, workbook_bytes(rows), None)
    assert not result.ok and result.added == result.updated == 0
    assert result.problems == [{"row": 4, "field": "入库理由", "message": "测试:修改被拒绝"}]
    assert entries_of(draft) == before and audit_count() == audits
    monkeypatch.setattr(domain, "_change_entry", real)
    result = imports.import_rows(draft, workbook_bytes(rows), None)
    assert result.ok and (result.added, result.updated) == (3, 2)
    assert audit_count() == audits + 5


def test_every_kind_of_problem_is_reported_on_its_row():
    ok, other, gone, present = make_enterprise(), make_enterprise(county="仁怀市"), make_enterprise(), make_enterprise()
    gone.status = EnterpriseStatus.DEREGISTERED
    published_edition(POOL, "2025H2", [present], reason="原理由")
    draft = domain.open_edition(None, POOL, "2026H1")
    unknown = stdnum_uscc.calc_check_digit("91520300999999999")
    columns = ["序号", "企业名称", "统一社会信用代码", "区县", "入库理由", "层级"]
    rows = [
        [1, ok.name, ok.uscc, ok.county.name, "理由", "培育"],                        # 3: fine
        [2, "某公司", "915203001234", "汇川区", "理由", None],                         # 4: length
        [3, "某公司", "91520300ABCDEFGHIO", "汇川区", "理由", None],                   # 5: format
        [4, "某公司", "91520300999999999" + unknown, "汇川区", "理由", None],          # 6: not in registry
        [5, "别的名字有限公司", other.uscc, "仁怀市", "理由", None],                    # 7: name mismatch
        [6, other.name, other.uscc, "汇川区", "理由", None],                           # 8: duplicate
        [7, gone.name, gone.uscc, "遵义县", "", "巨头"],                               # 9: county, reason, tier, gone
        [8, present.name, present.uscc, present.county.name, "更新理由", "龙头"],       # 10: fine (update)
        [9, None, None, None, "只有理由", None],                                       # 11: no USCC
    ]
    result = imports.import_rows(draft, workbook_bytes(rows, columns), None)
    assert not result.ok and result.rows_total == 9
    got = [(p["row"], p["field"]) for p in result.problems]
    assert got == [
        (4, "统一社会信用代码"), (5, "统一社会信用代码"), (6, "统一社会信用代码"), (7, "企业名称"),
        (8, "统一社会信用代码"), (9, "区县"), (9, "入库理由"), (9, "层级"), (11, "统一社会信用代码"),
    ]
    messages = {(p["row"], p["field"]): p["message"] for p in result.problems}
    assert "18位" in messages[(4, "统一社会信用代码")]
    assert "格式" in messages[(5, "统一社会信用代码")]
    assert "没有统一社会信用代码为" in messages[(6, "统一社会信用代码")]
    assert other.name in messages[(7, "企业名称")]
    assert "与第 7 行重复" in messages[(8, "统一社会信用代码")]
    assert "未知区县" in messages[(9, "区县")] and "入库理由" in messages[(9, "入库理由")]
    assert "龙头" in messages[(9, "层级")]
    assert "请填写统一社会信用代码" in messages[(11, "统一社会信用代码")]
    assert entries_of(draft) == {(present.id, "原理由", Tier.CULTIVATING)}

    # the county mismatch is reported when the enterprise is found
    rows = [[1, other.name, other.uscc, "汇川区", "理由", None], [2, gone.name, gone.uscc, None, "理由", None]]
    result = imports.import_rows(draft, workbook_bytes(rows, columns), None)
    assert [(p["row"], p["field"]) for p in result.problems] == [(3, "区县"), (4, "统一社会信用代码")]
    assert "仁怀市" in result.problems[0]["message"] and "已注销" in result.problems[1]["message"]


def test_duplicate_rows_name_the_first_row():
    a, b = make_enterprise(), make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    rows = [row_for(a), row_for(b), row_for(a, "另一个理由"), row_for(a)]
    result = imports.import_rows(draft, workbook_bytes(rows), None)
    assert [(p["row"], p["message"]) for p in result.problems] == [
        (5, f"与第 3 行重复(统一社会信用代码 {a.uscc})"), (6, f"与第 3 行重复(统一社会信用代码 {a.uscc})")]
    assert entries_of(draft) == set()


def test_lower_case_spaces_numbers_and_columns_in_any_order():
    letters = make_enterprise()
    # an all-digit code, which Excel turns into a number
    digits_code = next(code for code in (f"91520300{n:09d}" + stdnum_uscc.calc_check_digit(f"91520300{n:09d}")
                                         for n in range(700000000, 700000100)) if code.isdigit())
    digits = make_enterprise(uscc=digits_code)
    lossy = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    lower = " ".join([letters.uscc[:8], letters.uscc[8:]]).lower()
    columns = ["入库理由(必填)", "区县", "统一社会信用代码*", "企业名称", "备注"]
    rows = [
        ["理由一", "遵义市汇川区", f" {lower}\u200b", letters.name.replace("公司", " 公司"), "随便"],
        ["理由二", None, int(digits.uscc), None, None],  # rewritten below as an exact integer
        ["理由三", None, 915203001234567893.0, None, None],
        [2026, None, "9.15203E+17", None, None],
    ]
    data = with_exact_number(workbook_bytes(rows, columns, title=None, sheets_before=1), "C3", digits.uscc)
    result = imports.import_rows(draft, data, None)
    assert [p["row"] for p in result.problems] == [4, 5], result.problems
    assert "数字" in result.problems[0]["message"] and "文本" in result.problems[0]["message"]
    assert "科学计数法" in result.problems[1]["message"]

    data = with_exact_number(workbook_bytes(rows[:2], columns, title=None, sheets_before=1), "C3", digits.uscc)
    result = imports.import_rows(draft, data, None)
    assert result.ok and result.added == 2, result.problems
    assert {e[0] for e in entries_of(draft)} == {letters.id, digits.id}
    assert lossy.id not in {e[0] for e in entries_of(draft)}


def test_supplier_list_ignores_a_tier_column_and_rows_with_only_a_serial_number():
    a = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    columns = exports.OFFICIAL_COLUMNS + ["层级"]
    rows = [[1, a.name, a.uscc, None, None, None, None, None, "理由", "龙头"], [2], [3], [None, None, "  "]]
    result = imports.import_rows(draft, workbook_bytes(rows, columns), None)
    assert result.ok and result.rows_total == 1 and result.added == 1
    assert entries_of(draft) == {(a.id, "理由", None)}


def test_missing_header_or_required_column():
    a = make_enterprise()
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    result = imports.import_rows(draft, workbook_bytes([[a.uscc, "理由"]], ["代码", "理由"]), None)
    assert not result.ok and result.problems[0]["row"] is None and "表头" in result.problems[0]["message"]
    result = imports.import_rows(draft, workbook_bytes([[a.name, a.uscc]], ["企业名称", "统一社会信用代码"]), None)
    assert result.problems == [{"row": 2, "field": "文件", "message": "缺少“入库理由”列"}]


def test_frozen_or_in_review_edition_is_refused():
    a = make_enterprise()
    published = published_edition(SUPPLIER, "2025H2", [a])
    data = exports.export_xlsx(published)
    with pytest.raises(Conflict):
        imports.import_rows(published, data, None)
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    domain.submit(None, draft)
    with pytest.raises(Conflict):
        imports.import_rows(draft, data, None)


def test_unreadable_workbook_is_refused():
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    with pytest.raises(ValidationFailed) as err:
        imports.import_rows(draft, b"not a workbook", None)
    assert "file" in err.value.fields


def test_progress_is_reported_with_increasing_counts(monkeypatch):
    enterprises = [make_enterprise() for _ in range(25)]
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    calls = []
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 10)
    result = imports.import_rows(draft, workbook_bytes([row_for(e) for e in enterprises]), None,
                               progress=lambda checked, total: calls.append((checked, total)))
    assert result.ok
    assert calls == [(0, 25), (10, 25), (20, 25), (25, 25)]


# --- file checks ---------------------------------------------------------------------------------------------

def refused(filename, data) -> str:
    with pytest.raises(ValidationFailed) as err:
        imports.check_file(filename, data)
    return err.value.fields["file"]


def test_check_file_accepts_a_real_workbook():
    imports.check_file("名单.XLSX", workbook_bytes([["1", "a", "b", "c", "d"]]))


def test_check_file_refuses_other_names_and_contents():
    csv_text = "统一社会信用代码,入库理由\n91520300000000012X,理由\n".encode()
    assert ".xlsx" in refused("名单.csv", csv_text)
    assert ".xlsx" in refused("名单.xls", workbook_bytes([]))
    assert ".xlsx" in refused(None, workbook_bytes([]))
    assert "CSV" in refused("名单.xlsx", csv_text)
    assert "不是" in refused("说明.xlsx", "随便写的文本".encode())
    assert "为空" in refused("空.xlsx", b"")
    assert "旧版" in refused("old.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    assert "损坏" in refused("cut.xlsx", workbook_bytes([])[:300])
    # a zip that is not a workbook (a .docx-like package, or any archive)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                         'content-types"><Override PartName="/word/document.xml" ContentType="application/'
                         'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
        archive.writestr("word/document.xml", "<w/>")
    assert "不是 Excel" in refused("doc.xlsx", buffer.getvalue())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "不是 Excel" in refused("zip.xlsx", buffer.getvalue())
    # a macro workbook renamed .xlsx
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(workbook_bytes([]))) as source, zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "[Content_Types].xml":
                content = content.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                          b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
            target.writestr(item, content)
    assert ".xlsm" in refused("macro.xlsx", buffer.getvalue())


def test_check_file_refuses_a_file_over_the_upload_limit(app, monkeypatch):
    data = workbook_bytes([])
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", len(data) - 1)
    assert "过大" in refused("名单.xlsx", data)


def test_check_file_refuses_too_many_rows(app, monkeypatch):
    monkeypatch.setitem(app.config, "ROSTER_IMPORT_MAX_ROWS", 5)
    imports.check_file("名单.xlsx", workbook_bytes([[i, "a", "b", "c", "d"] for i in range(5)]))
    # rows with only a 序号 are not data rows (a pre-numbered template)
    numbered = [[i, "a", "b", "c", "d"] for i in range(5)] + [[i] for i in range(9)]
    imports.check_file("名单.xlsx", workbook_bytes(numbered))
    message = refused("名单.xlsx", workbook_bytes([[i, "a", "b", "c", "d"] for i in range(6)]))
    assert "5" in message and "行" in message
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    with pytest.raises(ValidationFailed):
        imports.import_rows(draft, workbook_bytes([[i, "a", "b", "c", "d"] for i in range(6)]), None)


def test_check_file_refuses_zip_bombs(app, monkeypatch):
    original = workbook_bytes([["1", "a", "b", "c", "d"]])

    def with_member(name: str, size: int, count: int = 1) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(original)) as source, \
                zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
            for item in source.infolist():
                target.writestr(item, source.read(item))
            for number in range(count):
                target.writestr(f"{name}{number}.xml", b"\0" * size)
        return buffer.getvalue()

    bomb = with_member("xl/media/huge", 20 * 1024 * 1024)
    assert len(bomb) < 100 * 1024
    assert "压缩" in refused("名单.xlsx", bomb)
    assert "文件过多" in refused("名单.xlsx", with_member("xl/media/tiny", 1, count=1001))
    monkeypatch.setitem(app.config, "SPREADSHEET_MAX_UNZIPPED_BYTES", 10_000)
    assert "解压后过大" in refused("名单.xlsx", original)


def test_openpyxl_parses_with_defusedxml():
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML


def test_run_import_record_inside_the_shared_test_transaction():
    """Pages and API tests run it synchronously in the per-test transaction: it works, without progress."""
    coordinator = make_user("coordinator")
    a = make_enterprise()
    draft = domain.open_edition(coordinator, SUPPLIER, "2026H1")
    record = RosterImport(edition_id=draft.id, user_id=coordinator.id, filename="名单.xlsx")
    db.session.add(record)
    db.session.commit()
    import_jobs.run_import_record(record.id, workbook_bytes([row_for(a)]))
    assert (record.status, record.rows_total, record.rows_written) == (ImportStatus.DONE, 1, 1)
    assert entries_of(draft) == {(a.id, "入库理由测试", None)}


# --- the recorded import, on a database of its own -----------------------------------------------------------

def test_run_import_record_records_progress_status_and_report(fresh_app, monkeypatch):
    with fresh_app.app_context():
        coordinator = make_user("coordinator")
        enterprises = [make_enterprise() for _ in range(25)]
        draft = domain.open_edition(coordinator, SUPPLIER, "2026H1")
        records = [RosterImport(edition_id=draft.id, user_id=coordinator.id, filename=f"{n}.xlsx") for n in range(3)]
        db.session.add_all(records)
        db.session.commit()
        ids = [r.id for r in records]
        draft_id, coordinator_id = draft.id, coordinator.id
        good = workbook_bytes([row_for(e, number=i) for i, e in enumerate(enterprises, start=1)])
        bad_rows = [row_for(e) for e in enterprises[:5]]
        bad_rows[3][2] = wrong_check_digit(bad_rows[3][2])
        db.session.remove()

    seen = []
    real = imports.import_rows

    def watched(edition, data, actor, *, progress=None):
        def observe(checked, total):
            progress(checked, total)
            with db.engine.connect() as conn:  # a polling request: another connection, main transaction open
                seen.append(tuple(conn.execute(sa.select(RosterImport.rows_checked, RosterImport.rows_total)
                                               .where(RosterImport.id == ids[0])).one()))
        return real(edition, data, actor, progress=observe)

    monkeypatch.setattr(import_jobs, "import_rows", watched)
    monkeypatch.setattr(imports, "PROGRESS_EVERY", 10)
    with fresh_app.app_context():
        record = import_jobs.run_import_record(ids[0], good)
        assert record.status is ImportStatus.DONE
        db.session.remove()
    assert seen == [(0, 25), (10, 25), (20, 25), (25, 25)]

    monkeypatch.setattr(import_jobs, "import_rows", real)
    with fresh_app.app_context():
        import_jobs.run_import_record(ids[1], workbook_bytes(bad_rows))
        import_jobs.run_import_record(ids[2], b"PK\x03\x04 broken")
        db.session.remove()

    with fresh_app.app_context():  # what another request sees: all committed
        done, failed, error = (db.session.get(RosterImport, i) for i in ids)
        assert (done.status, done.rows_total, done.rows_checked, done.rows_written) == (ImportStatus.DONE, 25, 25, 25)
        assert done.report == [] and done.finished_at is not None
        entries = list(db.session.scalars(sa.select(RosterEntry).where(RosterEntry.edition_id == draft_id)))
        assert len(entries) == 25 and {e.proposed_by_id for e in entries} == {coordinator_id}
        adds = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "add_entry", AuditLog.actor_id == coordinator_id))
        assert adds == 25
        assert failed.status is ImportStatus.FAILED and failed.rows_written == 0 and failed.rows_total == 5
        assert len(failed.report) == 1 and failed.report[0]["row"] == 6 and "校验位" in failed.report[0]["message"]
        assert error.status is ImportStatus.ERROR and error.finished_at is not None
        assert error.report[0]["row"] is None and error.report[0]["field"] == "文件"
        db.session.remove()


def test_county_coordinator_cannot_import_another_countys_enterprise():
    """The same per-record rule as adding one entry: the page and the API share it through import_rows."""
    county_coordinator = make_user("coordinator", county="汇川区")
    ours, theirs = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    data = workbook_bytes([row_for(ours, number=1), row_for(theirs, number=2)])
    result = imports.import_rows(draft, data, county_coordinator)
    assert not result.ok and entries_of(draft) == set()
    [problem] = result.problems  # another county's firm reads as an unknown code: not named, not confirmed
    assert problem["message"] == (f"在您可查看的企业档案中没有统一社会信用代码为 {theirs.uscc} 的企业:请核对代码;"
                                  "不在您负责范围内的企业请由市级协调员导入")
    assert theirs.name not in problem["message"]
