"""SQLite's group commit (`incidentd.sqlite_group_commit`): write units queued behind one share its transaction,
each in a savepoint, and none returns before the shared COMMIT has."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from conftest import ON_POSTGRES, Actor
from incidentd import sqlite_inline
from incidentd.db import Database
from incidentd.errors import ServiceUnavailable
from incidentd.kit import counters
from incidentd.kit.ids import KINDS
from incidentd.plain_statements import sqlite_connection_of
from incidentd.sqlite_group_commit import MAX_UNITS

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="group commit is SQLite's (PostgreSQL commits in parallel)")


class Refused(Exception):
    pass


async def _committed(db: Database, org: int, kind: str) -> int:
    """The counter's value as another connection sees it: what has committed."""
    table = counters.id_counters
    query = sa.select(table.c.last_value).where(
        table.c.dev_org_id == org, table.c.kind == (KINDS[kind].counter if kind in KINDS else kind)
    )
    async with db.read() as conn:
        return (await conn.execute(query)).scalar() or 0


@contextlib.asynccontextmanager
async def _write_connection_statements(db: Database) -> AsyncIterator[list[str]]:
    """What the write connection (one per process, kept open) runs meanwhile: reads run on other connections."""
    async with db.write() as conn:
        plain = sqlite_connection_of(conn)
    assert plain is not None
    seen: list[str] = []
    plain.set_trace_callback(seen.append)
    try:
        yield seen
    finally:
        plain.set_trace_callback(None)


async def _while_queued(db: Database, first: Callable[[AsyncConnection], Awaitable[Any]], *queued: Any) -> list[Any]:
    """Run `first` as a unit of work that holds the write connection until every one of `queued` (coroutines that
    each open a unit) waits for it, so that they all land in the transaction `first` opens; their outcomes."""
    group = db._group_commit
    assert group is not None
    entered = asyncio.Event()
    go_on = asyncio.Event()

    async def holder() -> Any:
        async with db.write() as conn:
            outcome = await first(conn)
            entered.set()
            await go_on.wait()
            return outcome

    tasks = [asyncio.create_task(holder())]
    await entered.wait()
    tasks += [asyncio.create_task(coroutine) for coroutine in queued]
    for _ in range(10_000):  # each queued unit reaches the turn's lock within a few passes of the loop
        if group._waiting >= len(queued):
            break
        await asyncio.sleep(0)
    else:
        raise AssertionError(f"{group._waiting} of {len(queued)} units queued")
    go_on.set()
    async with asyncio.timeout(10):
        return await asyncio.gather(*tasks, return_exceptions=True)


