"""Links and merges write their change events in the same transaction: a `linked` event (with the link-summary)
on each incident end when a link is made, a `deleted` event naming the link when it goes, and for a merge the
source's stage move as an `updated` event besides."""

from __future__ import annotations

from typing import Any

from links_world import Body, call, incident, link, part

from conftest import Actor
from contract import assert_conforms
from incidentd.links import service as links_service


async def events(client, actor: Actor, obj: Body) -> list[dict[str, Any]]:
    """The change events on an incident's timeline after its `created` event, oldest first."""
    response = await client.post("/timeline-entries.list", json={"object": obj["id"]}, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/timeline-entries.list", "post", 200, response.json())
    found = [
        entry["event"] for entry in response.json()["timeline_entries"] if entry["type"] == "timeline_change_event"
    ]
    assert found[0]["type"] == "created"
    return found[1:]


def summary_of(made: Body) -> Body:
    return {key: made[key] for key in ("id", "link_type", "source", "target")}


async def test_create_and_delete_write_events_on_every_incident_end(client, admin: Actor):
    first, second, product = (
        await incident(client, admin),
        await incident(client, admin, "Second"),
        await part(client, admin),
    )
    between = await link(client, admin, first, "is_parent_of", second)
    to_part = await link(client, admin, first, "is_related_to", product)
    await call(client, admin, "/links.delete", 200, {"id": between["id"]})
    linked = {"type": "linked", "linked": {"link": summary_of(between)}}
    unlinked = {"type": "deleted", "deleted": {"object_id": between["id"]}}
    assert await events(client, admin, first) == [
        linked,
        {"type": "linked", "linked": {"link": summary_of(to_part)}},
        unlinked,
    ]
    assert await events(client, admin, second) == [linked, unlinked]


async def test_replace_records_the_old_links_deletion_and_the_new_link(client, admin: Actor):
    first, second, third = (
        await incident(client, admin, "1"),
        await incident(client, admin, "2"),
        await incident(client, admin, "3"),
    )
    old = await link(client, admin, first, "is_related_to", second)
    body = {"id": old["id"], "source": first["id"], "link_type": "is_related_to", "target": third["id"]}
    new = (await call(client, admin, "/links.replace", 201, body))["link"]
    assert await events(client, admin, first) == [
        {"type": "linked", "linked": {"link": summary_of(old)}},
        {"type": "deleted", "deleted": {"object_id": old["id"]}},
        {"type": "linked", "linked": {"link": summary_of(new)}},
    ]
    assert (await events(client, admin, second))[-1] == {"type": "deleted", "deleted": {"object_id": old["id"]}}
    assert await events(client, admin, third) == [{"type": "linked", "linked": {"link": summary_of(new)}}]


async def test_merge_records_the_stage_move_and_the_link_on_both_incidents(client, admin: Actor):
    source, target = await incident(client, admin, "source"), await incident(client, admin, "target")
    merged = await call(client, admin, "/incidents.merge", 200, {"source": source["id"], "target": target["id"]})
    moved, linked = await events(client, admin, source)
    assert moved["type"] == "updated"
    deltas = {delta["name"]: delta for delta in moved["updated"]["field_deltas"]}
    assert deltas["stage"]["old_value"]["name"] == "triage" and deltas["stage"]["new_value"]["name"] == "duplicate"
    assert deltas["actual_close_date"]["new_value"]["value"] == merged["incident"]["actual_close_date"]
    assert linked == {"type": "linked", "linked": {"link": summary_of(merged["link"])}}
    assert await events(client, admin, target) == [linked]


async def test_a_refused_write_leaves_no_event(client, admin: Actor, monkeypatch):
    first, second = await incident(client, admin), await incident(client, admin, "Second")
    await link(client, admin, first, "is_related_to", second)
    before = await events(client, admin, first)
    body = {"source": first["id"], "link_type": "is_related_to", "target": second["id"]}
    await call(client, admin, "/links.create", 409, body)
    closed = await incident(client, admin, "closed")
    await call(client, admin, "/incidents.update", 200, {"id": closed["id"], "stage": "canceled"})
    await call(client, admin, "/incidents.merge", 400, {"source": closed["id"], "target": first["id"]})

    # A failure after the link is written rolls the link and its events back together.
    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the history could not be written")

    third = await incident(client, admin, "Third")
    monkeypatch.setattr(links_service.changes, "record_change", broken)
    response = await client.post(
        "/links.create",
        json={"source": first["id"], "link_type": "is_parent_of", "target": third["id"]},
        headers=admin.headers,
    )
    assert response.status_code == 500
    monkeypatch.undo()
    assert await events(client, admin, first) == before
    assert (await call(client, admin, "/links.list", 200, {"object": third["id"]}))["links"] == []
