"""Assignment forms: they check the shape of the input; ``crm.service.assignments`` checks the rules and writes.

Commissioner selects do not validate their choice: a username that is not offered reaches the domain, which
answers in Chinese why that user cannot take the assignment (WTForms' own message would be English).
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from crm.auth.models import Specialty, User
from crm.core.parsing import parse_id
from crm.reference.models import Cluster, County, names_of
from crm.rosters.models import RosterKind
from crm.service.assignments import MAX_REASON, SPECIALTIES, Candidate, who

BULK_MAX = 500
ROSTER_CHOICES = [SelectChoice("", "两个名单")] + [
    SelectChoice(kind.value, kind.short_label) for kind in RosterKind]
MISSING_CHOICES = [SelectChoice("", "不限"), SelectChoice("any", "有缺口")] + [
    SelectChoice(s.value, f"缺{s.label}") for s in SPECIALTIES]
SPECIALTY_CHOICES = [SelectChoice(s.value, s.label) for s in SPECIALTIES]
AUTO_SUGGEST = "自动建议(同区县优先、在办最少)"  # the bulk form's empty choice


class CoverageFilterForm(FlaskForm):
    """The matrix's GET filters. No CSRF (nothing changes); unknown county or cluster names match nothing."""

    class Meta:
        csrf = False

    roster = SelectField("名单", choices=ROSTER_CHOICES, validate_choice=False)
    county = SelectField("区县", validate_choice=False)
    cluster = SelectField("产业集群", validate_choice=False)
    missing = SelectField("缺口", choices=MISSING_CHOICES, validate_choice=False)

    def fill_choices(self, user: Any) -> None:
        own = getattr(user, "county_id", None)
        self.county.choices = [SelectChoice("", "全部区县")] + [
            SelectChoice(name, name) for id_, name in names_of(County) if own is None or id_ == own]
        self.cluster.choices = [SelectChoice("", "全部集群")] + [
            SelectChoice(name, name) for _, name in names_of(Cluster)]

    def filters(self) -> dict[str, str]:
        return {name: (getattr(self, name).data or "").strip() for name in ("roster", "county", "cluster", "missing")}


class BulkAssignForm(FlaskForm):
    """Enterprises ticked on the matrix, one specialty, and a commissioner or "自动建议" (empty)."""

    enterprise_ids = SelectMultipleField("企业", choices=[], validate_choice=False)
    specialty = SelectField("专长", choices=SPECIALTY_CHOICES, validate_choice=False,
                            validators=[DataRequired("请选择专长")])
    commissioner = SelectField("服务专员", validate_choice=False)
    submit = SubmitField("批量分配")

    def fill_choices(self, commissioners: list[User]) -> None:
        choices = [SelectChoice("", AUTO_SUGGEST)]
        for user in commissioners:
            codes = " ".join(s.value for s in user.specialties)
            labels = "/".join(s.label for s in user.specialties) or "无专长"
            scope = user.county.name if user.county else "全市"
            choices.append(SelectChoice(user.username, f"{who(user)} · {labels} · {scope}",
                                        render_kw={"data-specialties": codes}))
        self.commissioner.choices = choices

    def validate_enterprise_ids(self, field: SelectMultipleField) -> None:
        values = [str(v).strip() for v in (field.data or []) if str(v).strip()]
        if not values:
            raise ValidationError("请至少勾选一家企业")
        if len(values) > BULK_MAX:
            raise ValidationError(f"一次最多分配{BULK_MAX}家企业")
        if not all(parse_id(v) is not None for v in values):  # ASCII digits, bounded: never int() of 5,000 digits
            raise ValidationError("企业选择有误,请刷新页面后重试")
        field.data = list(dict.fromkeys(values))

    def validate_specialty(self, field: SelectField) -> None:
        if field.data not in {s.value for s in SPECIALTIES}:
            raise ValidationError("请选择专长")

    def ids(self) -> list[int]:
        return [int(v) for v in self.enterprise_ids.data or []]


class AssignForm(FlaskForm):
    """One specialty's commissioner on the enterprise page (prefixed with the specialty)."""

    commissioner = SelectField("服务专员", validate_choice=False, validators=[DataRequired("请选择服务专员")])
    submit = SubmitField("分配")

    def fill_choices(self, specialty: Specialty, found: list[Candidate], suggested: User | None,
                     current: User | None) -> None:
        choices = [SelectChoice("", "请选择服务专员")]
        for c in found:
            parts = [who(c.user), c.user.county.name if c.user.county else "全市", f"在办{c.load}家"]
            if c.at_cap:
                parts.append("已达上限")
            if current is not None and c.user.id == current.id:
                parts.append("现任")
            if suggested is not None and c.user.id == suggested.id:
                parts.append("建议")
            attrs = {"disabled": True} if c.at_cap and (current is None or c.user.id != current.id) else {}
            choices.append(SelectChoice(c.user.username, " · ".join(parts), render_kw=attrs))
        self.commissioner.choices = choices
        self.submit.label.text = "交接" if current is not None else "分配"
        if self.commissioner.data in (None, ""):
            # a gap: the suggestion is pre-selected; an assigned slot keeps its commissioner (no accidental handover)
            pick = current or suggested
            self.commissioner.data = pick.username if pick else ""


class EndForm(FlaskForm):
    """End one specialty's active assignment, with a reason."""

    reason = StringField("结束原因", validators=[DataRequired("请填写结束原因"),
                                               Length(max=MAX_REASON, message=f"结束原因最长{MAX_REASON}个字符")],
                         render_kw={"placeholder": "例如:企业诉求已办结、人员调整"})
    submit = SubmitField("结束分配")
