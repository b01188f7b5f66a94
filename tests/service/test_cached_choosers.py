"""The service pages' user choosers kept per process under the data version ``reference`` (and the ledger's
owners under ``requests`` and ``assignments`` too; crm/core/cache.py, migration b4e1d7a9c3f2): the coverage
matrix's bulk commissioner chooser, the workspace's commissioner chooser, the ledger's owner filter.

With real commits on a database of the module's own: a second view sends fewer statements (on PostgreSQL); every
committed change of what a chooser shows — a new commissioner, a name, a role, leaving, a county, a specialty, a new
owner — shows at the next view, which equals the page drawn with nothing kept; a county coordinator never gets the
city's chooser. On SQLite nothing is kept and the pages are the same."""

from __future__ import annotations

import re

import sqlalchemy as sa

from crm.auth.models import UserSpecialty
from crm.core import cache
from crm.extensions import db
from crm.reference.models import County, Department
from crm.rosters.models import RosterKind
from crm.service.views import options_html, with_selected
from tests.conftest import assign, counting_queries, login, make_enterprise, make_user
from tests.service.test_cached_counts import _listed, _raise, coordinator_beside_one_firm

COVERAGE, WORKSPACE, LEDGER = "/assignments/?county=汇川区", "/service/", "/service/requests/"
CSRF = re.compile(r'(name="csrf_token"[^>]*value=")[^"]*"')


def test_kept_options_marked_per_view_are_the_options_drawn_for_that_choice():
    choices = [("", "全部"), ("a", "甲"), ("b&c", "乙 <丙>"), ('d"e', "丁")]
    for selected in (None, "", "a", "b&c", 'd"e', "missing", 5, "<option"):
        assert with_selected(options_html(choices, None), selected) == options_html(choices, selected), selected


def _page(client, path: str) -> tuple[str, int]:
    db.session.commit()  # the test's own transaction sees what the page committed, and the page what the test did
    with counting_queries() as queries:
        response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return CSRF.sub(r'\1"', response.get_data(as_text=True)), queries.count


def _chooser(html: str, path: str) -> str:
    """The part of the page the chooser is: its ``<select>``."""
    name = {COVERAGE: 'data-bulk-commissioner', WORKSPACE: 'name="commissioner"', LEDGER: 'name="owner"'}[path]
    start = html.index(name)
    return html[html.rindex("<select", 0, start):html.index("</select>", start)]


def _fresh(client, path: str) -> str:
    db.session.commit()
    cache.clear()
    return _page(client, path)[0]


def test_each_chooser_is_kept_and_follows_every_change_it_shows(committed):
    client, firm = coordinator_beside_one_firm(committed)
    for path in (COVERAGE, WORKSPACE, LEDGER):
        client.get(path)  # the navigation and the statements built once per process
    cache.clear()

    for path in (COVERAGE, WORKSPACE, LEDGER):
        first, cold = _page(client, path)
        again, warm = _page(client, path)
        assert again == first
        # the chooser's statement (and the page's kept count) served: fewer statements; on SQLite the same
        assert warm < cold if cache.enabled() else warm == cold, (path, cold, warm)

    def shows(write, path: str, present: str | None = None, absent: str | None = None) -> None:
        _page(client, path)  # kept before the change
        write()
        db.session.commit()
        chooser = _chooser(_page(client, path)[0], path)
        if present is not None:
            assert present in chooser, (path, present)
        if absent is not None:
            assert absent not in chooser, (path, absent)
        assert chooser == _chooser(_fresh(client, path), path)

    newcomer = None

    def add_commissioner():
        nonlocal newcomer
        newcomer = make_user("commissioner", username="newcomer1", specialties=["legal"])

    for path in (COVERAGE, WORKSPACE):
        shows(lambda: None, path, absent="newcomer1")
    add_commissioner()
    db.session.commit()
    for path in (COVERAGE, WORKSPACE):
        shows(lambda: None, path, present="(newcomer1)")  # a new commissioner (insert)
    shows(lambda: setattr(newcomer, "display_name", "改名专员"), COVERAGE, present="改名专员(newcomer1)")
    shows(lambda: None, WORKSPACE, present="改名专员(newcomer1)")
    shows(lambda: db.session.add(UserSpecialty(user_id=newcomer.id, specialty="media")), COVERAGE,
          present='data-specialties="legal media" value="newcomer1"')  # a specialty (user_specialties)
    tongzi = db.session.scalar(sa.select(County.id).where(County.name == "桐梓县"))
    shows(lambda: setattr(newcomer, "county_id", tongzi), COVERAGE, present="· 桐梓县</option>")  # a county
    shows(lambda: None, WORKSPACE, present="改名专员(newcomer1) · 桐梓县")
    shows(lambda: setattr(newcomer, "active", False), COVERAGE, absent="newcomer1")  # leaving
    shows(lambda: None, WORKSPACE, absent="newcomer1")
    newcomer.active = True
    db.session.commit()
    shows(lambda: setattr(newcomer, "role", "coordinator"), WORKSPACE, absent="newcomer1")  # another role
    shows(lambda: None, COVERAGE, absent="newcomer1")

    # the ledger's owners: whoever owns a request the user may see (a new request), by their name
    shows(lambda: None, LEDGER, absent="owner9")
    owner = make_user("commissioner", username="owner9", specialties=["tech"])
    shows(lambda: _raise(firm, owner), LEDGER, present="(owner9)")
    shows(lambda: setattr(owner, "display_name", "新负责人"), LEDGER, present="新负责人(owner9)")


