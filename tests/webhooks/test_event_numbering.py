"""Event sequence numbers: per org, consecutive, in commit order, never to a rolled-back change. On plain
PostgreSQL an event takes its number inside COMMIT (migration 0016_events_numbered_at_commit), so an open unit of
work holds no lock on its org's counter that another writer of the org would wait for."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from conftest import ON_CITUS, ON_POSTGRES, Actor, make_org
from incidentd.db import Database
from incidentd.kit.counters import id_counters
from incidentd.webhooks import outbox, repository
from incidentd.webhooks.tables import webhook_events

NUMBERED_AT_COMMIT = ON_POSTGRES and not ON_CITUS


async def _events(db: Database, org: int) -> list[tuple[int, str, int]]:
    async with db.read() as conn:
        rows = await repository.events_since(conn, org, 0, 100)
    return [(row.seq, row.type, row.object_number) for row in rows]


async def test_events_of_one_unit_of_work_are_numbered_in_the_order_they_were_written(app, admin: Actor):
    db: Database = app.state.db
    other = await make_org(app, "elsewhere")
    async with db.write() as conn:
        await outbox.record(db, conn, admin.org, "incident_updated", 7, {"n": 1})
        await outbox.record(db, conn, other.org, "incident_updated", 9, {"n": 1})
        await outbox.record(db, conn, admin.org, "incident_deleted", 8, {"n": 2})
    assert await _events(db, admin.org.dev_org_id) == [(1, "incident_updated", 7), (2, "incident_deleted", 8)]
    assert await _events(db, other.org.dev_org_id) == [(1, "incident_updated", 9)]
    # Numbered from the counter every path uses (the trigger names it in SQL of its own).
    async with db.read() as conn:
        counted = await conn.execute(
            sa.select(id_counters.c.dev_org_id, id_counters.c.last_value).where(
                id_counters.c.kind == repository.EVENT_COUNTER
            )
        )
        assert dict(counted.all()) == {admin.org.dev_org_id: 2, other.org.dev_org_id: 1}


async def test_a_rolled_back_change_uses_no_number(app, admin: Actor):
    db: Database = app.state.db
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await outbox.record(db, conn, admin.org, "incident_updated", 7, {})
            raise RuntimeError("the change failed after its event")
    async with db.write() as conn:
        await outbox.record(db, conn, admin.org, "incident_updated", 8, {})
    assert await _events(db, admin.org.dev_org_id) == [(1, "incident_updated", 8)]


@pytest.mark.skipif(not NUMBERED_AT_COMMIT, reason="plain PostgreSQL numbers events at commit")
async def test_an_open_unit_of_work_does_not_hold_back_the_orgs_other_writers(app, admin: Actor):
    db: Database = app.state.db
    first_wrote = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with db.write() as conn:
            await outbox.record(db, conn, admin.org, "incident_updated", 1, {})
            first_wrote.set()
            await release_first.wait()

    held = asyncio.create_task(first())
    await asyncio.wait_for(first_wrote.wait(), 10)
    try:
        # Numbered at insert, the first writer's counter row would stay locked until it commits: this would wait.
        async with asyncio.timeout(10):
            async with db.write() as conn:
                await outbox.record(db, conn, admin.org, "incident_updated", 2, {})
        assert await _events(db, admin.org.dev_org_id) == [(1, "incident_updated", 2)]
    finally:
        release_first.set()
        await held
    # The first commits second and takes the next number: sequence order is commit order.
    assert await _events(db, admin.org.dev_org_id) == [(1, "incident_updated", 2), (2, "incident_updated", 1)]


@pytest.mark.skipif(not NUMBERED_AT_COMMIT, reason="plain PostgreSQL numbers events at commit")
async def test_events_committed_at_once_are_numbered_without_gaps_or_repeats(app, admin: Actor):
    db: Database = app.state.db

    async def change(object_number: int) -> None:
        async with db.write() as conn:
            await outbox.record(db, conn, admin.org, "incident_updated", object_number, {})

    await asyncio.gather(*(change(number) for number in range(1, 41)))
    events = await _events(db, admin.org.dev_org_id)
    assert [seq for seq, _, _ in events] == list(range(1, 41))
    assert sorted(number for _, _, number in events) == list(range(1, 41))


@pytest.mark.skipif(not NUMBERED_AT_COMMIT, reason="plain PostgreSQL numbers events at commit")
async def test_events_copied_in_with_their_numbers_keep_them(app, admin: Actor):
    """A move between databases copies events with their numbers: the trigger renumbers only provisional ones."""
    db: Database = app.state.db
    async with db.write() as conn:
        await conn.execute(
            sa.insert(webhook_events).values(
                dev_org_id=admin.org.dev_org_id,
                seq=41,
                type="incident_created",
                object_number=3,
                payload="{}",
                created_date=1,
            )
        )
    assert await _events(db, admin.org.dev_org_id) == [(41, "incident_created", 3)]


@pytest.mark.skipif(not NUMBERED_AT_COMMIT, reason="the migration creates nothing elsewhere")
async def test_the_migration_adds_and_removes_the_numbering(empty_database_url):
    from alembic import command

    from incidentd import db as database
    from incidentd.config import Settings

    objects = sa.text(
        "SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'webhook_events_numbered_at_commit'), "
        "(SELECT count(*) FROM pg_proc WHERE proname = 'incidentd_number_event'), "
        "(SELECT count(*) FROM pg_class WHERE relname = 'webhook_events_provisional_seq')"
    )

    async def present(db: Database) -> tuple[int, ...]:
        async with db.engine.connect() as conn:
            return tuple((await conn.execute(objects)).one())

    def downgrade(connection: sa.engine.Connection) -> None:
        config = database.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0015_documents")

    db = Database(Settings(database_url=empty_database_url))
    try:
        await database.upgrade(db.engine)
        assert await present(db) == (1, 1, 1)
        async with db.engine.begin() as conn:
            await conn.run_sync(downgrade)
        assert await present(db) == (0, 0, 0)
        await database.upgrade(db.engine)
        assert await present(db) == (1, 1, 1)
    finally:
        await db.dispose()
