"""API fuzzing with schemathesis over ``/api/v1/openapi.json``, signed in with a bearer token as an admin and as a
commissioner: for every operation, no 5xx, and every answer is declared (status code, content type) and matches
its declared schema.

- The document comes from the app itself (WSGI, no network); the requests go to the test's app (``case.call(
  app=app)``), inside the test's rolled-back transaction, so what the fuzzer creates is gone afterwards.
- Each operation runs schemathesis's coverage phase (boundary and invalid values, unsupported methods) and up to
  ``MAX_EXAMPLES`` generated cases; ``derandomize`` makes a run repeatable.
- Each test starts from a small world (an enterprise assigned to the commissioner and on a published list, the
  next half year's draft, a meeting, an interaction, a request, a policy delivery, a notification). Two out of
  three generated record ids (and list periods) are replaced by the world's, so PATCHes and transitions reach
  real records and not only 404s. A run sends about 8,700 requests (SQLite, both roles, ~100 s) and reaches a
  2xx on about 110 of the method × path pairs.
- The generated ``Authorization`` header is replaced by the role's token: this is authenticated fuzzing (no
  token and bad tokens are tests/api/test_auth*.py's business). Operations that revoke the caller's token
  (sign-out, password change) answer 401 after their first success, which is declared.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from crm.extensions import db
from crm.notifications.domain import notify
from crm.rosters.domain import open_edition
from crm.rosters.models import RosterKind
from tests.conftest import api_token, assign, make_app, make_enterprise, make_user
from tests.meetings.factories import make_meeting, partner
from tests.rosters.factories import published_edition

MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

# The document of an app that is never served: only its URL map is read (the same routes as every test app).
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", make_app("sqlite://"))


def _created(client, headers: dict[str, str], path: str, body: dict[str, Any]) -> int:
    response = client.post(f"/api/v1{path}", json=body, headers=headers)
    assert response.status_code == 201, (path, response.get_json())
    return response.get_json()["id"]


@pytest.fixture
def world(app) -> dict[str, Any]:
    """Users with tokens and one record of each kind the path parameters name."""
    admin = make_user("admin")
    commissioner = make_user("commissioner", specialties=["tech"])
    enterprise = make_enterprise()
    assign(enterprise, commissioner, "tech")
    published_edition(RosterKind.SUPPLIER_LIST, "2026H1", [enterprise])
    open_edition(None, RosterKind.SUPPLIER_LIST, "2026H2")  # a draft (copied from 2026H1) that writes can reach
    meeting = make_meeting(admin, enterprises=[enterprise], partners=[partner()], officials=[commissioner])
    notify([admin, commissioner], "refresh_opened", "测试通知")
    db.session.flush()
    tokens = {"admin": api_token(admin), "commissioner": api_token(commissioner)}
    client = app.test_client()
    as_commissioner = tokens["commissioner"]
    ids = {
        "enterprise_id": enterprise.id,
        "meeting_id": meeting.id,
        "partner_id": partner().id,
        "interaction_id": _created(client, as_commissioner, "/interactions", {
            "enterprise_id": enterprise.id, "date": "2026-06-01", "channel": "visit", "specialty": "tech",
            "summary": "走访了解生产情况"}),
        "request_id": _created(client, as_commissioner, "/requests", {
            "enterprise_id": enterprise.id, "category": "用地", "description": "扩建用地需求"}),
        "delivery_id": _created(client, tokens["admin"], "/policy-deliveries", {
            "enterprise_id": enterprise.id, "kind": "用地", "promised": "用地指标", "promised_date": "2026-09-30"}),
        "notification_id": _notification_id(client, tokens["admin"]),
    }
    return {"tokens": tokens, "ids": ids}


def _notification_id(client, headers: dict[str, str]) -> int:
    items = client.get("/api/v1/notifications", headers=headers).get_json()["items"]
    assert items, "the world's notification is missing"
    return items[0]["id"]


def _aim(case, world: dict[str, Any], role: str) -> None:
    """Authenticate the case as ``role`` and point two out of three generated ids at the world's records."""
    case.headers = {**(case.headers or {}), **world["tokens"][role]}
    for name, value in list((case.path_parameters or {}).items()):
        if name in world["ids"] and isinstance(value, int) and value % 3:
            case.path_parameters[name] = world["ids"][name]
        elif name == "period" and isinstance(value, str) and len(value) % 3:
            case.path_parameters[name] = ("2026H1", "2026H2")[len(value) % 2]


@schema.parametrize()
@FUZZ
def test_api_as_admin(case, app, world):
    _aim(case, world, "admin")
    case.validate_response(case.call(app=app), checks=CHECKS)


@schema.parametrize()
@FUZZ
def test_api_as_commissioner(case, app, world):
    _aim(case, world, "commissioner")
    case.validate_response(case.call(app=app), checks=CHECKS)


# --- the checks themselves catch what they are for -------------------------------------------------------------

@pytest.mark.parametrize(("answer", "failure"), [
    (({"openapi": 3, "info": {}, "paths": {}, "components": {}}, 200), "Response violates schema"),
    (({"error": {"code": "boom", "message": "x"}}, 500), "Server error"),
    (({"error": {"code": "teapot", "message": "x"}}, 418), "Undocumented status code"),
    (("<html></html>", 200), "Undocumented Content-Type"),
])
def test_the_checks_catch_a_drift(tmp_path, monkeypatch, answer, failure):
    """A wrong body, a 5xx, an undeclared status and an undeclared content type each fail (the app's own
    response validation is off here, so only schemathesis's checks can see them)."""
    from schemathesis.core.failures import FailureGroup

    other = make_app(f"sqlite:///{tmp_path}/unused.sqlite3", API_VALIDATE_RESPONSES=False)
    case = schema["/openapi.json"]["GET"].Case()
    case.validate_response(case.call(app=other), checks=CHECKS)  # as served: conforms

    def drifted():
        return answer

    drifted.api_public = True  # still reachable without a token, as the real view
    monkeypatch.setitem(other.view_functions, "api.openapi_json", drifted)
    with pytest.raises(FailureGroup, match=failure):
        case.validate_response(case.call(app=other), checks=CHECKS)
