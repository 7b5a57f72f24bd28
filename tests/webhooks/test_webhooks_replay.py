"""Extensions beyond DevRev: webhooks.deliveries.list, webhooks.replay, webhooks.test (docs/compatibility.md)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from webhooks_support import Receiver, assert_event_conforms, eventually, receiving

from conftest import Actor, make_org
from incidentd.config import Settings

SECRET = "replay-test-secret"
TYPES = ["incident_created", "incident_updated"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_delivery": True, "webhook_poll_seconds": 0.05, "webhook_retry_first_seconds": 0.1}
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


async def subscribe(client: Any, actor: Actor, receiver: Receiver) -> dict[str, Any]:
    receiver.secrets["/hook"] = SECRET
    body = {"url": receiver.url(), "event_types": TYPES, "secret": SECRET}
    hook = (await client.post("/webhooks.create", json=body, headers=actor.headers)).json()["webhook"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = await client.get("/webhooks.get", params={"id": hook["id"]}, headers=actor.headers)
        if got.json()["webhook"]["status"] == "active":
            return hook
        await asyncio.sleep(0.02)
    raise AssertionError("never active")


async def deliveries(client: Any, actor: Actor, hook_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post("/webhooks.deliveries.list", json={"id": hook_id, **body}, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_delivery_log_pages_through_events_with_their_outcomes(client, admin: Actor, receiver):
    hook = await subscribe(client, admin, receiver)
    for n in range(3):
        created = await client.post("/incidents.create", json={"title": f"t{n}"}, headers=admin.headers)
        assert created.status_code == 201
    await eventually(lambda: len(receiver.events()) == 3, what="three events")
    await asyncio.sleep(0.2)
    first = await deliveries(client, admin, hook["id"], limit=2)
    assert len(first["deliveries"]) == 2 and first["next_cursor"]
    rest = await deliveries(client, admin, hook["id"], limit=2, cursor=first["next_cursor"])
    listed = first["deliveries"] + rest["deliveries"]
    assert "next_cursor" not in rest
    # Listed in event order; three incidents were sent side by side, so they may have arrived in another.
    assert [d["event_id"] for d in listed] == sorted(
        (e["id"] for e in receiver.events()), key=lambda i: int(i.rsplit("/", 1)[1])
    )
    for entry in listed:
        assert entry["state"] == "delivered" and entry["attempts"] == 1 and entry["last_status_code"] == 200
        assert entry["type"] == "incident_created" and entry["object"].startswith("don:core:")
        assert "latency_ms" in entry and "delivered_date" in entry
    by_get = await client.get("/webhooks.deliveries.list", params={"id": hook["id"]}, headers=admin.headers)
    assert by_get.status_code == 200 and len(by_get.json()["deliveries"]) == 3
    none_pending = await deliveries(client, admin, hook["id"], state=["pending"])
    assert none_pending["deliveries"] == []


async def test_replay_resends_one_delivery_or_everything_since_a_time_with_the_same_event_ids(
    client, admin: Actor, receiver
):
    hook = await subscribe(client, admin, receiver)
    for n in range(2):
        await client.post("/incidents.create", json={"title": f"r{n}"}, headers=admin.headers)
    await eventually(lambda: len(receiver.events()) == 2, what="two events")
    original = receiver.events()
    one = await client.post(
        "/webhooks.replay", json={"id": hook["id"], "event_id": original[0]["id"]}, headers=admin.headers
    )
    assert one.status_code == 200 and one.json() == {"replayed": 1}
    await eventually(lambda: len(receiver.events()) == 3, what="the replayed event")
    assert receiver.events()[2]["id"] == original[0]["id"]
    assert receiver.events()[2]["incident_created"] == original[0]["incident_created"]
    since = await client.post(
        "/webhooks.replay", json={"id": hook["id"], "since": "2000-01-01T00:00:00Z"}, headers=admin.headers
    )
    assert since.json() == {"replayed": 2}
    await eventually(lambda: len(receiver.events()) == 5, what="everything again")
    # Two incidents: their events go out side by side, in either order.
    assert sorted(e["id"] for e in receiver.events()[3:]) == sorted(e["id"] for e in original)
    assert not receiver.bad_signatures


async def test_a_replay_while_the_first_send_is_in_flight_still_sends_again(client, admin: Actor, receiver):
    """The race CI hit: the receiver had the event but the sender had not stored the outcome yet when the replay
    made the delivery pending; the late outcome ("delivered") must not swallow the replay."""
    hook = await subscribe(client, admin, receiver)
    receiver.delay = 0.5  # the receiver has the event at once and answers half a second later
    await client.post("/incidents.create", json={"title": "in flight"}, headers=admin.headers)
    await eventually(lambda: len(receiver.events()) == 1, what="the first send")
    first = receiver.events()[0]
    replayed = await client.post(
        "/webhooks.replay", json={"id": hook["id"], "event_id": first["id"]}, headers=admin.headers
    )
    assert replayed.json() == {"replayed": 1}
    await eventually(lambda: len(receiver.events()) == 2, what="the replayed send")
    assert receiver.events()[1]["id"] == first["id"]
    receiver.delay = 0.0
    # The first send's outcome belonged to the lease the replay took over: only the replayed send is recorded.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = await deliveries(client, admin, hook["id"])
        if log["deliveries"][0]["state"] == "delivered":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)  # the first send's late answer is in too
    log = await deliveries(client, admin, hook["id"])
    assert [(e["state"], e["attempts"]) for e in log["deliveries"]] == [("delivered", 1)]
    assert len(receiver.events()) == 2


@pytest.mark.parametrize(
    "body",
    [{}, {"event_id": "x", "since": "2000-01-01T00:00:00Z"}, {"event_id": "don:integration:x:devo/y:webhook/1:e/1"}],
)
async def test_replay_needs_exactly_one_valid_selector(client, admin: Actor, body: dict[str, Any]):
    created = await client.post("/webhooks.create", json={"url": "http://127.0.0.1:9/h"}, headers=admin.headers)
    response = await client.post(
        "/webhooks.replay", json={"id": created.json()["webhook"]["id"], **body}, headers=admin.headers
    )
    assert response.status_code == 400 and response.json()["field_name"] == "event_id"


async def test_test_sends_a_signed_webhook_updated_event_now(client, admin: Actor, receiver):
    receiver.secrets["/hook"] = SECRET
    created = await client.post(
        "/webhooks.create", json={"url": receiver.url(), "secret": SECRET}, headers=admin.headers
    )
    hook = created.json()["webhook"]
    answer = await client.post("/webhooks.test", json={"id": hook["id"]}, headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True and answer.json()["status_code"] == 200
    sent = [e for e in receiver.events() if e["type"] == "webhook_updated"]
    assert len(sent) == 1 and sent[0]["webhook_updated"]["webhook"]["id"] == hook["id"]
    assert_event_conforms(sent[0])
    assert not receiver.bad_signatures


async def test_a_member_gets_403_and_another_org_gets_404(client, admin: Actor, member: Actor, app):
    created = await client.post("/webhooks.create", json={"url": "http://127.0.0.1:9/h"}, headers=admin.headers)
    hook_id = created.json()["webhook"]["id"]
    other = await make_org(app, "other-org")
    calls = (
        ("/webhooks.deliveries.list", {"id": hook_id}),
        ("/webhooks.replay", {"id": hook_id, "since": "2000-01-01T00:00:00Z"}),
        ("/webhooks.test", {"id": hook_id}),
    )
    for path, body in calls:
        assert (await client.post(path, json=body, headers=member.headers)).status_code == 403, path
        response = await client.post(path, json=body, headers=other.headers)
        assert response.status_code == 404, (path, response.text)
