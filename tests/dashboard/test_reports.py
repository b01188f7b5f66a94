"""The dashboard report: one XLSX (rules first, a sheet per table) and the print layout, with the same numbers as
the dashboard and as the viewer may see them."""

from __future__ import annotations

import io
from datetime import date

from openpyxl import load_workbook

from crm.dashboard import reports, service, targets
from tests.conftest import login, make_user


def _sheets(data: bytes) -> dict[str, list[tuple]]:
    wb = load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: [tuple(c for c in row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def test_the_workbook_has_the_rules_first_and_a_sheet_per_table(app):
    leader = make_user("leader")
    report = reports.build(leader, year=2025, start=date(2026, 1, 1), end=date(2026, 1, 31))
    sheets = _sheets(reports.xlsx(report))
    names = list(sheets)
    assert names[0] == "统计口径"
    assert {"2025年目标进度", "园区与落户", "服务绩效-区县", "服务绩效-专员", "走访月度"} <= set(names)
    rules_text = " ".join(str(c) for row in sheets["统计口径"] for c in row if c)
    assert "配套企业名单" in rules_text and "统计期间" in rules_text
    board = targets.dashboard(2025, leader)
    rows = sheets["2025年目标进度"]
    city = next(r for r in rows if r[0] == "遵义市")
    assert city[1] == str(board["city"]["target_firms"]) == "75"
    assert len([r for r in rows[2:] if r[0]]) == 1 + len(board["units"])


def test_a_county_user_gets_their_county_and_the_city_total_only(app):
    county_leader = make_user("leader", county="汇川区")
    report = reports.build(county_leader, year=2025, start=date(2026, 1, 1), end=date(2026, 1, 31))
    units = [row["unit"] for row in report.targets["units"]]
    assert units == ["汇川区"]
    sheets = _sheets(reports.xlsx(report))
    names_in_targets = {r[0] for r in sheets["2025年目标进度"][2:]}
    assert names_in_targets == {"遵义市", "汇川区"}
    assert [r[0] for r in sheets["服务绩效-区县"][1:]] == ["全市合计", "汇川区"]


def test_a_commissioner_gets_their_own_service_performance_and_no_targets(client):
    commissioner = make_user("commissioner", specialties=["tech"])
    make_user("commissioner", username="someone_else", specialties=["legal"])
    report = reports.build(commissioner, year=None, start=date(2026, 1, 1), end=date(2026, 1, 31))
    assert report.targets is None and report.year is None
    sheets = _sheets(reports.xlsx(report))
    assert not any(name.endswith("目标进度") for name in sheets)
    assert [r[0] for r in sheets["服务绩效-专员"][1:]] == [commissioner.display_name]
    login(client, commissioner)
    page = client.get("/dashboard/report/?from=2026-01-01&to=2026-01-31")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "someone_else" not in html and "规上配套企业与产值" not in html


def test_the_print_layout_and_the_download(client):
    login(client, make_user("leader"))
    page = client.get("/dashboard/report/?year=2025&from=2026-01-01&to=2026-01-31")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "data-report-targets" in html and "data-report-rules" in html and "print-footer" in html
    assert "css/print.css" in html and "<script>" not in html
    download = client.get("/dashboard/report/download.xlsx?year=2025&from=2026-01-01&to=2026-01-31")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert list(_sheets(download.data))[0] == "统计口径"


def test_bad_report_parameters_are_refused_in_chinese(client):
    login(client, make_user("leader"))
    for query in ("year=abc", "from=2026-13-01", "from=2026-02-01&to=2026-01-01", "county=不存在"):
        response = client.get(f"/dashboard/report/?{query}")
        assert response.status_code in (400, 422), query
    assert service.default_period()[0].day == 1


def test_the_dashboards_link_to_the_report_with_their_choice(client):
    login(client, make_user("leader"))
    targets_page = client.get("/dashboard/targets/2025").get_data(as_text=True)
    assert 'href="/dashboard/report/?year=2025" data-report-link' in targets_page
    service_page = client.get("/dashboard/service/?from=2026-01-01&to=2026-01-31").get_data(as_text=True)
    assert "/dashboard/report/?from=2026-01-01&amp;to=2026-01-31" in service_page
    assert ">工作进展报告(打印 / Excel)</a>" in service_page  # in the 统计 menu


def test_a_year_of_thousands_of_digits_is_a_400_not_a_500(client):
    login(client, make_user("leader"))
    response = client.get(f"/dashboard/report/?year={'9' * 4400}")
    assert response.status_code == 422 and "年份应为 2000–2100 之间的数字" in response.get_data(as_text=True)
