"""Roster endpoints (API.md, "Rosters"): editions, entries, review, diff, Excel export and import.

Each endpoint loads the edition, asks ``access.require`` (VIEW refused → 404, a write refused → 403; an entry's
enterprise also needs EDIT, 404 when the caller may not even see it), calls ``crm.rosters.domain`` (or
``crm.rosters.excel``), commits once and serialises. The domain refuses every change to a frozen edition (409
``frozen``) or one in review (409 ``in_review``); the checks here only make that refusal come first.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, current_app, jsonify, request, url_for
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import RequestEntityTooLarge

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import json_body, reject_unknown
from crm.api.enterprises import MAX_ID, NOT_FOUND
from crm.api.openapi import (
    ENTERPRISE_ID,
    ERROR_RESPONSES,
    PAGE_PARAMS,
    add_paths,
    add_schemas,
    body,
    errors,
    nullable,
    ok,
    path_param,
    query,
    ref,
)
from crm.api.openapi import page_of as page_schema
from crm.core.access import Action, can, require
from crm.core.errors import DomainError, NotFound, ValidationFailed
from crm.core.pagination import parse_page_args
from crm.core.parsing import check_version, parse_enum
from crm.core.time import isoformat_local
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters import domain, excel
from crm.rosters.models import (
    EditionStatus,
    RosterEdition,
    RosterEntry,
    RosterKind,
    Tier,
)

XLSX_MIMETYPE = excel.XLSX_MIMETYPE
CSV_MIMETYPE = excel.CSV_MIMETYPE  # text/csv; charset=utf-8 (the file has a BOM, for Excel)
KINDS = [k.value for k in RosterKind]
STATUSES = [s.value for s in EditionStatus]
TIERS = [t.value for t in Tier]
PERIOD_HINT = "期次格式应为 2026H1 或 2026H2"
ENTRY_FIELDS = {"enterprise_id", "reason", "tier"}
IMPORT_FAILED = "导入未通过检查,未写入任何数据"


class PayloadTooLarge(DomainError):
    """The upload is over ``MAX_CONTENT_LENGTH``: 413, with the message on the ``file`` field."""

    status = 413
    code = "too_large"


# --- serialisers -------------------------------------------------------------------------------------------

def _username(user: Any) -> str | None:
    return user.username if user is not None else None


def edition_json(edition: RosterEdition, entries_count: int) -> dict[str, Any]:
    return {
        "kind": edition.kind.value,
        "kind_label": edition.kind.label,
        "period": edition.period,
        "period_label": domain.period_label(edition.period),
        "status": edition.status.value,
        "status_label": edition.status.label,
        "entries_count": entries_count,
        "based_on": edition.based_on.period if edition.based_on else None,
        "opened_at": isoformat_local(edition.opened_at),
        "opened_by": _username(edition.opened_by),
        "submitted_at": isoformat_local(edition.submitted_at),
        "submitted_by": _username(edition.submitted_by),
        "returned_at": isoformat_local(edition.returned_at),
        "returned_by": _username(edition.returned_by),
        "return_comment": edition.return_comment or None,
        "published_at": isoformat_local(edition.published_at),
        "published_by": _username(edition.published_by),
        "superseded_at": isoformat_local(edition.superseded_at),
        "version": edition.version,
    }


def entry_json(entry: RosterEntry) -> dict[str, Any]:
    enterprise = entry.enterprise
    return {
        "enterprise_id": enterprise.id,
        "name": enterprise.name,
        "uscc": enterprise.uscc,
        "county": enterprise.county.name,
        "cluster": enterprise.cluster.name,
        "supply_category": enterprise.supply_category.name if enterprise.supply_category else None,
        "main_products": enterprise.main_products,
        "reason": entry.reason,
        "tier": entry.tier.value if entry.tier else None,
        "tier_label": entry.tier.label if entry.tier else None,
        "proposed_by": _username(entry.proposed_by),
        "created_at": isoformat_local(entry.created_at),
    }


def _entry_counts(edition_ids: list[int]) -> dict[int, int]:
    """Entries per edition, in one query."""
    if not edition_ids:
        return {}
    rows = db.session.execute(
        sa.select(RosterEntry.edition_id, sa.func.count(RosterEntry.id))
        .where(RosterEntry.edition_id.in_(edition_ids)).group_by(RosterEntry.edition_id))
    return {edition_id: count for edition_id, count in rows}


def _edition_out(edition: RosterEdition) -> dict[str, Any]:
    return edition_json(edition, _entry_counts([edition.id]).get(edition.id, 0))


# --- loading -----------------------------------------------------------------------------------------------

def _load_edition(kind: str | RosterKind, period: str, action: Action) -> RosterEdition:
    """The edition if the caller may do ``action`` to it: 404 when they may not even see it, else 403.

    A missing edition and a hidden one answer alike, so a commissioner cannot learn whether a draft exists.
    """
    roster = kind if isinstance(kind, RosterKind) else domain.parse_kind(kind)  # unknown list: 404
    try:
        edition = domain.get_edition(roster, period)
    except (NotFound, ValidationFailed):  # no such edition, or a malformed period in the address
        raise NotFound(NOT_FOUND) from None
    require(current_user(), action, edition)
    return edition


def _load_enterprise(enterprise_id: int) -> Enterprise:
    """An enterprise the caller may change (a county coordinator: their county's only); 404 if not even seen."""
    enterprise = db.session.get(Enterprise, enterprise_id) if 0 < enterprise_id <= MAX_ID else None
    if enterprise is None:
        raise NotFound(NOT_FOUND)
    require(current_user(), Action.EDIT, enterprise)
    return enterprise


def _load_entry(edition: RosterEdition, enterprise_id: int) -> RosterEntry:
    entry = domain.entry_for(edition, enterprise_id) if 0 < enterprise_id <= MAX_ID else None
    if entry is None:
        raise NotFound("该企业不在这一版本中")
    return entry


# --- request parsing ---------------------------------------------------------------------------------------

def _optional_body() -> dict[str, Any]:
    """A JSON object body, or ``{}`` when the request has none (DELETE, submit, publish)."""
    if not request.get_data(cache=True):
        return {}
    return json_body()


def _text_fields(data: dict[str, Any], names: tuple[str, ...]) -> dict[str, str]:
    """Shape errors for optional text fields: a string (or null) or nothing."""
    return {name: "必须是字符串" for name in names if data.get(name) is not None and not isinstance(data[name], str)}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_version(edition: RosterEdition, data: dict[str, Any]) -> None:
    """API.md: a write may send the record's ``version``; a stale one is refused with 409, nothing written."""
    if "version" not in data:
        return
    check_version(edition, data["version"], "该版本已被他人修改,请刷新后重试")


def _filters() -> dict[str, str]:
    return {"county": request.args.get("county", "").strip(), "cluster": request.args.get("cluster", "").strip()}


# --- editions ----------------------------------------------------------------------------------------------

@bp.get("/rosters/<kind>/editions")
def list_editions(kind: str):
    """The editions of a list the caller may see (commissioners: published and superseded), newest first."""
    roster = domain.parse_kind(kind)
    user = current_user()
    status = request.args.get("status", "").strip()
    fields: dict[str, str] = {}
    parse_enum(EditionStatus, status, field="status", what="版本状态", fields=fields)
    if fields:
        raise DomainError("查询参数不正确", fields)
    page, per_page = parse_page_args(request.args)
    # A list has two editions a year: filtering by access in Python keeps the rule in crm.core.access.
    rows = [e for e in domain.editions(roster)
            if can(user, Action.VIEW, e) and (not status or e.status.value == status)]
    items = rows[(page - 1) * per_page:page * per_page]
    counts = _entry_counts([e.id for e in items])
    return {"items": [edition_json(e, counts.get(e.id, 0)) for e in items], "total": len(rows), "page": page,
            "per_page": per_page}


@bp.post("/rosters/<kind>/editions")
def open_edition(kind: str):
    """Open the draft of a half year, as a copy of the list's latest published edition."""
    roster = domain.parse_kind(kind)
    user = current_user()
    require(user, Action.PUBLISH)
    data = json_body()
    reject_unknown(data, {"period"}, "开启版本的数据有误")
    period = data.get("period")
    if _blank(period) or not isinstance(period, str):
        raise ValidationFailed("请填写期次", {"period": PERIOD_HINT})
    edition = domain.open_edition(user, roster, period)
    db.session.commit()
    location = url_for("api.get_edition", kind=roster.value, period=edition.period)
    return _edition_out(edition), 201, {"Location": location}


@bp.get("/rosters/<kind>/editions/<period>")
def get_edition(kind: str, period: str):
    """One edition with its entries (``?county=&cluster=`` filter them) and the count per county."""
    edition = _load_edition(kind, period, Action.VIEW)
    stmt = domain.entries_statement(edition, **_filters()).options(selectinload(RosterEntry.proposed_by))
    entries = list(db.session.scalars(stmt))
    counts = domain.counts_by_county(edition)
    return {**edition_json(edition, sum(n for _, n in counts)),
            "counts_by_county": [{"county": name, "count": n} for name, n in counts],
            "entries": [entry_json(e) for e in entries]}


# --- entries -----------------------------------------------------------------------------------------------

def _entry_url(edition: RosterEdition, enterprise_id: int) -> str:
    return url_for("api.get_entry", kind=edition.kind.value, period=edition.period, enterprise_id=enterprise_id)


@bp.post("/rosters/<kind>/editions/<period>/entries")
def add_entry(kind: str, period: str):
    """Put an enterprise on a draft with the reason for inclusion (and the tier, in the pool)."""
    edition = _load_edition(kind, period, Action.EDIT)
    domain.ensure_editable(edition)  # a frozen or in-review edition refuses before anything else is read
    data = json_body()
    reject_unknown(data, ENTRY_FIELDS, "入库数据有误")
    fields = _text_fields(data, ("reason", "tier"))
    enterprise_id = data.get("enterprise_id")
    if not isinstance(enterprise_id, int) or isinstance(enterprise_id, bool):
        fields["enterprise_id"] = "请给出企业 id(整数)"
    if "reason" not in fields and _blank(data.get("reason")):
        fields["reason"] = "请填写入库理由"
    if fields:
        raise ValidationFailed("入库数据有误", fields)
    enterprise = _load_enterprise(enterprise_id)
    entry = domain.add_entry(current_user(), edition, enterprise, data["reason"], data.get("tier"))
    db.session.commit()
    return entry_json(entry), 201, {"Location": _entry_url(edition, enterprise.id)}


@bp.get("/rosters/<kind>/editions/<period>/entries/<int:enterprise_id>")
def get_entry(kind: str, period: str, enterprise_id: int):
    edition = _load_edition(kind, period, Action.VIEW)
    return entry_json(_load_entry(edition, enterprise_id))


@bp.patch("/rosters/<kind>/editions/<period>/entries/<int:enterprise_id>")
def patch_entry(kind: str, period: str, enterprise_id: int):
    """Change the reason or the tier of an entry of a draft (only the fields given)."""
    edition = _load_edition(kind, period, Action.EDIT)
    enterprise = _load_enterprise(enterprise_id)
    domain.ensure_editable(edition)
    data = json_body()
    reject_unknown(data, {"reason", "tier"}, "入库数据有误")
    fields = _text_fields(data, ("reason", "tier"))
    if fields:
        raise ValidationFailed("入库数据有误", fields)
    entry = domain.update_entry(current_user(), edition, enterprise, reason=data.get("reason"), tier=data.get("tier"))
    db.session.commit()
    return entry_json(entry)


@bp.delete("/rosters/<kind>/editions/<period>/entries/<int:enterprise_id>")
def remove_entry(kind: str, period: str, enterprise_id: int):
    """Take an enterprise off a draft; the reason (required) is kept and shown in the diff."""
    edition = _load_edition(kind, period, Action.EDIT)
    enterprise = _load_enterprise(enterprise_id)
    domain.ensure_editable(edition)
    data = _optional_body()
    reject_unknown(data, {"reason"}, "移出数据有误")
    fields = _text_fields(data, ("reason",))
    if fields:
        raise ValidationFailed("移出数据有误", fields)
    domain.remove_entry(current_user(), edition, enterprise, data.get("reason"))
    db.session.commit()
    return "", 204


# --- review ------------------------------------------------------------------------------------------------

@bp.post("/rosters/<kind>/editions/<period>/submit")
def submit_edition(kind: str, period: str):
    """Send a draft for review (city-wide coordinators and admins)."""
    edition = _load_edition(kind, period, Action.PUBLISH)
    domain.ensure_editable(edition)
    data = _optional_body()
    reject_unknown(data, {"version"}, "提交数据有误")
    _check_version(edition, data)
    domain.submit(current_user(), edition)
    db.session.commit()
    return _edition_out(edition)


@bp.post("/rosters/<kind>/editions/<period>/return")
def return_edition(kind: str, period: str):
    """Send an edition in review back to draft, with a comment (required)."""
    edition = _load_edition(kind, period, Action.PUBLISH)
    if edition.frozen:
        domain.ensure_editable(edition)  # 409 "frozen", whatever the body says
    data = json_body()
    reject_unknown(data, {"comment", "version"}, "退回数据有误")
    fields = _text_fields(data, ("comment",))
    if fields:
        raise ValidationFailed("退回数据有误", fields)
    _check_version(edition, data)
    domain.return_edition(current_user(), edition, data.get("comment"))
    db.session.commit()
    return _edition_out(edition)


@bp.post("/rosters/<kind>/editions/<period>/publish")
def publish_edition(kind: str, period: str):
    """Publish a reviewed edition; the previously published one is superseded, all in one transaction."""
    edition = _load_edition(kind, period, Action.PUBLISH)
    if edition.frozen:
        domain.ensure_editable(edition)
    data = _optional_body()
    reject_unknown(data, {"version"}, "发布数据有误")
    _check_version(edition, data)
    domain.publish(current_user(), edition)
    db.session.commit()
    return _edition_out(edition)


# --- diff --------------------------------------------------------------------------------------------------

@bp.get("/rosters/<kind>/diff")
def diff_editions(kind: str):
    """Added, removed and tier changed between two editions of a list, each with its reason."""
    roster = domain.parse_kind(kind)
    periods: dict[str, str] = {}
    fields: dict[str, str] = {}
    for name in ("from", "to"):
        value = request.args.get(name, "").strip()
        if not value:
            fields[name] = "请给出要比较的期次(如 2026H1)"
            continue
        try:
            periods[name] = domain.normalise_period(value)
        except ValidationFailed:
            fields[name] = PERIOD_HINT
    if fields:
        raise DomainError("查询参数不正确", fields)
    for period in periods.values():
        _load_edition(roster, period, Action.VIEW)
    result = domain.diff(roster, periods["from"], periods["to"])
    return {"kind": roster.value, "from": result.from_period, "to": result.to_period, "added": result.added,
            "removed": result.removed, "tier_changed": result.tier_changed}


# --- Excel -------------------------------------------------------------------------------------------------

def _download(data: bytes, content_type: str, ascii_name: str, utf8_name: str) -> Response:
    """An attachment named in Chinese (RFC 6266 ``filename*``) with an ASCII fallback for old clients."""
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(utf8_name)}"
    return Response(data, content_type=content_type,
                    headers={"Content-Disposition": disposition, "Cache-Control": "no-store"})


