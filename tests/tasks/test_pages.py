"""The ledger pages: the list by section with each unit's state, a task's page, filing a report through the
form (a liaison for their unit only), attachment downloads and deletion, the settings page."""

from __future__ import annotations

import io

import sqlalchemy as sa

from crm.core.audit import AuditEntity, AuditLog
from crm.extensions import db
from crm.tasks.models import ProgressReport, ReportAttachment, ReportCadence, TaskSettings
from tests.conftest import csrf_token_from, login, make_user
from tests.tasks.factories import PDF, make_report, safeguard, task, unit


def test_the_list_groups_tasks_by_section_and_shows_states_to_who_reads_reports(client):
    make_report(safeguard(2), unit("市自然资源局"), status="behind")
    login(client, make_user("coordinator"))
    html = client.get("/tasks/").get_data(as_text=True)
    assert "(一)发挥区位优势,建设配套园区" in html and "四、保障措施" in html
    assert "1.建设先行探索示范区" in html and "保障措施(三) 优化企业服务" in html
    assert "市自然资源局 · 滞后" in html or "市自然资源局 · 逾期" in html or "市自然资源局 · 未报送" in html
    assert "任务台账" in html


def test_a_commissioner_reads_tasks_but_no_unit_state(client):
    login(client, make_user("commissioner", specialties=["tech"]))
    html = client.get("/tasks/").get_data(as_text=True)
    assert "1.建设先行探索示范区" in html and "unit-state" not in html
    detail = client.get(f"/tasks/{safeguard(2).id}")
    assert detail.status_code == 200 and "报送进展" not in detail.get_data(as_text=True)


def test_a_liaison_files_through_the_form_with_an_attachment(client):
    liaison = make_user("liaison")
    login(client, liaison)
    policy = safeguard(2)
    page = client.get(f"/tasks/{policy.id}").get_data(as_text=True)
    assert "报送进展" in page and "市自然资源局" in page
    form = {"csrf_token": csrf_token_from(page), "unit": str(unit("市自然资源局").id), "status": "on_track",
            "text": "已完成 3 宗用地报批", "attachments": (io.BytesIO(PDF), "用地报批.pdf")}
    response = client.post(f"/tasks/{policy.id}/reports", data=form, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)
    report = db.session.scalar(sa.select(ProgressReport))
    assert report.author_id == liaison.id and report.attachments[0].filename == "用地报批.pdf"
    shown = client.get(f"/tasks/{policy.id}").get_data(as_text=True)
    assert "已完成 3 宗用地报批" in shown and "用地报批.pdf" in shown
    download = client.get(f"/tasks/attachments/{report.attachments[0].id}")
    assert download.status_code == 200 and download.data == PDF
    assert "attachment" in download.headers["Content-Disposition"]


def test_the_form_refuses_another_unit_and_a_bad_file_saving_nothing(client):
    liaison = make_user("liaison")
    login(client, liaison)
    policy = safeguard(2)
    token = csrf_token_from(client.get(f"/tasks/{policy.id}").get_data(as_text=True))
    other = client.post(f"/tasks/{policy.id}/reports", data={
        "csrf_token": token, "unit": str(unit("市财政局").id), "status": "on_track", "text": "代报"})
    assert other.status_code == 422 and "只能为本单位报送" in other.get_data(as_text=True)
    bad = client.post(f"/tasks/{policy.id}/reports", data={
        "csrf_token": token, "unit": str(unit("市自然资源局").id), "status": "on_track", "text": "附件有误",
        "attachments": (io.BytesIO(b"MZ not a pdf"), "报告.pdf")}, content_type="multipart/form-data")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "附件“报告.pdf”的类型不允许" in html
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ProgressReport)) == 0
    # a task that does not name 市自然资源局: no form, and a post is refused
    assert "报送进展" not in client.get(f"/tasks/{task(1).id}").get_data(as_text=True)
    assert client.post(f"/tasks/{task(1).id}/reports", data={"csrf_token": token}).status_code == 403


