"""AssignmentRow endpoints (API.md, "Service"): one commissioner per enterprise and specialty, the history, the
coverage of the listed enterprises and the suggestion. Parse, load, check, call ``crm.service.assignments``,
commit, serialise.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar

from flask import request
from pydantic import Field, create_model

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import json_body, page_of
from crm.api.loading import get_or_404
from crm.api.schema import (
    DateStr,
    Input,
    PageBase,
    PageQuery,
    Parsed,
    Query,
    Shape,
    body,
    check,
    code,
    dump,
    one_of,
    operation,
    page_model,
)
from crm.auth.models import Specialty, User
from crm.core.access import Action
from crm.core.errors import NotFound, ValidationFailed
from crm.core.pagination import parse_page_args
from crm.core.parsing import parse_enum, parse_id
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.rosters.models import RosterKind
from crm.service import assignments as domain
from crm.service import coverage as coverage_domain
from crm.service.interactions import parse_date
from crm.service.models import Assignment as AssignmentRow

# --- shapes -------------------------------------------------------------------------------------------------

SpecialtyCode = code(Specialty)
SpecialtyInPath = Annotated[SpecialtyCode, Field(
    description="专长:tech 科技、finance 融资、legal 法务、media 媒体、talent 人才;未知专长返回 404")]


class Assignment(Shape):
    """一条服务专员分配"""

    id: int
    enterprise_id: int
    specialty: SpecialtyCode
    specialty_label: str = Field(examples=["科技"])
    commissioner: str = Field(description="服务专员用户名")
    commissioner_name: str = Field(description="服务专员姓名")
    started_on: DateStr
    ended_on: DateStr | None = Field(description="在岗时为 null")
    end_reason: str = Field(description="结束原因(交接、已移出名单或填写的原因)")

    @classmethod
    def of(cls, a: AssignmentRow) -> Assignment:
        return cls(id=a.id, enterprise_id=a.enterprise_id, specialty=a.specialty.value,
                   specialty_label=a.specialty.label, commissioner=a.commissioner.username,
                   commissioner_name=a.commissioner.display_name, started_on=a.started_on.isoformat(),
                   ended_on=a.ended_on.isoformat() if a.ended_on else None, end_reason=a.end_reason or "")


class AssignmentPut(Input):
    """分配或交接"""

    INVALID: ClassVar[str] = "分配数据有误"
    commissioner: Parsed[str] = Field(description="服务专员用户名:须为在用的服务专员、具备该专长、不限区县或与企业"
                                                  "同区县,且未达分配上限")
    started_on: Parsed[date] = Field(None, description="开始日期,默认今天,不能晚于今天")


class AssignmentEnd(Input):
    """结束分配"""

    INVALID: ClassVar[str] = "结束分配的数据有误"
    reason: Parsed[str] = Field(description=f"结束原因,最长{domain.MAX_REASON}字")


class CoverageCell(Shape):
    """该专长的在岗服务专员"""

    commissioner: str = Field(description="用户名")
    commissioner_name: str
    started_on: DateStr

    @classmethod
    def of(cls, a: coverage_domain.CoverageCell | None) -> CoverageCell | None:
        if a is None:
            return None
        return cls(commissioner=a.commissioner.username, commissioner_name=a.commissioner.display_name,
                   started_on=a.started_on.isoformat())


CoverageCells = create_model("CoverageCells", __base__=Shape, **{
    s.value: (CoverageCell | None, Field(description=f"{s.label}:在岗服务专员;null 表示缺口(未分配)"))
    for s in domain.SPECIALTIES})
GapCounts = create_model("GapCounts", __base__=Shape, **{
    s.value: (int, Field(ge=0, description=f"{s.label}缺口数")) for s in domain.SPECIALTIES})


class CoverageRow(Shape):
    """名单企业的覆盖情况"""

    enterprise_id: int
    name: str
    uscc: str
    county: str
    cluster: str
    lists: list[code(RosterKind)] = Field(description="所在的当前已发布名单")
    assignments: CoverageCells
    gaps: list[SpecialtyCode]

    @classmethod
    def of(cls, row: coverage_domain.CoverageRow) -> CoverageRow:
        e = row.enterprise
        return cls(enterprise_id=e.id, name=e.name, uscc=e.uscc, county=e.county.name, cluster=e.cluster.name,
                   lists=[k.value for k in row.lists],
                   assignments=CoverageCells(**{s.value: CoverageCell.of(row.cells[s]) for s in domain.SPECIALTIES}),
                   gaps=[s.value for s in row.gaps])


class CoveragePageBase(PageBase):
    gap_counts: GapCounts = Field(description="各专长的缺口数(全部筛选结果,不只本页)")


CoveragePage = page_model(CoverageRow, "CoveragePage", base=CoveragePageBase)


class SuggestedUser(Shape):
    username: str
    display_name: str
    county: str | None = Field(description="所属区县,null 为全市")
    active_assignments: int


class AssignmentSuggestion(Shape):
    """建议的服务专员"""

    enterprise_id: int
    specialty: SpecialtyCode
    cap: int = Field(description="每名服务专员的在岗分配上限")
    commissioner: SuggestedUser | None = Field(description="建议人选;无人可选(无该专长或均已达上限)时为 null")
    current: str | None = Field(description="现任服务专员用户名")
    candidates: int = Field(description="可服务该企业的该专长服务专员人数(含已达上限者)")


class CoverageQuery(PageQuery):
    roster: code(RosterKind) | None = Field(None, description="名单类型;不填为任一当前已发布名单")
    county: str = Field("", description="区县名称")
    cluster: str = Field("", description="产业集群名称")
    missing: one_of(["any", *(s.value for s in Specialty)]) | None = Field(None, description="只看缺口:any 或某一专长")


class SuggestionQuery(Query):
    enterprise_id: int = Field(ge=1, description="企业 id")
    specialty: SpecialtyCode = Field(description="专长")


def assignment_json(a: AssignmentRow) -> dict[str, Any]:
    return dump(Assignment.of(a))


def _user_json(user: User, load: int | None = None) -> SuggestedUser:
    return SuggestedUser(username=user.username, display_name=user.display_name,
                         county=user.county.name if user.county else None,
                         active_assignments=domain.active_count(user) if load is None else load)


# --- helpers -----------------------------------------------------------------------------------------------

def _load_enterprise(enterprise_id: int) -> Enterprise:
    """The enterprise if the caller may see it (404 otherwise, whether or not it exists)."""
    return get_or_404(Enterprise, enterprise_id, Action.VIEW)


def _specialty_in_path(value: str) -> Specialty:
    specialty = domain.parse_specialty(value)
    if specialty is None:
        raise NotFound(f"未知专长:{value[:40]}(可选 tech、finance、legal、media、talent)")
    return specialty


def _date(value: Any, field_name: str) -> date | None:
    if value is None:
        return None
    fields: dict[str, str] = {}
    day = parse_date(value if isinstance(value, str) else None, field_name, fields, label="日期") \
        if isinstance(value, str) else None
    if day is None:
        raise ValidationFailed("日期格式不正确", fields or {field_name: "日期格式应为 YYYY-MM-DD"})
    return day


def _optional_body() -> dict[str, Any]:
    """DELETE may come without a body; one that is there must be a JSON object."""
    return json_body() if request.get_data(cache=True) else {}


# --- endpoints ---------------------------------------------------------------------------------------------

@bp.put("/enterprises/<int:enterprise_id>/assignments/<specialty>")
@operation("分配或交接某专长的服务专员(管理员、协调员;同一人重复分配不变)", ok=Assignment, body=AssignmentPut,
           errors=(403, 404, 409, 422), params={"specialty": SpecialtyInPath})
def put_assignment(enterprise_id: int, specialty: str):
    """Assign (or hand over) the enterprise's commissioner of one specialty; the same one again changes nothing."""
    enterprise = _load_enterprise(enterprise_id)
    spec = _specialty_in_path(specialty)
    user = current_user()
    domain.require_assign(user, enterprise)
    data = body(AssignmentPut)
    commissioner = domain.commissioner_by_username(data.get("commissioner"))
    start = _date(data.get("started_on"), "started_on")
    row = domain.assign(user, enterprise, spec, commissioner, start=start)
    db.session.commit()
    return assignment_json(row)