async def test_queued_units_share_commits_and_none_returns_before_its_commit(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id
    seen_committed: list[tuple[int, int]] = []

    async def allocate(conn: AsyncConnection) -> int:
        return await counters.allocate(conn, org, "incident")

    async def unit() -> int:
        async with db.write() as conn:
            number = await allocate(conn)
        # Returned: what it wrote is committed, whichever unit's turn committed it.
        seen_committed.append((number, await _committed(db, org, "incident")))
        return number

    queued = MAX_UNITS + 7  # one full transaction (the first unit and MAX_UNITS - 1 more), then the other 8
    async with _write_connection_statements(db) as seen:
        numbers = await _while_queued(db, allocate, *(unit() for _ in range(queued)))
    assert sorted(numbers) == list(range(1, queued + 2))
    assert all(committed >= number for number, committed in seen_committed)
    assert [statement for statement in seen if statement.startswith(("BEGIN", "COMMIT"))] == [
        "BEGIN IMMEDIATE",
        "COMMIT",
        "BEGIN IMMEDIATE",
        "COMMIT",
    ]
    assert seen.count("SAVEPOINT incidentd_unit") == queued - 1  # every unit but the first of each transaction


async def test_a_unit_alone_commits_what_is_open_and_then_its_own_transaction(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id

    async def allocate(kind: str, alone: bool = False) -> int:
        async with db.write(alone=alone) as conn:
            return await counters.allocate(conn, org, kind)

    async def first(conn: AsyncConnection) -> int:
        return await counters.allocate(conn, org, "tag")

    async with _write_connection_statements(db) as seen:
        outcomes = await _while_queued(db, first, allocate("tag"), allocate("part", alone=True), allocate("tag"))
    assert outcomes == [1, 2, 1, 3]
    transactions = [statement for statement in seen if statement in ("BEGIN IMMEDIATE", "SAVEPOINT incidentd_unit")]
    # the first and the second share one; the one alone and the last (nobody behind it) have their own
    assert transactions == ["BEGIN IMMEDIATE", "SAVEPOINT incidentd_unit", "BEGIN IMMEDIATE", "BEGIN IMMEDIATE"]
    assert seen.count("COMMIT") == 3


async def test_a_unit_that_raises_undoes_only_its_own_writes(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id

    async def allocate(kind: str, refuse: bool = False) -> int:
        async with db.write() as conn:
            number = await counters.allocate(conn, org, kind)
            if refuse:
                raise Refused
            return number

    async def first(conn: AsyncConnection) -> int:
        return await counters.allocate(conn, org, "tag")

    async with _write_connection_statements(db) as seen:
        outcomes = await _while_queued(db, first, allocate("article", refuse=True), allocate("part"))
    assert outcomes[0] == 1 and isinstance(outcomes[1], Refused) and outcomes[2] == 1
    assert seen.count("COMMIT") == 1 and "ROLLBACK TO incidentd_unit" in seen
    assert await _committed(db, org, "tag") == 1
    assert await _committed(db, org, "part") == 1
    assert await _committed(db, org, "article") == 0  # undone: the refused unit's write only


async def test_when_the_shared_commit_fails_every_unit_in_it_raises_and_nothing_is_stored(
    app, admin: Actor, monkeypatch: pytest.MonkeyPatch
):
    db: Database = app.state.db
    org = admin.org.dev_org_id
    commit = sqlite_inline.InlineConnection.commit

    async def failing_commit(self: sqlite_inline.InlineConnection) -> None:
        self.plain.rollback()  # what SQLite does to a transaction whose commit hit an I/O error
        raise sqlite3.OperationalError("disk I/O error")

    async def allocate(kind: str) -> int:
        async with db.write() as conn:
            return await counters.allocate(conn, org, kind)

    async def first(conn: AsyncConnection) -> int:
        return await counters.allocate(conn, org, "tag")

    monkeypatch.setattr(sqlite_inline.InlineConnection, "commit", failing_commit)
    outcomes = await _while_queued(db, first, allocate("article"), allocate("part"))
    monkeypatch.setattr(sqlite_inline.InlineConnection, "commit", commit)
    assert [type(outcome) for outcome in outcomes] == [ServiceUnavailable] * 3
    for kind in ("tag", "article", "part"):
        assert await _committed(db, org, kind) == 0
    assert await allocate("tag") == 1  # the write connection works again


@pytest.mark.parametrize("then", ["raises", "returns"])
async def test_a_unit_whose_savepoint_is_gone_fails_its_whole_transaction(app, admin: Actor, then: str):
    """SQLite may roll a whole transaction back after an error (an I/O error, a full disk): the savepoint is gone,
    whether the unit then raises or ends, and the units before it must not be committed half-way or
    acknowledged."""
    db: Database = app.state.db
    org = admin.org.dev_org_id

    async def breaks_the_transaction() -> None:
        async with db.write() as conn:
            await counters.allocate(conn, org, "article")
            plain = sqlite_connection_of(conn)
            assert plain is not None
            plain.execute("ROLLBACK")
            if then == "raises":
                raise Refused

    async def first(conn: AsyncConnection) -> int:
        return await counters.allocate(conn, org, "tag")

    outcomes = await _while_queued(db, first, breaks_the_transaction())
    assert isinstance(outcomes[0], ServiceUnavailable)
    assert isinstance(outcomes[1], Refused if then == "raises" else ServiceUnavailable)
    assert await _committed(db, org, "tag") == 0
    assert await _committed(db, org, "article") == 0
    async with db.write() as conn:  # the write connection works again
        assert await counters.allocate(conn, org, "tag") == 1


async def test_a_unit_cancelled_while_it_waits_for_the_shared_commit_is_committed_all_the_same(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id
    second_runs = asyncio.Event()
    let_second_end = asyncio.Event()

    async def second() -> int:
        async with db.write() as conn:
            second_runs.set()
            await let_second_end.wait()
            return await counters.allocate(conn, org, "part")

    async def first(conn: AsyncConnection) -> int:
        return await counters.allocate(conn, org, "tag")

    running = asyncio.create_task(_while_queued(db, first, second()))
    await second_runs.wait()  # the first unit has ended and waits for the commit the closer will make
    holder = [task for task in asyncio.all_tasks() if task.get_coro().__qualname__.endswith("holder")]
    assert len(holder) == 1
    holder[0].cancel()
    let_second_end.set()
    outcomes = await running
    assert isinstance(outcomes[0], asyncio.CancelledError) and outcomes[1] == 1
    assert await _committed(db, org, "tag") == 1  # cancelled after its write was in: committed with the other
    assert await _committed(db, org, "part") == 1


async def test_a_request_transaction_waits_for_the_open_shared_transaction_to_commit(app, admin: Actor):
    db: Database = app.state.db
    org = admin.org.dev_org_id
    committed_before_it_began: list[int] = []

    async def on_begin(conn: AsyncConnection) -> None:
        committed_before_it_began.append(await _committed(db, org, "tag"))

    async def in_a_request_transaction() -> int:
        with db.request_transaction(on_begin) as transaction:
            async with db.write() as conn:
                number = await counters.allocate(conn, org, "part")
            await transaction.commit()
        return number

    async def first(conn: AsyncConnection) -> int:
        return await counters.allocate(conn, org, "tag")

    async def unit() -> int:
        async with db.write() as conn:
            return await counters.allocate(conn, org, "tag")

    outcomes = await _while_queued(db, first, unit(), in_a_request_transaction())
    assert outcomes == [1, 2, 1]
    assert committed_before_it_began == [2]
    assert await _committed(db, org, "part") == 1
