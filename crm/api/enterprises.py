"""Enterprise endpoints (API.md, "Enterprises"): parse, load, require, call the domain, commit, serialise."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import Field

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, number, page_of
from crm.api.loading import get_or_404
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    Flag,
    Input,
    Msg,
    PageQuery,
    Parsed,
    Shape,
    body,
    choice,
    code,
    dump,
    dump_many,
    operation,
    page_model,
    query,
    str_code,
)
from crm.core.access import Action, require
from crm.core.audit import AuditLog
from crm.core.time import isoformat_local
from crm.enterprises.domain import (
    LIST_KINDS,
    SORTS,
    children_of,
    counted_with_page,
    create_enterprise,
    history_statement,
    kept_search_statement,
    listed,
    set_figure,
    update_enterprise,
)
from crm.enterprises.models import Enterprise as EnterpriseRow
from crm.enterprises.models import EnterpriseFigure, EnterpriseStatus
from crm.extensions import db

# --- shapes ---------------------------------------------------------------------------------------------------

class Contact(Shape):
    """企业联系人"""

    id: int
    name: str
    post: str
    phone: str


class Figure(Shape):
    """某年产值"""

    year: int = Field(ge=2000, le=2100)
    output_value: float = Field(description="产值,万元")
    chengyu_output_value: float = Field(description="成渝配套产值,万元")
    above_scale: bool | None = Field(description="当年是否规上;null:未填,按企业当前的规上标记")

    @classmethod
    def of(cls, f: EnterpriseFigure) -> Figure:
        return cls(year=f.year, output_value=number(f.output_value),
                   chengyu_output_value=number(f.chengyu_output_value), above_scale=f.above_scale)


class PartnerLink(Shape):
    partner: str = Field(description="成渝企业名称")
    supplies: str


class EnterpriseFields(Input):
    INVALID: ClassVar[str] = "企业信息有误"
    """The editable fields, as POST and PATCH take them (the domain parses the values)."""

    name: Parsed[str] = Field(description="企业名称(规范化后唯一),最长120字")
    uscc: Parsed[str] = Field(description="统一社会信用代码;小写与空格会被规范化,校验位必须正确",
                              examples=["91520300000000001X"])
    county: Parsed[str] = Field(description="区县名称", examples=["汇川区"])
    park: Parsed[str | None] = Field(None, description="园区名称(须在该区县)")
    cluster: Parsed[str] = Field(description="产业集群名称", examples=["航空航天装备"])
    supply_category: Parsed[str | None] = Field(None, description="配套类别名称", examples=["关键零部件"])
    above_scale: Parsed[bool] = Field(False, description="规模以上企业")
    main_products: Parsed[str] = Field("", description="主要产品,最长2000字")
    settled_from_chengyu: Parsed[bool] = Field(False, description="成渝企业落户;为真时须填 settled_on")
    settled_on: Parsed[date | None] = None
    status: Parsed[code(EnterpriseStatus)] = EnterpriseStatus.ACTIVE.value


class EnterpriseCreate(EnterpriseFields):
    """新建企业"""


class EnterprisePatch(EnterpriseFields):
    """只修改给出的字段"""

    name: Parsed[str] = None
    uscc: Parsed[str] = None
    county: Parsed[str] = None
    cluster: Parsed[str] = None
    version: Parsed[int] = Field(None, description="乐观锁版本;过期则 409,不写入任何内容")


class FigureInput(Input):
    INVALID: ClassVar[str] = "产值数据有误"
    output_value: Parsed[float | str] = Field(description="产值,万元,最多两位小数,不小于0")
    chengyu_output_value: Parsed[float | str] = Field(0, description="成渝配套产值,万元,不大于产值")
    above_scale: Parsed[bool | None] = Field(None, description="当年是否规上(true/false);null 清除;不给则不改")


class Enterprise(Shape):
    """企业档案"""

    id: int
    name: str
    uscc: str
    county: str
    park: str | None
    cluster: str
    supply_category: str | None
    above_scale: bool
    main_products: str
    settled_from_chengyu: bool
    settled_on: DateStr | None
    status: code(EnterpriseStatus)
    is_demo: bool = Field(description="演示数据")
    version: int = Field(description="乐观锁版本,PATCH 时可回传")
    created_at: DateTimeStr
    updated_at: DateTimeStr
    contacts: list[Contact]
    figures: list[Figure]
    partners: list[PartnerLink]

    @classmethod
    def of(cls, e: EnterpriseRow) -> Enterprise:
        return cls(
            id=e.id, name=e.name, uscc=e.uscc, county=e.county.name, park=e.park.name if e.park else None,
            cluster=e.cluster.name, supply_category=e.supply_category.name if e.supply_category else None,
            above_scale=e.above_scale, main_products=e.main_products, settled_from_chengyu=e.settled_from_chengyu,
            settled_on=e.settled_on.isoformat() if e.settled_on else None, status=e.status.value,
            is_demo=e.is_demo, version=e.version, created_at=isoformat_local(e.created_at),
            updated_at=isoformat_local(e.updated_at),
            contacts=[Contact(id=c.id, name=c.name, post=c.post, phone=c.phone) for c in e.contacts],
            figures=[Figure.of(f) for f in e.figures],
            partners=[PartnerLink(partner=link.partner.name, supplies=link.supplies) for link in e.partner_links])

    # The list's columns (read by crm.enterprises.domain.listed, which adds the reference names).
    LIST_COLUMNS: ClassVar[tuple[Any, ...]] = (
        EnterpriseRow.id, EnterpriseRow.name, EnterpriseRow.uscc, EnterpriseRow.above_scale,
        EnterpriseRow.main_products, EnterpriseRow.settled_from_chengyu, EnterpriseRow.settled_on,
        EnterpriseRow.status, EnterpriseRow.is_demo, EnterpriseRow.version, EnterpriseRow.created_at,
        EnterpriseRow.updated_at)

    @classmethod
    def page_of_rows(cls, rows: list[Any]) -> list[dict[str, Any]]:
        """A list page's JSON objects from its rows (``LIST_COLUMNS`` and the names) and what hangs off them, read
        in one statement: the same values as :meth:`of` of each entity (tests/api/test_enterprise_list.py
        compares them), checked and serialised by this declaration once for the page (:func:`dump_many`)
        instead of a model object per enterprise, contact, figure and partner."""
        children = children_of([row.id for row in rows])
        contacts, figures, links = children.contacts, children.figures, children.partner_links
        return dump_many(cls, [{
            "id": row.id, "name": row.name, "uscc": row.uscc, "county": row.county, "park": row.park,
            "cluster": row.cluster, "supply_category": row.supply_category, "above_scale": row.above_scale,
            "main_products": row.main_products, "settled_from_chengyu": row.settled_from_chengyu,
            "settled_on": row.settled_on.isoformat() if row.settled_on else None, "status": row.status.value,
            "is_demo": row.is_demo, "version": row.version, "created_at": isoformat_local(row.created_at),
            "updated_at": isoformat_local(row.updated_at),
            "contacts": [{"id": n, "name": name, "post": post, "phone": phone}
                         for n, name, post, phone in contacts.get(row.id, ())],
            "figures": [{"year": year, "output_value": number(value), "chengyu_output_value": number(chengyu),
                         "above_scale": flag} for year, value, chengyu, flag in figures.get(row.id, ())],
            "partners": [{"partner": partner, "supplies": supplies} for partner, supplies in links.get(row.id, ())],
        } for row in rows])


class HistoryEntry(Shape):
    """一条审计记录"""

    at: DateTimeStr
    actor: str
    entity_type: str = Field(examples=["enterprise"])
    entity_id: int
    action: str = Field(examples=["update"])
    summary: str
    changes: dict[str, list[Any]] = Field(description="字段 → [旧值, 新值]")

    @classmethod
    def of(cls, row: AuditLog) -> HistoryEntry:
        return cls(at=isoformat_local(row.at), actor=row.actor_name, entity_type=str_code(row.entity_type),
                   entity_id=row.entity_id, action=str_code(row.action), summary=row.summary,
                   changes=row.changes or {})


Year = Annotated[int, Field(ge=2000, le=2100, description="年份")]


class EnterpriseQuery(PageQuery):
    q: str = Field("", description="名称、拼音首字母或统一社会信用代码片段")
    county: str = Field("", description="区县名称")
    cluster: str = Field("", description="产业集群名称")
    supply_category: str = Field("", description="配套类别名称")
    above_scale: Annotated[Flag, Msg("above_scale 只能是 true 或 false")] = Field(None, description="是否规上")
    roster: str = Field("", description="名单类型(supplier_list / cultivation_pool)")
    sort: Annotated[choice(SORTS), Msg("排序方式只能是 " + "、".join(SORTS))] = Field("name", description="排序")


def enterprise_json(e: EnterpriseRow) -> dict[str, Any]:
    return dump(Enterprise.of(e))


def figure_json(f: EnterpriseFigure) -> dict[str, Any]:
    return dump(Figure.of(f))


def history_json(row: AuditLog) -> dict[str, Any]:
    return dump(HistoryEntry.of(row))


# --- helpers -----------------------------------------------------------------------------------------------

def _load(enterprise_id: int, action: Action) -> EnterpriseRow:
    """The enterprise if the caller may do ``action`` to it: 404 when they may not even see it, else 403."""
    return get_or_404(EnterpriseRow, enterprise_id, action)


def _list_args() -> dict[str, str]:
    """Filters of the list, checked for shape only (what they mean is the domain's business)."""
    args = query(EnterpriseQuery)
    return {"q": args.q, "county": args.county, "cluster": args.cluster, "supply_category": args.supply_category,
            "roster": args.roster, "sort": args.sort,
            "above_scale": "" if args.above_scale is None else "1" if args.above_scale else "0"}


# --- endpoints ---------------------------------------------------------------------------------------------

@bp.get("/enterprises")
@operation("调用者可见的企业列表", ok=page_model(Enterprise), query=EnterpriseQuery, errors=(422,))
def list_enterprises():
    """Enterprises the caller may see, filtered, sorted and paginated.

    Without any filter, for a user who sees the whole registry, and a registry of at least 50,000 enterprises
    (PostgreSQL), ``total`` is the database's estimate and the answer carries ``X-Total-Estimated: true``; any
    filter or a narrower scope gives an exact count."""
    # deep pages by key; the unfiltered total of a large registry estimated (X-Total-Estimated says so); the page
    # read as plain columns, what hangs off it in one statement, serialised once (Enterprise.page_of_rows)
    args = _list_args()
    return page_of(kept_search_statement(current_user(), args), serialise_page=Enterprise.page_of_rows,
                   key=EnterpriseRow.id, estimate=EnterpriseRow.__tablename__,
                   rows=lambda narrowed: listed(narrowed, *Enterprise.LIST_COLUMNS),
                   count_with_page=counted_with_page(args), kept=("enterprises.api", LIST_KINDS))


@bp.post("/enterprises")
@operation("新建企业档案(管理员、协调员)", ok=Enterprise, status=201, body=EnterpriseCreate, errors=(403, 409, 422))
def create_enterprise_view():
    user = current_user()
    require(user, Action.CREATE)
    data = body(EnterpriseCreate)
    enterprise = create_enterprise(user, data)
    db.session.commit()
    return created(enterprise_json(enterprise), "api.get_enterprise", enterprise_id=enterprise.id)


@bp.get("/enterprises/<int:enterprise_id>")
@operation("企业档案", ok=Enterprise, errors=(404,))
def get_enterprise(enterprise_id: int):
    return enterprise_json(_load(enterprise_id, Action.VIEW))


@bp.patch("/enterprises/<int:enterprise_id>")
@operation("修改企业档案(部分字段)", ok=Enterprise, body=EnterprisePatch, errors=(403, 404, 409, 422))
def patch_enterprise(enterprise_id: int):
    """Partial update; a stale ``version`` is refused with 409 and nothing is written."""
    enterprise = _load(enterprise_id, Action.EDIT)
    data = body(EnterprisePatch)
    update_enterprise(current_user(), enterprise, data, partial=True)
    db.session.commit()
    return enterprise_json(enterprise)


@bp.put("/enterprises/<int:enterprise_id>/figures/<year>")
@operation("录入(201)或修改(200)某年产值(万元)", ok=Figure, responses={201: Figure}, body=FigureInput,
           errors=(403, 404, 409, 422), params={"year": Year})
def put_figure(enterprise_id: int, year: str):
    """Set one year's 产值 (万元): 201 when the year is new, 200 when it replaced an earlier figure."""
    enterprise = _load(enterprise_id, Action.EDIT)
    data = body(FigureInput)
    known_years = {f.year for f in enterprise.figures}
    figure = set_figure(current_user(), enterprise, year, data)
    db.session.commit()
    return figure_json(figure), 200 if figure.year in known_years else 201


@bp.get("/enterprises/<int:enterprise_id>/history")
@operation("企业的审计记录,最新在前", ok=page_model(HistoryEntry, "HistoryPage"), query=PageQuery, errors=(404,))
def enterprise_history(enterprise_id: int):
    """The audit trail of the enterprise and what hangs off it, newest first."""
    enterprise = _load(enterprise_id, Action.VIEW)
    return page_of(history_statement(enterprise.id, current_user()), history_json)
