"""Meeting endpoints (API.md, "Meetings and calendar"): meetings, their participants, what was signed at them
and the 诉求 raised from them.

Each endpoint loads the meeting (a write loads it with ``lock_for_update``, so a second writer waits and then
meets the version check), asks ``access.require`` (a meeting the caller may not see → 404, a write they may not
make → 403: leaders change nothing, commissioners only read the meetings of their enterprises), calls
``crm.meetings.domain``, commits once and serialises. The participants shown are those the caller may read.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, ClassVar

from flask import Response, request, url_for
from pydantic import Field
from sqlalchemy.orm import selectinload

from crm.api import bp
from crm.api.auth import current_user
from crm.api.common import created, number, page_of
from crm.api.loading import BAD_QUERY, MAX_ID, found, get_or_404
from crm.api.notifications import NoInput
from crm.api.requests import RequestEvent, ServiceRequest, ServiceRequestCreate, ServiceRequestDetail
from crm.api.schema import (
    DateStr,
    DateTimeStr,
    File,
    Input,
    Msg,
    PageQuery,
    Parsed,
    Shape,
    body,
    choice,
    code,
    dump,
    one_of,
    operation,
    page_model,
    query,
)
from crm.auth.models import User
from crm.core.access import Action, can, require
from crm.core.errors import DomainError, Forbidden
from crm.core.time import SHANGHAI, isoformat_local
from crm.core.transactions import lock_for_update
from crm.extensions import db
from crm.meetings import domain, feed, ics
from crm.meetings.access import may_plan
from crm.meetings.models import AgreementKind, MeetingKind, MeetingStatus
from crm.meetings.models import Meeting as MeetingRow
from crm.meetings.models import MeetingAgreement as MeetingAgreementRow
from crm.rosters.models import RosterKind
from crm.service.models import ServiceRequest as ServiceRequestRow

NOT_PLANNER = "只有管理员和协调员可以新建会议"
_KIND_TEXT = "、".join(f"{k.value} {k.label}" for k in MeetingKind)
_STATUS_TEXT = "、".join(f"{s.value} {s.label}" for s in MeetingStatus)
AGREEMENT_KINDS = [k.value for k in AgreementKind]
Kind = code(MeetingKind)
Status = code(MeetingStatus)


# --- shapes: input -------------------------------------------------------------------------------------------

class MeetingFields(Input):
    """The editable fields, as POST and PATCH take them (the domain parses the values)."""

    INVALID: ClassVar[str] = domain.INVALID_MESSAGE
    kind: Parsed[Kind] = Field(description=f"会议类型:{_KIND_TEXT}")
    title: Parsed[str] = Field(description=f"会议名称,最长{domain.TITLE_MAX}字")
    starts_at: Parsed[datetime] = Field(
        description="开始时间,带时区的 ISO 8601(2026-07-01T09:00:00+08:00);不带时区按北京时间。"
                    "法定节假日或非调休的周末须同时给出 allow_non_working_day: true,否则 422(字段 starts_at,"
                    "说明节假日名称)",
        examples=["2026-07-01T09:00:00+08:00"])
    ends_at: Parsed[datetime] = Field(description="结束时间,晚于开始时间,最长14天",
                                      examples=["2026-07-01T12:00:00+08:00"])
    venue: Parsed[str] = Field("", description=f"会议地点,最长{domain.VENUE_MAX}字")
    city: Parsed[str] = Field(description="所在城市(重庆、成都等成渝城市举办即计入成渝)", examples=["成都"])
    department: Parsed[str | None] = Field(None, description="组织单位名称", examples=["市工业和科学技术局"])
    status: Parsed[Status] = Field("planned", description="planned 计划中、confirmed 已确定、held 已举办(须已开始);"
                                                          "取消请用 /cancel")
    agenda: Parsed[str] = Field("", description=f"会议议程,最长{domain.TEXT_MAX}字")
    outcome_summary: Parsed[str] = Field("", description=f"成果概述,最长{domain.TEXT_MAX}字")
    allow_non_working_day: Annotated[bool, Msg("allow_non_working_day 必须是 true 或 false")] = Field(
        False, description="确认在法定节假日或非调休周末举办")


class MeetingCreate(MeetingFields):
    """新建会议"""


class MeetingPatch(MeetingFields):
    """只修改给出的字段;改时间或地点会立即通知参会人员"""

    kind: Parsed[Kind] = None
    title: Parsed[str] = None
    starts_at: Parsed[datetime] = None
    ends_at: Parsed[datetime] = None
    city: Parsed[str] = None
    version: Parsed[int] = Field(None, description="乐观锁版本;过期则 409 stale,不写入任何内容")


class MeetingCancel(Input):
    """取消会议(保留在日历订阅中,状态为已取消)"""

    INVALID: ClassVar[str] = "请说明取消原因"
    reason: Parsed[str] = Field(description=f"取消原因,最长{domain.REASON_MAX}字")
    version: Parsed[int] = Field(None, description="乐观锁版本;过期则 409 stale,不写入任何内容")


class MeetingParticipantsInput(Input):
    """替换给出的参会名单(未给出的名单保持不变)"""

    INVALID: ClassVar[str] = "参会名单有误"
    enterprises: Parsed[list[int]] = Field(None, description="本地企业 id;调用者无权查看的企业保持不变")
    partners: Parsed[list[int]] = Field(None, description="成渝企业 id(GET /partners)")
    officials: Parsed[list[str]] = Field(None, description="参会人员用户名")


AgreementKindName = Annotated[one_of(AGREEMENT_KINDS), Field(description="签约类型:" + "、".join(AGREEMENT_KINDS),
                                                             examples=["采购"])]


class MeetingAgreementCreate(Input):
    """登记会议签约成果(会议须已举办);同时在企业的一企一档上建立成渝配套关系"""

    INVALID: ClassVar[str] = "签约信息有误"
    enterprise_id: Parsed[int] = Field(description="参加本次会议的本地企业 id")
    partner_id: Parsed[int] = Field(description="成渝企业 id;尚未参会的会加入参会名单")
    kind: Parsed[AgreementKindName]
    amount: Parsed[float | str | None] = Field(None, description="金额,万元,不小于0,最多两位小数", examples=[500])
    note: Parsed[str] = Field("", description=f"备注,最长{domain.NOTE_MAX}字")


class MeetingInvitation(Input):
    """按名单邀请:最新发布版名单上的企业(可按产业集群、区县筛选)加入参会名单"""

    INVALID: ClassVar[str] = "邀请条件有误"
    roster: Parsed[code(RosterKind)] = Field(
        description="名单:supplier_list 配套企业名单、cultivation_pool 重点企业培育库")
    cluster: Parsed[str | None] = Field(None, description="产业集群名称", examples=["航空航天装备"])
    county: Parsed[str | None] = Field(None, description="区县名称", examples=["汇川区"])


class MeetingFollowUpCreate(ServiceRequestCreate):
    """从会议登记会后诉求(会议须已举办;企业须参加本次会议);提出日期默认会议结束日"""

    enterprise_id: Parsed[int] = Field(description="参加本次会议的本地企业 id")


# --- shapes: output ------------------------------------------------------------------------------------------

class MeetingEnterprise(Shape):
    """参会的本地企业"""

    id: int
    name: str
    county: str = Field(examples=["汇川区"])
    invited_via: str = Field(description="邀请方式(逐一选择,或按名单邀请)")


class MeetingPartner(Shape):
    """参会的成渝企业"""

    id: int
    name: str
    region: str = Field(examples=["重庆"])
    city: str


class MeetingOfficial(Shape):
    """参会人员"""

    username: str
    display_name: str


class MeetingParticipants(Shape):
    """参会名单"""

    enterprises: list[MeetingEnterprise] = Field(description="调用者可查看的参会企业")
    hidden_enterprises: int = Field(ge=0, description="调用者无权查看、因而未列出的参会企业数")
    partners: list[MeetingPartner]
    officials: list[MeetingOfficial]

    @classmethod
    def of(cls, meeting: MeetingRow, user: Any) -> MeetingParticipants:
        shown, hidden = domain.visible_enterprises(user, meeting)
        via = {link.enterprise_id: link.invited_via for link in meeting.enterprise_links}
        return cls(
            enterprises=[MeetingEnterprise(id=e.id, name=e.name, county=e.county.name, invited_via=via.get(e.id, ""))
                         for e in shown],
            hidden_enterprises=hidden,
            partners=[MeetingPartner(id=p.id, name=p.name, region=p.region.value, city=p.city or "")
                      for p in sorted(meeting.partners, key=lambda p: p.id)],
            officials=[MeetingOfficial(username=u.username, display_name=u.display_name)
                       for u in sorted(meeting.officials, key=lambda u: u.username)])


class MeetingAgreement(Shape):
    """会议签约成果"""

    id: int
    meeting_id: int
    enterprise_id: int
    enterprise: str = Field(description="本地企业名称")
    partner_id: int
    partner: str = Field(description="成渝企业名称")
    kind: AgreementKindName
    amount: float | None = Field(description="万元")
    note: str
    created_by: str | None = Field(description="用户名")
    created_at: DateTimeStr

    @classmethod
    def of(cls, a: MeetingAgreementRow) -> MeetingAgreement:
        creator = db.session.get(User, a.created_by_id) if a.created_by_id else None
        return cls(id=a.id, meeting_id=a.meeting_id, enterprise_id=a.enterprise_id, enterprise=a.enterprise.name,
                   partner_id=a.partner_id, partner=a.partner.name, kind=a.kind.value, amount=number(a.amount),
                   note=a.note or "", created_by=creator.username if creator else None,
                   created_at=isoformat_local(a.created_at))


class MeetingFollowUp(Shape):
    """会后诉求(在诉求台账中办理:GET /requests/{id})"""

    request_id: int
    enterprise_id: int
    enterprise: str = Field(description="企业名称")
    category: str = Field(examples=["融资服务"])
    description: str
    status: str = Field(examples=["raised"])
    status_label: str = Field(examples=["已提出"])
    due_date: DateStr

    @classmethod
    def of(cls, req: ServiceRequestRow) -> MeetingFollowUp:
        return cls(request_id=req.id, enterprise_id=req.enterprise_id, enterprise=req.enterprise.name,
                   category=req.category.value, description=req.description, status=req.status.value,
                   status_label=req.status.label, due_date=req.due_date.isoformat())


class Meeting(Shape):
    """会议活动"""

    id: int
    kind: Kind = Field(description=_KIND_TEXT)
    kind_label: str = Field(examples=["产销对接会"])
    title: str
    starts_at: DateTimeStr
    ends_at: DateTimeStr
    venue: str
    city: str
    department: str | None = Field(description="组织单位名称")
    status: Status = Field(description=_STATUS_TEXT)
    status_label: str = Field(examples=["计划中"])
    agenda: str
    outcome_summary: str
    cancel_reason: str
    proposed_by: str = Field(description="由年度定时任务提议时为任务名(plan_annual_meetings),否则为空")
    counts_with_chengyu: bool = Field(description="是否算作与成渝地区举办(在成渝城市举办,或有成渝企业参加)")
    chengyu_reason: str = Field(description="计入成渝的理由;不计入时为空")
    created_by: str | None = Field(description="用户名")
    created_at: DateTimeStr
    updated_at: DateTimeStr
    version: int = Field(description="乐观锁版本,PATCH 和取消时回传")

    @classmethod
    def fields_of(cls, m: MeetingRow) -> dict[str, Any]:
        return dict(
            id=m.id, kind=m.kind.value, kind_label=m.kind.label, title=m.title,
            starts_at=isoformat_local(m.starts_at), ends_at=isoformat_local(m.ends_at), venue=m.venue or "",
            city=m.city or "", department=m.department.name if m.department else None, status=m.status.value,
            status_label=m.status.label, agenda=m.agenda or "", outcome_summary=m.outcome_summary or "",
            cancel_reason=m.cancel_reason or "", proposed_by=m.proposed_by or "",
            counts_with_chengyu=domain.counts_with_chengyu(m), chengyu_reason=domain.chengyu_reason(m),
            created_by=m.created_by.username if m.created_by else None, created_at=isoformat_local(m.created_at),
            updated_at=isoformat_local(m.updated_at), version=m.version)


class MeetingDetail(Meeting):
    """会议活动,含参会名单、签约成果、会后诉求和提醒"""

    participants: MeetingParticipants
    agreements: list[MeetingAgreement] = Field(description="调用者可查看的企业的签约成果")
    follow_ups: list[MeetingFollowUp] = Field(description="调用者可查看的会后诉求")
    warnings: list[str] = Field(description="提醒(不影响保存):已确认在非工作日举办、参会人员同时段另有会议、"
                                            "该年份缺少节假日安排")


class MeetingInvited(Shape):
    """按名单邀请的结果"""

    added: int = Field(ge=0, description="新加入的企业数(已参会的不重复计入;调用者无权查看的企业不邀请)")
    meeting: MeetingDetail


class MeetingsQuery(PageQuery):
    from_: Parsed[date | datetime] = Field(None, alias="from", description="起(日期含当天,或带时区的时间)")
    to: Parsed[date | datetime] = Field(None, description="止(日期含当天,或带时区的时间);返回与该时段相交的会议")
    kind: Annotated[choice(MeetingKind), Msg("kind 只能是 " + "、".join(k.value for k in MeetingKind))] = Field(
        None, description="会议类型")
    status: Annotated[choice(MeetingStatus), Msg("status 只能是 " + "、".join(s.value for s in MeetingStatus))] = Field(
        None, description="状态")
    city: str = Field("", description="城市")


def meeting_json(m: MeetingRow) -> dict[str, Any]:
    return dump(Meeting(**Meeting.fields_of(m)))


def detail_of(m: MeetingRow, warnings: list[str] | None = None) -> MeetingDetail:
    """The meeting as the caller may see it: enterprises, agreements and follow-ups of enterprises they may read;
    ``warnings`` from the domain (``None``: the double bookings as they stand)."""
    user = current_user()
    agreements = [a for a in m.agreements if can(user, Action.VIEW, a.enterprise)]
    follow_ups = [f.request for f in m.follow_ups if can(user, Action.VIEW, f.request)]
    return MeetingDetail(
        **Meeting.fields_of(m), participants=MeetingParticipants.of(m, user),
        agreements=[MeetingAgreement.of(a) for a in agreements],
        follow_ups=[MeetingFollowUp.of(r) for r in follow_ups],
        warnings=domain.official_conflicts(m) if warnings is None else warnings)


def meeting_detail(m: MeetingRow, warnings: list[str] | None = None) -> dict[str, Any]:
    return dump(detail_of(m, warnings))


# --- helpers -------------------------------------------------------------------------------------------------

def _load(meeting_id: int, action: Action) -> MeetingRow:
    if action is Action.VIEW:
        return get_or_404(MeetingRow, meeting_id, action)
    # a change: read fresh and hold the row, so the version check sees the committed version
    return found(lock_for_update(MeetingRow, meeting_id) if meeting_id <= MAX_ID else None, action)


def _moment(name: str, label: str, *, end: bool) -> datetime | None:
    """``?from=`` / ``?to=``: a date (the whole day, Asia/Shanghai) or a time with its offset."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            moment = datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)
            return moment + timedelta(days=1) if end else moment
    except ValueError:
        raise DomainError(BAD_QUERY, {name: f"{label}格式应为 2026-07-01 或 2026-07-01T00:00:00+08:00"}) from None
    fields: dict[str, str] = {}
    moment = domain.parse_moment(raw, name, fields, label=label)
    if fields:
        raise DomainError(BAD_QUERY, fields)
    return moment


