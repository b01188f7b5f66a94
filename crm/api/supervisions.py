"""专项督导 endpoints (not in API.md; designed like its 诉求 endpoints): supervision visits with their rectification
items, the items ledger and their transitions.

- ``GET|POST /api/v1/supervisions`` — ``POST {"visited_on","department"|"county","task","subject","findings",
  "items": [{"description","department","owner","due_workdays"|"due_date"}]}`` → 201 with the visit;
- ``GET|PATCH /api/v1/supervisions/<id>``; ``POST /api/v1/supervisions/<id>/items`` → 201 with the item;
- ``GET /api/v1/rectification-items?department=&status=&overdue=&supervision_id=``;
  ``GET /api/v1/rectification-items/<id>``; ``POST /api/v1/rectification-items/<id>/transition``
  ``{"to","note","version"}``.

Who may: coordinators and admins record (a county coordinator in their county), leaders read, a department
liaison reads and moves their unit's items (start, report done), commissioners nothing
(:mod:`crm.tasks.supervision_access`). A record the caller may not see answers 404, like an id never used.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from flask import request
from pydantic import Field
from sqlalchemy.orm import selectinload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, page_of
from crm.api.loading import MAX_ID, found, get_or_404, query_bool, query_id
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    Input,
    Msg,
    PageQuery,
    Parsed,
    Shape,
    body,
    code,
    dump,
    operation,
    page_model,
)
from crm.core.access import Action, can
from crm.core.errors import Forbidden
from crm.core.time import isoformat_local
from crm.extensions import db
from crm.tasks import supervision as domain
from crm.tasks.models import RectificationItem as ItemRow
from crm.tasks.models import RectificationStatus
from crm.tasks.models import SupervisionVisit as VisitRow
from crm.tasks.supervision_access import may_record

Status = code(RectificationStatus)
_TRANSITIONS_TEXT = ";".join(f"{s.value} → " + "/".join(t.value for t in targets)
                             for s, targets in domain.TRANSITIONS.items())
NOT_ALLOWED = "只有协调员或管理员可以记录专项督导"


# --- shapes ----------------------------------------------------------------------------------------------------

class RectificationItemCreate(Input):
    """添加整改事项"""

    INVALID: ClassVar[str] = domain.ITEM_INVALID
    description: Parsed[str] = Field(description=f"整改事项,最长{domain.TEXT_MAX}字")
    department: Parsed[str | None] = Field(None, description="整改责任单位名称;不填为被督导单位",
                                           examples=["市自然资源局"])
    owner: Parsed[str | None] = Field(None, description="责任人用户名:该单位的在职联络员")
    due_workdays: Parsed[int | None] = Field(None, description="整改时限:督导日后的工作日数(1–250,按节假日安排计算)")
    due_date: Parsed[DateStr | None] = Field(None, description="或整改截止日期(休息日顺延至下一个工作日);两者填一项")


class SupervisionCreate(Input):
    """记录专项督导"""

    INVALID: ClassVar[str] = domain.VISIT_INVALID
    visited_on: Parsed[DateStr] = Field(description="督导日期,不晚于今天")
    department: Parsed[str | None] = Field(None, description="被督导单位名称(与 county 填一项)")
    county: Parsed[str | None] = Field(None, description="被督导区县名称:被督导单位为该区县人民政府")
    task: Parsed[int | str | None] = Field(None, description="涉及的重点任务:id,或 task:16 / safeguard:3")
    subject: Parsed[str] = Field(description=f"督导事项,最长{domain.SUBJECT_MAX}字")
    findings: Parsed[str | None] = Field(None, description="督导发现")
    items: Parsed[list[dict[str, Any]] | None] = Field(
        None, description="整改事项(可随后添加),每项字段同“添加整改事项”:description、department、owner、"
                          "due_workdays 或 due_date")


class SupervisionUpdate(Input):
    """修改专项督导(只改所给字段)"""

    INVALID: ClassVar[str] = domain.VISIT_INVALID
    visited_on: Parsed[DateStr | None] = None
    department: Parsed[str | None] = None
    county: Parsed[str | None] = None
    task: Parsed[int | str | None] = None
    subject: Parsed[str | None] = None
    findings: Parsed[str | None] = None
    version: Parsed[int | None] = Field(None, description="过期则 409(stale),不写入任何内容")


class ItemTransition(Input):
    """变更整改事项状态"""

    INVALID: ClassVar[str] = "状态变更有误"
    to: Annotated[Parsed[Status], Msg("请提供目标状态 to")] = Field(description=_TRANSITIONS_TEXT)
    note: Annotated[str | None, Msg("说明必须是文本")] = Field(
        None, description="整改完成(done)时为整改情况,必填;退回重新整改时为原因,必填")
    version: Parsed[int | None] = Field(None, description="过期则 409(stale),不写入任何内容")


class RectificationItem(Shape):
    """整改事项"""

    id: int
    supervision_id: int
    description: str
    department: str | None = Field(description="整改责任单位名称")
    owner: str | None = Field(description="责任人用户名")
    owner_name: str | None
    due_date: DateStr = Field(description="整改时限")
    status: Status
    status_label: str = Field(examples=["整改中"])
    overdue: bool = Field(description="待整改或整改中且已过整改时限")
    allowed_next: list[Status] = Field(description=f"调用者可变更为的状态({_TRANSITIONS_TEXT})")
    resolution: str = Field(description="整改情况")
    resolved_at: DateTimeStr | None
    closed_at: DateTimeStr | None
    created_at: DateTimeStr
    updated_at: DateTimeStr
    version: int = Field(description="乐观锁版本,状态变更时回传")

    @classmethod
    def of(cls, item: ItemRow) -> RectificationItem:
        return cls(
            id=item.id, supervision_id=item.supervision_id, description=item.description,
            department=item.department.name if item.department else None,
            owner=item.owner.username if item.owner else None,
            owner_name=item.owner.display_name if item.owner else None, due_date=item.due_date.isoformat(),
            status=item.status.value, status_label=item.status.label, overdue=domain.is_overdue(item),
            allowed_next=[s.value for s in domain.allowed_next(item, current_user())],
            resolution=item.resolution, resolved_at=isoformat_local(item.resolved_at),
            closed_at=isoformat_local(item.closed_at), created_at=isoformat_local(item.created_at),
            updated_at=isoformat_local(item.updated_at), version=item.version)


class Supervision(Shape):
    """专项督导"""

    id: int
    visited_on: DateStr
    department: str | None = Field(description="被督导单位")
    county: str | None = Field(description="被督导单位所在区县(市级部门为 null)")
    task: str | None = Field(description="涉及的重点任务", examples=["重点任务16"])
    task_id: int | None
    subject: str
    findings: str
    items_open: int = Field(description="调用者可见的未完成整改事项数")
    items_overdue: int = Field(description="调用者可见的逾期整改事项数")
    created_by: str | None = Field(description="用户名")
    created_at: DateTimeStr
    updated_at: DateTimeStr
    version: int

    @classmethod
    def fields_of(cls, visit: VisitRow, items: list[ItemRow]) -> dict[str, Any]:
        return dict(
            id=visit.id, visited_on=visit.visited_on.isoformat(),
            department=visit.department.name if visit.department else None,
            county=visit.county.name if visit.county else None, task=visit.task.label if visit.task else None,
            task_id=visit.task_id, subject=visit.subject, findings=visit.findings,
            items_open=sum(1 for i in items if i.status in domain.OPEN_STATUSES),
            items_overdue=sum(1 for i in items if domain.is_overdue(i)),
            created_by=visit.created_by.username if visit.created_by else None,
            created_at=isoformat_local(visit.created_at), updated_at=isoformat_local(visit.updated_at),
            version=visit.version)


class SupervisionDetail(Supervision):
    """专项督导及其整改事项"""

    items: list[RectificationItem] = Field(description="调用者可见的整改事项")


class SupervisionsQuery(PageQuery):
    department: str = Field("", description="被督导单位名称")
    task: str = Field("", description="重点任务 id 或 task:N / safeguard:N")


class ItemsQuery(PageQuery):
    department: str = Field("", description="整改责任单位名称")
    status: Status | None = Field(None, description="状态(可重复或逗号分隔)")
    overdue: bool | None = Field(None, description="true:只看逾期;false:只看未逾期")
    supervision_id: int | None = Field(None, ge=1, description="专项督导 id")


def _visible(visit: VisitRow) -> list[ItemRow]:
    user = current_user()
    return [i for i in visit.items if can(user, Action.VIEW, i)]


def _visit_json(visit: VisitRow) -> dict[str, Any]:
    return dump(Supervision(**Supervision.fields_of(visit, _visible(visit))))


def _detail(visit: VisitRow) -> dict[str, Any]:
    items = _visible(visit)
    return dump(SupervisionDetail(**Supervision.fields_of(visit, items),
                                  items=[RectificationItem.of(i) for i in items]))


def _item_json(item: ItemRow) -> dict[str, Any]:
    return dump(RectificationItem.of(item))


# --- endpoints -------------------------------------------------------------------------------------------------

@bp.get("/supervisions")
@operation("调用者可见的专项督导,督导日期最新在前", ok=page_model(Supervision, "SupervisionPage"),
           query=SupervisionsQuery, errors=(422,))
def list_supervisions():
    stmt = domain.visits_statement(current_user(), department=request.args.get("department", "").strip() or None,
                                   task=request.args.get("task", "").strip() or None)
    stmt = stmt.options(selectinload(VisitRow.items), selectinload(VisitRow.department),
                        selectinload(VisitRow.county), selectinload(VisitRow.task),
                        selectinload(VisitRow.created_by))
    return page_of(stmt, _visit_json)


@bp.post("/supervisions")
@operation("记录专项督导(可同时添加整改事项;整改时限按工作日计算)", ok=SupervisionDetail, status=201,
           body=SupervisionCreate, errors=(403, 422))
def create_supervision():
    if not may_record(current_user()):
        raise Forbidden(NOT_ALLOWED)
    data = body(SupervisionCreate)
    visit = domain.create_visit(current_user(), data)
    db.session.commit()
    return created(_detail(visit), "api.get_supervision", supervision_id=visit.id)


@bp.get("/supervisions/<int:supervision_id>")
@operation("一次专项督导及其整改事项", ok=SupervisionDetail, errors=(404,))
def get_supervision(supervision_id: int):
    return _detail(get_or_404(VisitRow, supervision_id, Action.VIEW))


@bp.patch("/supervisions/<int:supervision_id>")
@operation("修改专项督导(版本过期 409 stale)", ok=SupervisionDetail, body=SupervisionUpdate,
           errors=(403, 404, 409, 422))
def update_supervision(supervision_id: int):
    visit = domain.lock_visit(supervision_id) if supervision_id <= MAX_ID else None
    found(visit, Action.EDIT)
    data = body(SupervisionUpdate)
    version = data.pop("version", None)
    domain.update_visit(current_user(), visit, {k: v for k, v in data.items() if v is not None}, version=version)
    db.session.commit()
    return _detail(visit)


@bp.post("/supervisions/<int:supervision_id>/items")
@operation("为专项督导添加整改事项(通知责任单位联络员)", ok=RectificationItem, status=201,
           body=RectificationItemCreate, errors=(403, 404, 422))
def create_rectification_item(supervision_id: int):
    visit = domain.lock_visit(supervision_id) if supervision_id <= MAX_ID else None
    found(visit, Action.EDIT)
    data = body(RectificationItemCreate)
    item = domain.add_item(current_user(), visit, data)
    db.session.commit()
    return created(_item_json(item), "api.get_rectification_item", item_id=item.id)


def _statuses() -> list[str] | None:
    values = [v.strip() for raw in request.args.getlist("status") for v in raw.split(",") if v.strip()]
    return values or None


@bp.get("/rectification-items")
@operation("整改台账:调用者可见的整改事项,整改时限最早在前", ok=page_model(RectificationItem, "RectificationItemPage"),
           query=ItemsQuery, errors=(400, 422))
def list_rectification_items():
    stmt = domain.items_statement(current_user(), department=request.args.get("department", "").strip() or None,
                                  status=_statuses(), overdue=query_bool("overdue"),
                                  supervision_id=query_id("supervision_id"))
    stmt = stmt.options(selectinload(ItemRow.department), selectinload(ItemRow.owner),
                        selectinload(ItemRow.supervision))
    return page_of(stmt, _item_json)


@bp.get("/rectification-items/<int:item_id>")
@operation("一项整改事项", ok=RectificationItem, errors=(404,))
def get_rectification_item(item_id: int):
    return _item_json(get_or_404(ItemRow, item_id, Action.VIEW))


@bp.post("/rectification-items/<int:item_id>/transition")
@operation("变更整改事项状态(非法变更 409 illegal_transition;联络员不能销号或退回 403;版本过期 409 stale)",
           ok=RectificationItem, body=ItemTransition, errors=(403, 404, 409, 422))
def transition_rectification_item(item_id: int):
    item = domain.lock_item(item_id) if item_id <= MAX_ID else None
    found(item, Action.EDIT)
    data = body(ItemTransition)
    if data.get("to") in (None, ""):
        raise ItemTransition.ERROR(ItemTransition.INVALID, {"to": "请提供目标状态 to"})
    domain.transition(current_user(), item, data["to"], note=data.get("note") or "", version=data.get("version"))
    db.session.commit()
    return _item_json(item)

