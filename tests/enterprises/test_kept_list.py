"""The enterprise list kept per process (crm.core.pagination.paginate's ``kept``; the eighth provincial-scale pass):
the page's rows and count, its drawn rows (the page) and its JSON items (``GET /api/v1/enterprises``) are kept under
the data versions of ``crm.enterprises.domain.LIST_KINDS``.

With real commits on a database of the module's own: a second view while nothing changed sends fewer statements
(PostgreSQL) and is the same answer; every committed change of what a row shows or the list is filtered and sorted
by — an enterprise's scale and edit time (migration e8b3f1c6a2d4's kind ``enterprises``), a contact (the API's
rows), a supply category's name, a commissioner's assignment — shows at the next view, which equals the answer
computed with nothing kept; two users of different scope are never served each other's list. On SQLite nothing is
kept and the answers are the same."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from crm.core import cache
from crm.enterprises.models import Enterprise, EnterpriseContact
from crm.extensions import db
from crm.reference.models import SupplyCategory
from tests.conftest import api_token, assign, counting_queries, in_both_orders, login, make_enterprise, make_user

CSRF = re.compile(r'(name="csrf_token"[^>]*value=|content=)"[^"]*"')


def _get(client, path: str, headers: dict[str, str] | None = None) -> tuple[str, int]:
    db.session.commit()  # a new transaction: what was committed since
    with counting_queries() as queries:
        response = client.get(path, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    text = response.get_data(as_text=True)
    return (CSRF.sub(r'\1""', text) if headers is None else text), queries.count


def _fresh(client, path: str, headers: dict[str, str] | None = None) -> str:
    db.session.commit()
    cache.clear()
    return _get(client, path, headers)[0]


def _kept(client, path: str, headers: dict[str, str] | None = None) -> str:
    """The answer drawn, then served kept (fewer statements on PostgreSQL) and the same."""
    first, cold = _get(client, path, headers)
    again, warm = _get(client, path, headers)
    assert again == first
    assert warm < cold if cache.enabled() else warm == cold, (path, cold, warm)
    return first


def _clients(app, *users) -> dict[int, object]:
    """A signed-in page client per user (by id), each past its first view (the welcome)."""
    clients = {}
    for user in users:
        clients[user.id] = app.test_client()
        login(clients[user.id], user)
        clients[user.id].get("/enterprises/")
    return clients


def _names(api_text: str) -> list[str]:
    return [item["name"] for item in json.loads(api_text)["items"]]


def test_the_list_follows_every_edit_of_what_it_shows_or_sorts_by(committed):
    a, b = make_enterprise("缓存列表甲一有限公司"), make_enterprise("缓存列表甲二有限公司")
    admin = make_user("admin")
    headers = api_token(admin)
    db.session.commit()
    client = committed.test_client()
    login(client, admin)
    page, api = "/enterprises/?q=缓存列表甲&sort=-updated", "/api/v1/enterprises?q=缓存列表甲&sort=-updated"
    client.get(page)  # the welcome shown
    client.get(api, headers=headers)  # the token's first use noted
    cache.clear()
    first = _kept(client, page)
    assert first.count("规上</span>") == 2
    listed = _names(_kept(client, api, headers))
    assert set(listed) == {a.name, b.name}

    # the scale of a (not a name: only the kind ``enterprises`` follows it)
    db.session.execute(sa.update(Enterprise).where(Enterprise.id == a.id).values(above_scale=False))
    db.session.commit()
    html = _get(client, page)[0]
    assert html.count("规上</span>") == 1 and html.count("规下</span>") == 1
    assert html == _fresh(client, page)
    items = {i["name"]: i for i in json.loads(_get(client, api, headers)[0])["items"]}
    assert items[a.name]["above_scale"] is False
    assert _get(client, api, headers)[0] == _fresh(client, api, headers)

    # an edit of the one edited longer ago puts it first (sort=-updated)
    older = listed[-1]
    db.session.execute(sa.update(Enterprise).where(Enterprise.name == older)
                       .values(main_products="改过的产品", updated_at=datetime.now(UTC) + timedelta(hours=1)))
    db.session.commit()
    assert _names(_get(client, api, headers)[0])[0] == older
    html = _get(client, page)[0]
    assert html.index(older) < html.index(next(n for n in listed if n != older))

    # a contact of b (the API's rows carry the contacts)
    db.session.add(EnterpriseContact(enterprise_id=b.id, name="缓存联系人", post="经理", phone="13800000000"))
    db.session.commit()
    items = {i["name"]: i for i in json.loads(_get(client, api, headers)[0])["items"]}
    assert [c["name"] for c in items[b.name]["contacts"]] == ["缓存联系人"]
    assert _get(client, api, headers)[0] == _fresh(client, api, headers)


def test_the_list_follows_a_category_renamed(committed):
    make_enterprise("缓存列表乙一有限公司")
    admin = make_user("admin")
    db.session.commit()
    client = committed.test_client()
    login(client, admin)
    page = "/enterprises/?q=缓存列表乙"
    client.get(page)
    cache.clear()
    assert "关键零部件" in _kept(client, page)
    try:
        db.session.execute(sa.update(SupplyCategory).where(SupplyCategory.name == "关键零部件")
                           .values(name="关键零部件(改)"))
        db.session.commit()
        html = _get(client, page)[0]
        assert "关键零部件(改)" in html
        assert html == _fresh(client, page)
    finally:
        db.session.execute(sa.update(SupplyCategory).where(SupplyCategory.name == "关键零部件(改)")
                           .values(name="关键零部件"))
        db.session.commit()


def test_each_commissioner_is_served_their_own_list(committed):
    firm = make_enterprise("缓存列表丙一有限公司")
    one, two = (make_user("commissioner", specialties=["tech"]) for _ in range(2))
    assign(firm, one)
    db.session.commit()
    clients = _clients(committed, one, two)
    tokens = {user.id: api_token(user) for user in (one, two)}
    db.session.commit()
    for user in in_both_orders(one, two):
        assert (firm.name in _get(clients[user.id], "/enterprises/")[0]) is (user is one)
        assert (firm.name in _names(_get(clients[user.id], "/api/v1/enterprises", tokens[user.id])[0])) is (user is one)
    assign(firm, two, "finance")  # now theirs too
    db.session.commit()
    assert firm.name in _get(clients[two.id], "/enterprises/")[0]
    assert firm.name in _names(_get(clients[two.id], "/api/v1/enterprises", tokens[two.id])[0])


def _filters(html: str) -> str:
    """The page's filter form (crm/enterprises/views.py index: kept drawn)."""
    return html[html.index('<form method="get"'):html.index("</form>", html.index('<form method="get"'))]


