"""Meeting pages as each role uses them: coordinators plan and record, leaders read, commissioners see theirs."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.meetings.models import Meeting, MeetingStatus
from crm.service.models import ServiceRequest
from tests.conftest import assign, login, make_enterprise, make_user
from tests.meetings.factories import load_holidays, make_meeting, partner

FORM = {"kind": "supply_demand", "title": "遵义—重庆汽车零部件产销对接会", "starts_at": "2026-07-01T09:00",
        "ends_at": "2026-07-01T12:00", "city": "重庆", "venue": "重庆国际博览中心", "department": "",
        "status": "planned", "agenda": "开幕、对接、签约"}


def test_a_coordinator_plans_a_meeting_from_the_page(client):
    login(client, make_user("coordinator"))
    assert client.get("/meetings/new").status_code == 200
    response = client.post("/meetings/new", data=FORM)
    assert response.status_code == 302
    meeting = db.session.scalar(sa.select(Meeting).where(Meeting.title == FORM["title"]))
    assert meeting.city == "重庆" and meeting.status is MeetingStatus.PLANNED
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert FORM["title"] in page and "计入成渝活动" in page


def test_a_holiday_is_refused_next_to_the_field_and_accepted_when_confirmed(client):
    load_holidays(2026)
    login(client, make_user("coordinator"))
    data = {**FORM, "starts_at": "2026-10-01T09:00", "ends_at": "2026-10-01T11:00"}
    response = client.post("/meetings/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "国庆节" in html and "invalid-feedback" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meeting)) == 0
    response = client.post("/meetings/new", data={**data, "allow_non_working_day": "y"})
    assert response.status_code == 302


def test_bad_input_shows_chinese_messages_and_saves_nothing(client):
    login(client, make_user("coordinator"))
    response = client.post("/meetings/new", data={**FORM, "kind": "", "ends_at": "2026-07-01T08:00", "city": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请选择会议类型" in html and "结束时间应晚于开始时间" in html and "请填写所在城市" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meeting)) == 0


def test_a_stale_edit_is_refused_with_the_conflict_message(client):
    meeting = make_meeting(title="原名称")
    login(client, make_user("coordinator"))
    stale = str(meeting.version)
    data = {**FORM, "title": "甲的修改", "version": stale}
    assert client.post(f"/meetings/{meeting.id}/edit", data=data).status_code == 302
    response = client.post(f"/meetings/{meeting.id}/edit", data={**data, "title": "乙的修改"})
    assert response.status_code == 409
    assert db.session.get(Meeting, meeting.id).title == "甲的修改"
    assert "乙的修改" in response.get_data(as_text=True)  # nothing the user typed is lost


def test_a_leader_reads_but_cannot_plan_edit_or_cancel(client):
    meeting = make_meeting()
    login(client, make_user("leader"))
    assert client.get("/meetings/").status_code == 200
    page = client.get(f"/meetings/{meeting.id}")
    assert page.status_code == 200 and "取消会议" not in page.get_data(as_text=True)
    assert client.get("/meetings/new").status_code == 403
    assert client.post("/meetings/new", data=FORM).status_code == 403
    assert client.get(f"/meetings/{meeting.id}/edit").status_code == 403
    assert client.post(f"/meetings/{meeting.id}/cancel", data={"reason": "x"}).status_code == 403
    assert client.post(f"/meetings/{meeting.id}/participants", data={"p-submit": "1"}).status_code == 403
    assert db.session.get(Meeting, meeting.id).status is MeetingStatus.PLANNED


def test_a_commissioner_sees_only_the_meetings_of_their_enterprises(client):
    mine, other = make_enterprise(), make_enterprise()
    commissioner = make_user("commissioner", specialties=["tech"])
    assign(mine, commissioner)
    theirs = make_meeting(title="我的企业参会", enterprises=[mine, other])
    hidden = make_meeting(title="与我无关", enterprises=[other])
    login(client, commissioner)
    listing = client.get("/meetings/?year=2026").get_data(as_text=True)
    assert "我的企业参会" in listing and "与我无关" not in listing
    page = client.get(f"/meetings/{theirs.id}").get_data(as_text=True)
    assert mine.name in page and other.name not in page and "另有 1 家企业参加" in page
    assert client.get(f"/meetings/{hidden.id}").status_code == 404
    assert client.get(f"/meetings/{theirs.id}/edit").status_code == 403


def test_cancel_from_the_page(client):
    meeting = make_meeting()
    login(client, make_user("coordinator"))
    response = client.post(f"/meetings/{meeting.id}/cancel", data={"reason": "场地调整", "version": meeting.version})
    assert response.status_code == 302
    assert db.session.get(Meeting, meeting.id).status is MeetingStatus.CANCELLED
    page = client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
    assert "会议已取消" in page and "场地调整" in page


def test_participants_page_books_enterprises_partners_and_officials(client):
    firm = make_enterprise()
    official = make_user("leader")
    meeting = make_meeting()
    login(client, make_user("coordinator"))
    assert client.get(f"/meetings/{meeting.id}/participants").status_code == 200
    response = client.post(f"/meetings/{meeting.id}/participants", data={
        "p-enterprises": [str(firm.id)], "p-partners": [str(partner().id)], "p-officials": [official.username],
        "p-submit": "保存参会名单"})
    assert response.status_code == 302
    db.session.expire_all()
    meeting = db.session.get(Meeting, meeting.id)
    assert meeting.enterprises == [firm] and meeting.officials == [official] and meeting.partners == [partner()]


def test_outcomes_are_recorded_on_a_held_meeting_and_show_on_the_enterprise_page(client):
    firm = make_enterprise()
    meeting = make_meeting(starts="2025-07-01 09:00", status="held", enterprises=[firm])
    login(client, make_user("coordinator"))
    response = client.post(f"/meetings/{meeting.id}/agreements", data={
        "enterprise_id": str(firm.id), "partner_id": str(partner().id), "kind": "采购", "amount": "800"})
    assert response.status_code == 302
    response = client.post(f"/meetings/{meeting.id}/follow-ups", data={
        "enterprise_id": str(firm.id), "category": "融资服务", "description": "会上提出的贷款需求"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(ServiceRequest).where(ServiceRequest.enterprise_id == firm.id))
    bad = client.post(f"/meetings/{meeting.id}/agreements", data={
        "enterprise_id": str(firm.id), "partner_id": str(partner().id), "kind": "采购", "amount": "很多"})
    assert bad.status_code == 422 and "金额应为数字" in bad.get_data(as_text=True)
    profile = client.get(f"/enterprises/{firm.id}").get_data(as_text=True)
    assert "会议活动" in profile and meeting.title in profile and partner().name in profile


def test_the_list_shows_the_yearly_rule_to_coordinators_and_refuses_junk_filters(client):
    make_meeting(kind="supply_chain", starts="2026-05-06 09:00", city="成都")
    login(client, make_user("coordinator"))
    html = client.get("/meetings/?year=2026").get_data(as_text=True)
    assert 'data-rule-kind="supply_chain" data-rule-state="planned"' in html
    assert 'data-rule-kind="supply_demand" data-rule-state="missing"' in html
    assert client.get("/meetings/?year=abc&kind=x&status=y&page=-1").status_code == 400


def test_a_year_of_thousands_of_digits_is_a_400_not_a_500(client):
    login(client, make_user("coordinator"))
    response = client.get(f"/meetings/?year={'9' * 4400}")
    assert response.status_code == 400 and "年份应为" in response.get_data(as_text=True)


def test_huge_or_odd_participant_ids_are_refused_not_a_500(client):
    meeting = make_meeting()
    login(client, make_user("coordinator"))
    for junk in ("9" * 5000, "²", "-1", "abc"):
        response = client.post(f"/meetings/{meeting.id}/participants", data={
            "p-enterprises": [junk], "p-submit": "保存参会名单"})
        assert response.status_code == 422, junk
        assert "企业编号应为正整数" in response.get_data(as_text=True)


def test_the_meeting_page_checks_its_participants_in_one_query_not_one_each(client, count_queries):
    """A commissioner's view of a meeting filters the participants it may read in SQL: the statement count does
    not grow with the number of enterprises taking part."""
    commissioner = make_user("commissioner", specialties=["tech"])
    mine = make_enterprise()
    assign(mine, commissioner)
    login(client, commissioner)

    def statements(extra: int) -> int:
        meeting = make_meeting(enterprises=[mine, *(make_enterprise() for _ in range(extra))],
                               starts="2025-07-01 09:00", status="held")
        db.session.commit()  # the page writes nothing of its own
        with count_queries() as queries:
            html = client.get(f"/meetings/{meeting.id}").get_data(as_text=True)
        assert f"另有 {extra} 家企业参加" in html
        return queries.count

    assert statements(2) == statements(12)
