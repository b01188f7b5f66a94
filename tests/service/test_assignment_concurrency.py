"""The assignment cap under concurrent assigns (issue 10, item 8): real concurrent connections, one database of
their own (PITFALLS: tests), every worker started at once behind a barrier.

``assign`` locks the commissioner's user row before it counts (``crm.service.assignments``); without that lock
every worker counts the same committed load, all of them pass the cap and the commissioner ends up over it. The
count is slowed down (``active_count`` sleeps after reading) so the workers really overlap: on PostgreSQL they
queue on the row lock, on SQLite on the write lock every transaction takes at its BEGIN — the outcome must be
the same on both: exactly the cap, the others refused with the cap message, nothing else written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.auth.domain import issue_token
from crm.auth.models import User
from crm.core.audit import AuditLog
from crm.core.errors import ValidationFailed
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import assignments as domain
from crm.service.models import Assignment
from tests.conftest import BACKEND, make_enterprise, make_user, own_database
from tests.service.test_concurrency import run_together

CAP = 2
WORKERS = 6
COUNT_SECONDS = 0.3


@pytest.fixture
def capped_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    overrides: dict[str, Any] = {"ASSIGNMENT_CAP": CAP}
    if BACKEND == "sqlite":  # a writer waits this long for the write lock before "database is locked"
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "connect_args": {"timeout": 60}}
    with own_database(tmp_path_factory, "capconc", **overrides) as application:
        yield application


@pytest.fixture
def world(capped_app: Flask) -> dict[str, Any]:
    """A city coordinator, one commissioner (科技) with nothing assigned, six enterprises."""
    with capped_app.app_context():
        coordinator = make_user("coordinator")
        commissioner = make_user("commissioner", specialties=["tech"])
        firms = [make_enterprise(county="汇川区") for _ in range(WORKERS)]
        db.session.commit()
        ids = {"coordinator": coordinator.id, "commissioner": commissioner.id, "enterprises": [f.id for f in firms],
               "username": commissioner.username}
        db.session.remove()
    return ids


@pytest.fixture
def slow_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each worker holds its transaction open a moment after counting, so the workers overlap."""
    real = domain.active_count

    def active_count(user: User) -> int:
        found = real(user)
        time.sleep(COUNT_SECONDS)
        return found

    monkeypatch.setattr(domain, "active_count", active_count)


def held(app: Flask, commissioner_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(
            Assignment.commissioner_id == commissioner_id, Assignment.ended_on.is_(None)))


def cap_message(world: dict[str, Any]) -> str:
    return f"{world['username']}({world['username']})已服务{CAP}家企业,达到上限{CAP}家"


def test_concurrent_assigns_never_exceed_the_cap(capped_app, world, slow_count):
    def assign_to(enterprise_id: int):
        def worker() -> int:
            actor = db.session.get(User, world["coordinator"])
            enterprise = db.session.get(Enterprise, enterprise_id)
            commissioner = db.session.get(User, world["commissioner"])
            row = domain.assign(actor, enterprise, "tech", commissioner)
            db.session.commit()
            return row.id
        return worker

    results = run_together(capped_app, *(assign_to(i) for i in world["enterprises"]))
    done = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert len(done) == CAP, results
    assert len(refused) == WORKERS - CAP
    for err in refused:
        assert isinstance(err, ValidationFailed), repr(err)
        assert err.fields == {"commissioner": cap_message(world)}
    assert held(capped_app, world["commissioner"]) == CAP
    with capped_app.app_context():  # one audit row per assignment made, none for the refused
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.entity_type == "assignment")) == CAP


def test_concurrent_bulk_assigns_never_exceed_the_cap(capped_app, world, slow_count):
    """Bulk assign (the page's and the API's) goes through the same ``assign``: three bulks of two at once."""
    pairs = [world["enterprises"][i:i + 2] for i in range(0, WORKERS, 2)]

    def bulk(ids: list[int]):
        def worker() -> tuple[int, list[str]]:
            actor = db.session.get(User, world["coordinator"])
            commissioner = db.session.get(User, world["commissioner"])
            firms = [db.session.get(Enterprise, i) for i in ids]
            result = domain.bulk_assign(actor, firms, "tech", commissioner)
            db.session.commit()
            return len(result.done), [item.message for item in result.not_done]
        return worker

    results = run_together(capped_app, *(bulk(ids) for ids in pairs))
    assert all(isinstance(r, tuple) for r in results), results
    assert sum(done for done, _ in results) == CAP
    messages = [message for _, refused in results for message in refused]
    assert messages == [cap_message(world)] * (WORKERS - CAP)
    assert held(capped_app, world["commissioner"]) == CAP


def test_concurrent_api_assigns_never_exceed_the_cap(capped_app, world, slow_count):
    """Through ``PUT /api/v1/enterprises/<id>/assignments/tech``, six clients at once: 200 for the cap, 422 for
    the rest. (On SQLite the token check's write serialises them before the domain call; the answer is the
    same.)"""
    with capped_app.app_context():
        users = [make_user("coordinator") for _ in range(WORKERS)]
        tokens = [issue_token(user)[0] for user in users]
        db.session.commit()

    def put(token: str, enterprise_id: int):
        def worker() -> tuple[int, Any]:
            response = capped_app.test_client().put(
                f"/api/v1/enterprises/{enterprise_id}/assignments/tech", json={"commissioner": world["username"]},
                headers={"Authorization": f"Bearer {token}"})
            return response.status_code, response.get_json()
        return worker

    results = run_together(capped_app, *(put(t, i) for t, i in zip(tokens, world["enterprises"], strict=True)))
    assert sorted(status for status, _ in results) == [200] * CAP + [422] * (WORKERS - CAP), results
    for status, answer in results:
        if status == 422:
            assert answer["error"]["fields"] == {"commissioner": cap_message(world)}
    assert held(capped_app, world["commissioner"]) == CAP


def test_two_suggestion_bulks_across_counties_at_once_neither_deadlocks(capped_app, slow_count):
    """Two bulk assigns with suggestions, each starting in another county: each first picks its county's
    commissioner, then the other's. Locking commissioners as they come would take them in opposite orders (a
    deadlock on PostgreSQL, one bulk failing); bulk assign locks its candidates up front, in id order."""
    with capped_app.app_context():
        coordinator = make_user("coordinator")
        hc = make_user("commissioner", county="汇川区", specialties=["tech"])
        tz = make_user("commissioner", county="桐梓县", specialties=["tech"])
        firms = {"hc": [make_enterprise(county="汇川区") for _ in range(2)],
                 "tz": [make_enterprise(county="桐梓县") for _ in range(2)]}
        db.session.commit()
        orders = {"A": [firms["hc"][0].id, firms["tz"][0].id], "B": [firms["tz"][1].id, firms["hc"][1].id]}
        ids = {"coordinator": coordinator.id, "hc": hc.id, "tz": tz.id}
        db.session.remove()

    def bulk(order: list[int]):
        def worker() -> int:
            actor = db.session.get(User, ids["coordinator"])
            result = domain.bulk_assign(actor, [db.session.get(Enterprise, i) for i in order], "tech")
            db.session.commit()
            return len(result.done)
        return worker

    results = run_together(capped_app, bulk(orders["A"]), bulk(orders["B"]))
    assert results == [2, 2], results
    assert held(capped_app, ids["hc"]) == 2 and held(capped_app, ids["tz"]) == 2
