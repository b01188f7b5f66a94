"""The official lists in and out of Excel (issue 3, point 5): export, template, file checks, import.

Export
    ``export_xlsx(edition)`` and ``export_csv(edition)`` return the file's bytes. Columns are
    :data:`OFFICIAL_COLUMNS` (plus ``层级`` for the cultivation pool, see :func:`columns_for`); one row per entry,
    in the order of :func:`crm.rosters.domain.entries_statement`. In the XLSX, row 1 is a title (the list's
    Chinese name, half year and status), row :data:`HEADER_ROW` (2) is the header and data start at row
    :data:`FIRST_DATA_ROW` (3); the sheet is named after the list and period. The CSV has no title: its header
    is line 1, and it is UTF-8 with a BOM so Excel shows the Chinese correctly.

    No spreadsheet runs anything from an export: every XLSX cell is written as a string (``data_type`` ``"s"``,
    never ``"f"``; empty values leave the cell empty) and those starting with ``= + - @``, a tab or a carriage
    return also get ``quotePrefix``, without changing the value; in the CSV such cells are prefixed with ``'``.

Import (XLSX only)
    1. ``check_file(filename, data)`` in the request: refuses (``ValidationFailed`` with ``fields["file"]``) a
       name not ending in ``.xlsx``, content that is not an XLSX package, a file over ``MAX_CONTENT_LENGTH``, a
       zip bomb and more than ``ROSTER_IMPORT_MAX_ROWS`` data rows. Quick for ordinary files (rows are counted
       in the raw XML; openpyxl reads them only near the limit). ``import_rows`` enforces the same limits.
    2. Either ``import_rows(edition, data, actor)`` in the caller's transaction (the caller commits when
       ``result.ok``), or, for the page's progress bar, ``run_import_record(import_id, data)`` in a thread.

    The header row is found among the first :data:`HEADER_SEARCH_ROWS` rows of the first sheet that has one;
    columns are matched by name, in any order. ``统一社会信用代码`` and ``入库理由`` are required; ``企业名称`` and
    ``区县`` are cross-checked against the registry when present; ``层级`` is read for the cultivation pool only
    (empty: 培育 for a new entry, unchanged for an existing one). Rows are matched to enterprises by USCC.
    Every row is checked and every problem reported; one problem and nothing is written. Entries of the
    edition that are not in the file stay as they are: the import adds and updates, it never removes (removal
    needs a reason, given on the page).

    A problem is ``{"row": <spreadsheet row number>, "field": <column name in Chinese>, "message": <Chinese>}``;
    problems of the file as a whole (no header, missing column, no data) have ``"field": "文件"`` and
    ``"row"`` the header row, or ``None`` when there is no header.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from itertools import islice
from typing import Any

import sqlalchemy as sa
from defusedxml import ElementTree as SafeElementTree
from flask import current_app
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from crm.auth.models import User
from crm.core.errors import DomainError, NotFound, ValidationFailed
from crm.core.time import utcnow
from crm.enterprises.domain import name_key, normalise_uscc, uscc_error
from crm.enterprises.models import Enterprise, EnterpriseStatus
from crm.extensions import db
from crm.reference.models import County
from crm.rosters import domain
from crm.rosters.models import (
    ImportStatus,
    RosterEdition,
    RosterEntry,
    RosterImport,
    RosterKind,
    Tier,
)

log = logging.getLogger(__name__)

OFFICIAL_COLUMNS = ["序号", "企业名称", "统一社会信用代码", "区县", "产业集群", "配套类别", "主要产品", "成渝配套对象",
                    "入库理由"]
TIER_COLUMN = "层级"  # cultivation pool only, after 入库理由
HEADER_ROW = 2  # of exports and the template; row 1 is the title
FIRST_DATA_ROW = HEADER_ROW + 1
HEADER_SEARCH_ROWS = 10  # the import looks for the header in this many rows at the top of a sheet
PROGRESS_EVERY = 100  # rows between progress callbacks
FILE_FIELD = "文件"

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIMETYPE = "text/csv; charset=utf-8"

# Zip checks before openpyxl opens anything. Overridable in the app config under the same names.
ROSTER_IMPORT_MAX_ZIP_ENTRIES = 1000
ROSTER_IMPORT_MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
ROSTER_IMPORT_MAX_ZIP_RATIO = 100  # uncompressed / compressed, for members (and totals) over 1 MB
_RATIO_FLOOR = 1024 * 1024
_MAX_CONTENT_TYPES_BYTES = 1024 * 1024

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_SHEET_MAIN_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml",
}
_MACRO_TYPES = {
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    "application/vnd.ms-excel.template.macroEnabled.main+xml",
}
_WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

# Header names the import understands, normalised (see _header_key), → the official column.
_HEADER_ALIASES = {
    "序号": "序号",
    "企业名称": "企业名称", "企业全称": "企业名称", "单位名称": "企业名称",
    "统一社会信用代码": "统一社会信用代码", "社会信用代码": "统一社会信用代码", "信用代码": "统一社会信用代码",
    "区县": "区县", "县市区": "区县", "所在区县": "区县", "所属区县": "区县",
    "入库理由": "入库理由", "入选理由": "入库理由", "理由": "入库理由",
    "层级": "层级", "企业层级": "层级",
}
_REQUIRED = ("统一社会信用代码", "入库理由")
_DOMAIN_FIELDS = {"reason": "入库理由", "tier": "层级", "enterprise_id": "统一社会信用代码"}
_SCIENTIFIC = re.compile(r"^\d(\.\d+)?E\+?\d+$", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")


# --- columns and cells ---------------------------------------------------------------------------------------

def columns_for(kind: RosterKind) -> list[str]:
    """The official header of a list: :data:`OFFICIAL_COLUMNS`, plus ``层级`` for the cultivation pool."""
    return OFFICIAL_COLUMNS + [TIER_COLUMN] if kind is RosterKind.CULTIVATION_POOL else list(OFFICIAL_COLUMNS)


def needs_neutralising(text: str) -> bool:
    """Would a spreadsheet take this text for a formula (``= + - @``, tab or CR first, or after spaces)?"""
    return text.startswith(_FORMULA_START) or text.lstrip(" ").startswith(_FORMULA_START[:4])


def _clean(value: Any) -> str:
    """A value as export text: ``None`` → ``""``, characters XML cannot carry removed."""
    if value is None:
        return ""
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def csv_cell(value: Any) -> str:
    """A value as a neutralised CSV cell: ``'`` in front of anything a spreadsheet would run."""
    text = _clean(value)
    return "'" + text if needs_neutralising(text) else text


