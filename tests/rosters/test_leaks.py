"""Attack tests (issue 10, item 5): import reports and the rows of a list import leak nothing across scopes.

- A report (``/rosters/imports/<id>`` and its ``.json``) is read by its author, city-wide coordinators and
  admins; anyone else — a county coordinator of the same county who did not upload it, a leader, a
  commissioner — gets exactly what a missing report gets, and the edition page does not list it for them.
- A row of an import never names or confirms an enterprise the importer may not see: a county coordinator's
  row with another county's 统一社会信用代码 (with a mismatching name and county beside it, which would
  otherwise be cross-checked against the record) reads exactly like a code nobody registered — page and API.
"""

from __future__ import annotations

import io

import openpyxl
import sqlalchemy as sa

from crm.enterprises.models import EnterpriseStatus
from crm.extensions import db
from crm.rosters import domain
from crm.rosters.models import ImportStatus, RosterEntry, RosterImport, RosterKind
from tests.conftest import api_token, login, make_enterprise, make_uscc, make_user
from tests.rosters.test_views import (
    _sqlite_outer_transaction,  # noqa: F401  (autouse: views commit)
    page_text,
    upload,
    url,
    xlsx_file,
)

SUPPLIER = RosterKind.SUPPLIER_LIST
SECRET_FILE = "红花岗区-机密名单.xlsx"


def unknown_within_reach(code: str) -> str:
    return (f"在您可查看的企业档案中没有统一社会信用代码为 {code} 的企业:请核对代码;"
            "不在您负责范围内的企业请由市级协调员导入")


def sign_in_as(client, user) -> None:
    client.post("/logout")
    login(client, user)


def report_by(author, draft) -> RosterImport:
    record = RosterImport(edition_id=draft.id, user_id=author.id, filename=SECRET_FILE, status=ImportStatus.FAILED,
                          rows_total=1, rows_checked=1,
                          report=[{"row": 3, "field": "统一社会信用代码", "message": "红花岗区某公司的问题"}])
    db.session.add(record)
    db.session.commit()
    return record


def answers(client, import_id: int) -> tuple:
    page = client.get(f"/rosters/imports/{import_id}")
    poll = client.get(f"/rosters/imports/{import_id}.json")
    return page.status_code, poll.status_code, poll.get_json()


def test_a_report_is_read_by_its_author_city_coordinators_and_admins_only(client):
    author = make_user("coordinator", county="红花岗区")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    record = report_by(author, draft)
    missing = record.id + 1000

    for reader in (author, make_user("coordinator"), make_user("admin")):
        db.session.commit()
        sign_in_as(client, reader)
        page, poll, body = answers(client, record.id)
        assert (page, poll, body["status"]) == (200, 200, "failed"), reader.username
        assert SECRET_FILE in client.get(f"/rosters/imports/{record.id}").get_data(as_text=True)
        assert f"/rosters/imports/{record.id}" in client.get(url(SUPPLIER, "2026H1")).get_data(as_text=True)

    strangers = (make_user("coordinator", county="红花岗区"), make_user("coordinator", county="汇川区"),
                 make_user("leader"), make_user("commissioner", specialties=["tech"]))
    for stranger in strangers:
        db.session.commit()
        sign_in_as(client, stranger)
        assert answers(client, record.id) == answers(client, missing), stranger.username
        page = client.get(f"/rosters/imports/{record.id}")
        assert page.status_code == 404 and SECRET_FILE not in page.get_data(as_text=True)
        edition = client.get(url(SUPPLIER, "2026H1")).get_data(as_text=True)
        assert f"/rosters/imports/{record.id}" not in edition and SECRET_FILE not in edition


def test_the_edition_page_lists_a_county_coordinator_only_their_own_reports(client):
    mine, other = make_user("coordinator", county="汇川区"), make_user("coordinator", county="汇川区")
    draft = domain.open_edition(None, SUPPLIER, "2026H1")
    own, theirs = report_by(mine, draft), report_by(other, draft)
    sign_in_as(client, mine)
    body = client.get(url(SUPPLIER, "2026H1")).get_data(as_text=True)
    assert f"/rosters/imports/{own.id}" in body and f"/rosters/imports/{theirs.id}" not in body


