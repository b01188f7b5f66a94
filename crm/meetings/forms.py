"""Forms of the meeting and partner pages: they carry the CSRF token and the shape of the input;
:mod:`crm.meetings.domain` and :mod:`crm.meetings.partners` check the rules and answer in Chinese.

Choices do not validate themselves (``validate_choice=False``): a value that is not offered reaches the domain,
whose message names what is allowed. Times travel as ``YYYY-MM-DDTHH:MM`` (``<input type="datetime-local">``),
taken as Asia/Shanghai by the domain.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice

from crm.core.time import to_local
from crm.reference.models import Cluster, County, Department, Region, all_of
from crm.rosters.models import RosterKind

from .domain import CHENGYU_CITIES, TEXT_MAX
from .models import AgreementKind, Meeting, MeetingKind, MeetingStatus

KIND_CHOICES = [SelectChoice(k.value, k.label) for k in MeetingKind]
MOMENT_INPUT = {"type": "datetime-local", "autocomplete": "off"}


def _local_input(value: Any) -> str:
    local = to_local(value)
    return local.strftime("%Y-%m-%dT%H:%M") if local else ""


class MeetingFilterForm(FlaskForm):
    """The list's GET filters (no CSRF: nothing changes)."""

    class Meta:
        csrf = False

    year = StringField("年份", render_kw={"inputmode": "numeric", "placeholder": "如:2026"})
    kind = SelectField("会议类型", choices=[SelectChoice("", "全部类型"), *KIND_CHOICES], validate_choice=False)
    status = SelectField("状态", choices=[SelectChoice("", "全部状态")] + [
        SelectChoice(s.value, s.label) for s in MeetingStatus], validate_choice=False)
    city = StringField("城市", render_kw={"placeholder": "如:成都"})


