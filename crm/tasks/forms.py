"""Forms of the task ledger (every one a FlaskForm, so every POST carries its CSRF token). The domain parses
the values and answers in Chinese; the forms only carry them."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from crm.tasks.models import ReportCadence, ReportStatus


class ReportForm(FlaskForm):
    unit = SelectField("责任单位", validate_choice=False)
    period = SelectField("报送期", validate_choice=False)
    status = SelectField("进展状态", choices=[SelectChoice(s.value, s.label) for s in ReportStatus],
                         validate_choice=False)
    text = TextAreaField("进展情况")
    attachments = MultipleFileField("附件(可多选;PDF、Word、Excel、JPEG、PNG,每个不超过 10 MB)")

    def to_data(self) -> dict[str, Any]:
        return {"status": self.status.data, "text": self.text.data or "", "period": self.period.data or None}


class SettingsForm(FlaskForm):
    cadence = SelectField("报送周期", choices=[SelectChoice(c.value, c.label) for c in ReportCadence],
                          validate_choice=False)
    grace_working_days = StringField("逾期宽限(工作日)", render_kw={"inputmode": "numeric"})
    version = HiddenField()

    def to_data(self) -> dict[str, Any]:
        return {"cadence": self.cadence.data, "grace_working_days": self.grace_working_days.data}


class ActionForm(FlaskForm):
    """An empty form: a POST button (delete an attachment) with its CSRF token."""
