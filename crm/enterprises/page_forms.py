"""The 一企一档 page's three small forms (contact, figure, partner link) as the page draws them on a GET.

On a GET the forms are empty but for the figure form (this year, or the values of the year whose "修改" was clicked)
and the partner select (the catalogue), and never show errors (their POSTs flash and redirect). So the page draws
them here, the same bytes wtforms and the ``field`` macro (templates/_macros/form.html) draw for ContactForm,
FigureForm and PartnerLinkForm, which still check the POSTs. tests/enterprises/test_detail_forms.py draws both and
compares them: a change to those forms must be made here too.

Why: building the three forms and drawing them through the macro cost ≈ 2.7 ms a view of the record, 10 % of the
page (each attribute through ``html_params``, a ``dir()`` of each field's flags, a macro call a field; the sixth
provincial-scale pass, measured in-process on the bench database); drawn here ≈ 0.05 ms.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from markupsafe import Markup, escape

from crm.core.time import local_today
from crm.enterprises.domain import CatalogueEntry, Record
from crm.enterprises.forms import FigureForm

# the ``field`` macro's block around a control, for a field without errors
_BLOCK = ('<div class="mb-3">\n    \n      <label class="form-label" for="{id}">{label}</label>{star}\n      \n'
          '        {control}\n      \n      \n      \n    \n  </div>')


def _field(field_id: str, label: str, control: str, *, required: bool = False) -> Markup:
    star = ' <span class="text-danger">*</span>' if required else ""
    return Markup(_BLOCK.format(id=field_id, label=label, star=star, control=control))  # noqa: S704 (literals)


CONTACT = {
    "name": _field("contact-name", "姓名", '<input class="form-control" id="contact-name" maxlength="40" '
                   'name="contact-name" required type="text" value="">', required=True),
    "post": _field("contact-post", "职务", '<input class="form-control" id="contact-post" maxlength="40" '
                   'name="contact-post" type="text" value="">'),
    "phone": _field("contact-phone", "电话", '<input class="form-control" id="contact-phone" inputmode="tel" '
                    'maxlength="20" name="contact-phone" type="tel" value="">'),
}
PARTNER_SUPPLIES = _field("partner-supplies", "配套内容", '<input class="form-control" id="partner-supplies" '
                          'maxlength="200" name="partner-supplies" placeholder="如:铝合金轮毂、线束" required '
                          'type="text" value="">', required=True)
_ABOVE_SCALE = (("", "未填(按企业现状)"), ("yes", "是"), ("no", "否"))


def figure_fields(year: str, output_value: str, chengyu_output_value: str, above_scale: str | None
                  ) -> dict[str, Markup]:
    """``above_scale``: the selected choice's value, ``None`` for none selected (a fresh form: wtforms selects
    nothing, not even the blank choice)."""
    options = "".join(f'<option {"selected " if value == above_scale else ""}value="{value}">{label}</option>'
                      for value, label in _ABOVE_SCALE)
    return {
        "year": _field("figure-year", "年份", '<input class="form-control" id="figure-year" max="2100" min="2000" '
                       f'name="figure-year" required type="number" value="{escape(year)}">', required=True),
        "above_scale": _field("figure-above_scale", "当年是否规上", '<select class="form-select" '
                              f'id="figure-above_scale" name="figure-above_scale">{options}</select>'),
        "output_value": _field("figure-output_value", "产值(万元)", '<input autocomplete="off" class="form-control" '
                               'id="figure-output_value" inputmode="decimal" name="figure-output_value" required '
                               f'type="text" value="{escape(output_value)}">', required=True),
        "chengyu_output_value": _field(
            "figure-chengyu_output_value", "成渝配套产值(万元)", '<input autocomplete="off" class="form-control" '
            'id="figure-chengyu_output_value" inputmode="decimal" name="figure-chengyu_output_value" type="text" '
            f'value="{escape(chengyu_output_value)}">'),
    }


def partner_select(partners: list[CatalogueEntry]) -> Markup:
    """PartnerLinkForm's select: the catalogue grouped by region (PartnerLinkForm.fill_choices' order: region,
    then id), joined in Python."""
    html = ['<select class="form-select" id="partner-partner" name="partner-partner" required>'
            '<option value="">请选择成渝企业</option>']
    group = None
    for p in sorted(partners, key=lambda p: (p.region or "其他", p.id)):
        region = p.region or "其他"
        if region != group:
            if group is not None:
                html.append("</optgroup>")
            html.append(f'<optgroup label="{escape(region)}">')
            group = region
        name = escape(p.name)
        html.append(f'<option value="{name}">{name}</option>')
    if group is not None:
        html.append("</optgroup>")
    html.append("</select>")
    return _field("partner-partner", "成渝企业", "".join(html), required=True)


def page_forms(record: Record, figure_year: int | None) -> dict[str, Any]:
    """The forms' fields as the page shows them; ``figure_year``: the year whose "修改" was clicked (``?figure_year``),
    its values fill the figure form when the record has it."""
    current = next((f for f in record.figures if f.year == figure_year), None)
    if current is not None:
        figure = figure_fields(str(current.year), str(current.output_value), str(current.chengyu_output_value),
                               FigureForm.above_scale_choice(current.above_scale))
    else:
        figure = figure_fields(str(local_today().year), "", "", None)
    # each form's hidden csrf_token field, as FlaskForm has one: only when CSRF is on (always, but under tests)
    return {"csrf": current_app.config.get("WTF_CSRF_ENABLED", True), "contact": CONTACT, "figure": figure,
            "partner": {"partner": partner_select(record.partners), "supplies": PARTNER_SUPPLIES}}
