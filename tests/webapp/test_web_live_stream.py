"""GET /web/events.stream over a real uvicorn on loopback (a stream never ends, which httpx's ASGI transport
waits for): a session is needed, the user's org's events only, an API change arrives, logout ends the stream,
the caps are the API stream's; the pages load live.js and the incident page answers live.js with its section."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from webpages import csrf_of, give_password, log_in

from conftest import Actor, make_org
from incidentd import serving
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.logins.tables import web_sessions
from incidentd.webapp import assets

STREAM = "/web/events.stream"


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[tuple[Any, str]]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=serving.BoundedHttpToolsProtocol, loop="none", log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "uvicorn did not start"
        await asyncio.sleep(0.02)
    try:
        yield app, f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


@pytest.fixture
def live_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"events_stream_poll_seconds": 0.1, "events_stream_heartbeat_seconds": 0.2})


@contextlib.asynccontextmanager
async def browser_of(app: Any, url: str, actor: Actor) -> AsyncIterator[httpx.AsyncClient]:
    """A client logged in as the actor's user through the login form, as a browser is."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        await give_password(app, actor.org, f"owner@{actor.org.slug}.test")
        answer = await log_in(client, f"owner@{actor.org.slug}.test", org=actor.org.slug)
        assert answer.status_code == 303, answer.text
        yield client


class Reader:
    """An open stream's lines, read by a task into a queue: a wait that times out leaves the stream readable."""

    def __init__(self, response: httpx.Response) -> None:
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.comments: list[str] = []
        self.task = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        try:
            async for line in response.aiter_lines():
                await self.queue.put(line)
        finally:
            await self.queue.put(None)

    async def next(self, seconds: float = 5.0) -> dict[str, Any] | None:
        """The next message's fields (data decoded); None when the stream ended."""
        fields: dict[str, Any] = {}
        async with asyncio.timeout(seconds):
            while (line := await self.queue.get()) is not None:
                if line == "":
                    if "data" in fields:
                        return {**fields, "data": json.loads(fields["data"])}
                    fields = {}
                elif line.startswith(":"):
                    self.comments.append(line[1:].strip())
                else:
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")
        return None

    async def opened(self) -> None:
        """The opening comment: the stream listens from here on, so later commits reach it."""
        async with asyncio.timeout(5):
            line = await self.queue.get()
        assert line is not None and line.startswith(":"), line


@contextlib.asynccontextmanager
async def web_stream(client: httpx.AsyncClient) -> AsyncIterator[Reader]:
    async with client.stream("GET", STREAM) as response:
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        reader = Reader(response)
        try:
            await reader.opened()
            yield reader
        finally:
            reader.task.cancel()


