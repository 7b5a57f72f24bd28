"""SQLite connections for SQLAlchemy's aiosqlite dialect that run statements on the event loop's own thread.

aiosqlite runs every call (open a cursor, execute, fetch, close, commit) in a thread of its own and wakes the event
loop after each one. A statement costs four such round trips, and a request of ten statements dozens of them;
measured on the benchmark's 1,000,000-incident database, `BEGIN`, one indexed `SELECT` and `COMMIT` took 2.2 ms
through aiosqlite against 0.6 ms with the same statements on the calling thread: the hops, not SQLite, were the
cost.

So statements run inline, where SQLite answers from its page cache in microseconds. Calls that can *wait* still
go to a worker thread, so the loop never sleeps on them:
- `BEGIN IMMEDIATE`, when another connection holds the write lock, waits for it (up to the busy timeout);
- `COMMIT` of a transaction that wrote flushes the WAL to disk (`synchronous=FULL`) and may checkpoint;
- statements a caller marks as possible long scans (`off_loop()`), such as a filtered page or counts over every
  incident of an org, once they have run inline for `INLINE_BUDGET_SECONDS` (most finish well within it).

The object implements the part of aiosqlite's `Connection` and `Cursor` API that SQLAlchemy's adapter calls;
errors are the `sqlite3` exceptions aiosqlite raises too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import make_url
from sqlalchemy.engine.url import URL

T = TypeVar("T")

# A statement marked `off_loop()` first runs inline, fetched whole, for at most this long; past it, SQLite
# interrupts it and it runs again in a worker thread. Running every marked statement in a thread cost list pages
# a third of their throughput (SQLite, 64 connections: 190 -> 122 pages/s): each thread took its own pooled
# connection, whose page cache was cold, and the rows crossed threads; most marked statements finish in well under
# a millisecond. The loop is held for at most this budget per statement (a get takes about 0.7 ms).
INLINE_BUDGET_SECONDS = 0.002
# SQLite calls the progress handler every this many virtual machine instructions (tens of microseconds).
PROGRESS_INSTRUCTIONS = 1000

_off_loop: contextvars.ContextVar[bool] = contextvars.ContextVar("incidentd_sqlite_off_loop", default=False)


@contextlib.contextmanager
def off_loop() -> Iterator[None]:
    """Run this block's SQLite statements in a worker thread: for statements that may scan many rows, so that the
    event loop goes on serving other requests meanwhile. A no-op on other databases."""
    token = _off_loop.set(True)
    try:
        yield
    finally:
        _off_loop.reset(token)


def is_off_loop() -> bool:
    """True inside `off_loop()`."""
    return _off_loop.get()


def connector(
    url: str, on_open: Callable[[sqlite3.Connection], None] | None = None, **options: Any
) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine`: opens `url`'s database with sqlite3's own arguments (as the
    pysqlite dialect derives them from the URL) plus `options`, and hands each new connection to `on_open` (to
    register SQL functions)."""
    args, kwargs = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    arguments: list[Any] = list(args)
    kwargs = {**kwargs, **options, "check_same_thread": False}

    busy_ms = int(float(kwargs.get("timeout", 5.0)) * 1000)

    async def connect() -> InlineConnection:
        connection = sqlite3.connect(*arguments, **kwargs)
        if on_open is not None:
            on_open(connection)
        return InlineConnection(connection, busy_ms)

    return connect


class PointReader:
    """One plain `sqlite3.Connection` per process for single-statement reads on the event loop's thread, below
    SQLAlchemy's async layer: a unit of work through it (pool checkout, BEGIN, a statement through the greenlet
    bridge, COMMIT, return) cost about 250 µs of CPU against 7 µs for a read of one row by its key (measured on
    incidents.get). A single statement is its own snapshot. It never waits: SQLite's busy timeout is 0 and it is
    read-only, so a busy or missing database raises `sqlite3.Error` at once and the caller takes the ordinary path
    (which waits, or answers 503)."""

    def __init__(self, url: str, mmap_bytes: int) -> None:
        self._url = url
        self._mmap_bytes = mmap_bytes
        self._connection: sqlite3.Connection | None = None

    def first_row(self, sql: str, parameters: Sequence[Any]) -> Any:
        try:
            connection = self._connection or self._open()
            return connection.execute(sql, parameters).fetchone()
        except sqlite3.Error:
            self.close()  # opened again by the next read: the file may have been replaced meanwhile
            raise

    def _open(self) -> sqlite3.Connection:
        args, kwargs = SQLiteDialect_pysqlite().create_connect_args(make_url(self._url))
        path = args[0] if args else kwargs.pop("database")
        # mode=ro: never creates a missing database file (the ordinary path reports it as an outage).
        connection = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False, timeout=0
        )
        connection.execute("PRAGMA busy_timeout=0")
        connection.execute(f"PRAGMA mmap_size={self._mmap_bytes}")
        self._connection = connection
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


