"""专项督导 pages: a coordinator records a visit and its items, the owning unit's liaison moves an item, other
roles are refused (a liaison of another unit: 404 as if it did not exist; a commissioner: nothing; a leader:
reads, never writes)."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.core.time import local_today
from crm.extensions import db
from crm.tasks import supervision as domain
from crm.tasks.models import RectificationItem, RectificationStatus, SupervisionVisit
from tests.conftest import csrf_token_from, login, make_user


@pytest.fixture
def people():
    made = {
        "coordinator": make_user("coordinator"),
        "county_coordinator": make_user("coordinator", county="汇川区"),
        "leader": make_user("leader"),
        "commissioner": make_user("commissioner", specialties=["tech"]),
        "liaison": make_user("liaison", department="市自然资源局"),
        "other_liaison": make_user("liaison", department="市工业和科学技术局"),
    }
    db.session.commit()
    return made


@pytest.fixture
def item(people):
    visit = domain.create_visit(people["coordinator"], {"visited_on": local_today().isoformat(),
                                                        "department": "市自然资源局", "subject": "用地保障专项督导",
                                                        "findings": "报批滞后"})
    row = domain.add_item(people["coordinator"], visit, {"description": "加快用地报批", "due_workdays": 5})
    db.session.commit()
    return row


def as_user(app, user):
    client = app.test_client()
    login(client, user)
    return client


def test_a_coordinator_records_a_visit_and_an_item(app, people):
    client = as_user(app, people["coordinator"])
    page = client.get("/supervision/new")
    assert page.status_code == 200 and "记录专项督导" in page.get_data(as_text=True)
    token = csrf_token_from(page.get_data(as_text=True))
    refused = client.post("/supervision/new", data={"csrf_token": token, "visited_on": "2026-11-02", "subject": ""})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "请填写督导事项" in html and "请选择被督导单位或区县" in html
    saved = client.post("/supervision/new", data={"csrf_token": token, "visited_on": "2026-11-02",
                                                  "county": "汇川区", "subject": "区县督导", "findings": "发现"})
    assert saved.status_code == 303
    visit = db.session.scalars(sa.select(SupervisionVisit).where(SupervisionVisit.subject == "区县督导")).one()
    assert visit.department.name == "汇川区人民政府"
    detail = client.get(f"/supervision/{visit.id}")
    assert detail.status_code == 200 and "添加整改事项" in detail.get_data(as_text=True)
    added = client.post(f"/supervision/{visit.id}/items", data={
        "csrf_token": token, "description": "建立配套企业台账", "department": "", "due_workdays": "10"})
    assert added.status_code == 303, added.get_data(as_text=True)
    row = db.session.scalars(sa.select(RectificationItem).where(RectificationItem.supervision_id == visit.id)).one()
    assert row.department.name == "汇川区人民政府"
    bad = client.post(f"/supervision/{visit.id}/items", data={"csrf_token": token, "description": "x"})
    assert bad.status_code == 422 and "请填写整改时限" in bad.get_data(as_text=True)
    ledger = client.get("/supervision/items/?department=汇川区人民政府")
    assert ledger.status_code == 200 and "建立配套企业台账" in ledger.get_data(as_text=True)


def test_the_liaison_moves_their_units_item_and_the_coordinator_closes_it(app, people, item):
    client = as_user(app, people["liaison"])
    page = client.get(f"/supervision/items/{item.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "开始整改" in html and "销号" not in html
    token = csrf_token_from(html)
    moved = client.post(f"/supervision/items/{item.id}/transition",
                        data={"csrf_token": token, "to": "in_progress", "version": str(item.version)})
    assert moved.status_code == 303
    db.session.refresh(item)
    refused = client.post(f"/supervision/items/{item.id}/transition",
                          data={"csrf_token": token, "to": "done", "version": str(item.version)})
    assert refused.status_code == 422 and "请填写整改情况" in refused.get_data(as_text=True)
    done = client.post(f"/supervision/items/{item.id}/transition",
                       data={"csrf_token": token, "to": "done", "note": "已报批", "version": str(item.version)})
    assert done.status_code == 303
    db.session.refresh(item)
    assert item.status is RectificationStatus.DONE
    closing = client.post(f"/supervision/items/{item.id}/transition",
                          data={"csrf_token": token, "to": "closed", "version": str(item.version)})
    assert closing.status_code == 303
    db.session.refresh(item)
    assert item.status is RectificationStatus.DONE  # a liaison does not close
    # the visit reads, but is not theirs to change
    assert client.get(f"/supervision/{item.supervision_id}").status_code == 200
    assert client.get(f"/supervision/{item.supervision_id}/edit").status_code == 403
    coordinator = as_user(app, people["coordinator"])
    token = csrf_token_from(coordinator.get(f"/supervision/items/{item.id}").get_data(as_text=True))
    closed = coordinator.post(f"/supervision/items/{item.id}/transition",
                              data={"csrf_token": token, "to": "closed", "version": str(item.version)})
    assert closed.status_code == 303
    db.session.refresh(item)
    assert item.status is RectificationStatus.CLOSED


def test_refusals(app, people, item):
    other = as_user(app, people["other_liaison"])
    assert other.get(f"/supervision/items/{item.id}").status_code == 404
    assert other.get(f"/supervision/{item.supervision_id}").status_code == 404
    assert other.get("/supervision/items/99999999").status_code == 404
    assert "加快用地报批" not in other.get("/supervision/items/").get_data(as_text=True)
    moved = other.post(f"/supervision/items/{item.id}/transition", data={"to": "in_progress"})
    assert moved.status_code == 404
    commissioner = as_user(app, people["commissioner"])
    for url in ("/supervision/", "/supervision/items/", "/situation/", "/situation/report.xlsx"):
        assert commissioner.get(url).status_code == 403, url
    assert commissioner.get(f"/supervision/items/{item.id}").status_code == 404
    leader = as_user(app, people["leader"])
    assert leader.get(f"/supervision/{item.supervision_id}").status_code == 200
    html = leader.get(f"/supervision/items/{item.id}").get_data(as_text=True)
    assert "加快用地报批" in html and "transition" not in html
    assert leader.get("/supervision/new").status_code == 403
    assert leader.post(f"/supervision/{item.supervision_id}/items", data={"description": "x"}).status_code == 403
    assert leader.post(f"/supervision/items/{item.id}/transition", data={"to": "in_progress"}).status_code == 403
    county = as_user(app, people["county_coordinator"])  # a city unit's visit: the city's business
    assert county.get(f"/supervision/{item.supervision_id}").status_code == 404
    db.session.refresh(item)
    assert item.status is RectificationStatus.OPEN


def test_the_ledger_counts_overdue_per_unit(app, people):
    visit = domain.create_visit(people["coordinator"], {"visited_on": "2026-11-02", "department": "市自然资源局",
                                                        "subject": "督导"}, today=date(2026, 12, 1))
    domain.add_item(people["coordinator"], visit, {"description": "逾期事项", "due_date": "2026-11-10"})
    db.session.commit()
    client = as_user(app, people["coordinator"])
    html = client.get("/supervision/items/?overdue=1").get_data(as_text=True)
    assert "逾期事项" in html and 'data-unit="市自然资源局"' in html and 'data-late="1"' in html
    assert client.get("/supervision/items/?status=bogus").status_code == 400


def test_a_county_coordinators_item_form_offers_their_countys_units_only(app, people):
    county = people["county_coordinator"]
    visit = domain.create_visit(county, {"visited_on": local_today().isoformat(), "county": "汇川区",
                                         "subject": "区县督导"})
    db.session.commit()
    client = as_user(app, county)
    page = client.get(f"/supervision/{visit.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "添加整改事项" in html
    assert '<option value="汇川区人民政府">' in html
    assert '<option value="市自然资源局">' not in html and '<option value="桐梓县人民政府">' not in html
    assert people["liaison"].username not in html  # a city department's liaison is no owner to offer
    refused = client.post(f"/supervision/{visit.id}/items", data={
        "csrf_token": csrf_token_from(html), "description": "建立台账", "department": "市自然资源局",
        "due_workdays": "5"})
    assert refused.status_code == 422 and "整改责任单位须为本区县的单位" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RectificationItem)) == 0
    city = as_user(app, people["coordinator"]).get(f"/supervision/{visit.id}").get_data(as_text=True)
    assert '<option value="市自然资源局">' in city
