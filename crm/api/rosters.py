"""Roster endpoints (API.md, "Rosters"): editions, entries, review, diff (files: crm/api/roster_files.py).

Each endpoint loads the edition, asks ``access.require`` (VIEW refused → 404, a write refused → 403; an entry's
enterprise also needs EDIT, 404 when the caller may not even see it), calls ``crm.rosters.domain`` (or
``crm.rosters.excel``), commits once and serialises. The domain refuses every change to a frozen edition (409
``frozen``) or one in review (409 ``in_review``); the checks here only make that refusal come first.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from flask import request
from pydantic import Field
from sqlalchemy.orm import selectinload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, json_body
from crm.api.loading import MAX_ID, NOT_FOUND
from crm.api.schema import (
    DateTimeStr,
    Input,
    Msg,
    PageQuery,
    Parsed,
    Query,
    Shape,
    body,
    check,
    choice,
    code,
    dump,
    not_blank,
    operation,
    page_model,
    query,
)
from crm.core.access import Action, can, require
from crm.core.errors import DomainError, NotFound, ValidationFailed
from crm.core.pagination import parse_page_args
from crm.core.parsing import check_version
from crm.core.time import isoformat_local
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters import domain
from crm.rosters.models import (
    EditionStatus,
    RosterKind,
    Tier,
)
from crm.rosters.models import RosterEdition as RosterEditionRow
from crm.rosters.models import RosterEntry as RosterEntryRow

STATUSES = [s.value for s in EditionStatus]
PERIOD_HINT = "期次格式应为 2026H1 或 2026H2"


# --- shapes -------------------------------------------------------------------------------------------------

Kind = Annotated[code(RosterKind),
                 Field(description="名单类型:supplier_list 配套企业名单,cultivation_pool 重点企业培育库")]
Period = Annotated[str, Field(pattern="^[0-9]{4}[Hh][12]$", description="期次(半年):2026H1、2026H2",
                              examples=["2026H1"])]
TierCode = Annotated[code(Tier) | None, Field(description="培育库层级:leader 龙头,chain_master 链主,cultivating 培育"
                                                         "(也接受中文);配套企业名单不分层级")]
ROSTER_PARAMS = {"kind": Kind, "period": Period}
Reason = Annotated[str, Field(description=f"最长{domain.MAX_REASON}字")]
TEXT = "必须是字符串"
NO_REASON = "请填写入库理由"


def _username(user: Any) -> str | None:
    return user.username if user is not None else None


class RosterEdition(Shape):
    """名单的一期版本"""

    kind: Kind
    kind_label: str = Field(examples=["融入成渝经济圈工业配套企业名单"])
    period: str = Field(examples=["2026H1"])
    period_label: str = Field(examples=["2026年上半年"])
    status: code(EditionStatus) = Field(description="published、superseded 的版本已冻结,任何修改 409")
    status_label: str = Field(examples=["草稿"])
    entries_count: int = Field(ge=0)
    based_on: str | None = Field(description="复制自哪一期已发布版本")
    opened_at: DateTimeStr | None
    opened_by: str | None
    submitted_at: DateTimeStr | None
    submitted_by: str | None
    returned_at: DateTimeStr | None
    returned_by: str | None
    return_comment: str | None = Field(description="最近一次退回意见")
    published_at: DateTimeStr | None
    published_by: str | None
    superseded_at: DateTimeStr | None
    version: int = Field(description="乐观锁版本;提交、退回、发布时可回传,过期则 409 stale")

    @classmethod
    def fields_of(cls, edition: RosterEditionRow, entries_count: int) -> dict[str, Any]:
        return dict(
            kind=edition.kind.value, kind_label=edition.kind.label, period=edition.period,
            period_label=domain.period_label(edition.period), status=edition.status.value,
            status_label=edition.status.label, entries_count=entries_count,
            based_on=edition.based_on.period if edition.based_on else None,
            opened_at=isoformat_local(edition.opened_at), opened_by=_username(edition.opened_by),
            submitted_at=isoformat_local(edition.submitted_at), submitted_by=_username(edition.submitted_by),
            returned_at=isoformat_local(edition.returned_at), returned_by=_username(edition.returned_by),
            return_comment=edition.return_comment or None, published_at=isoformat_local(edition.published_at),
            published_by=_username(edition.published_by), superseded_at=isoformat_local(edition.superseded_at),
            version=edition.version)


class RosterEntry(Shape):
    """版本中的一家企业"""

    enterprise_id: int
    name: str
    uscc: str
    county: str = Field(examples=["汇川区"])
    cluster: str = Field(examples=["航空航天装备"])
    supply_category: str | None = Field(examples=["关键零部件"])
    main_products: str
    reason: str = Field(description="入库理由")
    tier: TierCode
    tier_label: str | None = Field(examples=["龙头"])
    proposed_by: str | None
    created_at: DateTimeStr

    @classmethod
    def of(cls, entry: RosterEntryRow) -> RosterEntry:
        e = entry.enterprise
        return cls(enterprise_id=e.id, name=e.name, uscc=e.uscc, county=e.county.name, cluster=e.cluster.name,
                   supply_category=e.supply_category.name if e.supply_category else None,
                   main_products=e.main_products, reason=entry.reason,
                   tier=entry.tier.value if entry.tier else None,
                   tier_label=entry.tier.label if entry.tier else None,
                   proposed_by=_username(entry.proposed_by), created_at=isoformat_local(entry.created_at))


class CountyCount(Shape):
    county: str
    count: int


class RosterEditionDetail(RosterEdition):
    """一期版本及其企业"""

    counts_by_county: list[CountyCount]
    entries: list[RosterEntry]


class DiffItem(Shape):
    enterprise_id: int
    name: str
    uscc: str
    county: str
    reason: str = Field(description="入库理由;移出时为移出理由")


class DiffMember(DiffItem):
    tier: TierCode


class DiffTierChange(DiffItem):
    from_tier: TierCode
    to_tier: TierCode


class RosterDiff(Shape):
    """两期版本的差异"""

    kind: Kind
    from_: str = Field(alias="from", examples=["2025H2"])
    to: str = Field(examples=["2026H1"])
    added: list[DiffMember]
    removed: list[DiffMember]
    tier_changed: list[DiffTierChange]


class RosterEditionOpen(Input):
    """开启草稿"""

    INVALID: ClassVar[str] = "开启版本的数据有误"
    period: Annotated[str, Msg(PERIOD_HINT), not_blank(PERIOD_HINT)] = Field(examples=["2026H2"])


class RosterEntryCreate(Input):
    """加入草稿"""

    INVALID: ClassVar[str] = "入库数据有误"
    enterprise_id: Annotated[int, Msg("请给出企业 id(整数)")]
    reason: Annotated[Reason, Msg(TEXT, missing=NO_REASON), not_blank(NO_REASON)] = Field(description="入库理由(必填)")
    tier: Annotated[TierCode, Msg(TEXT)] = None


class RosterEntryPatch(Input):
    """只修改给出的字段"""

    INVALID: ClassVar[str] = "入库数据有误"
    reason: Annotated[Reason | None, Msg(TEXT)] = None
    tier: Annotated[TierCode, Msg(TEXT)] = None


class RosterEntryRemove(Input):
    """移出草稿(移出理由必填,在版本比较中显示)"""

    INVALID: ClassVar[str] = "移出数据有误"
    reason: Annotated[Reason | None, Msg(TEXT, missing=None)]


class VersionOnly(Input):
    """可省略;给出 version 时须为当前版本号"""

    version: Parsed[int] = Field(None, description="过期则 409 stale,不写入")


class RosterSubmit(VersionOnly):
    INVALID: ClassVar[str] = "提交数据有误"


class RosterPublish(VersionOnly):
    INVALID: ClassVar[str] = "发布数据有误"


class RosterReturn(VersionOnly):
    """退回修改"""

    INVALID: ClassVar[str] = "退回数据有误"
    comment: Annotated[Reason | None, Msg(TEXT, missing=None)] = Field(description="退回意见(必填)")


class EditionsQuery(PageQuery):
    status: Annotated[choice(EditionStatus) | None, Msg("status 只能是 " + "、".join(STATUSES))] = Field(
        None, description="按状态筛选")


class EntriesFilter(Query):
    county: str = Field("", description="区县名称")
    cluster: str = Field("", description="产业集群名称")


class DiffQuery(Query):
    from_: Period = Field(alias="from", description="起始期次")
    to: Period = Field(description="目标期次")


def edition_json(edition: RosterEditionRow, entries_count: int) -> dict[str, Any]:
    return dump(RosterEdition(**RosterEdition.fields_of(edition, entries_count)))


def entry_json(entry: RosterEntryRow) -> dict[str, Any]:
    return dump(RosterEntry.of(entry))


def _entry_counts(edition_ids: list[int]) -> dict[int, int]:
    """Entries per edition, in one query."""
    if not edition_ids:
        return {}
    rows = db.session.execute(
        sa.select(RosterEntryRow.edition_id, sa.func.count(RosterEntryRow.id))
        .where(RosterEntryRow.edition_id.in_(edition_ids)).group_by(RosterEntryRow.edition_id))
    return {edition_id: count for edition_id, count in rows}


def _edition_out(edition: RosterEditionRow) -> dict[str, Any]:
    return edition_json(edition, _entry_counts([edition.id]).get(edition.id, 0))


# --- loading -----------------------------------------------------------------------------------------------

def _load_edition(kind: str | RosterKind, period: str, action: Action) -> RosterEditionRow:
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


def _load_entry(edition: RosterEditionRow, enterprise_id: int) -> RosterEntryRow:
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


def _check_version(edition: RosterEditionRow, data: dict[str, Any]) -> None:
    """API.md: a write may send the record's ``version``; a stale one is refused with 409, nothing written."""
    if "version" not in data:
        return
    check_version(edition, data["version"], "该版本已被他人修改,请刷新后重试")


