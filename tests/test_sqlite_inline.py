"""SQLite statements on the event loop's thread: the loop still never waits for a lock or the disk."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from conftest import ON_POSTGRES
from incidentd.config import Settings
from incidentd.db import Database
from incidentd.sqlite_inline import WriterTurns, off_loop

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="the SQLite driver")


@pytest.fixture
async def db(database_url: str) -> Database:
    database = Database(Settings(database_url=database_url, auto_migrate=False, db_wait_seconds=5))
    yield database
    await database.dispose()


def _path(database_url: str) -> str:
    return database_url.split("///", 1)[1]


async def test_a_write_waiting_for_another_process_lock_leaves_the_loop_serving_reads(db: Database, database_url):
    blocker = sqlite3.connect(_path(database_url), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.6, lambda: blocker.execute("COMMIT"))

    async def write() -> float:
        async with db.write() as conn:
            await conn.execute(sa.text("CREATE TABLE inline_probe (x INTEGER)"))
        return time.monotonic()

    started = time.monotonic()
    released.start()
    writing = asyncio.create_task(write())
    reads = 0
    while not writing.done():
        async with db.read() as conn:
            assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
        reads += 1
        await asyncio.sleep(0.01)
    finished = await writing
    released.join()
    blocker.close()
    # The write waited for the lock (0.6 s) and meanwhile the loop answered reads.
    assert finished - started >= 0.5
    assert reads >= 10


async def test_committed_writes_are_durable_and_visible_to_other_connections(db: Database, database_url):
    async with db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE inline_rows (x INTEGER)"))
        await conn.execute(sa.text("INSERT INTO inline_rows VALUES (1), (2)"))
    with sqlite3.connect(_path(database_url)) as other:
        assert other.execute("SELECT count(*) FROM inline_rows").fetchone() == (2,)


async def test_a_failed_write_rolls_back_everything(db: Database, database_url):
    async with db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE inline_rollback (x INTEGER UNIQUE)"))
    with pytest.raises(sa.exc.IntegrityError):
        async with db.write() as conn:
            await conn.execute(sa.text("INSERT INTO inline_rollback VALUES (1)"))
            await conn.execute(sa.text("INSERT INTO inline_rollback VALUES (1)"))
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM inline_rollback"))).scalar_one() == 0


async def test_marked_scans_move_to_a_worker_thread_past_their_inline_budget(db: Database):
    threads: list[str] = []
    async with db.read() as conn:
        # A function SQLite calls back tells which thread ran the statement.
        raw = (await conn.get_raw_connection()).driver_connection
        raw._conn.create_function("probe", 0, lambda: threads.append(threading.current_thread().name) or 1)
        loop_thread = threading.current_thread().name
        # A short marked read stays on the loop's thread, its rows fetched whole.
        with off_loop():
            result = await conn.execute(sa.text("SELECT probe() UNION ALL SELECT 2 UNION ALL SELECT 3"))
            assert result.fetchone() == (1,)
            assert result.fetchall() == [(2,), (3,)]
        assert threads == [loop_thread]
        threads.clear()
        # A long one (a recursive count to ten million: seconds of SQLite work) is interrupted after the budget and
        # runs again, whole, in a worker thread: probe() is called on both threads, the rows come back once.
        long_scan = sa.text(
            "WITH RECURSIVE n(i) AS (SELECT probe() UNION ALL SELECT i + 1 FROM n WHERE i < 10000000) "
            "SELECT count(*), max(i) FROM n"
        )
        with off_loop():
            assert (await conn.execute(long_scan)).one() == (10_000_000, 10_000_000)
        assert threads[0] == loop_thread and threads[1:] and loop_thread not in threads[1:]
        threads.clear()
        # Unmarked statements run on the loop's thread, however long.
        assert (await conn.execute(sa.text("SELECT probe()"))).scalar_one() == 1
        assert threads == [loop_thread]


async def test_a_marked_write_is_never_interrupted(db: Database):
    # Interrupting a write would roll back its whole transaction: marked writes go to the thread at once.
    async with db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE inline_marked_write (x INTEGER)"))
        with off_loop():
            await conn.execute(
                sa.text(
                    "INSERT INTO inline_marked_write WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                    "WHERE i < 2000000) SELECT i FROM n"
                )
            )
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM inline_marked_write"))).scalar_one() == 2_000_000


async def test_connections_go_back_to_the_pool_as_each_unit_of_work_ends(database_url):
    # Returned as the block ends, not from a task scheduled later: 64 concurrent readers and writers hold at most
    # two connections at once (a write waiting for the disk, and the reads the loop serves meanwhile).
    db = Database(Settings(database_url=database_url, auto_migrate=False, db_wait_seconds=30, db_pool_size=20))
    pools = [engine.sync_engine.pool for engine in db.engines]
    held: list[int] = []
    for pool in pools:
        sa.event.listen(pool, "checkout", lambda *_: held.append(sum(pool.checkedout() for pool in pools)))
    try:
        async with db.write() as conn:
            await conn.execute(sa.text("CREATE TABLE inline_load (x INTEGER)"))

        async def work(index: int) -> None:
            for _ in range(30):
                if index % 8 == 0:
                    async with db.write() as conn:
                        await conn.execute(sa.text("INSERT INTO inline_load VALUES (1)"))
                else:
                    async with db.read() as conn:
                        await conn.execute(sa.text("SELECT count(*) FROM inline_load"))

        await asyncio.gather(*(work(index) for index in range(64)))
        async with db.read() as conn:
            assert (await conn.execute(sa.text("SELECT count(*) FROM inline_load"))).scalar_one() == 8 * 30
        assert [pool.checkedout() for pool in pools] == [0, 0]
        assert max(held) <= 2
    finally:
        await db.dispose()


async def test_a_cancelled_write_waiting_for_the_lock_gives_back_connection_and_lock(db: Database, database_url):
    blocker = sqlite3.connect(_path(database_url), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")

    async def write() -> None:
        async with db.write() as conn:
            await conn.execute(sa.text("CREATE TABLE inline_cancelled (x INTEGER)"))

    waiting = asyncio.create_task(write())
    await asyncio.sleep(0.2)
    waiting.cancel()
    blocker.execute("ROLLBACK")
    blocker.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert [engine.sync_engine.pool.checkedout() for engine in db.engines] == [0, 0]
    async with db.write() as conn:
        await conn.execute(sa.text("CREATE TABLE inline_after (x INTEGER)"))


# Turns between processes: two WriterTurns on one file are two holders, as two processes are (flock locks belong
# to an open file, not to a process).


def _turns(tmp_path) -> tuple[WriterTurns, WriterTurns, WriterTurns]:
    found = [WriterTurns.beside(f"sqlite:///{tmp_path}/turns.db") for _ in range(3)]
    assert all(turns is not None for turns in found)
    return tuple(found)  # type: ignore[return-value]


async def test_a_process_that_just_wrote_lets_a_waiting_one_go_first(tmp_path):
    first, second, _ = _turns(tmp_path)
    assert await first.take(within=1)
    waiting = asyncio.create_task(second.take(within=5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    first.give()
    # First wants the lock again at once; second has been waiting, so second goes first.
    again = asyncio.create_task(first.take(within=5))
    assert await waiting
    await asyncio.sleep(0.05)
    assert not again.done()
    second.give()
    assert await again
    first.give()


async def test_a_turn_that_does_not_come_in_time_is_refused(tmp_path):
    first, second, _ = _turns(tmp_path)
    assert await first.take(within=1)
    started = time.monotonic()
    assert await second.take(within=0.1) is False
    assert 0.1 <= time.monotonic() - started < 2
    first.give()
    assert await second.take(within=0)


async def test_a_waiter_cancelled_as_its_turn_comes_passes_the_turn_on(tmp_path):
    first, second, third = _turns(tmp_path)
    assert await first.take(within=1)
    waiting = asyncio.create_task(second.take(within=5))
    await asyncio.sleep(0.05)
    waiting.cancel()
    first.give()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await third.take(within=0)


async def test_two_databases_on_one_file_write_side_by_side_without_timeouts(database_url):
    # Two Database objects on one file stand for two worker processes: each has its own writer queue and turns.
    settings = Settings(database_url=database_url, auto_migrate=False, db_wait_seconds=5)
    left, right = Database(settings), Database(settings)
    try:
        async with left.write() as conn:
            await conn.execute(sa.text("CREATE TABLE turns_probe (side TEXT)"))

        async def write(db: Database, side: str) -> None:
            async with db.write() as conn:
                await conn.execute(sa.text("INSERT INTO turns_probe VALUES (:side)"), {"side": side})

        await asyncio.gather(*(write(db, side) for _ in range(40) for db, side in ((left, "l"), (right, "r"))))
        async with left.read() as conn:
            counts = dict((await conn.execute(sa.text("SELECT side, count(*) FROM turns_probe GROUP BY side"))).all())
        assert counts == {"l": 40, "r": 40}
    finally:
        await left.dispose()
        await right.dispose()


def test_an_in_memory_database_has_no_turns():
    assert WriterTurns.beside("sqlite:///:memory:") is None
    assert WriterTurns.beside("sqlite://") is None


async def test_sqlite_reads_through_a_memory_map_unless_turned_off(database_url):
    for megabytes in (64, 0):
        db = Database(Settings(database_url=database_url, auto_migrate=False, sqlite_mmap_mb=megabytes))
        try:
            async with db.read() as conn:
                assert (await conn.execute(sa.text("PRAGMA mmap_size"))).scalar() == megabytes * 1024 * 1024
        finally:
            await db.dispose()


async def test_a_process_writes_on_one_connection_that_stays_open(db: Database):
    # SQLite empties a connection's page cache when another connection has written: writes share one connection.
    seen: set[int] = set()
    sa.event.listen(db.write_engine.sync_engine, "checkout", lambda dbapi, *_: seen.add(id(dbapi)))
    for number in range(5):
        async with db.write() as conn:
            await conn.execute(sa.text(f"CREATE TABLE one_writer_{number} (x INTEGER)"))
    async with db.read() as conn:
        assert (await conn.execute(sa.text("SELECT 1"))).scalar_one() == 1
    assert len(seen) == 1
    assert db.write_engine is not db.engine
