"""The situation report's page and workbook: who reads them, and the print page under the strict CSP."""

from __future__ import annotations

import io

import openpyxl
import pytest

from crm.extensions import db
from tests.conftest import login, make_user


@pytest.fixture
def readers():
    made = {role: make_user(role) for role in ("leader", "coordinator", "admin")}
    made["commissioner"] = make_user("commissioner", specialties=["tech"])
    made["liaison"] = make_user("liaison")
    made["county_coordinator"] = make_user("coordinator", county="汇川区")
    made["county_leader"] = make_user("leader", county="汇川区")
    db.session.commit()
    return made


def test_leaders_coordinators_and_admins_read_it(app, readers):
    for role in ("leader", "coordinator", "admin"):
        client = app.test_client()
        login(client, readers[role])
        page = client.get("/situation/")
        assert page.status_code == 200, role
        html = page.get_data(as_text=True)
        assert "落实情况报告" in html and "data-print" in html
        assert "<script>" not in html and "onclick" not in html  # nothing inline: the CSP holds
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        book = client.get("/situation/report.xlsx?as_of=2026-11-15")
        assert book.status_code == 200 and book.mimetype.endswith("spreadsheetml.sheet")
        wb = openpyxl.load_workbook(io.BytesIO(book.data))
        assert wb.sheetnames == ["汇总", "单位报送", "里程碑", "逾期整改事项"]


def test_others_are_refused_and_bad_dates_named(app, readers):
    for role in ("commissioner", "liaison"):
        client = app.test_client()
        login(client, readers[role])
        assert client.get("/situation/").status_code == 403
    client = app.test_client()
    login(client, readers["leader"])
    page = client.get("/situation/?as_of=2026-02-30")
    assert page.status_code == 422 and "报告日期" in page.get_data(as_text=True)


def test_county_scoped_readers_are_refused_and_not_shown_the_link(app, readers):
    """The report lists every county's overdue items: for the city government, not a county."""
    for role in ("county_coordinator", "county_leader"):
        client = app.test_client()
        login(client, readers[role])
        assert client.get("/situation/").status_code == 403, role
        assert client.get("/situation/report.xlsx").status_code == 403, role
        for url in ("/enterprises/", "/supervision/"):  # base.html's 统计 menu, the supervision tabs
            html = client.get(url).get_data(as_text=True)
            assert "/situation/" not in html, (role, url)
    client = app.test_client()
    login(client, readers["coordinator"])
    for url in ("/enterprises/", "/supervision/"):
        assert "/situation/" in client.get(url).get_data(as_text=True), url
