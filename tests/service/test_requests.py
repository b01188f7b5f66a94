"""诉求 domain: raising (validation, owner, due dates in working days), the whole lifecycle, every illegal
transition refused with the allowed ones named, closing needs a satisfaction, reopening, stale versions, the
scoped and filtered list, and the ledger export."""

from __future__ import annotations

import io
from datetime import date
from itertools import product

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, ValidationFailed
from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.service.interactions import log_interaction
from crm.service.ledger import COLUMNS, ledger_xlsx
from crm.service.models import RequestCategory, RequestEvent, RequestStatus, ServiceRequest
from crm.service.requests import (
    TRANSITIONS,
    allowed_next,
    due_note,
    is_overdue,
    owner_refused,
    raise_request,
    requests_statement,
    transition,
)
from tests.conftest import assign, make_enterprise, make_user

S = RequestStatus
TODAY = date(2026, 5, 20)
LEGAL = [(source, target) for source, targets in TRANSITIONS.items() for target in targets]
ILLEGAL = [(source, target) for source, target in product(S, S) if (source, target) not in LEGAL]
# What each legal move needs besides ``to``.
MOVE_ARGS = {
    (S.RESOLVED, S.CLOSED): {"note": "电话回访,企业表示满意", "satisfaction": 5},
    (S.RESOLVED, S.IN_PROGRESS): {"note": "回访不满意:贷款额度不足", "satisfaction": 2},
    (S.CLOSED, S.IN_PROGRESS): {"note": "企业再次反映问题未彻底解决"},
}
PATH = [S.ACCEPTED, S.IN_PROGRESS, S.RESOLVED, S.CLOSED]


def valid(**overrides):
    data = {"category": "融资服务", "description": "企业申请技改贷款贴息,需对接银行", "raised_on": "2026-05-18",
            "due_date": "2026-06-01"}
    data.update(overrides)
    return data


def events_of(req: ServiceRequest) -> list[RequestEvent]:
    return list(db.session.scalars(sa.select(RequestEvent).where(RequestEvent.request_id == req.id)
                                   .order_by(RequestEvent.id)))


def audit_rows(req: ServiceRequest) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.entity_type == "service_request", AuditLog.entity_id == req.id).order_by(AuditLog.id)))


def move_to(actor, req: ServiceRequest, status: RequestStatus) -> ServiceRequest:
    """Walk ``req`` along the normal path until it has ``status``."""
    order = [S.RAISED, *PATH]
    for step in order[order.index(req.status) + 1:]:
        if req.status is status:
            break
        transition(actor, req, step, **MOVE_ARGS.get((req.status, step), {}))
    assert req.status is status
    return req


@pytest.fixture
def enterprise():
    return make_enterprise(county="汇川区")


@pytest.fixture
def commissioner(enterprise):
    user = make_user("commissioner", specialties=["finance"])
    assign(enterprise, user, "finance")
    return user


@pytest.fixture
def req(commissioner, enterprise):
    return raise_request(commissioner, enterprise, valid(), today=TODAY)


# --- raising -------------------------------------------------------------------------------------------------

def test_raise_a_request_with_its_first_event_and_audit_row(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, {
        "date": "2026-05-18", "channel": "visit", "specialty": "finance", "summary": "走访,企业提出贷款需求"},
        today=TODAY)
    req = raise_request(commissioner, enterprise,
                        valid(interaction_id=interaction.id, department="市工业和科学技术局"), today=TODAY)
    assert req.id and req.status is S.RAISED and req.version == 1
    assert req.category.value == "融资服务" and req.interaction_id == interaction.id
    assert req.owner_id == commissioner.id  # a commissioner raising owns it by default
    assert req.department.name == "市工业和科学技术局"
    assert req.raised_on == date(2026, 5, 18) and req.due_date == date(2026, 6, 1)
    [first] = events_of(req)
    assert (first.from_status, first.to_status, first.actor_id) == (None, S.RAISED, commissioner.id)
    assert first.note == "" and due_note(req) == ""  # a due date given by hand
    [row] = audit_rows(req)
    assert row.action == "create" and row.enterprise_id == enterprise.id
    assert row.summary.startswith("登记诉求(融资服务)")
    assert row.changes["status"] == [None, "raised"] and row.changes["owner"] == [None, commissioner.username]


