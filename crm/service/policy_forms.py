"""Forms of the 政策兑现 pages: they check the shape of the input and carry the CSRF token;
:mod:`crm.service.policy` checks the rules and writes.

Choices do not validate themselves (``validate_choice=False``): a value that is not offered reaches the domain,
which answers in Chinese what is allowed (WTForms' own message would be English). Dates travel as
``YYYY-MM-DD`` strings (``<input type="date">``) and amounts as text, parsed by the domain for the same reason.
"""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from crm.auth.models import User
from crm.reference.models import County, Department, all_of
from crm.service.models import DeliveryStatus, PolicyDelivery, PolicyKind
from crm.service.policy import MAX_EVIDENCE, MAX_PROMISED

KIND_CHOICES = [SelectChoice(k.value, k.value) for k in PolicyKind]
STATUS_CHOICES = [SelectChoice(s.value, s.label) for s in DeliveryStatus]
LATE_CHOICES = [SelectChoice("", "不限"), SelectChoice("1", "只看逾期"), SelectChoice("0", "未逾期")]
DATE_INPUT = {"type": "date", "autocomplete": "off"}
AMOUNT_INPUT = {"inputmode": "decimal", "autocomplete": "off", "placeholder": "如:120.5"}
MAX_REASON = 500


def user_label(user: User) -> str:
    scope = f" · {user.county.name}" if user.county else ""
    return f"{user.display_name}({user.username}){scope}"


# --- the list's filters --------------------------------------------------------------------------------------

class PolicyFilterForm(FlaskForm):
    """The list page's GET filters. No CSRF (nothing changes); the domain refuses unknown values in Chinese."""

    class Meta:
        csrf = False

    q = StringField("企业", render_kw={"placeholder": "企业名称、拼音首字母或信用代码", "type": "search"})
    kind = SelectField("政策类别", choices=[SelectChoice("", "全部类别"), *KIND_CHOICES], validate_choice=False)
    status = SelectField("状态", choices=[SelectChoice("", "全部状态"), *STATUS_CHOICES], validate_choice=False)
    late = SelectField("逾期", choices=LATE_CHOICES, validate_choice=False)
    county = SelectField("区县", validate_choice=False)
    department = SelectField("责任单位", validate_choice=False)
    enterprise_id = HiddenField()

    def fill_choices(self, user: Any) -> None:
        counties = all_of(County)
        if getattr(user, "county_id", None) is not None:
            counties = [c for c in counties if c.id == user.county_id]
        self.county.choices = [SelectChoice("", "全部区县")] + [SelectChoice(c.name, c.name) for c in counties]
        self.department.choices = [SelectChoice("", "全部责任单位")] + [
            SelectChoice(d.name, d.name) for d in all_of(Department)]

    def filters(self) -> dict[str, str]:
        return {name: (getattr(self, name).data or "").strip()
                for name in ("q", "kind", "status", "late", "county", "department", "enterprise_id")}


# --- choosing the enterprise before the form -----------------------------------------------------------------

class PickEnterpriseForm(FlaskForm):
    """``/policy/new`` without an enterprise: pick one of those the user may change (GET, no CSRF)."""

    class Meta:
        csrf = False

    enterprise_id = SelectField("企业", validate_choice=False)

    def fill_choices(self, enterprises: list[Any]) -> None:
        self.enterprise_id.choices = [SelectChoice("", "请选择企业")] + [
            SelectChoice(str(e.id), e.name, optgroup=e.county.name) for e in enterprises]


# --- create and edit -----------------------------------------------------------------------------------------

