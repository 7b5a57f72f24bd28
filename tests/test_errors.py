"""DevRev-shaped errors for every way a request can go wrong."""

from __future__ import annotations

import httpx
import pytest
import structlog

from conftest import Actor
from contract import assert_conforms
from incidentd.identity import service as identity_service


async def test_malformed_json_is_parse_error(client, admin: Actor):
    response = await client.post("/dev-users.get", content=b'{"id": ', headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["type"] == "parse_error"
    assert_conforms("/dev-users.get", "post", 400, response.json())


async def test_unknown_field_is_invalid_field_naming_it(client, admin: Actor):
    response = await client.post("/dev-users.get", json={"id": "DEVU-1", "colour": "red"}, headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["type"] == "invalid_field"
    assert response.json()["field_name"] == "colour"
    assert_conforms("/dev-users.get", "post", 400, response.json())


async def test_wrong_json_type_is_unexpected_json_type(client, admin: Actor):
    response = await client.post("/dev-users.get", json={"id": 7}, headers=admin.headers)
    assert response.status_code == 400
    body = response.json()
    assert (body["type"], body["field_name"], body["expected"], body["actual"]) == (
        "unexpected_json_type",
        "id",
        "string",
        "number",
    )
    assert_conforms("/dev-users.get", "post", 400, body)


async def test_body_of_wrong_json_type_is_unexpected_json_type(client, admin: Actor):
    response = await client.post("/dev-users.get", json=["DEVU-1"], headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["type"] == "unexpected_json_type"
    assert response.json()["actual"] == "array"


async def test_missing_required_field_names_it(client, admin: Actor):
    response = await client.post("/dev-users.create", json={"state": "shadow"}, headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["type"] == "missing_required_field"
    assert response.json()["field_name"] == "email"


async def test_bad_enum_value_lists_the_allowed_values(client, admin: Actor):
    response = await client.post(
        "/dev-users.create", json={"email": "x@y.z", "state": "sleeping"}, headers=admin.headers
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_enum_value"
    assert body["field_name"] == "state"
    assert body["value"] == "sleeping"
    assert set(body["allowed_values"]) == {"shadow", "active"}
    assert_conforms("/dev-users.create", "post", 400, body)


async def test_unknown_route_is_not_found(client, admin: Actor):
    response = await client.post("/incidents.frobnicate", json={}, headers=admin.headers)
    assert response.status_code == 404
    assert response.json() == {"type": "not_found", "message": "route not found"}


async def test_wrong_method_is_405_with_allow(client, admin: Actor):
    response = await client.get("/dev-users.create", headers=admin.headers)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


async def test_body_over_the_limit_is_413(client, admin: Actor, settings):
    padding = "x" * (settings.max_body_bytes + 10)
    response = await client.post("/dev-users.get", json={"id": padding}, headers=admin.headers)
    assert response.status_code == 413
    assert response.json() == {
        "type": "request_entity_too_large",
        "message": response.json()["message"],
        "max_bytes": settings.max_body_bytes,
    }


async def test_unexpected_exception_is_500_with_a_reference_id_in_the_log(client, admin: Actor, monkeypatch):
    async def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(identity_service, "self_user", explode)
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/dev-users.self", headers=admin.headers)
    assert response.status_code == 500
    body = response.json()
    assert body["type"] == "internal_error"
    assert len(body["reference_id"]) == 32
    assert "boom" not in response.text
    assert_conforms("/dev-users.self", "get", 500, body)
    (entry,) = [entry for entry in logs if entry.get("reference_id") == body["reference_id"]]
    assert entry["log_level"] == "error"
    assert isinstance(entry["exc_info"], RuntimeError)


async def test_every_response_carries_a_request_id(client, admin: Actor):
    ok = await client.get("/dev-users.self", headers=admin.headers)
    missing = await client.get("/nowhere")
    assert len(ok.headers["x-request-id"]) == 32
    assert ok.headers["x-request-id"] != missing.headers["x-request-id"]
    echoed = await client.get("/health", headers={"X-Request-Id": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"


async def test_one_log_line_per_request(client, admin: Actor):
    with structlog.testing.capture_logs() as logs:
        await client.get("/dev-users.self", headers=admin.headers)
    (line,) = [entry for entry in logs if entry["event"] == "request"]
    assert line["method"] == "GET" and line["path"] == "/dev-users.self" and line["status"] == 200
    assert line["principal"] == admin.don
    assert line["duration_ms"] >= 0 and line["request_id"]


@pytest.mark.parametrize("header", ["X-Devrev-Scope", "X-Devrev-Client-Platform", "X-Devrev-Version"])
async def test_devrev_client_headers_are_accepted(client, admin: Actor, header):
    response = await client.get("/dev-users.self", headers={**admin.headers, header: "anything"})
    assert response.status_code == 200


def test_error_bodies_use_httpx_json():
    # Guard for the helper used above: DevRev error bodies are plain JSON objects.
    assert httpx.Response(400, json={"type": "x", "message": "y"}).json()["type"] == "x"


async def test_the_openapi_document_describes_both_forms_of_read_operations(client):
    document = (await client.get("/openapi.json")).json()
    incidents_list = document["paths"]["/incidents.list"]
    assert incidents_list["get"]["operationId"] == "incidents-list"
    assert incidents_list["post"]["operationId"] == "incidents-list-post"
    parameters = {p["name"]: p for p in incidents_list["get"]["parameters"]}
    severity = parameters["severity"]["schema"]
    assert (severity["type"], severity["items"]["type"], severity["maxItems"]) == ("array", "integer", 1000)
    assert parameters["severity"]["explode"] is False
    assert "staged_info.is_staged" in parameters and "sync_metadata.last_sync_in.status" in parameters
    assert document["paths"]["/incidents.get"]["get"]["parameters"][0]["required"] is True
    assert "requestBody" in document["paths"]["/incidents.create"]["post"]
    assert (await client.get("/docs")).status_code == 200
