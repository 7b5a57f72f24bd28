"""Our own /openapi.json describes the wire: real answers, errors included, validate against the schema the
document gives for that operation and status; every operation but the public ones declares the bearer scheme;
the request Structs' limits are in it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import jsonschema
import msgspec
import pytest

from conftest import Actor, running
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.idempotency.service import MAX_KEY_LENGTH
from incidentd.incidents import schemas as incident_schemas
from incidentd.openapi_document import SECURITY_SCHEME, bound, is_public, openapi_document
from incidentd.tags import service as tag_service

METHODS = ("get", "post", "put", "patch", "delete")


async def fetch_document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any] | None:
    """The body schema the document gives for `status` of `method path`; fails when it declares no such status."""
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which the document does not declare"
    response = responses[str(status)]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    content = response.get("content")
    return content["application/json"]["schema"] if content else None


def assert_documented(document: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    schema = response_schema(document, path, method, response.status_code)
    if schema is None:
        assert response.content == b"", f"{method} {path} {response.status_code} has no body in the document"
        return
    validator = jsonschema.Draft202012Validator({"components": document["components"], **schema})
    problems = sorted(validator.iter_errors(response.json()), key=lambda error: list(error.absolute_path))
    details = "\n".join(f"  at {list(e.absolute_path)}: {e.message[:300]}" for e in problems[:10])
    assert not problems, f"{method} {path} {response.status_code} does not match our document:\n{details}"


class Caller:
    """Sends requests and checks each answer against the document; remembers which statuses it saw."""

    def __init__(self, client: httpx.AsyncClient, document: dict[str, Any], headers: dict[str, str]) -> None:
        self.client, self.document, self.headers = client, document, headers
        self.seen: set[int] = set()

    async def __call__(self, method: str, path: str, expected: int, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await self.client.request(method.upper(), path, headers=headers, **kwargs)
        assert response.status_code == expected, response.text
        assert_documented(self.document, path, method, response)
        self.seen.add(response.status_code)
        return response


async def test_successes_match_the_document(client, admin: Actor):
    call = Caller(client, await fetch_document(client), admin.headers)
    await call("get", "/dev-users.self", 200)
    await call("get", "/dev-users.list", 200)
    await call("post", "/auth-tokens.list", 200, json={})
    await call("get", "/stages.custom.list", 200)
    await call("get", "/states.custom.list", 200)
    await call("get", "/schemas.subtypes.list", 200, params={"leaf_type": "incident"})
    tag = (await call("post", "/tags.create", 201, json={"name": "sev", "description": "severity"})).json()["tag"]
    await call("get", "/tags.get", 200, params={"id": tag["id"]})
    await call("post", "/tags.list", 200, json={"limit": 5})
    account = await call("post", "/accounts.create", 201, json={"display_name": "Acme", "external_refs": ["a-1"]})
    await call("post", "/accounts.get", 200, json={"id": account.json()["account"]["id"]})
    part = await call(
        "post", "/parts.create", 201, json={"name": "Payments", "type": "product", "owned_by": [admin.don]}
    )
    await call("get", "/parts.list", 200)
    article = await call(
        "post", "/articles.create", 201, json={"title": "Runbook", "owned_by": [admin.don], "resource": {}}
    )
    await call("get", "/articles.list", 200)
    created = await call(
        "post",
        "/incidents.create",
        201,
        json={
            "title": "Payments degraded",
            "body": "Card payments fail.",
            "severity": 2,
            "owned_by": [admin.don],
            "applies_to_parts": [part.json()["part"]["id"]],
            "tags": [{"tag_id": tag["id"], "value": "eu"}],
            "playbooks": [article.json()["article"]["id"]],
            "impact": {"count": 1, "customer_ids": [account.json()["account"]["id"]]},
        },
        headers={"Idempotency-Key": "create-1"},
    )
    incident = created.json()["incident"]["id"]
    await call("get", "/incidents.get", 200, params={"id": incident})
    await call("post", "/incidents.update", 200, json={"id": incident, "title": "Payments down", "body": None})
    await call("get", "/incidents.list", 200, params={"severity": "2", "limit": "1"})
    await call("post", "/incidents.group", 200, json={"group_by": "severity"})
    await call("post", "/incidents.delete", 200, json={"id": incident})


async def test_every_error_class_matches_the_document(client, admin: Actor, settings: Settings, monkeypatch):
    document = await fetch_document(client)
    call = Caller(client, document, admin.headers)
    # 400, several types
    long_title = {"title": "x" * (incident_schemas.MAX_TITLE + 1)}
    assert (await call("post", "/incidents.create", 400, json=long_title)).json()["field_name"] == "title"
    assert (await call("post", "/incidents.create", 400, json={"title": 7})).json()["type"] == "unexpected_json_type"
    assert (await call("post", "/incidents.create", 400, json={})).json()["type"] == "missing_required_field"
    assert (await call("post", "/incidents.create", 400, content=b"{")).json()["type"] == "parse_error"
    assert (await call("post", "/incidents.create", 400, json={"title": "t", "nope": 1})).json()["type"] == (
        "invalid_field"
    )
    await call("get", "/incidents.list", 400, params={"limit": "0"})
    await call("post", "/tags.create", 400, json={"name": "t"}, headers={"Idempotency-Key": "k" * (MAX_KEY_LENGTH + 1)})
    # 401
    await call("get", "/incidents.list", 401, headers={"Authorization": ""})
    await call("post", "/incidents.create", 401, json={"title": "t"}, headers={"Authorization": "Bearer idt_nope"})
    # 403: only sys users and service accounts may set `source`
    await call("post", "/incidents.create", 403, json={"title": "t", "source": 1})
    # 404
    missing = admin.org.don("incident", 999)
    assert (await call("get", "/incidents.get", 404, params={"id": missing})).json()["type"] == "not_found"
    await call("post", "/incidents.update", 404, json={"id": missing, "title": "t"})
    # 409: a second account with an external ref the first one has
    await call("post", "/accounts.create", 201, json={"display_name": "One", "external_refs": ["crm-1"]})
    await call("post", "/accounts.create", 409, json={"display_name": "Two", "external_refs": ["crm-1"]})
    # 413: a JSON body over INCIDENTD_MAX_BODY_BYTES
    too_big = {"title": "t", "body": "x" * (settings.max_body_bytes + 1)}
    assert (await call("post", "/incidents.create", 413, json=too_big)).json()["max_bytes"] == settings.max_body_bytes

    # 500: a bug in a service (here: one made to raise)
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(tag_service, "list_tags", broken)
    assert (await call("get", "/tags.list", 500)).json()["reference_id"]
    assert call.seen == {201, 400, 401, 403, 404, 409, 413, 500}


async def test_rate_limited_and_unavailable_answers_match_the_document(settings: Settings, admin: Actor, tmp_path):
    limited = settings.model_copy(update={"rate_limit_requests": 1})
    async with running(create_app(limited)) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            call = Caller(client, await fetch_document(client), admin.headers)
            await call("get", "/dev-users.self", 200)
            too_many = await call("post", "/incidents.create", 429, json={"title": "t"})
            assert too_many.json()["retry_after"] >= 1 and too_many.headers["retry-after"]

    nowhere = Path(tmp_path) / "missing" / "incidentd.db"
    unreachable = Settings(database_url=f"sqlite+aiosqlite:///{nowhere}", auto_migrate=False, db_wait_seconds=0.5)
    async with running(create_app(unreachable)) as app:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            call = Caller(client, await fetch_document(client), admin.headers)
            await call("get", "/incidents.list", 503)
            await call("post", "/incidents.create", 503, json={"title": "t"})


async def test_the_document_has_no_litestar_error_bodies_and_docs_serve_the_same(client):
    document = await fetch_document(client)
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert set(response) == {"$ref"}, f"{method} {path} {status}"
    assert "status_code" not in str(document["components"]["responses"])
    served_to_swagger = await client.get("/docs/openapi.json")
    assert served_to_swagger.status_code == 200
    assert served_to_swagger.json() == document


async def test_every_operation_but_the_public_ones_needs_the_bearer_token(client):
    document = await fetch_document(client)
    assert document["components"]["securitySchemes"][SECURITY_SCHEME] == {
        **document["components"]["securitySchemes"][SECURITY_SCHEME],
        "type": "http",
        "scheme": "bearer",
    }
    public, authenticated = set(), set()
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            if method not in METHODS:
                continue
            security = operation.get("security", document["security"])
            if is_public(path):
                public.add(path)
                assert security == [], f"{method} {path} is public"
                assert "401" not in operation["responses"] and "429" not in operation["responses"]
            else:
                authenticated.add(path)
                assert security == [{SECURITY_SCHEME: []}], f"{method} {path}"
                assert {"401", "429"} <= set(operation["responses"])
    assert public == {"/artifacts.upload", "/artifacts.download"}
    assert "/incidents.create" in authenticated and "/dev-users.self" in authenticated


async def test_the_answers_without_a_token_are_the_ones_documented_public(client):
    document = await fetch_document(client)
    for path, path_item in document["paths"].items():
        for method in path_item:
            if method in METHODS and not is_public(path):
                response = await client.request(method.upper(), path)
                assert response.status_code == 401, f"{method} {path}: {response.status_code}"
                assert_documented(document, path, method, response)


async def test_the_limits_are_in_the_document(client):
    document = await fetch_document(client)
    schemas = document["components"]["schemas"]
    title = schemas["IncidentsCreateRequest"]["properties"]["title"]
    assert title["maxLength"] == incident_schemas.MAX_TITLE == 256
    body = schemas["IncidentsCreateRequest"]["properties"]["body"]
    assert incident_schemas.MAX_BODY == 65_536 in (body.get("maxLength"), body["oneOf"][0].get("maxLength"))
    assert schemas["IncidentsCreateRequest"]["additionalProperties"] is False
    (key,) = [p for p in document["paths"]["/incidents.create"]["post"]["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["schema"]["maxLength"] == MAX_KEY_LENGTH
    limit = {p["name"]: p for p in document["paths"]["/incidents.list"]["get"]["parameters"]}["limit"]
    assert limit["schema"]["minimum"] == 1
    assert schemas["ArtifactsPrepareRequest"]["properties"]["file_name"]["maxLength"] == 512
    days = {p["name"]: p for p in document["paths"]["/incidents.list"]["get"]["parameters"]}["created_date.days"]
    assert days["schema"]["maximum"] == 36_600 and days["schema"]["minimum"] == 0
    group = schemas["IncidentsGroupRequest"]["properties"]
    assert group["limit"]["minimum"] == group["limit_per_group"]["minimum"] == 1


def _constraints(info: msgspec.inspect.Type) -> list[tuple[str, Any]]:
    """Every msgspec constraint inside a field's type, nested lists and maps included."""
    found: list[tuple[str, Any]] = []
    names = ("min_length", "max_length", "pattern", "ge", "le", "gt", "lt", "multiple_of")
    if isinstance(info, msgspec.inspect.Metadata):
        limits = ("maxLength", "minLength", "maximum", "minimum", "maxItems", "minItems")
        found += [(k, v) for k, v in (info.extra_json_schema or {}).items() if k in limits]
    for name in names:
        if getattr(info, name, None) is not None:
            found.append((name, getattr(info, name)))
    for child in ("types", "item_type", "value_type", "type"):
        value = getattr(info, child, None)
        for inner in value if isinstance(value, tuple) else [value] if value is not None else []:
            if isinstance(inner, msgspec.inspect.Type) and not isinstance(inner, msgspec.inspect.StructType):
                found += _constraints(inner)
    return found


