"""Nothing leaks across scopes (issue 10, item 5) in the service: choosing an owner of a 诉求 or a 政策兑现, and
addressing an enterprise, a request or a delivery by id, page and API.

"Unknown" and "not yours" read the same: an owner who does not exist, one who is deactivated and one who may not
act for the enterprise (another county's coordinator, another commissioner, a leader) get the same status, the
same message on the same field — only the username the user typed differs; a record outside the user's scope
answers exactly like an id never used. Each attack is made as a county coordinator of 汇川区 and as a
commissioner.
"""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from crm.core.audit import AuditLog
from crm.extensions import db
from crm.service.models import (
    DeliveryStatus,
    PolicyDelivery,
    PolicyKind,
    RequestCategory,
    RequestStatus,
    ServiceRequest,
)
from crm.service.requests import owner_refused
from tests.api.support import bearer
from tests.conftest import assign, login, make_enterprise, make_user
from tests.enterprises.test_no_leaks import answer_of
from tests.service.test_pages import page_text

UNKNOWN = "no-such-user-77"
HIDDEN_NAME = "遵义红花岗隐秘材料有限公司"
HIDDEN_PERSON = "隐藏的红花岗协调员"


def _request(enterprise, owner=None) -> ServiceRequest:
    row = ServiceRequest(enterprise=enterprise, category=RequestCategory.PROJECT, description="申请技改资金",
                         owner=owner, raised_on=date(2026, 3, 1), due_date=date(2026, 3, 15),
                         status=RequestStatus.RAISED)
    db.session.add(row)
    return row


def _delivery(enterprise, owner=None) -> PolicyDelivery:
    row = PolicyDelivery(enterprise=enterprise, kind=PolicyKind.LAND, promised="保障用地", owner=owner,
                         promised_date=date(2026, 3, 31), status=DeliveryStatus.PROMISED)
    db.session.add(row)
    return row


@pytest.fixture
def world():
    hidden = make_enterprise(HIDDEN_NAME, county="红花岗区")
    own = make_enterprise("遵义汇川服务测试有限公司", county="汇川区")
    county = make_user("coordinator", county="汇川区")
    commissioner = make_user("commissioner", specialties=["tech"])
    stranger = make_user("commissioner", specialties=["tech"])  # another commissioner: the hidden firm's
    elsewhere = make_user("coordinator", county="红花岗区")
    elsewhere.display_name = HIDDEN_PERSON
    retired = make_user("coordinator", county="汇川区")
    retired.active = False
    assign(own, commissioner)
    assign(hidden, stranger)
    records = {"own_request": _request(own, commissioner), "own_delivery": _delivery(own, commissioner),
               "hidden_request": _request(hidden, stranger), "hidden_delivery": _delivery(hidden, stranger)}
    db.session.commit()
    return {"hidden": hidden, "own": own, "county": county, "commissioner": commissioner,
            "not_theirs": {"another county's coordinator": elsewhere.username,
                           "another commissioner": stranger.username,
                           "a leader": make_user("leader").username,
                           "a deactivated user": retired.username},
            "hidden_person": HIDDEN_PERSON, **records}


ACTORS = ["county", "commissioner"]


def sign_in(client, user) -> None:
    login(client, user)
    client.get("/", follow_redirects=True)  # takes the welcome message: the pages compared differ in nothing else


def writes() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))


def same_as_unknown(send, typed: str):
    """``send(owner)`` with ``typed`` and with an unknown username: the two answers, the username masked."""
    answers = []
    for name in (typed, UNKNOWN):
        response = send(name)
        status, body = answer_of(response)
        text = response.get_data(as_text=True) if response.mimetype == "application/json" else page_text(response)
        answers.append((status, text.replace(name, "<typed>")))
    assert answers[0] == answers[1], f"{answers[0]}\n!=\n{answers[1]}"
    return answers[0]


def assert_refused_as_unknown(world, *senders) -> None:
    """Each sender, with each owner not theirs, answers 422 with the one refusal, as for an unknown name."""
    before = writes()
    for send in senders:
        for typed in world["not_theirs"].values():
            status, text = same_as_unknown(send, typed)
            assert status == 422 and owner_refused("<typed>") in text and world["hidden_person"] not in text
    assert writes() == before


# --- owners, API -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("actor", ACTORS)
def test_a_request_owner_not_theirs_reads_as_unknown_in_the_api(client, world, actor):
    headers = bearer(world[actor])

    def send(owner):
        return client.post("/api/v1/requests", headers=headers, json={
            "enterprise_id": world["own"].id, "category": "培育项目申报", "description": "申请技改资金",
            "owner": owner})

    assert_refused_as_unknown(world, send)


@pytest.mark.parametrize("actor", ACTORS)
def test_a_delivery_owner_not_theirs_reads_as_unknown_in_the_api(client, world, actor):
    headers = bearer(world[actor])

    def create(owner):
        return client.post("/api/v1/policy-deliveries", headers=headers, json={
            "enterprise_id": world["own"].id, "kind": "用地", "promised": "保障用地", "promised_date": "2026-03-31",
            "owner": owner})

    def patch(owner):
        return client.patch(f"/api/v1/policy-deliveries/{world['own_delivery'].id}", headers=headers,
                            json={"owner": owner})

    assert_refused_as_unknown(world, create, patch)


