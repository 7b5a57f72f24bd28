"""Malformed input of every class the hardening review found (issue 14) gets a DevRev-shaped 4xx naming what is
wrong, never a 500: JSON nested too deeply, forged cursors, integers written in other digits or thousands of them,
numbers out of range, fractions where integers are expected."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from conftest import Actor
from incidentd.errors import InvalidField
from incidentd.identity import service as identity
from incidentd.identity.tables import auth_tokens
from incidentd.kit.bounds import MAX_NAME

DEEP = 1_000


def deep_array(depth: int = DEEP) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int = DEEP) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def assert_bad_request(response: httpx.Response, error_type: str, field_name: str | None = None) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == error_type, body
    assert body["message"]
    if field_name is not None:
        assert body["field_name"] == field_name, body
    return body


# JSON nested too deeply ------------------------------------------------------------------------------------

BODY_PATHS = ["/incidents.create", "/incidents.update", "/incidents.list", "/incidents.group", "/auth-tokens.create"]


@pytest.mark.parametrize("path", BODY_PATHS)
@pytest.mark.parametrize("body", [deep_array(), deep_object(), '{"title": "x", "custom_fields": ' + deep_array() + "}"])
async def test_a_deeply_nested_body_is_a_parse_error(client: httpx.AsyncClient, admin: Actor, path: str, body: str):
    response = await client.post(path, content=body, headers={**admin.headers, "Content-Type": "application/json"})
    error = assert_bad_request(response, "parse_error")
    assert "deeper than 64 levels" in error["message"]


async def test_nesting_up_to_the_bound_reaches_the_field_checks(client: httpx.AsyncClient, admin: Actor):
    body = '{"title": "x", "custom_fields": {"tnt__a": ' + deep_array(62) + "}}"  # 64 levels in all
    response = await client.post("/incidents.create", content=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["type"] != "parse_error"


@pytest.mark.parametrize("path", ["/incidents.list", "/incidents.group"])
async def test_a_deeply_nested_json_parameter_is_a_parse_error(client: httpx.AsyncClient, admin: Actor, path: str):
    params = {"custom_fields": '{"tnt__a": ' + deep_array() + "}", "group_by": "severity"}
    response = await client.get(path, params=params, headers=admin.headers)
    error = assert_bad_request(response, "parse_error")
    assert "custom_fields" in error["message"]


def forged_cursor(values: bytes) -> str:
    payload = b"\x93" + values + b"\xa5after" + msgspec.msgpack.encode("0123456789abcdef")
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode("ascii")


FORGED_CURSORS = {
    "deep": forged_cursor(b"\x91" * 5_000 + b"\x90"),
    "map": forged_cursor(b"\x91\x81\xa1a\x01"),
    "four levels": forged_cursor(b"\x91\x91\x91\x91\x90"),
}


@pytest.mark.parametrize("path", ["/incidents.list", "/incidents.group", "/tags.list", "/dev-users.list"])
@pytest.mark.parametrize("cursor", FORGED_CURSORS.values(), ids=FORGED_CURSORS.keys())
async def test_a_forged_cursor_is_a_bad_request(client: httpx.AsyncClient, admin: Actor, path: str, cursor: str):
    params = {"cursor": cursor, "group_by": "severity"} if path == "/incidents.group" else {"cursor": cursor}
    get = await client.get(path, params=params, headers=admin.headers)
    post = await client.post(path, json=params, headers=admin.headers)
    for response in (get, post):
        error = assert_bad_request(response, "bad_request")
        assert "cursor" in error["message"]


# integers as text ------------------------------------------------------------------------------------------

BAD_INTEGER_TEXTS = {"superscript two": "²", "arabic-indic three": "٣", "5,000 digits": "9" * 5_000, "1e12": "1e12"}
ENUM_FIELDS = {"severity": "severity", "reported_by": "reported_by", "impact.count": "impact"}


def enum_error(text: str) -> str:
    """The error of an enum id written as `text`: a string longer than an enum name may be (kit.bounds.MAX_NAME)
    is refused by its length before it is read as a number."""
    return "invalid_field" if len(text) > MAX_NAME else "invalid_enum_value"


def with_field(body: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    if field == "impact.count":
        return {**body, "impact": {"count": value}}
    return {**body, field: value}


@pytest.mark.parametrize("field", ENUM_FIELDS)
@pytest.mark.parametrize("text", BAD_INTEGER_TEXTS.values(), ids=BAD_INTEGER_TEXTS.keys())
async def test_enum_ids_in_other_digits_are_refused_by_create_and_update(
    client: httpx.AsyncClient, admin: Actor, field: str, text: str
):
    created = await client.post("/incidents.create", json={"title": "kept", "severity": 2}, headers=admin.headers)
    assert created.status_code == 201, created.text
    incident = created.json()["incident"]

    response = await client.post(
        "/incidents.create", json=with_field({"title": "x"}, field, text), headers=admin.headers
    )
    error = assert_bad_request(response, enum_error(text), field)
    assert len(error.get("value", "")) < 100  # a 5,000-digit value is not echoed whole
    assert len(error["message"]) < 200

    update = with_field({"id": incident["id"], "title": "changed"}, field, text)
    assert_bad_request(
        await client.post("/incidents.update", json=update, headers=admin.headers), enum_error(text), field
    )
    after = await client.post("/incidents.get", json={"id": incident["id"]}, headers=admin.headers)
    assert after.json()["incident"] == incident
    listed = await client.post("/incidents.list", json={}, headers=admin.headers)
    assert [item["title"] for item in listed.json()["incidents"]] == ["kept"]


@pytest.mark.parametrize("path", ["/incidents.list", "/incidents.group"])
@pytest.mark.parametrize("field", ["severity", "reported_by", "source"])
@pytest.mark.parametrize("text", BAD_INTEGER_TEXTS.values(), ids=BAD_INTEGER_TEXTS.keys())
async def test_enum_ids_in_other_digits_are_refused_by_list_and_group(
    client: httpx.AsyncClient, admin: Actor, path: str, field: str, text: str
):
    extra = {"group_by": "severity"} if path == "/incidents.group" else {}
    get = await client.get(path, params={field: text, **extra}, headers=admin.headers)
    post = await client.post(path, json={field: [text], **extra}, headers=admin.headers)
    for response in (get, post):
        assert_bad_request(response, enum_error(text), f"{field}[0]")


# numbers out of range ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "message"),
    [
        (1e12, "expires_in: must be at most 36500"),
        (10**12, "expires_in: must be at most 36500"),
        (3_000_000, "expires_in: must be at most 36500"),  # past the year 9999
        (36_501, "expires_in: must be at most 36500"),
        (-1, "expires_in: must be at least 0"),
        (1.5, "expires_in: expected an integer, got a fraction"),
    ],
)
async def test_token_lifetimes_out_of_range_are_refused(
    client: httpx.AsyncClient, admin: Actor, expires_in: Any, message: str
):
    response = await client.post("/auth-tokens.create", json={"expires_in": expires_in}, headers=admin.headers)
    error = assert_bad_request(response, "invalid_field", "expires_in")
    assert error["message"] == message
    listed = await client.get("/auth-tokens.list", headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["tokens"]) == 1  # the admin's own; no dead token was issued


async def test_the_longest_token_lifetime_is_listed(client: httpx.AsyncClient, admin: Actor):
    response = await client.post("/auth-tokens.create", json={"expires_in": 36_500}, headers=admin.headers)
    assert response.status_code == 201, response.text
    assert 36_499 * 86_400 < response.json()["expires_in"] <= 36_500 * 86_400
    listed = await client.get("/auth-tokens.list", headers=admin.headers)
    assert listed.status_code == 200, listed.text
    assert sorted(token.get("expires_at", "")[:2] for token in listed.json()["tokens"]) == ["", "21"]


async def test_the_service_refuses_what_the_wire_would(app: Any, admin: Actor):
    for days in (-1, 36_501, 10**12):
        with pytest.raises(InvalidField) as raised:
            async with app.state.db.write() as conn:
                await identity.issue_token(conn, admin.org, admin.user_number, expires_in_days=days)
        assert raised.value.fields == {"field_name": "expires_in"}


async def test_a_token_stored_with_an_expiry_past_9999_does_not_break_the_list(
    client: httpx.AsyncClient, app: Any, admin: Actor
):
    """Rows written before the bound existed: the list shows the latest time RFC 3339 can write."""
    async with app.state.db.write() as conn:
        issued = await identity.issue_token(conn, admin.org, admin.user_number, expires_in_days=1)
        await conn.execute(
            sa.update(auth_tokens).where(auth_tokens.c.number == issued.number).values(expires_at=10**12 * 86_400)
        )
    listed = await client.get("/auth-tokens.list", headers=admin.headers)
    assert listed.status_code == 200, listed.text
    expiries = [token.get("expires_at") for token in listed.json()["tokens"]]
    assert "9999-12-31T23:59:59.999Z" in expiries


def test_the_cli_refuses_an_expiry_past_the_bound_and_lists_a_stored_one(database_url: str, monkeypatch):
    from typer.testing import CliRunner

    from incidentd import db as database
    from incidentd.cli import app as cli
    from incidentd.config import Settings

    monkeypatch.setenv("INCIDENTD_AUTO_MIGRATE", "false")

    async def setup() -> None:
        db = database.Database(Settings(database_url=database_url))
        try:
            created = await identity.bootstrap(db, admin_email="admin@incidentd.local")
            assert created is not None
            async with db.write() as conn:
                issued = await identity.issue_token(conn, created.org, created.admin_number, expires_in_days=1)
                await conn.execute(
                    sa.update(auth_tokens).where(auth_tokens.c.number == issued.number).values(expires_at=2**62)
                )
        finally:
            await db.dispose()

    asyncio.run(setup())
    runner = CliRunner()
    base = ["--database-url", database_url]
    refused = runner.invoke(
        cli, ["token", "create", "--user", "admin@incidentd.local", "--expires-in-days", "3000000", *base]
    )
    assert refused.exit_code == 1
    assert "expires_in must be between 0 (never expires) and 36500 days" in refused.output
    listed = runner.invoke(cli, ["token", "list", *base])
    assert listed.exit_code == 0, listed.output
    assert "9999-12-31T23:59:59.999Z" in listed.output


# fractions where integers are expected -------------------------------------------------------------------

FRACTIONS = [
    ("/incidents.list", {"limit": 1.5}, "limit"),
    ("/incidents.group", {"group_by": "severity", "limit_per_group": 2.5}, "limit_per_group"),
    ("/incidents.create", {"title": "x", "severity": 1.5}, "severity"),
    ("/incidents.create", {"title": "x", "impact": {"count": 2.5}}, "impact.count"),
    ("/auth-tokens.create", {"expires_in": 1.5}, "expires_in"),
    ("/tags.list", {"limit": 0.5}, "limit"),
]


@pytest.mark.parametrize(("path", "body", "field"), FRACTIONS)
async def test_a_fraction_where_an_integer_is_expected_says_so(
    client: httpx.AsyncClient, admin: Actor, path: str, body: dict[str, Any], field: str
):
    error = assert_bad_request(await client.post(path, json=body, headers=admin.headers), "invalid_field", field)
    assert error["message"] == f"{field}: expected an integer, got a fraction"


async def test_text_in_a_get_integer_parameter_says_an_integer_is_expected(client: httpx.AsyncClient, admin: Actor):
    response = await client.get("/incidents.list", params={"limit": "1.5"}, headers=admin.headers)
    error = assert_bad_request(response, "unexpected_json_type", "limit")
    assert error["message"] == "limit: expected an integer, got string"
    response = await client.get("/incidents.list", params={"limit": "9" * 5_000}, headers=admin.headers)
    assert_bad_request(response, "invalid_field", "limit")


@pytest.mark.parametrize("text", ["٣", "9" * 5_000])
async def test_custom_int_filters_take_ascii_digits_only(client: httpx.AsyncClient, admin: Actor, text: str):
    fragment = {"type": "tenant_fragment", "description": "f", "leaf_type": "incident"}
    fields = [{"name": "shards", "field_type": "int"}]
    made = await client.post("/schemas.custom.set", json={**fragment, "fields": fields}, headers=admin.headers)
    assert made.status_code == 201, made.text
    body = {"title": "x", "custom_fields": {"tnt__shards": 3}, "custom_schema_spec": {"tenant_fragment": True}}
    three = await client.post("/incidents.create", json=body, headers=admin.headers)
    assert three.status_code == 201, three.text
    as_text = await client.post("/incidents.list", json={"custom_fields": {"tnt__shards": "3"}}, headers=admin.headers)
    assert [item["title"] for item in as_text.json()["incidents"]] == ["x"]
    response = await client.post(
        "/incidents.list", json={"custom_fields": {"tnt__shards": text}}, headers=admin.headers
    )
    assert response.status_code == 400, response.text
    assert "tnt__shards" in response.json().get("field_name", "")
