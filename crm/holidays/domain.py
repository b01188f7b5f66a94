"""Working days: China's statutory holidays and 调休 make-up workdays from the app's own table.

Rules (DESIGN.md, time rules):

- For a year in ``HolidayYear`` (its schedule is loaded) a day is a working day when the table says "workday", not
  when it says "holiday", and otherwise when it is Monday–Friday.
- For a year without data the table is not consulted at all: Monday–Friday are working days, and every function
  that computes a date reports that year in ``missing_years`` so the caller can say
  "2027年节假日安排尚未录入" (:func:`missing_data_message`).
- :func:`add_working_days` does not count ``start``: ``add_working_days(d, 1)`` is the first working day after
  ``d``, and ``add_working_days(d, 0)`` is ``d`` itself. :func:`working_days_before` counts the working days in
  ``(today, deadline]``, so ``add_working_days(today, working_days_before(deadline, today).count) == deadline``
  whenever the deadline is itself a working day.

The counting functions read each year's special days once per call (two small queries per year touched), never a
query per day. Seeding from chinese-calendar, the State Council import, single-day corrections and the CSV/XLSX
reader shared by the admin page and the CLI live here too; none of them commits.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa

from crm.core.audit import record
from crm.core.errors import Conflict, ValidationFailed
from crm.core.time import local_today, utcnow
from crm.extensions import db
from crm.holidays.models import DayKind, HolidayYear, SpecialDay

IMPORT_SOURCE = "国务院办公厅通知 导入"
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_IMPORT_ROWS = 400  # a year has at most 366 days; more rows is not a holiday schedule
MAX_WORKING_DAYS = 3660  # about fourteen years: a bigger ``n`` is a bug in the caller
NAME_MAX = 40  # SpecialDay.name
WEEKDAYS = "一二三四五六日"
# What people write in the 类型 column (the notice says "放假" and "上班").
KIND_WORDS = {
    "放假": DayKind.HOLIDAY, "休息": DayKind.HOLIDAY, "休假": DayKind.HOLIDAY, "假日": DayKind.HOLIDAY,
    "节假日": DayKind.HOLIDAY, "holiday": DayKind.HOLIDAY,
    "上班": DayKind.WORKDAY, "调休上班": DayKind.WORKDAY, "补班": DayKind.WORKDAY, "调休": DayKind.WORKDAY,
    "工作日": DayKind.WORKDAY, "workday": DayKind.WORKDAY,
}
# chinese-calendar names its holidays in English; the table keeps the Chinese names.
CHINESE_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}
HEADERS = {"日期": "day", "类型": "kind", "名称": "name", "date": "day", "kind": "kind", "name": "name"}
TEMPLATE_HEADER = ("日期", "类型", "名称")


# --- results -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkdayResult:
    """A computed date, and the years it crossed that had no holiday data (counted Monday–Friday)."""

    date: date
    missing_years: list[int] = field(default_factory=list)

    @property
    def message(self) -> str:
        return missing_data_message(self.missing_years)


class WorkdayCount(NamedTuple):
    """``count, missing_years = working_days_before(...)``."""

    count: int
    missing_years: list[int]


class SeedResult(NamedTuple):
    loaded: list[int]  # years written now
    skipped: list[int]  # years already loaded (left as they are unless ``replace``)
    unavailable: list[int]  # years chinese-calendar has no data for


class ImportResult(NamedTuple):
    year: int
    holidays: int
    workdays: int


class HolidayRow(NamedTuple):
    """One row of an import: raw values as read (strings, dates, datetimes) and its row number in the file."""

    day: Any
    kind: Any
    name: Any = ""
    line: int | None = None


class RowProblem(NamedTuple):
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"第{self.line}行:{self.message}" if self.line else self.message


class ImportRejected(ValidationFailed):
    """Nothing was written; ``problems`` lists every bad row (row number and Chinese text)."""

    code = "import_rejected"

    def __init__(self, problems: Sequence[RowProblem], message: str | None = None):
        self.problems = list(problems)
        fields: dict[str, str] = {}
        for problem in self.problems:
            key = f"第{problem.line}行" if problem.line else "文件"
            fields[key] = f"{fields[key]};{problem.message}" if key in fields else problem.message
        super().__init__(message or f"导入未完成:发现{len(self.problems)}处问题,未写入任何数据", fields)


class FileRejected(ValidationFailed):
    """The upload is not a readable CSV/XLSX of the expected shape (wrong type, too large, no header …)."""

    code = "file_rejected"


# --- the calendar ------------------------------------------------------------------------------------------

class _Calendar:
    """The holiday table as seen by one call: each year is read once, on first use."""

    def __init__(self) -> None:
        self._years: dict[int, dict[date, DayKind] | None] = {}
        self.missing: set[int] = set()

    def table(self, year: int) -> dict[date, DayKind] | None:
        if year not in self._years:
            if db.session.get(HolidayYear, year) is None:
                self._years[year] = None
            else:
                rows = db.session.execute(
                    sa.select(SpecialDay.day, SpecialDay.kind).where(
                        SpecialDay.day >= date(year, 1, 1), SpecialDay.day <= date(year, 12, 31))
                )
                self._years[year] = {day: kind for day, kind in rows}
        return self._years[year]

    def is_working(self, day: date) -> bool:
        table = self.table(day.year)
        if table is None:
            self.missing.add(day.year)
            return day.weekday() < 5
        kind = table.get(day)
        if kind is DayKind.HOLIDAY:
            return False
        if kind is DayKind.WORKDAY:
            return True
        return day.weekday() < 5

    def missing_years(self) -> list[int]:
        return sorted(self.missing)


def _as_date(value: date) -> date:
    if isinstance(value, datetime):  # a datetime is a date too; its time must not leak into the arithmetic
        return value.date()
    if not isinstance(value, date):
        raise TypeError(f"expected a date, got {type(value).__name__}")
    return value


def year_has_data(year: int) -> bool:
    """Is the State Council schedule of ``year`` in the table?"""
    return db.session.get(HolidayYear, year) is not None


def is_working_day(day: date) -> bool:
    """A working day by the table for a loaded year, Monday–Friday otherwise."""
    return _Calendar().is_working(_as_date(day))


def add_working_days(start: date, n: int) -> WorkdayResult:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted; ``n == 0`` gives ``start``)."""
    start = _as_date(start)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > MAX_WORKING_DAYS:
        raise ValueError(f"n must be an integer between 0 and {MAX_WORKING_DAYS}, got {n!r}")
    calendar = _Calendar()
    day, remaining = start, n
    while remaining:
        day += timedelta(days=1)
        if calendar.is_working(day):
            remaining -= 1
    return WorkdayResult(day, calendar.missing_years())


