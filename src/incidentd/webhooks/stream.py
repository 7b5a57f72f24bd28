"""`GET /events.stream`: the org's committed events as Server-Sent Events, from the outbox webhooks deliver from.

Each event is one SSE message: `id: <seq>` (the org's event sequence number: consecutive, so a jump shows events
that were no longer retained), `event: <type>`, `data: <envelope JSON>` where the envelope is the one webhooks
POST without `webhook_id`: `{id, timestamp, type, <type>: {...}}`, `timestamp` being when the change was made.

Where it starts: after `Last-Event-ID` (or `last_event_id`) when given, so a reconnecting client gets every event
it missed that is still retained (an id older than the oldest retained event starts from the oldest retained; an
id past the org's latest event starts with the next one); without one, with the next event committed.

How it waits: this process's commits of the org's events wake it at once (`outbox.listen`); other processes'
are found by a poll every `events_stream_poll_seconds`. A comment every `events_stream_heartbeat_seconds` keeps
proxies from closing an idle stream. Bounded: open streams per org and per process are capped (429 / 503 before
the response starts), every stream ends, cleanly, when the server begins shutting down (`draining`), and its
token is checked again every heartbeat (a revoked token's stream ends).
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import structlog

from incidentd import draining
from incidentd.db import Database
from incidentd.errors import InvalidField, NotFound, ServiceUnavailable, TooManyRequests, Unauthenticated
from incidentd.identity import service as identity
from incidentd.kit.time import to_rfc3339
from incidentd.principal import OrgScope, Principal
from incidentd.webhooks import outbox, repository, sending

log = structlog.get_logger("incidentd.webhooks")

BATCH = 200  # events read (and written to the client) at a time
MAX_EVENT_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() would take "²", which int() refuses
RETRY_MS = 2000  # how long a disconnected client waits before it reconnects (SSE `retry:`)
RETRY_AFTER_SECONDS = 5  # the Retry-After of a stream refused by the caps


class OpenStreams:
    """This process's open streams, counted per org against the caps."""

    def __init__(self) -> None:
        self.per_org: Counter[int] = Counter()

    @property
    def total(self) -> int:
        return sum(self.per_org.values())

    def admit(self, db: Database, dev_org_id: int) -> Admission:
        settings = db.settings
        if self.per_org[dev_org_id] >= settings.events_stream_max_per_org:
            raise TooManyRequests(
                f"this org has {settings.events_stream_max_per_org} event streams open already; close one first",
                retry_after=RETRY_AFTER_SECONDS,
            )
        if self.total >= settings.events_stream_max_per_process:
            raise ServiceUnavailable(
                "this server has as many event streams open as it serves; retry later", retry_after=RETRY_AFTER_SECONDS
            )
        self.per_org[dev_org_id] += 1
        return Admission(self, dev_org_id)


class Admission:
    """One admitted stream's place under the caps, given back exactly once."""

    def __init__(self, streams: OpenStreams, dev_org_id: int) -> None:
        self._streams: OpenStreams | None = streams
        self.dev_org_id = dev_org_id

    def release(self) -> None:
        streams, self._streams = self._streams, None
        if streams is not None:
            streams.per_org[self.dev_org_id] -= 1
            if streams.per_org[self.dev_org_id] <= 0:
                del streams.per_org[self.dev_org_id]


_open: weakref.WeakKeyDictionary[Database, OpenStreams] = weakref.WeakKeyDictionary()


def open_streams(db: Database) -> OpenStreams:
    found = _open.get(db)
    if found is None:
        found = _open[db] = OpenStreams()
    return found


def resume_point(header: str | None, query: int | None) -> int | None:
    """The sequence number to resume after: the `Last-Event-ID` header, else the `last_event_id` parameter."""
    if header is None or not header.strip():
        return query
    value = header.strip()
    if not _DIGITS.fullmatch(value) or int(value) > MAX_EVENT_ID:
        raise InvalidField(
            "Last-Event-ID must be an event id this stream sent (a non-negative integer)", field_name="Last-Event-ID"
        )
    return int(value)


