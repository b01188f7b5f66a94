"""服务记录 domain: logging, validation, the commissioner's specialty rule, corrections with a version, the scoped
list and the last contact per enterprise."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.extensions import db
from crm.service.interactions import (
    STALE_MESSAGE,
    interactions_statement,
    last_contact,
    log_interaction,
    update_interaction,
)
from crm.service.models import Channel, Interaction
from tests.conftest import assign, make_enterprise, make_user

TODAY = date(2026, 5, 20)


def valid(**overrides):
    data = {"date": "2026-05-18", "channel": "visit", "specialty": "tech", "participants": "张三、李四",
            "summary": "走访企业,了解研发项目申报需求", "next_follow_up": "2026-06-15"}
    data.update(overrides)
    return data


def audit_rows(interaction: Interaction) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.entity_type == "interaction", AuditLog.entity_id == interaction.id).order_by(AuditLog.id)))


@pytest.fixture
def enterprise():
    return make_enterprise(county="汇川区")


@pytest.fixture
def commissioner(enterprise):
    user = make_user("commissioner", specialties=["tech", "finance"])
    assign(enterprise, user, "tech")
    return user


def test_log_an_interaction_with_its_audit_row(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, valid(), today=TODAY)
    assert interaction.id and interaction.enterprise_id == enterprise.id
    assert interaction.occurred_on == date(2026, 5, 18)
    assert interaction.channel is Channel.VISIT and interaction.specialty.value == "tech"
    assert interaction.participants == "张三、李四" and interaction.next_follow_up == date(2026, 6, 15)
    assert interaction.created_by_id == commissioner.id and interaction.version == 1
    [row] = audit_rows(interaction)
    assert row.action == "create" and row.enterprise_id == enterprise.id and row.actor_id == commissioner.id
    assert "服务记录" in row.summary and "走访" in row.summary
    assert row.changes["summary"] == [None, "走访企业,了解研发项目申报需求"]
    assert row.changes["occurred_on"] == [None, "2026-05-18"]


def test_optional_fields_may_be_left_out(commissioner, enterprise):
    data = valid()
    del data["participants"], data["next_follow_up"]
    interaction = log_interaction(commissioner, enterprise, data, today=TODAY)
    assert interaction.participants == "" and interaction.next_follow_up is None


def test_today_itself_is_allowed(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, valid(date="2026-05-20", next_follow_up="2026-05-20"),
                                  today=TODAY)
    assert interaction.occurred_on == TODAY


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"date": "2026-05-21"}, "date", "不能晚于今天"),
    ({"date": "1999-12-31"}, "date", "不能早于2000-01-01"),
    ({"date": "2026/05/18"}, "date", "YYYY-MM-DD"),
    ({"date": "2026-02-30"}, "date", "YYYY-MM-DD"),
    ({"date": ""}, "date", "请填写服务日期"),
    ({"date": 20260518}, "date", "YYYY-MM-DD"),
    ({"channel": "letter"}, "channel", "visit(走访)"),
    ({"channel": ""}, "channel", "请选择服务方式"),
    ({"specialty": "cooking"}, "specialty", "tech(科技)"),
    ({"summary": "   "}, "summary", "请填写服务内容摘要"),
    ({"summary": "字" * 4001}, "summary", "4000"),
    ({"participants": "人" * 301}, "participants", "300"),
    ({"next_follow_up": "2026-05-17"}, "next_follow_up", "不能早于服务日期"),
    ({"next_follow_up": "下周"}, "next_follow_up", "YYYY-MM-DD"),
    ({"summary": ["走访"]}, "summary", "应为文本"),
    ({"participants": {"name": "张三"}}, "participants", "应为文本"),
    ({"channel": ["visit"]}, "channel", "服务方式必须是"),
])
def test_field_problems_are_named_in_chinese(commissioner, enterprise, overrides, field, words):
    with pytest.raises(ValidationFailed) as excinfo:
        log_interaction(commissioner, enterprise, valid(**overrides), today=TODAY)
    assert words in excinfo.value.fields[field], excinfo.value.fields
    assert excinfo.value.status == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Interaction)) == 0


def test_every_problem_is_reported_at_once(commissioner, enterprise):
    with pytest.raises(ValidationFailed) as excinfo:
        log_interaction(commissioner, enterprise, {"date": "2030-01-01", "channel": "x", "summary": ""},
                        today=TODAY)
    assert set(excinfo.value.fields) == {"date", "channel", "specialty", "summary"}


def test_a_commissioner_logs_only_their_own_specialties(commissioner, enterprise):
    assert log_interaction(commissioner, enterprise, valid(specialty="finance"), today=TODAY)
    with pytest.raises(ValidationFailed) as excinfo:
        log_interaction(commissioner, enterprise, valid(specialty="legal"), today=TODAY)
    assert "科技、融资" in excinfo.value.fields["specialty"]


def test_a_coordinator_logs_any_specialty(enterprise):
    coordinator = make_user("coordinator")
    assert log_interaction(coordinator, enterprise, valid(specialty="media"), today=TODAY).specialty.value == "media"


# --- corrections ---------------------------------------------------------------------------------------------

def test_update_changes_only_what_is_sent_and_audits_the_difference(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, valid(), today=TODAY)
    update_interaction(commissioner, interaction, {"summary": "补充:企业需要融资对接", "version": 1}, today=TODAY)
    db.session.flush()
    assert interaction.summary == "补充:企业需要融资对接" and interaction.channel is Channel.VISIT
    assert interaction.version == 2
    create, update = audit_rows(interaction)
    assert update.action == "update" and update.enterprise_id == enterprise.id
    assert update.changes == {"summary": ["走访企业,了解研发项目申报需求", "补充:企业需要融资对接"]}
    assert "修改服务记录" in update.summary


def test_update_without_a_change_writes_nothing(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, valid(), today=TODAY)
    update_interaction(commissioner, interaction, {"channel": "visit"}, today=TODAY)
    assert len(audit_rows(interaction)) == 1 and interaction.version == 1


def test_a_stale_version_is_refused_and_nothing_is_written(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, valid(), today=TODAY)
    update_interaction(commissioner, interaction, {"summary": "第一次修改", "version": 1}, today=TODAY)
    db.session.flush()
    with pytest.raises(Conflict) as excinfo:
        update_interaction(commissioner, interaction, {"summary": "基于旧版本的修改", "version": 1}, today=TODAY)
    assert excinfo.value.code == "stale" and excinfo.value.message == STALE_MESSAGE
    assert excinfo.value.message == "该记录已被他人修改,请刷新后重试"
    assert interaction.summary == "第一次修改" and len(audit_rows(interaction)) == 2


def test_a_bad_version_is_a_field_error(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, valid(), today=TODAY)
    with pytest.raises(ValidationFailed) as excinfo:
        update_interaction(commissioner, interaction, {"version": "abc"}, today=TODAY)
    assert "version" in excinfo.value.fields


def test_update_validates_against_the_stored_values(commissioner, enterprise):
    interaction = log_interaction(commissioner, enterprise, valid(), today=TODAY)
    with pytest.raises(ValidationFailed) as excinfo:
        update_interaction(commissioner, interaction, {"date": "2026-06-20"}, today=date(2026, 6, 30))
    assert "不能早于服务日期" in excinfo.value.fields["next_follow_up"]


def test_a_commissioner_corrects_only_their_own_records(commissioner, enterprise):
    colleague = make_user("commissioner", specialties=["finance"])
    assign(enterprise, colleague, "finance")
    interaction = log_interaction(colleague, enterprise, valid(specialty="finance"), today=TODAY)
    with pytest.raises(Forbidden):
        update_interaction(commissioner, interaction, {"summary": "改别人的记录"}, today=TODAY)
    coordinator = make_user("coordinator")
    update_interaction(coordinator, interaction, {"summary": "协调员补充"}, today=TODAY)
    assert interaction.summary == "协调员补充"


# --- reads ---------------------------------------------------------------------------------------------------

def test_the_list_is_scoped_and_filtered(commissioner, enterprise):
    other = make_enterprise(county="桐梓县")
    other_commissioner = make_user("commissioner", specialties=["tech"])
    assign(other, other_commissioner)
    mine = log_interaction(commissioner, enterprise, valid(date="2026-03-01", next_follow_up=None), today=TODAY)
    recent = log_interaction(commissioner, enterprise, valid(date="2026-05-01"), today=TODAY)
    theirs = log_interaction(other_commissioner, other, valid(), today=TODAY)

    def ids(user, **filters):
        return [i.id for i in db.session.scalars(interactions_statement(user, **filters))]

    assert ids(commissioner) == [recent.id, mine.id]  # newest first, only the assigned enterprise
    assert ids(other_commissioner) == [theirs.id]
    assert ids(commissioner, enterprise_id=other.id) == []
    assert ids(commissioner, since=date(2026, 4, 1)) == [recent.id]
    assert ids(commissioner, until=date(2026, 4, 1)) == [mine.id]
    county_coordinator = make_user("coordinator", county="桐梓县")
    assert ids(county_coordinator) == [theirs.id]
    coordinator = make_user("coordinator")
    assert ids(coordinator, commissioner_id=commissioner.id) == [recent.id, mine.id]
    assert set(ids(make_user("leader"))) >= {mine.id, recent.id, theirs.id}


def test_last_contact_in_one_query(commissioner, enterprise, count_queries):
    second = make_enterprise()
    never = make_enterprise()
    coordinator = make_user("coordinator")
    log_interaction(coordinator, enterprise, valid(date="2026-01-05", next_follow_up=None), today=TODAY)
    log_interaction(coordinator, enterprise, valid(date="2026-04-10"), today=TODAY)
    log_interaction(coordinator, second, valid(date="2026-02-02", next_follow_up=None), today=TODAY)
    db.session.flush()
    with count_queries() as queries:
        result = last_contact([enterprise.id, second.id, never.id])
    assert result == {enterprise.id: date(2026, 4, 10), second.id: date(2026, 2, 2)}
    assert queries.count == 1
    assert last_contact([]) == {}
