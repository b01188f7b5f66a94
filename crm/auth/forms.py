"""Sign-in and user administration forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from crm.auth.models import Role, Specialty


class LoginForm(FlaskForm):
    username = StringField("用户名", validators=[DataRequired("请输入用户名"), Length(max=64)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码")])
    remember = BooleanField("记住我(14天)")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserForm(FlaskForm):
    username = StringField("用户名", validators=[
        DataRequired("请输入用户名"), Length(max=64, message="用户名最长64个字符"),
        Regexp(r"^[A-Za-z0-9._-]+$", message="用户名只能包含字母、数字、点、下划线和连字符")])
    display_name = StringField("姓名", validators=[DataRequired("请输入姓名"), Length(max=80)])
    role = SelectField("角色", choices=[(r.value, r.label) for r in Role])
    department = SelectField("责任单位", choices=[], validators=[Optional()])
    county = SelectField("区县范围", choices=[], validators=[Optional()])
    specialties = MultiCheckboxField(
        "专长(服务专员)", choices=[(s.value, s.label) for s in Specialty])
    phone = StringField("电话", validators=[Optional(), Length(max=32),
                                          Regexp(r"^[0-9+\-() ]{5,20}$", message="电话号码格式不正确")])
    password = PasswordField("初始密码", validators=[Optional()])


class PasswordResetForm(FlaskForm):
    password = PasswordField("新密码", validators=[DataRequired("请输入新密码")])


class PasswordChangeForm(FlaskForm):
    """修改密码 (self-service); the strength rule is the domain's (``check_password_strength``)."""

    current_password = PasswordField("当前密码", validators=[DataRequired("请输入当前密码")])
    new_password = PasswordField("新密码", validators=[DataRequired("请输入新密码")])
    new_password2 = PasswordField("再次输入新密码", validators=[DataRequired("请再次输入新密码")])


class ConfirmForm(FlaskForm):
    """An empty form: a POST button with its CSRF token."""
