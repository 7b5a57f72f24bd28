"""The events beyond incidents: timeline_entry_created|updated|deleted (comments), link_created|deleted and
webhook_created|updated|deleted, each written in its change's own transaction, each valid against DevRev's
webhook-event-request as a webhook receives it; delivered to a real receiver on loopback like incident events."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_webhooks_delivery import SECRET, create_incident, subscribe
from webhooks_support import Receiver, assert_event_conforms, eventually, serve

from conftest import Actor, make_org
from incidentd.config import Settings
from incidentd.db import Database
from incidentd.webhooks import repository, sending

Body = dict[str, Any]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_delivery": True, "webhook_poll_seconds": 0.05, "webhook_retry_first_seconds": 0.1}
    )


async def recorded(app: Any, actor: Actor) -> list[Body]:
    """The org's outbox, each event as the envelope a webhook would receive."""
    db: Database = app.state.db
    async with db.read() as conn:
        rows = await repository.events_since(conn, actor.org.dev_org_id, 0, 1000)
    hook = actor.org.don("webhook", 999)
    return [
        json.loads(sending.envelope(f"{hook}:webhook_event/{r.seq}", hook, "2026-01-01T00:00:00Z", r.type, r.payload))
        for r in rows
    ]


async def post(client: Any, actor: Actor, path: str, body: Body, status: int = 200) -> Body:
    response = await client.post(path, json=body, headers=actor.headers)
    assert response.status_code == status, response.text
    return dict(response.json())


async def test_comment_link_and_webhook_changes_are_events_that_conform_to_devrevs_schema(client, app, admin: Actor):
    incident = await create_incident(client, admin, "db down")
    other = await create_incident(client, admin, "api slow")
    entry = (
        await post(
            client,
            admin,
            "/timeline-entries.create",
            {"type": "timeline_comment", "object": incident["id"], "body": "looking"},
            201,
        )
    )["timeline_entry"]
    edited = (await post(client, admin, "/timeline-entries.update", {"id": entry["id"], "body": "found it"}))[
        "timeline_entry"
    ]
    await post(client, admin, "/timeline-entries.delete", {"id": entry["id"]})
    link = (
        await post(
            client,
            admin,
            "/links.create",
            {"source": incident["id"], "link_type": "is_related_to", "target": other["id"]},
            201,
        )
    )["link"]
    await post(client, admin, "/links.delete", {"id": link["id"]})
    hook = (
        await post(
            client,
            admin,
            "/webhooks.create",
            {"url": "http://127.0.0.1:9/hook", "event_types": ["incident_created"], "secret": SECRET},
            201,
        )
    )["webhook"]
    await post(client, admin, "/webhooks.update", {"id": hook["id"], "event_types": {"add": ["link_created"]}})
    await post(client, admin, "/webhooks.delete", {"id": hook["id"]})

    events = await recorded(app, admin)
    for event in events:
        assert_event_conforms(event)
    by_type = {event["type"]: event[event["type"]] for event in events}
    assert list(by_type) == [
        "incident_created",
        "timeline_entry_created",
        "timeline_entry_updated",
        "timeline_entry_deleted",
        "link_created",
        "link_deleted",
        "webhook_created",
        "webhook_updated",
        "webhook_deleted",
    ]
    assert by_type["timeline_entry_created"] == {"entry": entry}
    assert by_type["timeline_entry_updated"]["entry"] == edited
    assert by_type["timeline_entry_updated"]["old_entry"] == entry
    assert by_type["timeline_entry_deleted"] == {"id": entry["id"], "old_entry": edited}
    assert by_type["link_created"] == {"link": link}
    assert by_type["link_deleted"] == {"id": link["id"]}
    assert by_type["webhook_created"]["webhook"]["id"] == hook["id"]
    assert by_type["webhook_updated"]["webhook"]["event_types"] == ["incident_created", "link_created"]
    assert by_type["webhook_deleted"] == {"id": hook["id"]}
    # A webhook's secret never leaves in an event (the org's receivers and streams are not its admins).
    assert by_type["webhook_created"]["webhook"]["secret"] == ""
    assert SECRET not in json.dumps(events)


async def test_refused_changes_and_private_comments_record_nothing(client, app, admin: Actor, member: Actor):
    incident = await create_incident(client, admin, "db down")
    before = len(await recorded(app, admin))
    private = (
        await post(
            client,
            admin,
            "/timeline-entries.create",
            {"type": "timeline_comment", "object": incident["id"], "body": "just us", "visibility": "private"},
            201,
        )
    )["timeline_entry"]
    await post(client, admin, "/timeline-entries.update", {"id": private["id"], "body": "still us"})
    await post(client, admin, "/timeline-entries.delete", {"id": private["id"]})
    await post(client, member, "/webhooks.create", {"url": "http://127.0.0.1:9/hook"}, 403)
    refused = {"source": incident["id"], "link_type": "is_related_to", "target": incident["id"]}
    response = await client.post("/links.create", json=refused, headers=admin.headers)
    assert response.status_code == 400
    assert len(await recorded(app, admin)) == before


async def test_the_new_types_reach_a_subscribed_receiver_and_never_another_orgs(client, app, admin: Actor):
    receiver = Receiver()
    server = serve(receiver)
    try:
        types = ["timeline_entry_created", "link_created", "link_deleted"]
        await subscribe(client, admin, receiver, event_types=types)
        stranger = await make_org(app, "stranger-org")
        theirs = await create_incident(client, stranger, "not yours")
        await post(
            client,
            stranger,
            "/timeline-entries.create",
            {"type": "timeline_comment", "object": theirs["id"], "body": "theirs"},
            201,
        )

        incident = await create_incident(client, admin, "db down")
        other = await create_incident(client, admin, "api slow")
        await post(
            client,
            admin,
            "/timeline-entries.create",
            {"type": "timeline_comment", "object": incident["id"], "body": "on it"},
            201,
        )
        pair = {"source": incident["id"], "link_type": "is_related_to", "target": other["id"]}
        link = (await post(client, admin, "/links.create", pair, 201))["link"]
        await post(client, admin, "/links.delete", {"id": link["id"]})

        await eventually(lambda: len(receiver.events("/hook")) == 3, what="three events")
        got = receiver.events("/hook")
        assert [e["type"] for e in got] == types
        assert not receiver.bad_signatures
        for event in got:
            assert_event_conforms(event)
        assert got[0]["timeline_entry_created"]["entry"]["body"] == "on it"
        assert got[1]["link_created"]["link"]["id"] == link["id"]
    finally:
        server.shutdown()
