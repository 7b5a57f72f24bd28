"""GET /events.stream over a real uvicorn on loopback (httpx's ASGI transport waits for a response's end, and a
stream has none): the caller's org's events in order, resume after Last-Event-ID, the oldest retained event for
an expired id, 401 without a token, the caps, and a graceful shutdown that does not wait for open streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from webhooks_support import assert_event_conforms

from conftest import Actor, make_org
from incidentd import db as database
from incidentd import serving
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.incidents import schemas as incident_schemas
from incidentd.incidents import service as incidents
from incidentd.kit.time import now_ms
from incidentd.principal import ADMIN, MEMBER, OrgScope, Principal
from incidentd.webhooks import queue
from incidentd.webhooks.tables import webhook_events


@dataclass
class Served:
    app: Any
    server: uvicorn.Server
    task: asyncio.Task[None]
    url: str


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[Served]:
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=serving.BoundedHttpToolsProtocol,
        loop="none",
        log_level="warning",
        timeout_graceful_shutdown=30,  # far longer than the shutdown test allows: streams must end by themselves
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(app, server, task, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@pytest.fixture
def stream_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"events_stream_poll_seconds": 0.1, "events_stream_heartbeat_seconds": 15.0})


@pytest.fixture
async def served(stream_settings: Settings) -> AsyncIterator[Served]:
    async with serve(stream_settings) as found:
        yield found


@pytest.fixture
async def http(served: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as client:
        yield client


@pytest.fixture
async def owner(served: Served) -> Actor:
    created = await identity.bootstrap(served.app.state.db, admin_email="admin@incidentd.local")
    assert created is not None
    return Actor(created.org, created.admin_number, "dev_user", created.token.secret)


@dataclass
class Message:
    id: str | None
    event: str | None
    data: Any


@dataclass
class Events:
    """An open stream, read message by message (comments kept apart)."""

    response: httpx.Response
    lines: AsyncIterator[str]
    comments: list[str] = field(default_factory=list)

    async def next(self, seconds: float = 5.0) -> Message | None:
        """The next message; None when the stream ended."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(seconds):
            async for line in self.lines:
                if line == "":  # dispatched only with data, as browsers do (`retry:` alone is no message)
                    if "data" in fields:
                        return Message(fields.get("id"), fields.get("event"), json.loads(fields["data"]))
                    fields = {}
                    continue
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        return None

    async def opened(self) -> None:
        """Wait for the opening comment: the stream is listening from then on, so later commits reach it."""
        async with asyncio.timeout(5.0):
            async for line in self.lines:
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    return
        raise AssertionError("the stream ended before its opening comment")

    async def take(self, count: int, seconds: float = 5.0) -> list[Message]:
        found = []
        for _ in range(count):
            message = await self.next(seconds)
            assert message is not None, f"the stream ended after {len(found)} of {count} events"
            found.append(message)
        return found


@contextlib.asynccontextmanager
async def events(
    http: httpx.AsyncClient, actor: Actor, *, headers: dict[str, str] | None = None, **params: Any
) -> AsyncIterator[Events]:
    async with http.stream(
        "GET", "/events.stream", headers={**actor.headers, **(headers or {})}, params=params
    ) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Events(response, response.aiter_lines())
        await stream.opened()
        yield stream


async def create(http: httpx.AsyncClient, actor: Actor, title: str) -> dict[str, Any]:
    response = await http.post("/incidents.create", json={"title": title}, headers=actor.headers)
    assert response.status_code == 201, response.text
    return response.json()["incident"]


async def test_events_arrive_in_order_for_the_callers_org_only(http, served: Served, owner: Actor):
    other = await make_org(served.app, "other-org")
    async with events(http, owner) as mine, events(http, other) as theirs:
        first = await create(http, owner, "db down")
        await create(http, other, "their incident")
        updated = await http.post(
            "/incidents.update", json={"id": first["id"], "title": "db down (primary)"}, headers=owner.headers
        )
        assert updated.status_code == 200
        deleted = await http.post("/incidents.delete", json={"id": first["id"]}, headers=owner.headers)
        assert deleted.status_code == 200

        got = await mine.take(3)
        assert [m.event for m in got] == ["incident_created", "incident_updated", "incident_deleted"]
        seqs = [int(m.id or 0) for m in got]
        assert seqs == list(range(seqs[0], seqs[0] + 3))
        for message in got:
            assert message.data["type"] == message.event
            assert "webhook_id" not in message.data
            assert message.data["id"].endswith(f":webhook_event/{message.id}")
            # What a webhook receives, less its webhook_id.
            assert_event_conforms({**message.data, "webhook_id": owner.org.don("webhook", 1)})
        assert got[0].data["incident_created"]["incident"]["id"] == first["id"]
        assert got[1].data["incident_updated"]["incident"]["title"] == "db down (primary)"
        assert got[1].data["incident_updated"]["old_incident"]["title"] == "db down"
        assert got[2].data["incident_deleted"]["id"] == first["id"]

        (their,) = await theirs.take(1)
        assert their.data["incident_created"]["incident"]["title"] == "their incident"
        with pytest.raises(TimeoutError):  # nothing of the other org's changes, ever
            await theirs.next(0.5)


