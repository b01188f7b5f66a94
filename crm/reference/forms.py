"""Forms of the upkeep pages: they carry the CSRF token, the version and the shape of the input; the rules and
their Chinese messages are :mod:`crm.reference.domain`'s (choices do not validate themselves)."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice

from crm.reference.models import County, EnclaveMode, ParkKind, all_of


class ParkForm(FlaskForm):
    name = StringField("园区名称", render_kw={"maxlength": 120})
    county = SelectField("区县", validate_choice=False)
    kind = SelectField("园区类型", choices=[SelectChoice(k.value, k.label) for k in ParkKind], validate_choice=False)
    supporting = BooleanField("已认定为配套产业园区")
    recognised_on = StringField("认定日期", render_kw={"type": "date"})
    recognition_document = StringField("认定文件", render_kw={"maxlength": 200,
                                                           "placeholder": "如:遵工信发〔2025〕X号"})
    enclave_mode = SelectField("飞地模式", choices=[SelectChoice("", "(非飞地园区)")] + [
        SelectChoice(m.value, m.label) for m in EnclaveMode], validate_choice=False)
    chengyu_counterpart = StringField("成渝合作方", render_kw={"maxlength": 120,
                                                           "placeholder": "飞地园区的成渝合作园区或地方"})
    version = HiddenField()
    submit = SubmitField("保存")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.county.choices = [SelectChoice("", "请选择")] + [SelectChoice(c.name, c.name) for c in all_of(County)]
        for name in ("name", "county", "kind"):
            self[name].flags.required = True

    @staticmethod
    def initial(park: Any) -> dict[str, Any]:
        return {"name": park.name, "county": park.county.name if park.county else "", "kind": park.kind.value,
                "supporting": park.supporting,
                "recognised_on": park.recognised_on.isoformat() if park.recognised_on else "",
                "recognition_document": park.recognition_document,
                "enclave_mode": park.enclave_mode.value if park.enclave_mode else "",
                "chengyu_counterpart": park.chengyu_counterpart, "version": str(park.version)}

    def to_data(self) -> dict[str, Any]:
        return {"name": self.name.data or "", "county": self.county.data or "", "kind": self.kind.data or "",
                "supporting": bool(self.supporting.data), "recognised_on": self.recognised_on.data or "",
                "recognition_document": self.recognition_document.data or "",
                "enclave_mode": self.enclave_mode.data or "",
                "chengyu_counterpart": self.chengyu_counterpart.data or ""}


class DepartmentForm(FlaskForm):
    name = StringField("单位名称", render_kw={"maxlength": 80})
    version = HiddenField()
    submit = SubmitField("保存")


class TargetForm(FlaskForm):
    target_firms = StringField("规上配套企业目标(家)", render_kw={"inputmode": "numeric", "autocomplete": "off"})
    target_output = StringField("产值目标(亿元)", render_kw={"inputmode": "decimal", "autocomplete": "off"})
    version = HiddenField()
    submit = SubmitField("保存")

    def to_data(self) -> dict[str, Any]:
        return {"target_firms": self.target_firms.data or "", "target_output": self.target_output.data or ""}


class PlanTargetForm(FlaskForm):
    target = StringField("目标值", render_kw={"inputmode": "numeric", "autocomplete": "off"})
    version = HiddenField()
    submit = SubmitField("保存")
