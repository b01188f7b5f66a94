"""The request ledger (诉求台账) as an XLSX file (issue 4, point 10).

``ledger_xlsx(requests)`` returns the bytes of a one-sheet workbook: the header :data:`COLUMNS` in row 1, one
row per request from row 2, in the order given. No spreadsheet runs anything from it: every cell is written as
a string (``data_type`` ``"s"``, never a formula; empty values leave the cell empty) and text that a
spreadsheet would take for a formula (``= + - @``, tab or CR first) also gets ``quotePrefix`` — the same rule
as the roster exports (:func:`crm.rosters.excel.needs_neutralising`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from crm.core.time import local_today, to_local
from crm.rosters.excel import needs_neutralising
from crm.service.models import ServiceRequest
from crm.service.requests import is_overdue

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET_TITLE = "诉求台账"
COLUMNS = ["序号", "企业名称", "区县", "类别", "诉求内容", "负责人", "责任单位", "提出日期", "办理时限", "状态",
           "是否逾期", "满意度", "办结日期"]
_WIDTHS = {"序号": 6, "企业名称": 30, "区县": 10, "类别": 12, "诉求内容": 50, "负责人": 12, "责任单位": 20,
           "提出日期": 12, "办理时限": 12, "状态": 8, "是否逾期": 8, "满意度": 8, "办结日期": 12}


def _clean(value: Any) -> str:
    """Export text: ``None`` → ``""``; characters XML cannot carry are removed."""
    if value is None:
        return ""
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _cell(ws: Any, value: Any, font: Font | None = None) -> WriteOnlyCell | None:
    text = _clean(value)
    if not text:
        return None
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"  # never "f": openpyxl would make "=..." a formula
    if needs_neutralising(text):
        cell.quotePrefix = True
    if font is not None:
        cell.font = font
    return cell


def ledger_row(index: int, req: ServiceRequest, today: date) -> list[str]:
    """One ledger row as text, in :data:`COLUMNS` order."""
    closed = to_local(req.closed_at)
    return [
        str(index),
        req.enterprise.name,
        req.enterprise.county.name,
        req.category.value,
        req.description,
        req.owner.display_name if req.owner else "",
        req.department.name if req.department else "",
        req.raised_on.isoformat(),
        req.due_date.isoformat(),
        req.status.label,
        "是" if is_overdue(req, today) else "否",
        str(req.satisfaction) if req.satisfaction is not None else "",
        closed.date().isoformat() if closed else "",
    ]


def ledger_xlsx(requests: Iterable[ServiceRequest], *, today: date | None = None) -> bytes:
    """The ledger of ``requests`` (in the order given) as XLSX bytes; ``today`` decides 是否逾期."""
    today = today or local_today()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_TITLE)
    for number, name in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(number)].width = _WIDTHS.get(name, 12)
    ws.freeze_panes = "A2"
    ws.append([_cell(ws, name, Font(bold=True)) for name in COLUMNS])
    last = 1
    for index, req in enumerate(requests, start=1):
        ws.append([_cell(ws, value) for value in ledger_row(index, req, today)])
        last += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(COLUMNS))}{last}"
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def ledger_filename(today: date | None = None) -> str:
    """``诉求台账_20261126.xlsx``."""
    return f"{SHEET_TITLE}_{(today or local_today()).strftime('%Y%m%d')}.xlsx"
