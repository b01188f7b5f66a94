"""Roster forms: they check the shape of the input; ``crm.rosters.domain`` checks the rules and persists."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from crm.reference.models import Cluster, County, all_of
from crm.rosters.domain import MAX_REASON, period_label
from crm.rosters.models import RosterEdition, RosterEntry, RosterKind, Tier

TIER_CHOICES = [SelectChoice(tier.value, tier.label) for tier in Tier]


class FilterForm(FlaskForm):
    """GET filters of an edition's entries. No CSRF (nothing changes); unknown values simply match nothing."""

    class Meta:
        csrf = False

    county = SelectField("区县", validate_choice=False)
    cluster = SelectField("产业集群", validate_choice=False)

    def fill_choices(self) -> None:
        self.county.choices = [SelectChoice("", "全部区县")] + [SelectChoice(c.name, c.name) for c in all_of(County)]
        self.cluster.choices = [SelectChoice("", "全部集群")] + [SelectChoice(c.name, c.name)
                                                                 for c in all_of(Cluster)]

    def filters(self) -> dict[str, str]:
        return {"county": (self.county.data or "").strip(), "cluster": (self.cluster.data or "").strip()}


class EnterpriseSearchForm(FlaskForm):
    """The add-entry search on a draft's page (GET)."""

    class Meta:
        csrf = False

    q = StringField("查找企业", render_kw={"placeholder": "企业名称、拼音、首字母或信用代码", "type": "search",
                                             "autocomplete": "off"})


class OpenEditionForm(FlaskForm):
    period = StringField("期次", validators=[DataRequired("请填写期次,如 2026H2"),
                                           Length(max=6, message="期次格式应为 2026H1 或 2026H2")],
                         render_kw={"placeholder": "2026H2", "autocomplete": "off", "spellcheck": "false"})


def _reason_field(label: str, message: str) -> TextAreaField:
    return TextAreaField(label, validators=[DataRequired(message),
                                            Length(max=MAX_REASON, message=f"最长{MAX_REASON}个字符")])


class EntryForm(FlaskForm):
    """Add an enterprise to a draft, or change its reason and tier. The tier exists only in the pool."""

    reason = _reason_field("入库理由", "请填写入库理由")
    tier = SelectField("层级", choices=TIER_CHOICES, default=Tier.CULTIVATING.value)

    @classmethod
    def for_edition(cls, edition: RosterEdition, entry: RosterEntry | None = None, **kwargs: Any) -> EntryForm:
        data = None
        if entry is not None and not kwargs.get("formdata"):
            data = {"reason": entry.reason, "tier": entry.tier.value if entry.tier else Tier.CULTIVATING.value}
        form = cls(data=data, **kwargs)
        if edition.kind is not RosterKind.CULTIVATION_POOL:
            del form.tier
        return form

    def tier_value(self) -> str | None:
        return self.tier.data if "tier" in self._fields else None


class RemoveEntryForm(FlaskForm):
    removal_reason = _reason_field("移出理由", "请填写移出理由")


class ReturnForm(FlaskForm):
    comment = _reason_field("退回意见", "请填写退回意见")


class ImportForm(FlaskForm):
    file = FileField("导入文件(XLSX)", validators=[FileRequired("请选择要导入的 XLSX 文件")],
                     render_kw={"accept": ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"})


class ConfirmForm(FlaskForm):
    """An empty form: a POST button with its CSRF token (submit, publish)."""


class DiffForm(FlaskForm):
    """The two editions to compare (GET)."""

    class Meta:
        csrf = False

    from_period = SelectField("从", name="from", validate_choice=False)
    to_period = SelectField("到", name="to", validate_choice=False)

    def fill_choices(self, editions: list[RosterEdition]) -> None:
        choices = [SelectChoice(e.period, f"{period_label(e.period)}({e.status.label})") for e in editions]
        self.from_period.choices = choices
        self.to_period.choices = list(choices)
