"""The OpenAPI document lists every /api/v1 endpoint (this guards future endpoints too)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from crm.api.openapi import ResponseDrift, check_response, document
from tests.api.support import bearer, payload
from tests.conftest import make_user

PREFIX = "/api/v1"
IGNORED_METHODS = {"HEAD", "OPTIONS"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture
def doc(client) -> dict[str, Any]:
    response = client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def openapi_path(rule: str) -> str:
    """``/api/v1/enterprises/<int:enterprise_id>`` → ``/enterprises/{enterprise_id}``."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule[len(PREFIX):])


def api_rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX + "/")]


def operations(doc):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_document_is_public_and_openapi_3(client, doc):
    assert re.fullmatch(r"3\.[01]\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"] == [{"url": PREFIX}]
    raw = client.get(f"{PREFIX}/openapi.json").get_data(as_text=True)
    assert "企业" in raw and "\\u" not in raw


def test_every_api_route_is_documented_with_its_methods(app, doc):
    """A new endpoint under /api/v1 fails here until its view is declared with ``@operation``."""
    missing = []
    for rule in api_rules(app):
        if rule.rule == f"{PREFIX}/openapi.json":
            continue
        item = doc["paths"].get(openapi_path(rule.rule), {})
        for method in sorted(rule.methods - IGNORED_METHODS):
            if method.lower() not in item:
                missing.append(f"{method} {rule.rule}")
    assert not missing, "undocumented API endpoints: " + ", ".join(missing)


def test_every_documented_operation_exists(app, doc):
    served = {(openapi_path(rule.rule), method.lower()) for rule in api_rules(app)
              for method in rule.methods - IGNORED_METHODS}
    stale = [(path, method) for path, method, _ in operations(doc) if (path, method) not in served]
    assert not stale, f"documented but not served: {stale}"


def test_path_parameters_match_the_rules(app, doc):
    for rule in api_rules(app):
        path = openapi_path(rule.rule)
        item = doc["paths"][path]
        for method in rule.methods - IGNORED_METHODS:
            params = item.get("parameters", []) + item[method.lower()].get("parameters", [])
            declared = {p["name"] for p in params if p.get("in") == "path"}
            assert declared == set(rule.arguments), (path, method)


def test_every_reference_resolves(doc):
    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = list(refs(doc))
    assert found
    for ref in found:
        assert ref.startswith("#/"), ref
        node = doc
        for part in ref[2:].split("/"):
            assert part in node, f"unresolved {ref}"
            node = node[part]


def test_bearer_scheme_and_public_operations(app, doc):
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"bearerAuth": []}]
    public_views = {(openapi_path(rule.rule), method.lower()) for rule in api_rules(app)
                    for method in rule.methods - IGNORED_METHODS
                    if getattr(app.view_functions[rule.endpoint], "api_public", False)}
    documented_public = {(path, method) for path, method, op in operations(doc) if op.get("security") == []}
    assert documented_public == public_views == {("/auth/token", "post"), ("/openapi.json", "get")}


def test_operations_have_responses_and_error_schema(doc):
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    inner = doc["components"]["schemas"][error["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert set(inner["properties"]) == {"code", "message", "fields"} and inner["required"] == ["code", "message"]
    for path, method, op in operations(doc):
        assert op.get("summary") and op.get("operationId"), (path, method)
        assert op["responses"], (path, method)
        assert any(code.startswith("2") for code in op["responses"]), (path, method)
        if op.get("security") != []:
            assert "401" in op["responses"], (path, method)
        if method in {"post", "put", "patch"}:
            assert "requestBody" in op and "400" in op["responses"], (path, method)
        for code, response in op["responses"].items():
            if code[0] in "45":
                if "$ref" in response:
                    response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                schema = response["content"]["application/json"]["schema"]
                # the import's 422 also lists the rows of the file (an Error with ``rows``)
                assert schema["$ref"].rsplit("/", 1)[1] in {"Error", "ImportFailed"}, (path, method, code)


def test_operation_ids_are_unique(doc):
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids))


def test_every_route_is_declared_and_every_schema_comes_from_a_model(app, doc):
    """Each API view carries its ``@operation`` declaration; component schemas are the pydantic models'."""
    undeclared = [rule.endpoint for rule in api_rules(app)
                  if not hasattr(app.view_functions[rule.endpoint], "api_operation")]
    assert not undeclared
    schemas = doc["components"]["schemas"]
    assert {"Enterprise", "EnterpriseCreate", "EnterprisePatch", "Figure", "HistoryEntry", "Error"} <= set(schemas)
    for name, schema in schemas.items():
        if name not in {"OpenApiDocument", "TokenRequest"}:  # open-ended: the document; a sign-in ignores extras
            assert schema.get("additionalProperties") is False, name  # a drift either way fails validation


def test_schemas_name_the_fields_the_endpoints_send(client, doc):
    schemas = doc["components"]["schemas"]
    headers = bearer(make_user("admin"))
    created = client.post(f"{PREFIX}/enterprises", json=payload(), headers=headers).get_json()
    assert set(created) == set(schemas["Enterprise"]["properties"]) == set(schemas["Enterprise"]["required"])
    assert set(schemas["EnterpriseCreate"]["properties"]) >= set(payload())
    client.put(f"{PREFIX}/enterprises/{created['id']}/figures/2025", json={"output_value": 1}, headers=headers)
    history = client.get(f"{PREFIX}/enterprises/{created['id']}/history", headers=headers).get_json()
    assert set(history) == set(schemas["HistoryPage"]["properties"])
    assert set(history["items"][0]) == set(schemas["HistoryEntry"]["properties"])
    figure = client.get(f"{PREFIX}/enterprises/{created['id']}", headers=headers).get_json()["figures"][0]
    assert set(figure) == set(schemas["Figure"]["properties"])


def test_responses_are_validated_in_testing(app):
    assert app.config["API_VALIDATE_RESPONSES"] and check_response in app.after_request_funcs[None]


@pytest.mark.parametrize("drift", [
    {"id": "1"},  # a wrong type
    {"name": None},  # null where the document says string
    {"colour": "red"},  # a field the document does not name
    {"settled_on": "2026-02-30"},  # not a date
    {"created_at": "2026-07-01T09:00:00"},  # a time without its offset
])
def test_a_drifted_response_fails_the_test_that_receives_it(app, client, monkeypatch, drift):
    headers = bearer(make_user("admin"))
    created = client.post(f"{PREFIX}/enterprises", json=payload(), headers=headers).get_json()
    honest = app.view_functions["api.get_enterprise"]
    monkeypatch.setitem(app.view_functions, "api.get_enterprise",
                        lambda enterprise_id: {**honest(enterprise_id), **drift})
    with pytest.raises(ResponseDrift, match="GET /enterprises/{enterprise_id} status 200"):
        client.get(f"{PREFIX}/enterprises/{created['id']}", headers=headers)


def test_an_undeclared_status_or_error_shape_fails(app, client, monkeypatch):
    headers = bearer(make_user("admin"))
    monkeypatch.setitem(app.view_functions, "api.list_notifications", lambda: ({"error": {"code": "x"}}, 409))
    with pytest.raises(ResponseDrift, match="not declared"):
        client.get(f"{PREFIX}/notifications", headers=headers)
    monkeypatch.setitem(app.view_functions, "api.list_notifications", lambda: ({"error": {"code": "x"}}, 400))
    with pytest.raises(ResponseDrift, match="message"):
        client.get(f"{PREFIX}/notifications", headers=headers)


def test_document_is_built_once_per_app(app):
    with app.app_context():
        assert document(app) is document(app)