def _export(edition: RosterEdition, data: bytes, content_type: str, extension: str) -> Response:
    return _download(data, content_type, f"{edition.kind.value}_{edition.period}.{extension}",
                     excel.export_filename(edition, extension))


@bp.get("/rosters/<kind>/editions/<period>/export.xlsx")
def export_xlsx(kind: str, period: str):
    edition = _load_edition(kind, period, Action.VIEW)
    return _export(edition, excel.export_xlsx(edition), XLSX_MIMETYPE, "xlsx")


@bp.get("/rosters/<kind>/editions/<period>/export.csv")
def export_csv(kind: str, period: str):
    edition = _load_edition(kind, period, Action.VIEW)
    return _export(edition, excel.export_csv(edition), CSV_MIMETYPE, "csv")


@bp.get("/rosters/<kind>/template.xlsx")
def import_template(kind: str):
    """The empty XLSX to fill in for an import (the official columns)."""
    roster = domain.parse_kind(kind)
    return _download(excel.template_xlsx(roster), XLSX_MIMETYPE, f"{roster.value}_template.xlsx",
                     excel.template_filename(roster))


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
def import_entries(kind: str, period: str):
    """Import an XLSX into a draft, matched by USCC: every row is checked first, and one bad row writes nothing.

    Like ``POST .../entries``, every enterprise the file adds or changes needs EDIT on that enterprise (a county
    coordinator: their county's only); one refused and nothing is written.
    """
    edition = _load_edition(kind, period, Action.EDIT)
    domain.ensure_editable(edition)  # a frozen edition refuses before the file is even read
    filename, data = _upload()
    excel.check_file(filename, data)
    result = excel.import_rows(edition, data, current_user())
    if not result.ok:
        db.session.rollback()  # all or nothing
        return _import_failed(result.problems, result.summary)
    db.session.commit()
    return {"added": result.added, "updated": result.updated, "unchanged": result.unchanged,
            "rows_total": result.rows_total, "summary": result.summary}