class DeliveryForm(FlaskForm):
    """What was promised: the fields shared by the create and edit forms."""

    kind = SelectField("政策类别", choices=[SelectChoice("", "请选择政策类别"), *KIND_CHOICES],
                       validate_choice=False)
    promised = TextAreaField("承诺内容", render_kw={
        "placeholder": "如:新增工业用地50亩,优先保障;技改项目贷款贴息", "maxlength": MAX_PROMISED})
    amount = StringField("金额(万元)", render_kw=AMOUNT_INPUT)
    promised_date = StringField("承诺兑现日期", render_kw=DATE_INPUT)
    evidence = TextAreaField("佐证说明", render_kw={"placeholder": "文件号、到账凭证、会议纪要等",
                                                    "maxlength": MAX_EVIDENCE})
    owner = SelectField("负责人", validate_choice=False)
    department = SelectField("责任单位", validate_choice=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("kind", "promised", "promised_date"):  # marked * on the page; the domain checks them
            self[name].flags.required = True

    def fill_choices(self, owners: list[User]) -> None:
        self.owner.choices = [SelectChoice("", "(不指定)")] + [SelectChoice(u.username, user_label(u))
                                                               for u in owners]
        self.department.choices = [SelectChoice("", "(不指定)")] + [
            SelectChoice(d.name, d.name) for d in all_of(Department)]

    def to_data(self) -> dict[str, Any]:
        """The input of :func:`crm.service.policy.create_delivery` / ``update_delivery`` (API vocabulary)."""
        return {"kind": self.kind.data or "", "promised": self.promised.data or "",
                "amount": (self.amount.data or "").strip(), "promised_date": self.promised_date.data or "",
                "evidence": self.evidence.data or "", "owner": self.owner.data or None,
                "department": self.department.data or None}


class CreateDeliveryForm(DeliveryForm):
    delivered_date = StringField("兑现日期", render_kw=DATE_INPUT)
    submit = SubmitField("登记")

    def to_data(self) -> dict[str, Any]:
        return {**super().to_data(), "delivered_date": self.delivered_date.data or None}


class EditDeliveryForm(DeliveryForm):
    """Edit a record; the delivered date is editable only on a delivered one (the view decides)."""

    delivered_date = StringField("兑现日期", render_kw=DATE_INPUT)
    # Optimistic locking: the version the user started from (the domain refuses a stale one).
    version = HiddenField()
    submit = SubmitField("保存修改")

    @staticmethod
    def initial(delivery: PolicyDelivery) -> dict[str, Any]:
        return {
            "kind": delivery.kind.value, "promised": delivery.promised,
            "amount": format(delivery.amount, "f") if delivery.amount is not None else "",
            "promised_date": delivery.promised_date.isoformat(),
            "delivered_date": delivery.delivered_date.isoformat() if delivery.delivered_date else "",
            "evidence": delivery.evidence or "",
            "owner": delivery.owner.username if delivery.owner else "",
            "department": delivery.department.name if delivery.department else "",
            "version": str(delivery.version),
        }

    def to_data(self, *, with_delivered_date: bool = False) -> dict[str, Any]:
        data = super().to_data()
        if with_delivered_date:
            data["delivered_date"] = self.delivered_date.data or None
        data["version"] = self.version.data or "missing"  # no version would skip the stale check
        return data


# --- status changes ------------------------------------------------------------------------------------------

class DeliverForm(FlaskForm):
    """标记已兑现: the date it was delivered and the evidence."""

    delivered_date = StringField("兑现日期", render_kw=DATE_INPUT)
    evidence = TextAreaField("佐证说明", render_kw={"placeholder": "文件号、到账凭证等(建议填写)",
                                                    "maxlength": MAX_EVIDENCE})
    version = HiddenField()
    submit = SubmitField("标记已兑现")

    def to_data(self) -> dict[str, Any]:
        return {"status": "delivered", "delivered_date": self.delivered_date.data or "",
                "evidence": self.evidence.data or "", "version": self.version.data or "missing"}


class CancelForm(FlaskForm):
    """取消: only with a reason, kept as the record's evidence note."""

    reason = TextAreaField("取消原因", validators=[
        DataRequired("请填写取消原因"), Length(max=MAX_REASON, message=f"取消原因最长{MAX_REASON}个字符")],
        render_kw={"placeholder": "如:企业项目终止,不再申请该项支持", "maxlength": MAX_REASON})
    version = HiddenField()
    submit = SubmitField("取消该项兑现")

    def to_data(self) -> dict[str, Any]:
        return {"status": "cancelled", "evidence": f"取消原因:{(self.reason.data or '').strip()}",
                "version": self.version.data or "missing"}


class ReopenForm(FlaskForm):
    """改回待兑现 (a delivered record entered by mistake, or a cancelled one taken up again)."""

    version = HiddenField()
    submit = SubmitField("改回待兑现")

    def to_data(self) -> dict[str, Any]:
        return {"status": "promised", "version": self.version.data or "missing"}
