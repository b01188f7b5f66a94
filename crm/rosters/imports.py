"""The official lists in from Excel (issue 3, point 5): file checks and the all-or-nothing import.

(XLSX only.)

1. ``check_file(filename, data)`` in the request: refuses (``ValidationFailed`` with ``fields["file"]``) a name
   not ending in ``.xlsx``, a file over ``MAX_CONTENT_LENGTH`` and whatever :func:`crm.core.spreadsheet.check_xlsx`
   refuses (not an XLSX package, a zip bomb, an encrypted or macro workbook), and more than
   ``ROSTER_IMPORT_MAX_ROWS`` data rows. Quick for ordinary files (rows are counted in the raw XML; openpyxl
   reads them only near the limit). ``import_rows`` enforces the same limits.
2. Either ``import_rows(edition, data, actor)`` in the caller's transaction (the caller commits when
   ``result.ok``), or, for the page's progress bar, :func:`crm.rosters.import_jobs.run_import_record` in a thread.

The header row is found among the first :data:`HEADER_SEARCH_ROWS` rows of the first sheet that has one;
columns are matched by name, in any order. ``统一社会信用代码`` and ``入库理由`` are required; ``企业名称`` and
``区县`` are cross-checked against the registry when present; ``层级`` is read for the cultivation pool only
(empty: 培育 for a new entry, unchanged for an existing one). Rows are matched to enterprises by USCC. Every
row is checked and every problem reported; one problem and nothing is written. Entries of the edition that are
not in the file stay as they are: the import adds and updates, it never removes (removal needs a reason, given
on the page).

A problem is ``{"row": <spreadsheet row number>, "field": <column name in Chinese>, "message": <Chinese>}``;
problems of the file as a whole (no header, missing column, no data) have ``"field": "文件"`` and ``"row"``
the header row, or ``None`` when there is no header.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from itertools import islice
from typing import Any

import sqlalchemy as sa
from flask import current_app

from crm.core import spreadsheet
from crm.core.access import Action, can, where
from crm.core.errors import DomainError, ValidationFailed
from crm.enterprises.domain import name_key, normalise_uscc, uscc_error
from crm.enterprises.models import Enterprise, EnterpriseStatus
from crm.extensions import db
from crm.reference.models import County
from crm.rosters import domain
from crm.rosters.exports import TIER_COLUMN
from crm.rosters.models import (
    RosterEdition,
    RosterEntry,
    RosterKind,
)

log = logging.getLogger(__name__)


HEADER_SEARCH_ROWS = 10  # the import looks for the header in this many rows at the top of a sheet
PROGRESS_EVERY = 100  # rows between progress callbacks
FILE_FIELD = "文件"

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


# --- file checks ---------------------------------------------------------------------------------------------

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
        raise spreadsheet.refuse("只能导入 Excel 工作簿(.xlsx)文件;.xls 或 .csv 文件请先在 Excel 中“另存为”.xlsx")
    spreadsheet.check_size(data)
    workbook = spreadsheet.open_xlsx(data)
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
    return int(current_app.config.get("ROSTER_IMPORT_MAX_ROWS") or 20000)


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


def _row_bound(data: bytes) -> int:
    """An upper bound of the data rows (the header row not counted), see :func:`spreadsheet.row_bound`."""
    return max(spreadsheet.row_bound(data) - 1, 0)


def _find_header(workbook) -> tuple[int, dict[str, int], Iterator[tuple[int, tuple]]] | None:
    """The header row of the first sheet that has one (among its first rows), its columns, and its remaining
    rows, or ``None``."""
    for worksheet in workbook.worksheets:
        rows = spreadsheet.sheet_rows(worksheet)
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
            raise spreadsheet.refuse(f"数据行过多:超过 {max_rows} 行的上限,请分批导入")
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


def problem(row: int | None, field_name: str, message: str) -> dict:
    return {"row": row, "field": field_name, "message": message}


def domain_message(err: DomainError, key: str) -> str:
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
    workbook = spreadsheet.open_xlsx(data)
    result = ImportResult(ok=False)
    try:
        found = _find_header(workbook)
        if found is None:
            result.problems.append(problem(None, FILE_FIELD, "未找到表头行:表头须包含“统一社会信用代码”和“入库理由”"
                                            "两列,请使用导入模板"))
            return _summarise(result)
        header_row, columns, rows = found
        missing = [name for name in _REQUIRED if name not in columns]
        for name in missing:
            result.problems.append(problem(header_row, FILE_FIELD, f"缺少“{name}”列"))
        if missing:
            return _summarise(result)
        estimate = min(max(_row_bound(data) - (header_row - 1), 0), max_rows)
        plans = _check(edition, columns, _data_rows(rows, columns, max_rows), estimate, result, progress, actor)
    finally:
        workbook.close()
    if not result.rows_total:
        result.problems.append(problem(header_row, FILE_FIELD, "文件中没有数据行"))
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


def _registry_view(actor: Any) -> tuple[Callable[[sa.Select], sa.Select], Callable[[str], str]]:
    """What of the registry the importer may see, and how a code outside it reads.

    A row never names or confirms an enterprise the importer may not see (issue 10, item 5): its code is looked
    up only among the enterprises the importer may view, so "unknown" and "not yours" give the same message —
    no name, no county, no status of the other county's firm. The message depends only on the importer (a
    county-scoped one is told that the lookup is within their reach), never on the record.
    """
    if actor is None:
        return (lambda stmt: stmt), _unknown_anywhere
    condition = where(actor, Enterprise, Action.VIEW)
    if condition is None:
        return (lambda stmt: stmt), _unknown_anywhere
    return (lambda stmt: stmt.where(condition)), _unknown_within_reach


def _unknown_anywhere(code: str) -> str:
    return f"企业档案中没有统一社会信用代码为 {code} 的企业,请先登记该企业"


def _unknown_within_reach(code: str) -> str:
    return (f"在您可查看的企业档案中没有统一社会信用代码为 {code} 的企业:请核对代码;"
            "不在您负责范围内的企业请由市级协调员导入")


def _check(edition: RosterEdition, columns: dict[str, int], rows: Iterator[tuple[int, tuple]], estimate: int,
           result: ImportResult, callback: Callable[[int, int], None] | None, actor: Any = None) -> list[_Planned]:
    """Read and check the data rows, :data:`PROGRESS_EVERY` at a time (one registry query per batch).

    A row whose enterprise the actor may not change (a county coordinator: another county's) is a problem of
    that row, as ``POST .../entries`` would refuse it.
    """
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

    visible, unknown = _registry_view(actor)
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
            visible(sa.select(Enterprise).where(Enterprise.uscc.in_(wanted))))} if wanted else {}
        for number, values in chunk:
            before = len(problems)
            code, code_problem = codes[number]
            enterprise = None
            if code_problem:
                problems.append(problem(number, "统一社会信用代码", code_problem))
            elif code in seen:
                problems.append(problem(number, "统一社会信用代码",
                                         f"与第 {seen[code]} 行重复(统一社会信用代码 {code})"))
            else:
                seen[code] = number
                enterprise = found.get(code)
                if enterprise is None:  # unknown, or not the importer's to see: the same words
                    problems.append(problem(number, "统一社会信用代码", unknown(code)))
            name = _text(cell(values, "企业名称"))
            if enterprise is not None and name and name_key(name) != enterprise.name_key:
                problems.append(problem(number, "企业名称",
                                         f"企业名称“{name}”与该统一社会信用代码登记的“{enterprise.name}”不一致"))
            county = _text(cell(values, "区县"))
            if county:
                county_id = counties.get(_header_key(county))
                if county_id is None:
                    problems.append(problem(number, "区县", f"未知区县:{county}"))
                elif enterprise is not None and county_id != enterprise.county_id:
                    problems.append(problem(number, "区县",
                                             f"区县“{county}”与企业档案登记的“{enterprise.county.name}”不一致"))
            reason = tier = None
            try:
                reason = domain._reason(_text(cell(values, "入库理由")))  # the domain's own rule and message
            except ValidationFailed as err:
                problems.append(problem(number, "入库理由", domain_message(err, "reason")))
            raw_tier = _text(cell(values, TIER_COLUMN)) if with_tier else ""
            if raw_tier:
                try:
                    tier = domain._tier_for(edition, raw_tier)  # the domain's own rule and message
                except ValidationFailed as err:
                    problems.append(problem(number, TIER_COLUMN, domain_message(err, "tier")))
            if len(problems) > before or enterprise is None:
                continue
            if actor is not None and not can(actor, Action.EDIT, enterprise):
                problems.append(problem(number, "统一社会信用代码",
                                         f"“{enterprise.name}”({enterprise.uscc})不在您负责的范围内,不能加入或修改"))
                continue
            if enterprise.id in existing:
                old_reason, old_tier = existing[enterprise.id]
                if reason == old_reason and (tier is None or tier == old_tier):
                    result.unchanged += 1
                else:
                    plans.append(_Planned(number, enterprise.id, "update", reason, tier))
            elif enterprise.status in (EnterpriseStatus.DEREGISTERED, EnterpriseStatus.MOVED_OUT):
                problems.append(problem(number, "统一社会信用代码",
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
    """Write the planned rows through the domain, all or nothing (a savepoint around them).

    In two batches (:func:`crm.rosters.domain.add_entries`, :func:`~crm.rosters.domain.update_entries`): the
    same rules, refusals and audit rows as one ``add_entry`` / ``update_entry`` per row, in a bounded number of
    statements (issue 11: a 5,000-row file took 20,000 statements, four per row). A refused row is reported
    with its spreadsheet row, and nothing is written."""
    savepoint = db.session.begin_nested()
    adds = [plan for plan in plans if plan.action == "add"]
    updates = [plan for plan in plans if plan.action != "add"]
    batch: list[_Planned] = []
    try:
        enterprises: dict[int, Enterprise] = {}
        for chunk in _chunks([plan.enterprise_id for plan in plans], domain.BATCH_CHUNK):
            enterprises.update((enterprise.id, enterprise) for enterprise in db.session.scalars(
                sa.select(Enterprise).where(Enterprise.id.in_(chunk))))
        for batch, write in ((adds, domain.add_entries), (updates, domain.update_entries)):
            if batch:
                write(actor, edition, [(enterprises[plan.enterprise_id], plan.reason, plan.tier) for plan in batch])
        result.added, result.updated = len(adds), len(updates)
        db.session.flush()
    except domain.RefusedItem as refused:
        savepoint.rollback()
        err = refused.error
        key = next(iter(err.fields), "")
        result.problems.append(problem(batch[refused.index].row, _DOMAIN_FIELDS.get(key, FILE_FIELD),
                                        domain_message(err, key)))
        return
    except DomainError as err:
        savepoint.rollback()
        key = next(iter(err.fields), "")
        result.problems.append(problem(None, _DOMAIN_FIELDS.get(key, FILE_FIELD), domain_message(err, key)))
        return
    except BaseException:
        if savepoint.is_active:
            savepoint.rollback()
        raise
    savepoint.commit()
