"""The holiday admin page at /admin/holidays: admins change it, coordinators and leaders read it."""

from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from crm.extensions import db
from crm.holidays.domain import load_from_chinese_calendar
from crm.holidays.models import DayKind, HolidayYear, SpecialDay
from crm.holidays.workdays import is_working_day
from tests.conftest import csrf_token_from, login, make_user
from tests.holidays.support import GOOD_2027, csv_bytes, xlsx_bytes

BASE = "/admin/holidays"


@pytest.fixture
def seeded():
    load_from_chinese_calendar([2025, 2026])
    db.session.commit()


def _day(d: date) -> SpecialDay | None:
    return db.session.scalar(sa.select(SpecialDay).where(SpecialDay.day == d))


def _upload(client, year, name, data, **kwargs):
    return client.post(f"{BASE}/import", data={"year": str(year), "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data", **kwargs)


def test_admin_sees_years_and_the_selected_years_days(client, seeded):
    login(client, make_user("admin"))
    page = client.get(f"{BASE}/?year=2025")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2025-10-01" in html and "国庆节" in html and "2025-09-28" in html and "已录入" in html
    assert "chinese-calendar 1.11.0" in html
    assert "style=" not in html and "<script>" not in html  # the CSP allows neither
    assert "新增一天" in html and "导入一年的安排" in html
    html = client.get(f"{BASE}/?year=2027").get_data(as_text=True)
    assert "2027年节假日安排尚未录入" in html and "未录入" in html and "按周一至周五计算" in html
    assert client.get(f"{BASE}/?year=abc").status_code == 422


@pytest.mark.parametrize("role", ["coordinator", "leader"])
def test_coordinators_and_leaders_read_only(client, seeded, role):
    login(client, make_user(role))
    page = client.get(f"{BASE}/?year=2025")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "国庆节" in html
    assert "新增一天" not in html and "导入一年的安排" not in html and "删除" not in html
    assert "本页只读" in html
    assert client.get(f"{BASE}/template.xlsx").status_code == 200


@pytest.mark.parametrize("role", ["coordinator", "leader", "commissioner"])
def test_every_write_is_refused_to_non_admins(client, seeded, role):
    login(client, make_user(role))
    row = _day(date(2025, 10, 1))
    assert client.post(f"{BASE}/days", data={"day": "2025-12-27", "kind": "workday"}).status_code == 403
    assert client.post(f"{BASE}/days/{row.id}/delete").status_code == 403
    assert _upload(client, 2027, "a.csv", csv_bytes(GOOD_2027)).status_code == 403
    assert client.post(f"{BASE}/seed").status_code == 403
    assert _day(date(2025, 10, 1)) is not None and _day(date(2025, 12, 27)) is None
    assert db.session.get(HolidayYear, 2027) is None


def test_commissioners_cannot_even_read(client, seeded):
    login(client, make_user("commissioner"))
    assert client.get(f"{BASE}/").status_code == 403


def test_signed_out_visitors_go_to_login(client):
    response = client.get(f"{BASE}/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_admin_adds_and_deletes_a_day(client, seeded):
    login(client, make_user("admin"))
    response = client.post(f"{BASE}/days", data={"day": "2025-12-27", "kind": "workday", "name": "测试调休"})
    assert response.status_code == 303 and "year=2025" in response.headers["Location"]
    assert _day(date(2025, 12, 27)).kind is DayKind.WORKDAY and is_working_day(date(2025, 12, 27))
    row = _day(date(2025, 12, 27))
    response = client.post(f"{BASE}/days/{row.id}/delete")
    assert response.status_code == 303
    assert _day(date(2025, 12, 27)) is None and not is_working_day(date(2025, 12, 27))
    assert client.post(f"{BASE}/days/999999/delete").status_code == 404


@pytest.mark.parametrize(("data", "words"), [
    ({"day": "2025-12-24", "kind": "workday"}, "只能是周六或周日"),
    ({"day": "2025-10-01", "kind": "holiday"}, "已在节假日安排中"),
    ({"day": "2027-05-01", "kind": "holiday"}, "2027年节假日安排尚未录入"),
    ({"day": "not a date", "kind": "holiday"}, "请填写有效日期"),
    ({"day": "", "kind": "holiday"}, "请填写日期"),
])
def test_a_refused_day_is_explained_next_to_the_field(client, seeded, data, words):
    login(client, make_user("admin"))
    count = db.session.scalar(sa.select(sa.func.count()).select_from(SpecialDay))
    response = client.post(f"{BASE}/days", data=data)
    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpecialDay)) == count


