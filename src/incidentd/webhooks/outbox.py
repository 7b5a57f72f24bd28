"""The transactional outbox: a change that causes an event writes it in the change's own transaction, so a rolled
back change sends nothing and a committed one is always sent.

Writers ask `wanted(db, conn, org)` first and render and record only the event types it names. With the events
stream on (`events_stream`, the default) that is every type without a query: `GET /events.stream` serves every
event. With it off, the types some active webhook of the org receives (one indexed lookup): an org without webhooks
pays that lookup and nothing else. docs/performance.md ("Events for every change") measured both.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database, when_committed
from incidentd.kit.time import now_ms
from incidentd.principal import OrgScope
from incidentd.webhooks import repository

# Per database: set when this process committed an event, so its delivery loop starts at once.
_committed: weakref.WeakKeyDictionary[Database, asyncio.Event] = weakref.WeakKeyDictionary()
# Per database and org: the wake-ups of this process's open event streams (each stream clears its own).
_listeners: weakref.WeakKeyDictionary[Database, dict[int, set[asyncio.Event]]] = weakref.WeakKeyDictionary()
# The event types incidentd sends, in the order a person reads them (webhooks.create accepts more: the spec's).
SENT_TYPES = (
    "incident_created",
    "incident_updated",
    "incident_deleted",
    "timeline_entry_created",
    "timeline_entry_updated",
    "timeline_entry_deleted",
    "link_created",
    "link_deleted",
    "webhook_created",
    "webhook_updated",
    "webhook_deleted",
)
EVERY_TYPE = frozenset(SENT_TYPES)


def committed_signal(db: Database) -> asyncio.Event:
    signal = _committed.get(db)
    if signal is None:
        signal = _committed[db] = asyncio.Event()
    return signal


def listen(db: Database, dev_org_id: int) -> asyncio.Event:
    """A wake-up set whenever this process commits an event of the org; `unlisten` it when done."""
    wake = asyncio.Event()
    _listeners.setdefault(db, {}).setdefault(dev_org_id, set()).add(wake)
    return wake


def unlisten(db: Database, dev_org_id: int, wake: asyncio.Event) -> None:
    of_org = _listeners.get(db, {}).get(dev_org_id)
    if of_org is not None:
        of_org.discard(wake)
        if not of_org:
            _listeners[db].pop(dev_org_id, None)


async def subscribed(conn: AsyncConnection, org: OrgScope) -> frozenset[str]:
    """The event types some active webhook of the org receives."""
    return frozenset(await repository.subscribed_types(conn, org.dev_org_id))


async def wanted(db: Database, conn: AsyncConnection, org: OrgScope) -> frozenset[str]:
    """The event types a change of the org records: every type while the events stream is on."""
    if db.settings.events_stream:
        return EVERY_TYPE
    return await subscribed(conn, org)


async def record(
    db: Database, conn: AsyncConnection, org: OrgScope, type_: str, object_number: int, payload: dict[str, Any]
) -> None:
    """Write the event in the running transaction.

    Its sequence number comes from the org's counter row, which stays locked from the allocation until the
    transaction ends (on plain PostgreSQL the allocation runs inside COMMIT): events of one org commit in sequence
    order, so a reader that has seen event n has seen every event before it.
    """
    body = msgspec.json.encode(payload).decode()
    await repository.insert_event(conn, org.dev_org_id, type_, object_number, body, now_ms())
    when_committed(lambda: _committed_now(db, org.dev_org_id))


def _committed_now(db: Database, dev_org_id: int) -> None:
    committed_signal(db).set()
    for wake in _listeners.get(db, {}).get(dev_org_id, ()):
        wake.set()