def _xlsx_cell(ws, value: Any, font: Font | None = None) -> WriteOnlyCell | None:
    text = _clean(value)
    if not text and font is None:
        return None
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"  # never "f": openpyxl would make "=..." a formula
    if needs_neutralising(text):
        cell.quotePrefix = True
    if font is not None:
        cell.font = font
    return cell


def _entry_values(index: int, entry: RosterEntry, with_tier: bool) -> list[str]:
    enterprise = entry.enterprise
    values = [
        str(index),
        enterprise.name,
        enterprise.uscc,
        enterprise.county.name,
        enterprise.cluster.name,
        enterprise.supply_category.name if enterprise.supply_category else "",
        enterprise.main_products or "",
        "、".join(link.partner.name for link in enterprise.partner_links),
        entry.reason,
    ]
    if with_tier:
        values.append(entry.tier.label if entry.tier else "")
    return values


def _rows(edition: RosterEdition) -> Iterator[list[str]]:
    with_tier = edition.kind is RosterKind.CULTIVATION_POOL
    for index, entry in enumerate(db.session.scalars(domain.entries_statement(edition)), start=1):
        yield _entry_values(index, entry, with_tier)


def title_of(edition: RosterEdition) -> str:
    return f"{edition.kind.label}({domain.period_label(edition.period)},{edition.status.label})"


def sheet_name_of(kind: RosterKind, period: str = "") -> str:
    return f"{kind.short_label}{period}"[:31]


def export_filename(edition: RosterEdition, extension: str) -> str:
    """A download name such as ``配套企业名单_2026H1.xlsx`` (``extension`` without the dot)."""
    return f"{edition.kind.short_label}_{edition.period}.{extension}"


def template_filename(kind: RosterKind | str) -> str:
    kind = domain.parse_kind(kind) if not isinstance(kind, RosterKind) else kind
    return f"{kind.short_label}_导入模板.xlsx"


_WIDTHS = {"序号": 6, "企业名称": 32, "统一社会信用代码": 22, "区县": 10, "产业集群": 14, "配套类别": 10,
           "主要产品": 30, "成渝配套对象": 30, "入库理由": 40, "层级": 8}


def _sheet(wb: Workbook, title: str, heading: str, columns: list[str]):
    ws = wb.create_sheet(title)
    for number, name in enumerate(columns, start=1):
        letter = get_column_letter(number)
        ws.column_dimensions[letter].width = _WIDTHS.get(name, 14)
        if name == "统一社会信用代码":
            ws.column_dimensions[letter].number_format = "@"  # typed codes stay text (leading zeros, 18 digits)
    ws.freeze_panes = f"A{FIRST_DATA_ROW}"
    ws.append([_xlsx_cell(ws, heading, Font(bold=True, size=14))])
    ws.append([_xlsx_cell(ws, name, Font(bold=True)) for name in columns])
    return ws


