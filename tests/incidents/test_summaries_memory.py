"""The parts, tags, articles and accounts a write reads are remembered by the process under the org's summaries
version (`memo.VersionedRows`, `incidents.rendering._REMEMBERED`): a write that read the same version takes them
from memory, a query fewer per kind, and every rename or delete, which raises the version in its own transaction,
makes the next write read them again. The current schema fragments likewise, under the org's fragments counter,
which every fragment set moves (`customization.service._current_fragments`). On SQLite a writer reads neither (it
holds the only write lock) and nothing is remembered."""

from __future__ import annotations

import re
from typing import Any

import pytest
from world import build_world, ok, set_tenant_fragment

from conftest import ON_POSTGRES, Actor, make_org
from incidentd import memo
from incidentd.accounts import service as accounts_service
from incidentd.articles import service as articles_service
from incidentd.customization import repository as customization_repository
from incidentd.parts import service as parts_service
from incidentd.tags import service as tags_service

KINDS = {"parts": parts_service, "tags": tags_service, "articles": articles_service, "accounts": accounts_service}


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[list[int]]]:
    """The numbers each kind's summaries were fetched for from the database, call by call."""
    calls: dict[str, list[list[int]]] = {kind: [] for kind in KINDS}
    for kind, module in KINDS.items():
        original = module.summaries

        async def counted(conn: Any, org: Any, numbers: Any, kind: str = kind, original: Any = original) -> Any:
            numbers = list(numbers)
            calls[kind].append(sorted(numbers))
            return await original(conn, org, numbers)

        monkeypatch.setattr(module, "summaries", counted)
    return calls


def _body(world: Any, title: str) -> dict[str, Any]:
    return {
        "title": title,
        "tags": [{"tag_id": world.tags[0]["id"]}],
        "applies_to_parts": [world.parts[0]["id"]],
        "playbooks": [world.articles[0]["id"]],
        "impact": {"customer_ids": [world.accounts[0]["id"]]},
    }


async def _create(client: Any, admin: Actor, body: dict[str, Any]) -> dict[str, Any]:
    return (await ok(await client.post("/incidents.create", json=body, headers=admin.headers), 201))["incident"]


async def test_a_write_takes_summaries_read_under_the_same_version_from_memory(client, admin: Actor, fetched):
    world = await build_world(client, admin, size=1)
    first = await _create(client, admin, _body(world, "first"))
    assert all(len(calls) == 1 for calls in fetched.values()), fetched

    second = await _create(client, admin, _body(world, "second"))
    expected_calls = 1 if ON_POSTGRES else 2  # SQLite: no version, no memory
    assert all(len(calls) == expected_calls for calls in fetched.values()), fetched
    for key in ("tags", "applies_to_parts", "playbooks", "impact"):
        assert second[key] == first[key], key  # the same summaries, whichever way they came

    # An update that sets them again takes them from memory as well.
    update = {"id": second["id"], "tags": {"set": [{"tag_id": world.tags[0]["id"]}]}}
    await ok(await client.post("/incidents.update", json=update, headers=admin.headers))
    if ON_POSTGRES:
        assert len(fetched["tags"]) == 1, fetched["tags"]
    else:
        assert len(fetched["tags"]) > 2, fetched["tags"]


async def test_after_a_rename_or_a_delete_the_next_write_reads_them_again(client, admin: Actor, fetched):
    world = await build_world(client, admin, size=1)
    await _create(client, admin, _body(world, "before"))
    renamed = {"id": world.tags[0]["id"], "name": "renamed-area"}
    await ok(await client.post("/tags.update", json=renamed, headers=admin.headers))
    await ok(
        await client.post(
            "/accounts.update",
            json={"id": world.accounts[0]["id"], "display_name": "Renamed Co"},
            headers=admin.headers,
        )
    )

    after = await _create(client, admin, _body(world, "after the renames"))
    assert after["tags"][0]["tag"]["name"] == "renamed-area"
    assert after["impact"]["customer_ids"][0]["display_name"] == "Renamed Co"
    assert all(len(calls) == 2 for calls in fetched.values()), fetched  # the version moved: every kind read again
    got = (await ok(await client.get("/incidents.get", params={"id": after["id"]}, headers=admin.headers)))["incident"]
    assert got == after

    await ok(await client.post("/parts.delete", json={"id": world.parts[0]["id"]}, headers=admin.headers))
    response = await client.post("/incidents.create", json=_body(world, "deleted part"), headers=admin.headers)
    assert response.status_code == 400, response.text
    assert "applies_to_parts" in response.text


async def test_a_write_that_rolls_back_remembers_nothing(client, admin: Actor, fetched):
    world = await build_world(client, admin, size=1)
    missing_artifact = re.sub(r":tag/\d+$", ":artifact/999999", world.tags[0]["id"])
    rejected = {**_body(world, "rejected"), "artifacts": [missing_artifact]}
    response = await client.post("/incidents.create", json=rejected, headers=admin.headers)
    assert response.status_code in (400, 404), response.text
    assert "artifacts" in response.text
    assert len(fetched["tags"]) == 1  # checked before the artifact was found missing

    await _create(client, admin, _body(world, "accepted"))
    assert len(fetched["tags"]) == 2, fetched["tags"]  # read again: the rejected write's reads were not kept


