"""Meeting endpoints: create, read, list, change, cancel, participants, agreements, follow-ups; working days;
each role's allowed and refused paths; bad input answered 422 naming the field."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from icalendar import Calendar

from crm.core.audit import AuditLog
from crm.core.time import local_today
from crm.enterprises.models import EnterprisePartner
from crm.extensions import db
from crm.meetings.models import CalendarFeedToken, Meeting, MeetingAgreement, MeetingFollowUp, MeetingStatus
from crm.notifications.models import Notification
from crm.rosters.models import RosterKind
from tests.api.support import bearer, error_of
from tests.conftest import assign, make_enterprise, make_user
from tests.meetings.factories import at, load_holidays, make_meeting, partner
from tests.rosters.factories import published_edition

URL = "/api/v1/meetings"
KEYS = {"id", "kind", "kind_label", "title", "starts_at", "ends_at", "venue", "city", "department", "status",
        "status_label", "agenda", "outcome_summary", "cancel_reason", "proposed_by", "counts_with_chengyu",
        "chengyu_reason", "created_by", "created_at", "updated_at", "version"}
DETAIL_KEYS = KEYS | {"participants", "agreements", "follow_ups", "warnings"}
HELD_START = "2026-03-04 09:00"  # a Wednesday already past: a meeting there may be "held"


def payload(**overrides):
    data = {"kind": "supply_demand", "title": "2026年遵义—成渝产销对接会", "starts_at": "2026-07-01T09:00:00+08:00",
            "ends_at": "2026-07-01T12:00:00+08:00", "venue": "成都世纪城会展中心", "city": "成都",
            "status": "planned", "agenda": "一、开幕致辞;二、产品推介", "department": "市工业和科学技术局"}
    data.update(overrides)
    return data


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Meeting))


def audit_count(meeting_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == "meeting", AuditLog.entity_id == meeting_id))


@pytest.fixture
def world():
    """Two enterprises (汇川区, 桐梓县); commissioner A serves the first, B the second; holiday data for 2026."""
    load_holidays(2026)
    huichuan = make_enterprise("遵义会议接口测试航空零部件有限公司", county="汇川区")
    tongzi = make_enterprise(county="桐梓县")
    a, b = make_user("commissioner"), make_user("commissioner")
    assign(huichuan, a, "tech")
    assign(tongzi, b, "tech")
    return {"huichuan": huichuan, "tongzi": tongzi, "a": a, "b": b, "coordinator": make_user("coordinator"),
            "leader": make_user("leader")}


# --- create, read, list ----------------------------------------------------------------------------------------

def test_coordinator_creates_and_reads(client, world):
    headers = bearer(world["coordinator"])
    response = client.post(URL, json=payload(), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == DETAIL_KEYS
    assert response.headers["Location"].endswith(f"{URL}/{body['id']}")
    assert body["kind"] == "supply_demand" and body["kind_label"] == "产销对接会"
    assert body["starts_at"] == "2026-07-01T09:00:00+08:00" and body["ends_at"] == "2026-07-01T12:00:00+08:00"
    assert body["status"] == "planned" and body["status_label"] == "计划中" and body["version"] == 1
    assert body["department"] == "市工业和科学技术局" and body["created_by"] == world["coordinator"].username
    assert body["counts_with_chengyu"] is True and "成都" in body["chengyu_reason"]
    assert body["participants"] == {"enterprises": [], "hidden_enterprises": 0, "partners": [], "officials": []}
    assert body["agreements"] == [] and body["follow_ups"] == [] and body["warnings"] == []
    assert "产销对接会" in response.get_data(as_text=True)  # Chinese unescaped
    assert client.get(response.headers["Location"], headers=headers).get_json() == body
    assert audit_count(body["id"]) == 1


def test_a_meeting_outside_chengyu_counts_only_with_a_partner(client, world):
    headers = bearer(world["coordinator"])
    body = client.post(URL, json=payload(city="遵义"), headers=headers).get_json()
    assert body["counts_with_chengyu"] is False and body["chengyu_reason"] == ""
    p = partner()
    body = client.put(f"{URL}/{body['id']}/participants", json={"partners": [p.id]}, headers=headers).get_json()
    assert body["counts_with_chengyu"] is True and "1 家成渝企业参加" in body["chengyu_reason"]
    assert body["participants"]["partners"] == [{"id": p.id, "name": p.name, "region": p.region.value,
                                                 "city": p.city}]


def test_list_filters_and_pagination(client, world):
    coordinator = world["coordinator"]
    july = make_meeting(coordinator, title="七月对接会", starts="2026-07-01 09:00")
    forum = make_meeting(coordinator, kind="entrepreneur_forum", title="八月座谈会", starts="2026-08-05 09:00",
                         city="重庆")
    headers = bearer(coordinator)

    def ids(**params):
        response = client.get(URL, query_string=params, headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [item["id"] for item in response.get_json()["items"]]

    listed = client.get(URL, headers=headers).get_json()
    assert listed["total"] == 2 and listed["page"] == 1 and listed["per_page"] == 50
    assert set(listed["items"][0]) == KEYS
    assert ids() == [july.id, forum.id]  # by start time
    assert ids(kind="entrepreneur_forum") == [forum.id]
    assert ids(city="重庆") == [forum.id]
    assert ids(**{"from": "2026-07-02"}) == [forum.id]
    assert ids(to="2026-07-01") == [july.id]  # a date is the whole day
    assert ids(**{"from": "2026-07-01T10:00:00+08:00", "to": "2026-07-01T11:00:00+08:00"}) == [july.id]
    assert ids(status="cancelled") == []
    assert ids(per_page=1, page=2) == [forum.id]
    error = error_of(client.get(URL, query_string={"from": "七月"}, headers=headers), 400)
    assert "from" in error["fields"]
    error = error_of(client.get(URL, query_string={"from": "2026-08-01", "to": "2026-07-01"}, headers=headers), 400)
    assert "to" in error["fields"]
    assert "kind" in error_of(client.get(URL, query_string={"kind": "party"}, headers=headers), 400)["fields"]
    assert "per_page" in error_of(client.get(URL, query_string={"per_page": 500}, headers=headers), 400)["fields"]


def test_missing_meeting_is_404(client, world):
    headers = bearer(world["coordinator"])
    error_of(client.get(f"{URL}/999999", headers=headers), 404)
    error_of(client.get(f"{URL}/99999999999999999999", headers=headers), 404)
    error_of(client.patch(f"{URL}/999999", json={"title": "x"}, headers=headers), 404)


@pytest.mark.parametrize(("change", "field"), [
    ({"title": ""}, "title"),
    ({"title": None}, "title"),
    ({"kind": "party"}, "kind"),
    ({"starts_at": "明天上午"}, "starts_at"),
    ({"starts_at": 20260701}, "starts_at"),
    ({"ends_at": "2026-07-01T08:00:00+08:00"}, "ends_at"),
    ({"ends_at": "2026-07-20T08:00:00+08:00"}, "ends_at"),
    ({"city": ""}, "city"),
    ({"status": "cancelled"}, "status"),
    ({"status": "held"}, "status"),  # not started yet
    ({"status": "done"}, "status"),
    ({"department": "不存在的局"}, "department"),
    ({"venue": "场" * 201}, "venue"),
    ({"allow_non_working_day": "yes"}, "allow_non_working_day"),
    ({"colour": "red"}, "colour"),
])
def test_bad_input_is_422_naming_the_field(client, world, change, field):
    headers = bearer(world["coordinator"])
    data = payload(starts_at="2027-07-01T09:00:00+08:00", ends_at="2027-07-01T12:00:00+08:00")
    data.update(change)
    error = error_of(client.post(URL, json=data, headers=headers), 422)
    assert field in error["fields"], error
    assert count() == 0


def test_malformed_body_is_400(client, world):
    headers = bearer(world["coordinator"])
    error_of(client.post(URL, data="[1, 2]", content_type="application/json", headers=headers), 400)
    error_of(client.post(URL, data="{oops", content_type="application/json", headers=headers), 400)
    assert count() == 0


# --- working days ----------------------------------------------------------------------------------------------

def test_national_day_is_refused_naming_it(client, world):
    headers = bearer(world["coordinator"])
    data = payload(starts_at="2026-10-02T09:00:00+08:00", ends_at="2026-10-02T12:00:00+08:00")
    error = error_of(client.post(URL, json=data, headers=headers), 422)
    assert "国庆" in error["fields"]["starts_at"] and "2026-10-02" in error["fields"]["starts_at"]
    assert count() == 0
    confirmed = client.post(URL, json={**data, "allow_non_working_day": True}, headers=headers)
    assert confirmed.status_code == 201, confirmed.get_data(as_text=True)
    assert any("已确认在非工作日举办" in w and "国庆" in w for w in confirmed.get_json()["warnings"])


def test_a_make_up_workday_is_accepted(client, world):
    headers = bearer(world["coordinator"])
    response = client.post(URL, json=payload(starts_at="2026-10-10T09:00:00+08:00",
                                             ends_at="2026-10-10T12:00:00+08:00"), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)  # a Saturday, but a 调休 workday
    assert response.get_json()["warnings"] == []


def test_a_plain_weekend_is_refused(client, world):
    headers = bearer(world["coordinator"])
    error = error_of(client.post(URL, json=payload(starts_at="2026-07-04T09:00:00+08:00",
                                                   ends_at="2026-07-04T12:00:00+08:00"), headers=headers), 422)
    assert "周六" in error["fields"]["starts_at"]


def test_moving_a_meeting_onto_a_holiday_is_refused(client, world):
    meeting = make_meeting(world["coordinator"])
    headers = bearer(world["coordinator"])
    error = error_of(client.patch(f"{URL}/{meeting.id}", json={"starts_at": "2026-10-01T09:00:00+08:00",
                                                               "ends_at": "2026-10-01T12:00:00+08:00"},
                                  headers=headers), 422)
    assert "国庆" in error["fields"]["starts_at"]
    db.session.refresh(meeting)
    assert meeting.version == 1


# --- change and cancel -----------------------------------------------------------------------------------------

def test_patch_then_a_stale_version_is_409_and_nothing_written(client, world):
    meeting = make_meeting(world["coordinator"], officials=[world["a"]])
    headers = bearer(world["coordinator"])
    url = f"{URL}/{meeting.id}"
    version = client.get(url, headers=headers).get_json()["version"]  # booking the official was a change too
    response = client.patch(url, json={"title": "改名后的对接会", "venue": "重庆国际博览中心", "city": "重庆",
                                       "version": version}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["title"] == "改名后的对接会" and body["city"] == "重庆" and body["version"] == version + 1
    assert body["kind"] == "supply_demand"  # untouched
    told = db.session.scalars(sa.select(Notification).where(Notification.user_id == world["a"].id)).all()
    assert [n.title for n in told] == ["会议变更:改名后的对接会"]
    audits = audit_count(meeting.id)
    error = error_of(client.patch(url, json={"title": "覆盖", "version": version}, headers=headers), 409, "stale")
    assert "version" in error["fields"]
    db.session.refresh(meeting)
    assert meeting.title == "改名后的对接会" and meeting.version == version + 1
    assert audit_count(meeting.id) == audits
    assert "version" in error_of(client.patch(url, json={"version": "二"}, headers=headers), 422)["fields"]


def test_cancel(client, world):
    meeting = make_meeting(world["coordinator"])
    headers = bearer(world["coordinator"])
    url = f"{URL}/{meeting.id}/cancel"
    assert "reason" in error_of(client.post(url, json={}, headers=headers), 422)["fields"]
    assert "reason" in error_of(client.post(url, json={"reason": "  "}, headers=headers), 422)["fields"]
    error_of(client.post(url, json={"reason": "场地冲突", "version": 7}, headers=headers), 409, "stale")
    db.session.refresh(meeting)
    assert meeting.status is MeetingStatus.PLANNED
    response = client.post(url, json={"reason": "场地冲突", "version": 1}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "cancelled" and body["cancel_reason"] == "场地冲突" and body["version"] == 2
    error_of(client.post(url, json={"reason": "再取消"}, headers=headers), 409, "cancelled")
    error_of(client.patch(f"{URL}/{meeting.id}", json={"title": "复活"}, headers=headers), 409, "cancelled")
    error_of(client.put(f"{URL}/{meeting.id}/participants", json={"partners": []}, headers=headers), 409)


def test_a_held_meeting_cannot_be_cancelled(client, world):
    meeting = make_meeting(world["coordinator"], starts=HELD_START, status="held")
    headers = bearer(world["coordinator"])
    error_of(client.post(f"{URL}/{meeting.id}/cancel", json={"reason": "晚了"}, headers=headers), 409, "held")


# --- participants ----------------------------------------------------------------------------------------------

def test_participants_replace_the_sets_given(client, world):
    meeting = make_meeting(world["coordinator"])
    headers = bearer(world["coordinator"])
    url = f"{URL}/{meeting.id}/participants"
    changan, other = partner(), partner("成都客车股份有限公司")
    response = client.put(url, json={"enterprises": [world["huichuan"].id, world["tongzi"].id],
                                     "partners": [changan.id], "officials": [world["a"].username]}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert {e["id"] for e in body["participants"]["enterprises"]} == {world["huichuan"].id, world["tongzi"].id}
    assert {e["invited_via"] for e in body["participants"]["enterprises"]} == {"逐一选择"}
    assert body["participants"]["officials"] == [{"username": world["a"].username,
                                                  "display_name": world["a"].display_name}]
    body = client.put(url, json={"enterprises": [world["tongzi"].id], "partners": [other.id]},
                      headers=headers).get_json()
    assert [e["id"] for e in body["participants"]["enterprises"]] == [world["tongzi"].id]
    assert [p["id"] for p in body["participants"]["partners"]] == [other.id]
    assert [o["username"] for o in body["participants"]["officials"]] == [world["a"].username]  # not given: kept
    body = client.put(url, json={"officials": []}, headers=headers).get_json()
    assert body["participants"]["officials"] == []
    assert client.get(f"{URL}/{meeting.id}", headers=headers).get_json()["participants"] == body["participants"]


@pytest.mark.parametrize(("data", "field"), [
    ({"enterprises": [999999]}, "enterprises"),
    ({"enterprises": "1,2"}, "enterprises"),
    ({"enterprises": [True]}, "enterprises"),
    ({"partners": [999999]}, "partners"),
    ({"officials": ["nobody-here"]}, "officials"),
    ({"officials": [1]}, "officials"),
    ({"guests": []}, "guests"),
])
def test_bad_participants_are_422(client, world, data, field):
    meeting = make_meeting(world["coordinator"], enterprises=[world["huichuan"]])
    headers = bearer(world["coordinator"])
    error = error_of(client.put(f"{URL}/{meeting.id}/participants", json=data, headers=headers), 422)
    assert field in error["fields"]
    db.session.refresh(meeting)
    assert [link.enterprise_id for link in meeting.enterprise_links] == [world["huichuan"].id]


def test_an_official_booked_twice_is_warned(client, world):
    make_meeting(world["coordinator"], title="先定的会", officials=[world["a"]])
    second = make_meeting(world["coordinator"], title="后定的会", starts="2026-07-01 10:00")
    headers = bearer(world["coordinator"])
    body = client.put(f"{URL}/{second.id}/participants", json={"officials": [world["a"].username]},
                      headers=headers).get_json()
    assert any("先定的会" in w for w in body["warnings"])
    assert any("先定的会" in w for w in client.get(f"{URL}/{second.id}", headers=headers).get_json()["warnings"])


# --- outcomes --------------------------------------------------------------------------------------------------

def test_agreements_need_a_held_meeting(client, world):
    changan = partner()
    meeting = make_meeting(world["coordinator"], enterprises=[world["huichuan"]], partners=[changan])
    headers = bearer(world["coordinator"])
    error = error_of(client.post(f"{URL}/{meeting.id}/agreements", json={
        "enterprise_id": world["huichuan"].id, "partner_id": changan.id, "kind": "采购"}, headers=headers), 409,
        "not_held")
    assert "举办后" in error["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeetingAgreement)) == 0


def test_an_agreement_creates_the_supply_link(client, world):
    changan = partner()
    enterprise = world["huichuan"]
    meeting = make_meeting(world["coordinator"], starts=HELD_START, status="held", enterprises=[enterprise])
    headers = bearer(world["coordinator"])
    response = client.post(f"{URL}/{meeting.id}/agreements", json={
        "enterprise_id": enterprise.id, "partner_id": changan.id, "kind": "配套", "amount": 1200.5,
        "note": "发动机壳体配套"}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["enterprise_id"] == enterprise.id and body["partner"] == changan.name and body["kind"] == "配套"
    assert body["amount"] == 1200.5 and body["note"] == "发动机壳体配套"
    assert body["created_by"] == world["coordinator"].username
    link = db.session.scalar(sa.select(EnterprisePartner).where(EnterprisePartner.enterprise_id == enterprise.id,
                                                                EnterprisePartner.partner_id == changan.id))
    assert link is not None and "配套协议" in link.supplies
    profile = client.get(f"/api/v1/enterprises/{enterprise.id}", headers=headers).get_json()
    assert changan.name in [p["partner"] for p in profile["partners"]]
    detail = client.get(f"{URL}/{meeting.id}", headers=headers).get_json()
    assert [a["id"] for a in detail["agreements"]] == [body["id"]]
    assert [p["id"] for p in detail["participants"]["partners"]] == [changan.id]  # the signer takes part
    assert detail["counts_with_chengyu"] is True


@pytest.mark.parametrize(("change", "field"), [
    ({"kind": "赠送"}, "kind"),
    ({"kind": None}, "kind"),
    ({"amount": -5}, "amount"),
    ({"amount": "很多"}, "amount"),
    ({"amount": 1.234}, "amount"),
    ({"partner_id": 999999}, "partner_id"),
    ({"partner_id": None}, "partner_id"),
    ({"enterprise_id": "tongzi"}, "enterprise_id"),
    ({"note": "注" * 401}, "note"),
])
def test_bad_agreements_are_422(client, world, change, field):
    meeting = make_meeting(world["coordinator"], starts=HELD_START, status="held", enterprises=[world["huichuan"]])
    headers = bearer(world["coordinator"])
    data = {"enterprise_id": world["huichuan"].id, "partner_id": partner().id, "kind": "采购", **change}
    error = error_of(client.post(f"{URL}/{meeting.id}/agreements", json=data, headers=headers), 422)
    assert field in error["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeetingAgreement)) == 0


def test_an_agreement_needs_a_participating_enterprise(client, world):
    meeting = make_meeting(world["coordinator"], starts=HELD_START, status="held", enterprises=[world["huichuan"]])
    headers = bearer(world["coordinator"])
    error = error_of(client.post(f"{URL}/{meeting.id}/agreements", json={
        "enterprise_id": world["tongzi"].id, "partner_id": partner().id, "kind": "投资"}, headers=headers), 422)
    assert "enterprise_id" in error["fields"]


def test_follow_up_request_from_a_held_meeting(client, world):
    meeting = make_meeting(world["coordinator"], starts=HELD_START, status="held",
                           enterprises=[world["huichuan"], world["tongzi"]])
    headers = bearer(world["a"])  # the commissioner of the first enterprise
    url = f"{URL}/{meeting.id}/follow-ups"
    response = client.post(url, json={"enterprise_id": world["huichuan"].id, "category": "融资服务",
                                      "description": "希望对接成渝地区供应链金融"}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/requests/{body['id']}")
    assert body["enterprise_id"] == world["huichuan"].id and body["raised_on"] == "2026-03-04"
    assert body["status"] == "raised" and body["owner"] == world["a"].username
    detail = client.get(f"{URL}/{meeting.id}", headers=headers).get_json()
    assert [f["request_id"] for f in detail["follow_ups"]] == [body["id"]]
    # the other enterprise is not theirs: it is not shown, and they cannot raise for it
    assert detail["participants"]["hidden_enterprises"] == 1
    error = error_of(client.post(url, json={"enterprise_id": world["tongzi"].id, "category": "融资服务",
                                            "description": "x"}, headers=headers), 422)
    assert "enterprise_id" in error["fields"]
    assert "category" in error_of(client.post(url, json={"enterprise_id": world["huichuan"].id, "category": "吃饭",
                                                         "description": "x"}, headers=headers), 422)["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MeetingFollowUp)) == 1
    # commissioner B does not see the follow-up of A's enterprise
    other = client.get(f"{URL}/{meeting.id}", headers=bearer(world["b"])).get_json()
    assert other["follow_ups"] == [] and [e["id"] for e in other["participants"]["enterprises"]] == [
        world["tongzi"].id]


def test_follow_ups_need_a_held_meeting(client, world):
    meeting = make_meeting(world["coordinator"], enterprises=[world["huichuan"]])
    headers = bearer(world["coordinator"])
    error_of(client.post(f"{URL}/{meeting.id}/follow-ups", json={
        "enterprise_id": world["huichuan"].id, "category": "融资服务", "description": "x"}, headers=headers), 409,
        "not_held")


# --- who may do what -------------------------------------------------------------------------------------------

def test_leader_reads_but_every_write_is_403(client, world):
    held = make_meeting(world["coordinator"], starts=HELD_START, status="held", enterprises=[world["huichuan"]])
    planned = make_meeting(world["coordinator"])
    headers = bearer(world["leader"])
    assert client.get(URL, headers=headers).get_json()["total"] == 2
    detail = client.get(f"{URL}/{held.id}", headers=headers).get_json()
    assert [e["id"] for e in detail["participants"]["enterprises"]] == [world["huichuan"].id]
    error_of(client.post(URL, json=payload(), headers=headers), 403)
    error_of(client.patch(f"{URL}/{planned.id}", json={"title": "x"}, headers=headers), 403)
    error_of(client.post(f"{URL}/{planned.id}/cancel", json={"reason": "x"}, headers=headers), 403)
    error_of(client.put(f"{URL}/{planned.id}/participants", json={"officials": []}, headers=headers), 403)
    error_of(client.post(f"{URL}/{held.id}/agreements", json={
        "enterprise_id": world["huichuan"].id, "partner_id": partner().id, "kind": "采购"}, headers=headers), 403)
    error_of(client.post(f"{URL}/{held.id}/follow-ups", json={
        "enterprise_id": world["huichuan"].id, "category": "融资服务", "description": "x"}, headers=headers), 403)
    assert count() == 2
    db.session.refresh(planned)
    assert planned.title == "测试产销对接会" and planned.status is MeetingStatus.PLANNED


def test_commissioner_sees_only_the_meetings_of_their_enterprises(client, world):
    coordinator = world["coordinator"]
    theirs = make_meeting(coordinator, title="有我企业的会", enterprises=[world["huichuan"], world["tongzi"]])
    attending = make_meeting(coordinator, title="我参会的会", starts="2026-07-02 09:00", officials=[world["a"]])
    other = make_meeting(coordinator, title="别人的会", starts="2026-07-03 09:00", enterprises=[world["tongzi"]])
    headers = bearer(world["a"])
    listed = client.get(URL, headers=headers).get_json()
    assert [m["id"] for m in listed["items"]] == [theirs.id, attending.id] and listed["total"] == 2
    detail = client.get(f"{URL}/{theirs.id}", headers=headers).get_json()
    assert [e["id"] for e in detail["participants"]["enterprises"]] == [world["huichuan"].id]
    assert detail["participants"]["hidden_enterprises"] == 1
    assert world["tongzi"].name not in client.get(f"{URL}/{theirs.id}", headers=headers).get_data(as_text=True)
    error_of(client.get(f"{URL}/{other.id}", headers=headers), 404)
    error_of(client.patch(f"{URL}/{other.id}", json={"title": "x"}, headers=headers), 404)
    error_of(client.patch(f"{URL}/{theirs.id}", json={"title": "x"}, headers=headers), 403)
    error_of(client.post(f"{URL}/{theirs.id}/cancel", json={"reason": "x"}, headers=headers), 403)
    error_of(client.post(URL, json=payload(), headers=headers), 403)


def test_county_coordinator_changes_only_their_own_meetings(client, world):
    county = make_user("coordinator", county="汇川区")
    mine = make_meeting(county, title="区里的会")
    city_wide = make_meeting(world["coordinator"], title="市里的会")
    headers = bearer(county)
    assert client.patch(f"{URL}/{mine.id}", json={"agenda": "议程"}, headers=headers).status_code == 200
    error_of(client.patch(f"{URL}/{city_wide.id}", json={"agenda": "议程"}, headers=headers), 403)


def test_without_a_token_401(client, world):
    error_of(client.get(URL), 401)
    error_of(client.post(URL, json=payload()), 401)


# --- one meeting as iCalendar; the private feed's token ----------------------------------------------------------

def test_one_meeting_as_ics(client, world):
    meeting = make_meeting(world["coordinator"], title="成渝供应链洽谈会", enterprises=[world["huichuan"]])
    other = make_meeting(world["coordinator"], title="别人的会", enterprises=[world["tongzi"]])
    headers = bearer(world["a"])
    response = client.get(f"{URL}/{meeting.id}/ics", headers=headers)
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert f"meeting-{meeting.id}.ics" in response.headers["Content-Disposition"]
    calendar = Calendar.from_ical(response.data)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1 and "成渝供应链洽谈会" in str(events[0]["SUMMARY"])
    assert events[0].decoded("DTSTART") == at("2026-07-01 09:00")
    assert f"/meetings/{meeting.id}" in str(events[0]["URL"])
    error_of(client.get(f"{URL}/{other.id}/ics", headers=headers), 404)
    error_of(client.get(f"{URL}/{meeting.id}/ics"), 401)


def test_calendar_token_issue_replace_revoke(client, world):
    # the feed holds meetings from 90 days back on (crm/meetings/ics.py): this one is next month, whenever it runs
    next_month = (local_today() + timedelta(days=30)).isoformat()
    make_meeting(world["coordinator"], title="领导要参加的会", starts=f"{next_month} 09:00")
    headers = bearer(world["leader"])  # a leader subscribes too: the feed only reads
    response = client.post("/api/v1/calendar/token", headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"url", "webcal_url"}
    assert body["url"].startswith("http://localhost/calendar/") and body["url"].endswith(".ics")
    assert body["webcal_url"] == "webcal://" + body["url"].split("://", 1)[1]
    path = body["url"].removeprefix("http://localhost")
    feed = client.get(path)
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    assert "领导要参加的会" in feed.get_data(as_text=True)
    # the feed token opens the feed only, never the API
    token = path.removeprefix("/calendar/").removesuffix(".ics")
    error_of(client.get(URL, headers={"Authorization": f"Bearer {token}"}), 401)
    # a new one replaces the old
    second = client.post("/api/v1/calendar/token", json={}, headers=headers).get_json()["url"]
    assert second != body["url"]
    assert client.get(path).status_code == 404
    assert client.get(second.removeprefix("http://localhost")).status_code == 200
    response = client.delete("/api/v1/calendar/token", headers=headers)
    assert response.status_code == 204 and response.data == b""
    assert client.get(second.removeprefix("http://localhost")).status_code == 404
    assert client.delete("/api/v1/calendar/token", headers=headers).status_code == 204  # nothing left: still 204
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarFeedToken)) == 0


def test_calendar_token_takes_no_input(client, world):
    headers = bearer(world["a"])
    error_of(client.post("/api/v1/calendar/token", json={"days": 30}, headers=headers), 422)
    error_of(client.post("/api/v1/calendar/token", data="[]", content_type="application/json", headers=headers),
             400)
    error_of(client.post("/api/v1/calendar/token"), 401)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarFeedToken)) == 0


def test_inviting_a_list(client, world):
    off_list = make_enterprise(county="汇川区")
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [world["huichuan"], world["tongzi"]])
    meeting = make_meeting(world["coordinator"])
    headers = bearer(world["coordinator"])
    url = f"{URL}/{meeting.id}/invitations"
    response = client.post(url, json={"roster": "supplier_list", "county": "汇川区"}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["added"] == 1 and set(body["meeting"]) == DETAIL_KEYS
    assert [e["id"] for e in body["meeting"]["participants"]["enterprises"]] == [world["huichuan"].id]
    assert "配套企业名单 2026H1" in body["meeting"]["participants"]["enterprises"][0]["invited_via"]
    body = client.post(url, json={"roster": "supplier_list"}, headers=headers).get_json()
    assert body["added"] == 1  # 桐梓县 now; 汇川区 not twice
    ids = {e["id"] for e in body["meeting"]["participants"]["enterprises"]}
    assert ids == {world["huichuan"].id, world["tongzi"].id} and off_list.id not in ids
    assert "roster" in error_of(client.post(url, json={"roster": "cultivation_pool"}, headers=headers), 422)["fields"]
    assert "roster" in error_of(client.post(url, json={}, headers=headers), 422)["fields"]
    assert "county" in error_of(client.post(url, json={"roster": "supplier_list", "county": "火星区"},
                                            headers=headers), 422)["fields"]
    error_of(client.post(url, json={"roster": "supplier_list"}, headers=bearer(world["leader"])), 403)


def test_calendar_token_state(client, world):
    headers = bearer(world["a"])
    url = "/api/v1/calendar/token"
    assert client.get(url, headers=headers).get_json() == {"active": False, "created_at": None,
                                                          "last_used_at": None}
    feed_url = client.post(url, headers=headers).get_json()["url"]
    state = client.get(url, headers=headers).get_json()
    assert state["active"] is True and state["created_at"].endswith("+08:00") and state["last_used_at"] is None
    assert client.get(feed_url.removeprefix("http://localhost")).status_code == 200
    assert client.get(url, headers=headers).get_json()["last_used_at"] is not None
    assert feed_url not in client.get(url, headers=headers).get_data(as_text=True)  # shown once only


def test_the_documented_paths_of_api_md_are_served(client):
    """API.md's "Meetings and calendar" paths and methods, in the OpenAPI document."""
    doc = client.get("/api/v1/openapi.json").get_json()
    expected = {
        "/meetings": {"get", "post"}, "/meetings/{meeting_id}": {"get", "patch"},
        "/meetings/{meeting_id}/cancel": {"post"}, "/meetings/{meeting_id}/participants": {"put"},
        "/meetings/{meeting_id}/agreements": {"post"}, "/meetings/{meeting_id}/follow-ups": {"post"},
        "/meetings/{meeting_id}/invitations": {"post"}, "/meetings/{meeting_id}/ics": {"get"},
        "/partners": {"get", "post"}, "/partners/{partner_id}": {"get", "patch"},
        "/calendar/token": {"get", "post", "delete"},
    }
    for path, methods in expected.items():
        assert methods <= set(doc["paths"].get(path, {})), path
    assert "201" in doc["paths"]["/meetings"]["post"]["responses"]
    assert "201" in doc["paths"]["/meetings/{meeting_id}/agreements"]["post"]["responses"]
    assert "text/calendar" in doc["paths"]["/meetings/{meeting_id}/ics"]["get"]["responses"]["200"]["content"]


