"""专项督导: visits to a unit or a county, rectification items with working-day due dates, their lifecycle, who
may do what, the audit and the notices, and the overdue job (exactly once)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from crm.core.access import Action, can, scope
from crm.core.audit import AuditLog
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.core.time import SHANGHAI
from crm.extensions import db
from crm.holidays.models import DayKind, HolidayYear, SpecialDay
from crm.notifications.models import Notification
from crm.reference.models import County, Department, by_name
from crm.scheduler.models import RunOutcome
from crm.scheduler.registry import get_job
from crm.scheduler.runner import run_job
from crm.tasks import supervision as domain
from crm.tasks import supervision_jobs
from crm.tasks.models import RectificationItem, RectificationStatus, Task, TaskKind
from tests.conftest import make_user

S = RectificationStatus


def at(day: date, hour: int = 8, minute: int = 50) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def inbox(user, kind: str | None = None) -> list[Notification]:
    stmt = sa.select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(db.session.scalars(stmt))


@pytest.fixture
def national_day():
    """The 2026 National Day as a holiday table: 1–7 October off, Saturday 10 October a make-up working day."""
    db.session.add(HolidayYear(year=2026, source="测试"))
    for n in range(1, 8):
        db.session.add(SpecialDay(day=date(2026, 10, n), kind=DayKind.HOLIDAY, name="国庆节"))
    db.session.add(SpecialDay(day=date(2026, 10, 10), kind=DayKind.WORKDAY, name="国庆节调休"))
    db.session.flush()


@pytest.fixture
def people():
    return {
        "coordinator": make_user("coordinator"),
        "county_coordinator": make_user("coordinator", county="汇川区"),
        "other_county_coordinator": make_user("coordinator", county="桐梓县"),
        "leader": make_user("leader"),
        "commissioner": make_user("commissioner", specialties=["tech"]),
        "liaison": make_user("liaison", department="市自然资源局"),
        "liaison2": make_user("liaison", department="市自然资源局"),
        "other_liaison": make_user("liaison", department="市工业和科学技术局"),
        "hc_liaison": make_user("liaison", department="汇川区人民政府"),
    }


def make_task(number: int = 17) -> Task:
    task = db.session.scalar(sa.select(Task).where(Task.kind == TaskKind.TASK, Task.number == number))
    if task is None:
        task = Task(kind=TaskKind.TASK, number=number, title=f"测试任务{number}", figures=[])
        db.session.add(task)
        db.session.flush()
    return task


def visit_of(actor, **data):
    values = {"visited_on": "2026-09-29", "department": "市自然资源局", "subject": "用地保障专项督导",
              "findings": "配套园区用地报批滞后"}
    values.update(data)
    return domain.create_visit(actor, values, today=date(2026, 12, 1))


def item_of(actor, visit, **data):
    values = {"description": "加快园区用地报批", "due_workdays": 3}
    values.update(data)
    return domain.add_item(actor, visit, values)


# --- visits ----------------------------------------------------------------------------------------------------

def test_a_visit_to_a_unit_and_to_a_county(people):
    task = make_task()
    visit = visit_of(people["coordinator"], task=str(task.id))
    assert visit.department.name == "市自然资源局" and visit.county_id is None and visit.task_id == task.id
    county_visit = visit_of(people["coordinator"], department=None, county="汇川区")
    assert county_visit.department.name == "汇川区人民政府"
    assert county_visit.county.name == "汇川区"
    by_kind = visit_of(people["coordinator"], task="task:17")
    assert by_kind.task_id == task.id
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "supervision",
                                                         AuditLog.entity_id == county_visit.id)).one()
    assert audit.action.value == "create" and audit.changes["department"] == [None, "汇川区人民政府"]


def test_visit_refusals_name_their_fields(people):
    with pytest.raises(ValidationFailed) as err:
        domain.create_visit(people["coordinator"], {"visited_on": "2026-13-01", "department": "不存在局",
                                                    "subject": ""}, today=date(2026, 12, 1))
    assert set(err.value.fields) == {"visited_on", "department", "subject"}
    with pytest.raises(ValidationFailed) as err:
        visit_of(people["coordinator"], county="汇川区")  # both a unit and a county
    assert "只填一项" in err.value.fields["county"]
    with pytest.raises(ValidationFailed) as err:
        visit_of(people["coordinator"], visited_on="2026-12-02")
    assert "不能晚于今天" in err.value.fields["visited_on"]


def test_a_county_coordinator_supervises_their_county_only(people):
    mine = visit_of(people["county_coordinator"], department=None, county="汇川区")
    assert can(people["county_coordinator"], Action.EDIT, mine)
    with pytest.raises(ValidationFailed) as err:
        visit_of(people["county_coordinator"])  # a city department
    assert err.value.fields["department"] == "只能督导本区县的单位"
    with pytest.raises(ValidationFailed):
        visit_of(people["county_coordinator"], department=None, county="桐梓县")
    assert not can(people["other_county_coordinator"], Action.VIEW, mine)


def test_updating_a_visit_is_audited_old_to_new(people):
    visit = visit_of(people["coordinator"])
    domain.update_visit(people["coordinator"], visit, {"subject": "用地与用电专项督导", "department": "市能源局"},
                        version=visit.version, today=date(2026, 12, 1))
    row = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "supervision",
                                                       AuditLog.action == "update")).one()
    assert row.changes == {"department": ["市自然资源局", "市能源局"],
                           "subject": ["用地保障专项督导", "用地与用电专项督导"]}
    with pytest.raises(Conflict):
        domain.update_visit(people["coordinator"], visit, {"subject": "x"}, version=1, today=date(2026, 12, 1))


# --- items: due dates, owners, notices --------------------------------------------------------------------------

def test_due_dates_count_working_days_from_the_visit(people, national_day):
    visit = visit_of(people["coordinator"])  # Tuesday 29 September 2026
    # by hand: 30 Sep (1), 1–7 Oct holidays, 8 Oct (2), 9 Oct (3)
    assert item_of(people["coordinator"], visit, due_workdays=3).due_date == date(2026, 10, 9)
    # 9 Oct (3), Saturday 10 Oct is a make-up working day (4)
    assert item_of(people["coordinator"], visit, due_workdays="4").due_date == date(2026, 10, 10)
    # a date on a holiday moves to the next working day, and the audit says so
    moved = item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-10-03")
    assert moved.due_date == date(2026, 10, 8)
    created = db.session.scalars(sa.select(AuditLog).where(AuditLog.entity_type == "rectification",
                                                           AuditLog.entity_id == moved.id)).one()
    assert "顺延至 2026-10-08" in created.changes["due_note"][1]


def test_due_date_refusals(people):
    visit = visit_of(people["coordinator"])
    for data, field in (({"due_workdays": None}, "due_date"), ({"due_workdays": 0}, "due_workdays"),
                        ({"due_workdays": "abc"}, "due_workdays"), ({"due_workdays": 300}, "due_workdays"),
                        ({"due_workdays": 3, "due_date": "2026-10-20"}, "due_workdays"),
                        ({"due_workdays": None, "due_date": "2026-09-01"}, "due_date")):
        with pytest.raises(ValidationFailed) as err:
            item_of(people["coordinator"], visit, **data)
        assert field in err.value.fields, data


def test_a_new_item_tells_the_owning_units_liaisons(people):
    visit = visit_of(people["coordinator"])
    item = item_of(people["coordinator"], visit, owner=people["liaison"].username)
    assert item.department.name == "市自然资源局" and item.owner_id == people["liaison"].id
    for name in ("liaison", "liaison2"):
        notes = inbox(people[name], "rectification_assigned")
        assert len(notes) == 1 and notes[0].link == f"/supervision/items/{item.id}"
    assert inbox(people["other_liaison"]) == []
    # another unit's item: its liaisons, not these
    other = item_of(people["coordinator"], visit, department="市工业和科学技术局")
    assert len(inbox(people["other_liaison"], "rectification_assigned")) == 1
    assert len(inbox(people["liaison"], "rectification_assigned")) == 1
    assert other.owner_id is None


def test_an_owner_must_be_a_liaison_of_the_owning_unit(people):
    visit = visit_of(people["coordinator"])
    for name in (people["other_liaison"].username, people["coordinator"].username, "nobody"):
        with pytest.raises(ValidationFailed) as err:
            item_of(people["coordinator"], visit, owner=name)
        assert "不是该责任单位的在职联络员" in err.value.fields["owner"]


# --- lifecycle and who moves what ------------------------------------------------------------------------------

def test_the_lifecycle_to_closure_with_audit(people):
    visit = visit_of(people["coordinator"])
    item = item_of(people["coordinator"], visit)
    liaison, coordinator = people["liaison"], people["coordinator"]
    assert can(liaison, Action.EDIT, item)
    assert domain.allowed_next(item, liaison) == [S.IN_PROGRESS]
    domain.transition(liaison, item, "in_progress")
    with pytest.raises(ValidationFailed) as err:
        domain.transition(liaison, item, "done")
    assert err.value.fields["note"] == "请填写整改情况"
    domain.transition(liaison, item, "done", note="已完成用地报批")
    assert item.resolution == "已完成用地报批" and item.resolved_at is not None
    assert domain.allowed_next(item, liaison) == []
    with pytest.raises(Forbidden):
        domain.transition(liaison, item, "closed")
    with pytest.raises(ValidationFailed):
        domain.transition(coordinator, item, "in_progress")  # a send-back needs its reason
    domain.transition(coordinator, item, "in_progress", note="报批材料不全")
    assert item.resolved_at is None
    domain.transition(liaison, item, "done", note="材料已补齐")
    domain.transition(coordinator, item, "closed", version=item.version)
    assert item.status is S.CLOSED and item.closed_at is not None
    with pytest.raises(Conflict) as err:
        domain.transition(coordinator, item, "done")
    assert err.value.code == "illegal_transition" and "重新整改" not in err.value.message
    with pytest.raises(Conflict) as err:
        domain.transition(coordinator, item, "in_progress", note="x", version=1)
    assert err.value.code == "stale"
    moves = [row.changes["status"] for row in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.entity_type == "rectification", AuditLog.entity_id == item.id,
                                  AuditLog.action == "transition").order_by(AuditLog.id))]
    assert moves == [["open", "in_progress"], ["in_progress", "done"], ["done", "in_progress"],
                     ["in_progress", "done"], ["done", "closed"]]


def test_who_sees_and_moves_an_item(people):
    visit = visit_of(people["coordinator"])
    item = item_of(people["coordinator"], visit)
    other = item_of(people["coordinator"], visit, department="市工业和科学技术局")
    county_visit = visit_of(people["coordinator"], department=None, county="汇川区")
    county_item = item_of(people["coordinator"], county_visit)
    expect = {  # role: (items seen, items edited, visits seen, visits edited)
        "coordinator": ({item, other, county_item}, {item, other, county_item}, {visit, county_visit},
                        {visit, county_visit}),
        "county_coordinator": ({county_item}, {county_item}, {county_visit}, {county_visit}),
        "leader": ({item, other, county_item}, set(), {visit, county_visit}, set()),
        "commissioner": (set(), set(), set(), set()),
        "liaison": ({item}, {item}, {visit}, set()),
        "other_liaison": ({other}, {other}, {visit}, set()),
        "hc_liaison": ({county_item}, {county_item}, {county_visit}, set()),
    }
    for name, (seen, edited, visits_seen, visits_edited) in expect.items():
        user = people[name]
        assert {i for i in (item, other, county_item) if can(user, Action.VIEW, i)} == seen, name
        assert {i for i in (item, other, county_item) if can(user, Action.EDIT, i)} == edited, name
        assert {v for v in (visit, county_visit) if can(user, Action.VIEW, v)} == visits_seen, name
        assert {v for v in (visit, county_visit) if can(user, Action.EDIT, v)} == visits_edited, name
        assert set(db.session.scalars(scope(user, RectificationItem, sa.select(RectificationItem)))) == seen, name


def test_ledger_filters_and_overdue_counts(people):
    visit = visit_of(people["coordinator"], visited_on="2026-11-02")
    late = item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-11-10")
    item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-12-20")
    done = item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-11-09")
    done.status = S.DONE
    other = item_of(people["coordinator"], visit, department="市工业和科学技术局", due_workdays=None,
                    due_date="2026-11-05")
    today = date(2026, 12, 1)
    coordinator = people["coordinator"]
    assert list(db.session.scalars(domain.items_statement(coordinator, overdue=True, today=today))) == [other, late]
    assert list(db.session.scalars(domain.items_statement(coordinator, department="市自然资源局", overdue=True,
                                                          today=today))) == [late]
    assert list(db.session.scalars(domain.items_statement(coordinator, status=["done"], today=today))) == [done]
    counts = {d.name: (n, k) for d, n, k in domain.overdue_counts(coordinator, today)}
    assert counts == {"市自然资源局": (2, 1), "市工业和科学技术局": (1, 1)}
    assert {d.name for d, _, _ in domain.overdue_counts(people["liaison"], today)} == {"市自然资源局"}
    with pytest.raises(ValidationFailed) as err:
        domain.items_statement(coordinator, status="bogus")
    assert "status" in err.value.fields


# --- the overdue job -------------------------------------------------------------------------------------------

def test_the_overdue_job_tells_the_unit_and_the_coordinators_once(people):
    visit = visit_of(people["coordinator"], visited_on="2026-11-02")
    late = item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-11-10",
                   owner=people["liaison"].username)
    item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-12-20")  # not yet due
    finished = item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-11-09")
    finished.status = S.DONE  # waits for the coordinator, not for the unit
    summary = supervision_jobs.rectification_overdue(at(date(2026, 11, 11)))
    assert summary.startswith("2026-11-11:逾期整改事项 1 项")
    assert late.overdue_notified_on == date(2026, 11, 11)
    for name in ("liaison", "liaison2", "coordinator"):
        assert len(inbox(people[name], "rectification_overdue")) == 1, name
    assert inbox(people["county_coordinator"], "rectification_overdue") == []  # a city unit: the city's
    assert inbox(people["other_liaison"], "rectification_overdue") == []
    assert "已逾期 1 天" in inbox(people["liaison"], "rectification_overdue")[0].body
    # again, the next day: nobody is told twice
    assert "逾期整改事项 0 项" in supervision_jobs.rectification_overdue(at(date(2026, 11, 12)))
    assert len(inbox(people["liaison"], "rectification_overdue")) == 1
    # sent back after closure: overdue again is news again
    domain.transition(people["coordinator"], late, "in_progress")
    domain.transition(people["liaison"], late, "done", note="完成")
    domain.transition(people["coordinator"], late, "in_progress", note="复查不合格")
    assert late.overdue_notified_on is None
    supervision_jobs.rectification_overdue(at(date(2026, 11, 13)))
    assert len(inbox(people["liaison"], "rectification_overdue")) == 2


def test_a_county_item_tells_that_countys_coordinators(people):
    visit = visit_of(people["coordinator"], department=None, county="汇川区", visited_on="2026-11-02")
    item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-11-10")
    supervision_jobs.rectification_overdue(at(date(2026, 11, 11)))
    assert len(inbox(people["county_coordinator"], "rectification_overdue")) == 1
    assert len(inbox(people["hc_liaison"], "rectification_overdue")) == 1
    assert inbox(people["other_county_coordinator"], "rectification_overdue") == []


def test_the_overdue_job_is_registered_and_runs_once_per_fire_time(app, people):
    spec = get_job("rectification_overdue")
    assert spec.func == "crm.tasks.supervision_jobs:rectification_overdue" and spec.load() is (
        supervision_jobs.rectification_overdue)
    visit = visit_of(people["coordinator"], visited_on="2026-11-02")
    item_of(people["coordinator"], visit, due_workdays=None, due_date="2026-11-10")
    db.session.commit()
    first = run_job("rectification_overdue", at(date(2026, 11, 11)))
    assert first.outcome is RunOutcome.SUCCESS, first.error
    assert run_job("rectification_overdue", at(date(2026, 11, 11))).outcome is RunOutcome.SKIPPED
    assert run_job("rectification_overdue", at(date(2026, 11, 12))).outcome is RunOutcome.SUCCESS
    assert len(inbox(people["liaison"], "rectification_overdue")) == 1


def test_county_government_lookup():
    hc = by_name(Department, "汇川区人民政府")
    assert domain.county_government(by_name(County, "汇川区")) == hc


def test_a_county_coordinator_assigns_items_to_their_countys_units_only(people):
    """A county coordinator may not hand a rectification item to a city department or another county's unit:
    a field error on ``department``, nothing saved, nobody told (adding or moving an item)."""
    county = people["county_coordinator"]
    visit = visit_of(county, department=None, county="汇川区")
    for unit, liaison in (("市自然资源局", "liaison"), ("桐梓县人民政府", None)):
        with pytest.raises(ValidationFailed) as err:
            item_of(county, visit, department=unit)
        assert err.value.fields == {"department": "整改责任单位须为本区县的单位"}, unit
        if liaison:
            assert inbox(people[liaison]) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RectificationItem)) == 0
    mine = item_of(county, visit)  # the visited unit: 汇川区人民政府
    assert mine.department.name == "汇川区人民政府"
    assert len(inbox(people["hc_liaison"], "rectification_assigned")) == 1
    with pytest.raises(ValidationFailed) as err:
        domain.update_item(county, mine, {"department": "市自然资源局"}, version=mine.version)
    assert err.value.fields == {"department": "整改责任单位须为本区县的单位"}
    assert mine.department.name == "汇川区人民政府" and inbox(people["liaison"]) == []
    # the city coordinator assigns anywhere
    assert item_of(people["coordinator"], visit, department="市自然资源局").department.name == "市自然资源局"