def _import_failed(problems: list[dict], summary: str):
    rows = [{"row": p.get("row"), "field": p.get("field"), "message": p.get("message")} for p in problems]
    message = f"{IMPORT_FAILED}:共 {len(rows)} 处问题" if rows else IMPORT_FAILED
    error = {"code": "import_failed", "message": message,
             "fields": {"file": summary or f"文件有 {len(rows)} 处问题,请按 rows 逐行修改后重新导入"},
             "rows": rows}
    return jsonify({"error": error}), 422


# --- OpenAPI -------------------------------------------------------------------------------------------------

ERROR_RESPONSES.setdefault(413, ("TooLarge", "上传的文件超过大小上限(MAX_CONTENT_LENGTH),见 error.fields.file"))

_TIME = nullable("string", format="date-time", example="2026-07-01T09:00:00+08:00")
_USER = nullable("string", description="用户名")
KIND = path_param("kind", "名单类型:supplier_list 配套企业名单,cultivation_pool 重点企业培育库",
                  {"type": "string", "enum": KINDS})
PERIOD = path_param("period", "期次(半年):2026H1、2026H2", {"type": "string", "pattern": "^[0-9]{4}[Hh][12]$",
                                                       "example": "2026H1"})
_TIER = nullable("string", enum=[*TIERS, None], description="培育库层级:leader 龙头,chain_master 链主,"
                 "cultivating 培育(也接受中文);配套企业名单不分层级")
