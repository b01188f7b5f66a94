"""The 成渝 partner catalogue: kept by coordinators with audit, read by all, the plan's firms stay as the plan says."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, ValidationFailed
from crm.demo.reference import PARTNERS
from crm.extensions import db
from crm.meetings import domain, partners
from crm.reference.models import Partner, Region
from tests.conftest import login, make_enterprise, make_uscc, make_user
from tests.meetings.factories import make_meeting, partner


def test_the_twelve_firms_of_the_plan_are_in_the_catalogue_marked_as_such():
    rows = db.session.scalars(sa.select(Partner).where(Partner.in_plan.is_(True))).all()
    assert sorted(p.name for p in rows) == sorted(name for name, *_ in PARTNERS)
    assert len(rows) == 12 and all(p.city and p.region in (Region.CHONGQING, Region.SICHUAN) for p in rows)


def test_a_partner_is_added_and_edited_with_audit_and_version():
    coordinator = make_user("coordinator")
    firm = partners.create_partner(coordinator, {"name": "绵阳某电子有限公司", "region": "四川", "city": "绵阳",
                                                 "industry_chain": "电子信息", "uscc": make_uscc()})
    assert firm.in_plan is False and firm.region is Region.SICHUAN
    stale = firm.version
    partners.update_partner(coordinator, firm, {"city": "绵阳市"}, version=stale)
    with pytest.raises(Conflict):
        partners.update_partner(coordinator, firm, {"city": "成都"}, version=stale)
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.entity_type == "partner",
                                                                  AuditLog.entity_id == firm.id)).all()
    assert sorted(a.value for a in actions) == ["create", "update"]


@pytest.mark.parametrize(("field", "value"), [("name", ""), ("region", "贵州"), ("city", ""),
                                              ("uscc", "123"), ("industry_chain", "长" * 81)])
def test_bad_partner_input_is_refused_on_its_field(field, value):
    data = {"name": "重庆某零部件公司", "region": "重庆", "city": "重庆", "industry_chain": "汽车", field: value}
    with pytest.raises(ValidationFailed) as err:
        partners.create_partner(None, data)
    assert field in err.value.fields


def test_duplicates_are_conflicts():
    with pytest.raises(Conflict) as err:
        partners.create_partner(None, {"name": partner().name, "region": "重庆", "city": "重庆"})
    assert "name" in err.value.fields


def test_the_plans_firms_keep_their_name_and_region_but_may_be_completed():
    changan = partner()
    with pytest.raises(ValidationFailed) as err:
        partners.update_partner(None, changan, {"name": "改名", "region": "四川"})
    assert set(err.value.fields) == {"name", "region"}
    partners.update_partner(None, changan, {"industry_chain": "汽车整车"})
    assert changan.industry == "汽车整车"


def test_pages_coordinators_keep_the_catalogue_others_read(client):
    coordinator, commissioner = make_user("coordinator"), make_user("commissioner", specialties=["tech"])
    login(client, coordinator)
    assert client.get("/partners/?q=长安").status_code == 200
    response = client.post("/partners/new", data={"name": "德阳某装备公司", "region": "四川", "city": "德阳",
                                                  "industry_chain": "装备制造", "uscc": ""})
    assert response.status_code == 302
    firm = db.session.scalar(sa.select(Partner).where(Partner.name == "德阳某装备公司"))
    bad = client.post(f"/partners/{firm.id}/edit", data={"name": "", "region": "四川", "city": "德阳",
                                                         "version": firm.version})
    assert bad.status_code == 422 and "请填写企业名称" in bad.get_data(as_text=True)
    client.post("/logout")
    login(client, commissioner)
    assert client.get(f"/partners/{firm.id}").status_code == 200
    assert client.get("/partners/new").status_code == 403
    assert client.post(f"/partners/{firm.id}/edit", data={"name": "x"}).status_code == 403
    assert client.get("/partners/?region=贵州").status_code == 400


def test_the_partner_page_shows_its_local_suppliers_within_the_viewers_scope(client):
    hc, tz = make_enterprise(county="汇川区"), make_enterprise(county="桐梓县")
    seres = partner("赛力斯集团股份有限公司")
    meeting = make_meeting(starts="2025-07-01 09:00", status="held", enterprises=[hc, tz])
    for firm in (hc, tz):
        domain.add_agreement(None, meeting, {"enterprise_id": firm.id, "partner_id": seres.id, "kind": "采购"})
    login(client, make_user("coordinator", county="汇川区"))
    html = client.get(f"/partners/{seres.id}").get_data(as_text=True)
    assert hc.name in html and tz.name not in html and "另有 1 家" in html
