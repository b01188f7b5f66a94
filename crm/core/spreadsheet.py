"""Spreadsheets in and out, once for every feature: upload checks, safe cells and tables, downloads.

Upload checks (PITFALLS: spreadsheets). Every refusal is ``ValidationFailed(message, {"file": message})`` with
the reason in Chinese; features that have their own error type wrap it.

- :func:`check_size` — at most ``MAX_CONTENT_LENGTH`` bytes (or the limit given).
- :func:`check_xlsx` — the bytes are an XLSX package and safe to unzip, judged from the zip directory before
  anything is inflated: not empty; not an old ``.xls`` or an encrypted workbook (both OLE containers); a zip;
  at most ``SPREADSHEET_MAX_ZIP_ENTRIES`` members and ``SPREADSHEET_MAX_UNZIPPED_BYTES`` uncompressed; no
  member (and not the whole) over ``SPREADSHEET_MAX_ZIP_RATIO`` times its compressed size once past 1 MB (zip
  bombs); no encrypted member; a ``[Content_Types].xml`` (parsed with defusedxml) that declares a workbook and a
  worksheet, and no macros. The three limits can be set in the app config under those names.
- :func:`open_xlsx` — :func:`check_xlsx`, then openpyxl in ``read_only``/``data_only`` mode (openpyxl parses
  with defusedxml, which is installed); :func:`sheet_rows` iterates a sheet, refusing a broken one;
  :func:`row_bound` bounds a workbook's rows from its raw XML, cheaply, for row limits.

Writing. No spreadsheet runs anything from an export:

- XLSX: :func:`text_cell` writes every value as a string (``data_type`` ``"s"``, never ``"f"``; ``None`` and
  ``""`` leave the cell empty; characters XML cannot carry are dropped), and text a spreadsheet would take for a
  formula (``= + - @``, tab or CR first, see :func:`needs_neutralising`) also gets ``quotePrefix``, without
  changing the value. :class:`Table` lays out a write-only sheet (optional title row, bold header, column
  widths, frozen header, auto-filter) from rows of values; :func:`workbook_bytes` saves a workbook.
- CSV: :func:`csv_bytes` (UTF-8 with BOM so Excel shows the Chinese, CRLF) prefixes such cells with ``'``
  (:func:`csv_cell`).

Downloads: :func:`download_file` streams a file (:func:`workbook_file`: a large export); :func:`download` sends
bytes as an attachment through ``send_file(download_name=…)`` (Werkzeug
writes ``filename*=UTF-8''…`` for a Chinese name, with an ASCII fallback) and ``Cache-Control: no-store``.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

from defusedxml import ElementTree as SafeElementTree
from flask import Response, current_app, send_file
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from crm.core.errors import ValidationFailed

log = logging.getLogger(__name__)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv; charset=utf-8"

# Zip checks before openpyxl opens anything; the app config may override each under the same name.
SPREADSHEET_MAX_ZIP_ENTRIES = 500
SPREADSHEET_MAX_UNZIPPED_BYTES = 50 * 1024 * 1024
SPREADSHEET_MAX_ZIP_RATIO = 100  # uncompressed / compressed, for members (and the whole) over RATIO_FLOOR
RATIO_FLOOR = 1024 * 1024
_MAX_CONTENT_TYPES_BYTES = 1024 * 1024

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
}
_MACRO_TYPES = {
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0"

NOT_XLSX = "文件不是 Excel 工作簿:内容不是有效的 XLSX,可能是改了扩展名的 CSV 或文本文件"
BROKEN = "文件已损坏或不是 Excel 工作簿(.xlsx)"
UNREADABLE = "无法读取该文件:文件已损坏或不是有效的 Excel 工作簿(.xlsx)"


# --- upload checks -------------------------------------------------------------------------------------------

def refuse(message: str) -> ValidationFailed:
    """The refusal of an uploaded file: ``ValidationFailed`` with the message on the ``file`` field."""
    return ValidationFailed(message, {"file": message})


def size_text(size: int) -> str:
    """``"10 MB"``, ``"1.5 MB"``, ``"2 KB"``."""
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f}".removesuffix(".0") + " MB"
    return f"{max(size // 1024, 1)} KB"


def _limit(name: str, default: int) -> int:
    return int(current_app.config.get(name) or default)


def upload_limit() -> int | None:
    """The app's ``MAX_CONTENT_LENGTH`` (``None`` when unset)."""
    return current_app.config.get("MAX_CONTENT_LENGTH") or None