async def open_stream(
    db: Database, principal: Principal, token: str, last_event_id: int | None
) -> AsyncIterator[bytes]:
    """The stream of the caller's org, admitted under the caps (raises before anything is sent when over them).
    `token` is checked again every heartbeat: a stream ends once its token is revoked or expired."""
    if not db.settings.events_stream:
        raise NotFound("route not found")
    org = principal.org
    admission = open_streams(db).admit(db, org.dev_org_id)
    try:
        async with db.read() as conn:
            latest = await repository.last_seq(conn, org.dev_org_id)
    except BaseException:
        admission.release()
        raise
    after = latest if last_event_id is None else min(last_event_id, latest)
    frames = _frames(db, org, token, after, admission)
    # A response that never started iterating (the client left first) gives its place back when it is collected.
    weakref.finalize(frames, admission.release)
    return frames


async def _frames(db: Database, org: OrgScope, token: str, after: int, admission: Admission) -> AsyncIterator[bytes]:
    settings = db.settings
    wake = outbox.listen(db, org.dev_org_id)
    stopping = draining.signal()
    heartbeat = settings.events_stream_heartbeat_seconds
    try:
        # Sent at once: the client sees the response start (and its reconnection delay) before any event.
        yield f": incidentd events of {org.slug}\nretry: {RETRY_MS}\n\n".encode()
        written = checked = time.monotonic()
        while not stopping.is_set():
            if time.monotonic() - checked >= heartbeat:
                checked = time.monotonic()
                if not await _still_valid(db, token):
                    yield b": the token is no longer valid\n\n"
                    return
            wake.clear()  # before the read: a commit during it sets it again, and the next wait returns at once
            try:
                async with db.read() as conn:
                    rows = await repository.events_since(conn, org.dev_org_id, after, BATCH)
            except Exception as exc:  # the database is away: end the stream; the client resumes from its last id
                log.warning("events stream ended: reading events failed", org=org.slug, error=str(exc))
                return
            if rows:
                yield b"".join(_message(org, row) for row in rows)
                after = rows[-1].seq
                written = time.monotonic()
                if len(rows) == BATCH:
                    continue
            idle = time.monotonic() - written
            if idle >= heartbeat:
                yield b": heartbeat\n\n"
                written, idle = time.monotonic(), 0.0
            await _first_of(wake, stopping, min(settings.events_stream_poll_seconds, heartbeat - idle))
        yield b": the server is shutting down; reconnect with Last-Event-ID\n\n"
    finally:
        outbox.unlisten(db, org.dev_org_id, wake)
        admission.release()


async def _still_valid(db: Database, token: str) -> bool:
    """Whether the stream's token still authenticates (revoked, expired or its user deactivated: no)."""
    try:
        await identity.authenticate(db, db.settings.don_partition, token)
    except Unauthenticated:
        return False
    except Exception as exc:  # the database is away: the stream ends as for a failed read
        log.warning("events stream ended: checking its token failed", error=str(exc))
        return False
    return True


def _message(org: OrgScope, row: Any) -> bytes:
    """One SSE message: the webhook envelope without `webhook_id` (msgspec's JSON has no newlines)."""
    event_id = f"{org.org_don}:{sending.EVENT_SEGMENT}{row.seq}"
    head = msgspec.json.encode({"id": event_id, "timestamp": to_rfc3339(row.created_date), "type": row.type})
    data = head[:-1] + b',"' + row.type.encode() + b'":' + row.payload.encode() + b"}"
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (row.seq, row.type.encode(), data)


async def _first_of(first: asyncio.Event, second: asyncio.Event, timeout: float) -> None:  # noqa: ASYNC109
    waiters = [asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())]
    try:
        await asyncio.wait(waiters, timeout=max(timeout, 0.0), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
