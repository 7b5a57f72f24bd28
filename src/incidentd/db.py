"""The database: engine, transactions, migrations. SQLite (aiosqlite) embedded by default, PostgreSQL (asyncpg).

Services open units of work with `Database.read()` / `Database.write()`; failures that mean "the database is not
there right now" become `ServiceUnavailable` (503), everything else propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from incidentd.config import Settings
from incidentd.errors import ServiceUnavailable

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

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


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_sqlite = settings.is_sqlite
        self.engine: AsyncEngine = _create_engine(settings)
        # One writer at a time inside this process: SQLite serialises writers anyway, and queueing on an
        # asyncio lock is cheaper and fairer than spinning in SQLite's busy handler.
        self._sqlite_writer = asyncio.Lock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work (a consistent snapshot)."""
        async with self._translate_outage(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A unit of work that commits when the block ends and rolls back if it raises."""
        async with self._translate_outage():
            if self._sqlite_writer is None:
                async with self.engine.connect() as conn, conn.begin():
                    yield conn
                return
            try:
                await asyncio.wait_for(self._sqlite_writer.acquire(), self.settings.db_wait_seconds)
            except TimeoutError:
                raise ServiceUnavailable("the database is busy", retry_after=self.retry_after) from None
            try:
                async with self.engine.connect() as conn:
                    await conn.execution_options(sqlite_immediate=True)
                    async with conn.begin():
                        yield conn
            finally:
                self._sqlite_writer.release()

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
                raise ServiceUnavailable(
                    "the database is unavailable; retry later", retry_after=self.retry_after
                ) from exc
            raise

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(sa.text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _create_engine(settings: Settings) -> AsyncEngine:
    wait = settings.db_wait_seconds
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_timeout": wait}
    if settings.is_sqlite:
        kwargs["connect_args"] = {"timeout": wait, "isolation_level": None}
        kwargs["pool_size"] = settings.db_pool_size
        kwargs["max_overflow"] = 0
    else:
        kwargs["connect_args"] = {"timeout": wait, "command_timeout": max(30.0, wait)}
        kwargs["pool_size"] = settings.db_pool_size
        kwargs["max_overflow"] = settings.db_pool_size
    engine = create_async_engine(settings.database_url, **kwargs)
    if settings.is_sqlite:
        _configure_sqlite(engine, settings)
    return engine


def _configure_sqlite(engine: AsyncEngine, settings: Settings) -> None:
    busy_ms = int(settings.db_wait_seconds * 1000)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute(f"PRAGMA synchronous={settings.sqlite_synchronous}")
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