def _save(wb: Workbook) -> bytes:
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def export_xlsx(edition: RosterEdition) -> bytes:
    """The edition as an XLSX: title in row 1, header in row :data:`HEADER_ROW`, entries from row 3.

    Every cell is text; nothing in it can run as a formula. The file can be imported back as it is.
    """
    columns = columns_for(edition.kind)
    wb = Workbook(write_only=True)
    ws = _sheet(wb, sheet_name_of(edition.kind, edition.period), title_of(edition), columns)
    last = HEADER_ROW
    for values in _rows(edition):
        ws.append([_xlsx_cell(ws, value) for value in values])
        last += 1
    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(columns))}{last}"
    return _save(wb)


def export_csv(edition: RosterEdition) -> bytes:
    """The edition as CSV (UTF-8 with BOM, CRLF): header on line 1, then one line per entry.

    Cells starting with ``= + - @``, a tab or CR are prefixed with ``'`` so no spreadsheet runs them.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns_for(edition.kind))
    for values in _rows(edition):
        writer.writerow([csv_cell(value) for value in values])
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx(kind: RosterKind | str) -> bytes:
    """The empty import template of a list (``kind`` as :class:`RosterKind` or its code; unknown → NotFound).

    Sheet 1 has the title in row 1 and the official header in row :data:`HEADER_ROW`, the USCC column formatted
    as text and, for the pool, a 龙头/链主/培育 drop-down; sheet 2 (填写说明) explains the columns with an example.
    """
    kind = domain.parse_kind(kind) if not isinstance(kind, RosterKind) else kind
    columns = columns_for(kind)
    wb = Workbook(write_only=True)
    ws = _sheet(wb, "导入模板", f"{kind.label}导入模板(第{HEADER_ROW}行为表头,请勿修改;"
                f"从第{FIRST_DATA_ROW}行起每行一家企业)", columns)
    if kind is RosterKind.CULTIVATION_POOL:
        letter = get_column_letter(len(columns))
        tiers = ",".join(tier.label for tier in Tier)
        validation = DataValidation(type="list", formula1=f'"{tiers}"', allow_blank=True,
                                    error="层级应为 " + "、".join(tier.label for tier in Tier), showErrorMessage=True)
        validation.add(f"{letter}{FIRST_DATA_ROW}:{letter}{FIRST_DATA_ROW + 20000}")
        ws.data_validations.append(validation)
    notes = wb.create_sheet("填写说明")
    notes.column_dimensions["A"].width = 110
    example = ("示例:企业名称 遵义示例机械制造有限公司;统一社会信用代码 91520300MA6XXXXXXX;区县 汇川区;"
               "入库理由 为长安汽车配套变速箱壳体")
    lines = [
        f"{kind.label}导入说明",
        "1. 按统一社会信用代码匹配企业,企业须已在系统企业档案中登记;代码可含小写字母和空格。",
        "2. 必填:统一社会信用代码、入库理由。企业名称、区县如填写,须与企业档案一致。",
        "3. 产业集群、配套类别、主要产品、成渝配套对象取自企业档案,导入时不读取,可留空。",
        "4. 名单中已有的企业:按文件更新入库理由" + ("和层级;" if kind is RosterKind.CULTIVATION_POOL else ";")
        + "文件中没有的企业保持不变(移出企业请在页面上填写理由操作)。",
        "5. 任何一行有问题,整个文件都不会写入;请按问题清单逐行修改后重新导入。",
        "6. 统一社会信用代码列请保持“文本”格式,否则 Excel 会把18位数字改成科学计数法并丢失末几位。",
    ]
    if kind is RosterKind.CULTIVATION_POOL:
        lines.append("7. 层级填写 龙头、链主 或 培育;新入库企业不填时按“培育”处理。")
        example += ";层级 培育"
    lines.append(example)
    for number, line in enumerate(lines):
        notes.append([_xlsx_cell(notes, line, Font(bold=True) if number == 0 else None)])
    return _save(wb)


# --- file checks ---------------------------------------------------------------------------------------------

def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, {"file": message})


def _size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(size // 1024, 1)} KB"


def _limit(name: str, default: int) -> int:
    return int(current_app.config.get(name) or default)


def check_file(filename: str | None, data: bytes) -> None:
    """Refuse a file that cannot be imported, before any work: raises ``ValidationFailed`` whose
    ``fields["file"]`` (and message) says why, in Chinese.

    Refused: a name not ending in ``.xlsx``; an empty file; more than ``MAX_CONTENT_LENGTH`` bytes; content that
    is not an XLSX package (a CSV, text, old .xls, encrypted or macro workbook, other zip); a zip bomb (too many
    members, too much uncompressed data, a compression ratio too high); a workbook openpyxl cannot open; more
    than ``ROSTER_IMPORT_MAX_ROWS`` data rows. Fast for ordinary files: rows are counted from the raw sheet XML
    and read with openpyxl only when that count comes near the limit. ``import_rows`` applies the same limits.
    """
    if not (filename or "").strip().lower().endswith(".xlsx"):
        raise _refuse("只能导入 Excel 工作簿(.xlsx)文件;.xls 或 .csv 文件请先在 Excel 中“另存为”.xlsx")
    max_bytes = current_app.config.get("MAX_CONTENT_LENGTH")
    if max_bytes and len(data) > max_bytes:
        raise _refuse(f"文件过大({_size_text(len(data))}),上限为 {_size_text(max_bytes)}")
    workbook = _load(data)
    try:
        max_rows = _max_rows()
        if _row_bound(data) <= max_rows:
            return
        found = _find_header(workbook)
        if found is not None:
            header_row, columns, rows = found
            for _ in _data_rows(rows, columns, max_rows):
                pass
    finally:
        workbook.close()


def _max_rows() -> int:
    return _limit("ROSTER_IMPORT_MAX_ROWS", 20000)


def _check_package(data: bytes) -> None:
    """The bytes are an XLSX package and safe to unzip: checked from the zip directory, before parsing."""
    if not data:
        raise _refuse("文件为空")
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _refuse("该文件是旧版 .xls 或加密的工作簿,请在 Excel 中另存为不加密的 .xlsx 后再导入")
    if not data.startswith(b"PK"):
        raise _refuse("文件内容不是 Excel 工作簿(.xlsx),可能是改了扩展名的 CSV 或文本文件")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError):
        raise _refuse("文件已损坏或不是 Excel 工作簿(.xlsx)") from None
    with archive:
        if len(members) > _limit("ROSTER_IMPORT_MAX_ZIP_ENTRIES", ROSTER_IMPORT_MAX_ZIP_ENTRIES):
            raise _refuse("文件结构异常(压缩包内文件过多),已拒绝")
        total = sum(member.file_size for member in members)
        compressed = sum(member.compress_size for member in members)
        ratio = _limit("ROSTER_IMPORT_MAX_ZIP_RATIO", ROSTER_IMPORT_MAX_ZIP_RATIO)
        if total > _limit("ROSTER_IMPORT_MAX_UNZIPPED_BYTES", ROSTER_IMPORT_MAX_UNZIPPED_BYTES):
            raise _refuse(f"文件解压后过大({_size_text(total)}),已拒绝")
        if total > _RATIO_FLOOR and total > ratio * max(compressed, 1):
            raise _refuse("文件压缩比异常(疑似压缩炸弹),已拒绝")
        for member in members:
            if member.flag_bits & 0x1:
                raise _refuse("工作簿已加密,请取消密码后再导入")
            if member.file_size > _RATIO_FLOOR and member.file_size > ratio * max(member.compress_size, 1):
                raise _refuse("文件压缩比异常(疑似压缩炸弹),已拒绝")
        names = {member.filename: member for member in members}
        types = names.get("[Content_Types].xml")
        if types is None or types.file_size > _MAX_CONTENT_TYPES_BYTES:
            raise _refuse("文件内容不是 Excel 工作簿(.xlsx)")
        try:
            root = SafeElementTree.fromstring(archive.read(types))
        except Exception:  # noqa: BLE001 - defusedxml refusals, parse errors, bad CRC: all "not a workbook"
            raise _refuse("文件已损坏或不是 Excel 工作簿(.xlsx)") from None
    content_types = {element.get("ContentType", "") for element in root.iter() if element.tag.endswith("Override")}
    if content_types & _MACRO_TYPES:
        raise _refuse("不支持含宏的工作簿(.xlsm),请另存为 .xlsx 后再导入")
    if not content_types & _SHEET_MAIN_TYPES or _WORKSHEET_TYPE not in content_types:
        raise _refuse("文件内容不是 Excel 工作簿(.xlsx),可能是改了扩展名的其他 Office 文件或压缩包")


# --- reading -------------------------------------------------------------------------------------------------

def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    """A cell as text: numbers without a trailing ``.0``, dates as ISO, strings stripped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip()


