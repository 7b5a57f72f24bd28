"""Stored incident documents (`incidents.documents`): a get or a list answers an incident's stored JSON when it is
current, and exactly what rendering would answer; renames, deletes and imports never let a stale one through."""

from __future__ import annotations

import sqlite3
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from world import build_world, ok

from conftest import Actor, make_org
from incidentd.incidents import documents, documents_repository, reading
from incidentd.incidents.tables import incident_documents
from incidentd.principal import OrgScope

Body = dict[str, Any]


class RenderCount:
    """Counts the incidents `incidents.reading` renders (the reads that did not find a current document)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rendered: list[int] = []
        original = reading.render

        async def counting(conn: Any, org: OrgScope, rows: list[Any]) -> Any:
            self.rendered += [row.number for row in rows]
            return await original(conn, org, rows)

        monkeypatch.setattr(reading, "render", counting)


async def get(client: httpx.AsyncClient, actor: Actor, incident_id: str) -> Body:
    return (await ok(await client.get("/incidents.get", params={"id": incident_id}, headers=actor.headers)))["incident"]


async def listed(client: httpx.AsyncClient, actor: Actor) -> list[Body]:
    return (await ok(await client.post("/incidents.list", json={"limit": 100}, headers=actor.headers)))["incidents"]


async def rendered_now(client: httpx.AsyncClient, actor: Actor, monkeypatch: pytest.MonkeyPatch) -> list[Body]:
    """Every incident of the actor's org as rendering answers it, ignoring stored documents."""
    with monkeypatch.context() as patch:

        async def none(*args: Any, **kwargs: Any) -> dict[int, bytes]:
            return {}

        patch.setattr(documents, "current_many", none)
        return await listed(client, actor)


async def rich_incidents(client: httpx.AsyncClient, admin: Actor) -> list[Body]:
    world = await build_world(client, admin, size=2)
    made = []
    for index in range(3):
        body = {
            "title": f"documented {index}",
            "body": "**markdown** body",
            "severity": "sev1",
            "owned_by": [admin.don],
            "tags": [{"tag_id": world.tags[index % 2]["id"], "value": "v"}],
            "applies_to_parts": [world.parts[0]["id"]],
            "playbooks": [world.articles[0]["id"]],
            "impact": {"customer_ids": [world.accounts[0]["id"]]},
        }
        made.append(
            (await ok(await client.post("/incidents.create", json=body, headers=admin.headers), 201))["incident"]
        )
    return made


async def test_reads_answer_the_stored_document_which_equals_a_fresh_rendering(
    client, admin: Actor, monkeypatch: pytest.MonkeyPatch
):
    made = await rich_incidents(client, admin)
    await ok(
        await client.post(
            "/incidents.update",
            json={"id": made[0]["id"], "stage": {"stage": "acknowledged"}, "owned_by": {"set": []}, "severity": "sev0"},
            headers=admin.headers,
        )
    )
    counter = RenderCount(monkeypatch)
    got = [await get(client, admin, incident["id"]) for incident in made]
    page = await listed(client, admin)
    assert counter.rendered == []  # every read came from a stored document
    fresh = await rendered_now(client, admin, monkeypatch)
    assert page == fresh
    assert sorted(got, key=lambda i: i["id"]) == sorted(fresh, key=lambda i: i["id"])
    assert got[1] == made[1] and got[0]["severity"]["label"] == "sev-0" and "owned_by" not in got[0]


async def test_a_rename_makes_documents_stale_until_refreshed(app, client, admin: Actor, monkeypatch):
    made = await rich_incidents(client, admin)
    tag_id = made[0]["tags"][0]["tag"]["id"]
    await ok(await client.post("/tags.update", json={"id": tag_id, "name": "renamed-tag"}, headers=admin.headers))
    counter = RenderCount(monkeypatch)
    shown = await get(client, admin, made[0]["id"])
    assert shown["tags"][0]["tag"]["name"] == "renamed-tag"
    assert counter.rendered  # the stored document was stale

    db = app.state.db
    assert await documents.refresh(db, admin.org) == len(made)
    assert await documents.refresh(db, admin.org) == 0  # nothing left to store
    counter.rendered.clear()
    page = await listed(client, admin)
    assert counter.rendered == []
    assert [i["tags"][0]["tag"]["name"] for i in page if i["id"] == made[0]["id"]] == ["renamed-tag"]


