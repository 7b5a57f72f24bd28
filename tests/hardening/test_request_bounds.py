"""Every field a caller can send is bounded (issue 14): each string, list and map has a maximum length, each integer
a range, checked while decoding so that an over-long value is a DevRev-shaped 400 naming the field, never a 500
(PostgreSQL refuses what its columns cannot hold) and never unbounded work.

The walk below visits every request Struct reachable from the registered routes: a field added without a bound
fails it. Values at exactly a cap are accepted; values just over it are 400 `invalid_field` naming the field, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa
from litestar.routes import HTTPRoute

from conftest import Actor
from incidentd.artifacts.schemas import MAX_FILE_NAME
from incidentd.customization.tables import schema_fragments as fragments
from incidentd.identity.schemas import MAX_SCOPE, MAX_TOKEN_TYPE
from incidentd.incidents.schemas import MAX_SYNC_TEXT, MAX_TITLE
from incidentd.kit.bounds import MAX_CURSOR, MAX_EMAIL, MAX_ID, MAX_NAME, MAX_TEXT, MAX_VALUES

# Fields whose values may be any JSON, each bounded otherwise: the body size (INCIDENTD_MAX_BODY_BYTES), the JSON
# depth (64) and the checks of the service that reads them.
ANY_JSON = {
    # a custom field's value: checked against the field's descriptor (type, max_len, max_items, ...)
    "IncidentsCreateRequest.custom_fields{}",
    "IncidentsUpdateRequest.custom_fields{}",
    "IncidentsListRequest.custom_fields{}",
    "IncidentsGroupRequest.custom_fields{}",
    "IncidentsMetricsRequest.custom_fields{}",
    "IncidentsExportRequest.custom_fields{}",
    "IncidentsSearchRequest.custom_fields{}",
    # a descriptor's default value: checked as a value of the field it describes
    "FieldDescriptor.default_value",
    # enum / uenum allowed values: strings or {id, label, ordinal} (customization.fields converts them into
    # UenumValue, whose fields are bounded)
    "FieldDescriptor.allowed_values[]",
    # DevRev's opaque UI, MFZ and OASIS hints of a field and a fragment's path: stored and echoed, never read
    "FieldDescriptor.ui{}",
    "FieldDescriptor.mfz{}",
    "FieldDescriptor.oasis{}",
    "CustomSchemaFragmentsSetRequest.path[]{}",
}


def request_types(app: Any) -> dict[str, type]:
    """The request Struct of every registered route (by path)."""
    found: dict[str, type] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            data = handler.parsed_fn_signature.parameters.get("data")
            annotation = getattr(data, "annotation", None)
            if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
                found[route.path] = annotation
    return found


def unbounded(info: Any, where: str, seen: set[type]) -> Iterator[str]:
    """Where (`Struct.field[]{}`) a type reachable from `info` has no bound."""
    if isinstance(info, msgspec.inspect.Metadata):
        yield from unbounded(info.type, where, seen)
    elif isinstance(info, msgspec.inspect.StructType):
        if info.cls in seen:
            return
        seen.add(info.cls)
        for field in info.fields:
            yield from unbounded(field.type, f"{info.cls.__name__}.{field.encode_name}", seen)
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from unbounded(member, where, seen)
    elif isinstance(info, msgspec.inspect.StrType):
        if info.max_length is None:
            yield f"{where}: a string without max_length"
    elif isinstance(info, msgspec.inspect.IntType):
        if (info.ge, info.gt) == (None, None) or (info.le, info.lt) == (None, None):
            yield f"{where}: an integer without a range"
    elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType):
        if info.max_length is None:
            yield f"{where}: a list without max_length"
        yield from unbounded(info.item_type, f"{where}[]", seen)
    elif isinstance(info, msgspec.inspect.DictType):
        if info.max_length is None:
            yield f"{where}: a map without max_length"
        yield from unbounded(info.key_type, f"{where} key", seen)
        yield from unbounded(info.value_type, f"{where}{{}}", seen)
    elif isinstance(info, msgspec.inspect.AnyType):
        if where not in ANY_JSON:
            yield f"{where}: any JSON, not in ANY_JSON"
    elif not isinstance(
        info,
        msgspec.inspect.BoolType
        | msgspec.inspect.NoneType
        | msgspec.inspect.LiteralType
        # IEEE doubles: JSON storage holds every one, and a literal beyond their range is refused while parsing
        | msgspec.inspect.FloatType,
    ):
        yield f"{where}: {type(info).__name__} is not known to be bounded"


def test_every_request_field_is_bounded(app: Any):
    types = request_types(app)
    assert len(types) > 40, types  # every domain's operations, not an empty walk
    seen: set[type] = set()
    problems = [problem for root in types.values() for problem in unbounded(msgspec.inspect.type_info(root), "", seen)]
    assert problems == [], "\n".join(problems)


def test_the_walk_finds_an_unbounded_field():
    class Unbounded(msgspec.Struct):
        name: str
        numbers: list[int]
        mapping: dict[str, str]

    found = list(unbounded(msgspec.inspect.type_info(Unbounded), "", set()))
    assert found == [
        "Unbounded.name: a string without max_length",
        "Unbounded.numbers: a list without max_length",
        "Unbounded.numbers[]: an integer without a range",
        "Unbounded.mapping: a map without max_length",
        "Unbounded.mapping key: a string without max_length",
        "Unbounded.mapping{}: a string without max_length",
    ]


# over the cap: 400 naming the field; at the cap: accepted (PostgreSQL's columns hold it) -------------------------


def text(length: int) -> str:
    return "x" * length


def owner_ids(admin: Actor, count: int) -> list[str]:
    return [admin.org.don("dev_user", number) for number in range(1, count + 1)]


# (operation, body of a value of size n, field named by the error, cap, status of a body at the cap)
Case = tuple[str, Callable[[Actor, int], dict[str, Any]], str, int, int]
CASES: dict[str, Case] = {
    "incident title": ("/incidents.create", lambda a, n: {"title": text(n)}, "title", MAX_TITLE, 201),
    "incident sync unit": (
        "/incidents.create",
        lambda a, n: {"title": "t", "sync_metadata": {"last_sync_in": {"sync_unit": text(n)}}},
        "sync_metadata.last_sync_in.sync_unit",
        MAX_SYNC_TEXT,
        201,
    ),
    "incident origin system": (
        "/incidents.create",
        lambda a, n: {"title": "t", "sync_metadata": {"origin_system": text(n)}},
        "sync_metadata.origin_system",
        MAX_NAME,
        201,
    ),
    "incident stage notes": (
        "/incidents.create",
        lambda a, n: {"title": "t", "stage": {"stage": "triage", "notes": text(n)}},
        "stage.notes",
        MAX_TEXT,
        201,
    ),
    "incident owners": (
        "/incidents.create",
        lambda a, n: {"title": "t", "owned_by": [a.don] * n},
        "owned_by",
        MAX_VALUES,
        201,
    ),
    "incident owners on update": (
        "/incidents.update",
        lambda a, n: {"id": "INC-1", "owned_by": {"set": [a.don] * n}},
        "owned_by.set",
        MAX_VALUES,
        200,
    ),
    "incident custom field name": (
        "/incidents.create",
        lambda a, n: {"title": "t", "custom_fields": {text(n): 1}},
        "custom_fields",
        MAX_NAME,
        400,  # a name of that length is no custom field of the org: refused by the schema, not by its length
    ),
    "list filter": ("/incidents.list", lambda a, n: {"owned_by": owner_ids(a, n)}, "owned_by", MAX_VALUES, 200),
    "incident id": ("/incidents.get", lambda a, n: {"id": text(n)}, "id", MAX_ID, 400),
    "cursor": ("/incidents.list", lambda a, n: {"cursor": text(n)}, "cursor", MAX_CURSOR, 400),
    "dev user email": (
        "/dev-users.create",
        lambda a, n: {"email": text(n - len("@e.test")) + "@e.test", "state": "active"},
        "email",
        MAX_EMAIL,
        201,
    ),
    "dev user full name": (
        "/dev-users.create",
        lambda a, n: {"email": "n@e.test", "state": "active", "full_name": text(n)},
        "full_name",
        MAX_NAME,
        201,
    ),
    "token hint": ("/auth-tokens.create", lambda a, n: {"token_hint": text(n)}, "token_hint", MAX_NAME, 201),
    "token scope": ("/auth-tokens.create", lambda a, n: {"scope": text(n)}, "scope", MAX_SCOPE, 201),
    "token type": (
        "/auth-tokens.create",
        lambda a, n: {"requested_token_type": text(n)},
        "requested_token_type",
        MAX_TOKEN_TYPE,
        201,
    ),
    "schema description": (
        "/schemas.custom.set",
        lambda a, n: {"type": "tenant_fragment", "leaf_type": "incident", "description": text(n)},
        "description",
        MAX_TEXT,
        201,
    ),
    "schema fields": (
        "/schemas.custom.set",
        lambda a, n: {
            "type": "tenant_fragment",
            "leaf_type": "incident",
            "description": "d",
            "fields": [{"name": f"f{i}", "field_type": "int"} for i in range(n)],
        },
        "fields",
        MAX_VALUES,
        201,
    ),
    "stage ordinal (32-bit column)": (
        "/stages.custom.list",
        lambda a, n: {"ordinal": [2**31 - 1 + n - 1]},  # at the cap: 2**31 - 1
        "ordinal[0]",
        1,
        200,
    ),
    "part name": (
        "/parts.create",
        lambda a, n: {"type": "product", "name": text(n), "owned_by": [a.don]},
        "name",
        MAX_NAME,
        201,
    ),
    "part owners": (
        "/parts.create",
        lambda a, n: {"type": "product", "name": "p", "owned_by": [a.don] * n},
        "owned_by",
        MAX_VALUES,
        201,
    ),
    "part level (32-bit)": (
        "/parts.list",
        lambda a, n: {"parent_part": {"parts": ["PROD-1"], "level": 2**31 - 1 + n - 1}},
        "parent_part.level",
        1,
        200,
    ),
    "tag name": ("/tags.create", lambda a, n: {"name": text(n)}, "name", MAX_NAME, 201),
    "tag allowed values": (
        "/tags.create",
        lambda a, n: {"name": "t", "allowed_values": ["v"] * n},
        "allowed_values",
        MAX_VALUES,
        400,  # tag values are not supported: a non-empty list is refused by the service
    ),
    "account tier": ("/accounts.create", lambda a, n: {"display_name": "a", "tier": text(n)}, "tier", 64, 201),
    "account domains": (
        "/accounts.create",
        lambda a, n: {"display_name": "a", "domains": [f"d{i}.test" for i in range(n)]},
        "domains",
        MAX_VALUES,
        201,
    ),
    "article title": (
        "/articles.create",
        lambda a, n: {"title": text(n), "owned_by": [a.don], "resource": {"url": "https://e.test"}},
        "title",
        MAX_NAME,
        201,
    ),
    "artifact file name": ("/artifacts.prepare", lambda a, n: {"file_name": text(n)}, "file_name", MAX_FILE_NAME, 200),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_a_value_over_its_cap_is_400_naming_the_field_and_one_at_it_is_accepted(
    client: httpx.AsyncClient, admin: Actor, case: Case
):
    operation, body, field_name, cap, status_at_cap = case
    if operation == "/incidents.update":
        created = await client.post("/incidents.create", json={"title": "t"}, headers=admin.headers)
        assert created.status_code == 201, created.text
    over = await client.post(operation, json=body(admin, cap + 1), headers=admin.headers)
    assert over.status_code == 400, over.text
    error = over.json()
    assert (error["type"], error["field_name"]) == ("invalid_field", field_name), error
    assert str(cap) in error["message"] or "out of range" in error["message"] or field_name == "ordinal[0]"
    at_cap = await client.post(operation, json=body(admin, cap), headers=admin.headers)
    assert at_cap.status_code == status_at_cap, at_cap.text
    if status_at_cap == 400:
        assert "at most" not in at_cap.json()["message"]  # refused for another reason than its size


async def test_get_parameters_carry_the_same_bounds(client: httpx.AsyncClient, admin: Actor):
    response = await client.get("/incidents.list", params={"title": text(MAX_NAME + 1)}, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["field_name"] == "title[0]"
    response = await client.get("/incidents.get", params={"id": text(MAX_ID + 1)}, headers=admin.headers)
    assert (response.status_code, response.json()["field_name"]) == (400, "id")


# numbers past 64 bits -------------------------------------------------------------------------------------------

HUGE = {"2**64": str(2**64), "5,000 digits": "9" * 5_000}
NUMBER_FIELDS = {
    "severity": ("/incidents.create", '{{"title": "t", "severity": {}}}', "severity"),
    "impact.count": ("/incidents.create", '{{"title": "t", "impact": {{"count": {}}}}}', "impact.count"),
    "custom field": (
        "/incidents.create",
        '{{"title": "t", "custom_fields": {{"tnt__n": {}}}}}',
        "custom_fields.tnt__n",
    ),
    "list item": ("/incidents.list", '{{"severity": [1, {}]}}', "severity[1]"),
    "limit": ("/incidents.list", '{{"limit": {}}}', "limit"),
    "expires_in": ("/auth-tokens.create", '{{"expires_in": {}}}', "expires_in"),
    "uenum id": (
        "/schemas.custom.set",
        '{{"type": "tenant_fragment", "leaf_type": "incident", "description": "d", "fields": [{{"name": "u", '
        '"field_type": "uenum", "allowed_values": [{{"id": 1, "label": "a", "ordinal": {}}}]}}]}}',
        "fields[0].allowed_values",  # the service converts each allowed value and names the list
    ),
}


@pytest.mark.parametrize("number", HUGE.values(), ids=HUGE.keys())
@pytest.mark.parametrize("case", NUMBER_FIELDS.values(), ids=NUMBER_FIELDS.keys())
async def test_an_integer_past_64_bits_is_400_naming_the_field(
    client: httpx.AsyncClient, admin: Actor, case: tuple[str, str, str], number: str
):
    operation, template, field_name = case
    body = template.format(number)
    response = await client.post(operation, content=body, headers={**admin.headers, "Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()
    if field_name == "severity" and len(number) < 30:
        # 2**64 is a JSON number the decoder holds: the enum check names it as an unknown severity
        assert error["type"] in ("invalid_field", "invalid_enum_value"), error
    else:
        assert error["type"] in ("invalid_field", "customization_validation_error"), error
    assert error["field_name"].startswith(field_name), error
    assert len(response.text) < 1_000  # the number is not echoed whole


async def test_a_double_past_its_range_is_400_naming_the_field(client: httpx.AsyncClient, admin: Actor):
    body = '{"title": "t", "custom_fields": {"tnt__d": 1e400}}'
    response = await client.post(
        "/incidents.create", content=body, headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["field_name"]) == (400, "custom_fields.tnt__d"), response.text


async def test_malformed_json_is_still_a_parse_error(client: httpx.AsyncClient, admin: Actor):
    response = await client.post(
        "/incidents.create", content=b'{"title": ', headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["type"]) == (400, "parse_error"), response.text


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        ({"title": "t", "impact": {"count": "x" * (MAX_NAME + 1)}}, "impact.count"),
        (
            {"title": "t", "sync_metadata": {"last_sync_out": {"sync_date": "x" * 65}}},
            "sync_metadata.last_sync_out.sync_date",
        ),
        ({"title": "t", "custom_fields": {"x" * (MAX_NAME + 1): 1}}, "custom_fields"),
        ({"title": "t", "tags": [{"tag_id": "TAG-1", "value": "x" * (MAX_NAME + 1)}]}, "tags[0].value"),
        (
            {"title": "t", "staged_info": {"unresolved_fields": ["x" * (MAX_NAME + 1)]}},
            "staged_info.unresolved_fields[0]",
        ),
    ],
)
async def test_nested_fields_are_named_by_their_whole_path(
    client: httpx.AsyncClient, admin: Actor, body: dict[str, Any], field_name: str
):
    response = await client.post("/incidents.create", json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert (response.json()["type"], response.json()["field_name"]) == ("invalid_field", field_name)


async def test_a_value_in_a_map_names_the_map(client: httpx.AsyncClient, admin: Actor):
    field = {"name": "e", "field_type": "enum", "allowed_values": ["a"], "translated_values": {"a": "x" * 257}}
    body = {"type": "tenant_fragment", "leaf_type": "incident", "description": "d", "fields": [field]}
    response = await client.post("/schemas.custom.set", json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["field_name"] == "fields[0].translated_values"


# stored values stay readable ----------------------------------------------------------------------------------


async def test_a_stored_fragment_beyond_todays_bounds_is_still_read(app: Any, client: httpx.AsyncClient, admin: Actor):
    response = await client.post(
        "/schemas.custom.set",
        json={
            "type": "tenant_fragment",
            "leaf_type": "incident",
            "description": "d",
            "fields": [{"name": "region", "field_type": "text", "description": "short"}],
        },
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    fragment_id = response.json()["id"]
    long_description = "y" * (MAX_TEXT + 10)  # as a release without the bound may have stored it
    async with app.state.db.write() as conn:
        rows = (await conn.execute(sa.select(fragments.c.number, fragments.c.fields))).all()
        for number, fields in rows:
            changed = [{**field, "description": long_description} for field in fields]
            await conn.execute(fragments.update().where(fragments.c.number == number).values(fields=changed))
    got = await client.post("/schemas.custom.get", json={"id": fragment_id}, headers=admin.headers)
    assert got.status_code == 200, got.text
    assert got.json()["fragment"]["fields"][0]["description"] == long_description
    created = await client.post(
        "/incidents.create",
        json={"title": "t", "custom_fields": {"tnt__region": "eu"}, "custom_schema_spec": {"tenant_fragment": True}},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text


async def test_the_openapi_document_shows_the_bounds(client: httpx.AsyncClient):
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    create = schemas["IncidentsCreateRequest"]["properties"]
    owned_by = create["owned_by"]
    assert owned_by["maxItems"] == MAX_VALUES
    assert owned_by["oneOf"][0]["items"] == {"type": "string", "minLength": 1, "maxLength": MAX_ID}
    custom_fields = create["custom_fields"]["oneOf"][0]
    assert (custom_fields["maxProperties"], custom_fields["propertyNames"]) == (MAX_VALUES, {"maxLength": MAX_NAME})
    assert create["severity"]["oneOf"][0]["maximum"] == 2**63 - 1
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/incidents.list"]["get"]["parameters"]}
    assert parameters["cursor"]["maxLength"] == MAX_CURSOR
    assert parameters["title"]["items"]["maxLength"] == MAX_NAME
