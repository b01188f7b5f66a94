"""The audit trail is written with the change and rolled back with it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog, history_for_enterprise
from crm.enterprises import domain
from crm.enterprises.models import Enterprise
from crm.extensions import db
from tests.conftest import make_enterprise, make_user


def test_update_records_old_and_new_and_who():
    user = make_user("coordinator")
    ent = make_enterprise(main_products="变压器")
    domain.update_enterprise(user, ent, {"main_products": "有载分接开关", "county": "播州区"})
    db.session.flush()
    rows = history_for_enterprise(ent.id)
    assert rows[0].action == "update" and rows[0].actor_id == user.id
    assert rows[0].changes == {"main_products": ["变压器", "有载分接开关"], "county": ["汇川区", "播州区"]}
    assert rows[-1].action == "create" and rows[-1].actor_name == "系统"
    assert rows[0].at.tzinfo is not None


def test_no_change_no_audit_row():
    ent = make_enterprise()
    before = len(history_for_enterprise(ent.id))
    domain.update_enterprise(None, ent, {"main_products": ent.main_products})
    assert len(history_for_enterprise(ent.id)) == before


def test_audit_rolls_back_with_the_change(app):
    """A failure after the change and its audit row undoes both: no change without its record, nor the reverse."""
    ent = make_enterprise(main_products="旧产品")
    db.session.commit()  # releases the test's savepoint; the outer transaction still rolls back at the end
    count_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    with pytest.raises(RuntimeError):
        try:
            domain.update_enterprise(None, ent, {"main_products": "新产品"})
            db.session.flush()
            raise RuntimeError("boom after the audit row was written")
        except RuntimeError:
            db.session.rollback()
            raise
    assert db.session.get(Enterprise, ent.id).main_products == "旧产品"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == count_before


def test_figure_contact_and_partner_changes_are_in_the_enterprise_history():
    ent = make_enterprise()
    figure = domain.set_figure(None, ent, 2025, {"output_value": "1200.5", "chengyu_output_value": "300"})
    domain.set_figure(None, ent, 2025, {"output_value": "1300", "chengyu_output_value": "300"})
    contact = domain.add_contact(None, ent, {"name": "李四", "post": "销售总监", "phone": "13800000000"})
    link = domain.link_partner(None, ent, "赛力斯集团股份有限公司", "线束总成")
    domain.delete_contact(None, contact)
    domain.unlink_partner(None, link)
    domain.delete_figure(None, figure)
    db.session.flush()
    kinds = [(r.entity_type, r.action) for r in reversed(history_for_enterprise(ent.id))]
    assert kinds == [("enterprise", "create"), ("figure", "create"), ("figure", "update"), ("contact", "create"),
                     ("partner_link", "create"), ("contact", "delete"), ("partner_link", "delete"),
                     ("figure", "delete")]
    update = [r for r in history_for_enterprise(ent.id) if r.entity_type == "figure" and r.action == "update"][0]
    assert update.changes == {"output_value": ["1200.5", "1300"]}


def test_entity_types_and_actions_are_enumerations():
    from crm.core.audit import AuditAction, AuditEntity, record

    row = record(None, "enterprise", 1, AuditAction.UPDATE)
    assert row.entity_type is AuditEntity.ENTERPRISE and row.action is AuditAction.UPDATE
    with pytest.raises(ValueError):
        record(None, "spaceship", 1, "update")
    with pytest.raises(ValueError):
        record(None, "enterprise", 1, "teleport")


@pytest.mark.parametrize(("table", "column", "row"), [
    ("audit_log", "entity_type", {"actor_name": "系统", "entity_type": "spaceship", "entity_id": 1,
                                  "action": "update", "summary": "", "changes": "{}"}),
    ("audit_log", "action", {"actor_name": "系统", "entity_type": "enterprise", "entity_id": 1,
                             "action": "teleport", "summary": "", "changes": "{}"}),
    ("notifications", "kind", {"kind": "gossip", "title": "标题", "body": "", "link": ""}),
])
def test_the_database_refuses_an_unknown_code(table, column, row):
    """The migrations made a CHECK for each: a value written past the model (raw SQL) is refused too."""
    from datetime import UTC, datetime

    from sqlalchemy.exc import IntegrityError

    values = dict(row)
    if table == "notifications":
        values["user_id"] = make_user("leader").id
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    values["at" if table == "audit_log" else "created_at"] = now
    names = ", ".join(values)
    params = ", ".join(f":{key}" for key in values)
    with pytest.raises(IntegrityError, match=f"(?i)check|ck_{table}"):  # noqa: SIM117
        with db.session.begin_nested():
            db.session.execute(sa.text(f"INSERT INTO {table} ({names}) VALUES ({params})"), values)