def _keyword_values(schema: Any) -> list[Any]:
    if isinstance(schema, dict):
        return [*schema.values(), *(v for value in schema.values() for v in _keyword_values(value))]
    if isinstance(schema, list):
        return [v for item in schema for v in _keyword_values(item)]
    return []


def test_every_request_limit_of_the_structs_is_in_the_document(settings: Settings):
    """Whatever Meta a request Struct (or a Struct nested in one) carries is in its component schema."""
    app = create_app(settings)
    document = openapi_document(app)
    structs = [
        handler.parsed_fn_signature.parameters["data"].annotation
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if "data" in handler.parsed_fn_signature.parameters
    ]
    seen: set[type] = set()
    checked = 0
    while structs:
        struct = structs.pop()
        if struct in seen or not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
            continue
        seen.add(struct)
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        component = document["components"]["schemas"][struct.__name__]
        for field in info.fields:
            structs += [t.cls for t in _flatten(field.type) if isinstance(t, msgspec.inspect.StructType)]
            present = _keyword_values(component["properties"][field.encode_name])
            for name, value in _constraints(field.type):
                assert value in present, f"{struct.__name__}.{field.encode_name}: {name}={value} is not documented"
                checked += 1
    assert checked >= 10


def _flatten(info: msgspec.inspect.Type) -> list[msgspec.inspect.Type]:
    found = [info]
    for child in ("types", "item_type", "value_type", "type"):
        value = getattr(info, child, None)
        for inner in value if isinstance(value, tuple) else [value] if value is not None else []:
            if isinstance(inner, msgspec.inspect.Type):
                found += _flatten(inner)
    return found


