"""Event delivery to real receivers on loopback: DevRev's envelope and signature, the incident exactly as
incidents.get renders it, order per incident, retries through an outage, dead letters, org isolation,
refused private addresses, metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from webhooks_support import Receiver, assert_event_conforms, eventually, receiving

from conftest import Actor, make_org
from incidentd.config import Settings
from incidentd.webhooks import sending

Body = dict[str, Any]
SECRET = "delivery-test-secret"
TYPES = ["incident_created", "incident_updated", "incident_deleted"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_delivery": True,
            "webhook_poll_seconds": 0.05,
            "webhook_retry_first_seconds": 0.1,
            "webhook_retry_max_seconds": 0.3,
            "metrics_token": "m" * 20,
        }
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


async def subscribe(client: Any, actor: Actor, receiver: Receiver, path: str = "/hook", **extra: Any) -> Body:
    """A webhook on `receiver`'s `path`, verified (active) before it returns."""
    receiver.secrets[path] = SECRET
    body = {"url": receiver.url(path), "event_types": TYPES, "secret": SECRET, **extra}
    response = await client.post("/webhooks.create", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    hook = response.json()["webhook"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        got = await client.get("/webhooks.get", params={"id": hook["id"]}, headers=actor.headers)
        if got.json()["webhook"]["status"] == "active":
            return got.json()["webhook"]
        await asyncio.sleep(0.02)
    raise AssertionError("the webhook never became active")


async def create_incident(client: Any, actor: Actor, title: str) -> Body:
    response = await client.post("/incidents.create", json={"title": title}, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["incident"]


async def update_incident(client: Any, actor: Actor, id_: str, **body: Any) -> Body:
    response = await client.post("/incidents.update", json={"id": id_, **body}, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()["incident"]


async def get_incident(client: Any, actor: Actor, id_: str) -> Body:
    return (await client.get("/incidents.get", params={"id": id_}, headers=actor.headers)).json()["incident"]


async def test_each_change_arrives_signed_in_devrevs_envelope_with_the_incident_as_get_renders_it(
    client, admin: Actor, receiver
):
    hook = await subscribe(client, admin, receiver, headers=[{"name": "X-Route", "value": "ops"}])
    created = await create_incident(client, admin, "db down")
    as_created = await get_incident(client, admin, created["id"])
    await update_incident(client, admin, created["id"], title="db down (primary)", severity=2)
    as_updated = await get_incident(client, admin, created["id"])
    deleted = await client.post("/incidents.delete", json={"id": created["id"]}, headers=admin.headers)
    assert deleted.status_code == 200

    await eventually(lambda: len(receiver.events("/hook")) == 3, what="three events")
    assert not receiver.bad_signatures
    first, second, third = receiver.events("/hook")
    for event in (first, second, third):
        assert_event_conforms(event)
        assert event["webhook_id"] == hook["id"]
        assert event["id"].startswith(hook["id"] + ":webhook_event/")
        assert event["timestamp"].endswith("Z")
    assert first["type"] == "incident_created" and first["incident_created"] == {"incident": as_created}
    assert second["type"] == "incident_updated"
    assert second["incident_updated"] == {"incident": as_updated, "old_incident": as_created}
    assert third["type"] == "incident_deleted"
    assert third["incident_deleted"] == {"id": created["id"], "old_incident": as_updated}
    assert len({first["id"], second["id"], third["id"]}) == 3
    posted = [r for r in receiver.received if r.json["type"] != "verify"]
    assert all(r.headers["x-route"] == "ops" and r.headers["content-type"] == "application/json" for r in posted)


async def test_a_rejected_change_sends_nothing_and_unsubscribed_types_are_not_sent(client, admin: Actor, receiver):
    await subscribe(client, admin, receiver, event_types=["incident_updated"])
    incident = await create_incident(client, admin, "quiet")
    refused = await client.post(
        "/incidents.update", json={"id": incident["id"], "stage": {"name": "nonexistent"}}, headers=admin.headers
    )
    assert refused.status_code == 400
    await update_incident(client, admin, incident["id"], title="loud")
    await eventually(lambda: len(receiver.events("/hook")) == 1, what="the update")
    await asyncio.sleep(0.3)
    events = receiver.events("/hook")
    assert [e["type"] for e in events] == ["incident_updated"]
    assert events[0]["incident_updated"]["incident"]["title"] == "loud"


async def test_events_of_each_incident_arrive_in_order(client, admin: Actor, receiver):
    await subscribe(client, admin, receiver)
    incidents = [await create_incident(client, admin, f"incident {n}") for n in range(3)]
    for step in range(6):
        for incident in incidents:
            await update_incident(client, admin, incident["id"], title=f"{incident['display_id']} step {step}")
    await eventually(lambda: len(receiver.events("/hook")) == 3 + 18, what="every event")
    for incident in incidents:
        titles = [
            e["incident_updated"]["incident"]["title"]
            for e in receiver.events("/hook", "incident_updated")
            if e["incident_updated"]["incident"]["id"] == incident["id"]
        ]
        assert titles == [f"{incident['display_id']} step {step}" for step in range(6)]


async def test_a_receiver_that_is_down_gets_everything_in_order_when_it_returns(client, admin: Actor, receiver):
    hook = await subscribe(client, admin, receiver)
    receiver.status = 503
    incident = await create_incident(client, admin, "outage")
    for step in range(4):
        await update_incident(client, admin, incident["id"], title=f"step {step}")
    await eventually(lambda: len(receiver.events("/hook")) >= 4, what="failed attempts")
    deliveries = await client.post("/webhooks.deliveries.list", json={"id": hook["id"]}, headers=admin.headers)
    if deliveries.status_code == 200:  # the extension (docs/compatibility.md)
        assert any(d["last_status_code"] == 503 for d in deliveries.json()["deliveries"])
    receiver.status = 200
    await eventually(lambda: _delivered_titles(receiver) == [f"step {n}" for n in range(4)], what="the backlog")
    ids_seen = {e["id"] for e in receiver.events("/hook")}
    assert len(ids_seen) == 5  # retries kept their event ids


def _delivered_titles(receiver: Receiver) -> list[str]:
    ok = [r.json for r in receiver.received if r.json["type"] == "incident_updated"]
    # The receiver answered 503 until it returned; what counts is the order of the answered attempts after it did.
    titles: list[str] = []
    for event in ok:
        title = event["incident_updated"]["incident"]["title"]
        if title not in titles:
            titles.append(title)
    return titles


async def test_an_event_that_keeps_failing_is_dead_lettered_and_the_webhook_marked_failing(
    client, admin: Actor, receiver, app
):
    app.state.db.settings.__dict__["webhook_retry_window_seconds"] = 0.3
    hook = await subscribe(client, admin, receiver)
    receiver.status = 500
    await create_incident(client, admin, "doomed")

    async def failing() -> bool:
        got = await client.get("/webhooks.get", params={"id": hook["id"]}, headers=admin.headers)
        return bool(got.json()["webhook"].get("failing"))

    deadline = time.monotonic() + 10
    while not await failing():
        assert time.monotonic() < deadline, "never dead-lettered"
        await asyncio.sleep(0.05)
    receiver.status = 200
    await create_incident(client, admin, "recovered")
    deadline = time.monotonic() + 10
    while await failing():
        assert time.monotonic() < deadline, "a success did not clear the failing mark"
        await asyncio.sleep(0.05)


async def test_a_webhook_never_receives_another_orgs_events_and_a_slow_org_does_not_delay_another(
    client, admin: Actor, receiver, app
):
    other = await make_org(app, "other-org")
    slow_path, fast_path = "/slow", "/fast"
    await subscribe(client, admin, receiver, slow_path)
    await subscribe(client, other, receiver, fast_path)

    def answer(request: Any) -> tuple[int, bytes]:
        if request.json["type"] == "verify":
            return 200, json.dumps({"challenge": request.json["verify"]["challenge"]}).encode()
        if request.path == slow_path:
            time.sleep(1.0)
        return 200, b"{}"

    receiver.answer = answer
    for n in range(8):  # eight incidents: more than the slow webhook may have in flight at once
        await create_incident(client, admin, f"slow {n}")
    started = time.monotonic()
    fast = await create_incident(client, other, "fast one")
    await eventually(lambda: len(receiver.events(fast_path)) == 1, what="the other org's event")
    assert time.monotonic() - started < 0.9, "the other org waited for the slow receiver"
    assert receiver.events(fast_path)[0]["incident_created"]["incident"]["id"] == fast["id"]
    await eventually(lambda: len(receiver.events(slow_path)) == 8, seconds=20, what="the slow org's events")
    slow_ids = {e["incident_created"]["incident"]["id"] for e in receiver.events(slow_path)}
    assert fast["id"] not in slow_ids
    assert all(other.org.slug in e["webhook_id"] for e in receiver.events(fast_path))


async def test_deny_private_refuses_loopback_at_connect_time(client, admin: Actor, receiver, app):
    app.state.deliverer.http = sending.client(max_connections=4, timeout=3.0, deny_private=True)
    response = await client.post(
        "/webhooks.create", json={"url": receiver.url(), "event_types": TYPES}, headers=admin.headers
    )
    hook = response.json()["webhook"]
    await asyncio.sleep(0.5)
    assert receiver.received == []
    got = await client.get("/webhooks.get", params={"id": hook["id"]}, headers=admin.headers)
    assert got.json()["webhook"]["status"] == "unverified"


async def test_metrics_count_attempts_and_show_the_backlog(client, admin: Actor, receiver):
    await subscribe(client, admin, receiver)
    await create_incident(client, admin, "counted")
    await eventually(lambda: len(receiver.events("/hook")) == 1, what="the event")
    await asyncio.sleep(0.2)
    metrics = await client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 20})
    assert metrics.status_code == 200
    assert 'incidentd_webhook_attempts_total{outcome="delivered"} 1' in metrics.text
    assert "incidentd_webhook_backlog 0" in metrics.text
    assert SECRET not in metrics.text