def check_size(data: bytes, max_bytes: int | None = None) -> None:
    """Refuse more than ``max_bytes`` (default: ``MAX_CONTENT_LENGTH``; no limit when neither is set)."""
    limit = max_bytes if max_bytes is not None else upload_limit()
    if limit and len(data) > limit:
        raise refuse(f"文件过大({size_text(len(data))}),上限为 {size_text(limit)}")


def check_xlsx(data: bytes) -> None:
    """The bytes are an XLSX package and safe to unzip (see the module's docstring), or ``ValidationFailed``."""
    if not data:
        raise refuse("文件为空")
    if data.startswith(_OLE_MAGIC):
        raise refuse("该文件是旧版 .xls 或加密的工作簿,请在 Excel 中另存为不加密的 .xlsx 后再导入")
    if not data.startswith(b"PK"):
        raise refuse(NOT_XLSX)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise refuse(BROKEN) from None
    with archive:
        if len(members) > _limit("SPREADSHEET_MAX_ZIP_ENTRIES", SPREADSHEET_MAX_ZIP_ENTRIES):
            raise refuse("文件结构异常(压缩包内文件过多),已拒绝")
        total = sum(member.file_size for member in members)
        compressed = sum(member.compress_size for member in members)
        ratio = _limit("SPREADSHEET_MAX_ZIP_RATIO", SPREADSHEET_MAX_ZIP_RATIO)
        if total > _limit("SPREADSHEET_MAX_UNZIPPED_BYTES", SPREADSHEET_MAX_UNZIPPED_BYTES):
            raise refuse(f"文件解压后过大({size_text(total)}),已拒绝")
        bomb = refuse("文件解压后过大(压缩比异常,疑似压缩炸弹),已拒绝")
        if total > RATIO_FLOOR and total > ratio * max(compressed, 1):
            raise bomb
        for member in members:
            if member.flag_bits & 0x1:
                raise refuse("工作簿已加密,请取消密码后再导入")
            if member.file_size > RATIO_FLOOR and member.file_size > ratio * max(member.compress_size, 1):
                raise bomb
        types = next((member for member in members if member.filename == "[Content_Types].xml"), None)
        if types is None or types.file_size > _MAX_CONTENT_TYPES_BYTES:
            raise refuse("文件内容不是 Excel 工作簿(.xlsx)")
        try:
            root = SafeElementTree.fromstring(archive.read(types))
        except Exception:  # noqa: BLE001 - defusedxml refusals, parse errors, bad CRC: all "not a workbook"
            raise refuse(BROKEN) from None
    content_types = {element.get("ContentType", "") for element in root.iter() if element.tag.endswith("Override")}
    if content_types & _MACRO_TYPES:
        raise refuse("不支持含宏的工作簿(.xlsm),请另存为 .xlsx 后再导入")
    if not content_types & _SHEET_MAIN_TYPES or _WORKSHEET_TYPE not in content_types:
        raise refuse("文件内容不是 Excel 工作簿(.xlsx),可能是改了扩展名的其他 Office 文件或压缩包")


def open_xlsx(data: bytes):
    """The workbook, after :func:`check_xlsx`, opened read-only with values (not formulas); the caller closes it."""
    check_xlsx(data)
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a broken package
        log.info("unreadable workbook", exc_info=True)
        raise refuse(UNREADABLE) from None


def sheet_rows(worksheet) -> Iterator[tuple[int, tuple]]:
    """(spreadsheet row number, values) of a read-only sheet; a broken sheet part is refused as unreadable."""
    worksheet.reset_dimensions()  # never trust the stored dimension: it may cut rows off or add a million
    rows = enumerate(worksheet.iter_rows(values_only=True), start=1)
    while True:
        try:
            item = next(rows)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001 - a broken sheet part shows only while iterating
            log.info("unreadable worksheet", exc_info=True)
            raise refuse("无法读取该文件:工作表内容已损坏") from None
        yield item


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,32}:)?row[\s/>]")
_WORKSHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml")


def row_bound(data: bytes) -> int:
    """An upper bound of the rows of any sheet of a checked XLSX (:func:`check_xlsx`): its ``<row>`` elements,
    counted in the decompressed XML (bounded by the zip checks) without parsing it."""
    best = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.infolist():
            if not _WORKSHEET_PART.fullmatch(member.filename):
                continue
            count, tail = 0, b""
            with archive.open(member) as stream:
                while chunk := stream.read(1 << 20):
                    block = tail + chunk
                    count += sum(1 for match in _ROW_TAG.finditer(block) if match.end() > len(tail))
                    tail = block[-64:]
            best = max(best, count)
    return best


# --- writing -------------------------------------------------------------------------------------------------

def needs_neutralising(text: str) -> bool:
    """Would a spreadsheet take this text for a formula (``= + - @``, tab or CR first, or after spaces)?"""
    return text.startswith(FORMULA_START) or text.lstrip(" ").startswith(FORMULA_START[:4])