def next_working_day(day: date) -> WorkdayResult:
    """``day`` if it is a working day, else the first working day after it (where a meeting or due date lands)."""
    day = _as_date(day)
    calendar = _Calendar()
    while not calendar.is_working(day):
        day += timedelta(days=1)
    return WorkdayResult(day, calendar.missing_years())


def working_days_before(deadline: date, today: date | None = None) -> WorkdayCount:
    """How many working days from ``today`` until ``deadline``: those in ``(today, deadline]``; 0 once it is past."""
    deadline = _as_date(deadline)
    today = _as_date(today) if today is not None else local_today()
    calendar = _Calendar()
    count = 0
    day = today + timedelta(days=1)
    while day <= deadline:
        if calendar.is_working(day):
            count += 1
        day += timedelta(days=1)
    return WorkdayCount(count, calendar.missing_years())


def missing_data_message(years: Iterable[int]) -> str:
    """"2027年节假日安排尚未录入,暂按周一至周五计算工作日" (empty when nothing is missing)."""
    years = sorted(set(years))
    if not years:
        return ""
    return "、".join(f"{year}年" for year in years) + "节假日安排尚未录入,暂按周一至周五计算工作日"


def weekday_label(day: date) -> str:
    return "星期" + WEEKDAYS[day.weekday()]


