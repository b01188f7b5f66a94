"""Upkeep of parks, departments and targets: audited old → new, versions (a stale edit is refused with nothing
lost), the targets' sum against the city row, and who may do what (admins and city coordinators change; county
coordinators and leaders read; commissioners are refused the pages)."""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.core.messages import STALE_MESSAGE
from crm.extensions import db
from crm.reference import domain
from crm.reference.models import County, Department, EnclaveMode, Park, ParkKind, PlanTarget, Target
from tests.conftest import login, make_park, make_user


def text_of(response) -> str:
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def audits(entity: str, entity_id: int) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == entity,
                                                             AuditLog.entity_id == entity_id).order_by(AuditLog.id)))


def target(year: int, county: str | None) -> Target:
    stmt = sa.select(Target).where(Target.year == year)
    if county is None:
        return db.session.scalar(stmt.where(Target.county_id.is_(None)))
    return db.session.scalar(stmt.join(County, Target.county_id == County.id).where(County.name == county))


PARK = {"name": "仁怀测试产业园", "county": "仁怀市", "kind": "industrial_park", "supporting": False,
        "recognised_on": "", "recognition_document": "", "enclave_mode": "", "chengyu_counterpart": ""}


# --- domain ----------------------------------------------------------------------------------------------------

def test_a_park_is_created_and_recognised_with_audit_old_to_new():
    coordinator = make_user("coordinator")
    park = domain.create_park(coordinator, PARK)
    assert (park.county.name, park.kind, park.supporting, park.is_demo) == ("仁怀市", ParkKind.INDUSTRIAL_PARK, False,
                                                                            False)
    document = "遵工信发〔2026〕9号"
    domain.update_park(coordinator, park, {**PARK, "county": "习水县", "supporting": True,
                                           "recognised_on": "2026-03-02", "recognition_document": document},
                       version=park.version)
    created, updated = audits("park", park.id)
    assert created.action.value == "create" and created.changes["name"] == [None, "仁怀测试产业园"]
    assert updated.changes == {"county": ["仁怀市", "习水县"], "supporting": [False, True],
                               "recognised_on": [None, "2026-03-02"], "recognition_document": ["", document]}
    assert updated.actor_id == coordinator.id


def test_an_enclave_park_needs_its_mode_and_counterpart_and_only_it_has_them():
    with pytest.raises(ValidationFailed) as err:
        domain.create_park(None, {**PARK, "kind": "enclave"})
    assert set(err.value.fields) == {"enclave_mode", "chengyu_counterpart"}
    park = domain.create_park(None, {**PARK, "kind": "enclave", "enclave_mode": "租借",
                                     "chengyu_counterpart": "四川省泸州市"})
    assert park.enclave_mode is EnclaveMode.LEASED
    with pytest.raises(ValidationFailed) as err:
        domain.create_park(None, {**PARK, "name": "另一园区", "enclave_mode": "合建"})
    assert "enclave_mode" in err.value.fields
    with pytest.raises(ValidationFailed) as err:  # recognised needs its date
        domain.create_park(None, {**PARK, "name": "另一园区", "supporting": True})
    assert "recognised_on" in err.value.fields
    with pytest.raises(Conflict):
        domain.create_park(None, {**PARK, "name": "桐梓(重庆)工业园", "county": "桐梓县"})


def test_stale_versions_are_refused_and_nothing_is_written():
    park = make_park("版本测试园区", "汇川区")
    stale = park.version
    domain.update_park(None, park, {**PARK, "name": "版本测试园区", "county": "汇川区", "kind": "development_zone"},
                       version=stale)
    with pytest.raises(Conflict) as err:
        domain.update_park(None, park, {**PARK, "name": "改名园区", "county": "汇川区"}, version=stale)
    assert err.value.message == STALE_MESSAGE and park.name == "版本测试园区"
    department = domain.create_department(None, "市测试局")
    old = department.version
    domain.rename_department(None, department, "市测试管理局", version=old)
    with pytest.raises(Conflict):
        domain.rename_department(None, department, "市又一局", version=old)
    row = target(2025, "汇川区")
    with pytest.raises(Conflict):
        domain.update_target(None, row, {"target_firms": 36, "target_output": "40"}, version=row.version + 1)
    assert row.target_firms == 35


