"""The transactional outbox: a change that causes an event writes it in the change's own transaction, so a rolled
back change sends nothing and a committed one is always sent.

Writers ask `subscribed(conn, org)` first (one indexed lookup of the org's active webhooks) and render and record
only the event types some webhook wants: an org without webhooks pays that lookup and nothing else.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database, when_committed
from incidentd.kit import counters
from incidentd.kit.time import now_ms
from incidentd.principal import OrgScope
from incidentd.webhooks import repository

SEQUENCE = "webhook_event"  # the per-org counter of event sequence numbers

# Per database: set when this process committed an event, so its delivery loop starts at once.
_committed: weakref.WeakKeyDictionary[Database, asyncio.Event] = weakref.WeakKeyDictionary()


def committed_signal(db: Database) -> asyncio.Event:
    signal = _committed.get(db)
    if signal is None:
        signal = _committed[db] = asyncio.Event()
    return signal


async def subscribed(conn: AsyncConnection, org: OrgScope) -> frozenset[str]:
    """The event types some active webhook of the org receives."""
    return frozenset(await repository.subscribed_types(conn, org.dev_org_id))


async def record(
    db: Database, conn: AsyncConnection, org: OrgScope, type_: str, object_number: int, payload: dict[str, Any]
) -> int:
    """Write the event in the running transaction; returns its sequence number.

    The sequence comes from the org's counter row, which the allocation keeps locked until commit: events of one
    org commit in sequence order, so a reader that has seen event n has seen every event before it.
    """
    seq = await counters.allocate(conn, org.dev_org_id, SEQUENCE)
    body = msgspec.json.encode(payload).decode()
    await repository.insert_event(conn, org.dev_org_id, seq, type_, object_number, body, now_ms())
    signal = committed_signal(db)
    when_committed(signal.set)
    return seq