# --- reading the table (the admin page) --------------------------------------------------------------------

@dataclass(frozen=True)
class YearStatus:
    year: int
    loaded: bool
    source: str = ""
    loaded_at: datetime | None = None
    holidays: int = 0
    workdays: int = 0


def year_statuses(around: int | None = None) -> list[YearStatus]:
    """Every year with data or rows, plus the year before, this year and the next two (newest first)."""
    around = around or local_today().year
    loaded = {row.year: row for row in db.session.scalars(sa.select(HolidayYear))}
    year_col = sa.extract("year", SpecialDay.day)
    counts: dict[int, dict[DayKind, int]] = {}
    stmt = sa.select(year_col, SpecialDay.kind, sa.func.count()).group_by(year_col, SpecialDay.kind)
    for year, kind, count in db.session.execute(stmt):
        counts.setdefault(int(year), {})[DayKind(kind)] = count
    years = set(loaded) | set(counts) | set(range(around - 1, around + 3))
    statuses = []
    for year in sorted(years, reverse=True):
        row = loaded.get(year)
        per_kind = counts.get(year, {})
        statuses.append(YearStatus(year=year, loaded=row is not None, source=row.source if row else "",
                                   loaded_at=row.loaded_at if row else None,
                                   holidays=per_kind.get(DayKind.HOLIDAY, 0),
                                   workdays=per_kind.get(DayKind.WORKDAY, 0)))
    return statuses


def days_of_year(year: int) -> list[SpecialDay]:
    return list(db.session.scalars(
        sa.select(SpecialDay).where(SpecialDay.day >= date(year, 1, 1), SpecialDay.day <= date(year, 12, 31))
        .order_by(SpecialDay.day)))


def check_year(year: Any) -> int:
    try:
        value = int(year)
    except (TypeError, ValueError):
        value = None
    if value is None or isinstance(year, bool) or not MIN_YEAR <= value <= MAX_YEAR:
        raise ValidationFailed("年份不正确", {"year": f"年份应为{MIN_YEAR}到{MAX_YEAR}之间的整数"})
    return value


# --- seeding from chinese-calendar -------------------------------------------------------------------------

def _chinese_calendar() -> tuple[dict[date, str], dict[date, str], str]:
    import chinese_calendar
    from chinese_calendar.constants import holidays, workdays

    version = getattr(chinese_calendar, "__version__", "")
    return holidays, workdays, f"chinese-calendar {version}".strip()


def _chinese_name(english: Any) -> str:
    text = str(getattr(english, "value", english) or "")
    if text in CHINESE_NAMES:
        return CHINESE_NAMES[text]
    from chinese_calendar.constants import Holiday

    for holiday in Holiday:  # a holiday added by a newer package version: its own Chinese name
        if holiday.value == text:
            return str(getattr(holiday, "chinese", text))[:NAME_MAX]
    return text[:NAME_MAX]


def chinese_calendar_years() -> set[int]:
    holidays, workdays, _ = _chinese_calendar()
    return {day.year for day in holidays} | {day.year for day in workdays}


