"""Delivery yields to requests: while the server process serves API requests, its delivery passes come at most
every `webhook_busy_pass_seconds` and start at most BUSY_CLAIMS sends each; when the requests stop, the backlog
drains at once. With the setting at 0, delivery keeps pace with the requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from test_webhooks_delivery import create_incident, subscribe
from webhooks_support import Receiver, eventually, serve

from conftest import Actor
from incidentd.config import Settings
from incidentd.webhooks.delivery import BUSY_CLAIMS

BUSY_PASS = 0.4
INCIDENTS = 40


def with_busy_pass(settings: Settings, seconds: float) -> Settings:
    return settings.model_copy(
        update={"webhook_delivery": True, "webhook_poll_seconds": 0.05, "webhook_busy_pass_seconds": seconds}
    )


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return with_busy_pass(settings, getattr(request, "param", BUSY_PASS))


@pytest.fixture
def hooked() -> Iterator[Receiver]:
    found = Receiver()
    server = serve(found)
    yield found
    server.shutdown()


async def created_while_busy(client, app, admin: Actor, receiver: Receiver) -> float:
    """Subscribe, then hold a request in flight and create INCIDENTS incidents; when the busy period began."""
    await subscribe(client, admin, receiver)
    app.load.began()  # a request that stays in flight until the test ends it
    began = time.monotonic()
    for n in range(INCIDENTS):
        await create_incident(client, admin, f"busy {n}")
    return began


async def test_while_requests_are_served_passes_are_spaced_and_small_then_the_backlog_drains(
    client, app, admin: Actor, hooked: Receiver
):
    receiver = hooked
    began = await created_while_busy(client, app, admin, receiver)
    await asyncio.sleep(max(0.0, began + 4 * BUSY_PASS - time.monotonic()))
    busy_for = time.monotonic() - began
    sent_while_busy = len(receiver.events(type_="incident_created"))
    passes = int(busy_for / BUSY_PASS) + 1
    assert sent_while_busy <= BUSY_CLAIMS * passes, (sent_while_busy, busy_for)
    assert sent_while_busy < INCIDENTS
    app.load.ended()
    await eventually(lambda: len(receiver.events(type_="incident_created")) == INCIDENTS, 10, "the backlog to drain")
    titles = [event["incident_created"]["incident"]["title"] for event in receiver.events(type_="incident_created")]
    assert sorted(titles) == sorted(f"busy {n}" for n in range(INCIDENTS))


@pytest.mark.parametrize("settings", [0.0], indirect=True)
async def test_with_the_setting_off_delivery_keeps_pace_with_requests(client, app, admin: Actor, hooked: Receiver):
    receiver = hooked
    await created_while_busy(client, app, admin, receiver)
    try:
        await eventually(lambda: len(receiver.events(type_="incident_created")) == INCIDENTS, 10, "every delivery")
    finally:
        app.load.ended()