@bp.get("/enterprises/<int:enterprise_id>/assignments")
@operation("企业的服务专员分配(含历史,在岗者 ended_on 为 null),最新在前",
           ok=page_model(Assignment, "AssignmentPage"), query=PageQuery, errors=(404,))
def list_assignments(enterprise_id: int):
    """Every assignment of the enterprise, active (``ended_on`` null) and ended, newest first."""
    enterprise = _load_enterprise(enterprise_id)
    return page_of(domain.history_statement(enterprise.id), assignment_json)


@bp.delete("/enterprises/<int:enterprise_id>/assignments/<specialty>")
@operation("结束某专长的在岗分配(需填写原因)", ok=None, status=204, body=AssignmentEnd,
           errors=(403, 404, 409, 422), params={"specialty": SpecialtyInPath})
def end_assignment(enterprise_id: int, specialty: str):
    """End the active assignment of one specialty, with a reason; its commissioner is told."""
    enterprise = _load_enterprise(enterprise_id)
    spec = _specialty_in_path(specialty)
    user = current_user()
    domain.require_assign(user, enterprise)
    data = check(AssignmentEnd, _optional_body())
    current = domain.active_for(enterprise, spec)
    if current is None:
        raise NotFound(f"该企业当前没有{spec.label}服务专员")
    domain.end_assignment(user, current, data.get("reason"))
    db.session.commit()
    return "", 204