def test_raised_on_defaults_to_today(commissioner, enterprise):
    data = valid()
    del data["raised_on"]
    assert raise_request(commissioner, enterprise, data, today=TODAY).raised_on == TODAY


def test_a_coordinator_names_the_owner_or_leaves_it_open(commissioner, enterprise):
    coordinator = make_user("coordinator")
    assert raise_request(coordinator, enterprise, valid(), today=TODAY).owner_id is None
    named = raise_request(coordinator, enterprise, valid(owner=commissioner.username), today=TODAY)
    assert named.owner_id == commissioner.id


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"category": "看病"}, "category", "、".join(c.value for c in RequestCategory)),
    ({"category": ""}, "category", "请选择诉求类别"),
    ({"category": "finance"}, "category", "未知诉求类别"),
    ({"description": " "}, "description", "请填写诉求内容"),
    ({"description": "字" * 4001}, "description", "4000"),
    ({"department": "不存在的局"}, "department", "未知责任单位"),
    ({"due_date": "2026-05-17"}, "due_date", "不能早于提出日期"),
    ({"due_date": "明天"}, "due_date", "YYYY-MM-DD"),
    ({"due_date": "9999-12-31"}, "due_date", "过远"),
    ({"raised_on": "2026-05-21"}, "raised_on", "不能晚于今天"),
    ({"owner": "nobody-here"}, "owner", "“nobody-here”不是可负责该企业的在职用户"),
    ({"interaction_id": 2**40}, "interaction_id", "该企业没有这条服务记录"),
    ({"interaction_id": "abc"}, "interaction_id", "该企业没有这条服务记录"),
])
def test_field_problems_are_named_in_chinese(commissioner, enterprise, overrides, field, words):
    with pytest.raises(ValidationFailed) as excinfo:
        raise_request(commissioner, enterprise, valid(**overrides), today=TODAY)
    assert words in excinfo.value.fields[field], excinfo.value.fields
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest)) == 0


def test_the_interaction_must_be_of_the_same_enterprise(commissioner, enterprise):
    other = make_enterprise()
    coordinator = make_user("coordinator")
    elsewhere = log_interaction(coordinator, other, {"date": "2026-05-18", "channel": "call", "specialty": "tech",
                                                     "summary": "电话"}, today=TODAY)
    with pytest.raises(ValidationFailed) as excinfo:
        raise_request(commissioner, enterprise, valid(interaction_id=elsewhere.id), today=TODAY)
    assert "interaction_id" in excinfo.value.fields


def test_the_owner_must_be_able_to_handle_the_enterprise(commissioner, enterprise):
    stranger = make_user("commissioner", specialties=["finance"])  # assigned nowhere
    leader = make_user("leader")
    county_coordinator = make_user("coordinator", county="桐梓县")
    for user in (stranger, leader, county_coordinator):
        with pytest.raises(ValidationFailed) as excinfo:
            raise_request(commissioner, enterprise, valid(owner=user.username), today=TODAY)
        assert excinfo.value.fields["owner"] == owner_refused(user.username)  # as if unknown: nothing confirmed


# --- due dates in working days ---------------------------------------------------------------------------------