async def test_another_orgs_remembered_summaries_are_not_found(app, client, admin: Actor, fetched):
    world = await build_world(client, admin, size=1)
    await _create(client, admin, _body(world, "fills the memory"))
    other = await make_org(app, "other-org")
    for field, value in (
        ("tags", [{"tag_id": world.tags[0]["id"]}]),
        ("applies_to_parts", [world.parts[0]["id"]]),
        ("playbooks", [world.articles[0]["id"]]),
        ("impact", {"customer_ids": [world.accounts[0]["id"]]}),
    ):
        response = await client.post(
            "/incidents.create", json={"title": "other org", field: value}, headers=other.headers
        )
        assert response.status_code in (400, 404), (field, response.text)


async def test_the_current_schema_fragment_is_remembered_until_a_new_one_is_set(
    client, admin: Actor, monkeypatch: pytest.MonkeyPatch
):
    reads: list[list[str]] = []
    original = customization_repository.current_fragments

    async def counted(conn: Any, dev_org_id: int, *, leaf_type: str, lineages: Any = None) -> Any:
        if lineages is not None:
            reads.append(sorted(lineages))
        return await original(conn, dev_org_id, leaf_type=leaf_type, lineages=lineages)

    monkeypatch.setattr(customization_repository, "current_fragments", counted)
    first_fragment = await set_tenant_fragment(client, admin, [{"name": "region", "field_type": "text"}])
    spec = {"tenant_fragment": True}
    body = {"title": "one", "custom_schema_spec": spec, "custom_fields": {"tnt__region": "eu"}}
    first = await _create(client, admin, body)
    second = await _create(client, admin, {**body, "title": "two"})
    assert first["custom_schema_fragments"] == second["custom_schema_fragments"]
    assert first_fragment in second["custom_schema_fragments"]
    assert len(reads) == (1 if ON_POSTGRES else 2), reads

    # A new version of the fragment: the next create reads the current one again, and takes its new field.
    second_fragment = await set_tenant_fragment(
        client, admin, [{"name": "region", "field_type": "text"}, {"name": "service", "field_type": "text"}]
    )
    assert second_fragment != first_fragment
    third = await _create(
        client,
        admin,
        {"title": "three", "custom_schema_spec": spec, "custom_fields": {"tnt__region": "eu", "tnt__service": "pay"}},
    )
    assert second_fragment in third["custom_schema_fragments"]
    assert third["custom_fields"]["tnt__service"] == "pay"
    assert len(reads) == (2 if ON_POSTGRES else 3), reads

    # A field the current fragment does not declare is refused, its fragment taken from memory.
    response = await client.post(
        "/incidents.create",
        json={"title": "four", "custom_schema_spec": spec, "custom_fields": {"tnt__nope": 1}},
        headers=admin.headers,
    )
    assert response.status_code == 400, response.text
    assert "tnt__nope" in response.text


async def test_rows_serve_only_the_version_they_were_read_under(app):
    memory: memo.VersionedRows[int, str] = memo.VersionedRows(max_entries=3)
    reads: list[tuple[int, list[int]]] = []

    def reader(version: int) -> Any:
        async def fetch(keys: list[int]) -> dict[int, str]:
            reads.append((version, sorted(keys)))
            return {key: f"{key}@{version}" for key in keys}

        return fetch

    async with app.state.db.read() as conn:  # outside a write: remembered at once
        assert await memory.get(conn, 1, 5, [1, 2], reader(5)) == {1: "1@5", 2: "2@5"}
        assert await memory.get(conn, 1, 5, [1, 2], reader(5)) == {1: "1@5", 2: "2@5"}
        assert reads == [(5, [1, 2])]
        assert await memory.get(conn, 2, 5, [1], reader(5)) == {1: "1@5"}  # another org: its own rows
        assert reads[-1] == (5, [1])

        assert await memory.get(conn, 1, 6, [1], reader(6)) == {1: "1@6"}  # a newer version forgets the older
        assert await memory.get(conn, 1, 5, [2], reader(5)) == {2: "2@5"}  # an older one is not served...
        assert await memory.get(conn, 1, 6, [2], reader(6)) == {2: "2@6"}  # ...nor remembered
        assert reads[-3:] == [(6, [1]), (5, [2]), (6, [2])]
        assert await memory.get(conn, 1, 6, [1, 2], reader(6)) == {1: "1@6", 2: "2@6"}
        assert reads[-1] == (6, [2])

        await memory.get(conn, 3, 1, [7, 8], reader(1))  # past max_entries: everything is forgotten
        await memory.get(conn, 1, 6, [1], reader(6))
        assert reads[-1] == (6, [1])