def load_from_chinese_calendar(years: Iterable[int], *, actor: Any = None, replace: bool = False) -> SeedResult:
    """Seed the table from chinese-calendar for each of ``years`` it covers, and mark those years loaded.

    Idempotent: a year already loaded (from any source) is left alone unless ``replace`` is true, so running the
    seed again never undoes an admin's corrections. Years the package does not cover (2027 on, with 1.11.0) are
    reported in ``unavailable``. Adds rows to the session; the caller commits.
    """
    holidays, workdays, source = _chinese_calendar()
    covered = {day.year for day in holidays} | {day.year for day in workdays}
    loaded: list[int] = []
    skipped: list[int] = []
    unavailable: list[int] = []
    for year in sorted({check_year(y) for y in years}):
        if year not in covered:
            unavailable.append(year)
            continue
        existing = db.session.get(HolidayYear, year)
        if existing is not None and not replace:
            skipped.append(year)
            continue
        rows = [(day, DayKind.HOLIDAY, _chinese_name(name)) for day, name in holidays.items() if day.year == year]
        rows += [(day, DayKind.WORKDAY, _chinese_name(name)) for day, name in workdays.items() if day.year == year]
        before = _replace_year(year, rows)
        _mark_loaded(year, source)
        record(actor, "holiday_year", year, "seed",
               {"source": [existing.source if existing else None, source],
                "holidays": [before[DayKind.HOLIDAY], _count(rows, DayKind.HOLIDAY)],
                "workdays": [before[DayKind.WORKDAY], _count(rows, DayKind.WORKDAY)]},
               summary=f"从 {source} 载入{year}年节假日安排")
        loaded.append(year)
    return SeedResult(loaded, skipped, unavailable)


def _count(rows: Iterable[tuple[date, DayKind, str]], kind: DayKind) -> int:
    return sum(1 for _, k, _ in rows if k is kind)


def _replace_year(year: int, rows: Iterable[tuple[date, DayKind, str]]) -> dict[DayKind, int]:
    """Delete the year's rows (one statement, so a re-inserted date never collides) and add ``rows``."""
    in_year = sa.and_(SpecialDay.day >= date(year, 1, 1), SpecialDay.day <= date(year, 12, 31))
    before = {kind: 0 for kind in DayKind}
    for kind, count in db.session.execute(
            sa.select(SpecialDay.kind, sa.func.count()).where(in_year).group_by(SpecialDay.kind)):
        before[DayKind(kind)] = count
    db.session.execute(sa.delete(SpecialDay).where(in_year), execution_options={"synchronize_session": "fetch"})
    db.session.add_all(SpecialDay(day=day, kind=kind, name=name) for day, kind, name in sorted(rows))
    return before


def _mark_loaded(year: int, source: str) -> HolidayYear:
    row = db.session.get(HolidayYear, year)
    if row is None:
        row = HolidayYear(year=year)
        db.session.add(row)
    row.source = source
    row.loaded_at = utcnow()
    return row


# --- the State Council import ------------------------------------------------------------------------------

