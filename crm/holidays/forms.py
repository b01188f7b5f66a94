"""Forms of the holiday admin page (every one a FlaskForm, so every POST carries its CSRF token)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from crm.holidays.domain import MAX_YEAR, MIN_YEAR, NAME_MAX

KIND_CHOICES = [("holiday", "放假"), ("workday", "上班(调休上班日)")]


class DayForm(FlaskForm):
    # A text field with the browser's date picker: the domain parses it and answers in Chinese.
    day = StringField("日期", validators=[InputRequired("请填写日期(YYYY-MM-DD)")], render_kw={"type": "date"})
    kind = SelectField("类型", choices=KIND_CHOICES)
    name = StringField("名称", validators=[Optional(), Length(max=NAME_MAX, message=f"名称最长{NAME_MAX}个字")])


class ImportForm(FlaskForm):
    year = IntegerField("年份", validators=[
        DataRequired("请填写年份"),
        NumberRange(MIN_YEAR, MAX_YEAR, f"年份应在{MIN_YEAR}到{MAX_YEAR}之间")])
    file = FileField("文件(CSV 或 XLSX)", validators=[
        FileRequired("请选择要导入的文件"),
        FileAllowed(["csv", "xlsx"], "只能导入 CSV 或 XLSX 文件(.csv / .xlsx)")])


class ActionForm(FlaskForm):
    """An empty form: a POST button (delete a day, seed from chinese-calendar) with its CSRF token."""
