"""The official lists out to Excel (issue 3, point 5): the export of an edition and the import template.

``export_xlsx(edition)`` and ``export_csv(edition)`` return the file's bytes. Columns are
:data:`OFFICIAL_COLUMNS` (plus ``层级`` for the cultivation pool, see :func:`columns_for`); one row per entry, in
the order of :func:`crm.rosters.domain.entries_statement`. In the XLSX, row 1 is a title (the list's Chinese
name, half year and status), row :data:`HEADER_ROW` (2) is the header and data start at row
:data:`FIRST_DATA_ROW` (3); the sheet is named after the list and period. The CSV has no title: its header is
line 1, and it is UTF-8 with a BOM so Excel shows the Chinese correctly.

No spreadsheet runs anything from an export: cells are written by :mod:`crm.core.spreadsheet` (every XLSX cell
a string with ``quotePrefix`` on formula-like text; in the CSV such cells are prefixed with ``'``). The file can
be imported back as it is (:mod:`crm.rosters.imports`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import IO

import sqlalchemy as sa
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from crm.core import spreadsheet
from crm.enterprises.models import Enterprise, EnterprisePartner
from crm.extensions import db
from crm.reference.models import Cluster, County, Partner, SupplyCategory
from crm.rosters import domain
from crm.rosters.models import RosterEdition, RosterEntry, RosterKind, Tier

log = logging.getLogger(__name__)


OFFICIAL_COLUMNS = ["序号", "企业名称", "统一社会信用代码", "区县", "产业集群", "配套类别", "主要产品", "成渝配套对象",
                    "入库理由"]
TIER_COLUMN = "层级"  # cultivation pool only, after 入库理由
HEADER_ROW = 2  # of exports and the template; row 1 is the title
FIRST_DATA_ROW = HEADER_ROW + 1


def columns_for(kind: RosterKind) -> list[str]:
    """The official header of a list: :data:`OFFICIAL_COLUMNS`, plus ``层级`` for the cultivation pool."""
    return OFFICIAL_COLUMNS + [TIER_COLUMN] if kind is RosterKind.CULTIVATION_POOL else list(OFFICIAL_COLUMNS)


def _partner_names(edition: RosterEdition) -> dict[int, str]:
    """``{enterprise_id: "partner、partner"}`` of the edition's enterprises (links in id order), in one query."""
    names: dict[int, list[str]] = {}
    members = sa.select(RosterEntry.enterprise_id).where(RosterEntry.edition_id == edition.id)
    for enterprise_id, name in db.session.execute(
            sa.select(EnterprisePartner.enterprise_id, Partner.name)
            .join(Partner, Partner.id == EnterprisePartner.partner_id)
            .where(EnterprisePartner.enterprise_id.in_(members))
            .order_by(EnterprisePartner.enterprise_id, EnterprisePartner.id)):
        names.setdefault(enterprise_id, []).append(name)
    return {key: "、".join(value) for key, value in names.items()}


def _rows(edition: RosterEdition) -> Iterator[list[str]]:
    """The export's rows, in :func:`crm.rosters.domain.entries_statement`'s order (county, pinyin, entry id).

    Plain columns, streamed (``yield_per``: a server-side cursor on PostgreSQL), never ORM objects: memory stays
    flat whatever the edition's size (20,000 entries: two queries, no entity built). Same values as the
    edition page shows.
    """
    with_tier = edition.kind is RosterKind.CULTIVATION_POOL
    partners = _partner_names(edition)
    stmt = (sa.select(Enterprise.id, Enterprise.name, Enterprise.uscc, County.name, Cluster.name,
                      SupplyCategory.name, Enterprise.main_products, RosterEntry.reason, RosterEntry.tier)
            .select_from(RosterEntry)
            .join(Enterprise, Enterprise.id == RosterEntry.enterprise_id)
            .join(County, County.id == Enterprise.county_id)
            .join(Cluster, Cluster.id == Enterprise.cluster_id)
            .outerjoin(SupplyCategory, SupplyCategory.id == Enterprise.supply_category_id)
            .where(RosterEntry.edition_id == edition.id)
            .order_by(County.sort_order, Enterprise.name_pinyin, RosterEntry.id)
            .execution_options(yield_per=1000))
    for index, (enterprise_id, name, uscc, county, cluster, category, products, reason, tier) in enumerate(
            db.session.execute(stmt), start=1):
        values = [str(index), name, uscc, county, cluster, category or "", products or "",
                  partners.get(enterprise_id, ""), reason]
        if with_tier:
            values.append(tier.label if tier else "")
        yield values


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


def _table(wb, sheet_name: str, title: str, columns: list[str]) -> spreadsheet.Table:
    return spreadsheet.Table(wb, sheet_name, columns, title=title, widths=_WIDTHS,
                             text_columns=["统一社会信用代码"])