_EDITION_FIELDS: dict[str, Any] = {
    "kind": {"type": "string", "enum": KINDS},
    "kind_label": {"type": "string", "example": "融入成渝经济圈工业配套企业名单"},
    "period": {"type": "string", "example": "2026H1"},
    "period_label": {"type": "string", "example": "2026年上半年"},
    "status": {"type": "string", "enum": STATUSES, "description": "published、superseded 的版本已冻结,任何修改 409"},
    "status_label": {"type": "string", "example": "草稿"},
    "entries_count": {"type": "integer", "minimum": 0},
    "based_on": nullable("string", description="复制自哪一期已发布版本"),
    "opened_at": _TIME, "opened_by": _USER,
    "submitted_at": _TIME, "submitted_by": _USER,
    "returned_at": _TIME, "returned_by": _USER,
    "return_comment": nullable("string", description="最近一次退回意见"),
    "published_at": _TIME, "published_by": _USER,
    "superseded_at": _TIME,
    "version": {"type": "integer", "description": "乐观锁版本;提交、退回、发布时可回传,过期则 409 stale"},
}
_DIFF_ITEM_FIELDS: dict[str, Any] = {
    "enterprise_id": {"type": "integer"}, "name": {"type": "string"}, "uscc": {"type": "string"},
    "county": {"type": "string"}, "reason": {"type": "string", "description": "入库理由;移出时为移出理由"},
}
_VERSION_BODY = {"type": "object", "additionalProperties": False,
                 "properties": {"version": {"type": "integer", "description": "过期则 409 stale,不写入"}}}

