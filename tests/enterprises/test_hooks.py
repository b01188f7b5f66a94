"""How other capabilities add to the enterprise registry (crm/enterprises/hooks.py): page sections of 一企一档,
search filters, history filters. The registry imports none of them; these tests add a capability of their own.
"""

from __future__ import annotations

import pytest
from markupsafe import Markup

from crm.core.audit import AuditLog
from crm.enterprises import domain, hooks
from crm.extensions import db
from tests.conftest import login, make_enterprise, make_user


def test_a_capability_adds_a_section_in_its_place(client):
    """A section of order 150 (say, meetings) sits between the service's cards (100) and the lists' (200)."""
    enterprise = make_enterprise("遵义页面挂载测试有限公司")
    admin = make_user("admin")
    db.session.commit()
    seen = {}

    def meetings(sender, *, viewer, editable, **_):
        seen.update(enterprise=sender.id, viewer=viewer.id, editable=editable)
        return hooks.Section(150, Markup('<section class="col-12" id="meetings">会议</section>'))

    login(client, admin)
    with hooks.page_sections.connected_to(meetings):
        html = client.get(f"/enterprises/{enterprise.id}").get_data(as_text=True)
    assert seen == {"enterprise": enterprise.id, "viewer": admin.id, "editable": True}
    order = [html.index(f'id="{name}"') for name in ("partners", "commissioners", "policy", "meetings", "rosters",
                                                     "history")]
    assert order == sorted(order)
    assert 'id="meetings"' not in client.get(f"/enterprises/{enterprise.id}").get_data(as_text=True)


def test_the_registered_sections_and_filters(app):
    """The service and the lists registered theirs when the app was made."""
    enterprise = make_enterprise("遵义挂载清单测试有限公司")
    with app.test_request_context():
        html = "".join(hooks.sections(enterprise, viewer=make_user("admin"), editable=True))
    assert html.index('id="commissioners"') < html.index('id="rosters"')
    assert [(f.name, f.label) for f in hooks.registered_search_filters()] == [("roster", "所在名单")]


def test_search_refuses_a_filter_nobody_registered():
    with pytest.raises(TypeError, match="meeting"):
        domain.search_statement(make_user("admin"), meeting="2026")
    domain.search_statement(make_user("admin"), roster="")  # registered, empty: no filter


def test_history_takes_the_conditions_the_capabilities_give():
    """A capability hides its rows from a viewer (here: the yearly figures, as if they were secret)."""
    enterprise = make_enterprise("遵义历史筛选测试有限公司")
    domain.set_figure(None, enterprise, 2025, {"output_value": "100", "chengyu_output_value": "10"})
    db.session.flush()
    viewer = make_user("leader")

    def hide_figures(sender, **_):
        return AuditLog.entity_type != "figure"

    assert "figure" in {row.entity_type for row in domain.history(enterprise.id, viewer)}
    with hooks.history_filters.connected_to(hide_figures):
        assert "figure" not in {row.entity_type for row in domain.history(enterprise.id, viewer)}
        assert "figure" in {row.entity_type for row in domain.history(enterprise.id)}  # no viewer: everything
    assert "figure" in {row.entity_type for row in domain.history(enterprise.id, viewer)}
