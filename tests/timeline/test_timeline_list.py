"""timeline-entries.list: filters, keyset cursors both ways, private entries, expiry, and the history of a
deleted incident."""

from __future__ import annotations

import asyncio

from timeline_world import call, comment, entries, new_incident

from conftest import Actor, add_principal, running
from contract import assert_conforms, bad
from incidentd.app import create_app
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.timeline import service


async def test_oldest_first_default_50_and_cursors_both_ways(client, admin: Actor):
    incident = await new_incident(client, admin)
    made = [await comment(client, admin, incident, body=f"note {n}") for n in range(60)]
    everything = [entry["id"] for entry in await entries(client, admin, incident["id"])]
    assert everything[1:] == [entry["id"] for entry in made]  # the `created` change event comes first
    first = await call(client, admin, "list", {"object": incident["id"]})
    assert len(first["timeline_entries"]) == 50
    assert "prev_cursor" not in first
    second = await call(client, admin, "list", {"object": incident["id"], "cursor": first["next_cursor"]})
    assert [e["id"] for e in second["timeline_entries"]] == everything[50:]
    assert "next_cursor" not in second
    back = await call(
        client, admin, "list", {"object": incident["id"], "cursor": second["prev_cursor"], "mode": "before", "limit": 7}
    )
    assert [e["id"] for e in back["timeline_entries"]] == everything[43:50]
    assert back["next_cursor"] and back["prev_cursor"]
    last = await call(client, admin, "list", {"object": incident["id"], "mode": "before", "limit": 5})
    assert [e["id"] for e in last["timeline_entries"]] == everything[-5:]
    assert "next_cursor" not in last
    await bad(client, admin, "/timeline-entries.list", {"object": incident["id"], "limit": 0}, "invalid_field", "limit")
    other_filters = {"object": incident["id"], "labels": ["x"], "cursor": first["next_cursor"]}
    response = await client.post("/timeline-entries.list", json=other_filters, headers=admin.headers)
    assert response.status_code == 400
    assert response.json()["type"] == "bad_request"


