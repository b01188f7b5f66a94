"""The one spreadsheet module: hostile uploads refused before anything is parsed, cells that never run as
formulas, tables, CSV and downloads (issue 7, point 6)."""

from __future__ import annotations

import csv
import io
import zipfile
from urllib.parse import unquote

import openpyxl
import pytest

from crm.core import spreadsheet
from crm.core.errors import ValidationFailed

FORMULAS = ["=1+1", "+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "  =cmd|' /C calc'!A0"]


def xlsx(rows=(("统一社会信用代码", "入库理由"),)) -> bytes:
    wb = openpyxl.Workbook()
    for row in rows:
        wb.active.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def repacked(data: bytes, *, extra: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None,
             count: int = 1) -> bytes:
    """``data`` re-zipped (deflated), with members replaced and ``count`` copies of each extra member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            target.writestr(item.filename, (replace or {}).get(item.filename, source.read(item)))
        for name, content in (extra or {}).items():
            for number in range(count):
                target.writestr(f"{name}{number}" if count > 1 else name, content)
    return buffer.getvalue()


def refused(data: bytes) -> str:
    with pytest.raises(ValidationFailed) as err:
        spreadsheet.check_xlsx(data)
    assert err.value.fields == {"file": err.value.message}
    return err.value.message


# --- hostile files ------------------------------------------------------------------------------------------

def test_a_real_workbook_passes_and_opens_read_only():
    data = xlsx([("a", "b"), ("1", "=1+1")])
    spreadsheet.check_xlsx(data)
    workbook = spreadsheet.open_xlsx(data)
    try:
        rows = [values for _, values in spreadsheet.sheet_rows(workbook.worksheets[0])]
        assert rows == [("a", "b"), ("1", None)]  # a formula is read as its cached value (none here), never run
    finally:
        workbook.close()
    assert spreadsheet.row_bound(data) == 2


def test_zip_bombs_are_refused_by_ratio_size_and_entry_count(app, monkeypatch):
    bomb = repacked(xlsx(), extra={"xl/media/huge.bin": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100 * 1024
    assert "压缩炸弹" in refused(bomb)
    assert "文件过多" in refused(repacked(xlsx(), extra={"xl/media/tiny": b"x"}, count=501))
    monkeypatch.setitem(app.config, "SPREADSHEET_MAX_UNZIPPED_BYTES", 1000)
    assert "解压后过大" in refused(xlsx())


def test_encrypted_workbooks_are_refused():
    # Excel saves a password-protected workbook as an OLE container (as an old .xls is)
    assert "加密" in refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512)
    data = bytearray(xlsx())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        offsets = [item.header_offset for item in archive.infolist()]
        central = data.rfind(b"PK\x01\x02", 0)
    for offset in offsets:  # set the "encrypted" flag in every local header
        data[offset + 6] |= 1
    position = data.find(b"PK\x01\x02")
    while 0 <= position <= central:  # and in the central directory
        data[position + 8] |= 1
        position = data.find(b"PK\x01\x02", position + 4)
    assert "加密" in refused(bytes(data))


def test_other_content_types_are_refused():
    assert "为空" in refused(b"")
    assert "CSV" in refused("统一社会信用代码,入库理由\n".encode())
    assert "损坏" in refused(xlsx()[:300])
    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as archive:
        archive.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                         'content-types"><Override PartName="/word/document.xml" ContentType="application/'
                         'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>')
    assert "不是 Excel" in refused(docx.getvalue())
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert "不是 Excel" in refused(plain_zip.getvalue())
    types = zipfile.ZipFile(io.BytesIO(xlsx())).read("[Content_Types].xml")
    macro = types.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                          b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
    assert ".xlsm" in refused(repacked(xlsx(), replace={"[Content_Types].xml": macro}))


def test_xml_entities_are_refused_by_defusedxml():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><Types>&lol2;</Types>')
    assert "损坏" in refused(repacked(xlsx(), replace={"[Content_Types].xml": laughs}))
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML  # openpyxl parses the sheets with defusedxml too


def test_a_workbook_openpyxl_cannot_read_is_refused():
    broken = repacked(xlsx(), replace={"xl/workbook.xml": b"<not-a-workbook"})
    with pytest.raises(ValidationFailed) as err:
        spreadsheet.open_xlsx(broken)
    assert "无法读取" in err.value.fields["file"]


def test_size_limit(app, monkeypatch):
    spreadsheet.check_size(b"x" * 2048, 2048)
    with pytest.raises(ValidationFailed) as err:
        spreadsheet.check_size(b"x" * 2049, 2048)
    assert err.value.fields["file"] == "文件过大(2 KB),上限为 2 KB"
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 10)
    with pytest.raises(ValidationFailed):
        spreadsheet.check_size(b"x" * 11)
    assert [spreadsheet.size_text(n) for n in (10, 2048, 10 * 1024 * 1024, 1536 * 1024)] == [
        "1 KB", "2 KB", "10 MB", "1.5 MB"]


# --- writing ------------------------------------------------------------------------------------------------

def test_formula_cells_are_written_as_text_with_a_quote_prefix():
    wb = spreadsheet.new_workbook()
    table = spreadsheet.Table(wb, "表", ["名称", "代码"], title="标题", widths={"名称": 30}, text_columns=["代码"])
    for text in FORMULAS:
        table.append([text, "0123"])
    table.append(["plain", None])
    table.append(["bad\x01char", 12])
    table.close()
    sheet = openpyxl.load_workbook(io.BytesIO(spreadsheet.workbook_bytes(wb)))["表"]
    assert sheet["A1"].value == "标题" and sheet["A1"].font.b
    assert [c.value for c in sheet[2]] == ["名称", "代码"] and table.header_row == 2
    assert sheet.freeze_panes == "A3" and sheet.auto_filter.ref == f"A2:B{2 + len(FORMULAS) + 2}"
    assert sheet.column_dimensions["A"].width == 30
    cells = [sheet.cell(row=3 + n, column=1) for n in range(len(FORMULAS))]
    assert [c.value for c in cells] == [text.replace("\r", "\n") for text in FORMULAS]  # XML reads CR as LF
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert sheet.cell(row=3, column=2).value == "0123" and not sheet.cell(row=3, column=2).quotePrefix
    plain = sheet.cell(row=3 + len(FORMULAS), column=1)
    assert plain.value == "plain" and not plain.quotePrefix
    assert sheet.cell(row=3 + len(FORMULAS), column=2).value is None
    assert [c.value for c in sheet[4 + len(FORMULAS)]] == ["badchar", "12"]


def test_csv_neutralises_formula_cells():
    data = spreadsheet.csv_bytes(["名称"], [[text] for text in FORMULAS] + [["plain"], [None]])
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ["名称"]
    assert [row[0] for row in rows[1:1 + len(FORMULAS)]] == ["'" + text for text in FORMULAS]
    assert rows[-2:] == [["plain"], [""]]
    assert not spreadsheet.needs_neutralising("a=1") and spreadsheet.needs_neutralising(" -1")


def test_download_names_in_chinese_and_no_store(app):
    with app.test_request_context():
        response = spreadsheet.download(b"data", spreadsheet.XLSX_MIMETYPE, "诉求台账_20261126.xlsx")
        response.direct_passthrough = False
        assert response.get_data() == b"data"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == "诉求台账_20261126.xlsx"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.mimetype == spreadsheet.XLSX_MIMETYPE
