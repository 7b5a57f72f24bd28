"""timeline-entries.create / get / update / delete of comments on incidents."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from timeline_world import call, comment, new_incident

from conftest import ON_POSTGRES, Actor, add_principal
from contract import assert_conforms, bad


async def artifact(client: httpx.AsyncClient, actor: Actor, name: str = "log.txt") -> str:
    response = await client.post("/artifacts.prepare", json={"file_name": name}, headers=actor.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()["id"]


async def test_a_comment_nests_under_its_incident_with_devrev_defaults(client, admin: Actor):
    incident = await new_incident(client, admin)
    entry = await comment(client, admin, incident, body="Mitigation deployed", labels=["status-update"])
    assert entry["type"] == "timeline_comment"
    assert entry["id"].startswith(f"{incident['id']}:comment/")
    assert entry["object"] == incident["id"]
    assert entry["object_display_id"] == incident["display_id"]
    assert entry["object_type"] == "incident"
    assert entry["body"] == "Mitigation deployed"
    assert entry["body_type"] == "text"
    assert entry["visibility"] == "external"
    assert entry["panels"] == ["discussions"]
    assert entry["labels"] == ["status-update"]
    assert entry["created_by"]["id"] == admin.don
    assert entry["created_date"].endswith("Z")
    # private_to, collections and expires_at are write-only in DevRev's contract
    assert {"private_to", "collections", "expires_at"}.isdisjoint(entry)


async def test_the_object_may_be_a_display_id_and_get_answers_both_forms(client, admin: Actor):
    incident = await new_incident(client, admin)
    entry = await comment(client, admin, incident, object=incident["display_id"])
    assert entry["object"] == incident["id"]
    got = await call(client, admin, "get", {"id": entry["id"]})
    assert got["timeline_entry"] == entry
    response = await client.get("/timeline-entries.get", params={"id": entry["id"]}, headers=admin.headers)
    assert response.status_code == 200
    assert_conforms("/timeline-entries.get", "get", 200, response.json())
    assert response.json()["timeline_entry"] == entry
    short = entry["id"].replace(incident["id"], incident["display_id"])
    assert (await call(client, admin, "get", {"id": short}))["timeline_entry"] == entry


async def test_create_checks_its_input(client, admin: Actor):
    incident = await new_incident(client, admin)
    base = {"type": "timeline_comment", "object": incident["id"]}
    path = "/timeline-entries.create"
    error = await bad(client, admin, path, {**base, "type": "timeline_change_event"}, "invalid_enum_value", "type")
    assert error["allowed_values"] == ["timeline_comment"]
    await bad(client, admin, path, {"object": incident["id"]}, "missing_required_field", "type")
    await bad(client, admin, path, {**base, "labels": [f"l{n}" for n in range(17)]}, "invalid_field", "labels")
    await bad(client, admin, path, {**base, "labels": ["x" * 65]}, "invalid_field", "labels[0]")
    await bad(client, admin, path, {**base, "labels": [""]}, "invalid_field", "labels[0]")
    await bad(client, admin, path, {**base, "visibility": "secret"}, "invalid_enum_value", "visibility")
    await bad(client, admin, path, {**base, "body_type": "html"}, "invalid_enum_value", "body_type")
    await bad(client, admin, path, {**base, "collections": ["alerts"]}, "invalid_enum_value", "collections[0]")
    await bad(client, admin, path, {**base, "external_ref": "x" * 513}, "invalid_field", "external_ref")
    await bad(client, admin, path, {**base, "body": "x" * 65_537}, "invalid_field", "body")
    await bad(client, admin, path, {**base, "expires_at": "soon"}, "invalid_field", "expires_at")
    await bad(client, admin, path, {**base, "expires_at": "2020-01-01T00:00:00Z"}, "invalid_field", "expires_at")
    await bad(client, admin, path, {**base, "private_to": ["TAG-1"]}, "unexpected_id_type", "private_to[0]")
    await bad(client, admin, path, {**base, "private_to": ["DEVU-999"]}, "invalid_id", "private_to[0]")
    await bad(client, admin, path, {**base, "artifacts": ["ARTIFACT-999"]}, "invalid_id", "artifacts[0]")
    await bad(client, admin, path, {**base, "object": "TAG-1"}, "unexpected_id_type", "object")
    await bad(client, admin, path, {**base, "snap_widget_body": []}, "invalid_field", "snap_widget_body")
    missing = await client.post(path, json={**base, "object": "INC-999"}, headers=admin.headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == "not_found"


async def test_update_changes_body_and_external_ref_and_a_missing_type_means_comment(client, admin: Actor):
    incident = await new_incident(client, admin)
    entry = await comment(client, admin, incident, external_ref="ext-1")
    updated = (await call(client, admin, "update", {"id": entry["id"], "body": "Fixed", "body_type": "data"}))[
        "timeline_entry"
    ]
    assert (updated["body"], updated["body_type"], updated["external_ref"]) == ("Fixed", "data", "ext-1")
    typed = {"id": entry["id"], "type": "timeline_comment", "external_ref": None}
    cleared = (await call(client, admin, "update", typed))["timeline_entry"]
    assert "external_ref" not in cleared
    assert cleared["body"] == "Fixed"
    error = await bad(
        client,
        admin,
        "/timeline-entries.update",
        {"id": entry["id"], "type": "timeline_note"},
        "invalid_enum_value",
        "type",
    )
    assert error["allowed_values"] == ["timeline_comment"]
    assert (await call(client, admin, "get", {"id": entry["id"]}))["timeline_entry"] == cleared


async def test_external_ref_is_unique_per_timeline(client, admin: Actor):
    incident, other = await new_incident(client, admin), await new_incident(client, admin)
    first = await comment(client, admin, incident, external_ref="slack:123")
    body = {"type": "timeline_comment", "object": incident["id"], "external_ref": "slack:123"}
    assert (await call(client, admin, "create", body, 409))["type"] == "conflict"
    await comment(client, admin, other, external_ref="slack:123")  # another timeline: fine
    second = await comment(client, admin, incident, external_ref="slack:456")
    assert (await call(client, admin, "update", {"id": second["id"], "external_ref": "slack:123"}, 409))[
        "type"
    ] == "conflict"
    await call(client, admin, "update", {"id": first["id"], "external_ref": "slack:123"})  # its own: fine
    found = await call(client, admin, "get", {"id": second["id"], "external_ref": "slack:123"})
    assert found["timeline_entry"]["id"] == first["id"]
    by_object = await call(client, admin, "get", {"id": incident["id"], "external_ref": "slack:456"})
    assert by_object["timeline_entry"]["id"] == second["id"]
    await call(client, admin, "get", {"id": incident["id"], "external_ref": "nope"}, 404)


async def test_concurrent_creates_with_one_external_ref_give_one_201_and_409s(client, admin: Actor):
    incident = await new_incident(client, admin)
    body = {"type": "timeline_comment", "object": incident["id"], "external_ref": "race"}
    responses = await asyncio.gather(
        *(client.post("/timeline-entries.create", json=body, headers=admin.headers) for _ in range(8))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201] + [409] * 7, [r.text for r in responses]


@pytest.mark.skipif(not ON_POSTGRES, reason="the race past the check needs concurrent writers (PostgreSQL)")
async def test_the_unique_constraint_answers_409_when_two_writers_pass_the_check(app, admin: Actor, monkeypatch):
    from incidentd.timeline import service

    async def no_check(*args, **kwargs) -> None:
        return None

    monkeypatch.setattr(service, "_check_external_ref", no_check)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        incident = await new_incident(client, admin)
        body = {"type": "timeline_comment", "object": incident["id"], "external_ref": "race"}
        responses = await asyncio.gather(
            *(client.post("/timeline-entries.create", json=body, headers=admin.headers) for _ in range(6))
        )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 5, [r.text for r in responses]


async def test_artifacts_follow_the_one_parent_rule_and_update_adds_removes_sets(client, admin: Actor):
    incident = await new_incident(client, admin)
    first, second, third = [await artifact(client, admin, f"a{n}.txt") for n in range(3)]
    entry = await comment(client, admin, incident, artifacts=[first])
    assert [a["id"] for a in entry["artifacts"]] == [first]
    taken = await client.post(
        "/incidents.update", json={"id": incident["id"], "artifacts": {"set": [first]}}, headers=admin.headers
    )
    assert taken.status_code == 400
    assert taken.json()["type"] == "artifact_already_attached_to_a_parent"
    added = await call(client, admin, "update", {"id": entry["id"], "artifacts": {"add": [second, first]}})
    assert [a["id"] for a in added["timeline_entry"]["artifacts"]] == [first, second]
    removed = await call(client, admin, "update", {"id": entry["id"], "artifacts": {"remove": [first, third]}})
    assert [a["id"] for a in removed["timeline_entry"]["artifacts"]] == [second]
    replaced = await call(client, admin, "update", {"id": entry["id"], "artifacts": {"set": [third]}})
    assert [a["id"] for a in replaced["timeline_entry"]["artifacts"]] == [third]
    await bad(
        client,
        admin,
        "/timeline-entries.update",
        {"id": entry["id"], "artifacts": {"set": [first], "add": [second]}},
        "invalid_field",
        "artifacts",
    )
    # freed by the comment: the incident may take them now
    moved = await client.post(
        "/incidents.update", json={"id": incident["id"], "artifacts": {"set": [first, second]}}, headers=admin.headers
    )
    assert moved.status_code == 200, moved.text
    other = await new_incident(client, admin)
    stolen = await client.post(
        "/timeline-entries.create",
        json={"type": "timeline_comment", "object": other["id"], "artifacts": [third]},
        headers=admin.headers,
    )
    assert stolen.status_code == 400
    assert stolen.json()["type"] == "artifact_already_attached_to_a_parent"
    await call(client, admin, "delete", {"id": entry["id"]})
    freed = await client.post(
        "/incidents.update", json={"id": other["id"], "artifacts": {"set": [third]}}, headers=admin.headers
    )
    assert freed.status_code == 200, freed.text


async def test_delete_answers_empty_then_404(client, admin: Actor):
    incident = await new_incident(client, admin)
    entry = await comment(client, admin, incident)
    assert await call(client, admin, "delete", {"id": entry["id"]}) == {}
    await call(client, admin, "get", {"id": entry["id"]}, 404)
    await call(client, admin, "delete", {"id": entry["id"]}, 404)
    await call(client, admin, "update", {"id": entry["id"], "body": "again"}, 404)


async def test_change_events_are_read_only(client, admin: Actor):
    incident = await new_incident(client, admin)
    listed = await call(client, admin, "list", {"object": incident["id"]})
    (event,) = listed["timeline_entries"]
    assert event["type"] == "timeline_change_event"
    assert event["id"] == f"{incident['id']}:change_event/{event['id'].rsplit('/', 1)[1]}"
    assert (await call(client, admin, "update", {"id": event["id"], "body": "rewrite"}, 403))["type"] == "forbidden"
    assert (await call(client, admin, "delete", {"id": event["id"]}, 403))["type"] == "forbidden"
    assert (await call(client, admin, "get", {"id": event["id"]}))["timeline_entry"] == event


async def test_only_the_creator_or_an_admin_changes_a_comment(app, client, admin: Actor, member: Actor):
    incident = await new_incident(client, admin)
    mine = await comment(client, member, incident)
    theirs = await comment(client, admin, incident)
    await call(client, member, "update", {"id": mine["id"], "body": "edited"})
    assert (await call(client, member, "update", {"id": theirs["id"], "body": "x"}, 403))["type"] == "forbidden"
    assert (await call(client, member, "delete", {"id": theirs["id"]}, 403))["type"] == "forbidden"
    await call(client, admin, "update", {"id": mine["id"], "body": "moderated"})
    other_member = await add_principal(app, admin, email="m2@example.com", role="member")
    await call(client, other_member, "delete", {"id": mine["id"]}, 403)
    await call(client, member, "delete", {"id": mine["id"]})


async def test_malformed_entry_ids_are_not_found(client, admin: Actor):
    incident = await new_incident(client, admin)
    entry = await comment(client, admin, incident)
    other = await new_incident(client, admin)
    number = entry["id"].rsplit("/", 1)[1]
    for reference in (
        "comment/1",
        f"{other['id']}:comment/{number}",  # right number, wrong incident
        f"{incident['id']}:change_event/{number}",  # right number, wrong kind
        f"{incident['id']}:comment/99999999999999999999",
        f"TAG-1:comment/{number}",
    ):
        await call(client, admin, "get", {"id": reference}, 404)