def test_a_county_coordinator_never_gets_the_citys_chooser(committed):
    firm = make_enterprise(county="汇川区")
    _listed(RosterKind.SUPPLIER_LIST, [firm])
    here = make_user("commissioner", username="here1", county="汇川区", specialties=["tech"])
    away = make_user("commissioner", username="away1", county="桐梓县", specialties=["tech"])
    assign(firm, here)
    city, county = make_user("coordinator"), make_user("coordinator", county="汇川区")
    db.session.commit()
    city_client, county_client = committed.test_client(), committed.test_client()
    login(city_client, city)
    login(county_client, county)
    for _ in range(2):  # interleaved, each kept: each sees their own
        for path in (COVERAGE, WORKSPACE):
            city_html, county_html = _page(city_client, path)[0], _page(county_client, path)[0]
            assert "(away1)" in _chooser(city_html, path) and "(here1)" in _chooser(city_html, path)
            assert "(away1)" not in _chooser(county_html, path) and "(here1)" in _chooser(county_html, path)
    assert away.id


def test_the_ledgers_rows_name_their_owner_department_and_county_as_they_are_now(committed):
    """The ledger's rows take these names from the names kept per process (``reference``), not from joins: a
    renamed owner, department or county shows at the next view, which equals the page drawn with nothing kept."""
    client, firm = coordinator_beside_one_firm(committed)
    owner = make_user("commissioner", username="owner8", specialties=["tech"])
    department = db.session.scalar(sa.select(Department).where(Department.name == "市自然资源局"))
    _raise(firm, owner, department=department)
    db.session.commit()
    client.get(LEDGER)  # the sign-in's welcome shown

    def row() -> str:
        html = _page(client, LEDGER)[0]
        rows = re.findall(r'<tr data-request="\d+".*?</tr>', html, re.S)
        found = [r for r in rows if department.name in r]
        assert len(found) == 1, rows
        assert html == _fresh(client, LEDGER)
        return found[0]

    assert owner.display_name in row() and "市自然资源局" in row() and "汇川区" in row()
    for write, shown in ((lambda: setattr(owner, "display_name", "改名负责人"), "改名负责人"),
                         (lambda: setattr(department, "name", "市自然资源和规划局"), "市自然资源和规划局"),
                         (lambda: db.session.execute(sa.update(County).where(County.name == "汇川区")
                                                     .values(name="汇川新区")), "汇川新区")):
        row()  # kept before the change
        write()
        db.session.commit()
        assert shown in row()
    db.session.execute(sa.update(County).where(County.name == "汇川新区").values(name="汇川区"))
    department.name = "市自然资源局"
    db.session.commit()
