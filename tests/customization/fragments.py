"""Schema fragments and incidents made through the API, as the customization tests use them."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import Actor
from contract import assert_conforms


def fragment_body(kind: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"type": kind, "description": f"{kind} of incidents", "leaf_type": "incident", "fields": fields, **extra}


async def set_fragment(client: httpx.AsyncClient, actor: Actor, body: dict[str, Any]) -> str:
    response = await client.post("/schemas.custom.set", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    assert_conforms("/schemas.custom.set", "post", 201, response.json())
    return response.json()["id"]


async def get_fragment(client: httpx.AsyncClient, actor: Actor, fragment_id: str) -> dict[str, Any]:
    response = await client.get("/schemas.custom.get", params={"id": fragment_id}, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_conforms("/schemas.custom.get", "get", 200, response.json())
    return response.json()["fragment"]


async def create(client: httpx.AsyncClient, actor: Actor, **fields: Any) -> httpx.Response:
    """incidents.create; every answer, success or error, is checked against DevRev's schema."""
    response = await client.post(
        "/incidents.create", json={"title": "Checkout is down", **fields}, headers=actor.headers
    )
    assert_conforms("/incidents.create", "post", response.status_code, response.json())
    return response


async def update(client: httpx.AsyncClient, actor: Actor, incident_id: str, **fields: Any) -> httpx.Response:
    response = await client.post("/incidents.update", json={"id": incident_id, **fields}, headers=actor.headers)
    assert_conforms("/incidents.update", "post", response.status_code, response.json())
    return response


def assert_rejected(response: httpx.Response, subtype: str, field_name: str) -> None:
    """A 400 customization_validation_error with DevRev's subtype, naming the field."""
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["type"], body.get("subtype"), body.get("field_name")) == (
        "customization_validation_error",
        subtype,
        field_name,
    ), body
