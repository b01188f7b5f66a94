"""crm.core.widgets.Select draws exactly what wtforms' Select draws."""

from __future__ import annotations

import pytest
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import SelectField, widgets
from wtforms.fields.choices import SelectChoice

from crm.core.widgets import Select

CHOICES = [
    [SelectChoice("", "全部区县"), SelectChoice("汇川区", "汇川区"), SelectChoice("红花岗区", "红花岗区")],
    [SelectChoice("", ""), SelectChoice("a\"b<c>&'", "<script>alert('x')</script>"), SelectChoice("x", "")],
    [SelectChoice("1", "规上企业", render_kw={"disabled": True, "data-x": "y"}), SelectChoice("0", "规下企业")],
    [SelectChoice("a", "甲", optgroup="组一"), SelectChoice("b", "乙", optgroup="组二"), SelectChoice("c", "丙")],
    [("name", "按名称"), ("-updated", "最近更新")],
    ["20", "50"],
    [SelectChoice(1, "一"), SelectChoice(2, "二")],
]


@pytest.mark.parametrize("choices", CHOICES)
@pytest.mark.parametrize("chosen", ["", "汇川区", "a\"b<c>&'", "1", "b", "-updated", "50", "2", "没有"])
def test_the_same_bytes_as_wtforms(app, choices, chosen):
    with app.test_request_context():
        class Ours(FlaskForm):
            class Meta:
                csrf = False
            field = SelectField("字段", choices=choices, validate_choice=False, widget=Select(),
                                coerce=str if not isinstance(getattr(choices[0], "value", ""), int) else int)

        class Theirs(Ours):
            field = SelectField("字段", choices=choices, validate_choice=False, widget=widgets.Select(),
                                coerce=Ours.field.kwargs["coerce"])

        data = MultiDict({"field": chosen})
        ours, theirs = Ours(formdata=data), Theirs(formdata=data)
        for kwargs in ({}, {"class_": "form-select", "data-autosubmit": ""}, {"required": True}):
            assert str(ours.field(**kwargs)) == str(theirs.field(**kwargs))