def test_the_filters_are_kept_per_scope_and_values_and_follow_their_names(committed):
    """The drawn filters (templates/enterprises/_filters.html) and the names they offer (forms._filter_names) are
    kept: a county coordinator is never served the city's county choices nor the reverse, a value asked for is
    the one shown selected, and a renamed cluster shows at the next view."""
    make_enterprise("缓存筛选甲一有限公司")
    admin, county = make_user("admin"), make_user("coordinator", county="红花岗区")
    db.session.commit()
    clients = _clients(committed, admin, county)
    for user in in_both_orders(admin, county):
        form = _filters(_get(clients[user.id], "/enterprises/?q=缓存筛选&cluster=装备制造")[0])
        assert ("汇川区</option>" in form) is (user is admin)
        assert "红花岗区</option>" in form
        assert '<option selected value="装备制造">' in form
        assert 'value="缓存筛选"' in form
    # another value asked for: drawn for it, not served the other's
    other = _filters(_get(clients[admin.id], "/enterprises/?q=缓存筛选乙")[0])
    assert 'value="缓存筛选乙"' in other and 'selected value="装备制造"' not in other
    # served kept: the same form, with no statement for the names on PostgreSQL
    path = "/enterprises/?q=缓存筛选甲"
    _get(clients[admin.id], path)
    with counting_queries() as queries:
        again = clients[admin.id].get(path).get_data(as_text=True)
    if cache.enabled():
        assert not any("UNION ALL" in s for s in queries.statements)
    assert _filters(again) == _filters(_fresh(clients[admin.id], path))
    try:
        db.session.execute(sa.text("UPDATE clusters SET name = '装备制造(改)' WHERE name = '装备制造'"))
        db.session.commit()
        form = _filters(_get(clients[admin.id], path)[0])
        assert "装备制造(改)</option>" in form
        assert form == _filters(_fresh(clients[admin.id], path))
    finally:
        db.session.execute(sa.text("UPDATE clusters SET name = '装备制造' WHERE name = '装备制造(改)'"))
        db.session.commit()


def test_a_kept_api_page_is_the_same_json_as_one_drawn_afresh(committed):
    """The API's kept items are kept encoded and put into the envelope as text (crm.api.common._with_items): the
    answer is the JSON of API.md's envelope, the same document as the page's dict encoded whole."""
    from crm.api.common import _with_items

    envelope = {"total": 2, "page": 1, "per_page": 50}
    items = [{"id": 1, "name": "甲\"引号\\", "contacts": []}, {"id": 2, "name": "乙", "above_scale": None}]
    response = _with_items(dict(envelope), committed.json.dumps(items))
    assert response.mimetype == "application/json"
    assert json.loads(response.get_data(as_text=True)) == {**envelope, "items": items}
    assert json.loads(_with_items(dict(envelope), committed.json.dumps([])).get_data(as_text=True))["items"] == []

    make_enterprise("缓存接口甲一有限公司")
    admin = make_user("admin")
    headers = api_token(admin)
    db.session.commit()
    client = committed.test_client()
    client.get("/api/v1/enterprises?q=缓存接口甲", headers=headers)
    kept = client.get("/api/v1/enterprises?q=缓存接口甲", headers=headers)
    assert kept.status_code == 200 and kept.mimetype == "application/json"
    body = kept.get_json()
    assert set(body) == {"items", "total", "page", "per_page"}
    assert (body["total"], body["page"], body["per_page"]) == (1, 1, 50)
    assert [item["name"] for item in body["items"]] == ["缓存接口甲一有限公司"]


def test_a_kept_list_sends_only_the_statement_that_finds_the_session_or_token(committed):
    """The list's rows, count, names and drawing kept, the unread badge and the data versions read with the session
    (crm.auth.domain.session_figure): on PostgreSQL a kept view of the page or the API sends one statement."""
    make_enterprise("缓存语句甲一有限公司")
    admin = make_user("admin")
    headers = api_token(admin)
    db.session.commit()
    client = committed.test_client()
    login(client, admin)
    for path, auth, found_by in (("/enterprises/?q=缓存语句", None, "FROM user_sessions"),
                                 ("/api/v1/enterprises?q=缓存语句", headers, "FROM api_tokens")):
        _get(client, path, auth)
        db.session.commit()
        with counting_queries() as queries:
            assert client.get(path, headers=auth or {}).status_code == 200
        if cache.enabled():
            assert len(queries.statements) == 1 and found_by in queries.statements[0], queries.statements
        else:  # SQLite: nothing kept, the list read
            assert len(queries.statements) > 1
