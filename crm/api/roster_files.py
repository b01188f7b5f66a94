"""Roster files (API.md, "Rosters"): Excel and CSV export, the import template, and the XLSX import."""

from __future__ import annotations

from flask import Response, current_app, request
from pydantic import Field
from werkzeug.exceptions import RequestEntityTooLarge

from crm.api import bp
from crm.api.auth import current_user
from crm.api.rosters import ROSTER_PARAMS, _load_edition
from crm.api.schema import ErrorDetail, File, Input, Shape, dump, operation
from crm.core import spreadsheet
from crm.core.access import Action
from crm.core.errors import DomainError, ValidationFailed
from crm.extensions import db
from crm.rosters import domain, exports, imports
from crm.rosters.models import RosterEdition as RosterEditionRow

XLSX_MIMETYPE = spreadsheet.XLSX_MIMETYPE
CSV_MIMETYPE = spreadsheet.CSV_MIMETYPE  # text/csv; charset=utf-8 (the file has a BOM, for Excel)
IMPORT_FAILED = "导入未通过检查,未写入任何数据"


class PayloadTooLarge(DomainError):
    """The upload is over ``MAX_CONTENT_LENGTH``: 413, with the message on the ``file`` field."""

    status = 413
    code = "too_large"


class RosterUpload(Input):
    """multipart/form-data"""

    file: bytes = Field(description="XLSX 文件")


class ImportResult(Shape):
    """已导入"""

    added: int
    updated: int
    unchanged: int
    rows_total: int
    summary: str


class ImportProblem(Shape):
    """导入失败时 error.rows 的一项"""

    row: int | None = Field(description="Excel 行号")
    field: str | None
    message: str


class ImportFailedDetail(ErrorDetail):
    rows: list[ImportProblem] = Field(default_factory=list, description="逐行问题(code 为 import_failed 时)")


class ImportFailed(Shape):
    """导入未通过检查(或上传的不是可导入的 XLSX)"""

    error: ImportFailedDetail


def _export(edition: RosterEditionRow, data: bytes, content_type: str, extension: str) -> Response:
    return spreadsheet.download(data, content_type, exports.export_filename(edition, extension))


@bp.get("/rosters/<kind>/editions/<period>/export.xlsx")
@operation("导出 XLSX(序号、企业名称、统一社会信用代码、区县、产业集群、配套类别、主要产品、成渝配套对象、入库理由)",
           ok=File(XLSX_MIMETYPE), errors=(404,), params=ROSTER_PARAMS)
def export_xlsx(kind: str, period: str):
    edition = _load_edition(kind, period, Action.VIEW)
    # streamed from a temporary file (crm.rosters.exports.export_xlsx_file): memory flat whatever the size
    return spreadsheet.download_file(exports.export_xlsx_file(edition), XLSX_MIMETYPE,
                                     exports.export_filename(edition, "xlsx"))


@bp.get("/rosters/<kind>/editions/<period>/export.csv")
@operation("导出 CSV(UTF-8,列同 XLSX)", ok=File("text/csv"), errors=(404,), params=ROSTER_PARAMS)
def export_csv(kind: str, period: str):
    edition = _load_edition(kind, period, Action.VIEW)
    return _export(edition, exports.export_csv(edition), CSV_MIMETYPE, "csv")


@bp.get("/rosters/<kind>/template.xlsx")
@operation("导入模板(XLSX,含填写说明)", ok=File(XLSX_MIMETYPE), errors=(404,), params=ROSTER_PARAMS)
def import_template(kind: str):
    """The empty XLSX to fill in for an import (the official columns)."""
    roster = domain.parse_kind(kind)
    return spreadsheet.download(exports.template_xlsx(roster), XLSX_MIMETYPE, exports.template_filename(roster))


def _upload() -> tuple[str, bytes]:
    """The ``file`` part of a multipart upload: 413 over ``MAX_CONTENT_LENGTH``, 422 when missing."""
    try:
        upload = request.files.get("file")
    except RequestEntityTooLarge:
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        raise PayloadTooLarge("上传的文件过大", {"file": f"文件不能超过 {limit / 1024 / 1024:g} MB"}) from None
    if upload is None:
        raise ValidationFailed("请上传 XLSX 文件", {"file": "请用 multipart/form-data 的 file 字段上传 XLSX 文件"})
    filename = (upload.filename or "import.xlsx")[-200:]
    return filename, upload.read()


@bp.post("/rosters/<kind>/editions/<period>/import")
@operation("导入 XLSX 到草稿(按统一社会信用代码匹配;有一行错误则不写入任何数据)", ok=ImportResult,
           multipart=RosterUpload, responses={422: ImportFailed}, errors=(403, 404, 409, 413), params=ROSTER_PARAMS,
           description="检查未通过时返回 422,error.code 为 import_failed,error.rows 为逐行问题,不写入任何数据。"
                       "不是 XLSX、过大或行数过多:422(超过 MAX_CONTENT_LENGTH 为 413),见 error.fields.file。")
def import_entries(kind: str, period: str):
    """Import an XLSX into a draft, matched by USCC: every row is checked first, and one bad row writes nothing.

    Like ``POST .../entries``, every enterprise the file adds or changes needs EDIT on that enterprise (a county
    coordinator: their county's only); one refused and nothing is written.
    """
    edition = _load_edition(kind, period, Action.EDIT)
    domain.ensure_editable(edition)  # a frozen edition refuses before the file is even read
    filename, data = _upload()
    imports.check_file(filename, data)
    result = imports.import_rows(edition, data, current_user())
    if not result.ok:
        db.session.rollback()  # all or nothing
        return _import_failed(result.problems, result.summary)
    db.session.commit()
    return dump(ImportResult(added=result.added, updated=result.updated, unchanged=result.unchanged,
                             rows_total=result.rows_total, summary=result.summary))


def _import_failed(problems: list[dict], summary: str):
    rows = [ImportProblem(row=p.get("row"), field=p.get("field"), message=p.get("message")) for p in problems]
    message = f"{IMPORT_FAILED}:共 {len(rows)} 处问题" if rows else IMPORT_FAILED
    error = ImportFailedDetail(code="import_failed", message=message, rows=rows,
                               fields={"file": summary or f"文件有 {len(rows)} 处问题,请按 rows 逐行修改后重新导入"})
    return dump(ImportFailed(error=error)), 422
