"""Forms of the 专项督导 pages: they carry the input and the CSRF token; :mod:`crm.tasks.supervision` checks the
rules and writes (choices do not validate themselves, so the domain answers in Chinese what is allowed)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice

from crm.auth.forms import MultiCheckboxField
from crm.tasks.models import RectificationStatus
from crm.tasks.supervision import NOTE_MAX, SUBJECT_MAX, TEXT_MAX

DATE_INPUT = {"type": "date", "autocomplete": "off"}
STATUS_CHOICES = [SelectChoice(s.value, s.label) for s in RectificationStatus]
OVERDUE_CHOICES = [SelectChoice("", "不限"), SelectChoice("1", "只看逾期"), SelectChoice("0", "未逾期")]


class VisitForm(FlaskForm):
    visited_on = StringField("督导日期", render_kw=DATE_INPUT)
    department = SelectField("被督导单位", validate_choice=False)
    county = SelectField("或:被督导区县(督导该区县人民政府)", validate_choice=False)
    task = SelectField("涉及重点任务", validate_choice=False)
    subject = StringField("督导事项", render_kw={"maxlength": SUBJECT_MAX, "autocomplete": "off"})
    findings = TextAreaField("督导发现", render_kw={"maxlength": TEXT_MAX})
    version = HiddenField()

    def fill_choices(self, departments: list[str], counties: list[str], tasks: list[tuple[int, str]]) -> None:
        self.department.choices = [SelectChoice("", "请选择单位"), *(SelectChoice(n, n) for n in departments)]
        self.county.choices = [SelectChoice("", "(不按区县)"), *(SelectChoice(n, n) for n in counties)]
        self.task.choices = [SelectChoice("", "(不涉及具体任务)"), *(SelectChoice(str(i), t) for i, t in tasks)]

    def data_for_domain(self) -> dict:
        return {"visited_on": self.visited_on.data, "department": self.department.data or None,
                "county": self.county.data or None, "task": self.task.data or None,
                "subject": self.subject.data or "", "findings": self.findings.data or ""}


class ItemForm(FlaskForm):
    description = TextAreaField("整改事项", render_kw={"maxlength": TEXT_MAX})
    department = SelectField("整改责任单位", validate_choice=False)
    owner = SelectField("责任人(该单位联络员,可不填)", validate_choice=False)
    due_workdays = StringField("整改时限:督导日后工作日数", render_kw={"inputmode": "numeric", "autocomplete": "off"})
    due_date = StringField("或:整改截止日期", render_kw=DATE_INPUT)

    def fill_choices(self, departments: list[str], owners: list[tuple[str, str]]) -> None:
        self.department.choices = [SelectChoice("", "被督导单位"), *(SelectChoice(n, n) for n in departments)]
        self.owner.choices = [SelectChoice("", "(不指定)"), *(SelectChoice(u, label) for u, label in owners)]

    def data_for_domain(self) -> dict:
        return {"description": self.description.data or "", "department": self.department.data or None,
                "owner": self.owner.data or None, "due_workdays": (self.due_workdays.data or "").strip() or None,
                "due_date": self.due_date.data or None}


class ItemEditForm(FlaskForm):
    """A coordinator corrects an item: its text, owning unit, owner or due date."""

    description = TextAreaField("整改事项", render_kw={"maxlength": TEXT_MAX})
    department = SelectField("整改责任单位", validate_choice=False)
    owner = SelectField("责任人(该单位联络员,可不填)", validate_choice=False)
    due_date = StringField("整改时限", render_kw=DATE_INPUT)
    version = HiddenField()

    def fill_choices(self, departments: list[str], owners: list[tuple[str, str]]) -> None:
        self.department.choices = [SelectChoice(n, n) for n in departments]
        self.owner.choices = [SelectChoice("", "(不指定)"), *(SelectChoice(u, label) for u, label in owners)]

    def data_for_domain(self, current_due: str) -> dict:
        data = {"description": self.description.data or "", "department": self.department.data or None,
                "owner": self.owner.data or None}
        due = (self.due_date.data or "").strip()
        if due and due != current_due:  # unchanged: kept as it is (not moved again)
            data["due_date"] = due
        return data


class ItemTransitionForm(FlaskForm):
    to = RadioField("变更为", choices=[], validate_choice=False)
    note = TextAreaField("整改情况 / 说明", render_kw={"maxlength": NOTE_MAX,
                                                    "placeholder": "整改完成时填写整改情况;退回时说明原因"})
    version = HiddenField()


class ItemFilterForm(FlaskForm):
    class Meta:
        csrf = False

    department = SelectField("责任单位", validate_choice=False)
    status = MultiCheckboxField("状态", choices=STATUS_CHOICES, validate_choice=False)
    overdue = SelectField("逾期", choices=OVERDUE_CHOICES, validate_choice=False)

    def fill_choices(self, departments: list[str]) -> None:
        self.department.choices = [SelectChoice("", "全部单位"), *(SelectChoice(n, n) for n in departments)]