async def test_every_rename_kind_raises_the_summaries_version(app, client, admin: Actor):
    world = await build_world(client, admin, size=1)
    db = app.state.db

    async def version() -> int:
        async with db.read() as conn:
            return await documents_repository.summaries_version(conn, admin.org.dev_org_id)

    before = await version()
    for path, body in (
        ("/tags.update", {"id": world.tags[0]["id"], "name": "t2"}),
        ("/parts.update", {"id": world.parts[0]["id"], "type": "product", "name": "p2"}),
        ("/articles.update", {"id": world.articles[0]["id"], "title": "a2"}),
        ("/accounts.update", {"id": world.accounts[0]["id"], "display_name": "c2"}),
    ):
        await ok(await client.post(path, json=body, headers=admin.headers))
        after = await version()
        assert after > before, path
        before = after
    await ok(await client.post("/tags.create", json={"name": "brand-new"}, headers=admin.headers), 201)
    assert await version() == before  # a new object changes no incident's answer


async def test_delete_removes_the_document_and_other_orgs_never_see_one(app, client, admin: Actor):
    other = await make_org(app, "other-docs")
    theirs = await ok(await client.post("/incidents.create", json={"title": "theirs"}, headers=other.headers), 201)
    mine = await ok(await client.post("/incidents.create", json={"title": "mine"}, headers=admin.headers), 201)
    # Both are INC-1 of their orgs; each org's id finds only its own document.
    assert (await get(client, admin, mine["incident"]["display_id"]))["title"] == "mine"
    foreign = await client.get("/incidents.get", params={"id": theirs["incident"]["id"]}, headers=admin.headers)
    assert foreign.status_code == 404
    await ok(await client.post("/incidents.delete", json={"id": mine["incident"]["id"]}, headers=admin.headers))
    gone = await client.get("/incidents.get", params={"id": mine["incident"]["id"]}, headers=admin.headers)
    assert gone.status_code == 404
    async with app.state.db.read() as conn:
        numbers = (
            await conn.execute(
                sa.select(incident_documents.c.incident_number).where(
                    incident_documents.c.dev_org_id == admin.org.dev_org_id
                )
            )
        ).all()
    assert numbers == []
    assert (await get(client, other, theirs["incident"]["id"]))["title"] == "theirs"


async def test_a_document_of_another_format_is_not_current(app, client, admin: Actor, monkeypatch):
    made = await ok(await client.post("/incidents.create", json={"title": "formatted"}, headers=admin.headers), 201)
    monkeypatch.setattr(documents, "FORMAT_VERSION", documents.FORMAT_VERSION + 1)
    counter = RenderCount(monkeypatch)
    assert (await get(client, admin, made["incident"]["id"])) == made["incident"]
    assert counter.rendered == [1]


async def test_the_point_read_agrees_with_the_unit_of_work_read(app, client, admin: Actor):
    made = await rich_incidents(client, admin)
    db = app.state.db
    numbers = [int(incident["id"].rsplit("/", 1)[1]) for incident in made]

    async def both(number: int) -> tuple[bytes | None, bytes | None]:
        async with db.read() as conn:
            through_unit = await documents.current(conn, admin.org, number)
        return through_unit, await documents.current_point(db, admin.org, number)

    for number in [*numbers, 999]:
        through_unit, now = await both(number)
        assert through_unit == now and (through_unit is not None) == (number != 999)
    tag_id = made[0]["tags"][0]["tag"]["id"]
    await ok(await client.post("/tags.update", json={"id": tag_id, "name": "stale-now"}, headers=admin.headers))
    for number in numbers:
        assert await both(number) == (None, None)  # stale under the new summaries version


def test_a_point_read_never_creates_a_missing_database(tmp_path):
    from incidentd import sqlite_inline

    reader = sqlite_inline.PointReader(f"sqlite:///{tmp_path}/absent.db", 0)
    with pytest.raises(sqlite3.Error):
        reader.first_row("SELECT 1", ())
    assert not (tmp_path / "absent.db").exists()