def _hidden_firms():
    """Another county's enterprises: one active, one moved out (its status must not show either)."""
    theirs = make_enterprise("红花岗保密零部件有限公司", county="红花岗区")
    gone = make_enterprise("红花岗已迁出材料有限公司", county="红花岗区")
    gone.status = EnterpriseStatus.MOVED_OUT
    return theirs, gone


def test_import_rows_on_the_page_never_name_another_countys_enterprise(client):
    importer = make_user("coordinator", county="汇川区")
    theirs, gone = _hidden_firms()
    nobody = make_uscc(765432)
    domain.open_edition(None, SUPPLIER, "2026H1")
    db.session.commit()
    sign_in_as(client, importer)
    data = xlsx_file([
        {"统一社会信用代码": theirs.uscc, "企业名称": "随便写的名字", "区县": "汇川区", "入库理由": "配套"},
        {"统一社会信用代码": gone.uscc, "企业名称": gone.name, "区县": "红花岗区", "入库理由": "配套"},
        {"统一社会信用代码": nobody, "企业名称": "随便写的名字", "区县": "汇川区", "入库理由": "配套"},
    ])
    response = upload(client, SUPPLIER, "2026H1", data)
    assert response.status_code == 200
    record = db.session.scalar(sa.select(RosterImport).order_by(RosterImport.id.desc()))
    db.session.refresh(record)
    assert record.status is ImportStatus.FAILED
    # one problem per row, the same words for the other county's firms as for a code nobody registered
    assert [(p["row"], p["field"], p["message"]) for p in record.report] == [
        (3, "统一社会信用代码", unknown_within_reach(theirs.uscc)),
        (4, "统一社会信用代码", unknown_within_reach(gone.uscc)),
        (5, "统一社会信用代码", unknown_within_reach(nobody)),
    ]
    text = page_text(client.get(f"/rosters/imports/{record.id}"))
    for leaked in (theirs.name, gone.name[:4] + "已迁出材料", "已迁出", "不一致"):
        assert leaked not in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry)) == 0


def _workbook(rows: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["序号", "企业名称", "统一社会信用代码", "区县", "入库理由"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_import_rows_through_the_api_never_name_another_countys_enterprise(client):
    headers = api_token(make_user("coordinator", county="汇川区"))
    theirs, gone = _hidden_firms()
    nobody = make_uscc(765433)
    domain.open_edition(None, SUPPLIER, "2026H1")
    data = _workbook([[1, "随便写的名字", theirs.uscc, "汇川区", "配套"],
                      [2, gone.name, gone.uscc, "红花岗区", "配套"],
                      [3, "随便写的名字", nobody, "汇川区", "配套"]])
    response = client.post("/api/v1/rosters/supplier_list/editions/2026H1/import",
                           data={"file": (io.BytesIO(data), "名单.xlsx")}, headers=headers,
                           content_type="multipart/form-data")
    assert response.status_code == 422, response.get_data(as_text=True)
    rows = response.get_json()["error"]["rows"]
    assert rows == [{"row": 2, "field": "统一社会信用代码", "message": unknown_within_reach(theirs.uscc)},
                    {"row": 3, "field": "统一社会信用代码", "message": unknown_within_reach(gone.uscc)},
                    {"row": 4, "field": "统一社会信用代码", "message": unknown_within_reach(nobody)}]
    body = response.get_data(as_text=True)
    assert theirs.name not in body and "红花岗已迁出" not in body and "不一致" not in body


def test_a_city_coordinator_still_gets_the_cross_checks(client):
    """Within what the importer may see, the name and county are still checked against the registry."""
    headers = api_token(make_user("coordinator"))
    firm = make_enterprise("红花岗核对零部件有限公司", county="红花岗区")
    domain.open_edition(None, SUPPLIER, "2026H1")
    data = _workbook([[1, "别的名字有限公司", firm.uscc, "红花岗区", "配套"]])
    response = client.post("/api/v1/rosters/supplier_list/editions/2026H1/import",
                           data={"file": (io.BytesIO(data), "名单.xlsx")}, headers=headers,
                           content_type="multipart/form-data")
    assert response.status_code == 422
    [row] = response.get_json()["error"]["rows"]
    assert row["message"] == f"企业名称“别的名字有限公司”与该统一社会信用代码登记的“{firm.name}”不一致"
