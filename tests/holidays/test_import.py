"""Importing a year from the State Council's notice: all or nothing, every bad row reported by its number."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.holidays.domain import (
    IMPORT_SOURCE,
    FileRejected,
    HolidayRow,
    ImportRejected,
    import_year,
    load_from_chinese_calendar,
    read_rows,
    template_csv,
    template_xlsx,
)
from crm.holidays.models import DayKind, HolidayYear, SpecialDay
from crm.holidays.workdays import is_working_day
from tests.conftest import make_user
from tests.holidays.support import GOOD_2027, csv_bytes, xlsx_bytes


def _days(year: int) -> dict[date, tuple[DayKind, str]]:
    rows = db.session.scalars(sa.select(SpecialDay).where(
        SpecialDay.day >= date(year, 1, 1), SpecialDay.day <= date(year, 12, 31)))
    return {r.day: (r.kind, r.name) for r in rows}


def test_import_writes_the_year_marks_it_and_audits():
    admin = make_user("admin")
    result = import_year(admin, 2027, GOOD_2027)
    db.session.flush()
    assert (result.year, result.holidays, result.workdays) == (2027, 10, 2)
    days = _days(2027)
    assert days[date(2027, 10, 1)] == (DayKind.HOLIDAY, "国庆节")
    assert days[date(2027, 10, 9)] == (DayKind.WORKDAY, "国庆节")
    assert db.session.get(HolidayYear, 2027).source == IMPORT_SOURCE == "国务院办公厅通知 导入"
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "holiday_year",
                                                        AuditLog.entity_id == 2027))
    assert audit.action == "import" and audit.actor_id == admin.id
    assert audit.changes["holidays"] == [0, 10] and audit.changes["source"] == [None, IMPORT_SOURCE]
    assert is_working_day(date(2027, 10, 9)) and not is_working_day(date(2027, 10, 4))


def test_one_bad_row_writes_nothing_and_every_bad_row_is_listed():
    rows = [
        HolidayRow("2027-01-01", "放假", "元旦", 2),
        HolidayRow("2026-12-31", "放假", "元旦", 3),  # not in 2027
        HolidayRow("2027-02-06", "放假", "春节", 4),
        HolidayRow("2027-02-07", "休市", "春节", 5),  # unknown kind
        HolidayRow("2027-01-01", "放假", "元旦", 6),  # duplicate of row 2
        HolidayRow("2027-02-10", "上班", "春节", 7),  # a Wednesday cannot be a make-up workday
        HolidayRow("2027-13-01", "放假", "春节", 8),  # no such date
        HolidayRow("", "放假", "春节", 9),  # no date
        HolidayRow("2027-02-20", "上班", "春节", 10),  # Saturday: fine
        HolidayRow("2027-10-02", "放假", "国" * 41, 11),  # name too long
    ]
    with pytest.raises(ImportRejected) as caught:
        import_year(None, 2027, rows)
    problems = caught.value.problems
    assert sorted({p.line for p in problems}) == [3, 5, 6, 7, 8, 9, 11]
    text = "\n".join(str(p) for p in problems)
    assert "第3行:日期 2026-12-31 不在2027年内" in text
    assert "第5行:类型“休市”无法识别" in text
    assert "第6行:日期 2027-01-01 与第2行重复" in text
    assert "第7行:2027-02-10 是星期三" in text and "只能是周六或周日" in text
    assert "第8行:日期“2027-13-01”无法识别" in text
    assert "第9行:日期为空" in text
    assert "第11行:名称最长40个字" in text
    assert "未写入任何数据" in caught.value.message and caught.value.status == 422
    assert "第7行" in caught.value.fields
    db.session.flush()
    assert _days(2027) == {} and db.session.get(HolidayYear, 2027) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.entity_type == "holiday_year")) == 0


def test_rows_without_numbers_are_numbered_from_one_and_empty_imports_are_refused():
    with pytest.raises(ImportRejected) as caught:
        import_year(None, 2027, [("2027-01-01", "holiday", "元旦"), ("2027-01-04", "workday", "")])
    assert [str(p) for p in caught.value.problems][0].startswith("第2行:2027-01-04 是星期一")
    with pytest.raises(ImportRejected) as caught:
        import_year(None, 2027, [])
    assert "没有数据行" in caught.value.message + str(caught.value.problems[0])


def test_import_replaces_the_year_and_keeps_other_years():
    load_from_chinese_calendar([2025, 2026])
    db.session.flush()
    before_2025 = _days(2025)
    import_year(None, 2026, [("2026-10-01", "放假", "国庆节"), (date(2026, 10, 10), "上班", "国庆节")])
    db.session.flush()
    assert _days(2026) == {date(2026, 10, 1): (DayKind.HOLIDAY, "国庆节"),
                           date(2026, 10, 10): (DayKind.WORKDAY, "国庆节")}
    assert _days(2025) == before_2025
    assert db.session.get(HolidayYear, 2026).source == IMPORT_SOURCE
    assert is_working_day(date(2026, 2, 17))  # the old Spring Festival rows are gone with the replacement


def test_a_holiday_may_fall_on_any_day():
    import_year(None, 2027, [("2027-02-06", "放假", "春节"), ("2027-02-07", "放假", "春节"),
                             ("2027-02-08", "放假", "春节")])
    assert not is_working_day(date(2027, 2, 8))


# --- files ------------------------------------------------------------------------------------------------

def test_csv_in_utf8_and_gbk_with_blank_rows_and_row_numbers():
    data = csv_bytes([("2027-01-01", "放假", "元旦"), ("", "", ""), ("2027/1/2", "放假", "元旦")])
    rows = read_rows("2027.CSV", data)
    assert [(r.day, r.kind, r.name, r.line) for r in rows] == [
        ("2027-01-01", "放假", "元旦", 2), ("2027/1/2", "放假", "元旦", 4)]
    gbk = read_rows("通知.csv", csv_bytes(GOOD_2027, encoding="gbk"))
    assert len(gbk) == len(GOOD_2027) and gbk[0].name == "元旦"
    assert import_year(None, 2027, gbk).holidays == 10


def test_xlsx_with_date_cells_and_columns_in_any_order():
    rows = read_rows("2027.xlsx", xlsx_bytes([("国庆节", "2027-10-01", "放假")], header=("名称", "日期", "类型")))
    assert len(rows) == 1 and rows[0].line == 2 and rows[0].name == "国庆节"
    result = import_year(None, 2027, rows)
    assert result.holidays == 1
    assert not is_working_day(date(2027, 10, 1))


def test_xlsx_row_numbers_match_the_sheet():
    data = xlsx_bytes([("2027-01-01", "放假", "元旦"), ("2027-01-05", "上班", "元旦")])
    with pytest.raises(ImportRejected) as caught:
        import_year(None, 2027, read_rows("a.xlsx", data))
    assert str(caught.value.problems[0]).startswith("第3行:2027-01-05 是星期二")


@pytest.mark.parametrize(("name", "data", "words"), [
    ("notice.txt", b"x", "只能导入 CSV 或 XLSX"),
    ("notice.xls", b"x", "只能导入 CSV 或 XLSX"),
    ("notice.xlsx", b"not a zip", "不是有效的 XLSX"),
    ("notice.csv", "名称,备注\n元旦,x\n".encode(), "表头"),
    ("notice.csv", b"", "文件是空的"),
])
def test_files_of_the_wrong_kind_are_refused_with_a_reason(name, data, words):
    with pytest.raises(FileRejected) as caught:
        read_rows(name, data)
    assert words in caught.value.message


def test_too_large_and_zip_bombs_are_refused():
    with pytest.raises(FileRejected) as caught:
        read_rows("a.csv", b"x" * 2048, max_bytes=1024)
    assert "文件过大" in caught.value.message
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (5 * 1024 * 1024))
    with pytest.raises(FileRejected) as caught:
        read_rows("bomb.xlsx", buffer.getvalue())
    assert "解压后过大" in caught.value.message


def test_templates_have_the_header_as_text_cells():
    assert template_csv().decode("utf-8-sig").splitlines()[0] == "日期,类型,名称"
    workbook = load_workbook(io.BytesIO(template_xlsx()))
    sheet = workbook.worksheets[0]
    assert [c.value for c in sheet[1]] == ["日期", "类型", "名称"]
    assert all(c.data_type == "s" for c in sheet[1])
    assert sheet.max_row == 1  # no example rows that would be imported by mistake
    assert "说明" in workbook.sheetnames
    assert read_rows("t.xlsx", template_xlsx()) == []
