"""Helpers of the timeline tests: comment, list and read through the API, each answer checked against DevRev's
spec (`tests/spec/devrev-timeline.yaml`)."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import Actor
from contract import assert_conforms


async def new_incident(client: httpx.AsyncClient, actor: Actor, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/incidents.create", json={"title": "Checkout is down", **fields}, headers=actor.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["incident"]


async def comment(client: httpx.AsyncClient, actor: Actor, incident: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {"type": "timeline_comment", "object": incident["id"], "body": "Looking into it", **fields}
    response = await client.post("/timeline-entries.create", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    assert_conforms("/timeline-entries.create", "post", 201, response.json())
    return response.json()["timeline_entry"]


async def call(
    client: httpx.AsyncClient, actor: Actor, operation: str, body: dict[str, Any], status: int = 200
) -> dict[str, Any]:
    """POST /timeline-entries.<operation>, expecting `status`; the answer, checked against the spec."""
    path = f"/timeline-entries.{operation}"
    response = await client.post(path, json=body, headers=actor.headers)
    assert response.status_code == status, response.text
    if status != 404 or operation in ("get", "list"):  # create/update/delete declare no 404 in DevRev's spec
        assert_conforms(path, "post", status, response.json())
    return response.json()


async def entries(client: httpx.AsyncClient, actor: Actor, object_id: str, **filters: Any) -> list[dict[str, Any]]:
    """Every entry of an object's timeline that `filters` select, following next_cursor to the end."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = {"object": object_id, **filters, **({"cursor": cursor} if cursor else {})}
        page = await call(client, actor, "list", body)
        found += page["timeline_entries"]
        cursor = page.get("next_cursor")
        if cursor is None:
            return found


async def events(client: httpx.AsyncClient, actor: Actor, object_id: str) -> list[dict[str, Any]]:
    """The change events of an object, oldest first."""
    return [entry["event"] for entry in await entries(client, actor, object_id, collections=["events"])]