def test_departments_are_added_and_renamed_with_audit():
    department = domain.create_department(make_user("admin"), " 市测试局 ")
    domain.rename_department(None, department, "市测试管理局", version=department.version)
    assert [a.changes for a in audits("department", department.id)] == [
        {"name": [None, "市测试局"]}, {"name": ["市测试局", "市测试管理局"]}]
    with pytest.raises(Conflict):
        domain.create_department(None, "市工业和科学技术局")
    with pytest.raises(ValidationFailed):
        domain.create_department(None, "  ")


def test_targets_are_edited_with_audit_and_the_sum_is_checked():
    assert domain.targets_add_up(2025) == [] and domain.targets_add_up(2027) == []
    hc = target(2025, "汇川区")
    domain.update_target(None, hc, {"target_firms": "38", "target_output": "41.5"}, version=hc.version)
    [entry] = audits("target", hc.id)
    assert entry.changes == {"year": 2025, "unit": "汇川区", "target_firms": [35, 38], "target_output": ["40", "41.5"]}
    # counties: 75 - 35 + 38 = 78 firms, 90 - 40 + 41.5 = 91.5 亿元; the city row still says 75 / 90
    assert domain.targets_add_up(2025) == [
        "2025年区县规上配套企业目标之和 78 家,与全市目标 75 家不一致(相差 +3 家)",
        "2025年区县产值目标之和 91.5 亿元,与全市目标 90 亿元不一致(相差 +1.5 亿元)"]
    city = target(2025, None)
    domain.update_target(None, city, {"target_firms": 78, "target_output": "91.5"}, version=city.version)
    assert domain.targets_add_up(2025) == []
    with pytest.raises(ValidationFailed) as err:
        domain.update_target(None, hc, {"target_firms": "-1", "target_output": "1.234"})
    assert set(err.value.fields) == {"target_firms", "target_output"}
    parks = db.session.scalar(sa.select(PlanTarget).where(PlanTarget.year == 2027, PlanTarget.metric == "parks"))
    domain.update_plan_target(None, parks, {"target": "6"}, version=parks.version)
    assert parks.target == 6 and audits("target", parks.id)[-1].changes["target"] == [5, 6]


@pytest.mark.parametrize("spec", [{"role": "coordinator", "county": "汇川区"}, {"role": "leader"},
                                  {"role": "commissioner", "specialties": ["tech"]}])
def test_only_admins_and_city_coordinators_change_reference_data(spec):
    user = make_user(**spec)
    park = db.session.scalar(sa.select(Park).where(Park.name == "桐梓(重庆)工业园"))
    with pytest.raises(Forbidden):
        domain.create_park(user, PARK)
    with pytest.raises(Forbidden):
        domain.update_park(user, park, {**PARK, "name": park.name, "county": "桐梓县"})
    with pytest.raises(Forbidden):
        domain.create_department(user, "市测试局")
    with pytest.raises(Forbidden):
        domain.update_target(user, target(2025, "汇川区"), {"target_firms": 1, "target_output": 1})
    assert park.name == "桐梓(重庆)工业园"


# --- pages -----------------------------------------------------------------------------------------------------

def test_park_pages_create_edit_and_refuse_a_stale_version_keeping_the_input(client):
    coordinator = make_user("coordinator")
    login(client, coordinator)
    listing = client.get("/reference/parks")
    assert listing.status_code == 200 and "桐梓(重庆)工业园" in text_of(listing) and "新增园区" in text_of(listing)
    form = {**PARK, "supporting": "y", "recognised_on": "2026-05-06", "recognition_document": "遵工信发〔2026〕7号"}
    assert client.post("/reference/parks/new", data=form).status_code == 302
    park = db.session.scalar(sa.select(Park).where(Park.name == "仁怀测试产业园"))
    assert park.supporting and str(park.recognised_on) == "2026-05-06"
    stale = str(park.version)
    saved = client.post(f"/reference/parks/{park.id}/edit", data={**form, "name": "仁怀新名园区", "version": stale})
    assert saved.status_code == 302
    refused = client.post(f"/reference/parks/{park.id}/edit", data={**form, "name": "我的改动", "version": stale})
    assert refused.status_code == 409
    assert STALE_MESSAGE in text_of(refused) and 'value="我的改动"' in refused.get_data(as_text=True)
    db.session.refresh(park)
    assert park.name == "仁怀新名园区"
    page = client.get(f"/reference/parks/{park.id}/edit")
    assert "仁怀测试产业园" in text_of(page) and "仁怀新名园区" in text_of(page)  # history old → new
    invalid = client.post("/reference/parks/new", data={**PARK, "name": "飞地测试园", "kind": "enclave"})
    assert invalid.status_code == 422 and "飞地园区请选择模式" in text_of(invalid)


