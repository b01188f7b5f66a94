"""一企一档's small forms and cards after the sixth provincial-scale pass: the page draws its contact, figure and
partner forms itself (crm/enterprises/page_forms.py) and reads contacts, figures, links and the partner catalogue
as plain rows in one statement (crm.enterprises.domain.record_children). The page must show what it showed: the
forms as ContactForm, FigureForm and PartnerLinkForm draw through the ``field`` macro, the cards in their order."""

from __future__ import annotations

import re

import pytest
from flask import render_template_string

from crm.enterprises import domain
from crm.enterprises.forms import ContactForm, FigureForm, PartnerLinkForm
from crm.extensions import db
from tests.conftest import login, make_enterprise, make_user

# What templates/enterprises/detail.html drew before the pass: the forms through the field macro.
WTFORMS = """{% from "_macros/form.html" import field %}
{%- for f in forms %}{{ f.csrf_token }}
{%- for x in f if x.short_name != 'csrf_token' %}[{{ field(x) }}]{% endfor %}@@{% endfor %}"""
ORDER = {"contact": ("name", "post", "phone"),
         "figure": ("year", "above_scale", "output_value", "chengyu_output_value"),
         "partner": ("partner", "supplies")}


def _wtforms(app, figure_values: dict | None) -> list[str]:
    """The three forms as wtforms draws them (the view's values before the pass), one block per form."""
    contact, figure = ContactForm(prefix="contact"), FigureForm(prefix="figure")
    partner = PartnerLinkForm(prefix="partner")
    if figure_values:
        for name, value in figure_values.items():
            figure[name].data = value
    figure.set_defaults()
    partner.fill_choices()
    forms = [contact, figure, partner]
    for form, names in zip(forms, ORDER.values(), strict=True):  # the page's order of fields
        form._fields = {k: form._fields[k] for k in ("csrf_token", *names) if k in form._fields}
    return render_template_string(WTFORMS, forms=forms).split("@@")[:3]


def _page_forms(html: str) -> list[str]:
    """The page's three forms, written as _wtforms writes them."""
    blocks = []
    for action in ("contacts", "figures", "partners"):
        form = re.search(rf'<form method="post" action="/enterprises/\d+/{action}".*?</form>', html, re.S).group(0)
        token = re.search(r'<input id="\w+-csrf_token"[^>]*>', form)
        token = token.group(0) if token else ""
        fields = re.findall(r'<div class="col-[^"]*">(<div class="mb-3">.*?</div>)</div>', form, re.S)
        blocks.append(token + "".join(f"[{f}]" for f in fields))
    return blocks


@pytest.fixture()
def firm():
    ent = make_enterprise(county="汇川区")
    domain.add_contact(None, ent, {"name": "王经理", "post": "总经理", "phone": "0851-28888888"})
    domain.set_figure(None, ent, 2023, {"output_value": "12000", "chengyu_output_value": "3000.5",
                                        "above_scale": True})
    domain.set_figure(None, ent, 2024, {"output_value": "15000.25", "chengyu_output_value": "4000",
                                        "above_scale": False})
    domain.set_figure(None, ent, 2025, {"output_value": "1.05", "chengyu_output_value": "0"})
    domain.link_partner(None, ent, "赛力斯集团股份有限公司", "线束")
    domain.link_partner(None, ent, "成都客车股份有限公司", "<座椅>")
    db.session.commit()
    return ent


@pytest.mark.parametrize(("year", "values"), [
    (None, None),
    (2023, {"year": 2023, "output_value": "12000.00", "chengyu_output_value": "3000.50", "above_scale": "yes"}),
    (2024, {"year": 2024, "output_value": "15000.25", "chengyu_output_value": "4000.00", "above_scale": "no"}),
    (2025, {"year": 2025, "output_value": "1.05", "chengyu_output_value": "0.00", "above_scale": ""}),
    (1999, None),  # a year the record has not: the fresh form
])
@pytest.mark.parametrize("csrf", [True, False])
def test_the_page_draws_its_forms_as_wtforms_does(app, client, monkeypatch, firm, year, values, csrf):
    login(client, make_user("coordinator"))
    # on in production, off under tests: each form has its token field as FlaskForm has it
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", csrf)
    path = f"/enterprises/{firm.id}" + (f"?figure_year={year}" if year else "")
    html = client.get(path).get_data(as_text=True)
    page = _page_forms(html)
    with app.test_request_context(path):
        expected = _wtforms(app, values)
    token = re.compile(r'value="[^"]+">')  # the token is signed with the time: compare its field, not its value
    assert [token.sub('value="">', b, 1) for b in page] == [token.sub('value="">', b, 1) for b in expected]
    assert "<optgroup label=" in page[2] and "&lt;座椅&gt;" not in page[2]
    assert all(('csrf_token" type="hidden"' in b) == csrf for b in page)


def test_the_cards_list_contacts_figures_and_links_in_their_order_from_one_statement(client, count_queries, firm):
    login(client, make_user("coordinator"))
    path = f"/enterprises/{firm.id}"
    client.get(path)
    db.session.expire_all()
    with count_queries() as queries:
        html = client.get(path).get_data(as_text=True)
    reads = [" ".join(s.split()) for s in queries.statements]
    assert sum(1 for s in reads if "enterprise_contacts" in s or "enterprise_figures" in s
               or "enterprise_partners" in s or "FROM partners" in s) == 1, "\n".join(reads)
    figures = html[html.index('id="figures"'):]
    figures = figures[:figures.index("</section>")]
    assert re.findall(r'<td class="text-nowrap">(\d{4})', figures) == ["2025", "2024", "2023"]
    assert "15,000.25" in figures and "26.7%" in figures and ">是<" in figures and ">否<" in figures
    partners = html[html.index('id="partners"'):]
    partners = partners[:partners.index("</section>")]
    assert partners.index("赛力斯集团股份有限公司") < partners.index("成都客车股份有限公司")  # by link id
    assert "&lt;座椅&gt;" in partners and '<span class="badge text-bg-light border">四川</span>' in partners
    assert "王经理" in html and 'href="tel:0851-28888888"' in html


def test_a_reader_gets_no_forms_and_no_catalogue(client, count_queries, firm):
    login(client, make_user("leader"))
    path = f"/enterprises/{firm.id}"
    client.get(path)
    with count_queries() as queries:
        html = client.get(path).get_data(as_text=True)
    assert "王经理" in html and "赛力斯集团股份有限公司" in html
    assert 'name="partner-partner"' not in html and 'name="contact-name"' not in html
    assert not any("FROM partners" in s and "enterprise_partners" not in s for s in queries.statements)