def _header_key(value: Any) -> str:
    text = unicodedata.normalize("NFKC", _text(value))
    text = _INVISIBLE.sub("", text)
    text = re.sub(r"[(\[【].*?[)\]】]", "", text)  # 入库理由(必填)
    return re.sub(r"[*※★:、,]", "", text)


def _header_columns(values: tuple) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, value in enumerate(values):
        official = _HEADER_ALIASES.get(_header_key(value))
        if official and official not in columns:
            columns[official] = index
    return columns


def _is_empty(values: tuple, serial: int | None) -> bool:
    return all(_blank(value) for index, value in enumerate(values) if index != serial)


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,32}:)?row[\s/>]")
_WORKSHEET_PART = re.compile(r"xl/worksheets/[^/]+\.xml")


def _row_bound(data: bytes) -> int:
    """An upper bound of the data rows of any sheet: its ``<row>`` elements minus the header, counted in the
    decompressed XML (already bounded by the zip checks) without parsing it."""
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
            best = max(best, count - 1)
    return best


def _load(data: bytes):
    """The workbook, opened with openpyxl in read-only mode (defusedxml underneath), after the zip checks."""
    _check_package(data)
    try:
        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many kinds for a broken package
        log.info("roster import: unreadable workbook", exc_info=True)
        raise _refuse("无法读取该文件:文件已损坏或不是有效的 Excel 工作簿(.xlsx)") from None


