"""The workspace drawn once per enterprise (fourth pass of issue 11): one table row that is a card on a phone by
CSS, with everything the card and the row used to show; its figures and assignments read as plain columns; the
commissioner chooser's options joined in Python with the same bytes as the field's template loop."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from crm.core.time import local_today
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from crm.service.forms import WorkspaceFilterForm
from crm.service.interaction_views import _visible_commissioners
from crm.service.views import with_selected
from crm.service.workspace import WorkspaceAssignment, WorkspaceEnterprise, workspace_page
from tests.conftest import assign, login, make_enterprise, make_user

# The loop the template used to draw the chooser with (templates/service/workspace.html before the fourth pass).
TEMPLATE_LOOP = ('{%- for value, label, selected, _ in f.iter_choices() %}<option {% if selected %}selected {% endif %}'
                 'value="{{ value }}">{{ label }}</option>{% endfor -%}')


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-enterprise="\d+".*?</tr>', html, re.S)


def test_each_enterprise_is_drawn_once_with_what_the_card_and_the_row_showed(client):
    tech = make_user("commissioner", username="markup-tech", specialties=["tech"])
    finance = make_user("commissioner", username="markup-finance", specialties=["finance"])
    late = make_enterprise("遵义标记诉求逾期有限公司", county="桐梓县", cluster="电子信息")
    quiet = make_enterprise("遵义标记从未联系有限公司")
    for firm in (late, quiet):
        assign(firm, tech, "tech")
    assign(late, finance, "finance")
    today = local_today()
    interaction_domain.log_interaction(tech, late, {
        "date": (today - timedelta(days=3)).isoformat(), "channel": "call", "specialty": "tech",
        "summary": "电话联系", "next_follow_up": ""}, today=today)
    request_domain.raise_request(tech, late, {
        "category": "用地", "description": "用地诉求", "raised_on": (today - timedelta(days=30)).isoformat(),
        "due_date": (today - timedelta(days=20)).isoformat()}, today=today)  # a rest day moves, not 20 days
    coordinator = make_user("coordinator")
    db.session.commit()

    login(client, coordinator)
    html = client.get("/service/").get_data(as_text=True)
    rows = rows_of(html)
    assert len(rows) == 2
    assert re.findall(r'data-card="(\d+)"', html) == re.findall(r'<tr data-enterprise="(\d+)"', html)
    assert [int(i) for i in re.findall(r'data-log="(\d+)"', html)] == [late.id, quiet.id]  # one button a row
    first, second = rows
    assert f'data-card="{late.id}"' in first and 'class="table-danger"' in first
    assert "遵义标记诉求逾期有限公司" in first and "桐梓县 · 电子信息" in first
    assert f"科技 · {tech.display_name}" in first and f"融资 · {finance.display_name}" in first
    assert 'data-label="最近联系"' in first and 'data-days-since="3"' in first
    assert 'data-label="诉求"' in first and "逾期 1 件" in first
    assert "从未联系" in second and "汇川区 · 装备制造" in second
    assert 'href="/static/css/workspace.css' in html  # the card layout on a phone
    assert "d-md-none" not in html and "workspace-cards" in html  # no second drawing for phones

    client.delete_cookie("session")
    login(client, tech)
    mine = client.get("/service/").get_data(as_text=True)
    assert len(rows_of(mine)) == 2 and "我的服务领域" in mine
    mine_first = rows_of(mine)[0]
    assert 'data-label="服务领域"' in mine_first and tech.display_name not in mine_first  # their own: no names
    assert "specialty=tech" in mine_first  # 记录走访 preselects their specialty


def test_the_rows_are_plain_columns_not_enterprises(app):
    commissioner = make_user("commissioner", specialties=["tech"])
    firm = make_enterprise()
    firm.is_demo = True
    assign(firm, commissioner)
    db.session.flush()
    db.session.expunge_all()
    loaded: list = []
    listener = lambda target, _context: loaded.append(type(target))  # noqa: E731
    sa.event.listen(Enterprise, "load", listener)
    try:
        [row] = workspace_page(commissioner, None, local_today(), 1, 30).page.items
    finally:
        sa.event.remove(Enterprise, "load", listener)
    assert loaded == []
    assert row.enterprise == WorkspaceEnterprise(firm.id, firm.name, firm.name_pinyin, True, "汇川区", "装备制造")
    assert [type(a) for a in row.assignments] == [WorkspaceAssignment]
    assert row.assignments[0].commissioner_name == commissioner.display_name


def test_the_chooser_options_are_the_fields_own_markup(app):
    odd = make_user("commissioner", username="chooser-odd", county="汇川区", specialties=["tech"])
    odd.display_name = '张<三> & "李\'四'
    make_user("commissioner", username="chooser-plain", specialties=["tech"])
    coordinator = make_user("coordinator")
    db.session.flush()
    commissioners, options = _visible_commissioners(coordinator)
    users = {u.username: u for u in db.session.scalars(sa.select(type(odd)).where(
        type(odd).username.in_([row[1] for row in commissioners])))}
    for wanted in (None, "", "chooser-odd", "nobody"):
        with app.test_request_context("/service/"):
            form = WorkspaceFilterForm(formdata=MultiDict({"commissioner": wanted} if wanted is not None else {}))
            form.fill_choices([users[row[1]] for row in commissioners])
            expected = app.jinja_env.from_string(TEMPLATE_LOOP).render(f=form.commissioner)
            assert str(with_selected(options, form.commissioner.data)) == expected, wanted  # kept, marked
    assert "张&lt;三&gt; &amp; &#34;李&#39;四(chooser-odd) · 汇川区" in expected


def test_the_row_links_built_once_are_url_fors(app):
    from flask import url_for

    from crm.service.interaction_views import _row_urls
    from crm.service.views import IdUrls

    with app.test_request_context("/service/"):
        urls = _row_urls()
        for id_ in (1, 42, 918273645, 2_147_483_647):
            assert urls["enterprise"](id_) == url_for("enterprises.detail", enterprise_id=id_)
            assert urls["open_requests"](id_) == url_for("service.requests_index", enterprise_id=id_,
                                                         status=["raised", "accepted", "in_progress"])
            assert urls["log"][None](id_) == url_for("service.interaction_new", enterprise_id=id_)
            for specialty in ("tech", "finance", "legal", "media", "talent"):
                assert urls["log"][specialty](id_) == url_for("service.interaction_new", enterprise_id=id_,
                                                              specialty=specialty)
            assert IdUrls("service.request_detail", "request_id")(id_) == url_for("service.request_detail",
                                                                                  request_id=id_)