def test_due_date_across_national_day_2025(commissioner, enterprise):
    """Raised Tue 2025-09-30, 10 working days: 10-01..08 are holidays, Sat 10-11 is a make-up workday.
    Counting: 10-09 (1), 10-10 (2), 10-11 (3), 10-13..17 (4–8), 10-20 (9), 10-21 (10)."""
    load_from_chinese_calendar([2025])
    req = raise_request(commissioner, enterprise, valid(raised_on="2025-09-30", due_date=None), today=TODAY)
    assert req.due_date == date(2025, 10, 21)
    assert due_note(req) == "办理时限按10个工作日计算"
    assert "尚未录入" not in due_note(req)


def test_a_due_date_in_a_year_without_holiday_data_says_so(commissioner, enterprise):
    load_from_chinese_calendar([2026])
    req = raise_request(commissioner, enterprise, valid(raised_on="2026-12-24", due_date=""),
                        today=date(2026, 12, 24))
    # 2026-12-25, 28, 29, 30, 31 by the table; 2027 counted Monday–Friday: 01-01, 04, 05, 06, 07.
    assert req.due_date == date(2027, 1, 7)
    assert "2027年节假日安排尚未录入" in due_note(req)
    assert "2026年" not in due_note(req)
    first = events_of(req)[0]
    assert first.note == due_note(req)


def test_per_category_limit_from_config(app, monkeypatch, commissioner, enterprise):
    load_from_chinese_calendar([2025])
    monkeypatch.setitem(app.config, "REQUEST_DUE_WORKDAYS", {"用地": 20})
    monkeypatch.setitem(app.config, "REQUEST_DUE_WORKDAYS_DEFAULT", 5)
    land = raise_request(commissioner, enterprise, valid(category="用地", raised_on="2025-09-30", due_date=None),
                         today=TODAY)
    other = raise_request(commissioner, enterprise, valid(category="法务", raised_on="2025-09-30", due_date=None),
                          today=TODAY)
    # 20 working days: 10-21 is the 10th, then 10-22..24 (13), 10-27..31 (18), 11-03 (19), 11-04 (20).
    assert land.due_date == date(2025, 11, 4) and "20个工作日" in due_note(land)
    assert other.due_date == date(2025, 10, 14) and "5个工作日" in due_note(other)  # 10-09, 10, 11, 13, 14


def test_the_default_limit_is_ten_working_days(app, monkeypatch, commissioner, enterprise):
    load_from_chinese_calendar([2025])
    monkeypatch.delitem(app.config, "REQUEST_DUE_WORKDAYS", raising=False)
    monkeypatch.delitem(app.config, "REQUEST_DUE_WORKDAYS_DEFAULT", raising=False)
    req = raise_request(commissioner, enterprise, valid(category="用电", raised_on="2025-09-30", due_date=None),
                        today=TODAY)
    assert req.due_date == date(2025, 10, 21)


# --- the lifecycle -----------------------------------------------------------------------------------------------

def test_the_whole_lifecycle_to_closed_with_satisfaction(commissioner, req):
    transition(commissioner, req, "accepted", note="已受理", version=1)
    transition(commissioner, req, S.IN_PROGRESS, version=2)
    transition(commissioner, req, "resolved", note="已对接工商银行,贷款获批")
    assert req.resolved_at is not None and req.closed_at is None
    transition(commissioner, req, "closed", note="电话回访,企业满意", satisfaction=5)
    assert req.status is S.CLOSED and req.satisfaction == 5 and req.closed_at is not None
    assert req.version == 5
    events = events_of(req)
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, S.RAISED), (S.RAISED, S.ACCEPTED), (S.ACCEPTED, S.IN_PROGRESS), (S.IN_PROGRESS, S.RESOLVED),
        (S.RESOLVED, S.CLOSED)]
    assert all(e.actor_id == commissioner.id and e.at is not None for e in events)
    assert events[-1].satisfaction == 5 and events[-1].note == "电话回访,企业满意"
    rows = audit_rows(req)
    assert [r.action for r in rows] == ["create"] + ["transition"] * 4
    assert all(r.enterprise_id == req.enterprise_id for r in rows)
    assert rows[-1].changes["status"] == ["resolved", "closed"] and rows[-1].changes["satisfaction"] == [None, 5]
    assert "回访办结" in rows[-1].summary and "已解决 → 已办结" in rows[-1].summary
    assert allowed_next(req) == [S.IN_PROGRESS]