class MeetingForm(FlaskForm):
    kind = SelectField("会议类型", choices=[SelectChoice("", "请选择会议类型"), *KIND_CHOICES], validate_choice=False)
    title = StringField("会议名称", render_kw={"maxlength": 200,
                                          "placeholder": "如:2026年遵义—重庆汽车零部件产销对接会"})
    starts_at = StringField("开始时间", render_kw=MOMENT_INPUT)
    ends_at = StringField("结束时间", render_kw=MOMENT_INPUT)
    city = StringField("所在城市", render_kw={"maxlength": 40, "list": "chengyu-cities",
                                          "placeholder": "如:重庆、成都、遵义"})
    venue = StringField("会议地点", render_kw={"maxlength": 200, "placeholder": "如:重庆国际博览中心 S2 馆"})
    department = SelectField("主办单位", validate_choice=False)
    status = SelectField("状态", validate_choice=False)
    agenda = TextAreaField("会议议程", render_kw={"maxlength": TEXT_MAX})
    outcome_summary = TextAreaField("成果概述(举办后填写)", render_kw={"maxlength": TEXT_MAX})
    allow_non_working_day = BooleanField("确认在非工作日举办")
    version = HiddenField()
    submit = SubmitField("保存")

    def __init__(self, *args: Any, meeting: Meeting | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("kind", "title", "starts_at", "ends_at", "city"):
            self[name].flags.required = True
        self.department.choices = [SelectChoice("", "(不指定)")] + [
            SelectChoice(d.name, d.name) for d in all_of(Department)]
        statuses = [MeetingStatus.PLANNED, MeetingStatus.CONFIRMED, MeetingStatus.HELD]
        if meeting is not None and meeting.status is MeetingStatus.HELD:
            statuses = [MeetingStatus.HELD]
        self.status.choices = [SelectChoice(s.value, s.label) for s in statuses]

    @staticmethod
    def initial(meeting: Meeting) -> dict[str, Any]:
        return {"kind": meeting.kind.value, "title": meeting.title, "starts_at": _local_input(meeting.starts_at),
                "ends_at": _local_input(meeting.ends_at), "city": meeting.city, "venue": meeting.venue,
                "department": meeting.department.name if meeting.department else "",
                "status": meeting.status.value, "agenda": meeting.agenda,
                "outcome_summary": meeting.outcome_summary, "version": str(meeting.version)}

    def to_data(self) -> dict[str, Any]:
        """The input of ``create_meeting`` / ``update_meeting`` (API vocabulary)."""
        return {"kind": self.kind.data or "", "title": self.title.data or "", "starts_at": self.starts_at.data or "",
                "ends_at": self.ends_at.data or "", "city": self.city.data or "", "venue": self.venue.data or "",
                "department": self.department.data or None, "status": self.status.data or None,
                "agenda": self.agenda.data or "", "outcome_summary": self.outcome_summary.data or "",
                "allow_non_working_day": bool(self.allow_non_working_day.data)}


def city_suggestions() -> list[str]:
    return [*CHENGYU_CITIES, "遵义"]


class CancelForm(FlaskForm):
    reason = TextAreaField("取消原因", render_kw={"maxlength": 400, "placeholder": "如:受天气影响,改期另行通知"})
    version = HiddenField()
    submit = SubmitField("取消会议")


class ParticipantsForm(FlaskForm):
    enterprises = SelectMultipleField("本地企业", validate_choice=False, coerce=str)
    partners = SelectMultipleField("成渝企业", validate_choice=False, coerce=str)
    officials = SelectMultipleField("参会人员(干部)", validate_choice=False, coerce=str)
    submit = SubmitField("保存参会名单")

    def to_data(self) -> dict[str, Any]:
        """The ids as posted (text): the domain parses them (``parse_id``) and names what it refuses."""
        return {"enterprises": list(self.enterprises.data or []), "partners": list(self.partners.data or []),
                "officials": list(self.officials.data or [])}


class InviteListForm(FlaskForm):
    roster = SelectField("名单", choices=[SelectChoice(k.value, k.label) for k in RosterKind], validate_choice=False)
    cluster = SelectField("产业集群", validate_choice=False)
    county = SelectField("区县", validate_choice=False)
    submit = SubmitField("按名单邀请")

    def fill_choices(self, user: Any) -> None:
        self.cluster.choices = [SelectChoice("", "全部集群")] + [SelectChoice(c.name, c.name) for c in all_of(Cluster)]
        counties = all_of(County)
        if getattr(user, "county_id", None) is not None:
            counties = [c for c in counties if c.id == user.county_id]
        self.county.choices = [SelectChoice("", "全部区县")] + [SelectChoice(c.name, c.name) for c in counties]


class AgreementForm(FlaskForm):
    enterprise_id = SelectField("本地企业", validate_choice=False)
    partner_id = SelectField("成渝企业", validate_choice=False)
    kind = SelectField("签约类型", choices=[SelectChoice("", "请选择")] + [
        SelectChoice(k.value, k.value) for k in AgreementKind], validate_choice=False)
    amount = StringField("金额(万元)", render_kw={"inputmode": "decimal", "placeholder": "如:1200"})
    note = StringField("备注", render_kw={"maxlength": 400})
    submit = SubmitField("登记签约")

    def to_data(self) -> dict[str, Any]:
        return {"enterprise_id": self.enterprise_id.data or "", "partner_id": self.partner_id.data or "",
                "kind": self.kind.data or "", "amount": (self.amount.data or "").strip(), "note": self.note.data or ""}


class FollowUpForm(FlaskForm):
    enterprise_id = SelectField("企业", validate_choice=False)
    category = SelectField("诉求类别", validate_choice=False)
    description = TextAreaField("诉求内容", render_kw={"maxlength": 4000, "placeholder": "会上企业提出的具体诉求"})
    submit = SubmitField("登记会后诉求")

    def to_data(self) -> dict[str, Any]:
        return {"enterprise_id": self.enterprise_id.data or "", "category": self.category.data or "",
                "description": self.description.data or ""}


class PartnerForm(FlaskForm):
    name = StringField("企业名称", render_kw={"maxlength": 120})
    region = SelectField("所在省市", choices=[SelectChoice("", "请选择")] + [
        SelectChoice(r.value, r.value) for r in Region], validate_choice=False)
    city = StringField("所在城市", render_kw={"maxlength": 40, "placeholder": "如:重庆、成都、绵阳"})
    industry_chain = StringField("所属产业链", render_kw={"maxlength": 80, "placeholder": "如:汽车、航空"})
    uscc = StringField("统一社会信用代码(选填)", render_kw={"maxlength": 18, "autocomplete": "off"})
    version = HiddenField()
    submit = SubmitField("保存")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("name", "region", "city"):
            self[name].flags.required = True

    @staticmethod
    def initial(partner: Any) -> dict[str, Any]:
        return {"name": partner.name, "region": partner.region.value, "city": partner.city,
                "industry_chain": partner.industry, "uscc": partner.uscc or "", "version": str(partner.version)}

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name.data or "", "region": self.region.data or "", "city": self.city.data or "",
                "industry_chain": self.industry_chain.data or "", "uscc": self.uscc.data or ""}