async def _in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run a call in a worker thread and wait for it, even if the waiting task is cancelled meanwhile: the call
    goes on in its thread regardless, and the connection must not be used again (or returned) until it is done.
    A cancellation is raised once the call has finished."""
    call = asyncio.get_running_loop().run_in_executor(None, function, *args)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(call)
        except asyncio.CancelledError as exc:
            if call.done():
                raise
            cancelled = exc
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result


class InlineConnection:
    """aiosqlite's `Connection` surface over a `sqlite3.Connection`, inline except for the waiting calls."""

    def __init__(self, connection: sqlite3.Connection, busy_ms: int) -> None:
        # SQLAlchemy's adapter reads `_connection` to tell an open connection from a closed one.
        self._connection: sqlite3.Connection | None = connection
        self._busy_ms = busy_ms
        self._changes_at_begin = 0
        # While a budgeted statement runs inline: when SQLite must interrupt it (see `INLINE_BUDGET_SECONDS`).
        self._deadline: float | None = None
        connection.set_progress_handler(self._past_deadline, PROGRESS_INSTRUCTIONS)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._conn.cursor())

    @property
    def plain(self) -> sqlite3.Connection:
        """The sqlite3 connection itself, for a statement run below SQLAlchemy inside this connection's unit of
        work (`plain_statements.sqlite_connection_of`)."""
        return self._conn

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        cursor = self.cursor()
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        conn = self._conn
        if conn.in_transaction and conn.total_changes != self._changes_at_begin:
            await _in_thread(conn.commit)
        else:
            conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    def stop(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            if self._connection is not None:
                self._connection.close()
        self._connection = None

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    def _past_deadline(self) -> bool:
        # SQLite's progress handler: True interrupts the running statement ("interrupted").
        deadline = self._deadline
        return deadline is not None and time.perf_counter() > deadline

    def _began(self) -> None:
        self._changes_at_begin = self._conn.total_changes

    def _begin_immediate_now(self, cursor: sqlite3.Cursor, sql: str) -> bool:
        """Try to take the write lock without waiting; False if another connection holds it."""
        conn = self._conn
        conn.execute("PRAGMA busy_timeout=0")
        try:
            cursor.execute(sql)
            return True
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise
        finally:
            conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")


class InlineCursor:
    """aiosqlite's `Cursor` surface over a `sqlite3.Cursor`."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._owner = connection
        self._cursor = cursor
        # The rows of a statement run by `_execute_budgeted`, fetched whole; None when the cursor fetches itself.
        self._rows: list[Any] | None = None
        self._next_row = 0

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        arguments = (sql,) if parameters is None else (sql, parameters)
        self._rows = None
        if sql.startswith("BEGIN IMMEDIATE"):
            # Usually the lock is free: take it at once. Otherwise wait for it (the busy timeout) in a thread.
            if not self._owner._begin_immediate_now(self._cursor, sql):
                await _in_thread(self._cursor.execute, *arguments)
        elif _off_loop.get():
            if sql.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
                await self._execute_budgeted(arguments)
            else:
                # Never interrupt a write: SQLite would roll back the whole transaction.
                await _in_thread(self._cursor.execute, *arguments)
        else:
            self._cursor.execute(*arguments)
        if sql.startswith("BEGIN"):
            self._owner._began()
        return self

    async def _execute_budgeted(self, arguments: tuple[Any, ...]) -> None:
        """Run a read and fetch all its rows: inline within `INLINE_BUDGET_SECONDS`, else again in a thread."""
        owner, cursor = self._owner, self._cursor

        def execute_and_fetch() -> list[Any]:
            cursor.execute(*arguments)
            return cursor.fetchall()

        owner._deadline = time.perf_counter() + INLINE_BUDGET_SECONDS
        try:
            self._rows = execute_and_fetch()
        except sqlite3.OperationalError as exc:
            if str(exc) != "interrupted":
                raise
        finally:
            owner._deadline = None
        if self._rows is None:
            # An interrupted read leaves its transaction as it was; its rows are read again, from the start.
            self._rows = await _in_thread(execute_and_fetch)
        self._next_row = 0

    def _take(self, size: int | None) -> list[Any]:
        assert self._rows is not None
        start = self._next_row
        end = len(self._rows) if size is None else start + size
        self._next_row = min(end, len(self._rows))
        return self._rows[start:end]

    async def executemany(self, sql: str, parameters: Any) -> InlineCursor:
        if _off_loop.get():
            await _in_thread(self._cursor.executemany, sql, parameters)
        else:
            self._cursor.executemany(sql, parameters)
        return self

    async def fetchall(self) -> list[Any]:
        if self._rows is not None:
            return self._take(None)
        if _off_loop.get():
            return await _in_thread(self._cursor.fetchall)
        return self._cursor.fetchall()

    async def fetchone(self) -> Any:
        if self._rows is not None:
            rows = self._take(1)
            return rows[0] if rows else None
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if self._rows is not None:
            return self._take(size if size is not None else self._cursor.arraysize)
        return self._cursor.fetchmany(size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class WriterTurns:
    """Fair turns at SQLite's write lock between the processes of one server (`serve --workers N`).

    A connection that finds SQLite's write lock taken waits in SQLite's busy handler, which sleeps between tries
    (1, 2, 5, ... up to 100 ms). Between two processes that both write without pause, the one that just committed
    takes the lock again at once, while the other sleeps between tries: creates from 2 workers had a p99 of 3.5 s,
    and a 64-task writer timed out after 5 s. So writers also take turns at an advisory lock file beside the
    database (`<db>-writer.lock`), and one waiting shows itself on a second file (`<db>-waiting.lock`, shared
    lock): a process that sees another waiting lets it go first instead of taking the lock again at once. Waits
    poll every half millisecond in a worker thread. Writers that do not take turns (the CLI) are still kept out
    by SQLite's own lock. A process's writers take turns among themselves on an asyncio lock first (the caller's).
    """

    POLL_SECONDS = 0.0005

    def __init__(self, database_path: str) -> None:
        self._path = database_path
        self._files: tuple[int, int] | None = None

    @property
    def _writer(self) -> int:
        return self._open()[0]

    @property
    def _waiting(self) -> int:
        return self._open()[1]

    def _open(self) -> tuple[int, int]:
        # Opened at the first write, not at start: the database's directory may not be there yet (an OSError here
        # is an outage, as SQLite's own "unable to open" is).
        if self._files is None:
            writer = os.open(f"{self._path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                waiting = os.open(f"{self._path}-waiting.lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                os.close(writer)
                raise
            self._files = (writer, waiting)
        return self._files

    @classmethod
    def beside(cls, url: str | URL) -> WriterTurns | None:
        """Turns for the SQLite file `url` names; None for an in-memory database (one process only)."""
        database = make_url(url).database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(database)

    async def take(self, within: float) -> bool:
        """Take this process's turn; False if it did not come within `within` seconds."""
        if not self._others_waiting() and self._try():
            return True
        deadline = time.monotonic() + within
        outcome: list[bool] = []

        def wait() -> bool:
            outcome.append(self._wait(deadline))
            return outcome[0]

        try:
            return await _in_thread(wait)
        except BaseException:
            if outcome and outcome[0]:  # cancelled while the turn came: pass it on
                self.give()
            raise

    def give(self) -> None:
        fcntl.flock(self._writer, fcntl.LOCK_UN)

    def close(self) -> None:
        files, self._files = self._files, None
        for descriptor in files or ():
            with contextlib.suppress(OSError):
                os.close(descriptor)

    def _try(self) -> bool:
        try:
            fcntl.flock(self._writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _others_waiting(self) -> bool:
        try:
            fcntl.flock(self._waiting, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(self._waiting, fcntl.LOCK_UN)
        return False

    def _wait(self, deadline: float) -> bool:
        # Others waited first: let them have their turn (they stop showing as waiting once they have it).
        while self._others_waiting():
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.POLL_SECONDS)
        fcntl.flock(self._waiting, fcntl.LOCK_SH)
        try:
            while not self._try():
                if time.monotonic() >= deadline:
                    return False
                time.sleep(self.POLL_SECONDS)
            return True
        finally:
            fcntl.flock(self._waiting, fcntl.LOCK_UN)