_DATE_PATTERNS = (
    re.compile(r"^(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})$"),
    re.compile(r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def parse_day(value: Any) -> date | None:
    """A date from what a spreadsheet or a form gives: date, datetime, Excel serial, or common Chinese forms."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 <= value <= 80000:  # an Excel serial date in a cell without date format (1954–2119)
            return date(1899, 12, 30) + timedelta(days=int(value))
        return None
    text = str(value or "").strip()
    text = re.sub(r"\s+00:00(:00)?$", "", text)  # "2027-01-01 00:00:00" from a spreadsheet
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                return date(*(int(part) for part in match.groups()))
            except ValueError:
                return None
    return None


def parse_kind(value: Any) -> DayKind | None:
    if isinstance(value, DayKind):
        return value
    text = re.sub(r"\s+", "", str(value or "")).lower()
    return KIND_WORDS.get(text)


def _shown(value: Any) -> str:
    text = str(value if value is not None else "").strip()
    return text if len(text) <= 30 else text[:30] + "…"


def validate_rows(year: int, rows: Iterable[Any]) -> tuple[list[tuple[date, DayKind, str]], list[RowProblem]]:
    """Check every row, collecting every problem (never stopping at the first)."""
    clean: list[tuple[date, DayKind, str]] = []
    problems: list[RowProblem] = []
    seen: dict[date, int | None] = {}
    count = 0
    for index, raw in enumerate(rows, start=1):
        row = raw if isinstance(raw, HolidayRow) else HolidayRow(*raw)
        line = row.line if row.line is not None else index
        count += 1
        if count > MAX_IMPORT_ROWS:
            problems.append(RowProblem(None, f"数据行过多:一年的安排最多{MAX_IMPORT_ROWS}行"))
            break
        row_problems: list[str] = []
        day = parse_day(row.day)
        kind = parse_kind(row.kind)
        name = str(row.name if row.name is not None else "").strip()
        if row.day is None or str(row.day).strip() == "":
            row_problems.append("日期为空")
        elif day is None:
            row_problems.append(f"日期“{_shown(row.day)}”无法识别,请写成 YYYY-MM-DD(例如 {year}-10-01)")
        elif day.year != year:
            row_problems.append(f"日期 {day.isoformat()} 不在{year}年内")
        if kind is None:
            if row.kind is None or str(row.kind).strip() == "":
                row_problems.append("类型为空,应为“放假”或“上班”")
            else:
                row_problems.append(f"类型“{_shown(row.kind)}”无法识别,应为“放假”或“上班”")
        elif kind is DayKind.WORKDAY and day is not None and day.weekday() < 5:
            row_problems.append(f"{day.isoformat()} 是{weekday_label(day)},“上班”(调休上班日)只能是周六或周日")
        if len(name) > NAME_MAX:
            row_problems.append(f"名称最长{NAME_MAX}个字")
        if any(ord(ch) < 32 for ch in name):
            row_problems.append("名称含有控制字符")
        if day is not None and day.year == year:
            if day in seen:
                first = seen[day]
                row_problems.append(f"日期 {day.isoformat()} 与第{first}行重复" if first else
                                    f"日期 {day.isoformat()} 重复")
            else:
                seen[day] = line
        if row_problems:
            problems.extend(RowProblem(line, text) for text in row_problems)
        elif day is not None and kind is not None:
            clean.append((day, kind, name))
    if count == 0:
        problems.append(RowProblem(None, "没有数据行:请在表头(日期、类型、名称)下逐行填写放假和调休上班的日期"))
    return clean, problems


def import_year(actor: Any, year: int, rows: Iterable[Any]) -> ImportResult:
    """Replace ``year``'s special days with the State Council's notice, all or nothing.

    ``rows`` are ``(date, kind, name)`` (or :class:`HolidayRow` with the file's row number); ``kind`` is
    "holiday"/"workday" or the notice's "放假"/"上班"; dates may be strings. Any bad row raises
    :class:`ImportRejected` listing every problem, and nothing is written. Otherwise the year's rows are
    replaced, the year is marked loaded (source "国务院办公厅通知 导入") and an audit row is added. No commit.
    """
    year = check_year(year)
    clean, problems = validate_rows(year, rows)
    if problems:
        raise ImportRejected(problems)
    existing = db.session.get(HolidayYear, year)
    old_source = existing.source if existing else None
    before = _replace_year(year, clean)
    _mark_loaded(year, IMPORT_SOURCE)
    holidays, workdays = _count(clean, DayKind.HOLIDAY), _count(clean, DayKind.WORKDAY)
    record(actor, "holiday_year", year, "import",
           {"source": [old_source, IMPORT_SOURCE], "holidays": [before[DayKind.HOLIDAY], holidays],
            "workdays": [before[DayKind.WORKDAY], workdays]},
           summary=f"导入{year}年节假日安排:放假{holidays}天,调休上班{workdays}天")
    return ImportResult(year, holidays, workdays)


# --- single-day corrections --------------------------------------------------------------------------------

def add_day(actor: Any, day: Any, kind: Any, name: str = "") -> SpecialDay:
    """Add one special day to a loaded year (a correction; a new year comes in whole through the import)."""
    parsed = parse_day(day)
    if parsed is None:
        raise ValidationFailed("日期不正确", {"day": "请填写有效日期(YYYY-MM-DD)"})
    parsed_kind = parse_kind(kind)
    if parsed_kind is None:
        raise ValidationFailed("类型不正确", {"kind": "类型应为“放假”或“上班”"})
    name = (name or "").strip()
    if len(name) > NAME_MAX or any(ord(ch) < 32 for ch in name):
        raise ValidationFailed("名称不正确", {"name": f"名称最长{NAME_MAX}个字,且不能含控制字符"})
    if parsed_kind is DayKind.WORKDAY and parsed.weekday() < 5:
        raise ValidationFailed("调休上班日只能是周六或周日", {
            "day": f"{parsed.isoformat()} 是{weekday_label(parsed)},“上班”(调休上班日)只能是周六或周日"})
    if not year_has_data(parsed.year):
        raise ValidationFailed(f"{parsed.year}年节假日安排尚未录入", {
            "day": f"{parsed.year}年节假日安排尚未录入:请先通过“导入”录入全年安排,再逐日修正"})
    if db.session.scalar(sa.select(SpecialDay.id).where(SpecialDay.day == parsed)) is not None:
        raise Conflict("该日期已有记录", {"day": f"{parsed.isoformat()} 已在节假日安排中,如需修改请先删除"})
    row = SpecialDay(day=parsed, kind=parsed_kind, name=name)
    db.session.add(row)
    db.session.flush()
    record(actor, "holiday_year", parsed.year, "add_day",
           {"day": [None, parsed], "kind": [None, parsed_kind], "name": [None, name]},
           summary=f"新增{parsed.isoformat()} {parsed_kind.label} {name}".rstrip())
    return row


def delete_day(actor: Any, row: SpecialDay) -> None:
    record(actor, "holiday_year", row.day.year, "delete_day",
           {"day": [row.day, None], "kind": [row.kind, None], "name": [row.name, None]},
           summary=f"删除{row.day.isoformat()} {row.kind.label} {row.name}".rstrip())
    db.session.delete(row)
    db.session.flush()


# --- files: CSV / XLSX in, templates out -------------------------------------------------------------------

XLSX_MAX_ENTRIES = 500
XLSX_MAX_UNCOMPRESSED = 50 * 1024 * 1024
XLSX_MAX_RATIO = 200


def format_bytes(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024)} KB"


def read_rows(filename: str, data: bytes, *, max_bytes: int | None = None) -> list[HolidayRow]:
    """Rows of a CSV or XLSX with the columns 日期, 类型 (放假/上班), 名称; refuses other files with a reason."""
    name = (filename or "").strip().lower()
    if max_bytes is not None and len(data) > max_bytes:
        raise FileRejected(f"文件过大:不能超过 {format_bytes(max_bytes)}", {"file": "文件过大"})
    if name.endswith(".csv"):
        records = _csv_records(data)
    elif name.endswith(".xlsx"):
        records = _xlsx_records(data)
    else:
        raise FileRejected("只能导入 CSV 或 XLSX 文件(.csv / .xlsx)", {"file": "文件类型不支持"})
    return _rows_from_records(records)


def _csv_records(data: bytes) -> Iterable[tuple[int, Sequence[Any]]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly anything
        raise FileRejected("无法识别文件编码,请将 CSV 保存为 UTF-8 或 GBK 编码", {"file": "编码无法识别"})
    if "\x00" in text:
        raise FileRejected("文件不是有效的 CSV 文本文件", {"file": "含有空字符"})
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        return [(reader.line_num, record) for record in reader]
    except csv.Error as err:
        raise FileRejected(f"CSV 格式有误:{err}", {"file": "CSV 格式有误"}) from None


def _check_zip(data: bytes) -> None:
    """Refuse zip bombs before openpyxl inflates anything (PITFALLS: spreadsheets)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise FileRejected("文件不是有效的 XLSX 工作簿(可用 Excel 或 WPS 另存为 .xlsx)",
                           {"file": "不是有效的 XLSX"}) from None
    total = sum(entry.file_size for entry in entries)
    packed = sum(entry.compress_size for entry in entries) or 1
    if len(entries) > XLSX_MAX_ENTRIES or total > XLSX_MAX_UNCOMPRESSED or total / packed > XLSX_MAX_RATIO:
        raise FileRejected("XLSX 文件内容异常(解压后过大),已拒绝", {"file": "文件内容异常"})


def _xlsx_records(data: bytes) -> Iterable[tuple[int, Sequence[Any]]]:
    from openpyxl import load_workbook

    _check_zip(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a damaged workbook; none is a server error
        raise FileRejected("无法读取该 XLSX 工作簿,请检查文件是否损坏", {"file": "无法读取"}) from None
    try:
        sheet = workbook.worksheets[0]
        records = []
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            records.append((line, values))
            if line > MAX_IMPORT_ROWS + 50:
                raise FileRejected(f"数据行过多:一年的安排最多{MAX_IMPORT_ROWS}行", {"file": "行数过多"})
        return records
    except FileRejected:
        raise
    except Exception:
        raise FileRejected("无法读取该 XLSX 工作簿,请检查文件是否损坏", {"file": "无法读取"}) from None
    finally:
        workbook.close()


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    return value


def _blank(values: Sequence[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _at(values: Sequence[Any], columns: dict[str, int], key: str) -> Any:
    index = columns.get(key)
    return values[index] if index is not None and index < len(values) else None


def _rows_from_records(records: Iterable[tuple[int, Sequence[Any]]]) -> list[HolidayRow]:
    columns: dict[str, int] | None = None
    rows: list[HolidayRow] = []
    for line, values in records:
        values = [_cell(v) for v in values]
        if _blank(values):
            continue
        if columns is None:
            columns = {}
            for index, value in enumerate(values):
                key = HEADERS.get(str(value or "").strip().lower().lstrip("\ufeff"))
                if key and key not in columns:
                    columns[key] = index
            if "day" not in columns or "kind" not in columns:
                raise FileRejected("第一行应为表头:日期、类型、名称(可下载模板对照)", {"file": "缺少表头"})
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise FileRejected(f"数据行过多:一年的安排最多{MAX_IMPORT_ROWS}行", {"file": "行数过多"})
        rows.append(HolidayRow(_at(values, columns, "day"), _at(values, columns, "kind"),
                               _at(values, columns, "name") or "", line))
    if columns is None:
        raise FileRejected("文件是空的:第一行应为表头(日期、类型、名称)", {"file": "文件为空"})
    return rows


def template_csv() -> bytes:
    """The import template as CSV (UTF-8 with BOM, so Excel shows the Chinese header)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(TEMPLATE_HEADER)
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """The import template: a header row on the first sheet and a second sheet explaining it with examples."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "节假日安排"
    _write_text_row(sheet, 1, TEMPLATE_HEADER)
    sheet.column_dimensions["A"].width = 14
    sheet.column_dimensions["B"].width = 10
    sheet.column_dimensions["C"].width = 16
    notes = workbook.create_sheet("说明")
    lines = [
        ("说明", ""),
        ("日期", "YYYY-MM-DD,例如 2027-10-01;每个日期一行,同一年内不能重复"),
        ("类型", "放假:法定节假日及连休的每一天(含周末);上班:调休上班的周六或周日"),
        ("名称", "节日名称,例如 国庆节(可留空)"),
        ("示例", ""),
        ("2025-10-01", "放假 国庆节"),
        ("2025-09-28", "上班 国庆节(周日调休上班)"),
        ("注意", "导入时全部行校验通过才会写入,并替换该年已有的全部安排"),
    ]
    for index, line in enumerate(lines, start=1):
        _write_text_row(notes, index, line)
    notes.column_dimensions["A"].width = 14
    notes.column_dimensions["B"].width = 70
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _write_text_row(sheet: Any, row: int, values: Sequence[str]) -> None:
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(row=row, column=column)
        cell.value = value
        cell.data_type = "s"  # never a formula (PITFALLS: spreadsheets)