def _sheet_rows(worksheet) -> Iterator[tuple[int, tuple]]:
    """(spreadsheet row number, values) of a sheet; a broken sheet part is refused as unreadable."""
    worksheet.reset_dimensions()  # never trust the stored dimension: it may cut rows off or add a million
    rows = enumerate(worksheet.iter_rows(values_only=True), start=1)
    while True:
        try:
            item = next(rows)
        except StopIteration:
            return
        except Exception:  # noqa: BLE001 - a broken sheet part shows only while iterating
            log.info("roster import: unreadable worksheet", exc_info=True)
            raise _refuse("无法读取该文件:工作表内容已损坏") from None
        yield item


def _find_header(workbook) -> tuple[int, dict[str, int], Iterator[tuple[int, tuple]]] | None:
    """The header row of the first sheet that has one (among its first rows), its columns, and its remaining
    rows, or ``None``."""
    for worksheet in workbook.worksheets:
        rows = _sheet_rows(worksheet)
        for number, values in rows:
            if number > HEADER_SEARCH_ROWS:
                break
            columns = _header_columns(values)
            if "统一社会信用代码" in columns:
                return number, columns, rows
    return None


def _data_rows(rows: Iterator[tuple[int, tuple]], columns: dict[str, int],
               max_rows: int) -> Iterator[tuple[int, tuple]]:
    """The non-empty rows after the header (a row with only a 序号 is empty); more than ``max_rows`` refused."""
    serial = columns.get("序号")
    count = 0
    for number, values in rows:
        if _is_empty(values, serial):
            continue
        count += 1
        if count > max_rows:
            raise _refuse(f"数据行过多:超过 {max_rows} 行的上限,请分批导入")
        yield number, values


# --- import --------------------------------------------------------------------------------------------------

@dataclass
class ImportResult:
    """What an import did, or would have done.

    ``ok`` is true when the file had no problem and its rows were applied (in the caller's transaction);
    otherwise ``problems`` lists each one and nothing was written. ``added``/``updated``/``unchanged`` count
    rows (entries) of the file; ``summary`` says it all in one Chinese sentence.
    """

    ok: bool
    rows_total: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[dict] = field(default_factory=list)
    summary: str = ""

    @property
    def rows_written(self) -> int:
        return self.added + self.updated

    def to_dict(self) -> dict:
        """The result as JSON-ready data (with ``rows_written``)."""
        return {**asdict(self), "rows_written": self.rows_written}


def _summarise(result: ImportResult) -> ImportResult:
    if result.ok:
        result.summary = (f"导入完成:共 {result.rows_total} 行,新增 {result.added} 家,更新 {result.updated} 家,"
                          f"未变 {result.unchanged} 家")
    else:
        rows = {problem["row"] for problem in result.problems if problem["row"] is not None}
        where = f",涉及 {len(rows)} 行" if rows else ""
        result.summary = (f"检查未通过:共 {result.rows_total} 行,发现 {len(result.problems)} 个问题{where};"
                          "未写入任何数据,请修改后重新导入")
    return result


@dataclass
class _Planned:
    row: int
    enterprise_id: int
    action: str  # "add" / "update"
    reason: str
    tier: Any


def _problem(row: int | None, field_name: str, message: str) -> dict:
    return {"row": row, "field": field_name, "message": message}


def _domain_message(err: DomainError, key: str) -> str:
    return err.fields.get(key) or err.message