class Example(msgspec.Struct):
    names: list[Annotated[str, msgspec.Meta(max_length=5)]] | None = None
    counts: Annotated[dict[str, Annotated[int, msgspec.Meta(ge=0)]], msgspec.Meta(max_length=3)] = {}


def test_bound_puts_item_and_map_limits_that_litestar_drops():
    info = msgspec.inspect.type_info(Example)
    assert isinstance(info, msgspec.inspect.StructType)
    names = {"oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}
    bound(names, info.fields[0].type)
    assert names["oneOf"][0]["items"] == {"type": "string", "maxLength": 5}
    counts: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "integer"}}
    bound(counts, info.fields[1].type)
    assert counts == {"type": "object", "maxProperties": 3, "additionalProperties": {"type": "integer", "minimum": 0}}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 429, 500, 503])
async def test_each_status_has_devrevs_error_shape(client, status):
    document = await fetch_document(client)
    responses = document["components"]["responses"]
    name = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 409: "conflict"}.get(
        status, {413: "request-entity-too-large", 429: "too-many-requests"}.get(status)
    ) or {500: "internal-server-error", 503: "service-unavailable"}[status]
    schema = responses[name]["content"]["application/json"]["schema"]
    assert schema == {"$ref": f"#/components/schemas/error-{name}"}
    for variant in document["components"]["schemas"][f"error-{name}"]["oneOf"]:
        body = document["components"]["schemas"][variant["$ref"].rsplit("/", 1)[1]]
        assert {"type", "message"} <= set(body["required"]) and body["additionalProperties"] is False