def test_department_and_target_pages(client):
    admin = make_user("admin")
    login(client, admin)
    assert client.post("/reference/departments", data={"name": "市测试局"}).status_code == 302
    department = db.session.scalar(sa.select(Department).where(Department.name == "市测试局"))
    page = client.get("/reference/departments")
    assert "仁怀市人民政府" in text_of(page) and "市测试局" in text_of(page)
    stale = str(department.version)
    assert client.post(f"/reference/departments/{department.id}/edit",
                       data={"name": "市测试管理局", "version": stale}).status_code == 302
    refused = client.post(f"/reference/departments/{department.id}/edit", data={"name": "又一名", "version": stale})
    assert refused.status_code == 409 and STALE_MESSAGE in text_of(refused)

    targets = client.get("/reference/targets")
    assert targets.status_code == 200 and "区县目标之和与全市目标一致" in text_of(targets)
    hc = target(2027, "汇川区")
    assert client.post(f"/reference/targets/{hc.id}/edit", data={"target_firms": "41", "target_output": "80",
                                                                 "version": str(hc.version)}).status_code == 302
    shown = text_of(client.get("/reference/targets"))
    assert "2027年区县规上配套企业目标之和 111 家,与全市目标 110 家不一致(相差 +1 家)" in shown
    assert "修改2027年汇川区目标" in text_of(client.get(f"/reference/targets/{hc.id}/edit"))
    stale_target = client.post(f"/reference/targets/{hc.id}/edit", data={"target_firms": "42", "target_output": "80",
                                                                          "version": "1"})
    assert stale_target.status_code == 409 and STALE_MESSAGE in text_of(stale_target)
    settled = db.session.scalar(sa.select(PlanTarget).where(PlanTarget.year == 2025,
                                                            PlanTarget.metric == "settled_from_chengyu"))
    assert client.post(f"/reference/plan-targets/{settled.id}/edit",
                       data={"target": "12", "version": str(settled.version)}).status_code == 302
    assert settled.target == 12 and target(2027, "汇川区").target_output == Decimal("80")


def test_county_coordinators_and_leaders_read_commissioners_are_refused(client):
    park = db.session.scalar(sa.select(Park).where(Park.name == "桐梓(重庆)工业园"))
    hc = target(2025, "汇川区")
    for spec in ({"role": "coordinator", "county": "汇川区"}, {"role": "leader"}):
        user = make_user(**spec)
        login(client, user)
        listing = client.get("/reference/parks")
        assert listing.status_code == 200 and "新增园区" not in text_of(listing)
        assert client.get(f"/reference/parks/{park.id}/edit").status_code == 200
        assert client.get("/reference/targets").status_code == 200
        assert client.get("/reference/parks/new").status_code == 403
        assert client.post(f"/reference/parks/{park.id}/edit",
                           data={**PARK, "name": "越权", "county": "桐梓县"}).status_code == 403
        assert client.post("/reference/departments", data={"name": "越权局"}).status_code == 403
        assert client.get(f"/reference/targets/{hc.id}/edit").status_code == 403
        client.post("/logout")
    assert park.name == "桐梓(重庆)工业园" and hc.target_firms == 35
    commissioner = make_user("commissioner", specialties=["tech"])
    login(client, commissioner)
    for url in ("/reference/parks", "/reference/departments", "/reference/targets", f"/reference/parks/{park.id}/edit"):
        assert client.get(url).status_code == 403, url
    assert "园区与目标" not in text_of(client.get("/enterprises/"))


def test_the_nav_offers_upkeep_to_admins_and_coordinators(client):
    login(client, make_user("coordinator"))
    assert 'href="/reference/parks"' in client.get("/enterprises/").get_data(as_text=True)