def _filters() -> dict[str, str]:
    return {"county": request.args.get("county", "").strip(), "cluster": request.args.get("cluster", "").strip()}


# --- editions ----------------------------------------------------------------------------------------------

@bp.get("/rosters/<kind>/editions")
@operation("名单的各期版本,最新在前(专员只看到已发布与已替代的)", ok=page_model(RosterEdition, "RosterEditionPage"),
           query=EditionsQuery, errors=(404,), params=ROSTER_PARAMS)
def list_editions(kind: str):
    """The editions of a list the caller may see (commissioners: published and superseded), newest first."""
    roster = domain.parse_kind(kind)
    user = current_user()
    status = query(EditionsQuery).status
    page, per_page = parse_page_args(request.args)
    # A list has two editions a year: filtering by access in Python keeps the rule in crm.core.access.
    rows = [e for e in domain.editions(roster)
            if can(user, Action.VIEW, e) and (not status or e.status.value == status)]
    items = rows[(page - 1) * per_page:page * per_page]
    counts = _entry_counts([e.id for e in items])
    return {"items": [edition_json(e, counts.get(e.id, 0)) for e in items], "total": len(rows), "page": page,
            "per_page": per_page}


@bp.post("/rosters/<kind>/editions")
@operation("开启某半年的更新草稿(复制最新已发布版本)", ok=RosterEdition, status=201, body=RosterEditionOpen,
           errors=(403, 404, 409, 422), params=ROSTER_PARAMS)
