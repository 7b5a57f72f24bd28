"""SQL of delivery: fan events out into per-webhook deliveries, claim due deliveries in order, record outcomes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import citus
from incidentd.identity.tables import dev_orgs
from incidentd.webhooks.tables import webhook_deliveries, webhook_events, webhooks

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
d = webhook_deliveries


def _postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def _claim(
    conn: AsyncConnection, build: Callable[[int | None], sa.Select[Any]], table: sa.Table, limit: int
) -> Sequence[Any]:
    """Run a claim across orgs: PostgreSQL locks the rows it returns, skipping those another process claims.
    `build(org)` is the query, for every org (None) or naming one org in each table it reads.

    Citus locks rows only in a query routed to one shard: there the orgs with work come first (a read of every
    shard, without locks), then the claim runs org by org, each a router query with its lock."""
    if not _postgres(conn):
        return (await conn.execute(build(None))).all()
    if not await citus.in_use(conn):
        return (await conn.execute(build(None).with_for_update(of=table, skip_locked=True))).all()
    orgs_query = build(None).with_only_columns(table.c.dev_org_id).distinct().order_by(None).limit(limit)
    claimed: list[Any] = []
    for org in (await conn.execute(orgs_query)).scalars().all():
        one_org = build(org).where(table.c.dev_org_id == org).limit(limit - len(claimed))
        claimed += (await conn.execute(one_org.with_for_update(of=table, skip_locked=True))).all()
        if len(claimed) >= limit:
            break
    return claimed


def _of_org(column: sa.ColumnElement[Any], org: int | None) -> tuple[sa.ColumnElement[bool], ...]:
    """`column = org` when the query is for one org (a router query on Citus names it in every table it reads)."""
    return () if org is None else (column == org,)


# fan-out ---------------------------------------------------------------------------------------------


async def webhooks_behind(conn: AsyncConnection, limit: int) -> Sequence[Any]:
    """Active webhooks whose org has events beyond what was fanned out for them (PostgreSQL: locked, skipping
    those another process is fanning out)."""

    def build(org: int | None) -> sa.Select[Any]:
        newest = (
            sa.select(sa.func.max(webhook_events.c.seq))
            .where(webhook_events.c.dev_org_id == webhooks.c.dev_org_id, *_of_org(webhook_events.c.dev_org_id, org))
            .scalar_subquery()
        )
        return (
            sa.select(webhooks.c.dev_org_id, webhooks.c.number, webhooks.c.event_types, webhooks.c.fanout_seq)
            .where(webhooks.c.status == "active", webhooks.c.fanout_seq < newest)
            .limit(limit)
        )

    return await _claim(conn, build, webhooks, limit)


async def fan_out(conn: AsyncConnection, hook: Row[Any], batch: int, now: int) -> int:
    """Create the deliveries of up to `batch` events after the webhook's fan-out mark; returns how many events
    were looked at (the mark moves past them, wanted or not)."""
    events = (
        await conn.execute(
            sa.select(webhook_events.c.seq, webhook_events.c.type, webhook_events.c.object_number)
            .where(webhook_events.c.dev_org_id == hook.dev_org_id, webhook_events.c.seq > hook.fanout_seq)
            .order_by(webhook_events.c.seq)
            .limit(batch)
        )
    ).all()
    if not events:
        return 0
    wanted = set(hook.event_types or ())
    rows = [
        {
            "dev_org_id": hook.dev_org_id,
            "webhook_number": hook.number,
            "seq": event.seq,
            "object_number": event.object_number,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_date": now,
        }
        for event in events
        if event.type in wanted
    ]
    if rows:
        insert = (postgresql.insert if _postgres(conn) else sqlite.insert)(d)
        await conn.execute(insert.on_conflict_do_nothing(), rows)
    await conn.execute(
        sa.update(webhooks)
        .where(webhooks.c.dev_org_id == hook.dev_org_id, webhooks.c.number == hook.number)
        .values(fanout_seq=events[-1].seq)
    )
    return len(events)


# claims ----------------------------------------------------------------------------------------------


async def due(conn: AsyncConnection, now: int, limit: int, saturated: Iterable[tuple[int, int]]) -> Sequence[Any]:
    """Deliveries that may be sent now: pending, due, not leased, of an active webhook, and the earliest pending
    one of their webhook and incident (a later event waits while an earlier one is retrying). Webhooks in
    `saturated` (org, number) have as many in flight as they may. PostgreSQL: locked, skipping rows other
    processes are claiming."""
    earlier = sa.alias(d, "earlier")
    full = list(saturated)

    def build(org: int | None) -> sa.Select[Any]:
        query = (
            sa.select(d.c.dev_org_id, d.c.webhook_number, d.c.seq, d.c.attempts, d.c.first_attempt_at)
            .where(
                d.c.state == PENDING,
                d.c.next_attempt_at <= now,
                sa.or_(d.c.lease_until.is_(None), d.c.lease_until < now),
                ~sa.exists().where(
                    earlier.c.dev_org_id == d.c.dev_org_id,
                    *_of_org(earlier.c.dev_org_id, org),
                    earlier.c.webhook_number == d.c.webhook_number,
                    earlier.c.object_number == d.c.object_number,
                    earlier.c.state == PENDING,
                    earlier.c.seq < d.c.seq,
                ),
                sa.exists().where(
                    webhooks.c.dev_org_id == d.c.dev_org_id,
                    *_of_org(webhooks.c.dev_org_id, org),
                    webhooks.c.number == d.c.webhook_number,
                    webhooks.c.status == "active",
                ),
            )
            .order_by(d.c.next_attempt_at, d.c.seq)
            .limit(limit)
        )
        if full:
            query = query.where(sa.tuple_(d.c.dev_org_id, d.c.webhook_number).not_in(full))
        return query

    return await _claim(conn, build, d, limit)


async def lease(conn: AsyncConnection, keys: Sequence[tuple[int, int, int]], until: int) -> None:
    for dev_org_id, webhook_number, seq in keys:
        await conn.execute(
            sa.update(d)
            .where(d.c.dev_org_id == dev_org_id, d.c.webhook_number == webhook_number, d.c.seq == seq)
            .values(lease_until=until)
        )


async def release_all_leases(conn: AsyncConnection) -> None:
    """Forget every lease (SQLite: the new holder of the delivery turn is the only process that sends)."""
    await conn.execute(sa.update(d).where(d.c.lease_until.is_not(None)).values(lease_until=None))


async def sending_details(conn: AsyncConnection, dev_org_id: int, webhook_number: int, seq: int) -> Any:
    """What one send needs: the webhook's url, headers and sealed secret, the org's slug, the event."""
    query = (
        sa.select(
            webhooks.c.url,
            webhooks.c.headers,
            webhooks.c.secret_cipher,
            dev_orgs.c.slug,
            webhook_events.c.type,
            webhook_events.c.payload,
        )
        .select_from(
            webhooks.join(dev_orgs, dev_orgs.c.id == webhooks.c.dev_org_id).join(
                webhook_events,
                sa.and_(webhook_events.c.dev_org_id == webhooks.c.dev_org_id, webhook_events.c.seq == seq),
            )
        )
        .where(webhooks.c.dev_org_id == dev_org_id, webhooks.c.number == webhook_number)
    )
    return (await conn.execute(query)).first()


async def record_attempt(
    conn: AsyncConnection,
    key: tuple[int, int, int],
    lease_until: int,
    *,
    values: dict[str, Any],
    failing: bool | None,
) -> bool:
    """Store an attempt's outcome if the delivery is still under the sender's lease; `failing` sets or clears the
    webhook's failing mark (None: unchanged). False when the lease was taken over (the outcome is dropped)."""
    dev_org_id, webhook_number, seq = key
    result = await conn.execute(
        sa.update(d)
        .where(
            d.c.dev_org_id == dev_org_id,
            d.c.webhook_number == webhook_number,
            d.c.seq == seq,
            d.c.lease_until == lease_until,
        )
        .values(lease_until=None, attempts=d.c.attempts + 1, **values)
    )
    if not result.rowcount:
        return False
    if failing is not None:
        await conn.execute(
            sa.update(webhooks)
            .where(
                webhooks.c.dev_org_id == dev_org_id,
                webhooks.c.number == webhook_number,
                webhooks.c.failing.is_(not failing),
            )
            .values(failing=failing)
        )
    return True