@pytest.mark.parametrize(("source", "target"), LEGAL, ids=[f"{s.value}->{t.value}" for s, t in LEGAL])
def test_every_legal_move(commissioner, req, source, target):
    move_to(commissioner, req, source)
    before = len(events_of(req))
    transition(commissioner, req, target, **MOVE_ARGS.get((source, target), {}))
    assert req.status is target and len(events_of(req)) == before + 1


@pytest.mark.parametrize(("source", "target"), ILLEGAL, ids=[f"{s.value}->{t.value}" for s, t in ILLEGAL])
def test_every_illegal_move_is_refused_naming_the_allowed_ones(commissioner, req, source, target):
    move_to(commissioner, req, source)
    db.session.flush()
    version, events, audits = req.version, len(events_of(req)), len(audit_rows(req))
    with pytest.raises(Conflict) as excinfo:
        transition(commissioner, req, target, note="试图非法变更", satisfaction=None)
    error = excinfo.value
    assert error.code == "illegal_transition" and error.status == 409
    allowed = "、".join(s.label for s in TRANSITIONS[source])
    assert error.message == f"当前状态“{source.label}”只能变更为:{allowed}"
    assert target.label in error.fields["to"]
    db.session.flush()
    assert (req.status, req.version) == (source, version)
    assert len(events_of(req)) == events and len(audit_rows(req)) == audits


def test_the_message_for_accepted(commissioner, req):
    move_to(commissioner, req, S.ACCEPTED)
    with pytest.raises(Conflict) as excinfo:
        transition(commissioner, req, "closed")
    assert excinfo.value.message == "当前状态“已受理”只能变更为:办理中"


def test_raised_cannot_skip_acceptance(commissioner, req):
    with pytest.raises(Conflict) as excinfo:
        transition(commissioner, req, "in_progress")
    assert excinfo.value.message == "当前状态“已提出”只能变更为:已受理"


def test_an_unknown_status_is_a_field_error(commissioner, req):
    with pytest.raises(ValidationFailed) as excinfo:
        transition(commissioner, req, "done")
    assert "raised(已提出)" in excinfo.value.fields["to"]


@pytest.mark.parametrize(("args", "field"), [
    ({"note": "回访满意"}, "satisfaction"),
    ({"note": "回访满意", "satisfaction": 0}, "satisfaction"),
    ({"note": "回访满意", "satisfaction": 6}, "satisfaction"),
    ({"note": "回访满意", "satisfaction": "很好"}, "satisfaction"),
    ({"note": "回访满意", "satisfaction": True}, "satisfaction"),
    ({"note": "回访满意", "satisfaction": 4.5}, "satisfaction"),
    ({"satisfaction": 5}, "note"),
    ({"note": "   ", "satisfaction": 5}, "note"),
])
def test_closing_needs_a_follow_up_with_satisfaction(commissioner, req, args, field):
    move_to(commissioner, req, S.RESOLVED)
    db.session.flush()
    version = req.version
    with pytest.raises(ValidationFailed) as excinfo:
        transition(commissioner, req, "closed", **args)
    assert excinfo.value.status == 422 and field in excinfo.value.fields
    assert req.status is S.RESOLVED and req.satisfaction is None and req.version == version


def test_satisfaction_as_a_digit_string_is_accepted(commissioner, req):
    move_to(commissioner, req, S.RESOLVED)
    transition(commissioner, req, "closed", note="回访", satisfaction="3")
    assert req.satisfaction == 3


def test_satisfaction_only_after_a_follow_up(commissioner, req):
    with pytest.raises(ValidationFailed) as excinfo:
        transition(commissioner, req, "accepted", satisfaction=5)
    assert "回访" in excinfo.value.fields["satisfaction"]


