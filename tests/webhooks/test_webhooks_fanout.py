"""Fan-out: one INSERT ... SELECT per org makes each active webhook's deliveries of the events after its own mark
and of the types it receives, moves every mark to the window's end, and never touches another org's events."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from conftest import Actor, make_org
from incidentd.db import Database
from incidentd.webhooks import queue
from incidentd.webhooks.tables import webhook_deliveries, webhook_events, webhooks


async def add_webhook(conn: Any, org: int, number: int, types: list[str], mark: int, status: str = "active") -> None:
    await conn.execute(
        sa.insert(webhooks).values(
            dev_org_id=org,
            number=number,
            url="http://127.0.0.1:9/hook",
            event_types=types,
            headers=[],
            secret_cipher="sealed",
            status=status,
            fanout_seq=mark,
            created_date=1,
            modified_date=1,
        )
    )


async def add_events(conn: Any, org: int, events: list[tuple[int, str, int]]) -> None:
    await conn.execute(
        sa.insert(webhook_events),
        [
            {
                "dev_org_id": org,
                "seq": seq,
                "type": type_,
                "object_number": incident,
                "payload": "{}",
                "created_date": 1,
            }
            for seq, type_, incident in events
        ],
    )


async def deliveries(conn: Any, org: int) -> set[tuple[int, int, int]]:
    rows = await conn.execute(
        sa.select(webhook_deliveries.c.webhook_number, webhook_deliveries.c.seq, webhook_deliveries.c.object_number)
        .where(webhook_deliveries.c.dev_org_id == org)
        .order_by(webhook_deliveries.c.webhook_number, webhook_deliveries.c.seq)
    )
    return {tuple(row) for row in rows}  # type: ignore[misc]


async def marks(conn: Any, org: int) -> dict[int, int]:
    rows = await conn.execute(sa.select(webhooks.c.number, webhooks.c.fanout_seq).where(webhooks.c.dev_org_id == org))
    return {number: mark for number, mark in rows}


async def test_each_webhook_gets_its_types_after_its_own_mark_in_one_pass(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id
    other = (await make_org(app, "fanout-other")).org.dev_org_id
    async with db.write() as conn:
        await add_webhook(conn, org, 1, ["incident_updated"], mark=0)
        await add_webhook(conn, org, 2, ["incident_created", "incident_updated"], mark=2)  # activated later
        await add_webhook(conn, org, 3, ["incident_deleted"], mark=0)  # nothing of its type in the window
        await add_webhook(conn, org, 4, ["incident_updated"], mark=0, status="inactive")
        await add_webhook(conn, other, 1, ["incident_updated"], mark=0)
        await add_events(
            conn,
            org,
            [
                (1, "incident_created", 10),
                (2, "incident_updated", 10),
                (3, "incident_created", 11),
                (4, "incident_updated", 11),
                (5, "timeline_entry_created", 10),
            ],
        )
        await add_events(conn, other, [(1, "incident_updated", 50)])

    async with db.write() as conn:
        behind = await queue.webhooks_behind(conn, limit=50)
        assert {(row.dev_org_id, row.number) for row in behind} == {(org, 1), (org, 2), (org, 3), (other, 1)}
        looked = await queue.fan_out(conn, behind, batch=2000, now=1000)
        assert looked == 5 + 1  # every event of each org's window, wanted or not

    async with db.read() as conn:
        assert await deliveries(conn, org) == {(1, 2, 10), (1, 4, 11), (2, 3, 11), (2, 4, 11)}
        assert await marks(conn, org) == {1: 5, 2: 5, 3: 5, 4: 0}  # the inactive one keeps its mark
        assert await deliveries(conn, other) == {(1, 1, 50)}
        assert await queue.webhooks_behind(conn, limit=50, lock=False) == []


async def test_a_window_of_batch_events_leaves_the_rest_for_the_next_pass(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id
    async with db.write() as conn:
        await add_webhook(conn, org, 1, ["incident_updated"], mark=0)
        await add_events(conn, org, [(seq, "incident_updated", seq) for seq in range(1, 8)])
    seen = []
    for _ in range(3):
        async with db.write() as conn:
            seen.append(await queue.fan_out(conn, await queue.webhooks_behind(conn, limit=50), batch=3, now=1000))
    assert seen == [3, 3, 1]
    async with db.read() as conn:
        assert await deliveries(conn, org) == {(1, seq, seq) for seq in range(1, 8)}
        assert await marks(conn, org) == {1: 7}


async def test_the_retention_sweep_deletes_finished_deliveries_and_events_no_pending_delivery_needs(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id
    async with db.write() as conn:
        await add_webhook(conn, org, 1, ["incident_updated"], mark=0)
        await add_events(conn, org, [(seq, "incident_updated", seq) for seq in range(1, 5)])
        await conn.execute(sa.update(webhook_events).where(webhook_events.c.seq == 4).values(created_date=10_000))
        await queue.fan_out(conn, await queue.webhooks_behind(conn, limit=50), batch=2000, now=1)
        done = {1: queue.DELIVERED, 2: queue.DEAD}  # 3 and 4 stay pending
        for seq, state in done.items():
            await conn.execute(sa.update(webhook_deliveries).where(webhook_deliveries.c.seq == seq).values(state=state))

    async with db.write() as conn:
        await queue.sweep(conn, before=5_000)

    async with db.read() as conn:
        assert await deliveries(conn, org) == {(1, 3, 3), (1, 4, 4)}  # finished and old: gone; pending: kept
        kept = await conn.execute(sa.select(webhook_events.c.seq).where(webhook_events.c.dev_org_id == org))
        assert sorted(kept.scalars()) == [3, 4]  # 3 is old but still pending somewhere; 4 is recent
