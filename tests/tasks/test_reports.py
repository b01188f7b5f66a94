"""Filing progress reports: who may file for which unit, amending in the same period (audited), attachments
(size and type by content, nothing half-saved), and the reporting settings."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditAction, AuditEntity, AuditLog
from crm.core.errors import Conflict, Forbidden, ValidationFailed
from crm.extensions import db
from crm.tasks import domain
from crm.tasks.models import ProgressReport, ReportAttachment, ReportCadence, ReportStatus
from tests.conftest import make_user
from tests.tasks.factories import JPEG, PDF, PNG, docx, plain_zip, safeguard, task, unit, xlsx

TODAY = date(2026, 12, 15)  # December: the November report is past its grace (7 Dec)


def audits(report_id: int, action: AuditAction | None = None) -> list[AuditLog]:
    stmt = sa.select(AuditLog).where(AuditLog.entity_type == AuditEntity.TASK_REPORT, AuditLog.entity_id == report_id)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    return list(db.session.scalars(stmt.order_by(AuditLog.id)))


def count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_liaison_files_for_their_department_and_amends_in_the_same_period():
    liaison = make_user("liaison")  # 市自然资源局, a unit of 保障措施(二)
    policy, zrzy = safeguard(2), unit("市自然资源局")
    report = domain.file_report(liaison, policy, zrzy, "on_track", "  用地保障已落实 3 宗  ", today=TODAY)
    assert (report.period, report.status, report.text) == ("2026-12", ReportStatus.ON_TRACK, "用地保障已落实 3 宗")
    [created] = audits(report.id)
    assert created.action is AuditAction.CREATE and created.changes["unit"] == "市自然资源局"

    again = domain.file_report(liaison, policy, zrzy, "滞后", "用地指标未到位", today=TODAY)  # by its label too
    assert again.id == report.id and again.status is ReportStatus.BEHIND
    update = audits(report.id, AuditAction.UPDATE)[0]
    assert update.changes == {"status": ["on_track", "behind"], "text": ["用地保障已落实 3 宗", "用地指标未到位"]}
    assert count(ProgressReport) == 1


def test_within_the_grace_the_ended_period_is_filed_first_then_the_current_one():
    liaison = make_user("liaison")
    policy, zrzy = safeguard(2), unit("市自然资源局")
    first = domain.file_report(liaison, policy, zrzy, "on_track", "十一月", today=date(2026, 12, 3))
    assert first.period == "2026-11"
    second = domain.file_report(liaison, policy, zrzy, "on_track", "十二月", today=date(2026, 12, 3))
    assert second.period == "2026-12"
    amended = domain.file_report(liaison, policy, zrzy, "done", "十一月补充", period="2026-11", today=date(2026, 12, 3))
    assert amended.id == first.id and amended.status is ReportStatus.DONE
    with pytest.raises(ValidationFailed) as refused:
        domain.file_report(liaison, policy, zrzy, "on_track", "十月", period="2026-10", today=date(2026, 12, 3))
    assert "period" in refused.value.fields and "2026年11月" in refused.value.fields["period"]


def test_a_liaison_is_refused_another_department_and_a_task_that_does_not_name_theirs():
    liaison = make_user("liaison")
    with pytest.raises(Forbidden) as other:
        domain.file_report(liaison, safeguard(2), unit("市财政局"), "on_track", "代报", today=TODAY)
    assert other.value.fields == {"unit": domain.NOT_YOURS}
    with pytest.raises(ValidationFailed) as not_named:  # 重点任务1 names no 市自然资源局
        domain.file_report(liaison, task(1), unit("市自然资源局"), "on_track", "进展", today=TODAY)
    assert "市自然资源局" in not_named.value.fields["unit"]
    assert count(ProgressReport) == 0


@pytest.mark.parametrize(("role", "county", "target", "allowed"), [
    ("admin", None, "市财政局", True),
    ("coordinator", None, "市财政局", True),
    ("coordinator", "汇川区", "汇川区人民政府", True),
    ("coordinator", "汇川区", "市财政局", False),
    ("leader", None, "市财政局", False),
    ("commissioner", None, "市财政局", False),
])
def test_who_files_on_behalf_of_a_unit(role, county, target, allowed):
    user = make_user(role, county=county, specialties=["tech"] if role == "commissioner" else None)
    if allowed:
        assert domain.file_report(user, safeguard(2), unit(target), "on_track", "代报", today=TODAY).id
    else:
        with pytest.raises(Forbidden):
            domain.file_report(user, safeguard(2), unit(target), "on_track", "代报", today=TODAY)


def test_status_and_text_are_required_with_field_messages():
    liaison = make_user("liaison")
    with pytest.raises(ValidationFailed) as refused:
        domain.file_report(liaison, safeguard(2), unit("市自然资源局"), "maybe", "  ", today=TODAY)
    assert set(refused.value.fields) == {"status", "text"} and "按计划推进" in refused.value.fields["status"]


@pytest.mark.parametrize(("name", "data", "content_type", "stored"), [
    ("报告.pdf", PDF, "application/pdf", "报告.pdf"), ("照片.png", PNG, "image/png", "照片.png"),
    ("照片.jpg", JPEG, "image/jpeg", "照片.jpg"), ("照片.JPEG", JPEG, "image/jpeg", "照片.JPEG"),
    ("说明.docx", docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "说明.docx"),
    ("台账.xlsx", xlsx(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "台账.xlsx"),
    # the content decides, not the name: the base name only, with the extension of the sniffed type
    ("名字不对.txt", PDF, "application/pdf", "名字不对.pdf"),
    ("../../通知.bat", PDF, "application/pdf", "通知.pdf"),
    ("..\\..\\x.html", PDF, "application/pdf", "x.pdf"),
    ("x.html", PNG, "image/png", "x.png"),
    ("没有扩展名", PDF, "application/pdf", "没有扩展名.pdf"),
    ("a/b/.pdf", PDF, "application/pdf", "未命名文件.pdf"),
    ("../", PDF, "application/pdf", "未命名文件.pdf"),
])
def test_allowed_attachments_are_stored_with_their_hash(name, data, content_type, stored):
    liaison = make_user("liaison")
    report = domain.file_report(liaison, safeguard(2), unit("市自然资源局"), "on_track", "附件", [(name, data)],
                                today=TODAY)
    [row] = report.attachments
    assert (row.filename, row.content_type, row.size, len(row.sha256)) == (stored, content_type, len(data), 64)
    assert audits(report.id, AuditAction.ATTACH)[0].changes["attachment"] == [None, stored]


@pytest.mark.parametrize(("data", "words"), [
    (b"just text, renamed to .pdf", "类型不允许"),
    (b"MZ\x90\x00 executable", "类型不允许"),
    (b"\xd0\xcf\x11\xe0 old word", "旧版"),
    (plain_zip(), "类型不允许"),
    (docx(body=False), "类型不允许"),  # declares a Word document but holds no word/document.xml
    (b"", "空文件"),
])
def test_refused_attachments_name_the_file_and_save_nothing(data, words):
    liaison = make_user("liaison")
    with pytest.raises(ValidationFailed) as refused:
        domain.file_report(liaison, safeguard(2), unit("市自然资源局"), "on_track", "附件",
                           [("好的.pdf", PDF), ("坏的.pdf", data)], today=TODAY)
    assert "坏的.pdf" in refused.value.fields["attachments"] and words in refused.value.fields["attachments"]
    db.session.rollback()  # as attempt() and the API do
    assert count(ProgressReport) == 0 and count(ReportAttachment) == 0


def test_an_attachment_over_the_size_limit_is_refused(app, monkeypatch):
    monkeypatch.setitem(app.config, "TASK_ATTACHMENT_MAX_BYTES", 1024)
    liaison = make_user("liaison")
    with pytest.raises(ValidationFailed) as refused:
        domain.file_report(liaison, safeguard(2), unit("市自然资源局"), "on_track", "附件",
                           [("大.pdf", PDF + b"0" * 2000)], today=TODAY)
    assert "过大" in refused.value.fields["attachments"] and "1 KB" in refused.value.fields["attachments"]


def test_detaching_is_for_the_uploader_or_a_coordinator():
    liaison, colleague = make_user("liaison"), make_user("liaison")
    coordinator, leader = make_user("coordinator"), make_user("leader")
    report = domain.file_report(liaison, safeguard(2), unit("市自然资源局"), "on_track", "附件",
                                [("a.pdf", PDF), ("b.pdf", PDF)], today=TODAY)
    first, second = report.attachments
    for refused in (colleague, leader):
        with pytest.raises(Forbidden):
            domain.remove_attachment(refused, first)
    domain.remove_attachment(liaison, first)
    domain.remove_attachment(coordinator, second)
    assert report.attachments == []
    detached = [a.changes["attachment"] for a in audits(report.id, AuditAction.DETACH)]
    assert detached == [["a.pdf", None], ["b.pdf", None]]


def test_the_grace_must_end_within_the_next_period_of_the_cadence():
    """A grace longer than the period would never be escalated (the job looks at the period just before today's):
    at most 15 working days monthly, 40 quarterly, 60 half-yearly; changing the cadence alone re-checks."""
    admin = make_user("admin")
    with pytest.raises(ValidationFailed) as monthly:
        domain.update_settings(admin, {"cadence": "monthly", "grace_working_days": "16"})
    assert set(monthly.value.fields) == {"grace_working_days"} and "不超过 15" in monthly.value.fields[
        "grace_working_days"]
    row = domain.update_settings(admin, {"cadence": "half_yearly", "grace_working_days": "60"})
    assert (row.cadence, row.grace_working_days) == (ReportCadence.HALF_YEARLY, 60)
    with pytest.raises(ValidationFailed) as quarterly:  # only the cadence: 60 is too long for a quarter
        domain.update_settings(admin, {"cadence": "quarterly"})
    assert set(quarterly.value.fields) == {"cadence"} and "不超过 40" in quarterly.value.fields["cadence"]
    row = domain.update_settings(admin, {"cadence": "quarterly", "grace_working_days": "40"})
    assert (row.cadence, row.grace_working_days) == (ReportCadence.QUARTERLY, 40)
    row = domain.update_settings(admin, {"cadence": "monthly", "grace_working_days": 15})
    assert (row.cadence, row.grace_working_days) == (ReportCadence.MONTHLY, 15)


def test_settings_are_for_admins_audited_and_version_checked():
    admin, coordinator = make_user("admin"), make_user("coordinator")
    assert domain.current_settings().cadence is ReportCadence.MONTHLY
    with pytest.raises(Forbidden):
        domain.update_settings(coordinator, {"cadence": "quarterly"})
    row = domain.update_settings(admin, {"cadence": "quarterly", "grace_working_days": "3"}, version=1)
    assert (row.cadence, row.grace_working_days, row.version) == (ReportCadence.QUARTERLY, 3, 2)
    log = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == AuditEntity.TASK_SETTINGS))
    assert log.changes == {"cadence": ["monthly", "quarterly"], "grace_working_days": [5, 3]}
    with pytest.raises(Conflict):
        domain.update_settings(admin, {"grace_working_days": "4"}, version=1)
    with pytest.raises(ValidationFailed) as refused:
        domain.update_settings(admin, {"cadence": "weekly", "grace_working_days": "-1"})
    assert set(refused.value.fields) == {"cadence", "grace_working_days"}
    assert domain.current_period(date(2026, 11, 5)).key == "2026Q4"
