"""Delivery yields to requests: while requests queue in the server process (SATURATED_AT or more in flight), its
delivery passes come at most every `webhook_busy_pass_seconds` and start at most BUSY_CLAIMS sends each; when they
thin out, the backlog drains at once. With fewer requests at once, or the setting at 0, delivery keeps pace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from test_webhooks_delivery import create_incident, subscribe
from webhooks_support import Receiver, eventually, receiving

from conftest import Actor
from incidentd.config import Settings
from incidentd.kit.load import SATURATED_AT
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
    with receiving() as found:
        yield found


async def created_while_busy(client, app, admin: Actor, receiver: Receiver, held: int = SATURATED_AT) -> float:
    """Subscribe, then hold `held` requests in flight and create INCIDENTS incidents; when that began."""
    await subscribe(client, admin, receiver)
    for _ in range(held):
        app.load.began()  # requests that stay in flight until the test ends them
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
    for _ in range(SATURATED_AT):
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
        for _ in range(SATURATED_AT):
            app.load.ended()


@pytest.mark.parametrize("settings", [2.0], indirect=True)  # spaced passes would take 2 s per BUSY_CLAIMS sends
async def test_below_saturation_delivery_keeps_pace_with_requests(client, app, admin: Actor, hooked: Receiver):
    receiver = hooked
    await created_while_busy(client, app, admin, receiver, held=SATURATED_AT - 2)  # + the test's own request
    try:
        await eventually(lambda: len(receiver.events(type_="incident_created")) == INCIDENTS, 4, "every delivery")
    finally:
        for _ in range(SATURATED_AT - 2):
            app.load.ended()
