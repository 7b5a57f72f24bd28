"""Objects an incident can point at, made through the API as a client would make them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from conftest import Actor


@dataclass
class World:
    admin: Actor
    users: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    parts: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[dict[str, Any]] = field(default_factory=list)
    articles: list[dict[str, Any]] = field(default_factory=list)


async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


async def build_world(client: httpx.AsyncClient, admin: Actor, *, size: int = 3) -> World:
    world = World(admin)
    headers = admin.headers
    world.users.append((await ok(await client.get("/dev-users.self", headers=headers)))["dev_user"])
    for index in range(size):
        user = await client.post(
            "/dev-users.create", json={"email": f"sre{index}@example.com", "state": "shadow"}, headers=headers
        )
        world.users.append((await ok(user, 201))["dev_user"])
        tag = await client.post("/tags.create", json={"name": f"area-{index}"}, headers=headers)
        world.tags.append((await ok(tag, 201))["tag"])
        part = await client.post(
            "/parts.create",
            json={"type": "product", "name": f"Product {index}", "owned_by": [world.users[0]["id"]]},
            headers=headers,
        )
        world.parts.append((await ok(part, 201))["part"])
        account = await client.post("/accounts.create", json={"display_name": f"Customer {index}"}, headers=headers)
        world.accounts.append((await ok(account, 201))["account"])
        article = await client.post(
            "/articles.create",
            json={
                "title": f"Runbook {index}",
                "owned_by": [world.users[0]["id"]],
                "resource": {"url": f"https://wiki.example.com/runbook-{index}"},
            },
            headers=headers,
        )
        world.articles.append((await ok(article, 201))["article"])
    return world


async def upload_artifact(client: httpx.AsyncClient, admin: Actor, name: str, content: bytes) -> str:
    """prepare + upload; returns the artifact id."""
    prepared = await ok(await client.post("/artifacts.prepare", json={"file_name": name}, headers=admin.headers))
    form = {entry["key"]: entry["value"] for entry in prepared["form_data"]}
    url = httpx.URL(prepared["url"])
    uploaded = await client.post(url.raw_path.decode(), data=form, files={"file": (name, content, "text/plain")})
    assert uploaded.status_code in (200, 201, 204), uploaded.text
    return prepared["id"]


async def create_incident(client: httpx.AsyncClient, actor: Actor, **fields: Any) -> dict[str, Any]:
    body = {"title": "Checkout is down", **fields}
    response = await client.post("/incidents.create", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["incident"]


async def set_tenant_fragment(client: httpx.AsyncClient, actor: Actor, fields: list[dict[str, Any]]) -> str:
    """The org's tenant fragment of incidents with these fields (custom fields need a fragment that declares them)."""
    body = {"type": "tenant_fragment", "description": "incident fields", "leaf_type": "incident", "fields": fields}
    response = await client.post("/schemas.custom.set", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]
