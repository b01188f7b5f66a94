"""InteractionRow endpoints (API.md, "Service"): 服务记录.

Each endpoint parses, loads the record, asks ``access.require`` (not visible → 404, visible but not editable —
a leader — → 403), calls :mod:`crm.service.interactions`, commits once and serialises. A correction
loads its record with ``lock_interaction`` (:mod:`crm.core.transactions`: one write-lock mechanism), so two
clients writing at once queue instead of failing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa
from flask import request
from pydantic import Field
from sqlalchemy.orm import selectinload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, page_of
from crm.api.loading import BAD_QUERY, MAX_ID, body_enterprise, found, get_or_404, query_id
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    Input,
    PageQuery,
    Parsed,
    Shape,
    body,
    code,
    dump,
    operation,
    page_model,
)
from crm.auth.models import Specialty, User
from crm.core.access import Action
from crm.core.errors import DomainError
from crm.core.time import isoformat_local
from crm.extensions import db
from crm.service import interactions as interaction_domain
from crm.service.models import Channel
from crm.service.models import Interaction as InteractionRow

_CHANNEL_TEXT = "、".join(f"{c.value} {c.label}" for c in Channel)
_SPECIALTY_TEXT = "、".join(f"{s.value} {s.label}" for s in Specialty)


# --- shapes ----------------------------------------------------------------------------------------------------

class InteractionFields(Input):
    INVALID: ClassVar[str] = interaction_domain.INVALID_MESSAGE
    date: Parsed[dt.date] = Field(description="服务日期,不晚于今天,不早于2000-01-01")
    channel: Parsed[code(Channel)] = Field(description=_CHANNEL_TEXT)
    specialty: Parsed[code(Specialty)] = Field(description=f"服务领域({_SPECIALTY_TEXT});服务专员只能填本人的专长")
    participants: Parsed[str] = Field("", description=f"参与人员,最长{interaction_domain.PARTICIPANTS_MAX}字")
    summary: Parsed[str] = Field(description=f"服务内容摘要,最长{interaction_domain.SUMMARY_MAX}字")
    next_follow_up: Parsed[dt.date | None] = Field(None, description="下次跟进日期,不早于服务日期")


class InteractionCreate(InteractionFields):
    """登记服务记录"""

    enterprise_id: Parsed[int] = Field(description="企业 id")


class InteractionPatch(InteractionFields):
    """只修改给出的字段;服务专员只能修改本人登记的记录"""

    date: Parsed[dt.date] = None
    channel: Parsed[code(Channel)] = None
    specialty: Parsed[code(Specialty)] = None
    summary: Parsed[str] = None
    version: Parsed[int] = Field(None, description="过期则 409(stale),不写入任何内容")


class Interaction(Shape):
    """服务记录"""

    id: int
    enterprise_id: int
    enterprise: str = Field(description="企业名称")
    date: DateStr
    channel: code(Channel)
    channel_label: str = Field(examples=["走访"])
    specialty: code(Specialty)
    specialty_label: str = Field(examples=["科技"])
    participants: str
    summary: str
    next_follow_up: DateStr | None
    created_by: str | None = Field(description="用户名")
    created_by_name: str | None
    created_at: DateTimeStr
    version: int = Field(description="乐观锁版本,PATCH 时回传")

    @classmethod
    def of(cls, item: InteractionRow) -> Interaction:
        author = item.created_by
        return cls(
            id=item.id, enterprise_id=item.enterprise_id, enterprise=item.enterprise.name,
            date=item.occurred_on.isoformat(), channel=item.channel.value, channel_label=item.channel.label,
            specialty=item.specialty.value, specialty_label=item.specialty.label, participants=item.participants,
            summary=item.summary, next_follow_up=item.next_follow_up.isoformat() if item.next_follow_up else None,
            created_by=author.username if author else None, created_by_name=author.display_name if author else None,
            created_at=isoformat_local(item.created_at), version=item.version)


class InteractionsQuery(PageQuery):
    enterprise_id: int | None = Field(None, ge=1, description="企业 id")
    commissioner: str = Field("", description="登记人用户名")
    since: dt.date | None = Field(None, description="服务日期起(含)")
    until: dt.date | None = Field(None, description="服务日期止(含)")


def interaction_json(item: InteractionRow) -> dict[str, Any]:
    return dump(Interaction.of(item))


def _query_date(name: str, label: str):
    fields: dict[str, str] = {}
    value = interaction_domain.parse_date(request.args.get(name), name, fields, label=label)
    if fields:
        raise DomainError(BAD_QUERY, fields)
    return value


# --- endpoints -------------------------------------------------------------------------------------------------

@bp.get("/interactions")
@operation("调用者可见的服务记录,最新在前", ok=page_model(Interaction, "InteractionPage"), query=InteractionsQuery,
           errors=(422,))
def list_interactions():
    """服务记录 the caller may see, newest first; ``?enterprise_id=&commissioner=&since=&until=&page=``."""
    user = current_user()
    commissioner_id = None
    commissioner = request.args.get("commissioner", "").strip()
    if commissioner:
        commissioner_id = db.session.scalar(sa.select(User.id).where(User.username == commissioner)) or -1
    stmt = interaction_domain.interactions_statement(
        user, enterprise_id=query_id("enterprise_id"), commissioner_id=commissioner_id,
        since=_query_date("since", "起始日期"), until=_query_date("until", "截止日期"),
    ).options(selectinload(InteractionRow.enterprise), selectinload(InteractionRow.created_by))
    return page_of(stmt, interaction_json)


@bp.post("/interactions")
@operation("登记服务记录", ok=Interaction, status=201, body=InteractionCreate, errors=(403, 404, 409, 422))
def create_interaction():
    """Log a 服务记录 (201, with ``Location``)."""
    data = body(InteractionCreate)
    enterprise = body_enterprise(data, Action.EDIT)
    interaction = interaction_domain.log_interaction(current_user(), enterprise, data)
    db.session.commit()
    return created(interaction_json(interaction), "api.get_interaction", interaction_id=interaction.id)


@bp.get("/interactions/<int:interaction_id>")
@operation("一条服务记录", ok=Interaction, errors=(404,))
def get_interaction(interaction_id: int):
    return interaction_json(get_or_404(InteractionRow, interaction_id, Action.VIEW))


@bp.patch("/interactions/<int:interaction_id>")
@operation("修改服务记录(部分字段)", ok=Interaction, body=InteractionPatch, errors=(403, 404, 409, 422))
def patch_interaction(interaction_id: int):
    """Correct a 服务记录 (only the fields sent); a stale ``version`` → 409, nothing written."""
    data = body(InteractionPatch)
    interaction = interaction_domain.lock_interaction(interaction_id) if interaction_id <= MAX_ID else None
    found(interaction, Action.EDIT)
    interaction_domain.update_interaction(current_user(), interaction, data)
    db.session.commit()
    return interaction_json(interaction)
