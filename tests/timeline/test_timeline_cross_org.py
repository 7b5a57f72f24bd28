"""Another org's incidents and timeline entries are exactly as absent as ones that do not exist, for every
timeline operation."""

from __future__ import annotations

from timeline_world import call, comment, new_incident

from conftest import Actor, make_org


async def test_another_orgs_ids_get_nothing_from_any_timeline_operation(app, client, admin: Actor):
    other = await make_org(app, "other")
    theirs = await new_incident(client, other)
    their_entry = await comment(client, other, theirs, external_ref="theirs")
    mine = await new_incident(client, admin)
    create = {"type": "timeline_comment", "object": theirs["id"], "body": "hi"}
    assert (await call(client, admin, "create", create, 404))["type"] == "not_found"
    await call(client, admin, "get", {"id": their_entry["id"]}, 404)
    # their entry's id with the display id of the caller's own INC-1 names no entry of the caller's either
    await call(client, admin, "get", {"id": their_entry["id"].replace(theirs["id"], mine["display_id"])}, 404)
    await call(client, admin, "get", {"id": theirs["id"], "external_ref": "theirs"}, 404)
    await call(client, admin, "list", {"object": theirs["id"]}, 404)
    await call(client, admin, "update", {"id": their_entry["id"], "body": "mine now"}, 404)
    await call(client, admin, "delete", {"id": their_entry["id"]}, 404)
    private_to = {"type": "timeline_comment", "object": mine["id"], "private_to": [other.don]}
    assert (await call(client, admin, "create", private_to, 400))["type"] == "invalid_id"
    their_artifact = await client.post("/artifacts.prepare", json={"file_name": "x.txt"}, headers=other.headers)
    artifacts = {"type": "timeline_comment", "object": mine["id"], "artifacts": [their_artifact.json()["id"]]}
    assert (await call(client, admin, "create", artifacts, 400))["type"] == "invalid_id"
    # and nothing of theirs changed
    entry = (await call(client, other, "get", {"id": their_entry["id"]}))["timeline_entry"]
    assert entry == their_entry
