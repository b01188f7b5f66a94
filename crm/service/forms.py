"""Forms of the commissioners' daily pages: they check the shape of the input and carry the CSRF token;
:mod:`crm.service.interactions` and :mod:`crm.service.requests` check the rules and write.

Choices do not validate themselves (``validate_choice=False``): a value that is not offered reaches the domain,
which answers in Chinese what is allowed (WTForms' own message would be English). Dates travel as
``YYYY-MM-DD`` strings (``<input type="date">``) and are parsed by the domain for the same reason.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from crm.auth.forms import MultiCheckboxField
from crm.auth.models import Specialty, User
from crm.service.interactions import PARTICIPANTS_MAX, SUMMARY_MAX
from crm.service.models import Channel, RequestCategory, RequestStatus
from crm.service.requests import DESCRIPTION_MAX, NOTE_MAX

CHANNEL_CHOICES = [SelectChoice(c.value, c.label) for c in Channel]
CATEGORY_CHOICES = [SelectChoice(c.value, c.value) for c in RequestCategory]
STATUS_CHOICES = [SelectChoice(s.value, s.label) for s in RequestStatus]
SATISFACTION_CHOICES = [SelectChoice(str(n), f"{n} {label}") for n, label in (
    (1, "很不满意"), (2, "不满意"), (3, "一般"), (4, "满意"), (5, "很满意"))]
OVERDUE_CHOICES = [SelectChoice("", "不限"), SelectChoice("1", "只看逾期"), SelectChoice("0", "未逾期")]
DATE_INPUT = {"type": "date", "autocomplete": "off"}
DUE_DATE_HINT = "不填则按类别时限自动计算(工作日)"


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def user_choice(user: User) -> SelectChoice:
    scope = f" · {user.county.name}" if user.county else ""
    return SelectChoice(user.username, f"{user.display_name}({user.username}){scope}")


# --- 服务记录 ------------------------------------------------------------------------------------------------

class InteractionForm(FlaskForm):
    """One 服务记录 and, optionally, a 诉求 raised in the same submit (``also_request``)."""

    date = StringField("服务日期", render_kw=DATE_INPUT)
    channel = RadioField("服务方式", choices=CHANNEL_CHOICES, validate_choice=False, default=Channel.VISIT.value)
    specialty = RadioField("服务领域", choices=[], validate_choice=False)
    participants = StringField("参与人员", render_kw={"placeholder": "如:企业总经理王某、财务总监李某",
                                                      "maxlength": PARTICIPANTS_MAX, "autocomplete": "off"})
    summary = TextAreaField("服务内容摘要", render_kw={"placeholder": "企业情况、交流内容、提出的问题和下一步安排",
                                                       "maxlength": SUMMARY_MAX})
    next_follow_up = StringField("下次跟进日期", render_kw=DATE_INPUT)
    version = HiddenField()
    also_request = BooleanField("同时登记诉求")
    request_category = SelectField("诉求类别", choices=[SelectChoice("", "请选择诉求类别"), *CATEGORY_CHOICES],
                                   validate_choice=False)
    request_description = TextAreaField("诉求内容", render_kw={"placeholder": "企业希望解决的问题",
                                                               "maxlength": DESCRIPTION_MAX})

    def fill_choices(self, specialties: list[Specialty]) -> None:
        self.specialty.choices = [SelectChoice(s.value, s.label) for s in specialties]

    def validate_request_description(self, field: TextAreaField) -> None:
        """Only when a 诉求 is raised too; the category and everything else are the domain's to check."""
        if self.also_request.data and not _text(field.data):
            raise ValidationError("请填写诉求内容")

    def interaction_data(self, *, with_version: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"date": self.date.data, "channel": self.channel.data,
                                "specialty": self.specialty.data, "participants": self.participants.data or "",
                                "summary": self.summary.data or "", "next_follow_up": self.next_follow_up.data}
        if with_version:
            # A missing version would skip the stale check: send something the domain refuses instead.
            data["version"] = self.version.data or "missing"
        return data

    def request_data(self, interaction_id: int) -> dict[str, Any]:
        return {"category": self.request_category.data, "description": self.request_description.data or "",
                "interaction_id": interaction_id}