def _list_args() -> dict[str, Any]:
    args = query(MeetingsQuery)
    start, end = _moment("from", "起始时间", end=False), _moment("to", "截止时间", end=True)
    if start is not None and end is not None and end <= start:
        raise DomainError(BAD_QUERY, {"to": "截止时间应晚于起始时间"})
    return {"start": start, "end": end, "kind": MeetingKind(args.kind) if args.kind else None,
            "status": MeetingStatus(args.status) if args.status else None, "city": args.city or None}


# --- endpoints -----------------------------------------------------------------------------------------------

@bp.get("/meetings")
@operation("调用者可见的会议,按开始时间排列;from/to 取与该时段相交的会议", ok=page_model(Meeting, "MeetingPage"),
           query=MeetingsQuery)
def list_meetings():
    """Meetings the caller may read (a commissioner: those of their enterprises and those they attend)."""
    stmt = domain.meetings_statement(current_user(), **_list_args()).options(
        selectinload(MeetingRow.department), selectinload(MeetingRow.created_by))
    return page_of(stmt, meeting_json)


@bp.post("/meetings")
@operation("新建会议(管理员、协调员);非工作日须确认 allow_non_working_day", ok=MeetingDetail, status=201,
           body=MeetingCreate, errors=(403, 422))
def create_meeting():
    user = current_user()
    if not may_plan(user):
        raise Forbidden(NOT_PLANNER)
    data = body(MeetingCreate)
    saved = domain.create_meeting(user, data)
    db.session.commit()
    return created(meeting_detail(saved.meeting, saved.warnings), "api.get_meeting", meeting_id=saved.meeting.id)


