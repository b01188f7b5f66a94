"""Files for the holiday import tests."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from openpyxl import Workbook

HEADER = ("日期", "类型", "名称")

# The State Council's 2027 schedule as this test imagines it (a Saturday and a Sunday worked around 国庆节).
GOOD_2027 = [
    ("2027-01-01", "放假", "元旦"),
    ("2027-01-02", "放假", "元旦"),
    ("2027-01-03", "放假", "元旦"),
    ("2027-09-26", "上班", "国庆节"),
    ("2027-10-01", "放假", "国庆节"),
    ("2027-10-02", "放假", "国庆节"),
    ("2027-10-03", "放假", "国庆节"),
    ("2027-10-04", "放假", "国庆节"),
    ("2027-10-05", "放假", "国庆节"),
    ("2027-10-06", "放假", "国庆节"),
    ("2027-10-07", "放假", "国庆节"),
    ("2027-10-09", "上班", "国庆节"),
]


def csv_bytes(rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER, encoding: str = "utf-8-sig") -> bytes:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(list(header))
    for row in rows:
        sheet.append([datetime.fromisoformat(v) if i == 0 and isinstance(v, str) and v[:2] == "20" else v
                      for i, v in enumerate(row)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
