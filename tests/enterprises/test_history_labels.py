"""The 一企一档 history shows every coded field by its enum's Chinese label (never a raw code)."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from crm.core import audit
from crm.core.audit import AuditEntity
from crm.extensions import db
from crm.history import coded_fields, field_label, shown_value
from crm.rosters import domain as rosters
from crm.rosters.models import EditionStatus, RosterKind
from tests.conftest import login, make_enterprise, make_user


def history_text(client, enterprise_id: int) -> str:
    html = client.get(f"/enterprises/{enterprise_id}").get_data(as_text=True)
    html = html[html.index('id="history"'):]
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", html)))


def test_the_enterprise_history_shows_a_roster_editions_status_and_tier_in_chinese(client):
    enterprise = make_enterprise(status="suspended")
    coordinator = make_user("coordinator")
    edition = rosters.open_edition(coordinator, RosterKind.CULTIVATION_POOL, "2026H1")
    rosters.add_entry(coordinator, edition, enterprise, "龙头企业", tier="leader")
    # a roster-edition row about this enterprise with a status change: its status is an edition status
    # ("published" 已发布), not an enterprise status, although both fields are called "status"
    audit.record(coordinator, AuditEntity.ROSTER_EDITION, edition.id, "publish",
                 {"status": [EditionStatus.IN_REVIEW, EditionStatus.PUBLISHED]}, enterprise_id=enterprise.id,
                 summary="发布")
    audit.record(coordinator, AuditEntity.ENTERPRISE, enterprise.id, "update",
                 {"status": ["active", "suspended"]}, enterprise_id=enterprise.id, summary="修改企业档案")
    db.session.commit()
    login(client, coordinator)
    text = history_text(client, enterprise.id)
    assert "名单版本" in text and "状态: 审核中 → 已发布" in text
    assert "层级: (空) → 龙头" in text and "理由: (空) → 龙头企业" in text
    assert "档案" in text and "经营状态: 正常经营 → 停产" in text
    for code in ("in_review", "published", "leader", "roster_edition", "suspended"):
        assert code not in text, code


@pytest.mark.parametrize(("entity", "key", "value", "shown"), [
    ("enterprise", "status", "moved_out", "已迁出"),
    ("roster_edition", "status", "superseded", "已被替代"),
    ("roster_edition", "status", "draft", "草稿"),
    ("roster_edition", "tier", "chain_master", "链主"),
    ("service_request", "status", "in_progress", "办理中"),
    ("policy_delivery", "status", "cancelled", "已取消"),
    ("policy_delivery", "kind", "用地", "用地"),
    ("interaction", "channel", "online", "线上"),
    ("assignment", "specialty", "legal", "法务"),
    ("user", "role", "commissioner", "服务专员"),
    ("user", "specialties", ["tech", "media"], "科技、媒体"),
    ("holiday_year", "kind", "workday", "上班"),
    ("enterprise", "status", "no_such_code", "no_such_code"),
    ("enterprise", "name", "active", "active"),  # only coded fields are translated
    ("enterprise", "status", None, "(空)"),
])
def test_every_coded_field_is_shown_by_its_label(entity, key, value, shown):
    assert shown_value(entity, key, value) == shown


def test_every_audit_entity_has_its_coded_fields_and_a_status_label():
    coded = coded_fields()
    assert set(coded) == set(AuditEntity)
    for entity, fields in coded.items():
        if "status" in fields:
            assert field_label(entity, "status") != "status", entity