def test_admin_imports_a_csv_year(client, seeded):
    login(client, make_user("admin"))
    response = _upload(client, 2027, "2027年安排.csv", csv_bytes(GOOD_2027), follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "已导入2027年节假日安排:放假10天,调休上班2天" in html and "国务院办公厅通知 导入" in html
    assert db.session.get(HolidayYear, 2027).source == "国务院办公厅通知 导入"
    assert not is_working_day(date(2027, 10, 1)) and is_working_day(date(2027, 10, 9))


def test_admin_imports_an_xlsx_year(client, seeded):
    login(client, make_user("admin"))
    response = _upload(client, 2027, "2027.xlsx", xlsx_bytes(GOOD_2027))
    assert response.status_code == 303
    assert _day(date(2027, 9, 26)).kind is DayKind.WORKDAY


def test_a_bad_import_shows_every_bad_row_and_writes_nothing(client, seeded):
    login(client, make_user("admin"))
    rows = [*GOOD_2027, ("2026-12-31", "放假", "元旦"), ("2027-02-10", "上班", "春节"), ("2027-10-01", "放假", "x")]
    response = _upload(client, 2027, "bad.csv", csv_bytes(rows))
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "未写入任何数据" in html
    assert "第14行:日期 2026-12-31 不在2027年内" in html
    assert "第15行:2027-02-10 是星期三" in html
    assert "第16行:日期 2027-10-01 与第6行重复" in html
    assert db.session.get(HolidayYear, 2027) is None and _day(date(2027, 10, 1)) is None


@pytest.mark.parametrize(("name", "data", "words"), [
    ("notice.txt", b"hello", "只能导入 CSV 或 XLSX"),
    ("notice.xlsx", b"not really", "不是有效的 XLSX"),
    ("notice.csv", b"a,b\n1,2\n", "表头"),
])
def test_wrong_files_are_refused_with_a_chinese_message(client, seeded, name, data, words):
    login(client, make_user("admin"))
    response = _upload(client, 2027, name, data)
    assert response.status_code == 422
    assert words in response.get_data(as_text=True)
    assert db.session.get(HolidayYear, 2027) is None


def test_missing_file_or_year(client, seeded):
    login(client, make_user("admin"))
    response = client.post(f"{BASE}/import", data={"year": "2027"}, content_type="multipart/form-data")
    assert response.status_code == 422 and "请选择要导入的文件" in response.get_data(as_text=True)
    response = _upload(client, "", "a.csv", csv_bytes(GOOD_2027))
    assert response.status_code == 422 and "请填写年份" in response.get_data(as_text=True)


def test_an_upload_over_the_limit_is_refused_on_the_page(app, client, seeded, monkeypatch):
    login(client, make_user("admin"))
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    big = csv_bytes(GOOD_2027 * 20)
    assert len(big) > 2048
    response = _upload(client, 2027, "big.csv", big)
    assert response.status_code == 303
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "上传的文件过大:不能超过 2 KB" in html
    assert db.session.get(HolidayYear, 2027) is None


def test_templates_download(client):
    login(client, make_user("admin"))
    response = client.get(f"{BASE}/template.xlsx")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).worksheets[0]
    assert [c.value for c in sheet[1]] == ["日期", "类型", "名称"]
    response = client.get(f"{BASE}/template.csv")
    assert response.status_code == 200 and response.data.decode("utf-8-sig").startswith("日期,类型,名称")
    assert client.get(f"{BASE}/template.pdf").status_code == 404


def test_admin_seeds_from_chinese_calendar(client):
    login(client, make_user("admin"))
    response = client.post(f"{BASE}/seed", follow_redirects=True)
    assert "已载入 2024年、2025年、2026年" in response.get_data(as_text=True)
    assert db.session.get(HolidayYear, 2024) is not None
    response = client.post(f"{BASE}/seed", follow_redirects=True)
    assert "已有数据未改动" in response.get_data(as_text=True)


def test_every_form_needs_its_csrf_token(app, client, seeded, monkeypatch):
    login(client, make_user("admin"))
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    row = _day(date(2025, 10, 1))
    assert client.post(f"{BASE}/days", data={"day": "2025-12-27", "kind": "workday"}).status_code == 400
    assert client.post(f"{BASE}/days/{row.id}/delete").status_code == 400
    assert _upload(client, 2027, "a.csv", csv_bytes(GOOD_2027)).status_code == 400
    assert client.post(f"{BASE}/seed").status_code == 400
    assert _day(date(2025, 10, 1)) is not None and db.session.get(HolidayYear, 2027) is None
    token = csrf_token_from(client.get(f"{BASE}/?year=2025").get_data(as_text=True))
    response = client.post(f"{BASE}/days", data={"day": "2025-12-27", "kind": "workday", "csrf_token": token})
    assert response.status_code == 303
    response = client.post(f"{BASE}/import", data={"year": "2027", "csrf_token": token,
                                                   "file": (io.BytesIO(csv_bytes(GOOD_2027)), "a.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 303
    assert client.post(f"{BASE}/days/{row.id}/delete", data={"csrf_token": token}).status_code == 303
    assert _day(date(2025, 10, 1)) is None
