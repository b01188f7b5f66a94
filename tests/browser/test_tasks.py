"""A department liaison files a progress report on a phone: from the ledger (their unit's tasks marked) to the
task's page, a refusal shown under its field in Chinese, then the saved report with its attachment. Strict CSP,
CSRF on."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.tasks.models import ProgressReport
from tests.browser.conftest import no_horizontal_scroll, open_page, shot, sign_in
from tests.conftest import make_user
from tests.tasks.factories import PDF, safeguard

TEXT = "已完成 3 宗融入成渝配套项目用地报批,另有 2 宗用地指标待省厅批复。"


def test_a_liaison_files_a_report_on_a_phone(site, browser, tmp_path):
    def setup():
        make_user("liaison", username="t_liaison", department="市自然资源局")
        return safeguard(2).id

    task_id = site.run(setup)
    page, problems = open_page(browser, phone=True)
    sign_in(page, site, "t_liaison")
    page.goto(f"{site.url}/tasks/")
    row = page.locator(f'.task-row[data-task="{task_id}"]')
    assert "本单位" in row.inner_text() and "强化政策支持" in row.inner_text()
    assert no_horizontal_scroll(page)
    shot(page, "tasks-1-ledger-phone")

    row.locator("a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/tasks/{task_id}")
    assert page.locator("main form#report-form select[name=unit] option").all_inner_texts() == ["市自然资源局"]
    assert no_horizontal_scroll(page)
    shot(page, "tasks-2-form-phone")

    page.select_option("main form#report-form select[name=status]", "behind")
    page.click("main form#report-form [type=submit]")  # no text: refused under its field, nothing saved
    page.wait_for_load_state()
    assert page.locator("textarea[name=text] ~ .invalid-feedback").inner_text() == "请填写进展情况"
    assert page.input_value("select[name=status]") == "behind"
    assert site.run(lambda: db.session.scalar(sa.select(sa.func.count(ProgressReport.id)))) == 0
    shot(page, "tasks-3-refused-phone")

    pdf = tmp_path / "用地报批情况.pdf"
    pdf.write_bytes(PDF)
    page.fill("main form#report-form textarea[name=text]", TEXT)
    page.set_input_files("main form#report-form input[name=attachments]", str(pdf))
    page.click("main form#report-form [type=submit]")
    page.wait_for_load_state()
    assert "已报送 市自然资源局" in page.locator(".alert-success").inner_text()
    report = page.locator("main .report").first
    assert TEXT in report.inner_text() and "滞后" in report.inner_text() and "用地报批情况.pdf" in report.inner_text()
    assert no_horizontal_scroll(page)
    shot(page, "tasks-4-saved-phone")
    assert [p for p in problems if "422" not in p] == []  # the refusal answered 422, as it should
    saved = site.run(lambda: [(r.status.value, r.text, [a.filename for a in r.attachments])
                              for r in db.session.scalars(sa.select(ProgressReport))])
    assert saved == [("behind", TEXT, ["用地报批情况.pdf"])]
