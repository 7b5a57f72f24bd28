"""webhooks.create|get|list|update|delete: admins only, the caller's org only, DevRev's shapes, the verify
handshake against a real receiver on loopback, secrets sealed at rest."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from webhooks_support import Receiver, assert_webhook_conforms, eventually, receiving

from conftest import Actor, make_org
from incidentd.config import Settings
from incidentd.webhooks.tables import webhooks

Body = dict[str, Any]
SECRET = "s3cret-of-the-test"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_delivery": True, "webhook_poll_seconds": 0.05})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as found:
        yield found


async def create(client: Any, actor: Actor, **body: Any) -> Body:
    response = await client.post("/webhooks.create", json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    assert_webhook_conforms("/webhooks.create", "post", 201, response.json())
    return response.json()["webhook"]


async def get(client: Any, actor: Actor, id_: str) -> Body:
    response = await client.get("/webhooks.get", params={"id": id_}, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_webhook_conforms("/webhooks.get", "get", 200, response.json())
    return response.json()["webhook"]


async def update(client: Any, actor: Actor, **body: Any) -> Body:
    response = await client.post("/webhooks.update", json=body, headers=actor.headers)
    assert response.status_code == 200, response.text
    assert_webhook_conforms("/webhooks.update", "post", 200, response.json())
    return response.json()["webhook"]


async def test_create_answers_201_unverified_then_the_handshake_makes_it_active(client, admin: Actor, receiver):
    receiver.secrets["/hook"] = SECRET
    hook = await create(
        client,
        admin,
        url=receiver.url(),
        event_types=["incident_created", "incident_updated"],
        headers=[{"name": "X-Team", "value": "sre"}],
        secret=SECRET,
    )
    assert hook["id"] == f"don:integration:dvrv-us-1:devo/{admin.org.slug}:webhook/1"
    assert hook["status"] == "unverified"
    assert hook["secret"] == SECRET
    assert hook["event_types"] == ["incident_created", "incident_updated"]
    assert hook["headers"] == [{"name": "X-Team", "value": "sre"}]
    assert hook["created_by"]["id"] == admin.don

    await eventually(lambda: any(r.json["type"] == "verify" for r in receiver.received), what="the verify request")
    verify = receiver.received[0]
    assert verify.headers["x-team"] == "sre"
    assert verify.json["verify"]["challenge"] and verify.json["webhook_id"] == hook["id"]
    assert not receiver.bad_signatures

    async def active() -> bool:
        return (await get(client, admin, hook["id"]))["status"] == "active"

    for _ in range(200):
        if await active():
            break
        await __import__("asyncio").sleep(0.02)
    assert await active()


async def test_a_receiver_that_does_not_echo_keeps_it_unverified(client, admin: Actor, receiver):
    receiver.answer = lambda request: (200, b'{"challenge": "something else"}')
    hook = await create(client, admin, url=receiver.url(), event_types=["incident_created"])
    await eventually(lambda: bool(receiver.received), what="the verify request")
    await __import__("asyncio").sleep(0.3)
    assert (await get(client, admin, hook["id"]))["status"] == "unverified"


async def test_a_generated_secret_is_32_characters_and_never_stored_in_clear(client, admin: Actor, app):
    hook = await create(client, admin, url="http://127.0.0.1:9/hook")
    assert len(hook["secret"]) == 32 and hook["secret"].isascii()
    async with app.state.db.read() as conn:
        stored = (await conn.execute(sa.select(webhooks))).one()
    assert hook["secret"] not in repr(tuple(stored))
    assert (await get(client, admin, hook["id"]))["secret"] == hook["secret"]


async def test_list_answers_the_orgs_webhooks_and_filters_by_status(client, admin: Actor):
    first = await create(client, admin, url="http://127.0.0.1:9/a")
    second = await create(client, admin, url="http://127.0.0.1:9/b")
    await update(client, admin, id=second["id"], action="deactivate")
    for response in (
        await client.get("/webhooks.list", headers=admin.headers),
        await client.post("/webhooks.list", json={"cursor": "ignored", "limit": 5}, headers=admin.headers),
    ):
        assert response.status_code == 200, response.text
        assert_webhook_conforms("/webhooks.list", response.request.method, 200, response.json())
        assert [w["id"] for w in response.json()["webhooks"]] == [first["id"], second["id"]]
    inactive = await client.post("/webhooks.list", json={"status": ["inactive"]}, headers=admin.headers)
    assert [w["id"] for w in inactive.json()["webhooks"]] == [second["id"]]


async def test_update_changes_event_types_and_headers_by_add_remove_and_set(client, admin: Actor):
    hook = await create(
        client,
        admin,
        url="http://127.0.0.1:9/h",
        event_types=["incident_created"],
        headers=[{"name": "A", "value": "1"}],
    )
    changed = await update(
        client,
        admin,
        id=hook["id"],
        event_types={"add": ["incident_deleted", "incident_created"], "remove": ["incident_updated"]},
        headers={"add": [{"name": "B", "value": "2"}], "remove": ["a"]},
    )
    assert changed["event_types"] == ["incident_created", "incident_deleted"]
    assert changed["headers"] == [{"name": "B", "value": "2"}]
    replaced = await update(
        client, admin, id=hook["id"], event_types={"set": ["incident_updated"]}, headers={"set": []}
    )
    assert replaced["event_types"] == ["incident_updated"] and "headers" not in replaced  # empty: left out
    both = await client.post(
        "/webhooks.update",
        json={"id": hook["id"], "event_types": {"set": [], "add": ["incident_created"]}},
        headers=admin.headers,
    )
    assert both.status_code == 400 and both.json()["field_name"] == "event_types.set"


async def test_a_new_url_or_secret_needs_the_handshake_again(client, admin: Actor, receiver):
    hook = await create(client, admin, url=receiver.url(), event_types=["incident_created"])
    await eventually(lambda: len(receiver.received) == 1, what="the first verify")
    for _ in range(200):
        if (await get(client, admin, hook["id"]))["status"] == "active":
            break
        await __import__("asyncio").sleep(0.02)
    assert (await get(client, admin, hook["id"]))["status"] == "active"
    changed = await update(client, admin, id=hook["id"], secret="")
    assert changed["status"] == "unverified" and changed["secret"] != hook["secret"]
    await eventually(lambda: len(receiver.received) == 2, what="the second verify")
    deactivated = await update(client, admin, id=hook["id"], status="inactive")  # the Python SDK's spelling
    assert deactivated["status"] == "inactive"


async def test_activate_and_deactivate(client, admin: Actor):
    hook = await create(client, admin, url="http://127.0.0.1:9/h")
    assert (await update(client, admin, id=hook["id"], action="deactivate"))["status"] == "inactive"
    # Never verified: activating restarts the handshake.
    assert (await update(client, admin, id=hook["id"], action="activate"))["status"] == "unverified"
    assert (await update(client, admin, id=hook["id"], status="unverified"))["status"] == "unverified"


async def test_delete_answers_empty_and_the_webhook_is_gone(client, admin: Actor):
    hook = await create(client, admin, url="http://127.0.0.1:9/h")
    deleted = await client.post("/webhooks.delete", json={"id": hook["id"]}, headers=admin.headers)
    assert deleted.status_code == 200 and deleted.json() == {}
    again = await client.get("/webhooks.get", params={"id": hook["id"]}, headers=admin.headers)
    assert again.status_code == 404 and again.json()["type"] == "not_found"


@pytest.mark.parametrize(
    ("body", "kind", "field_name"),
    [
        ({"url": "ftp://example.com/x"}, "invalid_field", "url"),
        ({"url": "not a url"}, "invalid_field", "url"),
        ({"url": "http://x.test/h", "secret": "short"}, "invalid_field", "secret"),
        ({"url": "http://x.test/h", "secret": "x" * 33}, "invalid_field", "secret"),
        ({"url": "http://x.test/h", "event_types": ["verify"]}, "invalid_enum_value", "event_types[0]"),
        ({"url": "http://x.test/h", "headers": [{"name": "bad name", "value": "v"}]}, "invalid_field", None),
        ({"url": "http://x.test/h", "headers": [{"name": f"h{i}", "value": "v"} for i in range(9)]}, None, None),
        ({}, "missing_required_field", "url"),
    ],
)
async def test_bad_requests_name_the_field(client, admin: Actor, body: Body, kind: str | None, field_name: str | None):
    response = await client.post("/webhooks.create", json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    if kind is not None:
        assert response.json()["type"] == kind
    if field_name is not None:
        assert response.json()["field_name"] == field_name


async def test_a_member_gets_403_on_every_operation(client, admin: Actor, member: Actor):
    hook = await create(client, admin, url="http://127.0.0.1:9/h")
    for path, body in (
        ("/webhooks.create", {"url": "http://127.0.0.1:9/h"}),
        ("/webhooks.get", {"id": hook["id"]}),
        ("/webhooks.list", {}),
        ("/webhooks.update", {"id": hook["id"], "action": "deactivate"}),
        ("/webhooks.delete", {"id": hook["id"]}),
    ):
        response = await client.post(path, json=body, headers=member.headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["type"] == "forbidden"


async def test_another_orgs_webhooks_are_not_found(client, admin: Actor, app):
    hook = await create(client, admin, url="http://127.0.0.1:9/h")
    other = await make_org(app, "other-org")
    for path, body in (
        ("/webhooks.get", {"id": hook["id"]}),
        ("/webhooks.update", {"id": hook["id"], "action": "deactivate"}),
        ("/webhooks.delete", {"id": hook["id"]}),
    ):
        response = await client.post(path, json=body, headers=other.headers)
        assert response.status_code == 404, (path, response.text)
    listed = await client.post("/webhooks.list", json={}, headers=other.headers)
    assert listed.json() == {"webhooks": []}
    assert (await get(client, admin, hook["id"]))["status"] == "unverified"


async def test_an_idempotent_create_replays_the_secret_without_storing_it(client, admin: Actor, app):
    headers = {**admin.headers, "Idempotency-Key": "hook-1"}
    body = {"url": "http://127.0.0.1:9/h", "secret": SECRET}
    first = await client.post("/webhooks.create", json=body, headers=headers)
    again = await client.post("/webhooks.create", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.json()["webhook"]["secret"] == SECRET
    listed = await client.post("/webhooks.list", json={}, headers=admin.headers)
    assert len(listed.json()["webhooks"]) == 1
    async with app.state.db.read() as conn:
        stored = (await conn.execute(sa.text("SELECT body FROM idempotency_keys"))).all()
    assert stored and all(SECRET.encode() not in bytes(row.body) for row in stored)