async def create(url: str, actor: Actor, title: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        answer = await api.post("/incidents.create", json={"title": title}, headers=actor.headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json()["incident"])


async def test_without_a_session_the_web_stream_is_401(live_settings: Settings):
    async with serve(live_settings) as (app, url), httpx.AsyncClient(base_url=url, timeout=10) as anonymous:
        actor = await make_org(app, "no-session-org")
        assert (await anonymous.get(STREAM)).status_code == 401
        anonymous.cookies.set("incidentd_session", "ids_not-a-session")
        assert (await anonymous.get(STREAM)).status_code == 401
        anonymous.cookies.clear()
        # An API token is not a session: the web route does not take it.
        assert (await anonymous.get(STREAM, headers=actor.headers)).status_code == 401


async def test_api_changes_of_the_users_org_arrive_and_another_orgs_never(live_settings: Settings):
    async with serve(live_settings) as (app, url):
        mine, theirs = await make_org(app, "live-mine"), await make_org(app, "live-theirs")
        async with browser_of(app, url, mine) as browser, web_stream(browser) as stream:
            await create(url, theirs, "their incident")
            created = await create(url, mine, "made through the API")
            message = await stream.next()
            assert message is not None and message["event"] == "incident_created"
            assert message["data"]["incident_created"]["incident"]["id"] == created["id"]
            with pytest.raises(TimeoutError):  # nothing of the other org's, ever
                await stream.next(0.6)
            assert "heartbeat" in stream.comments


async def test_logging_out_ends_the_stream_at_the_next_heartbeat(live_settings: Settings):
    async with serve(live_settings) as (app, url):
        actor = await make_org(app, "live-logout")
        async with browser_of(app, url, actor) as browser:
            csrf = csrf_of((await browser.get("/web/incidents")).text)
            async with web_stream(browser) as stream:
                logged_out = await browser.post("/web/logout", data={"csrf_token": csrf})
                assert logged_out.status_code in (200, 303), logged_out.text
                assert await stream.next(5) is None
                assert "the credential is no longer valid" in stream.comments


async def test_an_idle_session_ends_the_stream_which_does_not_count_as_activity(live_settings: Settings):
    async with serve(live_settings) as (app, url):
        actor = await make_org(app, "live-idle")
        async with browser_of(app, url, actor) as browser:
            db = app.state.db
            owned = web_sessions.c.dev_org_id == actor.org.dev_org_id
            async with db.write() as conn:  # a minute and more since the last page: the next page would touch it
                await conn.execute(
                    sa.update(web_sessions).where(owned).values(last_seen_at=web_sessions.c.last_seen_at - 61_000)
                )
            async with web_stream(browser) as stream:
                async with db.read() as conn:
                    seen = (await conn.execute(sa.select(web_sessions.c.last_seen_at).where(owned))).scalar_one()
                with pytest.raises(TimeoutError):  # several heartbeats' checks...
                    await stream.next(0.7)
                async with db.read() as conn:  # ...none of which touched the session
                    assert (
                        await conn.execute(sa.select(web_sessions.c.last_seen_at).where(owned))
                    ).scalar_one() == seen
                idle = live_settings.web_session_idle_seconds * 1000
                async with db.write() as conn:  # idle too long now: the next heartbeat's check ends the stream
                    await conn.execute(sa.update(web_sessions).where(owned).values(last_seen_at=seen - idle - 1))
                assert await stream.next(5) is None
                assert "the credential is no longer valid" in stream.comments


async def test_the_web_stream_counts_against_the_api_streams_caps(settings: Settings):
    capped = settings.model_copy(update={"events_stream_max_per_org": 1})
    async with serve(capped) as (app, url):
        actor = await make_org(app, "live-capped")
        async with browser_of(app, url, actor) as browser, httpx.AsyncClient(base_url=url, timeout=10) as api:
            async with api.stream("GET", "/events.stream", headers=actor.headers) as open_api_stream:
                assert open_api_stream.status_code == 200
                refused = await browser.get(STREAM)
                assert refused.status_code == 429 and refused.headers["retry-after"]
            async with web_stream(browser):  # the API stream's place was given back
                pass


async def test_the_pages_load_live_js_and_the_incident_answers_with_its_section(live_settings: Settings):
    async with serve(live_settings) as (app, url):
        actor = await make_org(app, "live-pages")
        created = await create(url, actor, "refreshed in place")
        async with browser_of(app, url, actor) as browser:
            board = await browser.get("/web/incidents")
            script = f'<script src="{assets.url_of("live.js")}" data-stream="{STREAM}" defer></script>'
            assert script in board.text
            assert 'hx-trigger="every 5s, live"' in board.text and "data-live" in board.text
            served_js = await browser.get(assets.url_of("live.js"))
            assert served_js.status_code == 200 and "EventSource" in served_js.text
            assert served_js.headers["content-type"].startswith("text/javascript")

            page = await browser.get(f"/web/incidents/{created['display_id']}")
            assert script in page.text and f'data-live-incident="{created["id"]}"' in page.text
            section = await browser.get(
                f"/web/incidents/{created['display_id']}", headers={"HX-Request": "true", "HX-Target": "incident"}
            )
            assert section.status_code == 200
            assert section.text.lstrip().startswith('<div id="incident"') and "<html" not in section.text
            assert "refreshed in place" in section.text