# links and incidents.merge (the links helper's block) ---------------------------------------------------------


async def test_link_and_merge_answers_match_the_document(client, admin: Actor):
    call = Caller(client, await fetch_document(client), admin.headers)
    first, second, third = [
        (await call("post", "/incidents.create", 201, json={"title": title})).json()["incident"]["id"]
        for title in ("one", "two", "three")
    ]
    part = await call(
        "post", "/parts.create", 201, json={"name": "Payments", "type": "product", "owned_by": [admin.don]}
    )
    to_part = {"source": first, "link_type": "is_related_to", "target": part.json()["part"]["id"]}
    link = (await call("post", "/links.create", 201, json=to_part)).json()["link"]
    assert (await call("post", "/links.create", 409, json=to_part)).json()["type"] == "conflict"
    await call("post", "/links.create", 400, json={**to_part, "link_type": "serves"})
    await call("get", "/links.get", 200, params={"id": link["id"]})
    await call("get", "/links.list", 200, params={"object": first, "object_types": "product", "limit": "1"})
    await call("post", "/links.list", 200, json={"object": first, "direction": "is_source"})
    replaced = {"id": link["id"], "source": first, "link_type": "is_parent_of", "target": second}
    new = (await call("post", "/links.replace", 201, json=replaced)).json()["link"]
    await call("post", "/links.replace", 404, json=replaced)
    await call("post", "/links.delete", 200, json={"id": new["id"]})
    await call("post", "/links.delete", 404, json={"id": new["id"]})
    await call("post", "/incidents.merge", 200, json={"source": second, "target": third})
    await call("post", "/incidents.merge", 400, json={"source": second, "target": third})
    await call("post", "/incidents.merge", 404, json={"source": admin.org.don("incident", 99), "target": third})
