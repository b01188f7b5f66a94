"""``flask holidays seed`` and ``flask holidays import YEAR FILE``."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.holidays.cli import holidays_cli
from crm.holidays.models import HolidayYear, SpecialDay
from crm.holidays.workdays import is_working_day
from tests.conftest import make_user
from tests.holidays.support import GOOD_2027, csv_bytes, xlsx_bytes


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_seed_loads_2024_to_2026_once(runner):
    result = runner.invoke(holidays_cli, ["seed"])
    assert result.exit_code == 0, result.output
    assert "2024年:已载入" in result.output and "2026年:已载入" in result.output
    assert {y for y in db.session.scalars(sa.select(HolidayYear.year))} >= {2024, 2025, 2026}
    count = db.session.scalar(sa.select(sa.func.count()).select_from(SpecialDay))
    result = runner.invoke(holidays_cli, ["seed"])
    assert result.exit_code == 0 and "已有数据,未改动" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SpecialDay)) == count


def test_seed_says_which_years_it_cannot_provide(runner):
    result = runner.invoke(holidays_cli, ["seed", "--year", "2026", "--year", "2027"])
    assert result.exit_code == 0
    assert "2027年:chinese-calendar 没有该年数据" in result.output
    assert db.session.get(HolidayYear, 2027) is None


def test_import_a_year_from_a_file(runner, tmp_path):
    admin = make_user("admin", username="holiday.admin")
    path = tmp_path / "2027.xlsx"
    path.write_bytes(xlsx_bytes(GOOD_2027))
    result = runner.invoke(holidays_cli, ["import", "2027", str(path), "--user", "holiday.admin"])
    assert result.exit_code == 0, result.output
    assert "已导入2027年节假日安排:放假10天,调休上班2天" in result.output
    assert not is_working_day(date(2027, 10, 1))
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.entity_type == "holiday_year"))
    assert audit.actor_id == admin.id


def test_a_bad_file_writes_nothing_and_lists_rows(runner, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(csv_bytes([*GOOD_2027, ("2027-03-03", "上班", "x")]))
    result = runner.invoke(holidays_cli, ["import", "2027", str(path)])
    assert result.exit_code == 1
    assert "第14行:2027-03-03 是星期三" in result.output
    assert db.session.get(HolidayYear, 2027) is None
    path = tmp_path / "notice.pdf"
    path.write_bytes(b"%PDF")
    result = runner.invoke(holidays_cli, ["import", "2027", str(path)])
    assert result.exit_code == 1 and "只能导入 CSV 或 XLSX" in result.output
    result = runner.invoke(holidays_cli, ["import", "1900", str(path)])
    assert result.exit_code == 1 and "年份应为2000到2100之间的整数" in result.output