async def test_last_event_id_resumes_with_exactly_the_missed_events(http, owner: Actor):
    async with events(http, owner) as stream:
        await create(http, owner, "one")
        await create(http, owner, "two")
        seen = await stream.take(2)
    last = seen[-1].id
    assert last is not None
    for title in ("three", "four", "five"):
        await create(http, owner, title)

    async with events(http, owner, headers={"Last-Event-ID": last}) as resumed:
        missed = await resumed.take(3)
        assert [m.data["incident_created"]["incident"]["title"] for m in missed] == ["three", "four", "five"]
        assert [int(m.id or 0) for m in missed] == [int(last) + 1, int(last) + 2, int(last) + 3]
        await create(http, owner, "six")  # and then what commits next
        (live,) = await resumed.take(1)
        assert live.data["incident_created"]["incident"]["title"] == "six"

    # The query parameter, for clients that cannot set headers; the header wins when both are given.
    async with events(http, owner, last_event_id=int(last) + 2) as by_query:
        assert [m.data["incident_created"]["incident"]["title"] for m in await by_query.take(2)] == ["five", "six"]
    async with events(http, owner, headers={"Last-Event-ID": str(int(last) + 3)}, last_event_id=0) as both:
        assert [m.data["incident_created"]["incident"]["title"] for m in await both.take(1)] == ["six"]

    # Without an id the stream starts with the next commit.
    async with events(http, owner) as fresh:
        with pytest.raises(TimeoutError):
            await fresh.next(0.4)


async def test_an_expired_id_starts_from_the_oldest_retained_event_and_a_future_id_from_the_next(
    http, served: Served, owner: Actor
):
    for title in ("old-1", "old-2"):
        await create(http, owner, title)
    db: database.Database = served.app.state.db
    async with db.write() as conn:  # the retention sweep, as if both were older than the retention
        await queue.sweep(conn, now_ms() + 1)
    await create(http, owner, "kept")

    async with events(http, owner, headers={"Last-Event-ID": "1"}) as stream:
        (first,) = await stream.take(1)
        assert first.data["incident_created"]["incident"]["title"] == "kept"
        assert first.id == "3"  # the jump from 1 shows the client that event 2 is gone

    async with events(http, owner, headers={"Last-Event-ID": "999999"}) as ahead:
        await create(http, owner, "next")
        (message,) = await ahead.take(1)
        assert message.id == "4" and message.data["incident_created"]["incident"]["title"] == "next"


async def test_without_a_valid_token_401_and_a_malformed_id_400(http, owner: Actor):
    assert (await http.get("/events.stream")).status_code == 401
    refused = await http.get("/events.stream", headers={"Authorization": "Bearer idt_not-a-token"})
    assert refused.status_code == 401 and refused.json()["type"] == "unauthenticated"
    for wrong in ("abc", "-1", "1.5", "²", "9" * 20):
        bad = await http.get("/events.stream", headers={**owner.headers, "Last-Event-ID": wrong.encode()})
        assert bad.status_code == 400 and bad.json()["field_name"] == "Last-Event-ID", wrong
    negative = await http.get("/events.stream", params={"last_event_id": -1}, headers=owner.headers)
    assert negative.status_code == 400 and negative.json()["type"] == "invalid_field"
    assert "last_event_id" in negative.json()["message"]


async def test_heartbeats_keep_an_idle_stream_open(settings: Settings):
    async with serve(settings.model_copy(update={"events_stream_heartbeat_seconds": 0.2})) as found:
        actor = await make_org(found.app, "quiet-org")
        async with httpx.AsyncClient(base_url=found.url, timeout=10) as client, events(client, actor) as stream:
            with pytest.raises(TimeoutError):
                await stream.next(0.7)
            assert stream.comments.count("heartbeat") >= 2


