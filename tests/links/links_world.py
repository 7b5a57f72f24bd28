"""Helpers of the links tests: objects to link, and calls that check every answer against DevRev's spec."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import Actor
from contract import assert_component, assert_conforms

Body = dict[str, Any]
LINKS_SPEC = "devrev-links.yaml"


async def created(client: httpx.AsyncClient, actor: Actor, path: str, body: Body, key: str) -> Body:
    response = await client.post(path, json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()[key]


async def incident(client: httpx.AsyncClient, actor: Actor, title: str = "Checkout is down", **fields: Any) -> Body:
    return await created(client, actor, "/incidents.create", {"title": title, **fields}, "incident")


async def part(client: httpx.AsyncClient, actor: Actor, name: str = "Payments", kind: str = "product") -> Body:
    return await created(client, actor, "/parts.create", {"type": kind, "name": name, "owned_by": [actor.don]}, "part")


async def article(client: httpx.AsyncClient, actor: Actor, title: str = "Postmortem") -> Body:
    body = {"title": title, "owned_by": [actor.don], "resource": {"url": "https://example.com/pm"}}
    return await created(client, actor, "/articles.create", body, "article")


async def account(client: httpx.AsyncClient, actor: Actor, name: str = "Acme") -> Body:
    return await created(client, actor, "/accounts.create", {"display_name": name}, "account")


async def call(
    client: httpx.AsyncClient, actor: Actor, path: str, status: int, body: Body | None = None, *, get: bool = False
) -> Body:
    """POST `body` (or GET with it as query parameters) and check the status and DevRev's schema of the answer;
    statuses DevRev does not declare for the operation are checked against its error schema of that status."""
    if get:
        response = await client.get(path, params=body or {}, headers=actor.headers)
    else:
        response = await client.post(path, json=body or {}, headers=actor.headers)
    assert response.status_code == status, response.text
    method = "get" if get else "post"
    answer = response.json()
    if path == "/incidents.merge":
        if status == 200:
            assert_component("devrev-incidents.yaml", "incident", answer["incident"])
            assert_component(LINKS_SPEC, "link", answer["link"])
        else:
            assert_component(LINKS_SPEC, _ERRORS[status], answer)
    elif status in (404, 409) and path in ("/links.create", "/links.replace", "/links.list"):
        assert_component("devrev-objects.yaml", _ERRORS[status], answer)  # DevRev declares neither here
    else:
        assert_conforms(path, method, status, answer)
    return answer


_ERRORS = {400: "error-bad-request", 404: "error-not-found", 409: "error-conflict"}


async def link(client: httpx.AsyncClient, actor: Actor, source: Body, link_type: str, target: Body) -> Body:
    body = {"source": source["id"], "link_type": link_type, "target": target["id"]}
    return (await call(client, actor, "/links.create", 201, body))["link"]
