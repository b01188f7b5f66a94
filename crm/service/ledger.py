"""The request ledger (诉求台账) as an XLSX file (issue 4, point 10).

``ledger_xlsx(requests)`` returns the bytes of a one-sheet workbook: the header :data:`COLUMNS` in row 1, one
row per request from row 2, in the order given. No spreadsheet runs anything from it: every cell is written as
a string, never a formula, through :mod:`crm.core.spreadsheet` (the same rule as every other export).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from crm.core import spreadsheet
from crm.core.spreadsheet import XLSX_MIMETYPE  # noqa: F401 - the views' content type
from crm.core.time import local_today, to_local
from crm.service.models import ServiceRequest
from crm.service.requests import is_overdue

SHEET_TITLE = "诉求台账"
COLUMNS = ["序号", "企业名称", "区县", "类别", "诉求内容", "负责人", "责任单位", "提出日期", "办理时限", "状态",
           "是否逾期", "满意度", "办结日期"]
_WIDTHS = {"序号": 6, "企业名称": 30, "区县": 10, "类别": 12, "诉求内容": 50, "负责人": 12, "责任单位": 20,
           "提出日期": 12, "办理时限": 12, "状态": 8, "是否逾期": 8, "满意度": 8, "办结日期": 12}


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
    wb = spreadsheet.new_workbook()
    table = spreadsheet.Table(wb, SHEET_TITLE, COLUMNS, widths=_WIDTHS, default_width=12)
    for index, req in enumerate(requests, start=1):
        table.append(ledger_row(index, req, today))
    table.close()
    return spreadsheet.workbook_bytes(wb)


def ledger_filename(today: date | None = None) -> str:
    """``诉求台账_20261126.xlsx``."""
    return f"{SHEET_TITLE}_{(today or local_today()).strftime('%Y%m%d')}.xlsx"