ODD_VALUES = [None, True, 1e308, -1, 0, 99999999999999999999, "", " ", "字" * 5000, [], {}, [None], ["\x00"], "\x00",
              "2026-02-30T09:00:00+08:00", "9999-01-01T00:00:00+08:00", "2026-07-01T09:00:00+25:00",
              [99999999999999999999], ["1"], "1e3", "NaN"]


def test_odd_values_never_answer_500(client, world):
    """Every field of every write, given odd values: refused with 4xx (and a documented error shape), never 500."""
    coordinator, enterprise = world["coordinator"], world["huichuan"]
    held = make_meeting(coordinator, starts=HELD_START, status="held", enterprises=[enterprise])
    planned = make_meeting(coordinator)
    headers = bearer(coordinator)
    new = {"kind": "supply_demand", "title": "t", "starts_at": "2027-07-01T09:00:00+08:00",
           "ends_at": "2027-07-01T10:00:00+08:00", "city": "成都"}
    agreement = {"enterprise_id": enterprise.id, "partner_id": partner().id, "kind": "采购"}
    follow_up = {"enterprise_id": enterprise.id, "category": "融资服务", "description": "x"}
    writes = [
        ("post", URL, new, list(new) + ["venue", "status", "agenda", "department", "allow_non_working_day"]),
        ("patch", f"{URL}/{planned.id}", {}, ["version", "starts_at", "ends_at", "status", "kind", "title"]),
        ("put", f"{URL}/{planned.id}/participants", {}, ["enterprises", "partners", "officials"]),
        ("post", f"{URL}/{planned.id}/cancel", {}, ["reason"]),
        ("post", f"{URL}/{planned.id}/cancel", {"reason": "x"}, ["version"]),
        ("post", f"{URL}/{planned.id}/invitations", {"roster": "supplier_list"}, ["roster", "cluster", "county"]),
        ("post", f"{URL}/{held.id}/agreements", agreement, list(agreement) + ["amount", "note"]),
        ("post", f"{URL}/{held.id}/follow-ups", follow_up, list(follow_up) + ["due_date", "owner"]),
    ]
    for method, url, base, names in writes:
        for name in names:
            for value in ODD_VALUES:
                response = getattr(client, method)(url, json={**base, name: value}, headers=headers)
                assert response.status_code < 500, (method, url, name, value)
                if response.status_code == 200 and url.endswith("/cancel"):  # a cancelled meeting stays so
                    db.session.get(Meeting, planned.id).status = MeetingStatus.PLANNED
                    db.session.commit()
    for params in ({"from": "x"}, {"to": "2026-13-01"}, {"from": "\x00"}, {"kind": ""}, {"page": "0"},
                   {"from": "2026-07-01T09:00:00+99:00"}, {"city": "城" * 1000}):
        assert client.get(URL, query_string=params, headers=headers).status_code < 500, params
