"""Two clients at the same time, each with its own session, on a database of their own (PITFALLS: tests).

- Moving the same request from the same version: exactly one succeeds, the other gets 409 (``stale`` when it sent
  the version it had read, ``illegal_transition`` when it sent none), and the timeline has one event for it.
- Logging interactions: both succeed (no lost insert).

The second writer waits for the first one's commit instead of failing (``crm.core.transactions``): a row lock
(``SELECT … FOR UPDATE``) on PostgreSQL, the database write lock every SQLite transaction takes at its BEGIN.
The winner holds its transaction open a moment (its audit write is slowed down) so the two really overlap.

The API-level test runs on PostgreSQL only: on SQLite two simultaneous API requests can already collide in the
token check (``resolve_token`` reads and then, once a minute, writes ``last_used_at``), outside the service's code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.auth.domain import issue_token
from crm.auth.models import User
from crm.core.audit import AuditLog
from crm.core.errors import Conflict
from crm.enterprises.models import Enterprise
from crm.extensions import db
from crm.service import interactions as interaction_domain
from crm.service import requests as request_domain
from crm.service.models import Interaction, RequestEvent, RequestStatus, ServiceRequest
from tests.conftest import BACKEND, assign, make_enterprise, make_user, own_database

HOLD_SECONDS = 0.5
JOIN_SECONDS = 60


@pytest.fixture
def fresh_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    overrides: dict[str, Any] = {}
    if BACKEND == "sqlite":  # a writer waits this long for the write lock before "database is locked"
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, "connect_args": {"timeout": 30}}
    with own_database(tmp_path_factory, "svcconc", **overrides) as application:
        yield application


@pytest.fixture
def world(fresh_app: Flask) -> dict[str, Any]:
    """An enterprise with its commissioner and a coordinator, and one request already accepted (version 2)."""
    with fresh_app.app_context():
        enterprise = make_enterprise(county="汇川区")
        commissioner = make_user("commissioner", specialties=["tech"])
        coordinator = make_user("coordinator")
        assign(enterprise, commissioner)
        req = request_domain.raise_request(commissioner, enterprise, {"category": "用电", "description": "增容"})
        request_domain.transition(commissioner, req, "accepted")
        db.session.commit()
        ids = {"enterprise": enterprise.id, "commissioner": commissioner.id, "coordinator": coordinator.id,
               "request": req.id, "version": req.version}
        db.session.remove()
    assert ids["version"] == 2
    return ids


@pytest.fixture
def slow_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each writer holds its transaction open a moment after its changes, so two writers overlap."""
    real_record = request_domain.record

    def record(*args: Any, **kwargs: Any):
        row = real_record(*args, **kwargs)
        time.sleep(HOLD_SECONDS)
        return row

    monkeypatch.setattr(request_domain, "record", record)
    monkeypatch.setattr(interaction_domain, "record", record)


def run_together(app: Flask, *workers) -> list[Any]:
    """Run each ``worker()`` in its own thread with its own app context (so its own session), started at once.

    Returns what each returned, or the exception it raised.
    """
    barrier = threading.Barrier(len(workers))
    results: list[Any] = [None] * len(workers)

    def run(index: int, worker) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[index] = worker()
            except Exception as err:  # noqa: BLE001 - handed back to the test
                db.session.rollback()
                results[index] = err

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a worker is still waiting"
    return results


def in_progress_events(app: Flask, request_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(RequestEvent).where(
            RequestEvent.request_id == request_id, RequestEvent.to_status == RequestStatus.IN_PROGRESS))


@pytest.mark.parametrize(("sent_version", "loser_code"), [(True, "stale"), (False, "illegal_transition")])
def test_two_clients_move_the_same_request_at_once(fresh_app, world, slow_audit, sent_version, loser_code):
    version = world["version"] if sent_version else None

    def move(actor_key: str):
        def worker() -> str:
            req = request_domain.lock_request(world["request"])  # first statement of the transaction
            actor = db.session.get(User, world[actor_key])
            request_domain.transition(actor, req, "in_progress", note=f"由{actor.username}办理", version=version)
            db.session.commit()
            return actor.username
        return worker

    results = run_together(fresh_app, move("commissioner"), move("coordinator"))
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1 and len(losers) == 1, results
    [loser] = losers
    assert isinstance(loser, Conflict) and loser.status == 409 and loser.code == loser_code, repr(loser)
    if loser_code == "stale":
        assert loser.message == "该记录已被他人修改,请刷新后重试"
    else:
        assert loser.message == "当前状态“办理中”只能变更为:已解决"
    assert in_progress_events(fresh_app, world["request"]) == 1
    with fresh_app.app_context():
        req = db.session.get(ServiceRequest, world["request"])
        assert req.status is RequestStatus.IN_PROGRESS and req.version == 3
        assert req.events[-1].note == f"由{winners[0]}办理"
        transitions = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.entity_type == "service_request", AuditLog.entity_id == req.id,
            AuditLog.action == "transition"))
        assert transitions == 2  # accepted (setup) and the winner's move


def test_two_clients_log_interactions_at_once(fresh_app, world, slow_audit):
    def log(actor_key: str, summary: str):
        def worker() -> int:
            actor = db.session.get(User, world[actor_key])
            enterprise = db.session.get(Enterprise, world["enterprise"])
            interaction = interaction_domain.log_interaction(actor, enterprise, {
                "date": "2026-01-05", "channel": "visit", "specialty": "tech", "summary": summary})
            db.session.commit()
            return interaction.id
        return worker

    results = run_together(fresh_app, log("commissioner", "专员走访"), log("coordinator", "协调员电话"))
    assert all(isinstance(r, int) for r in results), results
    with fresh_app.app_context():
        summaries = set(db.session.scalars(sa.select(Interaction.summary)))
        assert summaries == {"专员走访", "协调员电话"}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
            AuditLog.entity_type == "interaction")) == 2


def test_through_the_api(fresh_app, world, slow_audit):
    """Two clients, each logging an interaction and moving the same request from version 2, all at once."""
    with fresh_app.app_context():
        tokens = {key: issue_token(db.session.get(User, world[key]))[0] for key in ("commissioner", "coordinator")}
        db.session.commit()
    url = f"/api/v1/requests/{world['request']}"

    def call(key: str, method: str, path: str, body: dict[str, Any]):
        def worker():
            client = fresh_app.test_client()
            response = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {tokens[key]}"})
            return response.status_code, response.get_json()
        return worker

    workers = [call(key, "POST", f"{url}/transition", {"to": "in_progress", "version": 2, "note": key})
               for key in tokens]
    workers += [call(key, "POST", "/api/v1/interactions", {
        "enterprise_id": world["enterprise"], "date": "2026-01-05", "channel": "call", "specialty": "tech",
        "summary": f"{key} 同时登记"}) for key in tokens]
    results = run_together(fresh_app, *workers)
    moves, logs = results[:2], results[2:]
    assert sorted(status for status, _ in moves) == [200, 409], moves
    [(_, refused)] = [(status, body) for status, body in moves if status == 409]
    assert refused == {"error": {"code": "stale", "message": "该记录已被他人修改,请刷新后重试",
                                 "fields": {"version": "版本已过期(当前版本 3)"}}}
    assert [status for status, _ in logs] == [201, 201], logs
    assert in_progress_events(fresh_app, world["request"]) == 1
    with fresh_app.app_context():
        assert set(db.session.scalars(sa.select(Interaction.summary))) == {"commissioner 同时登记",
                                                                          "coordinator 同时登记"}
