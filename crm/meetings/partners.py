"""The 成渝 partner catalogue: the firms local suppliers sell to, kept by coordinators.

The firms the plan names are seeded (``in_plan``) and stay: their name and region are the plan's and cannot be
changed here; their city, industry chain and 统一社会信用代码 may be completed. Partners are never deleted (supply
links, meetings and agreements refer to them).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.core.audit import AuditAction, AuditEntity, diff, record
from crm.core.errors import Conflict, ValidationFailed
from crm.core.parsing import check_version, parse_enum
from crm.enterprises.domain import normalise_uscc, uscc_error
from crm.enterprises.models import EnterprisePartner
from crm.extensions import db
from crm.reference.models import Partner, Region

from .models import MeetingAgreement

NAME_MAX, CITY_MAX, INDUSTRY_MAX = 120, 40, 80
INVALID_MESSAGE = "成渝企业信息有误,请修改标出的字段"
FIELDS = ("name", "region", "city", "industry_chain", "uscc")


def _read(data: dict[str, Any], partner: Partner | None) -> tuple[dict[str, Any], dict[str, str]]:
    """The fields present in ``data`` (all for a new partner) as model values; problems per (API) field."""
    fields: dict[str, str] = {}
    values: dict[str, Any] = {}
    creating = partner is None

    def present(key: str) -> bool:
        return creating or key in data

    for key, column, label, limit, required in (("name", "name", "企业名称", NAME_MAX, True),
                                                 ("city", "city", "所在城市", CITY_MAX, True),
                                                 ("industry_chain", "industry", "所属产业链", INDUSTRY_MAX, False)):
        if not present(key):
            continue
        value = data.get(key)
        value = "" if value is None else value
        if not isinstance(value, str):
            fields[key] = f"{label}应为文字"
            continue
        value = " ".join(value.split())
        if required and not value:
            fields[key] = f"请填写{label}"
        elif len(value) > limit:
            fields[key] = f"{label}最长{limit}个字符"
        else:
            values[column] = value
    if present("region"):
        region = parse_enum(Region, data.get("region"), field="region", what="所在省市", fields=fields, required=True)
        if region is not None:
            values["region"] = region
    if present("uscc"):
        raw = data.get("uscc")
        if raw in (None, ""):
            values["uscc"] = None
        elif not isinstance(raw, str):
            fields["uscc"] = "统一社会信用代码应为文字"
        else:
            problem = uscc_error(raw)
            if problem:
                fields["uscc"] = problem
            else:
                values["uscc"] = normalise_uscc(raw)
    if partner is not None and partner.in_plan:
        for column, key, label in (("name", "name", "名称"), ("region", "region", "所在省市")):
            if column in values and values[column] != getattr(partner, column):
                fields[key] = f"方案列明的成渝企业,{label}不能修改"
    return values, fields


def _check_unique(values: dict[str, Any], own_id: int | None) -> None:
    if values.get("name"):
        clash = db.session.scalar(sa.select(Partner.id).where(Partner.name == values["name"], Partner.id != own_id))
        if clash:
            raise Conflict("成渝企业重复", {"name": "目录中已有同名成渝企业"}, code="duplicate")
    if values.get("uscc"):
        clash = db.session.scalar(sa.select(Partner.id).where(Partner.uscc == values["uscc"], Partner.id != own_id))
        if clash:
            raise Conflict("统一社会信用代码重复", {"uscc": "目录中已有成渝企业使用该统一社会信用代码"},
                           code="duplicate")


def create_partner(actor: Any, data: dict[str, Any]) -> Partner:
    """Add a 成渝 firm to the catalogue (audited)."""
    values, fields = _read(data, None)
    if fields:
        raise ValidationFailed(INVALID_MESSAGE, fields)
    _check_unique(values, None)
    partner = Partner(in_plan=False, **values)
    db.session.add(partner)
    db.session.flush()
    record(actor, AuditEntity.PARTNER, partner.id, AuditAction.CREATE,
           {k: [None, v] for k, v in values.items() if v not in (None, "")},
           summary=f"新增成渝企业 {partner.name}")
    return partner


def update_partner(actor: Any, partner: Partner, data: dict[str, Any], *, version: Any = None) -> Partner:
    """Change the fields present in ``data``; a stale ``version`` → 409 and nothing written."""
    check_version(partner, version)
    values, fields = _read(data, partner)
    if fields:
        raise ValidationFailed(INVALID_MESSAGE, fields)
    _check_unique(values, partner.id)
    changes = diff(partner, values)
    if not changes:
        return partner
    for key, value in values.items():
        setattr(partner, key, value)
    db.session.flush()
    record(actor, AuditEntity.PARTNER, partner.id, AuditAction.UPDATE, changes, summary=f"修改成渝企业 {partner.name}")
    return partner


def partners_statement(*, q: str | None = None, region: Region | str | None = None) -> sa.Select:
    """The catalogue, the plan's firms first, filtered by a name / city / industry fragment and the region."""
    stmt = sa.select(Partner)
    if q and q.strip():
        text = q.strip()
        stmt = stmt.where(sa.or_(Partner.name.contains(text, autoescape=True),
                                 Partner.city.contains(text, autoescape=True),
                                 Partner.industry.contains(text, autoescape=True)))
    if region:
        stmt = stmt.where(Partner.region == Region(region))
    return stmt.order_by(Partner.in_plan.desc(), Partner.region, Partner.id)


def supply_links(partner: Partner) -> list[EnterprisePartner]:
    """The local enterprises supplying this partner (its side of the 一企一档 supply links)."""
    return list(db.session.scalars(sa.select(EnterprisePartner).where(EnterprisePartner.partner_id == partner.id)
                                   .order_by(EnterprisePartner.id)))


def agreements(partner: Partner) -> list[MeetingAgreement]:
    return list(db.session.scalars(sa.select(MeetingAgreement).where(MeetingAgreement.partner_id == partner.id)
                                   .order_by(MeetingAgreement.created_at.desc())))