@bp.get("/meetings/<int:meeting_id>")
@operation("一次会议,含参会名单、签约成果和会后诉求", ok=MeetingDetail, errors=(404,))
def get_meeting(meeting_id: int):
    return meeting_detail(_load(meeting_id, Action.VIEW))


@bp.patch("/meetings/<int:meeting_id>")
@operation("修改会议(部分字段);版本过期 409 stale;已取消的会议 409", ok=MeetingDetail, body=MeetingPatch,
           errors=(403, 404, 409, 422))
def patch_meeting(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    data = body(MeetingPatch)
    saved = domain.update_meeting(current_user(), meeting, data, version=data.get("version"))
    db.session.commit()
    return meeting_detail(saved.meeting, saved.warnings)


@bp.post("/meetings/<int:meeting_id>/cancel")
@operation("取消会议(须说明原因;已举办或已取消 409;版本过期 409 stale)", ok=MeetingDetail, body=MeetingCancel,
           errors=(403, 404, 409, 422))
def cancel_meeting(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    data = body(MeetingCancel)
    domain.cancel_meeting(current_user(), meeting, data.get("reason"), version=data.get("version"))
    db.session.commit()
    return meeting_detail(meeting, [])


@bp.put("/meetings/<int:meeting_id>/participants")
@operation("替换参会名单(企业 id、成渝企业 id、参会人员用户名;未给出的名单不变)", ok=MeetingDetail,
           body=MeetingParticipantsInput, errors=(403, 404, 409, 422))
def put_participants(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    data = body(MeetingParticipantsInput)
    saved = domain.set_participants(current_user(), meeting, data)
    db.session.commit()
    return meeting_detail(saved.meeting, saved.warnings)


@bp.post("/meetings/<int:meeting_id>/invitations")
@operation("按名单邀请企业参会(最新发布版名单,可按产业集群、区县筛选;已参会的保持不变)", ok=MeetingInvited,
           body=MeetingInvitation, errors=(403, 404, 409, 422))
def invite_roster(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    data = body(MeetingInvitation)
    added = domain.invite_list(current_user(), meeting, data.get("roster"), cluster=data.get("cluster"),
                               county=data.get("county"))
    db.session.commit()
    return dump(MeetingInvited(added=added, meeting=detail_of(meeting)))


@bp.post("/meetings/<int:meeting_id>/agreements")
@operation("登记签约成果(会议须已举办,否则 409 not_held);企业一企一档上随之建立成渝配套关系", ok=MeetingAgreement,
           status=201, body=MeetingAgreementCreate, errors=(403, 404, 409, 422))
def create_agreement(meeting_id: int):
    meeting = _load(meeting_id, Action.EDIT)
    data = body(MeetingAgreementCreate)
    agreement = domain.add_agreement(current_user(), meeting, data)
    db.session.commit()
    return created(dump(MeetingAgreement.of(agreement)), "api.get_meeting", meeting_id=meeting.id)


@bp.post("/meetings/<int:meeting_id>/follow-ups")
@operation("从会议登记会后诉求(会议须已举办,否则 409 not_held),进入诉求台账", ok=ServiceRequestDetail, status=201,
           body=MeetingFollowUpCreate, errors=(403, 404, 409, 422))
def create_follow_up(meeting_id: int):
    """A 诉求 of a participating enterprise, raised from the meeting: whoever may see the meeting and change the
    enterprise (its commissioner, a coordinator); leaders are refused."""
    user = current_user()
    meeting = _load(meeting_id, Action.VIEW)
    require(user, Action.EDIT)  # leaders change nothing
    data = body(MeetingFollowUpCreate)
    req = domain.raise_follow_up(user, meeting, data)
    db.session.commit()
    return created(dump(ServiceRequestDetail(**ServiceRequest.fields_of(req),
                                             events=[RequestEvent.of(event) for event in req.events])),
                   "api.get_request", request_id=req.id)



@bp.get("/meetings/<int:meeting_id>/ics")
@operation("一次会议的 iCalendar 文件(.ics,可导入手机或电脑日历)", ok=File("text/calendar"), errors=(404,))
def download_meeting_ics(meeting_id: int):
    meeting = _load(meeting_id, Action.VIEW)
    response = Response(ics.meeting_ics(meeting, request.url_root), content_type=ics.CONTENT_TYPE)
    response.headers["Content-Disposition"] = f'attachment; filename="meeting-{meeting.id}.ics"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- the private calendar feed -----------------------------------------------------------------------------------

class CalendarFeed(Shape):
    """调用者的私人日历订阅地址(只显示这一次:系统只保存其摘要)"""

    url: str = Field(description="订阅地址 …/calendar/<令牌>.ics;只能读取该日历,不能登录或调用 API",
                     examples=["https://crm.example.cn/calendar/3q2-8r….ics"])
    webcal_url: str = Field(description="同一地址的 webcal:// 形式(手机日历一键订阅)")


class CalendarFeedState(Shape):
    """调用者的日历订阅状态(地址本身只在生成时显示一次)"""

    active: bool = Field(description="是否有有效的订阅地址")
    created_at: DateTimeStr | None = Field(description="生成时间")
    last_used_at: DateTimeStr | None = Field(description="日历最近一次读取订阅的时间")


def _no_body() -> None:
    """These calls take no input: the body may be omitted or ``{}``; anything else is malformed (400/422)."""
    if request.get_data(cache=True):
        body(NoInput)


@bp.get("/calendar/token")
@operation("调用者的日历订阅状态(是否已生成、最近读取时间)", ok=CalendarFeedState)
def calendar_token_state():
    row = feed.current_feed(current_user())
    return dump(CalendarFeedState(active=row is not None, created_at=isoformat_local(row.created_at) if row else None,
                                  last_used_at=isoformat_local(row.last_used_at) if row else None))


@bp.post("/calendar/token")
@operation("生成调用者的私人日历订阅地址(替换旧地址,旧地址立即失效)", ok=CalendarFeed, status=201, body=NoInput,
           body_required=False, errors=(422,))
def issue_calendar_token():
    _no_body()
    token = feed.issue_feed_token(current_user())
    db.session.commit()
    url = url_for("calendar.feed_ics", token=token, _external=True)
    return dump(CalendarFeed(url=url, webcal_url="webcal://" + url.split("://", 1)[1])), 201


@bp.delete("/calendar/token")
@operation("撤销调用者的日历订阅地址(原地址从此返回 404;没有订阅地址时同样返回 204)", ok=None, status=204)
def revoke_calendar_token():
    feed.revoke_feed_token(current_user())
    db.session.commit()
    return "", 204