# the verify handshake --------------------------------------------------------------------------------


async def handshakes_due(conn: AsyncConnection, now: int, limit: int) -> Sequence[Row[Any]]:
    query = (
        sa.select(webhooks, dev_orgs.c.slug)
        .join(dev_orgs, dev_orgs.c.id == webhooks.c.dev_org_id)
        .where(webhooks.c.status == "unverified", webhooks.c.verify_next_at <= now, webhooks.c.verify_until > now)
        .limit(limit)
    )
    return await _claim(conn, lambda org: query, webhooks, limit)


async def set_handshake(conn: AsyncConnection, dev_org_id: int, number: int, challenge: str, **values: Any) -> None:
    """Update a webhook's handshake state, only if it still waits for this challenge (an update may have
    restarted it meanwhile)."""
    await conn.execute(
        sa.update(webhooks)
        .where(
            webhooks.c.dev_org_id == dev_org_id,
            webhooks.c.number == number,
            webhooks.c.verify_challenge == challenge,
        )
        .values(**values)
    )


# retention -------------------------------------------------------------------------------------------


async def sweep(conn: AsyncConnection, before: int) -> None:
    """Delete events older than `before` and their finished deliveries (pending ones keep their event)."""
    await conn.execute(sa.delete(d).where(d.c.state != PENDING, d.c.created_date < before))
    waiting = sa.select(d.c.seq).where(
        d.c.dev_org_id == webhook_events.c.dev_org_id, d.c.seq == webhook_events.c.seq, d.c.state == PENDING
    )
    await conn.execute(sa.delete(webhook_events).where(webhook_events.c.created_date < before, ~sa.exists(waiting)))