def open_edition(kind: str):
    """Open the draft of a half year, as a copy of the list's latest published edition."""
    roster = domain.parse_kind(kind)
    user = current_user()
    require(user, Action.PUBLISH)
    data = body(RosterEditionOpen)
    edition = domain.open_edition(user, roster, data["period"])
    db.session.commit()
    return created(_edition_out(edition), "api.get_edition", kind=roster.value, period=edition.period)


@bp.get("/rosters/<kind>/editions/<period>")
@operation("一期版本及其企业(可按区县、产业集群筛选)", ok=RosterEditionDetail, query=EntriesFilter, errors=(404,),
           params=ROSTER_PARAMS)
def get_edition(kind: str, period: str):
    """One edition with its entries (``?county=&cluster=`` filter them) and the count per county."""
    edition = _load_edition(kind, period, Action.VIEW)
    stmt = domain.entries_statement(edition, **_filters()).options(selectinload(RosterEntryRow.proposed_by))
    entries = list(db.session.scalars(stmt))
    counts = domain.counts_by_county(edition)
    return dump(RosterEditionDetail(
        **RosterEdition.fields_of(edition, sum(n for _, n in counts)),
        counts_by_county=[CountyCount(county=name, count=n) for name, n in counts],
        entries=[RosterEntry.of(e) for e in entries]))


# --- entries -----------------------------------------------------------------------------------------------

@bp.post("/rosters/<kind>/editions/<period>/entries")
@operation("把企业加入草稿(需填写入库理由)", ok=RosterEntry, status=201, body=RosterEntryCreate,
           errors=(403, 404, 409, 422), params=ROSTER_PARAMS)
def add_entry(kind: str, period: str):
    """Put an enterprise on a draft with the reason for inclusion (and the tier, in the pool)."""
    edition = _load_edition(kind, period, Action.EDIT)
    domain.ensure_editable(edition)  # a frozen or in-review edition refuses before anything else is read
    data = body(RosterEntryCreate)
    enterprise = _load_enterprise(data["enterprise_id"])
    entry = domain.add_entry(current_user(), edition, enterprise, data["reason"], data.get("tier"))
    db.session.commit()
    return created(entry_json(entry), "api.get_entry", kind=edition.kind.value, period=edition.period,
                   enterprise_id=enterprise.id)


