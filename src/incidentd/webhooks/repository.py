"""SQL of webhooks and of the event outbox (written by the changes that cause events)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import citus
from incidentd.kit import counters
from incidentd.plain_statements import PlainStatement
from incidentd.webhooks.tables import webhook_deliveries, webhook_events, webhooks

# webhooks --------------------------------------------------------------------------------------------


async def insert(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(webhooks).values(**values))


async def get(conn: AsyncConnection, dev_org_id: int, number: int, *, lock: bool = False) -> Row[Any] | None:
    query = sa.select(webhooks).where(webhooks.c.dev_org_id == dev_org_id, webhooks.c.number == number)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def list_webhooks(conn: AsyncConnection, dev_org_id: int, statuses: Sequence[str] | None) -> Sequence[Row[Any]]:
    query = sa.select(webhooks).where(webhooks.c.dev_org_id == dev_org_id)
    if statuses:
        query = query.where(webhooks.c.status.in_(list(statuses)))
    return (await conn.execute(query.order_by(webhooks.c.number))).all()


async def update(conn: AsyncConnection, dev_org_id: int, number: int, **values: Any) -> None:
    await conn.execute(
        sa.update(webhooks).where(webhooks.c.dev_org_id == dev_org_id, webhooks.c.number == number).values(**values)
    )


async def delete(conn: AsyncConnection, dev_org_id: int, number: int) -> bool:
    """Delete a webhook and its deliveries; False when there was no such webhook."""
    await conn.execute(
        sa.delete(webhook_deliveries).where(
            webhook_deliveries.c.dev_org_id == dev_org_id, webhook_deliveries.c.webhook_number == number
        )
    )
    result = await conn.execute(
        sa.delete(webhooks).where(webhooks.c.dev_org_id == dev_org_id, webhooks.c.number == number)
    )
    return result.rowcount > 0


# the outbox ------------------------------------------------------------------------------------------

# Built once: every incident write asks it (see rows.py on why statements are built once).
_SUBSCRIPTIONS = sa.select(webhooks.c.event_types).where(
    webhooks.c.dev_org_id == sa.bindparam("org", type_=sa.Integer), webhooks.c.status == "active"
)


async def subscribed_types(conn: AsyncConnection, dev_org_id: int) -> set[str]:
    """The event types the org's active webhooks subscribe to (usually none: one indexed lookup)."""
    found: set[str] = set()
    for (types,) in (await conn.execute(_SUBSCRIPTIONS, {"org": dev_org_id})).all():
        found.update(types or ())
    return found


# The org's counter of event sequence numbers (migration 0016's trigger names it too).
EVENT_COUNTER = "webhook_event"
# Every change's event: below SQLAlchemy's async layer (`plain_statements.PlainStatement`).
_INSERT_EVENT_NOW = PlainStatement(sa.insert(webhook_events))
# Plain PostgreSQL: the event inserted under a provisional, negative number; the trigger of migration
# 0016_events_numbered_at_commit gives it the org's next number inside COMMIT, so the org's counter row is locked
# only while the commit runs, not across the round trips until it.
_PROVISIONAL = sa.Sequence("webhook_events_provisional_seq")
_INSERT_EVENT_NUMBERED_AT_COMMIT = PlainStatement(
    sa.insert(webhook_events).values(seq=-_PROVISIONAL.next_value()).inline()  # inline: no RETURNING of the key
)


async def insert_event(
    conn: AsyncConnection, dev_org_id: int, type_: str, object_number: int, payload: str, now: int
) -> None:
    """Insert an event under the next number of the org's `EVENT_COUNTER` (its `seq`), taken at commit on plain
    PostgreSQL and now elsewhere; either way the counter row stays locked until the transaction ends, so the org's
    events commit in sequence order."""
    values = {
        "dev_org_id": dev_org_id,
        "type": type_,
        "object_number": object_number,
        "payload": payload,
        "created_date": now,
    }
    if conn.dialect.name == "postgresql" and not await citus.in_use(conn):
        await _INSERT_EVENT_NUMBERED_AT_COMMIT.fetch(conn, values)
        return
    seq = await counters.allocate(conn, dev_org_id, EVENT_COUNTER)
    await _INSERT_EVENT_NOW.fetch(conn, values | {"seq": seq})


async def last_seq(conn: AsyncConnection, dev_org_id: int) -> int:
    """The org's latest committed event sequence number (0 before any)."""
    query = sa.select(sa.func.max(webhook_events.c.seq)).where(webhook_events.c.dev_org_id == dev_org_id)
    return int((await conn.execute(query)).scalar_one() or 0)


async def events_since(
    conn: AsyncConnection, dev_org_id: int, after_seq: int, limit: int, *, since_date: int | None = None
) -> Sequence[Row[Any]]:
    """The org's events after `after_seq` (and created at or after `since_date`), in sequence order."""
    query = sa.select(webhook_events).where(webhook_events.c.dev_org_id == dev_org_id, webhook_events.c.seq > after_seq)
    if since_date is not None:
        query = query.where(webhook_events.c.created_date >= since_date)
    return (await conn.execute(query.order_by(webhook_events.c.seq).limit(limit))).all()