def test_reopen_after_an_unsatisfied_follow_up(commissioner, req):
    move_to(commissioner, req, S.RESOLVED)
    with pytest.raises(ValidationFailed) as excinfo:
        transition(commissioner, req, "in_progress")
    assert "重新办理的原因" in excinfo.value.fields["note"]
    transition(commissioner, req, "in_progress", note="回访不满意:额度不足", satisfaction=2)
    assert req.status is S.IN_PROGRESS and req.resolved_at is None and req.satisfaction is None
    last = events_of(req)[-1]
    assert (last.from_status, last.to_status, last.satisfaction) == (S.RESOLVED, S.IN_PROGRESS, 2)
    assert "重新办理" in audit_rows(req)[-1].summary


def test_reopen_a_closed_request_clears_its_closure(commissioner, req):
    move_to(commissioner, req, S.CLOSED)
    with pytest.raises(ValidationFailed):
        transition(commissioner, req, "in_progress", note="")
    transition(commissioner, req, "in_progress", note="企业再次反映")
    assert (req.status, req.closed_at, req.resolved_at, req.satisfaction) == (S.IN_PROGRESS, None, None, None)
    row = audit_rows(req)[-1]
    assert row.changes["satisfaction"] == [5, None] and row.changes["closed_at"][1] is None
    move_to(commissioner, req, S.CLOSED)  # and it can be closed again
    assert req.satisfaction == 5 and len(events_of(req)) == 1 + 4 + 1 + 2


def test_a_stale_version_is_refused_and_nothing_is_written(commissioner, req):
    transition(commissioner, req, "accepted", version=1)
    db.session.flush()
    with pytest.raises(Conflict) as excinfo:
        transition(commissioner, req, "in_progress", version=1)
    assert excinfo.value.code == "stale" and excinfo.value.message == "该记录已被他人修改,请刷新后重试"
    assert req.status is S.ACCEPTED and len(events_of(req)) == 2 and req.version == 2


# --- overdue, list -----------------------------------------------------------------------------------------------

def test_is_overdue(commissioner, req):
    assert not is_overdue(req, date(2026, 6, 1))  # due that day
    assert is_overdue(req, date(2026, 6, 2))
    move_to(commissioner, req, S.RESOLVED)
    assert not is_overdue(req, date(2026, 6, 2))


def test_the_list_is_scoped_and_filtered(commissioner, enterprise, req):
    other = make_enterprise(county="桐梓县")
    other_commissioner = make_user("commissioner", specialties=["tech"])
    assign(other, other_commissioner, "tech")
    theirs = raise_request(other_commissioner, other, valid(category="用地", due_date="2026-05-19"), today=TODAY)
    late = raise_request(commissioner, enterprise, valid(raised_on="2026-05-01", due_date="2026-05-10"),
                         today=TODAY)
    move_to(commissioner, late, S.IN_PROGRESS)
    done_late = raise_request(commissioner, enterprise, valid(raised_on="2026-04-01", due_date="2026-04-10"),
                              today=TODAY)
    move_to(commissioner, done_late, S.RESOLVED)
    db.session.flush()

    def ids(user, **filters):
        return [r.id for r in db.session.scalars(requests_statement(user, today=TODAY, **filters))]

    assert ids(commissioner) == [req.id, late.id, done_late.id]  # newest raised first
    assert ids(other_commissioner) == [theirs.id]
    assert ids(commissioner, enterprise_id=other.id) == []
    assert ids(commissioner, overdue=True) == [late.id]
    assert ids(commissioner, overdue=False) == [req.id, done_late.id]
    assert ids(commissioner, status="in_progress") == [late.id]
    assert ids(commissioner, status=["raised", "resolved"]) == [req.id, done_late.id]
    coordinator = make_user("coordinator")
    assert set(ids(coordinator, county="桐梓县")) >= {theirs.id} and req.id not in ids(coordinator, county="桐梓县")
    assert theirs.id in ids(coordinator, category="用地") and req.id not in ids(coordinator, category="用地")
    assert ids(coordinator, owner=other_commissioner.username) == [theirs.id]
    assert ids(coordinator, owner="nobody") == []
    assert ids(make_user("coordinator", county="桐梓县")) == [theirs.id]
    with pytest.raises(ValidationFailed) as excinfo:
        ids(coordinator, status="done")
    assert "status" in excinfo.value.fields
    with pytest.raises(ValidationFailed):
        ids(coordinator, county="火星县")
    with pytest.raises(ValidationFailed):
        ids(coordinator, category="看病")