def _uscc_of(value: Any) -> tuple[str, str | None]:
    """The normalised code of a cell and, if it is unusable, why (numbers read from cells are handled)."""
    if isinstance(value, float) and not value.is_integer():
        return _text(value), "统一社会信用代码格式不正确(单元格是小数)"
    if isinstance(value, float) and abs(value) >= 1e15:
        return _text(value), ("统一社会信用代码被 Excel 存成了数字,超过15位的部分已丢失;"
                              "请把该列设为“文本”格式后重新填写")
    text = unicodedata.normalize("NFKC", _text(value))
    code = normalise_uscc(_INVISIBLE.sub("", text))
    problem = uscc_error(code)
    if problem and _SCIENTIFIC.match(code):
        problem += "(该代码被写成了科学计数法,请把该列设为“文本”格式后重新填写)"
    return code, problem


def _chunks(items: list, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def import_rows(edition: RosterEdition, data: bytes, actor: Any, *,
                progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Check every row of an XLSX against the registry and the edition; apply them only if all are good.

    ``ensure_editable(edition)`` first (a published/superseded or in-review edition → ``Conflict``). A file
    that cannot be read at all, or has more than ``ROSTER_IMPORT_MAX_ROWS`` data rows, → ``ValidationFailed``
    with ``fields["file"]``. Otherwise returns an :class:`ImportResult`:

    - with problems (``ok`` false): nothing is written, the session is as it was;
    - without: every new enterprise goes through :func:`crm.rosters.domain.add_entry` and every changed reason
      or tier through :func:`crm.rosters.domain.update_entry` (each with its audit row), in the caller's
      transaction, inside a savepoint that is rolled back if any of them is refused. Nothing is committed:
      the caller commits.

    ``progress(rows_checked, rows_total)`` is called while the file is read and checked: with 0 once the header
    is found, every :data:`PROGRESS_EVERY` rows, and at the end. ``rows_checked`` only grows; ``rows_total`` is
    estimated from the sheet's row count until the last call, which gives the exact number. The callback may
    end the session's transaction (``run_import_record`` does on SQLite): nothing is written before its last
    call.
    """
    domain.ensure_editable(edition)
    edition_id = edition.id
    max_rows = _max_rows()
    workbook = _load(data)
    result = ImportResult(ok=False)
    try:
        found = _find_header(workbook)
        if found is None:
            result.problems.append(_problem(None, FILE_FIELD, "未找到表头行:表头须包含“统一社会信用代码”和“入库理由”"
                                            "两列,请使用导入模板"))
            return _summarise(result)
        header_row, columns, rows = found
        missing = [name for name in _REQUIRED if name not in columns]
        for name in missing:
            result.problems.append(_problem(header_row, FILE_FIELD, f"缺少“{name}”列"))
        if missing:
            return _summarise(result)
        estimate = min(max(_row_bound(data) - (header_row - 1), 0), max_rows)
        plans = _check(edition, columns, _data_rows(rows, columns, max_rows), estimate, result, progress, actor)
    finally:
        workbook.close()
    if not result.rows_total:
        result.problems.append(_problem(header_row, FILE_FIELD, "文件中没有数据行"))
    if result.problems:
        result.problems.sort(key=lambda problem: problem["row"])
        return _summarise(result)
    edition = db.session.get(RosterEdition, edition_id) or edition
    _apply(edition, plans, actor, result)
    if result.problems:
        result.added = result.updated = 0
    result.ok = not result.problems
    return _summarise(result)


class _Progress:
    """Calls the caller's progress callback, never twice with the same counts."""

    def __init__(self, callback: Callable[[int, int], None] | None):
        self.callback = callback
        self.last: tuple[int, int] | None = None

    def __call__(self, checked: int, total: int) -> None:
        if self.callback is not None and (checked, total) != self.last:
            self.last = (checked, total)
            self.callback(checked, total)


def _check(edition: RosterEdition, columns: dict[str, int], rows: Iterator[tuple[int, tuple]], estimate: int,
           result: ImportResult, callback: Callable[[int, int], None] | None, actor: Any = None) -> list[_Planned]:
    """Read and check the data rows, :data:`PROGRESS_EVERY` at a time (one registry query per batch).

    A row whose enterprise the actor may not change (a county coordinator: another county's) is a problem of
    that row, as ``POST .../entries`` would refuse it.
    """
    from crm.core.access import Action, can

    with_tier = edition.kind is RosterKind.CULTIVATION_POOL and TIER_COLUMN in columns
    existing = {enterprise_id: (reason, tier) for enterprise_id, reason, tier in db.session.execute(
        sa.select(RosterEntry.enterprise_id, RosterEntry.reason, RosterEntry.tier)
        .where(RosterEntry.edition_id == edition.id))}
    counties: dict[str, int] = {}
    for county_id, name, full_name in db.session.execute(sa.select(County.id, County.name, County.full_name)):
        for label in (name, full_name):
            if label:
                counties[_header_key(label)] = county_id

    def cell(values: tuple, name: str) -> Any:
        index = columns.get(name)
        return values[index] if index is not None and index < len(values) else None

    problems = result.problems
    plans: list[_Planned] = []
    seen: dict[str, int] = {}
    progress = _Progress(callback)
    checked = 0
    progress(0, estimate)
    while True:
        chunk = list(islice(rows, PROGRESS_EVERY))
        codes = {number: _uscc_of(cell(values, "统一社会信用代码")) for number, values in chunk}
        wanted = {code for code, problem in codes.values() if not problem}
        found = {enterprise.uscc: enterprise for enterprise in db.session.scalars(
            sa.select(Enterprise).where(Enterprise.uscc.in_(wanted)))} if wanted else {}
        for number, values in chunk:
            before = len(problems)
            code, code_problem = codes[number]
            enterprise = None
            if code_problem:
                problems.append(_problem(number, "统一社会信用代码", code_problem))
            elif code in seen:
                problems.append(_problem(number, "统一社会信用代码",
                                         f"与第 {seen[code]} 行重复(统一社会信用代码 {code})"))
            else:
                seen[code] = number
                enterprise = found.get(code)
                if enterprise is None:
                    problems.append(_problem(number, "统一社会信用代码",
                                             f"企业档案中没有统一社会信用代码为 {code} 的企业,请先登记该企业"))
            name = _text(cell(values, "企业名称"))
            if enterprise is not None and name and name_key(name) != enterprise.name_key:
                problems.append(_problem(number, "企业名称",
                                         f"企业名称“{name}”与该统一社会信用代码登记的“{enterprise.name}”不一致"))
            county = _text(cell(values, "区县"))
            if county:
                county_id = counties.get(_header_key(county))
                if county_id is None:
                    problems.append(_problem(number, "区县", f"未知区县:{county}"))
                elif enterprise is not None and county_id != enterprise.county_id:
                    problems.append(_problem(number, "区县",
                                             f"区县“{county}”与企业档案登记的“{enterprise.county.name}”不一致"))
            reason = tier = None
            try:
                reason = domain._reason(_text(cell(values, "入库理由")))  # the domain's own rule and message
            except ValidationFailed as err:
                problems.append(_problem(number, "入库理由", _domain_message(err, "reason")))
            raw_tier = _text(cell(values, TIER_COLUMN)) if with_tier else ""
            if raw_tier:
                try:
                    tier = domain._tier_for(edition, raw_tier)  # the domain's own rule and message
                except ValidationFailed as err:
                    problems.append(_problem(number, TIER_COLUMN, _domain_message(err, "tier")))
            if len(problems) > before or enterprise is None:
                continue
            if actor is not None and not can(actor, Action.EDIT, enterprise):
                problems.append(_problem(number, "统一社会信用代码",
                                         f"“{enterprise.name}”({enterprise.uscc})不在您负责的范围内,不能加入或修改"))
                continue
            if enterprise.id in existing:
                old_reason, old_tier = existing[enterprise.id]
                if reason == old_reason and (tier is None or tier == old_tier):
                    result.unchanged += 1
                else:
                    plans.append(_Planned(number, enterprise.id, "update", reason, tier))
            elif enterprise.status in (EnterpriseStatus.DEREGISTERED, EnterpriseStatus.MOVED_OUT):
                problems.append(_problem(number, "统一社会信用代码",
                                         f"“{enterprise.name}”已{enterprise.status.label},不能入库"))
            else:
                plans.append(_Planned(number, enterprise.id, "add", reason, tier))
        checked += len(chunk)
        result.rows_total = checked
        if len(chunk) < PROGRESS_EVERY:
            progress(checked, checked)
            return plans
        progress(checked, max(estimate, checked))


def _apply(edition: RosterEdition, plans: list[_Planned], actor: Any, result: ImportResult) -> None:
    """Write the planned rows through the domain, all or nothing (a savepoint around them)."""
    savepoint = db.session.begin_nested()
    current: _Planned | None = None
    try:
        for chunk in _chunks(plans, 500):
            enterprises = {enterprise.id: enterprise for enterprise in db.session.scalars(
                sa.select(Enterprise).where(Enterprise.id.in_([plan.enterprise_id for plan in chunk])))}
            for current in chunk:
                enterprise = enterprises[current.enterprise_id]
                if current.action == "add":
                    domain.add_entry(actor, edition, enterprise, current.reason, current.tier)
                    result.added += 1
                else:
                    domain.update_entry(actor, edition, enterprise, reason=current.reason, tier=current.tier)
                    result.updated += 1
        db.session.flush()
    except DomainError as err:
        savepoint.rollback()
        key = next(iter(err.fields), "")
        result.problems.append(_problem(current.row if current else None, _DOMAIN_FIELDS.get(key, FILE_FIELD),
                                        _domain_message(err, key)))
        return
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    savepoint.commit()


# --- the page's import with progress ---------------------------------------------------------------------------

def _progress_writer(import_id: int) -> Callable[[int, int], None]:
    """Commit rows_checked/rows_total on a connection of its own, so a polling request sees them at once."""
    engine = db.engine
    if not isinstance(engine, sa.Engine):
        # The session is bound to a single connection (the test suite's per-test transaction): there is no second
        # connection to commit on, so progress is not recorded; the import itself runs as usual.
        return lambda checked, total: None
    sqlite = engine.dialect.name == "sqlite"
    postgres = engine.dialect.name == "postgresql"
    failed = False

    def write(checked: int, total: int) -> None:
        nonlocal failed
        if failed:
            return
        if sqlite:
            # SQLite: another connection cannot commit while this session holds its read transaction (and in WAL
            # mode this session could not write afterwards). Nothing has been written yet, so end it here.
            db.session.rollback()
        try:
            with engine.begin() as conn:
                if postgres:  # never wait long on the row (a caller that left it locked would hang us)
                    conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
                conn.execute(sa.update(RosterImport).where(RosterImport.id == import_id)
                             .values(rows_checked=checked, rows_total=total))
        except sa.exc.SQLAlchemyError:
            failed = True  # progress is for show: the import goes on without it
            log.warning("roster import %s: progress not recorded", import_id, exc_info=True)

    return write


def run_import_record(import_id: int, data: bytes) -> RosterImport:
    """Run the import of a :class:`RosterImport` row and record its outcome (for the page's progress bar).

    Use: in the request, ``check_file(...)``; create ``RosterImport(edition_id=..., user_id=current_user.id,
    filename=...)`` (status ``checking``) and **commit it**; then run this with the file's bytes inside an app
    context, usually in a thread::

        app = current_app._get_current_object()
        def work():
            with app.app_context():
                excel.run_import_record(record_id, data)
        threading.Thread(target=work, daemon=True).start()

    and let the page poll the row (``status``, ``rows_checked``/``rows_total``, ``rows_written``, ``report``).

    While rows are checked, ``rows_checked``/``rows_total`` are committed on a separate connection every
    :data:`PROGRESS_EVERY` rows, so polling requests see them while this transaction is open. At the end, in
    this session's transaction, the row gets ``status`` (``done``: entries written; ``failed``: problems
    found, nothing written, ``report`` lists them; ``error``: the file could not be read or the edition cannot
    be changed, ``report`` holds one ``{"row": None, "field": "文件", ...}``), ``rows_total``, ``rows_checked``,
    ``rows_written`` (entries added or updated) and ``finished_at``; it is committed together with the entries.
    An unexpected error rolls everything back, records ``error`` and is logged, not raised.
    Returns the ``RosterImport`` row. The session must hold nothing uncommitted when this starts (on SQLite the
    read transaction is ended at each progress step). Under the test suite's per-test transaction there is no
    second connection: the import runs and is recorded, only the intermediate progress is not.
    """
    record = db.session.get(RosterImport, import_id)
    if record is None:
        raise NotFound(f"导入记录 {import_id} 不存在")
    edition = db.session.get(RosterEdition, record.edition_id)
    actor = db.session.get(User, record.user_id) if record.user_id else None
    try:
        result = import_rows(edition, data, actor, progress=_progress_writer(import_id))
    except DomainError as err:
        db.session.rollback()
        return _finish(import_id, ImportStatus.ERROR, [_problem(None, FILE_FIELD, _domain_message(err, "file"))])
    except Exception:
        log.exception("roster import %s failed", import_id)
        db.session.rollback()
        return _finish(import_id, ImportStatus.ERROR,
                       [_problem(None, FILE_FIELD, "导入时发生系统错误,未写入任何数据,请稍后重试或联系管理员")])
    status = ImportStatus.DONE if result.ok else ImportStatus.FAILED
    return _finish(import_id, status, result.problems, result)


def _finish(import_id: int, status: ImportStatus, report: list[dict], result: ImportResult | None = None):
    record = db.session.get(RosterImport, import_id)
    record.status = status
    record.report = report
    if result is not None:
        record.rows_total = record.rows_checked = result.rows_total
        record.rows_written = result.rows_written
    record.finished_at = utcnow()
    db.session.commit()
    return record