@bp.get("/assignments/coverage")
@operation("名单企业 × 五类服务专员的覆盖情况(调用者可见的企业)", ok=CoveragePage, query=CoverageQuery,
           errors=(422,))
def coverage():
    """Listed enterprises the caller may see × the five specialties; ``null`` marks a gap."""
    args = request.args
    filters = {name: args.get(name, "") for name in ("roster", "county", "cluster", "missing")}
    # a bad filter is refused (422) before a bad page (400)
    coverage_domain.coverage_statement(current_user(), **filters)
    page, per_page = parse_page_args(args)
    result = coverage_domain.coverage_page(current_user(), page, per_page, **filters)
    return dump(CoveragePage(items=[CoverageRow.of(row) for row in result.page.items], total=result.page.total,
                             page=result.page.page, per_page=result.page.per_page,
                             gap_counts=GapCounts(**{s.value: n for s, n in result.gap_counts.items()})))


@bp.get("/assignments/suggestion")
@operation("建议的服务专员:该专长在岗分配最少者,同区县优先,不超过上限(管理员、协调员)",
           ok=AssignmentSuggestion, query=SuggestionQuery, errors=(403, 404, 422))
def suggestion():
    """Whom to assign: the specialty's commissioner with the fewest active assignments, same county first."""
    args = request.args
    raw_id = args.get("enterprise_id", "").strip()
    fields: dict[str, str] = {}
    if parse_id(raw_id) is None:
        fields["enterprise_id"] = "请提供企业 id(正整数)"
    spec = parse_enum(Specialty, args.get("specialty", ""), field="specialty", what="专长", fields=fields,
                      by_label=True, required=True)
    if fields:
        raise ValidationFailed("查询参数不正确", fields)
    enterprise = _load_enterprise(int(raw_id))
    domain.require_assign(current_user(), enterprise)
    found = domain.candidates(enterprise, spec)
    best = next((c for c in found if not c.at_cap), None)
    current = domain.active_for(enterprise, spec)
    return dump(AssignmentSuggestion(
        enterprise_id=enterprise.id, specialty=spec.value, cap=domain.cap(),
        commissioner=_user_json(best.user, best.load) if best else None,
        current=current.commissioner.username if current else None, candidates=len(found)))
