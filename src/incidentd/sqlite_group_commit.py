"""SQLite's group commit: the write units of one process that queue for the write connection share its
transactions, several units to one COMMIT (one WAL write and one fsync), each unit in a savepoint of its own.

Why: with `synchronous=FULL` a unit's commit cost a create about a fifth of its CPU and more of its wall time: the
WAL's write and fsync in a worker thread, the hand-off to that thread and back, and the check-out, BEGIN IMMEDIATE
and return around it (docs/performance.md, "Issue 20: group commit on SQLite"). Writers queue for the one write
connection anyway; those queued behind a commit can share the next one.

How it goes:

- One unit at a time runs on the write connection: the turn, an asyncio lock, as before group commit.
- A unit that finds no transaction open opens one (the processes' turn, `sqlite_inline.WriterTurns`, then check-out
  and BEGIN IMMEDIATE) and runs in it directly. A unit that finds one open runs inside `SAVEPOINT`, so if it raises
  it undoes only its own statements (`ROLLBACK TO`) and the units before it keep theirs.
- A unit that ends while others wait for the turn leaves the transaction open for them and queues a closer behind
  them (one per transaction): the closer takes the turn after the units that were waiting and commits. A unit that
  ends with nobody waiting commits at once, as every unit did before: an idle server's write waits for nothing.
- A transaction holds at most `MAX_UNITS` units: the unit that finds it full commits it before opening its own.
- Every unit returns only once its transaction has committed, so nothing is acknowledged before it is durable. If
  the commit fails, every unit of the transaction raises its error; if a unit's savepoint cannot be rolled back
  (SQLite may have rolled the whole transaction back after an I/O error), the transaction is rolled back and every
  unit in it raises: nothing half-written is committed.
- A unit sees what the units before it in the same transaction wrote. They commit together or not at all, so what
  it answers from them is never acknowledged unless they are durable too.

`take_exclusive()` takes the write connection for something that must not share a transaction (a request transaction,
which its owner commits later): it commits whatever transaction is open first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util.concurrency import greenlet_spawn

from incidentd.errors import ServiceUnavailable
from incidentd.sqlite_inline import InlineConnection, WriterTurns

# At 64 connections a create's queue rarely holds more than a few dozen writers; the bound keeps the first unit of a
# transaction from waiting behind an unbounded number of others.
MAX_UNITS = 32

_SAVEPOINT = "incidentd_unit"


class _Transaction:
    """One open transaction on the write connection and the units in it so far."""

    __slots__ = ("closer", "conn", "outcome", "plain", "sync", "units")

    def __init__(self, sync: Connection, conn: AsyncConnection) -> None:
        self.sync = sync
        self.conn = conn
        driver = sync.connection.driver_connection
        assert isinstance(driver, InlineConnection), "the write engine connects through sqlite_inline"
        self.plain = driver.plain
        self.units = 0
        # Set once the transaction has committed or failed: what every unit that left it open waits for.
        self.outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.outcome.add_done_callback(_retrieved)
        self.closer: asyncio.Task[None] | None = None


def _retrieved(future: asyncio.Future[None]) -> None:
    # The units that wait read the outcome; this keeps asyncio from warning when none is left to (all cancelled).
    if not future.cancelled():
        future.exception()


class GroupCommit:
    """The write connection of one SQLite database in one process, shared by queued units (module docstring)."""

    def __init__(self, engine: AsyncEngine, turns: WriterTurns | None, wait_seconds: float, retry_after: int) -> None:
        self._engine = engine
        self._turns = turns
        self._wait_seconds = wait_seconds
        self._retry_after = retry_after  # a 503's Retry-After, as the database's other 503s give it
        self._turn = asyncio.Lock()
        self._waiting = 0
        self._open: _Transaction | None = None
        self._closers: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def unit(self, *, alone: bool = False) -> AsyncIterator[AsyncConnection]:
        """A unit of work on the write connection: committed (perhaps with others) when the block ends, undone if
        it raises. Waits for the turn within the database's wait, else 503. `alone`: in a transaction of its own,
        committed when the block ends (for long units, which would hold the answers of short ones sharing their
        transaction, and for the benchmark's ceiling D, one row per transaction)."""
        started = time.monotonic()
        await self._take_turn(self._wait_seconds)
        try:
            transaction = self._open
            if transaction is not None and (alone or transaction.units >= MAX_UNITS):
                await self._commit(transaction)
                transaction = None
            first = transaction is None
            if transaction is None:
                transaction = await self._begin(self._wait_seconds - (time.monotonic() - started))
            else:
                transaction.plain.execute(f"SAVEPOINT {_SAVEPOINT}")
        except BaseException:
            self._turn.release()
            raise
        try:
            yield transaction.conn
        except BaseException:
            try:
                await self._undo(transaction, first)
            finally:
                self._turn.release()
            raise
        try:
            if not first:
                await self._release_savepoint(transaction)
            transaction.units += 1
            if transaction.closer is None and (alone or not self._waiting or transaction.units >= MAX_UNITS):
                await self._commit(transaction)
                return
            if transaction.closer is None:
                transaction.closer = asyncio.create_task(self._close_later())
                self._closers.add(transaction.closer)
                transaction.closer.add_done_callback(self._closers.discard)
        finally:
            self._turn.release()
        await _waited_out(transaction.outcome)

    async def take_exclusive(self) -> None:
        """The write connection to oneself until `give_exclusive()`: no transaction of the units open, the
        processes' turn taken; 503 if that does not come within the database's wait."""
        started = time.monotonic()
        await self._take_turn(self._wait_seconds)
        try:
            if self._open is not None:
                await self._commit(self._open)
            if not await self._take_processes_turn(self._wait_seconds - (time.monotonic() - started)):
                raise self._busy()
        except BaseException:
            self._turn.release()
            raise

    def give_exclusive(self) -> None:
        if self._turns is not None:
            self._turns.give()
        self._turn.release()

    async def close(self) -> None:
        """Let the queued closers commit what is open (before the engines are disposed of)."""
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)
        if self._turns is not None:
            self._turns.close()

    # the turn -------------------------------------------------------------------------------------------

    async def _take_turn(self, within: float) -> None:
        self._waiting += 1
        try:
            # asyncio.timeout, not wait_for: wait_for runs the acquire in a task of its own, a task per write.
            async with asyncio.timeout(max(0.0, within)):
                await self._turn.acquire()
        except TimeoutError:
            raise self._busy() from None
        finally:
            self._waiting -= 1

    async def _take_processes_turn(self, within: float) -> bool:
        return self._turns is None or await self._turns.take(max(0.0, within))

    def _busy(self) -> ServiceUnavailable:
        return ServiceUnavailable("the database is busy", retry_after=self._retry_after)

    # the transaction ------------------------------------------------------------------------------------

    async def _begin(self, within: float) -> _Transaction:
        if not await self._take_processes_turn(within):
            raise self._busy()
        try:
            sync = await greenlet_spawn(_checked_out_and_begun, self._engine.sync_engine)
        except BaseException:
            if self._turns is not None:
                self._turns.give()
            raise
        transaction = _Transaction(sync, AsyncConnection(self._engine, sync))
        self._open = transaction
        return transaction

    async def _undo(self, transaction: _Transaction, first: bool) -> None:
        """Undo a unit that raised: its savepoint, or the whole transaction if it was the first (no other unit is
        in it) or if its savepoint cannot be rolled back."""
        if first:
            await self._end(transaction, commit=False)
            return
        try:
            transaction.plain.execute(f"ROLLBACK TO {_SAVEPOINT}")
            transaction.plain.execute(f"RELEASE {_SAVEPOINT}")
        except Exception as exc:
            await self._fail(transaction, exc)

    async def _release_savepoint(self, transaction: _Transaction) -> None:
        """Keep a unit's writes in the transaction; if SQLite cannot, nobody's are kept (the unit raises too)."""
        try:
            transaction.plain.execute(f"RELEASE {_SAVEPOINT}")
        except Exception as exc:
            raise await self._fail(transaction, exc) from exc

    async def _fail(self, transaction: _Transaction, cause: Exception) -> ServiceUnavailable:
        """Roll the whole transaction back: every unit in it raises a 503 that says why (returned)."""
        failed = ServiceUnavailable("the database could not keep this write; retry", retry_after=self._retry_after)
        failed.__cause__ = cause
        await self._end(transaction, commit=False, error=failed)
        return failed

    async def _close_later(self) -> None:
        """Queued behind the units waiting when a unit left its transaction open: commit what they added to it."""
        async with self._turn:
            if self._open is not None:
                # A failed COMMIT is raised to the units waiting for it, not here: no one awaits this task.
                with contextlib.suppress(Exception):
                    await self._commit(self._open)

    async def _commit(self, transaction: _Transaction) -> None:
        await self._end(transaction, commit=True)
        await _waited_out(transaction.outcome)

    async def _end(self, transaction: _Transaction, *, commit: bool, error: BaseException | None = None) -> None:
        """Commit or roll back; `error` is what the units then raise. When units wait for the outcome, in a task
        of its own, so that the outcome is settled even if the unit that ends the transaction is cancelled."""
        if self._open is transaction:
            self._open = None
        if transaction.closer is None or transaction.closer is asyncio.current_task():
            # No other unit waits for this outcome, or the closer (never cancelled) ends it: no task needed.
            await self._settle(transaction, commit, error)
            return
        await _waited_out(asyncio.create_task(self._settle(transaction, commit, error)))

    async def _settle(self, transaction: _Transaction, commit: bool, error: BaseException | None) -> None:
        try:
            await greenlet_spawn(_ended_and_returned, transaction.sync, commit)
        except BaseException as exc:
            transaction.outcome.set_exception(exc)
            return
        finally:
            if self._turns is not None:
                self._turns.give()
        if error is not None:
            transaction.outcome.set_exception(error)
        else:
            transaction.outcome.set_result(None)


async def _waited_out(awaitable: asyncio.Future[None]) -> None:
    """Wait for `awaitable` even if the waiting task is cancelled meanwhile (then raise the cancellation once it is
    done), and raise what it raised."""
    cancelled: asyncio.CancelledError | None = None
    while not awaitable.done():
        try:
            await asyncio.shield(awaitable)
        except asyncio.CancelledError as exc:
            if awaitable.done() and awaitable.cancelled():
                raise
            cancelled = exc
        except BaseException:
            break
    if cancelled is not None:
        raise cancelled
    awaitable.result()


def _checked_out_and_begun(engine: Engine) -> Connection:
    connection = engine.connect()
    try:
        connection.begin()
    except BaseException:
        connection.close()
        raise
    return connection


def _ended_and_returned(connection: Connection, commit: bool) -> None:
    """Commit or roll back, and give the connection back to the pool whatever happens (as `begin()`'s and
    `connect()`'s context managers do)."""
    try:
        if not connection.in_transaction():
            return
        if commit:
            connection.commit()
        else:
            connection.rollback()
    finally:
        connection.close()