# --- owners, pages ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("actor", ACTORS)
def test_a_request_owner_not_theirs_reads_as_unknown_on_the_page(client, world, actor):
    sign_in(client, world[actor])

    def send(owner):
        return client.post(f"/service/requests/new?enterprise_id={world['own'].id}",
                           data={"category": "培育项目申报", "description": "申请技改资金", "owner": owner})

    assert_refused_as_unknown(world, send)


@pytest.mark.parametrize("actor", ACTORS)
def test_a_delivery_owner_not_theirs_reads_as_unknown_on_the_pages(client, world, actor):
    sign_in(client, world[actor])
    delivery = world["own_delivery"]

    def create(owner):
        return client.post(f"/policy/new?enterprise_id={world['own'].id}", data={
            "kind": "用地", "promised": "保障用地", "promised_date": "2026-03-31", "owner": owner, "submit": "登记"})

    def edit(owner):
        return client.post(f"/policy/{delivery.id}", data={
            "edit-kind": "用地", "edit-promised": "保障用地", "edit-promised_date": "2026-03-31",
            "edit-owner": owner, "edit-version": str(delivery.version), "edit-submit": "保存修改"})

    assert_refused_as_unknown(world, create, edit)


# --- records by id ---------------------------------------------------------------------------------------------

def _missing(model) -> int:
    return (db.session.scalar(sa.select(sa.func.max(model.id))) or 0) + 1000


@pytest.mark.parametrize("actor", ACTORS)
def test_a_hidden_enterprise_in_a_body_or_an_address_answers_like_a_missing_one(client, world, actor):
    from crm.enterprises.models import Enterprise

    headers = bearer(world[actor])
    sign_in(client, world[actor])
    hidden, missing = world["hidden"].id, _missing(Enterprise)
    before = writes()
    attempts = [
        lambda ident: client.post("/api/v1/requests", headers=headers, json={
            "enterprise_id": ident, "category": "培育项目申报", "description": "申请技改资金"}),
        lambda ident: client.post("/api/v1/policy-deliveries", headers=headers, json={
            "enterprise_id": ident, "kind": "用地", "promised": "保障用地", "promised_date": "2026-03-31"}),
        lambda ident: client.get(f"/api/v1/requests?enterprise_id={ident}", headers=headers),
        lambda ident: client.get(f"/service/requests/new?enterprise_id={ident}"),
        lambda ident: client.post(f"/service/requests/new?enterprise_id={ident}",
                                  data={"category": "培育项目申报", "description": "申请技改资金"}),
        lambda ident: client.get(f"/policy/new?enterprise_id={ident}"),
        lambda ident: client.post(f"/policy/new?enterprise_id={ident}", data={
            "kind": "用地", "promised": "保障用地", "promised_date": "2026-03-31", "submit": "登记"}),
        lambda ident: client.get(f"/service/interactions/new?enterprise_id={ident}"),
    ]
    for send in attempts:
        first, second = send(hidden), send(missing)
        assert answer_of(first) == answer_of(second)
        assert first.status_code in (200, 404)  # 200: a list filtered to nothing
        assert HIDDEN_NAME not in first.get_data(as_text=True)
    assert writes() == before


@pytest.mark.parametrize("actor", ACTORS)
def test_a_hidden_request_or_delivery_answers_like_a_missing_one(client, world, actor):
    headers = bearer(world[actor])
    sign_in(client, world[actor])
    before = writes()
    cases = [
        (world["hidden_request"].id, _missing(ServiceRequest), [
            lambda i: client.get(f"/api/v1/requests/{i}", headers=headers),
            lambda i: client.post(f"/api/v1/requests/{i}/transition", headers=headers, json={"to": "accepted"}),
            lambda i: client.post(f"/api/v1/requests/{i}/transition", headers=headers, json={}),  # 404 first
            lambda i: client.get(f"/service/requests/{i}"),
            lambda i: client.post(f"/service/requests/{i}/transition", data={"to": "accepted", "version": "1"}),
        ]),
        (world["hidden_delivery"].id, _missing(PolicyDelivery), [
            lambda i: client.get(f"/api/v1/policy-deliveries/{i}", headers=headers),
            lambda i: client.patch(f"/api/v1/policy-deliveries/{i}", headers=headers, json={"promised": "改"}),
            lambda i: client.get(f"/policy/{i}"),
            lambda i: client.post(f"/policy/{i}", data={"edit-promised": "改", "edit-submit": "保存修改"}),
        ]),
    ]
    for hidden, missing, attempts in cases:
        for send in attempts:
            first, second = send(hidden), send(missing)
            assert answer_of(first) == answer_of(second)
            assert first.status_code == 404
            assert HIDDEN_NAME not in first.get_data(as_text=True)
    assert writes() == before
    assert db.session.get(ServiceRequest, world["hidden_request"].id).status is RequestStatus.RAISED