@bp.get("/rosters/<kind>/editions/<period>/entries/<int:enterprise_id>")
@operation("版本中的一家企业", ok=RosterEntry, errors=(404,), params=ROSTER_PARAMS)
def get_entry(kind: str, period: str, enterprise_id: int):
    edition = _load_edition(kind, period, Action.VIEW)
    return entry_json(_load_entry(edition, enterprise_id))


@bp.patch("/rosters/<kind>/editions/<period>/entries/<int:enterprise_id>")
@operation("修改草稿中企业的入库理由或层级", ok=RosterEntry, body=RosterEntryPatch, errors=(403, 404, 409, 422),
           params=ROSTER_PARAMS)
def patch_entry(kind: str, period: str, enterprise_id: int):
    """Change the reason or the tier of an entry of a draft (only the fields given)."""
    edition = _load_edition(kind, period, Action.EDIT)
    enterprise = _load_enterprise(enterprise_id)
    domain.ensure_editable(edition)
    data = body(RosterEntryPatch)
    entry = domain.update_entry(current_user(), edition, enterprise, reason=data.get("reason"), tier=data.get("tier"))
    db.session.commit()
    return entry_json(entry)


@bp.delete("/rosters/<kind>/editions/<period>/entries/<int:enterprise_id>")
@operation("把企业移出草稿(需填写移出理由)", ok=None, status=204, body=RosterEntryRemove, errors=(403, 404, 409, 422),
           params=ROSTER_PARAMS)
def remove_entry(kind: str, period: str, enterprise_id: int):
    """Take an enterprise off a draft; the reason (required) is kept and shown in the diff."""
    edition = _load_edition(kind, period, Action.EDIT)
    enterprise = _load_enterprise(enterprise_id)
    domain.ensure_editable(edition)
    data = check(RosterEntryRemove, _optional_body())
    domain.remove_entry(current_user(), edition, enterprise, data.get("reason"))
    db.session.commit()
    return "", 204


# --- review ------------------------------------------------------------------------------------------------

@bp.post("/rosters/<kind>/editions/<period>/submit")
@operation("提交审核(市级协调员、管理员)", ok=RosterEdition, body=RosterSubmit, body_required=False,
           errors=(403, 404, 409, 422), params=ROSTER_PARAMS)
def submit_edition(kind: str, period: str):
    """Send a draft for review (city-wide coordinators and admins)."""
    edition = _load_edition(kind, period, Action.PUBLISH)
    domain.ensure_editable(edition)
    data = check(RosterSubmit, _optional_body())
    _check_version(edition, data)
    domain.submit(current_user(), edition)
    db.session.commit()
    return _edition_out(edition)


@bp.post("/rosters/<kind>/editions/<period>/return")
@operation("退回修改(需填写退回意见)", ok=RosterEdition, body=RosterReturn, errors=(403, 404, 409, 422),
           params=ROSTER_PARAMS)
def return_edition(kind: str, period: str):
    """Send an edition in review back to draft, with a comment (required)."""
    edition = _load_edition(kind, period, Action.PUBLISH)
    if edition.frozen:
        domain.ensure_editable(edition)  # 409 "frozen", whatever the body says
    data = body(RosterReturn)
    _check_version(edition, data)
    domain.return_edition(current_user(), edition, data.get("comment"))
    db.session.commit()
    return _edition_out(edition)


@bp.post("/rosters/<kind>/editions/<period>/publish")
@operation("发布审核中的版本(上一期已发布版本标记为被替代;全部写入或全部不写)", ok=RosterEdition, body=RosterPublish,
           body_required=False, errors=(403, 404, 409, 422), params=ROSTER_PARAMS)
def publish_edition(kind: str, period: str):
    """Publish a reviewed edition; the previously published one is superseded, all in one transaction."""
    edition = _load_edition(kind, period, Action.PUBLISH)
    if edition.frozen:
        domain.ensure_editable(edition)
    data = check(RosterPublish, _optional_body())
    _check_version(edition, data)
    domain.publish(current_user(), edition)
    db.session.commit()
    return _edition_out(edition)


# --- diff --------------------------------------------------------------------------------------------------

@bp.get("/rosters/<kind>/diff")
@operation("比较两期版本:新增、移出(含理由)、层级变化", ok=RosterDiff, query=DiffQuery, errors=(404,),
           params=ROSTER_PARAMS)
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
    return dump(RosterDiff.model_validate({
        "kind": roster.value, "from": result.from_period, "to": result.to_period, "added": result.added,
        "removed": result.removed, "tier_changed": result.tier_changed}))
