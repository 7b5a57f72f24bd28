"""The database: engine, transactions, migrations. SQLite (aiosqlite) embedded by default, PostgreSQL (asyncpg).

Services open units of work with `Database.read()` / `Database.write()`; failures that mean "the database is not
there right now" become `ServiceUnavailable` (503), everything else propagates. A layer in front of the services
may run a whole request as one `RequestTransaction` that it commits itself (idempotency keys do).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import msgspec
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from incidentd import citus, sqlite_inline
from incidentd.config import Settings
from incidentd.errors import ServiceUnavailable
from incidentd.kit import percentiles
from incidentd.kit.tables import metadata as metadata
from incidentd.plain_statements import CompiledText, PointStatement
from incidentd.sqlite_group_commit import GroupCommit

# SQLite messages that mean "not available now" rather than "this statement is wrong".
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error", "database is full")


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached or is overloaded right now."""
    if isinstance(exc, sa.exc.TimeoutError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        text = str(exc.orig).lower()
        if isinstance(exc, sa.exc.OperationalError) and any(part in text for part in _SQLITE_UNAVAILABLE):
            return True
        return isinstance(exc, sa.exc.InterfaceError) or ("connection" in text and "closed" in text)
    if isinstance(exc, OSError):
        return True
    name = type(exc).__name__
    return name in {
        "CannotConnectNowError",
        "ConnectionDoesNotExistError",
        "TooManyConnectionsError",
        "ConnectionFailureError",
        "InterfaceError",
        "AdminShutdownError",
    }


class NoPointRead(Exception):
    """`Database.first_row` cannot read here and now: read through a unit of work."""


class _PointConnection(asyncpg.Connection):
    """A connection of the point pool, returned to it without asyncpg's reset statement (`pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL`): a round trip per get that undid nothing, for the statements run here are
    single statements that leave no session state behind (`first_row`, `commit_alone`; a setting they change is
    their transaction's own). asyncpg still rolls back a transaction left open."""

    def get_reset_query(self) -> str:
        return ""


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_sqlite = settings.is_sqlite
        self.engine: AsyncEngine = _create_engine(settings)
        # SQLite: a process's writes (one at a time anyway) all run on one connection, kept open, so that its page
        # cache stays warm. SQLite empties a connection's cache whenever another connection has written, and with
        # writes spread over the pool every write read its index pages again: creates 156 -> 188/s.
        self.write_engine: AsyncEngine = self.engine
        if settings.is_sqlite:
            # Every transaction of it takes the write lock up front (BEGIN IMMEDIATE, `_configure_sqlite`): set once
            # on the engine rather than on each connection, which cost a unit of work a greenlet round trip.
            self.write_engine = _create_engine(settings, pool_size=1).execution_options(sqlite_immediate=True)
            _database_of[self.write_engine.sync_engine] = self.engine.sync_engine
        # One writer at a time inside this process (SQLite serialises writers anyway, and queueing on an asyncio
        # lock is cheaper and fairer than spinning in SQLite's busy handler); the processes of one server take fair
        # turns between them (sqlite_inline.WriterTurns); and the writers queued behind a commit share the next one.
        self._group_commit = (
            GroupCommit(
                self.write_engine,
                sqlite_inline.WriterTurns.beside(settings.database_url),
                settings.db_wait_seconds,
                self.retry_after,
            )
            if self.is_sqlite
            else None
        )
        self._point_reader = (
            sqlite_inline.PointReader(settings.database_url, settings.sqlite_mmap_mb * 1024 * 1024)
            if self.is_sqlite
            else None
        )
        self._point_pool: asyncpg.Pool | None = None
        self._point_pool_opening = asyncio.Lock()
        self._point_turns = asyncio.Semaphore(max(1, settings.db_point_read_pool_size))

    @property
    def engines(self) -> tuple[AsyncEngine, ...]:
        """Every engine this database uses: the one for reads and, on SQLite, the writes' own."""
        return (self.engine,) if self.write_engine is self.engine else (self.engine, self.write_engine)

    @property
    def one_writer_at_a_time(self) -> bool:
        """True when this process's writes queue for one lock (SQLite), false when they run side by side."""
        return self._group_commit is not None

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work (a consistent snapshot)."""
        shared = _request_transaction.get()
        if shared is not None and shared.db is self and shared.is_open:
            # Inside a request transaction that has written: read its own writes.
            async with self._translate_outage(), shared.joined() as conn:
                yield conn
            return
        async with self._translate_outage(), self._connect() as conn, conn.begin():
            yield conn

    async def first_row(self, statement: PointStatement, values: dict[str, Any]) -> Any:
        """The first row of one read-only statement (None when it has none), read below SQLAlchemy's units of
        work: on SQLite right here on the event loop's thread (`sqlite_inline.PointReader`), on PostgreSQL on a
        small asyncpg pool of this process's own (`db_point_read_pool_size`). One statement sees one snapshot.
        Raises `NoPointRead` when that is not possible (SQLite busy or unreachable; the point pool off or its
        connection failing; inside a request transaction, whose own writes it would not see): the caller reads
        through `read()` instead, which says 503 when the database is really not there."""
        shared = _request_transaction.get()
        if shared is not None and shared.db is self and shared.is_open:
            raise NoPointRead
        if self._point_reader is not None:
            text = statement.sqlite
            try:
                return self._point_reader.first_row(text.sql, text.parameters(values))
            except sqlite3.Error as exc:
                raise NoPointRead from exc
        return await self._on_point_pool(statement.postgresql, values)

    async def commit_alone(self, statement: CompiledText, values: dict[str, Any]) -> Any:
        """PostgreSQL: the first row of one writing statement run in a transaction of its own, committed before
        this returns, on the point pool (`first_row`'s): apart from every unit of work, so that a row it locks is
        locked only while the database runs it, not for the round trips of a unit of work that goes on. Raises
        `NoPointRead` where it cannot (SQLite, whose one writer makes this pointless; the point pool off or
        failing; the statement failing): the caller runs the statement in its unit of work instead, where a
        failure is answered as any statement's."""
        if self.is_sqlite:
            raise NoPointRead
        try:
            return await self._on_point_pool(statement, values)
        except asyncpg.PostgresError as exc:
            raise NoPointRead from exc

    async def _on_point_pool(self, statement: CompiledText, values: dict[str, Any]) -> Any:
        """The statement's first row, run on a connection of the point pool (opened when first needed)."""
        try:
            pool = self._point_pool or await self._open_point_pool()
        except NoPointRead:
            raise
        except Exception as exc:  # a URL asyncpg alone cannot take, say: the unit of work reads instead
            raise NoPointRead from exc
        # Gets queue for the few point connections rather than spill into the main pool when all are busy:
        # measured, spilling halved the rate (docs/performance.md, "PostgreSQL gets below SQLAlchemy too"). They
        # queue first come, first served (an asyncio.Semaphore wakes its waiters in order): asyncpg's pool gives a
        # returned connection to whichever task asks next, and with 64 connections some gets waited half a
        # second while others went past them (p99 509 ms at p50 29 ms; docs/performance.md, "Issue 20: ...").
        try:
            async with asyncio.timeout(self.settings.db_wait_seconds):  # not acquire(timeout=): a task per call
                await self._point_turns.acquire()
        except TimeoutError as exc:  # every point connection busy for that long: overloaded, like the main pool
            raise self._unavailable() from exc
        try:
            try:
                async with asyncio.timeout(self.settings.db_wait_seconds):  # a turn is a free connection, but for
                    connection = await pool.acquire()  # one taken from the pool itself
            except TimeoutError as exc:
                raise self._unavailable() from exc
            except Exception as exc:
                raise NoPointRead from exc
            try:
                return await connection.fetchrow(statement.sql, *statement.parameters(values))
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
                raise NoPointRead from exc
            finally:
                await pool.release(connection)
        finally:
            self._point_turns.release()

    def _unavailable(self) -> ServiceUnavailable:
        """The database's 503: down, or every connection busy for as long as a request waits for one."""
        return ServiceUnavailable("the database is unavailable; retry later", retry_after=self.retry_after)

    async def _open_point_pool(self) -> asyncpg.Pool:
        if self.is_sqlite or self.settings.db_point_read_pool_size == 0:
            raise NoPointRead
        async with self._point_pool_opening:
            if self._point_pool is None:
                url = sa.engine.make_url(self.settings.database_url).set(drivername="postgresql")
                # Connections open when first needed, so a process that serves no gets holds none of them.
                self._point_pool = await asyncpg.create_pool(
                    url.render_as_string(hide_password=False),
                    min_size=0,
                    max_size=self.settings.db_point_read_pool_size,
                    timeout=self.settings.db_wait_seconds,
                    command_timeout=max(30.0, self.settings.db_wait_seconds),
                    connection_class=_PointConnection,
                )
            return self._point_pool

    @contextlib.asynccontextmanager
    async def write(self, *, alone: bool = False) -> AsyncIterator[AsyncConnection]:
        """A unit of work that commits when the block ends and rolls back if it raises.

        On SQLite, units that queue behind another share its transaction and commit (`sqlite_group_commit`);
        `alone=True` gives the unit a transaction of its own, for long units (a batch of an import) that would
        otherwise hold the answers of the short ones sharing theirs. Inside `request_transaction()` the block joins
        the request's transaction instead, which its owner commits.
        """
        committed: list[Callable[[], None]] = []
        writing = _writing.set(committed)
        try:
            async with self._write(alone) as conn:
                yield conn
        finally:
            _writing.reset(writing)
        # Reached only when the block committed (in a request transaction, its owner commits later: not yet).
        shared = _request_transaction.get()
        if shared is None or shared.db is not self:
            for callback in committed:
                callback()

    @contextlib.asynccontextmanager
    async def _write(self, alone: bool) -> AsyncIterator[AsyncConnection]:
        shared = _request_transaction.get()
        if shared is not None and shared.db is self:
            async with self._translate_outage(), shared.joined() as conn:
                yield conn
            return
        async with self._translate_outage():
            if self._group_commit is None:
                async with self._connect() as conn, conn.begin():
                    yield conn
                return
            async with self._group_commit.unit(alone=alone) as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def _connect(self, engine: AsyncEngine | None = None) -> AsyncIterator[AsyncConnection]:
        """A pooled connection of `engine` (default: the reading one), returned to the pool when the block ends."""
        engine = engine or self.engine
        if not self.is_sqlite:
            async with engine.connect() as conn:
                yield conn
            return
        # SQLAlchemy's context manager closes in a task of its own, so that a cancelled request cannot abandon the
        # close halfway. That costs a task per unit of work, and with statements inline it returned connections so
        # late under load that pool waiters timed out. Closing a SQLite connection runs inline: nothing to abandon.
        conn = await engine.connect()
        try:
            yield conn
        finally:
            await conn.close()

    @contextlib.contextmanager
    def request_transaction(
        self, on_begin: Callable[[AsyncConnection], Awaitable[None]] | None = None
    ) -> Iterator[RequestTransaction]:
        """Run the rest of this task's request as one transaction that the caller commits or rolls back.

        `on_begin` runs first inside the transaction when the request first writes. Requests that never write
        never open it. The caller must end it with `commit()` or `rollback()`.
        """
        transaction = RequestTransaction(self, on_begin)
        token = _request_transaction.set(transaction)
        try:
            yield transaction
        finally:
            _request_transaction.reset(token)

    async def _lock_writer(self) -> None:
        """The write connection to oneself (SQLite), within `db_wait_seconds` in all: for a request transaction."""
        if self._group_commit is not None:
            await self._group_commit.take_exclusive()

    def _unlock_writer(self) -> None:
        if self._group_commit is not None:
            self._group_commit.give_exclusive()

    @property
    def retry_after(self) -> int:
        return max(1, round(self.settings.db_wait_seconds))

    @contextlib.asynccontextmanager
    async def _translate_outage(self) -> AsyncIterator[None]:
        try:
            yield
        except ServiceUnavailable:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise self._unavailable() from exc
            raise

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        if self._point_reader is not None:
            self._point_reader.close()
        if self._point_pool is not None:
            await self._point_pool.close()
            self._point_pool = None
        if self._group_commit is not None:
            await self._group_commit.close()
        for engine in self.engines:
            await engine.dispose()


# The engines of one Database, by the one that stands for it (its reading engine): see `database_key`.
_database_of: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()


def database_key(engine: Engine) -> Engine:
    """The engine that stands for the database `engine` belongs to, whether it reads or writes: what memories of a
    database (`incidentd.memo`) are kept under."""
    return _database_of.get(engine, engine)


# Inside a write unit of work of the running task: what to run once it has committed (what it reads until then may
# yet be rolled back).
_writing: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "incidentd_writing", default=None
)


def when_committed(callback: Callable[[], None]) -> None:
    """Run `callback` once the running write unit of work has committed (never if it rolls back); at once outside
    one."""
    pending = _writing.get()
    if pending is None:
        callback()
    else:
        pending.append(callback)


# The request transaction of the running task, if a layer set one up (contextvars follow the request's task).
_request_transaction: contextvars.ContextVar[RequestTransaction | None] = contextvars.ContextVar(
    "incidentd_request_transaction", default=None
)


class RequestTransaction:
    """One transaction for a whole request, committed by the layer that set it up rather than by the service.

    The request's first `Database.write()` opens it (taking SQLite's writer lock, as any write does) and runs
    `on_begin` in it; the block's end leaves it open, and the request's later reads and writes join it. A block
    that raises rolls it back (a later write opens a fresh one). The owner finally calls `commit(last)`, which runs
    `last` on the same connection and commits, or `rollback()`.
    """

    def __init__(self, db: Database, on_begin: Callable[[AsyncConnection], Awaitable[None]] | None) -> None:
        self.db = db
        self._on_begin = on_begin
        self._conn: AsyncConnection | None = None

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    @contextlib.asynccontextmanager
    async def joined(self) -> AsyncIterator[AsyncConnection]:
        conn = self._conn if self._conn is not None else await self._open()
        try:
            yield conn
        except BaseException:
            await self.rollback()
            raise

    async def _open(self) -> AsyncConnection:
        db = self.db
        if db.is_sqlite:
            await db._lock_writer()
        conn: AsyncConnection | None = None
        try:
            conn = await db.write_engine.connect()  # on SQLite its transactions BEGIN IMMEDIATE
            await conn.begin()
            if self._on_begin is not None:
                await self._on_begin(conn)
        except BaseException:
            await asyncio.shield(_discard(db, conn))
            raise
        self._conn = conn
        return conn

    async def commit(self, last: Callable[[AsyncConnection], Awaitable[None]] | None = None) -> None:
        """Run `last` in the transaction and commit; the transaction is over whatever happens."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if last is not None:
                await last(conn)
            await conn.commit()
        finally:
            # Shielded: a cancelled request still returns its connection and SQLite's writer lock.
            await asyncio.shield(_discard(self.db, conn))

    async def rollback(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.shield(_discard(self.db, conn))


async def _discard(db: Database, conn: AsyncConnection | None) -> None:
    """Roll back what is uncommitted on `conn`, give it back to the pool, and release SQLite's writer lock."""
    try:
        if conn is not None:
            try:
                if conn.in_transaction():
                    await conn.rollback()
            except Exception:
                # A connection that cannot even roll back is broken: the pool must not hand it out again.
                with contextlib.suppress(Exception):
                    await conn.invalidate()
            with contextlib.suppress(Exception):
                await conn.close()
    finally:
        db._unlock_writer()


def _create_engine(settings: Settings, pool_size: int | None = None) -> AsyncEngine:
    wait = settings.db_wait_seconds
    kwargs: dict[str, Any] = {"pool_timeout": wait}
    if settings.is_sqlite:
        # Statements run on the loop's thread, waits in a worker (see sqlite_inline). A file database does not
        # drop connections, so the pool does not ping them before handing them out.
        kwargs["async_creator"] = sqlite_inline.connector(
            settings.database_url, on_open=percentiles.register, timeout=wait, isolation_level=None
        )
        kwargs["pool_size"] = pool_size or settings.db_pool_size
        kwargs["max_overflow"] = 0
    else:
        # Not SQLAlchemy's pre-ping, which pings every checkout (`_alive_at_checkout`).
        kwargs["connect_args"] = {"timeout": wait, "command_timeout": max(30.0, wait)}
        kwargs["pool_size"] = settings.db_pool_size
        kwargs["max_overflow"] = settings.db_pool_overflow
    # msgspec encodes and decodes the JSON columns (custom fields and such) several times faster than the json module.
    engine = create_async_engine(
        settings.database_url, json_serializer=_json_text, json_deserializer=msgspec.json.decode, **kwargs
    )
    if settings.is_sqlite:
        _configure_sqlite(engine, settings)
    else:
        event.listen(engine.sync_engine, "connect", _prime_types)
        event.listen(engine.sync_engine, "connect", _in_use)  # a new connection needs no ping
        event.listen(engine.sync_engine, "checkout", _alive_at_checkout)
        event.listen(engine.sync_engine, "checkin", _in_use)
    return engine


# A PostgreSQL connection is pinged at checkout only when it idled in the pool for longer than this. SQLAlchemy's
# pre-ping pings at every checkout, and its ping is three round trips (BEGIN, ';', ROLLBACK: it pings inside a
# transaction, for pgbouncer): three of a create's sixteen (docs/performance.md, "Issue 20: PostgreSQL's create in
# fewer round trips"). A connection that was returned a moment ago worked a moment ago, and one whose socket the
# server or the network closed since, asyncpg knows to be closed without a round trip.
PING_AFTER_IDLE_SECONDS = 1.0
_LAST_USED = "incidentd_last_used"


def _alive_at_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Hand out a connection that is alive: a closed one, or one that idled and does not answer a ping, is
    replaced by the pool (a `DisconnectionError` here makes it invalidate the connection and check out another)."""
    if dbapi_connection._connection.is_closed():
        raise sa.exc.DisconnectionError("the connection was closed")
    if time.monotonic() - record.info.get(_LAST_USED, 0.0) > PING_AFTER_IDLE_SECONDS:
        try:
            dbapi_connection.ping()
        except Exception as exc:
            raise sa.exc.DisconnectionError("the connection did not answer a ping") from exc


def _in_use(_dbapi_connection: Any, record: Any) -> None:
    """The connection worked just now: made, or returned to the pool."""
    record.info[_LAST_USED] = time.monotonic()


def _prime_types(dbapi_connection: Any, _record: Any) -> None:
    """A new PostgreSQL connection: on Citus, its type lookups now, cheaply (`citus.prime_types`)."""
    dbapi_connection.run_async(citus.prime_types)


def _json_text(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _configure_sqlite(engine: AsyncEngine, settings: Settings) -> None:
    busy_ms = int(settings.db_wait_seconds * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
        # Optionally, pages read through a memory map instead of read() calls into each connection's own cache
        # (which SQLite empties whenever another connection has written).
        cursor.execute(f"PRAGMA mmap_size={settings.sqlite_mmap_mb * 1024 * 1024}")
        cursor.close()

    # The driver's own transaction handling is off (isolation_level=None); we say BEGIN ourselves so that
    # writers take the lock up front (BEGIN IMMEDIATE) instead of failing when a read lock must be upgraded.
    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# migrations -----------------------------------------------------------------------------------------


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", "incidentd:migrations")
    return config


def _upgrade(connection: Connection, revision: str = "head") -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to `revision` (the migrations are the only source of the schema)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


def _current_heads(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


async def is_at_head(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        current = await conn.run_sync(_current_heads)
    return current == head_revisions()
