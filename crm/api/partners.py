"""Partner catalogue endpoints (API.md, "Meetings and calendar": ``/api/v1/partners``): the 成渝 firms local
suppliers sell to. Everyone signed in reads the catalogue; admins and coordinators keep it (leaders and
commissioners → 403). The firms the plan names stay: their name and region cannot be changed (422).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, page_of
from crm.api.loading import MAX_ID, found, get_or_404
from crm.api.schema import (
    DateTimeStr,
    Input,
    Msg,
    PageQuery,
    Parsed,
    Shape,
    body,
    choice,
    dump,
    one_of,
    operation,
    page_model,
    query,
)
from crm.core.access import Action, scope
from crm.core.errors import Forbidden
from crm.core.time import isoformat_local
from crm.core.transactions import lock_for_update
from crm.extensions import db
from crm.meetings import partners as domain
from crm.meetings.access import may_keep_partners
from crm.reference.models import Partner as PartnerRow
from crm.reference.models import Region

REGIONS = [r.value for r in Region]
NOT_KEEPER = "只有管理员和协调员可以维护成渝企业目录"
RegionName = Annotated[one_of(REGIONS), Field(description="所在省市:重庆 或 四川", examples=["重庆"])]


# --- shapes -------------------------------------------------------------------------------------------------

class PartnerFields(Input):
    """The editable fields, as POST and PATCH take them (the domain parses the values)."""

    INVALID: ClassVar[str] = domain.INVALID_MESSAGE
    name: Parsed[str] = Field(description=f"企业名称(目录内唯一),最长{domain.NAME_MAX}字;方案列明的企业不能改名")
    city: Parsed[str] = Field(description=f"所在城市,最长{domain.CITY_MAX}字", examples=["成都"])
    region: Parsed[RegionName]
    industry_chain: Parsed[str] = Field("", description=f"所属产业链,最长{domain.INDUSTRY_MAX}字",
                                        examples=["汽车"])
    uscc: Parsed[str | None] = Field(None, description="统一社会信用代码(可不填);小写与空格会被规范化,校验位必须正确",
                                     examples=["91500000202801254C"])


class PartnerCreate(PartnerFields):
    """新增成渝企业"""


class PartnerPatch(PartnerFields):
    """只修改给出的字段"""

    name: Parsed[str] = None
    city: Parsed[str] = None
    region: Parsed[RegionName] = None
    version: Parsed[int] = Field(None, description="乐观锁版本;过期则 409 stale,不写入任何内容")


class Partner(Shape):
    """成渝企业(目录)"""

    id: int
    name: str
    region: RegionName
    city: str
    industry_chain: str
    uscc: str | None
    in_plan: bool = Field(description="工作方案列明的企业(名称和所在省市不能修改)")
    version: int = Field(description="乐观锁版本,PATCH 时可回传")
    created_at: DateTimeStr
    updated_at: DateTimeStr

    @classmethod
    def of(cls, p: PartnerRow) -> Partner:
        return cls(id=p.id, name=p.name, region=p.region.value, city=p.city or "", industry_chain=p.industry or "",
                   uscc=p.uscc, in_plan=p.in_plan, version=p.version, created_at=isoformat_local(p.created_at),
                   updated_at=isoformat_local(p.updated_at))


class PartnersQuery(PageQuery):
    q: str = Field("", description="名称、城市或产业链片段")
    region: Annotated[choice(REGIONS), Msg("region 只能是 " + " 或 ".join(REGIONS))] = Field(
        None, description="所在省市")


def partner_json(p: PartnerRow) -> dict[str, Any]:
    return dump(Partner.of(p))


# --- endpoints -----------------------------------------------------------------------------------------------

@bp.get("/partners")
@operation("成渝企业目录(方案列明的在前)", ok=page_model(Partner, "PartnerPage"), query=PartnersQuery)
def list_partners():
    args = query(PartnersQuery)
    stmt = domain.partners_statement(q=args.q or None, region=args.region or None)
    return page_of(scope(current_user(), PartnerRow, stmt, Action.VIEW), partner_json)


@bp.post("/partners")
@operation("新增成渝企业(管理员、协调员)", ok=Partner, status=201, body=PartnerCreate, errors=(403, 409, 422))
def create_partner():
    user = current_user()
    if not may_keep_partners(user):
        raise Forbidden(NOT_KEEPER)
    data = body(PartnerCreate)
    partner = domain.create_partner(user, data)
    db.session.commit()
    return created(partner_json(partner), "api.get_partner", partner_id=partner.id)


@bp.get("/partners/<int:partner_id>")
@operation("一家成渝企业", ok=Partner, errors=(404,))
def get_partner(partner_id: int):
    return partner_json(get_or_404(PartnerRow, partner_id, Action.VIEW))


@bp.patch("/partners/<int:partner_id>")
@operation("修改成渝企业(部分字段);版本过期 409 stale;重复名称或代码 409", ok=Partner, body=PartnerPatch,
           errors=(403, 404, 409, 422))
def patch_partner(partner_id: int):
    user = current_user()
    partner = found(lock_for_update(PartnerRow, partner_id) if partner_id <= MAX_ID else None, Action.EDIT)
    if not may_keep_partners(user):
        raise Forbidden(NOT_KEEPER)
    data = body(PartnerPatch)
    domain.update_partner(user, partner, data, version=data.get("version"))
    db.session.commit()
    return partner_json(partner)