async def backlog(conn: AsyncConnection) -> tuple[int, int | None]:
    """How many deliveries are pending, over every org, and when the oldest was created."""
    query = sa.select(sa.func.count(), sa.func.min(d.c.created_date)).where(d.c.state == PENDING)
    count, oldest = (await conn.execute(query)).one()
    return int(count), oldest


# the deliveries extension ----------------------------------------------------------------------------


async def list_deliveries(
    conn: AsyncConnection,
    dev_org_id: int,
    webhook_number: int,
    states: Sequence[str] | None,
    after_seq: int,
    limit: int,
) -> Sequence[Any]:
    """A webhook's deliveries after `after_seq`, newest events last, with their event types."""
    query = (
        sa.select(d, webhook_events.c.type)
        .select_from(
            d.outerjoin(
                webhook_events,
                sa.and_(webhook_events.c.dev_org_id == d.c.dev_org_id, webhook_events.c.seq == d.c.seq),
            )
        )
        .where(d.c.dev_org_id == dev_org_id, d.c.webhook_number == webhook_number, d.c.seq > after_seq)
        .order_by(d.c.seq)
        .limit(limit)
    )
    if states:
        query = query.where(d.c.state.in_(list(states)))
    return (await conn.execute(query)).all()


async def replay_one(conn: AsyncConnection, dev_org_id: int, webhook_number: int, seq: int, now: int) -> int:
    """Make one delivery pending again, due now, with a fresh retry window; how many rows it touched."""
    result = await conn.execute(
        sa.update(d)
        .where(d.c.dev_org_id == dev_org_id, d.c.webhook_number == webhook_number, d.c.seq == seq)
        .values(state=PENDING, next_attempt_at=now, first_attempt_at=None, lease_until=None)
    )
    return int(result.rowcount)


async def replay_since(
    conn: AsyncConnection, dev_org_id: int, webhook_number: int, types: Sequence[str], since: int, now: int
) -> int:
    """Make a delivery pending, due now, of every retained event of the org since `since` of the given types
    (creating the deliveries of events the webhook never had); how many."""
    events = (
        await conn.execute(
            sa.select(webhook_events.c.seq, webhook_events.c.object_number).where(
                webhook_events.c.dev_org_id == dev_org_id,
                webhook_events.c.created_date >= since,
                webhook_events.c.type.in_(list(types)),
            )
        )
    ).all()
    if not events:
        return 0
    rows = [
        {
            "dev_org_id": dev_org_id,
            "webhook_number": webhook_number,
            "seq": event.seq,
            "object_number": event.object_number,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_date": now,
        }
        for event in events
    ]
    insert = (postgresql.insert if _postgres(conn) else sqlite.insert)(d)
    statement = insert.on_conflict_do_update(
        index_elements=[d.c.dev_org_id, d.c.webhook_number, d.c.seq],
        set_={"state": PENDING, "next_attempt_at": now, "first_attempt_at": None, "lease_until": None},
    )
    await conn.execute(statement, rows)
    return len(rows)


async def clear_failing(conn: AsyncConnection, dev_org_id: int, webhook_number: int) -> None:
    await conn.execute(
        sa.update(webhooks)
        .where(webhooks.c.dev_org_id == dev_org_id, webhooks.c.number == webhook_number)
        .values(failing=False)
    )