def clean_text(value: Any) -> str:
    """A value as export text: ``None`` → ``""``, characters XML cannot carry removed."""
    if value is None:
        return ""
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def csv_cell(value: Any) -> str:
    """A value as a neutralised CSV cell: ``'`` in front of anything a spreadsheet would run."""
    text = clean_text(value)
    return "'" + text if needs_neutralising(text) else text


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]] = ()) -> bytes:
    """A CSV file (UTF-8 with BOM, CRLF): ``header``, then ``rows``, every cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_cell(name) for name in header])
    for values in rows:
        writer.writerow([csv_cell(value) for value in values])
    return buffer.getvalue().encode("utf-8-sig")


def text_cell(ws, value: Any, font: Font | None = None) -> WriteOnlyCell | None:
    """A write-only cell holding ``value`` as text, never a formula (``None`` for an empty cell without font)."""
    text = clean_text(value)
    if not text and font is None:
        return None
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"  # never "f": openpyxl would make "=..." a formula
    if needs_neutralising(text):
        cell.quotePrefix = True
    if font is not None:
        cell.font = font
    return cell


def new_workbook() -> Workbook:
    """An empty write-only workbook (add sheets with :class:`Table` or ``create_sheet``)."""
    return Workbook(write_only=True)


def workbook_file(wb: Workbook) -> IO[bytes]:
    """``wb`` saved to an anonymous temporary file, positioned at its start, for :func:`download_file`.

    With a write-only workbook (:func:`new_workbook`) each row goes to openpyxl's temporary sheet file as it is
    appended and the package is zipped from there to this file: a 20,000-row export never holds its rows, its
    XML or its zip in memory (PITFALLS: spreadsheets)."""
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, which closes it
    try:
        wb.save(out)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def workbook_bytes(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


TITLE_FONT = Font(bold=True, size=14)
HEADER_FONT = Font(bold=True)


class Table:
    """A write-only sheet of text cells: a title row when ``title`` is given, the bold header, then rows.

    ``widths`` maps column names to widths (others get ``default_width``); columns named in ``text_columns``
    are formatted as text, so codes typed into them keep leading zeros and all 18 digits. The header stays
    frozen; :meth:`close` adds an auto-filter over the header and the rows written.
    """

    def __init__(self, wb: Workbook, sheet_name: str, columns: Sequence[str], *, title: str | None = None,
                 widths: dict[str, int] | None = None, default_width: int = 14, text_columns: Iterable[str] = ()):
        self.ws = ws = wb.create_sheet(sheet_name)
        self.columns = list(columns)
        text_columns = set(text_columns)
        for number, name in enumerate(self.columns, start=1):
            letter = get_column_letter(number)
            ws.column_dimensions[letter].width = (widths or {}).get(name, default_width)
            if name in text_columns:
                ws.column_dimensions[letter].number_format = "@"
        self.header_row = 2 if title is not None else 1
        ws.freeze_panes = f"A{self.header_row + 1}"
        if title is not None:
            ws.append([text_cell(ws, title, TITLE_FONT)])
        ws.append([text_cell(ws, name, HEADER_FONT) for name in self.columns])
        self.last_row = self.header_row

    def append(self, values: Iterable[Any]) -> None:
        self.ws.append([text_cell(self.ws, value) for value in values])
        self.last_row += 1

    def close(self) -> None:
        self.ws.auto_filter.ref = f"A{self.header_row}:{get_column_letter(len(self.columns))}{self.last_row}"


def text_lines(ws, lines: Iterable[Sequence[Any]], *, bold_first: bool = False) -> None:
    """Rows of text cells on a write-only sheet (notes, instructions), the first one bold if asked."""
    for number, values in enumerate(lines):
        font = HEADER_FONT if bold_first and number == 0 else None
        ws.append([text_cell(ws, value, font) for value in values])


# --- downloads -----------------------------------------------------------------------------------------------

def download_file(file: IO[bytes], mimetype: str, filename: str) -> Response:
    """The open ``file`` as an attachment named ``filename``, streamed: Werkzeug sends it in blocks from the file
    (``Response.is_streamed``) and closes it when the response ends; never cached."""
    response = send_file(file, mimetype=mimetype, as_attachment=True, download_name=filename, conditional=False)
    response.headers["Cache-Control"] = "no-store"
    return response


def download(data: bytes, mimetype: str, filename: str) -> Response:
    """``data`` as an attachment named ``filename`` (Chinese is fine), never cached."""
    response = send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=filename)
    response.headers["Cache-Control"] = "no-store"
    return response
