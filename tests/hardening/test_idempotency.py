"""Idempotency keys: a retry replays the first answer and changes nothing; a different request with the key is
400; concurrent duplicates make one effect; keys expire; an answer is stored only with its committed effect."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from harness import Served, new_org, serving

from conftest import ON_CITUS, ON_POSTGRES, Actor
from contract import assert_conforms
from incidentd.config import Settings
from incidentd.idempotency import service as idempotency
from incidentd.idempotency.tables import idempotency_keys
from incidentd.incidents import repository as incidents_repository
from incidentd.incidents.tables import incidents


def keyed(actor: Actor, key: str) -> dict[str, str]:
    return {**actor.headers, "Idempotency-Key": key}


async def incident_count(served: Served, actor: Actor) -> int:
    async with served.db.read() as conn:
        query = sa.select(sa.func.count()).select_from(incidents).where(incidents.c.dev_org_id == actor.org.dev_org_id)
        return (await conn.execute(query)).scalar_one()


async def stored_keys(served: Served) -> list[Any]:
    async with served.db.read() as conn:
        return list(await conn.execute(sa.select(idempotency_keys)))


@contextlib.asynccontextmanager
async def paused_inserts(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[asyncio.Event, asyncio.Event]]:
    """Incident inserts stop inside their transaction until `release` is set; `reached` says one got there."""
    reached, release = asyncio.Event(), asyncio.Event()
    original = incidents_repository.insert

    async def insert(conn: Any, *arguments: Any) -> Any:
        row = await original(conn, *arguments)
        reached.set()
        await release.wait()
        return row

    monkeypatch.setattr(incidents_repository, "insert", insert)
    yield reached, release
    release.set()


async def test_a_retry_replays_the_first_answer_and_creates_nothing(client, admin: Actor, app):
    served = Served(app, client)
    first = await client.post("/incidents.create", json={"title": "Disk full"}, headers=keyed(admin, "create-1"))
    assert first.status_code == 201, first.text
    assert_conforms("/incidents.create", "post", 201, first.json())
    assert "idempotent-replayed" not in first.headers
    for _ in range(2):
        retry = await client.post("/incidents.create", json={"title": "Disk full"}, headers=keyed(admin, "create-1"))
        assert retry.status_code == 201
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.headers["content-type"] == first.headers["content-type"]
        assert retry.content == first.content
    assert await incident_count(served, admin) == 1
    # A new key is a new request.
    other = await client.post("/incidents.create", json={"title": "Disk full"}, headers=keyed(admin, "create-2"))
    assert other.status_code == 201
    assert other.json()["incident"]["display_id"] == "INC-2"
    assert await incident_count(served, admin) == 2


async def test_updates_and_deletes_replay_too(client, admin: Actor, app):
    created = (await client.post("/incidents.create", json={"title": "A"}, headers=admin.headers)).json()["incident"]
    update = {"id": created["id"], "title": "B"}
    first = await client.post("/incidents.update", json=update, headers=keyed(admin, "u"))
    assert first.status_code == 200
    await asyncio.sleep(0.01)
    retry = await client.post("/incidents.update", json=update, headers=keyed(admin, "u"))
    assert (retry.status_code, retry.content, retry.headers["idempotent-replayed"]) == (200, first.content, "true")
    current = await client.get("/incidents.get", params={"id": created["id"]}, headers=admin.headers)
    assert current.json()["incident"]["modified_date"] == first.json()["incident"]["modified_date"]

    deleted = await client.post("/incidents.delete", json={"id": created["id"]}, headers=keyed(admin, "d"))
    assert (deleted.status_code, deleted.json()) == (200, {})
    again = await client.post("/incidents.delete", json={"id": created["id"]}, headers=keyed(admin, "d"))
    assert (again.status_code, again.json(), again.headers["idempotent-replayed"]) == (200, {}, "true")
    unkeyed = await client.post("/incidents.delete", json={"id": created["id"]}, headers=admin.headers)
    assert unkeyed.status_code == 404


async def test_the_same_key_with_another_request_is_400_naming_the_key(client, admin: Actor, app):
    served = Served(app, client)
    assert (await client.post("/incidents.create", json={"title": "A"}, headers=keyed(admin, "k"))).status_code == 201
    for path, body in (("/incidents.create", {"title": "B"}), ("/tags.create", {"name": "A"})):
        response = await client.post(path, json=body, headers=keyed(admin, "k"))
        assert response.status_code == 400, response.text
        assert_conforms(path, "post", 400, response.json())
        assert response.json()["type"] == "bad_request"
        assert "'k'" in response.json()["message"] and "different request" in response.json()["message"]
    assert await incident_count(served, admin) == 1


async def test_keys_belong_to_their_principal(client, admin: Actor, app):
    served = Served(app, client)
    other = await new_org(app)
    for actor in (admin, other):
        response = await client.post("/incidents.create", json={"title": "same"}, headers=keyed(actor, "shared"))
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers
    assert await incident_count(served, admin) == await incident_count(served, other) == 1


async def test_fifty_concurrent_requests_with_one_key_make_one_incident(client, admin: Actor, app):
    served = Served(app, client)
    body = {"title": "Checkout down", "severity": 1}
    responses = await asyncio.gather(
        *(client.post("/incidents.create", json=body, headers=keyed(admin, "storm")) for _ in range(50))
    )
    assert [r.status_code for r in responses] == [201] * 50, {r.text for r in responses}
    assert len({r.content for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 49
    assert await incident_count(served, admin) == 1


async def test_concurrent_duplicates_on_two_servers_make_one_incident(settings: Settings):
    # Two apps on one database stand for two worker processes: only the database's claim can decide here.
    async with serving(settings) as first, serving(settings) as second:
        holder = await new_org(first.app)
        body = {"title": "Replication lag"}
        responses = await asyncio.gather(
            *(
                served.client.post("/incidents.create", json=body, headers=keyed(holder, "two-servers"))
                for _ in range(25)
                for served in (first, second)
            )
        )
        assert [r.status_code for r in responses] == [201] * 50, {r.text for r in responses}
        assert len({r.content for r in responses}) == 1
        assert await incident_count(first, holder) == 1


async def test_a_retry_waits_for_the_running_first_request(client, admin: Actor, app, monkeypatch):
    served = Served(app, client)
    async with paused_inserts(monkeypatch) as (reached, release):
        first = asyncio.create_task(
            client.post("/incidents.create", json={"title": "slow"}, headers=keyed(admin, "wait"))
        )
        await reached.wait()
        retry = asyncio.create_task(
            client.post("/incidents.create", json={"title": "slow"}, headers=keyed(admin, "wait"))
        )
        await asyncio.sleep(0.2)
        assert not retry.done()
        release.set()
        first_response, retry_response = await first, await retry
    assert first_response.status_code == retry_response.status_code == 201
    assert retry_response.content == first_response.content
    assert retry_response.headers["idempotent-replayed"] == "true"
    assert await incident_count(served, admin) == 1


async def test_a_retry_that_waits_too_long_is_409_and_the_first_still_answers(settings: Settings, monkeypatch):
    async with serving(settings, idempotency_wait_seconds=0.3) as served:
        holder = await new_org(served.app)
        async with paused_inserts(monkeypatch) as (reached, release):
            first = asyncio.create_task(
                served.client.post("/incidents.create", json={"title": "slow"}, headers=keyed(holder, "busy"))
            )
            await reached.wait()
            started = time.monotonic()
            retry = await served.client.post("/incidents.create", json={"title": "slow"}, headers=keyed(holder, "busy"))
            assert time.monotonic() - started < 2
            assert retry.status_code == 409, retry.text
            assert_conforms("/accounts.create", "post", 409, retry.json())  # error-conflict
            assert retry.json()["type"] == "conflict"
            release.set()
            assert (await first).status_code == 201
        later = await served.client.post("/incidents.create", json={"title": "slow"}, headers=keyed(holder, "busy"))
        assert later.headers["idempotent-replayed"] == "true"
        assert await incident_count(served, holder) == 1


async def test_error_answers_are_not_stored_and_leave_nothing(client, admin: Actor, app):
    served = Served(app, client)
    bad_reference = {"title": "x", "owned_by": ["DEVU-999"]}
    rejected = await client.post("/incidents.create", json=bad_reference, headers=keyed(admin, "fix-and-retry"))
    assert rejected.status_code == 400
    assert rejected.json()["type"] == "invalid_id"
    assert await stored_keys(served) == []
    # The key is still free: the corrected request runs.
    fixed = await client.post("/incidents.create", json={"title": "x"}, headers=keyed(admin, "fix-and-retry"))
    assert fixed.status_code == 201
    assert "idempotent-replayed" not in fixed.headers
    assert await incident_count(served, admin) == 1


async def test_requests_without_a_key_or_without_writes_store_nothing(client, admin: Actor, app):
    served = Served(app, client)
    assert (await client.post("/incidents.create", json={"title": "x"}, headers=admin.headers)).status_code == 201
    listed = await client.post("/incidents.list", json={}, headers=keyed(admin, "a-read"))
    assert listed.status_code == 200
    assert "idempotent-replayed" not in listed.headers
    assert await stored_keys(served) == []


async def test_a_malformed_key_is_400(client, admin: Actor):
    for key in (b"x" * 256, b"tab\there", "é".encode(), b""):
        response = await client.post(
            "/incidents.create", json={"title": "x"}, headers=[*admin.headers.items(), (b"Idempotency-Key", key)]
        )
        assert response.status_code == 400, key
        assert response.json()["type"] == "bad_request"
        assert "Idempotency-Key" in response.json()["message"]


async def test_a_key_expires_after_its_time_and_the_cleanup_deletes_it(client, admin: Actor, app):
    served = Served(app, client)
    first = await client.post("/incidents.create", json={"title": "old"}, headers=keyed(admin, "day-old"))
    [row] = await stored_keys(served)
    assert row.expires_at - row.created_at == 24 * 3600 * 1000
    async with served.db.write() as conn:  # a day passes
        await conn.execute(sa.update(idempotency_keys).values(expires_at=row.created_at - 1))
    reused = await client.post("/incidents.create", json={"title": "new"}, headers=keyed(admin, "day-old"))
    assert reused.status_code == 201
    assert "idempotent-replayed" not in reused.headers
    assert reused.json()["incident"]["id"] != first.json()["incident"]["id"]
    assert [r.status_code for r in await stored_keys(served)] == [201]

    async with served.db.write() as conn:
        await conn.execute(sa.update(idempotency_keys).values(expires_at=1))
    assert await idempotency.purge_expired(served.db, batch=2) == 1
    assert await stored_keys(served) == []


async def test_the_background_cleanup_deletes_expired_keys_in_batches(settings: Settings):
    # The keys must outlive the 5 creates: on Citus, on 2 shared cores, those took over a second.
    ttl = 4 if ON_CITUS else 1
    async with serving(settings, idempotency_cleanup_seconds=0.05, idempotency_ttl_seconds=ttl) as served:
        holder = await new_org(served.app)
        for index in range(5):
            response = await served.client.post(
                "/tags.create", json={"name": f"t{index}"}, headers=keyed(holder, f"k{index}")
            )
            assert response.status_code == 201
        assert len(await stored_keys(served)) == 5
        for _ in range(50 * ttl):  # the cleanup runs every 50 ms; give it 5 s per second of time to live
            await asyncio.sleep(0.1)
            if not await stored_keys(served):
                break
        assert await stored_keys(served) == []
    async with serving(settings) as served:  # many expired rows go in several small transactions
        holder = await new_org(served.app)
        async with served.db.write() as conn:
            await conn.execute(
                sa.insert(idempotency_keys),
                [
                    {
                        "dev_org_id": holder.org.dev_org_id,
                        "user_number": holder.user_number,
                        "idempotency_key": f"old-{index}",
                        "request_hash": "0" * 64,
                        "status_code": 201,
                        "media_type": "application/json",
                        "body": b"{}",
                        "created_at": 0,
                        "expires_at": 1,
                    }
                    for index in range(1203)
                ],
            )
        assert await idempotency.purge_expired(served.db) == 1203
        assert await stored_keys(served) == []


async def test_a_success_whose_commit_fails_is_503_and_leaves_nothing(client, admin: Actor, app, monkeypatch):
    served = Served(app, client)
    original = idempotency.record

    async def record_then_lose_the_database(conn: Any, key: Any, answer: Any) -> None:
        await original(conn, key, answer)
        raise ConnectionResetError("the database connection dropped")

    monkeypatch.setattr(idempotency, "record", record_then_lose_the_database)
    response = await client.post("/incidents.create", json={"title": "x"}, headers=keyed(admin, "lost"))
    assert response.status_code == 503, response.text
    assert_conforms("/incidents.create", "post", 503, response.json())
    assert int(response.headers["retry-after"]) >= 1
    assert await incident_count(served, admin) == 0
    assert await stored_keys(served) == []

    monkeypatch.setattr(idempotency, "record", original)
    retry = await client.post("/incidents.create", json={"title": "x"}, headers=keyed(admin, "lost"))
    assert retry.status_code == 201
    assert await incident_count(served, admin) == 1


@pytest.mark.parametrize("with_key", [True, False])
async def test_a_cancelled_request_rolls_back_and_frees_the_database(client, admin: Actor, app, monkeypatch, with_key):
    """A client that goes away mid-request (a server that cancels its task) leaves no half-done transaction, no
    checked-out connection and no held writer lock."""
    served = Served(app, client)
    headers = keyed(admin, "gone") if with_key else admin.headers
    async with paused_inserts(monkeypatch) as (reached, _release):
        request = asyncio.create_task(client.post("/incidents.create", json={"title": "x"}, headers=headers))
        await reached.wait()
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
    await asyncio.sleep(0.05)
    assert [engine.pool.checkedout() for engine in served.db.engines] == [0] * len(served.db.engines)
    assert await incident_count(served, admin) == 0
    assert await stored_keys(served) == []
    started = time.monotonic()
    response = await client.post("/incidents.create", json={"title": "x"}, headers=headers)
    assert response.status_code == 201
    assert time.monotonic() - started < 1
    assert await incident_count(served, admin) == 1


async def test_a_retry_on_another_server_while_the_first_runs_never_acts_twice(settings: Settings, monkeypatch):
    """Across processes the database's claim decides: PostgreSQL waits on the first transaction's key, then
    answers 409 (the wait is `idempotency_wait_seconds`); SQLite waits on the writer lock, then answers 503."""
    async with (
        serving(settings, idempotency_wait_seconds=0.5, db_wait_seconds=0.5) as first,
        serving(settings, idempotency_wait_seconds=0.5, db_wait_seconds=0.5) as second,
    ):
        holder = await new_org(first.app)
        async with paused_inserts(monkeypatch) as (reached, release):
            running = asyncio.create_task(
                first.client.post("/incidents.create", json={"title": "once"}, headers=keyed(holder, "x-proc"))
            )
            await reached.wait()
            started = time.monotonic()
            retry = await second.client.post(
                "/incidents.create", json={"title": "once"}, headers=keyed(holder, "x-proc")
            )
            assert time.monotonic() - started < 3
            if ON_POSTGRES:
                assert retry.status_code == 409, retry.text
                assert retry.json()["type"] == "conflict"
            else:
                assert retry.status_code == 503, retry.text
                assert retry.json()["type"] == "service_unavailable"
            release.set()
            assert (await running).status_code == 201
        replayed = await second.client.post(
            "/incidents.create", json={"title": "once"}, headers=keyed(holder, "x-proc")
        )
        assert replayed.headers["idempotent-replayed"] == "true"
        assert replayed.content == (await running).content
        assert await incident_count(first, holder) == 1


async def test_an_oversized_body_with_a_key_is_413_and_stores_nothing(settings: Settings):
    async with serving(settings, max_body_bytes=2048) as served:
        holder = await new_org(served.app)
        big = {"title": "x", "body": "y" * 4096}
        response = await served.client.post("/incidents.create", json=big, headers=keyed(holder, "big"))
        assert response.status_code == 413
        assert response.json()["type"] == "request_entity_too_large"
        assert await stored_keys(served) == []
        assert await incident_count(served, holder) == 0