# --- 诉求 --------------------------------------------------------------------------------------------------

class RequestForm(FlaskForm):
    category = SelectField("诉求类别", choices=[SelectChoice("", "请选择诉求类别"), *CATEGORY_CHOICES],
                           validate_choice=False)
    description = TextAreaField("诉求内容", render_kw={"maxlength": DESCRIPTION_MAX,
                                                       "placeholder": "企业希望解决的问题"})
    owner = SelectField("负责人", validate_choice=False)
    department = SelectField("责任单位", validate_choice=False)
    due_date = StringField("办理时限", render_kw=DATE_INPUT)
    interaction_id = HiddenField()

    def fill_choices(self, owners: list[User], departments: list[str]) -> None:
        self.owner.choices = [SelectChoice("", "(暂不指定)"), *(user_choice(u) for u in owners)]
        self.department.choices = [SelectChoice("", "(暂不指定)"), *(SelectChoice(n, n) for n in departments)]

    def to_data(self) -> dict[str, Any]:
        return {"category": self.category.data, "description": self.description.data or "",
                "owner": self.owner.data or None, "department": self.department.data or None,
                "due_date": self.due_date.data or None, "interaction_id": self.interaction_id.data or None}


class TransitionForm(FlaskForm):
    to = RadioField("变更为", choices=[], validate_choice=False)
    note = TextAreaField("说明", render_kw={"maxlength": NOTE_MAX,
                                            "placeholder": "办理情况;办结时填写回访情况,重新办理时说明原因"})
    satisfaction = RadioField("企业满意度(回访)", choices=SATISFACTION_CHOICES, validate_choice=False)
    version = HiddenField()


class RouteForm(FlaskForm):
    """转办 / 改派 a 诉求 or a 政策兑现 to a department (crm/service/routing.py checks and writes)."""

    department = SelectField("转办至责任单位", choices=[], validate_choice=False)
    note = TextAreaField("转办说明", render_kw={"maxlength": 2000, "placeholder": "需要该单位办理的事项、时限要求等"})

    def fill_choices(self, departments: list[str], current: str | None = None) -> None:
        self.department.choices = [SelectChoice("", "请选择责任单位"),
                                   *(SelectChoice(n, n) for n in departments if n != current)]

    def to_data(self) -> dict[str, Any]:
        return {"department": self.department.data or "", "note": self.note.data or ""}


# --- filters (GET, nothing changes: no CSRF) -------------------------------------------------------------

class RequestFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = MultiCheckboxField("状态", choices=STATUS_CHOICES, validate_choice=False)
    overdue = SelectField("逾期", choices=OVERDUE_CHOICES, validate_choice=False)
    county = SelectField("区县", validate_choice=False)
    category = SelectField("类别", choices=[SelectChoice("", "全部类别"), *CATEGORY_CHOICES], validate_choice=False)
    owner = SelectField("负责人", validate_choice=False)
    department = SelectField("责任单位", validate_choice=False)
    enterprise_id = HiddenField()

    def fill_choices(self, counties: list[str], owners: list[User], departments: list[str] = ()) -> None:
        self.county.choices = [SelectChoice("", "全部区县"), *(SelectChoice(n, n) for n in counties)]
        self.owner.choices = [SelectChoice("", "全部负责人"), *(user_choice(u) for u in owners)]
        self.department.choices = [SelectChoice("", "全部责任单位"), *(SelectChoice(n, n) for n in departments)]


class WorkspaceFilterForm(FlaskForm):
    """Coordinators, admins and leaders look at one commissioner's enterprises (or all they may see)."""

    class Meta:
        csrf = False

    commissioner = SelectField("服务专员", validate_choice=False)

    def fill_choices(self, commissioners: list[User]) -> None:
        self.commissioner.choices = [SelectChoice("", "全部服务专员"), *(user_choice(u) for u in commissioners)]
