"""Request endpoints (API.md, "Service"): 诉求 with their transitions, and the ledger export.

A change loads its request with ``lock_request`` (:mod:`crm.core.transactions`), so the second client moving
the same request waits for the first one and then gets 409 ``stale`` (it sent the old
``version``) or 409 ``illegal_transition`` (the status moved on), never a lost update.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar

import sqlalchemy as sa
from flask import g, request
from pydantic import Field
from sqlalchemy.orm import selectinload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, page_of
from crm.api.loading import MAX_ID, body_enterprise, found, get_or_404, query_bool, query_id
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    File,
    Input,
    Msg,
    PageQuery,
    Parsed,
    Query,
    Shape,
    body,
    code,
    dump,
    operation,
    page_model,
)
from crm.core import spreadsheet
from crm.core.access import Action
from crm.core.errors import Forbidden
from crm.core.time import isoformat_local, local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import requests as request_domain
from crm.service import routing
from crm.service.ledger import XLSX_MIMETYPE, ledger_filename, ledger_xlsx
from crm.service.models import RequestCategory, RequestStatus
from crm.service.models import RequestEvent as RequestEventRow
from crm.service.models import ServiceRequest as ServiceRequestRow

_TRANSITIONS_TEXT = ";".join(f"{s.value} → " + "/".join(t.value for t in targets)
                             for s, targets in request_domain.TRANSITIONS.items())
Status = code(RequestStatus)
Satisfaction = Annotated[int, Field(ge=1, le=5)]


# --- shapes ----------------------------------------------------------------------------------------------------

class ServiceRequestCreate(Input):
    """登记诉求"""

    INVALID: ClassVar[str] = request_domain.INVALID_MESSAGE
    enterprise_id: Parsed[int] = Field(description="企业 id")
    category: Parsed[code(RequestCategory)]
    description: Parsed[str] = Field(description=f"诉求内容,最长{request_domain.DESCRIPTION_MAX}字")
    interaction_id: Parsed[int | None] = Field(None, description="同一企业的服务记录")
    owner: Parsed[str | None] = Field(None, description="负责人用户名;服务专员提出时默认本人;须能办理该企业")
    department: Parsed[str | None] = Field(None, description="责任单位名称", examples=["市工业和科学技术局"])
    raised_on: Parsed[date | None] = Field(None, description="提出日期,默认今天")
    due_date: Parsed[date | None] = Field(None, description="办理时限;不填则按类别的工作日时限(默认10个工作日)自动计算")


class RequestTransition(Input):
    """变更诉求状态"""

    INVALID: ClassVar[str] = "状态变更有误"
    to: Annotated[Parsed[Status], Msg("请提供目标状态 to")] = Field(description=_TRANSITIONS_TEXT)
    note: Annotated[str | None, Msg("说明必须是文本")] = Field(
        None, description=f"说明,最长{request_domain.NOTE_MAX}字;办结(回访情况)和重新办理时必填")
    satisfaction: Parsed[Satisfaction | None] = Field(None, description="回访满意度;resolved → closed 时必填")
    version: Parsed[int] = Field(None, description="过期则 409(stale),不写入任何内容")


class RouteInput(Input):
    """转办 / 改派至责任单位"""

    INVALID: ClassVar[str] = routing.INVALID
    department: Parsed[str] = Field(description="责任单位名称;未知单位 422(department)", examples=["市自然资源局"])
    note: Parsed[str | None] = Field(None, description=f"转办说明,最长{routing.NOTE_MAX}字")


class RequestEvent(Shape):
    """时间线上的一条"""

    at: DateTimeStr
    actor: str | None = Field(description="用户名")
    actor_name: str | None
    from_: Status | None = Field(alias="from", description="首条为 null(登记)")
    to: Status
    to_label: str = Field(examples=["已受理"])
    note: str = Field(description="说明;首条记录办理时限的计算方式")
    satisfaction: Satisfaction | None

    @classmethod
    def of(cls, event: RequestEventRow) -> RequestEvent:
        return cls.model_validate({
            "at": isoformat_local(event.at), "actor": event.actor.username if event.actor else None,
            "actor_name": event.actor.display_name if event.actor else None,
            "from": event.from_status.value if event.from_status else None, "to": event.to_status.value,
            "to_label": event.to_status.label, "note": event.note, "satisfaction": event.satisfaction})


class ServiceRequest(Shape):
    """诉求"""

    id: int
    enterprise_id: int
    enterprise: str = Field(description="企业名称")
    county: str = Field(description="企业所在区县")
    category: code(RequestCategory)
    description: str
    interaction_id: int | None = Field(description="来源服务记录")
    owner: str | None = Field(description="用户名")
    owner_name: str | None
    department: str | None = Field(description="责任单位名称")
    raised_on: DateStr
    due_date: DateStr = Field(description="办理时限")
    due_date_note: str = Field(description="办理时限的计算说明;缺少节假日安排的年份会注明")
    status: Status
    status_label: str = Field(examples=["办理中"])
    overdue: bool = Field(description="未解决/办结且已过办理时限")
    allowed_next: list[Status] = Field(description=f"可变更为的状态({_TRANSITIONS_TEXT})")
    satisfaction: Satisfaction | None
    resolved_at: DateTimeStr | None
    closed_at: DateTimeStr | None
    created_by: str | None = Field(description="用户名")
    created_at: DateTimeStr
    updated_at: DateTimeStr
    version: int = Field(description="乐观锁版本,状态变更时回传")

    @classmethod
    def fields_of(cls, req: ServiceRequestRow) -> dict[str, Any]:
        return dict(
            id=req.id, enterprise_id=req.enterprise_id, enterprise=req.enterprise.name,
            county=req.enterprise.county.name, category=req.category.value, description=req.description,
            interaction_id=req.interaction_id, owner=req.owner.username if req.owner else None,
            owner_name=req.owner.display_name if req.owner else None,
            department=req.department.name if req.department else None, raised_on=req.raised_on.isoformat(),
            due_date=req.due_date.isoformat(), due_date_note=request_domain.due_note(req), status=req.status.value,
            status_label=req.status.label, overdue=request_domain.is_overdue(req),
            allowed_next=[s.value for s in request_domain.allowed_for(g.get("api_user"), req)],
            satisfaction=req.satisfaction,
            resolved_at=isoformat_local(req.resolved_at), closed_at=isoformat_local(req.closed_at),
            created_by=req.created_by.username if req.created_by else None,
            created_at=isoformat_local(req.created_at), updated_at=isoformat_local(req.updated_at),
            version=req.version)


class ServiceRequestDetail(ServiceRequest):
    """诉求及其时间线"""

    events: list[RequestEvent] = Field(description="时间线,最早在前")


class RequestFilters(Query):
    status: Status | None = Field(None, description="状态(可重复或逗号分隔)")
    overdue: bool | None = Field(None, description="true:只看逾期;false:只看未逾期")
    county: str = Field("", description="区县名称")
    category: code(RequestCategory) | None = Field(None, description="诉求类别")
    owner: str = Field("", description="负责人用户名")
    enterprise_id: int | None = Field(None, ge=1, description="企业 id")
    department: str = Field("", description="责任单位名称(部门联络员只看到转办至本单位的诉求)")


class RequestsQuery(RequestFilters, PageQuery):
    pass


def request_json(req: ServiceRequestRow) -> dict[str, Any]:
    return dump(ServiceRequest(**ServiceRequest.fields_of(req)))


def _request_detail(req: ServiceRequestRow) -> dict[str, Any]:
    return dump(ServiceRequestDetail(**ServiceRequest.fields_of(req),
                                     events=[RequestEvent.of(event) for event in req.events]))


# --- endpoints -------------------------------------------------------------------------------------------------

def _request_filters() -> dict[str, Any]:
    statuses = [value.strip() for raw in request.args.getlist("status") for value in raw.split(",")
                if value.strip()]
    return {"status": statuses or None, "overdue": query_bool("overdue"),
            "county": request.args.get("county", "").strip() or None,
            "category": request.args.get("category", "").strip() or None,
            "owner": request.args.get("owner", "").strip() or None,
            "enterprise_id": query_id("enterprise_id"),
            "department": request.args.get("department", "").strip() or None}


def _with_relations(stmt: sa.Select) -> sa.Select:
    return stmt.options(
        selectinload(ServiceRequestRow.enterprise).selectinload(Enterprise.county),
        selectinload(ServiceRequestRow.owner), selectinload(ServiceRequestRow.created_by),
        selectinload(ServiceRequestRow.department), selectinload(ServiceRequestRow.events),
    )


@bp.get("/requests")
@operation("调用者可见的诉求,按提出日期最新在前", ok=page_model(ServiceRequest, "ServiceRequestPage"),
           query=RequestsQuery, errors=(422,))
def list_requests():
    """诉求 the caller may see, newest raised first; ``?status=&overdue=true&county=&category=&owner=
    &enterprise_id=&page=`` (``status`` may repeat or be comma-separated)."""
    stmt = request_domain.requests_statement(current_user(), **_request_filters())
    return page_of(_with_relations(stmt), request_json)


@bp.post("/requests")
@operation("登记诉求(办理时限不填则按工作日自动计算)", ok=ServiceRequestDetail, status=201,
           body=ServiceRequestCreate, errors=(403, 404, 409, 422))
def create_request():
    """Record a 诉求 (201, with ``Location``); ``due_date`` is computed in working days when absent."""
    data = body(ServiceRequestCreate)
    enterprise = body_enterprise(data, Action.EDIT)
    req = request_domain.raise_request(current_user(), enterprise, data)
    db.session.commit()
    return created(_request_detail(req), "api.get_request", request_id=req.id)


@bp.get("/requests/<int:request_id>")
@operation("一条诉求及其时间线", ok=ServiceRequestDetail, errors=(404,))
def get_request(request_id: int):
    """One 诉求 with its timeline (``events``, oldest first)."""
    return _request_detail(get_or_404(ServiceRequestRow, request_id, Action.VIEW))


@bp.post("/requests/<int:request_id>/transition")
@operation("变更诉求状态(非法变更 409 illegal_transition 并列出可变更的状态;版本过期 409 stale)",
           ok=ServiceRequestDetail, body=RequestTransition, errors=(403, 404, 409, 422))
def transition_request(request_id: int):
    """Move a 诉求 to ``to``; illegal → 409 ``illegal_transition`` naming the allowed statuses, stale
    ``version`` → 409 ``stale``; nothing written when refused."""
    req = request_domain.lock_request(request_id) if request_id <= MAX_ID else None
    found(req, Action.EDIT)  # first: a request the caller may not see answers 404 whatever the body says
    data = body(RequestTransition)
    if data.get("to") in (None, ""):
        raise RequestTransition.ERROR(RequestTransition.INVALID, {"to": "请提供目标状态 to"})
    request_domain.transition(current_user(), req, data["to"], note=data.get("note") or "",
                              satisfaction=data.get("satisfaction"), version=data.get("version"))
    db.session.commit()
    return _request_detail(req)


@bp.post("/requests/<int:request_id>/route")
@operation("转办或改派诉求至责任单位(管理员、协调员;区县协调员限本区县企业):审计、时间线、通知该单位的联络员",
           ok=ServiceRequestDetail, body=RouteInput, errors=(403, 404, 422))
def route_request(request_id: int):
    """Route a 诉求 to a department with a note; the old department's liaisons lose it, the new one's gain it."""
    req = request_domain.lock_request(request_id) if request_id <= MAX_ID else None
    found(req, Action.VIEW)  # first: a request the caller may not see answers 404 whatever the body says
    if not routing.may_route(current_user(), req):
        raise Forbidden(routing.NOT_ROUTER)
    data = body(RouteInput)
    routing.route_request(current_user(), req, data.get("department"), data.get("note"))
    db.session.commit()
    return _request_detail(req)


@bp.get("/requests/export.xlsx")
@operation("导出诉求台账 XLSX(序号、企业名称、区县、类别、诉求内容、负责人、责任单位、提出日期、办理时限、状态、"
           "是否逾期、满意度、办结日期),筛选条件同列表", ok=File(XLSX_MIMETYPE), query=RequestFilters, errors=(422,))
def export_requests():
    """The 诉求台账 (XLSX) of every request the list would show with the same filters, oldest raised first."""
    stmt = request_domain.requests_statement(current_user(), **_request_filters())
    stmt = _with_relations(stmt.order_by(None).order_by(ServiceRequestRow.raised_on, ServiceRequestRow.id))
    data = ledger_xlsx(db.session.scalars(stmt))
    return spreadsheet.download(data, XLSX_MIMETYPE, ledger_filename(local_today()))