async def test_get_form_with_comma_separated_filters(client, admin: Actor):
    incident = await new_incident(client, admin)
    tagged = await comment(client, admin, incident, labels=["a"], visibility="internal")
    await comment(client, admin, incident, labels=["b"], visibility="public")
    params = {"object": incident["display_id"], "labels": '"a","c"', "visibility": "internal,private", "limit": "5"}
    response = await client.get("/timeline-entries.list", params=params, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/timeline-entries.list", "get", 200, response.json())
    assert [e["id"] for e in response.json()["timeline_entries"]] == [tagged["id"]]


async def test_filters_by_collections_panels_labels_visibility_and_created_date(client, admin: Actor):
    incident = await new_incident(client, admin)
    started = now_ms()
    red = await comment(client, admin, incident, labels=["red", "urgent"], visibility="internal")
    blue = await comment(client, admin, incident, labels=["blue"], collections=["discussions", "events"])
    plain = await comment(client, admin, incident, visibility="public")

    async def ids(**filters) -> list[str]:
        return [entry["id"] for entry in await entries(client, admin, incident["id"], **filters)]

    created_event = (await ids(collections=["events"]))[0]
    assert await ids(collections=["events"]) == [created_event, blue["id"]]
    assert await ids(collections=["discussions"]) == [red["id"], blue["id"], plain["id"]]
    assert await ids(panels=["events"]) == [created_event, blue["id"]]
    assert await ids(panels=["alerts"]) == []
    assert await ids(labels=["urgent", "blue"]) == [red["id"], blue["id"]]
    assert await ids(labels=["green"]) == []
    # change events are `internal`: the org's audit trail
    assert await ids(visibility=["public", "internal"]) == [created_event, red["id"], plain["id"]]
    assert await ids(visibility=["external"]) == [blue["id"]]
    assert await ids(created_date={"after": to_rfc3339(started)}) == [red["id"], blue["id"], plain["id"]]
    assert await ids(created_date={"before": to_rfc3339(started - 1)}) == [created_event]
    assert await ids(collections=["discussions"], labels=["red", "blue"], visibility=["external"]) == [blue["id"]]
    await bad(
        client,
        admin,
        "/timeline-entries.list",
        {"object": incident["id"], "created_date": {"after": "yesterday"}},
        "invalid_field",
        "created_date.after",
    )
    await bad(
        client,
        admin,
        "/timeline-entries.list",
        {"object": incident["id"], "panels": ["wall"]},
        "invalid_enum_value",
        "panels[0]",
    )


async def test_private_entries_are_seen_by_their_creator_and_private_to_only(app, client, admin: Actor):
    incident = await new_incident(client, admin)
    reader = await add_principal(app, admin, email="reader@example.com", role="member")
    outsider = await add_principal(app, admin, email="outsider@example.com", role="member")
    secret = await comment(client, admin, incident, visibility="private", private_to=[reader.don], body="secret")
    lonely = await comment(client, reader, incident, visibility="private")
    open_note = await comment(client, outsider, incident)

    async def seen_by(actor: Actor) -> list[str]:
        return [e["id"] for e in await entries(client, actor, incident["id"], collections=["discussions"])]

    assert await seen_by(admin) == [secret["id"], open_note["id"]]
    assert await seen_by(reader) == [secret["id"], lonely["id"], open_note["id"]]
    assert await seen_by(outsider) == [open_note["id"]]
    await call(client, outsider, "get", {"id": secret["id"]}, 404)
    await call(client, outsider, "get", {"id": incident["id"], "external_ref": "none"}, 404)
    assert (await call(client, reader, "get", {"id": secret["id"]}))["timeline_entry"]["body"] == "secret"
    # strict visibility filter: a caller asking for private entries gets the ones they may see
    assert [e["id"] for e in await entries(client, reader, incident["id"], visibility=["private"])] == [
        secret["id"],
        lonely["id"],
    ]


async def test_an_expired_entry_disappears_at_once_and_the_sweep_deletes_it(app, client, admin: Actor, monkeypatch):
    incident = await new_incident(client, admin)
    soon = to_rfc3339(now_ms() + 61_000)
    ephemeral = await comment(client, admin, incident, expires_at=soon, external_ref="temp")
    kept = await comment(client, admin, incident)
    assert (await call(client, admin, "get", {"id": ephemeral["id"]}))["timeline_entry"]["id"] == ephemeral["id"]
    later = now_ms() + 62_000
    monkeypatch.setattr(service, "now_ms", lambda: later)
    await call(client, admin, "get", {"id": ephemeral["id"]}, 404)
    await call(client, admin, "get", {"id": incident["id"], "external_ref": "temp"}, 404)
    assert [e["id"] for e in await entries(client, admin, incident["id"], collections=["discussions"])] == [kept["id"]]
    await call(client, admin, "update", {"id": ephemeral["id"], "body": "x"}, 404)
    assert await service.sweep_expired(app.state.db) == 1
    assert await service.sweep_expired(app.state.db) == 0
    monkeypatch.undo()
    await call(client, admin, "get", {"id": ephemeral["id"]}, 404)  # gone for good, not just hidden
    await comment(client, admin, incident, external_ref="temp")  # and its external_ref is free again


async def test_the_sweep_runs_in_the_lifespan_and_shutdown_stops_it_cleanly(settings, monkeypatch):
    """A sweep every 10 ms: shutdown comes while one is sleeping or mid-batch, and must return either way."""
    original = service.sweep_expired
    swept: list[int] = []

    async def counting(db, **kwargs) -> int:
        swept.append(await original(db, **kwargs))
        return swept[-1]

    monkeypatch.setattr(service, "sweep_expired", counting)
    app = create_app(settings.model_copy(update={"timeline_sweep_seconds": 0.01}))
    for _ in range(3):
        swept.clear()
        async with running(app):
            for _ in range(500):
                if len(swept) >= 2:
                    break
                await asyncio.sleep(0.01)
        assert len(swept) >= 2
        app = create_app(settings.model_copy(update={"timeline_sweep_seconds": 0.01}))


async def test_a_deleted_incident_keeps_its_history(client, admin: Actor):
    incident = await new_incident(client, admin)
    await client.post("/incidents.update", json={"id": incident["id"], "title": "Renamed"}, headers=admin.headers)
    note = await comment(client, admin, incident)
    deleted = await client.post("/incidents.delete", json={"id": incident["id"]}, headers=admin.headers)
    assert deleted.status_code == 200
    listed = await entries(client, admin, incident["display_id"])
    assert [e.get("event", {}).get("type") for e in listed] == ["created", "updated", None, "deleted"]
    assert listed[2]["id"] == note["id"]
    assert listed[3]["event"]["deleted"]["object_id"] == incident["id"]
    body = {"type": "timeline_comment", "object": incident["id"]}
    assert (await call(client, admin, "create", body, 404))["type"] == "not_found"
    await call(client, admin, "list", {"object": "INC-999"}, 404)
