"""List filters: capped in length (400 naming the field), de-duplicated, and bound as one parameter, so that a
request's list length neither changes the statement's text nor grows the server's memory."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa
from world import create_incident, set_tenant_fragment

from conftest import Actor
from incidentd.kit.filters import MAX_VALUES


def _users(admin: Actor, count: int, first: int = 1) -> list[str]:
    return [admin.org.don("dev_user", number) for number in range(first, first + count)]


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.parametrize(
    ("operation", "body", "field_name"),
    [
        ("/incidents.list", {"owned_by": "users"}, "owned_by"),
        ("/incidents.group", {"group_by": "owned_by", "created_by": "users"}, "created_by"),
        ("/incidents.list", {"title": "titles"}, "title"),
        ("/incidents.list", {"sync_metadata": {"origin_system": "titles"}}, "sync_metadata.origin_system"),
        ("/incidents.list", {"custom_fields": {"tnt__region": "titles"}}, "custom_fields.tnt__region"),
        ("/parts.list", {"owned_by": "users"}, "owned_by"),
        ("/tags.list", {"name": "titles"}, "name"),
    ],
)
async def test_a_list_filter_over_the_cap_is_400_naming_the_field(
    client, admin: Actor, operation: str, body: dict[str, Any], field_name: str
):
    values = {"users": _users(admin, MAX_VALUES + 1), "titles": [f"t{n}" for n in range(MAX_VALUES + 1)]}

    def filled(document: Any) -> Any:
        if isinstance(document, dict):
            return {key: filled(value) for key, value in document.items()}
        return values.get(document, document)

    response = await client.post(operation, json=filled(body), headers=admin.headers)
    assert response.status_code == 400, response.text
    error = response.json()
    assert (error["type"], error["field_name"]) == ("invalid_field", field_name)
    assert f"at most {MAX_VALUES}" in error["message"]
    at_cap = filled(body)
    for document in (at_cap, at_cap.get("sync_metadata", {}), at_cap.get("custom_fields", {})):
        for key, value in document.items():
            if isinstance(value, list):
                document[key] = value[:MAX_VALUES]
    if "custom_fields" in at_cap:
        await set_tenant_fragment(client, admin, [{"name": "region", "field_type": "text"}])
    response = await client.post(operation, json=at_cap, headers=admin.headers)
    assert response.status_code == 200, response.text


async def test_duplicate_filter_values_match_as_one(client, admin: Actor):
    mine = await create_incident(client, admin, title="mine", owned_by=[admin.don])
    await create_incident(client, admin, title="other")
    for owners in ([admin.don], [admin.don] * 5 + _users(admin, 3, first=100)):
        response = await client.post("/incidents.list", json={"owned_by": owners}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert [incident["id"] for incident in response.json()["incidents"]] == [mine["id"]]
        grouped = await client.post(
            "/incidents.group", json={"group_by": "owned_by", "owned_by": owners}, headers=admin.headers
        )
        assert grouped.status_code == 200, grouped.text
        assert [(group["key"]["value"], group["total"]) for group in grouped.json()["groups"]] == [(admin.don, 1)]


async def test_the_statements_text_takes_few_shapes_whatever_the_list_length(app, client, admin: Actor):
    # Up to SPELLED_OUT_MAX values are spelled out, padded to 1, 2, 4 or 8 parameters; more are bound as one.
    await create_incident(client, admin, title="x", owned_by=[admin.don])
    statements: list[str] = []

    def capture(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engines = {engine.sync_engine for engine in app.state.db.engines}
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        texts: dict[int, tuple[str, ...]] = {}
        for count in (1, 2, 3, 4, 5, 7, 8, 9, 50, 300):
            statements.clear()
            filters = {"owned_by": _users(admin, count), "title": [f"t{n}" for n in range(count - 1)] + ["x"]}
            for operation, body in (("/incidents.list", filters), ("/incidents.group", {"group_by": "owned_by"})):
                response = await client.post(operation, json={**body, **filters}, headers=admin.headers)
                assert response.status_code == 200, response.text
            texts[count] = tuple(sorted(set(statements)))
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", capture)
    assert texts[3] == texts[4] and texts[5] == texts[7] == texts[8] and texts[9] == texts[50] == texts[300]
    assert len(set(texts.values())) == 5


async def test_memory_stays_flat_over_many_distinct_list_lengths(client, admin: Actor):
    # Before the lists were bound as one parameter, each length made statement texts of its own, cached per
    # connection: these 200 requests grew the process by 26.5 MB on SQLite; since, by 2.3 MB.
    await create_incident(client, admin, title="x", owned_by=[admin.don])
    warm = await client.post("/incidents.list", json={"owned_by": _users(admin, 10)}, headers=admin.headers)
    assert warm.status_code == 200
    before = _rss_bytes()
    for index in range(200):
        owners = _users(admin, MAX_VALUES - index)
        if index % 2:
            body: dict[str, Any] = {"group_by": "owned_by", "owned_by": owners}
            response = await client.post("/incidents.group", json=body, headers=admin.headers)
        else:
            response = await client.post("/incidents.list", json={"owned_by": owners}, headers=admin.headers)
        assert response.status_code == 200, response.text
    growth = _rss_bytes() - before
    assert growth < 12 * 2**20, f"resident set grew by {growth / 2**20:.1f} MB"