add_schemas({
    "RosterEdition": {"type": "object", "required": ["kind", "period", "status", "entries_count", "version"],
                      "properties": _EDITION_FIELDS},
    "RosterEditionPage": page_schema("RosterEdition"),
    "RosterEntry": {
        "type": "object",
        "required": ["enterprise_id", "name", "uscc", "county", "cluster", "reason", "tier"],
        "properties": {
            "enterprise_id": {"type": "integer"},
            "name": {"type": "string"},
            "uscc": {"type": "string"},
            "county": {"type": "string", "example": "汇川区"},
            "cluster": {"type": "string", "example": "航空航天装备"},
            "supply_category": nullable("string", example="关键零部件"),
            "main_products": {"type": "string"},
            "reason": {"type": "string", "description": "入库理由"},
            "tier": _TIER,
            "tier_label": nullable("string", example="龙头"),
            "proposed_by": _USER,
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "RosterEditionDetail": {
        "type": "object",
        "required": ["kind", "period", "status", "entries_count", "version", "counts_by_county", "entries"],
        "properties": {
            **_EDITION_FIELDS,
            "counts_by_county": {"type": "array", "items": {
                "type": "object", "properties": {"county": {"type": "string"}, "count": {"type": "integer"}}}},
            "entries": {"type": "array", "items": ref("RosterEntry")},
        },
    },
    "RosterEditionOpen": {"type": "object", "required": ["period"], "additionalProperties": False,
                          "properties": {"period": {"type": "string", "example": "2026H2"}}},
    "RosterEntryCreate": {
        "type": "object", "required": ["enterprise_id", "reason"], "additionalProperties": False,
        "properties": {"enterprise_id": {"type": "integer", "minimum": 1},
                       "reason": {"type": "string", "maxLength": domain.MAX_REASON, "description": "入库理由(必填)"},
                       "tier": _TIER},
    },
    "RosterEntryPatch": {
        "type": "object", "additionalProperties": False, "description": "只修改给出的字段",
        "properties": {"reason": {"type": "string", "maxLength": domain.MAX_REASON}, "tier": _TIER},
    },
    "RosterEntryRemove": {
        "type": "object", "required": ["reason"], "additionalProperties": False,
        "properties": {"reason": {"type": "string", "maxLength": domain.MAX_REASON,
                                  "description": "移出理由(必填),在版本比较中显示"}},
    },
    "RosterReturn": {
        "type": "object", "required": ["comment"], "additionalProperties": False,
        "properties": {"comment": {"type": "string", "maxLength": domain.MAX_REASON, "description": "退回意见(必填)"},
                       "version": {"type": "integer"}},
    },
    "RosterDiff": {
        "type": "object", "required": ["kind", "from", "to", "added", "removed", "tier_changed"],
        "properties": {
            "kind": {"type": "string", "enum": KINDS},
            "from": {"type": "string", "example": "2025H2"},
            "to": {"type": "string", "example": "2026H1"},
            "added": {"type": "array", "items": {"type": "object", "properties": {**_DIFF_ITEM_FIELDS, "tier": _TIER}}},
            "removed": {"type": "array", "items": {"type": "object",
                                                   "properties": {**_DIFF_ITEM_FIELDS, "tier": _TIER}}},
            "tier_changed": {"type": "array", "items": {"type": "object", "properties": {
                **_DIFF_ITEM_FIELDS, "from_tier": _TIER, "to_tier": _TIER}}},
        },
    },
    "RosterImportResult": {
        "type": "object", "required": ["added", "updated", "unchanged", "rows_total"],
        "properties": {"added": {"type": "integer"}, "updated": {"type": "integer"},
                       "unchanged": {"type": "integer"}, "rows_total": {"type": "integer"},
                       "summary": {"type": "string"}},
    },
    "RosterImportProblem": {
        "type": "object", "required": ["row", "field", "message"],
        "description": "导入失败(422,code import_failed)时 error.rows 的一项",
        "properties": {"row": nullable("integer", description="Excel 行号"), "field": nullable("string"),
                       "message": {"type": "string"}},
    },
})

_EDITION_PATH = "/rosters/{kind}/editions/{period}"
_FILE = {"description": "文件", "headers": {"Content-Disposition": {
    "schema": {"type": "string"}, "description": "attachment; filename=…; filename*=UTF-8''…"}}}
_TAGS = ["rosters"]

add_paths({
    "/rosters/{kind}/editions": {
        "parameters": [KIND],
        "get": {
            "tags": _TAGS, "operationId": "listRosterEditions",
            "summary": "名单的各期版本,最新在前(专员只看到已发布与已替代的)",
            "parameters": [query("status", "按状态筛选", {"type": "string", "enum": STATUSES}), *PAGE_PARAMS],
            "responses": {"200": ok("一页版本", ref("RosterEditionPage")), **errors(400, 401, 404)},
        },
        "post": {
            "tags": _TAGS, "operationId": "openRosterEdition", "summary": "开启某半年的更新草稿(复制最新已发布版本)",
            "requestBody": body(ref("RosterEditionOpen")),
            "responses": {
                "201": {**ok("已开启的草稿", ref("RosterEdition")),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "该版本的地址"}}},
                **errors(400, 401, 403, 404, 409, 422),
            },
        },
    },
    _EDITION_PATH: {
        "parameters": [KIND, PERIOD],
        "get": {
            "tags": _TAGS, "operationId": "getRosterEdition", "summary": "一期版本及其企业(可按区县、产业集群筛选)",
            "parameters": [query("county", "区县名称"), query("cluster", "产业集群名称")],
            "responses": {"200": ok("版本", ref("RosterEditionDetail")), **errors(400, 401, 404)},
        },
    },
    f"{_EDITION_PATH}/entries": {
        "parameters": [KIND, PERIOD],
        "post": {
            "tags": _TAGS, "operationId": "addRosterEntry", "summary": "把企业加入草稿(需填写入库理由)",
            "requestBody": body(ref("RosterEntryCreate")),
            "responses": {
                "201": {**ok("已加入", ref("RosterEntry")),
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "该条目的地址"}}},
                **errors(400, 401, 403, 404, 409, 422),
            },
        },
    },
    f"{_EDITION_PATH}/entries/{{enterprise_id}}": {
        "parameters": [KIND, PERIOD, ENTERPRISE_ID],
        "get": {
            "tags": _TAGS, "operationId": "getRosterEntry", "summary": "版本中的一家企业",
            "responses": {"200": ok("条目", ref("RosterEntry")), **errors(400, 401, 404)},
        },
        "patch": {
            "tags": _TAGS, "operationId": "patchRosterEntry", "summary": "修改草稿中企业的入库理由或层级",
            "requestBody": body(ref("RosterEntryPatch")),
            "responses": {"200": ok("修改后的条目", ref("RosterEntry")), **errors(400, 401, 403, 404, 409, 422)},
        },
        "delete": {
            "tags": _TAGS, "operationId": "removeRosterEntry", "summary": "把企业移出草稿(需填写移出理由)",
            "requestBody": body(ref("RosterEntryRemove")),
            "responses": {"204": ok("已移出"), **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    f"{_EDITION_PATH}/submit": {
        "parameters": [KIND, PERIOD],
        "post": {
            "tags": _TAGS, "operationId": "submitRosterEdition", "summary": "提交审核(市级协调员、管理员)",
            "requestBody": {**body(_VERSION_BODY, "可省略;给出 version 时须为当前版本号"), "required": False},
            "responses": {"200": ok("审核中的版本", ref("RosterEdition")), **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    f"{_EDITION_PATH}/return": {
        "parameters": [KIND, PERIOD],
        "post": {
            "tags": _TAGS, "operationId": "returnRosterEdition", "summary": "退回修改(需填写退回意见)",
            "requestBody": body(ref("RosterReturn")),
            "responses": {"200": ok("退回后的草稿", ref("RosterEdition")), **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    f"{_EDITION_PATH}/publish": {
        "parameters": [KIND, PERIOD],
        "post": {
            "tags": _TAGS, "operationId": "publishRosterEdition",
            "summary": "发布审核中的版本(上一期已发布版本标记为被替代;全部写入或全部不写)",
            "requestBody": {**body(_VERSION_BODY, "可省略;给出 version 时须为当前版本号"), "required": False},
            "responses": {"200": ok("已发布的版本", ref("RosterEdition")), **errors(400, 401, 403, 404, 409, 422)},
        },
    },
    "/rosters/{kind}/diff": {
        "parameters": [KIND],
        "get": {
            "tags": _TAGS, "operationId": "diffRosterEditions", "summary": "比较两期版本:新增、移出(含理由)、层级变化",
            "parameters": [{**query("from", "起始期次", {"type": "string", "example": "2025H2"}), "required": True},
                           {**query("to", "目标期次", {"type": "string", "example": "2026H1"}), "required": True}],
            "responses": {"200": ok("差异", ref("RosterDiff")), **errors(400, 401, 404)},
        },
    },
    f"{_EDITION_PATH}/export.xlsx": {
        "parameters": [KIND, PERIOD],
        "get": {
            "tags": _TAGS, "operationId": "exportRosterXlsx",
            "summary": "导出 XLSX(序号、企业名称、统一社会信用代码、区县、产业集群、配套类别、主要产品、"
                       "成渝配套对象、入库理由)",
            "responses": {"200": {**_FILE, "content": {XLSX_MIMETYPE: {"schema": {"type": "string",
                                                                                  "format": "binary"}}}},
                          **errors(400, 401, 404)},
        },
    },
    f"{_EDITION_PATH}/export.csv": {
        "parameters": [KIND, PERIOD],
        "get": {
            "tags": _TAGS, "operationId": "exportRosterCsv", "summary": "导出 CSV(UTF-8,列同 XLSX)",
            "responses": {"200": {**_FILE, "content": {"text/csv": {"schema": {"type": "string"}}}},
                          **errors(400, 401, 404)},
        },
    },
    "/rosters/{kind}/template.xlsx": {
        "parameters": [KIND],
        "get": {
            "tags": _TAGS, "operationId": "rosterImportTemplate", "summary": "导入模板(XLSX,含填写说明)",
            "responses": {"200": {**_FILE, "content": {XLSX_MIMETYPE: {"schema": {"type": "string",
                                                                                  "format": "binary"}}}},
                          **errors(401, 404)},
        },
    },
    f"{_EDITION_PATH}/import": {
        "parameters": [KIND, PERIOD],
        "post": {
            "tags": _TAGS, "operationId": "importRosterXlsx",
            "summary": "导入 XLSX 到草稿(按统一社会信用代码匹配;有一行错误则不写入任何数据)",
            "description": "检查未通过时返回 422,error.code 为 import_failed,error.rows 为逐行问题"
                           "(RosterImportProblem),不写入任何数据。不是 XLSX、过大或行数过多:422(超过"
                           " MAX_CONTENT_LENGTH 为 413),见 error.fields.file。",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": "XLSX 文件"}}}}}},
            "responses": {"200": ok("已导入", ref("RosterImportResult")),
                          **errors(400, 401, 403, 404, 409, 413, 422)},
        },
    },
})
