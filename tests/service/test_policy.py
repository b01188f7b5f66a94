"""Policy delivery (政策兑现) domain: create, update, deliver, cancel, validation, the late flag, the list scope."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.core.errors import Conflict, ValidationFailed
from crm.core.time import local_today
from crm.extensions import db
from crm.service import policy
from crm.service.models import DeliveryStatus, PolicyDelivery, PolicyKind
from crm.service.requests import owner_refused
from tests.conftest import assign, make_enterprise, make_user

TODAY = date(2026, 5, 20)


def valid(**overrides):
    data = {"kind": "用地", "promised": "新增工业用地50亩,优先保障", "amount": "120.5",
            "promised_date": "2026-03-31", "evidence": ""}
    data.update(overrides)
    return data


def audit_rows(delivery: PolicyDelivery) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.entity_type == "policy_delivery", AuditLog.entity_id == delivery.id).order_by(AuditLog.id)))


def problems(excinfo) -> dict[str, str]:
    return excinfo.value.fields


@pytest.fixture
def enterprise():
    return make_enterprise(county="汇川区")


@pytest.fixture
def coordinator():
    return make_user("coordinator")


# --- create ----------------------------------------------------------------------------------------------------

def test_create_promised_with_audit(enterprise, coordinator):
    owner = make_user("commissioner")
    assign(enterprise, owner, "finance")
    delivery = policy.create_delivery(coordinator, enterprise, valid(owner=owner.username,
                                                                     department="市工业和科学技术局"))
    assert delivery.status is DeliveryStatus.PROMISED
    assert delivery.kind is PolicyKind.LAND and delivery.amount == Decimal("120.50")
    assert delivery.promised_date == date(2026, 3, 31) and delivery.delivered_date is None
    assert delivery.owner is owner and delivery.department.name == "市工业和科学技术局"
    assert delivery.created_by_id == coordinator.id and delivery.version == 1
    [row] = audit_rows(delivery)
    assert row.action == "create" and row.enterprise_id == enterprise.id
    assert row.summary.startswith("登记政策兑现(用地)")
    assert row.changes["owner"] == [None, owner.username] and row.changes["amount"] == [None, "120.5"]


def test_create_with_delivered_date_is_delivered(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid(delivered_date="2026-04-02",
                                                                     evidence="遵自然资〔2026〕12号"))
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.delivered_date == date(2026, 4, 2)
    assert policy.warnings_of(delivery) == []


def test_amount_is_optional(enterprise, coordinator):
    assert policy.create_delivery(coordinator, enterprise, valid(amount=None)).amount is None
    assert policy.create_delivery(coordinator, enterprise, valid(amount="")).amount is None


@pytest.mark.parametrize("overrides, field, words", [
    ({"kind": "土地"}, "kind", "未知政策类别:土地"),
    ({"kind": ""}, "kind", "请选择政策类别"),
    ({"kind": 3}, "kind", "可选"),
    ({"promised": "  "}, "promised", "请填写承诺内容"),
    ({"promised": None}, "promised", "请填写承诺内容"),
    ({"promised": ["x"]}, "promised", "必须是文字"),
    ({"promised": "字" * 2001}, "promised", "最长2000个字符"),
    ({"amount": "-1"}, "amount", "不能为负数"),
    ({"amount": "1.234"}, "amount", "最多保留两位小数"),
    ({"amount": "很多"}, "amount", "必须是数字"),
    ({"amount": True}, "amount", "必须是数字"),
    ({"promised_date": None}, "promised_date", "请填写承诺兑现日期"),
    ({"promised_date": "2026/03/31"}, "promised_date", "格式应为 YYYY-MM-DD"),
    ({"delivered_date": "2026-02-30"}, "delivered_date", "格式应为 YYYY-MM-DD"),
    ({"owner": "nobody-here"}, "owner", "“nobody-here”不是可负责该企业的在职用户"),
    ({"owner": 5}, "owner", "用户名"),
    ({"department": "不存在的局"}, "department", "未知责任单位"),
    ({"status": "delivered"}, "status", "不支持的字段"),
    ({"colour": "red"}, "colour", "不支持的字段"),
])
def test_create_validation_messages(enterprise, coordinator, overrides, field, words):
    with pytest.raises(ValidationFailed) as excinfo:
        policy.create_delivery(coordinator, enterprise, valid(**overrides))
    assert words in problems(excinfo)[field]
    assert excinfo.value.status == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PolicyDelivery)) == 0


def test_unknown_kind_lists_the_allowed_ones(enterprise, coordinator):
    with pytest.raises(ValidationFailed) as excinfo:
        policy.create_delivery(coordinator, enterprise, valid(kind="补贴"))
    message = problems(excinfo)["kind"]
    for kind in ("税收", "用地", "用电", "用气", "用水", "用矿", "融资", "引才"):
        assert kind in message


def test_all_problems_at_once(enterprise, coordinator):
    with pytest.raises(ValidationFailed) as excinfo:
        policy.create_delivery(coordinator, enterprise, {"kind": "x", "amount": "-3"})
    assert set(problems(excinfo)) == {"kind", "promised", "amount", "promised_date"}


def test_delivered_date_may_be_early_but_not_in_the_future(enterprise, coordinator):
    early = policy.create_delivery(coordinator, enterprise, valid(promised_date="2026-06-30",
                                                                  delivered_date="2026-01-10"))
    assert early.status is DeliveryStatus.DELIVERED
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationFailed) as excinfo:
        policy.create_delivery(coordinator, enterprise, valid(delivered_date=tomorrow))
    assert problems(excinfo)["delivered_date"] == "兑现日期不能晚于今天"


def test_owner_must_be_able_to_act_on_the_enterprise(enterprise, coordinator):
    stranger = make_user("commissioner")
    leader = make_user("leader")
    other_county = make_user("coordinator", county="桐梓县")
    inactive = make_user("coordinator")
    inactive.active = False
    for user in (stranger, leader, other_county):
        with pytest.raises(ValidationFailed) as excinfo:
            policy.create_delivery(coordinator, enterprise, valid(owner=user.username))
        assert problems(excinfo)["owner"] == owner_refused(user.username)  # as if unknown: nothing confirmed
    with pytest.raises(ValidationFailed) as excinfo:
        policy.create_delivery(coordinator, enterprise, valid(owner=inactive.username))
    assert problems(excinfo)["owner"] == owner_refused(inactive.username)
    county_coordinator = make_user("coordinator", county="汇川区")
    assert policy.create_delivery(coordinator, enterprise, valid(owner=county_coordinator.username)).owner \
        is county_coordinator


# --- update ----------------------------------------------------------------------------------------------------

def test_partial_update_records_only_changes(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid())
    policy.update_delivery(coordinator, delivery, {"amount": "200", "promised": valid()["promised"],
                                                   "version": 1})
    assert delivery.amount == Decimal("200.00") and delivery.version == 2
    row = audit_rows(delivery)[-1]
    assert row.action == "update" and row.changes == {"amount": ["120.5", "200"]}
    assert row.summary.startswith("修改政策兑现(用地)") and row.enterprise_id == enterprise.id
    # nothing changed: no audit row, no new version
    policy.update_delivery(coordinator, delivery, {"amount": "200.00"})
    assert len(audit_rows(delivery)) == 2 and delivery.version == 2


def test_stale_version_is_a_conflict_and_writes_nothing(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid())
    policy.update_delivery(coordinator, delivery, {"promised": "改为60亩"})
    with pytest.raises(Conflict) as excinfo:
        policy.update_delivery(coordinator, delivery, {"promised": "改为70亩", "version": 1})
    assert excinfo.value.code == "stale" and excinfo.value.status == 409
    assert "已被他人修改" in excinfo.value.message
    assert delivery.promised == "改为60亩" and len(audit_rows(delivery)) == 2
    with pytest.raises(ValidationFailed):
        policy.update_delivery(coordinator, delivery, {"version": "二"})
    with pytest.raises(ValidationFailed):
        policy.update_delivery(coordinator, delivery, {"version": True})


def test_update_validation(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid())
    with pytest.raises(ValidationFailed) as excinfo:
        policy.update_delivery(coordinator, delivery, {"promised": "", "kind": "补贴", "status": "done",
                                                       "enterprise_id": 3})
    assert set(problems(excinfo)) == {"promised", "kind", "status", "enterprise_id"}
    assert "promised(待兑现)" in problems(excinfo)["status"]


def test_deliver_needs_a_delivered_date(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid())
    with pytest.raises(ValidationFailed) as excinfo:
        policy.update_delivery(coordinator, delivery, {"status": "delivered"})
    assert problems(excinfo) == {"delivered_date": "标记为已兑现须填写兑现日期"}
    assert delivery.status is DeliveryStatus.PROMISED
    policy.update_delivery(coordinator, delivery, {"status": "delivered", "delivered_date": "2026-04-15"})
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.delivered_date == date(2026, 4, 15)
    assert policy.warnings_of(delivery) == [policy.EVIDENCE_MISSING]  # recommended, not required
    row = audit_rows(delivery)[-1]
    assert row.action == "deliver" and "政策已兑现" in row.summary and "2026-04-15" in row.summary
    assert row.changes["status"] == ["promised", "delivered"]
    policy.update_delivery(coordinator, delivery, {"evidence": "用地批复 遵自然资〔2026〕15号"})
    assert policy.warnings_of(delivery) == []
    with pytest.raises(ValidationFailed) as excinfo:  # a delivered record keeps its date
        policy.update_delivery(coordinator, delivery, {"delivered_date": None})
    assert "须填写兑现日期" in problems(excinfo)["delivered_date"]


def test_entering_a_delivered_date_delivers(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid())
    policy.update_delivery(coordinator, delivery, {"delivered_date": "2026-04-01", "evidence": "到账凭证"})
    assert delivery.status is DeliveryStatus.DELIVERED


def test_cancel_needs_a_reason_in_evidence(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid())
    with pytest.raises(ValidationFailed) as excinfo:
        policy.update_delivery(coordinator, delivery, {"status": "cancelled"})
    assert problems(excinfo) == {"evidence": "取消政策兑现须在佐证说明(evidence)中写明原因"}
    with pytest.raises(ValidationFailed):
        policy.update_delivery(coordinator, delivery, {"status": "cancelled", "evidence": "   "})
    with pytest.raises(ValidationFailed) as excinfo:
        policy.update_delivery(coordinator, delivery, {"status": "cancelled", "evidence": "企业放弃",
                                                       "delivered_date": "2026-04-01"})
    assert "已取消的记录不能有兑现日期" in problems(excinfo)["delivered_date"]
    policy.update_delivery(coordinator, delivery, {"status": "cancelled", "evidence": "企业调整投资计划,主动放弃用地"})
    assert delivery.status is DeliveryStatus.CANCELLED
    row = audit_rows(delivery)[-1]
    assert row.action == "cancel" and row.summary.startswith("取消政策兑现(用地)")
    # a cancelled record can be corrected without repeating the reason
    policy.update_delivery(coordinator, delivery, {"amount": "100"})
    assert delivery.status is DeliveryStatus.CANCELLED


def test_a_delivered_record_is_not_cancelled_directly(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid(delivered_date="2026-04-01"))
    with pytest.raises(ValidationFailed) as excinfo:
        policy.update_delivery(coordinator, delivery, {"status": "cancelled", "evidence": "登记错误"})
    assert "请先改回待兑现" in problems(excinfo)["status"]


def test_back_to_promised_clears_the_date_and_the_overdue_notice(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid(delivered_date="2026-04-01"))
    delivery.overdue_notified_on = date(2026, 4, 1)
    with pytest.raises(ValidationFailed) as excinfo:
        policy.update_delivery(coordinator, delivery, {"status": "promised", "delivered_date": "2026-04-01"})
    assert "待兑现的记录不能有兑现日期" in problems(excinfo)["delivered_date"]
    policy.update_delivery(coordinator, delivery, {"status": "promised"})
    assert delivery.status is DeliveryStatus.PROMISED and delivery.delivered_date is None
    assert delivery.overdue_notified_on is None
    assert audit_rows(delivery)[-1].action == "reopen"


def test_moving_the_promised_date_allows_a_new_overdue_notice(enterprise, coordinator):
    delivery = policy.create_delivery(coordinator, enterprise, valid())
    delivery.overdue_notified_on = date(2026, 4, 1)
    policy.update_delivery(coordinator, delivery, {"evidence": "已协调自然资源局"})
    assert delivery.overdue_notified_on == date(2026, 4, 1)
    policy.update_delivery(coordinator, delivery, {"promised_date": "2026-06-30"})
    assert delivery.overdue_notified_on is None


# --- late ------------------------------------------------------------------------------------------------------

def _delivery(enterprise, status, promised_date, delivered_date=None):
    row = PolicyDelivery(enterprise=enterprise, kind=PolicyKind.POWER, promised="电价优惠", status=status,
                         promised_date=promised_date, delivered_date=delivered_date)
    db.session.add(row)
    db.session.flush()
    return row


def test_is_late(enterprise):
    due = date(2026, 5, 1)
    promised_past = _delivery(enterprise, DeliveryStatus.PROMISED, due)
    promised_today = _delivery(enterprise, DeliveryStatus.PROMISED, TODAY)
    delivered_late = _delivery(enterprise, DeliveryStatus.DELIVERED, due, date(2026, 5, 2))
    delivered_on_time = _delivery(enterprise, DeliveryStatus.DELIVERED, due, due)
    delivered_early = _delivery(enterprise, DeliveryStatus.DELIVERED, due, date(2026, 4, 1))
    cancelled = _delivery(enterprise, DeliveryStatus.CANCELLED, due)
    late = {promised_past.id, delivered_late.id}
    everything = [promised_past, promised_today, delivered_late, delivered_on_time, delivered_early, cancelled]
    assert {d.id for d in everything if policy.is_late(d, TODAY)} == late
    assert policy.LATE_LABEL == "逾期兑现"
    # the SQL filter agrees with is_late, both ways
    admin = make_user("admin")
    shown_late = set(db.session.scalars(
        policy.deliveries_statement(admin, late=True, today=TODAY).with_only_columns(PolicyDelivery.id)))
    shown_on_time = set(db.session.scalars(
        policy.deliveries_statement(admin, late=False, today=TODAY).with_only_columns(PolicyDelivery.id)))
    assert shown_late == late
    assert shown_on_time == {d.id for d in everything} - late


# --- listing ---------------------------------------------------------------------------------------------------

def ids(user, **filters) -> list[int]:
    return [d.id for d in db.session.scalars(policy.deliveries_statement(user, **filters))]


def test_list_scope_and_filters(coordinator):
    huichuan = make_enterprise(county="汇川区")
    tongzi = make_enterprise(county="桐梓县")
    mine = make_user("commissioner")
    assign(huichuan, mine, "tech")
    a = policy.create_delivery(coordinator, huichuan, valid(kind="用地", promised_date="2026-01-31"))
    b = policy.create_delivery(coordinator, huichuan, valid(kind="融资", promised_date="2026-02-28",
                                                            delivered_date="2026-02-01"))
    c = policy.create_delivery(coordinator, tongzi, valid(kind="用地", promised_date="2026-03-31"))
    assert ids(coordinator) == [c.id, b.id, a.id]  # promised date, newest first
    assert ids(make_user("leader")) == [c.id, b.id, a.id]
    assert ids(make_user("coordinator", county="桐梓县")) == [c.id]
    assert ids(make_user("leader", county="汇川区")) == [b.id, a.id]
    assert ids(mine) == [b.id, a.id]
    assert ids(make_user("commissioner")) == []
    assert ids(coordinator, kind="用地") == [c.id, a.id]
    assert ids(coordinator, kind=PolicyKind.FINANCING) == [b.id]
    assert ids(coordinator, status="delivered") == [b.id]
    assert ids(coordinator, county="桐梓县") == [c.id]
    assert ids(coordinator, enterprise_id=huichuan.id) == [b.id, a.id]
    assert ids(coordinator, late=True, today=date(2026, 3, 1)) == [a.id]
    with pytest.raises(ValidationFailed) as excinfo:
        ids(coordinator, kind="补贴", status="late", county="火星区")
    assert set(problems(excinfo)) == {"kind", "status", "county"}