# --- the ledger ----------------------------------------------------------------------------------------------------

def test_the_ledger_is_text_only_and_neutralises_formulas(commissioner, enterprise):
    formula = raise_request(commissioner, enterprise, valid(description='=HYPERLINK("http://evil","点我")',
                                                            department="市财政局"), today=TODAY)
    closed = raise_request(commissioner, enterprise, valid(description="@SUM(A1:A2)", due_date="2026-05-19"),
                           today=TODAY)
    move_to(commissioner, closed, S.CLOSED)
    db.session.flush()
    data = ledger_xlsx([formula, closed], today=TODAY)
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws.title == "诉求台账"
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == COLUMNS
    first = dict(zip(COLUMNS, rows[1], strict=True))
    assert first["序号"] == "1" and first["企业名称"] == enterprise.name and first["区县"] == "汇川区"
    assert first["类别"] == "融资服务" and first["诉求内容"] == '=HYPERLINK("http://evil","点我")'
    assert first["负责人"] == commissioner.display_name and first["责任单位"] == "市财政局"
    assert (first["提出日期"], first["办理时限"], first["状态"], first["是否逾期"]) == (
        "2026-05-18", "2026-06-01", "已提出", "否")
    assert first["满意度"] is None and first["办结日期"] is None
    second = dict(zip(COLUMNS, rows[2], strict=True))
    assert (second["状态"], second["满意度"], second["是否逾期"]) == ("已办结", "5", "否")
    assert second["办结日期"] and len(second["办结日期"]) == 10
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type == "s" or cell.value is None, (cell.coordinate, cell.value)
    assert ws["E2"].quotePrefix and ws["E3"].quotePrefix and not ws["B2"].quotePrefix
    # Overdue is judged on the given day.
    overdue_ws = load_workbook(io.BytesIO(ledger_xlsx([formula], today=date(2026, 6, 2)))).active
    assert overdue_ws["K2"].value == "是"


def test_reopening_gives_a_fresh_due_date_and_lets_the_overdue_job_report_it_again(commissioner, req):
    """Review finding: a reopened request kept its old due date and its "already told" marks."""
    from crm.core.time import local_today
    from crm.holidays.workdays import add_working_days

    move_to(commissioner, req, S.CLOSED)
    req.owner_notified_on = req.escalated_on = date(2026, 6, 1)
    transition(commissioner, req, "in_progress", note="企业再次反映")
    expected = add_working_days(local_today(), 10).date
    assert req.due_date == expected and req.owner_notified_on is None and req.escalated_on is None
    assert audit_rows(req)[-1].changes["due_date"][1] == expected.isoformat()
    assert "工作日" in events_of(req)[-1].note


def test_a_due_date_given_on_a_rest_day_moves_to_the_next_working_day(commissioner, enterprise):
    load_from_chinese_calendar([2025])
    req = raise_request(commissioner, enterprise, valid(raised_on="2025-09-26", due_date="2025-10-01"),
                        today=date(2025, 9, 30))
    assert req.due_date == date(2025, 10, 9)  # National Day holiday: the next working day is 9 October
    assert "顺延至 2025-10-09" in due_note(req)