async def test_a_members_token_streams_and_a_revoked_tokens_stream_ends(settings: Settings):
    async with serve(settings.model_copy(update={"events_stream_heartbeat_seconds": 0.2})) as found:
        actor = await make_org(found.app, "revoking-org", role=MEMBER)
        async with httpx.AsyncClient(base_url=found.url, timeout=10) as client, events(client, actor) as stream:
            await create(client, actor, "seen by a member")
            (message,) = await stream.take(1)
            assert message.data["incident_created"]["incident"]["title"] == "seen by a member"
            revoked = await client.post("/auth-tokens.delete", json={}, headers=actor.headers)
            assert revoked.status_code == 200, revoked.text
            assert await stream.next(5) is None
            assert "the token is no longer valid" in stream.comments


async def test_open_streams_are_capped_per_org_429_and_per_process_503(settings: Settings):
    capped = settings.model_copy(update={"events_stream_max_per_org": 1, "events_stream_max_per_process": 2})
    async with serve(capped) as found, httpx.AsyncClient(base_url=found.url, timeout=10) as client:
        one, two, three = [await make_org(found.app, f"org-{n}") for n in range(3)]
        async with events(client, one):
            again = await client.get("/events.stream", headers=one.headers)
            assert again.status_code == 429 and again.json()["type"] == "too_many_requests"
            assert again.headers["retry-after"]
            async with events(client, two):
                full = await client.get("/events.stream", headers=three.headers)
                assert full.status_code == 503 and full.json()["type"] == "service_unavailable"
        # Closed streams give their places back.
        async with events(client, one), events(client, three):
            pass


async def test_commits_of_another_process_arrive_by_the_poll(http, served: Served, owner: Actor, settings):
    elsewhere = database.Database(settings)  # another process's database handle: its commits wake nobody here
    principal = Principal(owner.org, owner.user_number, "dev_user", role=ADMIN)
    try:
        async with events(http, owner) as stream:
            await incidents.create(elsewhere, principal, incident_schemas.IncidentsCreateRequest(title="from afar"))
            (message,) = await stream.take(1, seconds=3)
            assert message.data["incident_created"]["incident"]["title"] == "from afar"
    finally:
        await elsewhere.dispose()


async def test_graceful_shutdown_ends_open_streams_at_once(stream_settings: Settings):
    async with serve(stream_settings) as found:
        actor = await make_org(found.app, "leaving-org")
        async with httpx.AsyncClient(base_url=found.url, timeout=10) as client, events(client, actor) as stream:
            started = time.monotonic()
            found.server.should_exit = True  # what SIGTERM does
            assert await stream.next(10) is None  # the response ended (cleanly: no transport error)
            await asyncio.wait_for(asyncio.shield(found.task), 10)
            assert time.monotonic() - started < 5, "the shutdown waited for the open stream"
            assert any("shutting down" in comment for comment in stream.comments)


async def test_with_the_stream_off_the_route_is_404_and_orgs_without_webhooks_record_nothing(settings: Settings):
    async with serve(settings.model_copy(update={"events_stream": False})) as found:
        actor = await make_org(found.app, "no-stream-org")
        async with httpx.AsyncClient(base_url=found.url, timeout=10) as client:
            assert (await client.get("/events.stream", headers=actor.headers)).status_code == 404
            await create(client, actor, "unobserved")
        async with found.app.state.db.read() as conn:
            assert (await conn.execute(webhook_events.select())).all() == []


async def test_sigterm_to_incidentd_serve_with_two_workers_does_not_wait_for_open_streams(
    database_url: str, tmp_path: Path
):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "incidentd", "serve", "--port", str(port), "--workers", "2", "--database-url", database_url),
        *("--shutdown-timeout", "30"),  # far longer than allowed below: the streams must end by themselves
        cwd=tmp_path,
        env={**os.environ, "INCIDENTD_ARTIFACTS_DIR": str(tmp_path / "artifacts"), "INCIDENTD_LOG_LEVEL": "warning"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        output = b""
        while (found := re.search(rb"idt_[A-Za-z0-9_-]+", output)) is None:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line, output  # the first start of an empty database prints the admin's token
            output += line
        actor = Actor(OrgScope(0, "default", "dvrv-us-1"), 1, "dev_user", found.group().decode())
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/ready")).status_code == 200:
                        break
                assert time.monotonic() < deadline, "the server did not become ready"
                await asyncio.sleep(0.2)
            async with events(client, actor) as first, events(client, actor) as second:
                started = time.monotonic()
                process.send_signal(signal.SIGTERM)
                assert await first.next(10) is None and await second.next(10) is None
            assert await asyncio.wait_for(process.wait(), 10) == 0
            assert time.monotonic() - started < 8, "the shutdown waited for the open streams"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