def test_another_departments_report_and_attachment_are_hidden_from_a_liaison(client):
    theirs = make_report(safeguard(2), unit("市财政局"), text="财政局的进展")
    db.session.commit()
    login(client, make_user("liaison"))
    assert "财政局的进展" not in client.get(f"/tasks/{safeguard(2).id}").get_data(as_text=True)
    assert client.get(f"/tasks/attachments/{theirs.attachments[0].id}").status_code == 404


def test_a_coordinator_deletes_an_attachment_and_a_leader_may_not(client):
    report = make_report(safeguard(2), unit("市自然资源局"))
    attachment_id = report.attachments[0].id
    db.session.commit()
    login(client, make_user("leader"))
    token = csrf_token_from(client.get(f"/tasks/{safeguard(2).id}").get_data(as_text=True))
    assert client.post(f"/tasks/attachments/{attachment_id}/delete", data={"csrf_token": token}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, make_user("coordinator"))
    token = csrf_token_from(client.get(f"/tasks/{safeguard(2).id}").get_data(as_text=True))
    response = client.post(f"/tasks/attachments/{attachment_id}/delete", data={"csrf_token": token})
    assert response.status_code == 303
    assert db.session.get(ReportAttachment, attachment_id) is None


def test_the_settings_page_is_for_admins(client):
    login(client, make_user("coordinator"))
    assert client.get("/tasks/settings").status_code == 403
    client.post("/logout")
    admin = make_user("admin")
    login(client, admin)
    page = client.get("/tasks/settings").get_data(as_text=True)
    token = csrf_token_from(page)
    refused = client.post("/tasks/settings", data={"csrf_token": token, "cadence": "quarterly",
                                                   "grace_working_days": "abc", "version": "1"})
    assert refused.status_code == 422 and "宽限工作日须为" in refused.get_data(as_text=True)
    too_long = client.post("/tasks/settings", data={"csrf_token": token, "cadence": "monthly",
                                                    "grace_working_days": "20", "version": "1"})
    assert too_long.status_code == 422 and "宽限工作日不超过 15 天" in too_long.get_data(as_text=True)
    saved = client.post("/tasks/settings", data={"csrf_token": token, "cadence": "half_yearly",
                                                 "grace_working_days": "10", "version": "1"})
    assert saved.status_code == 303
    row = db.session.get(TaskSettings, 1)
    assert (row.cadence, row.grace_working_days) == (ReportCadence.HALF_YEARLY, 10)
    stale = client.post("/tasks/settings", data={"csrf_token": token, "cadence": "monthly",
                                                 "grace_working_days": "3", "version": "1"})
    assert stale.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.entity_type == AuditEntity.TASK_SETTINGS)) == 1


def test_a_tasks_reports_are_shown_twelve_periods_a_page_with_a_link_to_older_ones(client):
    policy, zrzy = safeguard(2), unit("市自然资源局")
    keys = [f"2025-{m:02d}" for m in range(1, 13)] + ["2026-01", "2026-02"]
    for key in keys:
        make_report(policy, zrzy, period=key, text=f"进展{key}")
    login(client, make_user("coordinator"))
    html = client.get(f"/tasks/{policy.id}").get_data(as_text=True)
    assert "进展2026-02" in html and "进展2025-03" in html and "进展2025-02" not in html
    assert f"/tasks/{policy.id}?page=2" in html and "更早的报告" in html
    older = client.get(f"/tasks/{policy.id}?page=2").get_data(as_text=True)
    assert "进展2025-02" in older and "进展2025-01" in older and "进展2025-03" not in older
    assert "较新的报告" in older and "更早的报告" not in older


def test_an_overdue_unit_shows_its_latest_report_apart(client):
    """10 December, only a December report: 逾期(2026年11月), the December status shown separately."""
    from datetime import date

    from crm.tasks import domain

    policy = safeguard(2)
    make_report(policy, unit("市自然资源局"), period="2026-12", status="behind")
    [state] = [s for s in domain.ledger_states([policy], today=date(2026, 12, 10))[policy.id]
               if s.department.name == "市自然资源局"]
    assert (state.label, state.owed.label, state.latest.status.label) == ("逾期", "2026年11月", "滞后")
    login(client, make_user("coordinator"))
    html = client.get(f"/tasks/{policy.id}").get_data(as_text=True)
    assert "最近报送:2026年12月 滞后" in html or domain.current_period().key != "2026-12"