_WIDTHS = {"序号": 6, "企业名称": 32, "统一社会信用代码": 22, "区县": 10, "产业集群": 14, "配套类别": 10,
           "主要产品": 30, "成渝配套对象": 30, "入库理由": 40, "层级": 8, "移出理由": 40, "原层级": 8, "新层级": 8}


def export_xlsx_file(edition: RosterEdition) -> IO[bytes]:
    """The edition as an XLSX in a temporary file (title in row 1, header in row :data:`HEADER_ROW`, entries from
    row 3), for :func:`crm.core.spreadsheet.download_file` to stream.

    Every cell is text; nothing in it can run as a formula. The file can be imported back as it is. Rows are
    streamed from the database into a write-only workbook that writes them to disk as they come: the worker's
    memory does not grow with the edition (issue 11: 20,000 entries, < 100 MB).
    """
    wb = spreadsheet.new_workbook()
    table = _table(wb, sheet_name_of(edition.kind, edition.period), title_of(edition), columns_for(edition.kind))
    for values in _rows(edition):
        table.append(values)
    table.close()
    return spreadsheet.workbook_file(wb)


def export_xlsx(edition: RosterEdition) -> bytes:
    """:func:`export_xlsx_file`'s bytes."""
    with export_xlsx_file(edition) as file:
        return file.read()


def export_csv(edition: RosterEdition) -> bytes:
    """The edition as CSV (UTF-8 with BOM, CRLF): header on line 1, then one line per entry.

    Cells starting with ``= + - @``, a tab or CR are prefixed with ``'`` so no spreadsheet runs them.
    """
    return spreadsheet.csv_bytes(columns_for(edition.kind), _rows(edition))


DIFF_SHEETS = {"added": "新增", "removed": "移出", "tier_changed": "层级变化"}
_DIFF_COLUMNS = {
    "added": ["序号", "企业名称", "统一社会信用代码", "区县", "入库理由"],
    "removed": ["序号", "企业名称", "统一社会信用代码", "区县", "移出理由"],
    "tier_changed": ["序号", "企业名称", "统一社会信用代码", "区县", "原层级", "新层级", "入库理由"],
}


def diff_filename(kind: RosterKind, result: domain.Diff) -> str:
    """``配套企业名单_对比_2026H1-2026H2.xlsx``."""
    return f"{kind.short_label}_对比_{result.from_period}-{result.to_period}.xlsx"


def _tier_label(code: str | None) -> str:
    return Tier(code).label if code else ""


def diff_xlsx_file(kind: RosterKind, result: domain.Diff) -> IO[bytes]:
    """The whole diff of two editions as an XLSX in a temporary file (streamed by
    :func:`crm.core.spreadsheet.download_file`): one sheet per section (新增, 移出, and 层级变化 for the pool or
    when a tier changed), each with a title row, the header in row :data:`HEADER_ROW` and every row of that
    section in the page's order. The diff page shows one page of each section and links here for all of them.
    Every cell is text (nothing runs as a formula)."""
    pool = kind is RosterKind.CULTIVATION_POOL
    wb = spreadsheet.new_workbook()
    span = f"{domain.period_label(result.from_period)} → {domain.period_label(result.to_period)}"
    for section, sheet in DIFF_SHEETS.items():
        items = result.section(section)
        if section == "tier_changed" and not (pool or items):
            continue
        columns = list(_DIFF_COLUMNS[section])
        if pool and section != "tier_changed":
            columns.append("层级" if section == "added" else "原层级")
        table = _table(wb, sheet, f"{kind.label}版本对比({span}):{sheet} {len(items)} 家", columns)
        for number, item in enumerate(items, start=1):
            values = [str(number), item["name"], item["uscc"], item["county"]]
            if section == "tier_changed":
                values += [_tier_label(item["from_tier"]), _tier_label(item["to_tier"]), item["reason"]]
            else:
                values.append(item["reason"] or ("" if section == "added" else "(未记录)"))
                if pool:
                    values.append(_tier_label(item["tier"]))
            table.append(values)
        table.close()
    return spreadsheet.workbook_file(wb)


def template_xlsx(kind: RosterKind | str) -> bytes:
    """The empty import template of a list (``kind`` as :class:`RosterKind` or its code; unknown → NotFound).

    Sheet 1 has the title in row 1 and the official header in row :data:`HEADER_ROW`, the USCC column formatted
    as text and, for the pool, a 龙头/链主/培育 drop-down; sheet 2 (填写说明) explains the columns with an example.
    """
    kind = domain.parse_kind(kind) if not isinstance(kind, RosterKind) else kind
    columns = columns_for(kind)
    wb = spreadsheet.new_workbook()
    ws = _table(wb, "导入模板", f"{kind.label}导入模板(第{HEADER_ROW}行为表头,请勿修改;"
                f"从第{FIRST_DATA_ROW}行起每行一家企业)", columns).ws
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
    spreadsheet.text_lines(notes, ([line] for line in lines), bold_first=True)
    return spreadsheet.workbook_bytes(wb)
