"""A repository's own statements run below SQLAlchemy's async layer, where a statement through the layer costs
tens of microseconds of CPU (a greenlet per call, the compiled cache's lookup, result building) around work the
database does in a few (docs/performance.md, "Issue 20: ..."): on SQLite, on the unit of work's plain sqlite3
connection (`PlainStatement`, `sqlite_connection_of`); point reads on SQLite's read-only connection or PostgreSQL's
small asyncpg pool (`PointStatement`, run by `db.Database.first_row`). Each is the repository's statement compiled
once, never a hand-written copy of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.engine import Row
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import sqlite_inline


class CompiledText:
    """A statement compiled once to one dialect's text, with its parameters in the order that text takes them: for
    a connection below SQLAlchemy (`Database.first_row`, `sqlite_connection_of`), yet the repository's own
    statement, not a hand-written copy of it."""

    def __init__(self, statement: Any, dialect: sa.engine.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup or ())
        self._fixed = {name: value for name, value in compiled.params.items() if value is not None}

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(values[name] if name in values else self._fixed[name] for name in self._names)


class PointStatement:
    """A read-only statement of one row for `Database.first_row`, compiled once for each database it may run on."""

    def __init__(self, statement: Any) -> None:
        self.sqlite = CompiledText(statement, sqlite_dialect.dialect())
        self.postgresql = CompiledText(statement, asyncpg_dialect())


def sqlite_connection_of(conn: AsyncConnection) -> sqlite3.Connection | None:
    """The plain sqlite3 connection under a unit of work's connection (None on PostgreSQL), for a statement run
    in that unit of work below SQLAlchemy's async layer: inline, a statement there costs microseconds where going
    through the layer costs tens of them (`sqlite_inline.PointReader`). None as well inside `off_loop()`, whose
    statements run in a worker thread: the caller takes SQLAlchemy's path, which honours it."""
    if conn.dialect.name != "sqlite" or conn.sync_connection is None or sqlite_inline.is_off_loop():
        return None
    driver = conn.sync_connection.connection.driver_connection
    return driver.plain if isinstance(driver, sqlite_inline.InlineConnection) else None


async def asyncpg_connection_of(conn: AsyncConnection) -> Any | None:
    """The asyncpg connection under a unit of work's connection on PostgreSQL (None elsewhere), inside the unit of
    work's transaction, for a statement run there below SQLAlchemy's async layer.

    SQLAlchemy's asyncpg adapter begins the database's transaction at the unit of work's first statement, not at
    `begin()`: when none ran yet, it is begun here, as that statement would have, so that the adapter commits or
    rolls back what ran below it. None outside a transaction SQLAlchemy knows of (the pool's reset would roll
    back what ran), and on a connection in autocommit."""
    if conn.dialect.driver != "asyncpg" or conn.sync_connection is None or not conn.in_transaction():
        return None
    adapter = conn.sync_connection.connection.dbapi_connection
    if adapter is None or adapter.isolation_level == "autocommit":
        return None
    if adapter._transaction is None:
        try:
            await adapter._start_transaction()
        except Exception as exc:
            await _raise_as_sqlalchemy(conn, adapter, "BEGIN", (), exc)
    return adapter


class PlainStatement:
    """A repository's own SQLAlchemy statement, run below SQLAlchemy's async layer: on SQLite on the unit of work's
    plain connection (`sqlite_connection_of`), on PostgreSQL on its asyncpg connection (`asyncpg_connection_of`).
    Through the layer a statement costs about 28 µs of CPU on SQLite (a greenlet per call, the compiled cache's
    lookup, result building) where sqlite3 itself takes about 1 µs (bench/write_cpu.py; docs/performance.md,
    "Issue 20: the create path's CPU"), and more on PostgreSQL.

    Compiled once per dialect and set of parameter names by the connection's own dialect, so the SQL is the
    repository's and the values are bound as SQLAlchemy binds them (its bind processors: JSON encoded as the engine
    encodes it, booleans as integers on SQLite). `execute` returns sqlite3's own tuples (for writes, and integers
    returned); `rows` and `all` return SQLAlchemy `Row`s through the columns' result processors. The async `fetch`,
    `all` and `run_many` take whichever path the unit of work's connection has, SQLAlchemy's own last (`off_loop()`,
    outside a transaction). No expanding (IN list) parameters and no Python-side column defaults (refused when
    first compiled). A driver's error is raised as SQLAlchemy's `DBAPIError` of the same kind, as through the
    layer."""

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._compiled: dict[tuple[Any, frozenset[str]], _PlainCompiled] = {}

    def _for(self, dialect: Any, names: frozenset[str]) -> _PlainCompiled:
        compiled = self._compiled.get((dialect, names))
        if compiled is None:
            compiled = self._compiled[(dialect, names)] = _PlainCompiled(self._statement, dialect, names)
        return compiled

    def execute(self, plain: sqlite3.Connection, dialect: Any, values: dict[str, Any]) -> list[Any]:
        """Run the statement with these values; its rows, fetched whole (so that the statement is done with)."""
        compiled = self._for(dialect, frozenset(values))
        parameters = compiled.parameters(values)
        try:
            return plain.execute(compiled.sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(compiled.sql, parameters, exc, sqlite3.Error, dialect=dialect) from exc

    async def _below(
        self, conn: AsyncConnection, values: dict[str, Any]
    ) -> tuple[_PlainCompiled, Sequence[Any]] | None:
        """Run the statement below the layer where `conn`'s unit of work has a connection for it: the compiled
        statement and the driver's rows (tuples, or asyncpg's records), fetched whole; None where it has none."""
        compiled = self._for(conn.dialect, frozenset(values))
        plain = sqlite_connection_of(conn)
        if plain is not None:
            return compiled, self.execute(plain, conn.dialect, values)
        adapter = await asyncpg_connection_of(conn)
        if adapter is None:
            return None
        parameters = compiled.parameters(values)
        try:
            return compiled, await adapter._connection.fetch(compiled.sql, *parameters)
        except Exception as exc:
            await _raise_as_sqlalchemy(conn, adapter, compiled.sql, parameters, exc)

    async def fetch(self, conn: AsyncConnection, values: dict[str, Any]) -> Sequence[Any]:
        """Run the statement in `conn`'s unit of work; its rows as the driver gives them (tuples, or asyncpg's
        records: by position), fetched whole. For writes, and the integers they return."""
        below = await self._below(conn, values)
        if below is not None:
            return below[1]
        return (await conn.execute(self._statement, values)).all()

    async def all(self, conn: AsyncConnection, values: dict[str, Any]) -> Sequence[Row[Any]]:
        """The statement's rows in `conn`'s unit of work as SQLAlchemy's `Row`s: below the layer where there is a
        connection for it, else through it (`off_loop()`, outside a transaction)."""
        below = await self._below(conn, values)
        if below is not None:
            compiled, raw = below
            return compiled.rows(raw)
        return (await conn.execute(self._statement, values)).all()

    async def run_many(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
        """The statement once per row in `conn`'s unit of work (every row with the first one's names)."""
        if not rows:
            return
        plain = sqlite_connection_of(conn)
        if plain is not None:
            self.execute_many(plain, conn.dialect, rows)
            return
        if len(rows) == 1:  # asyncpg's executemany costs more than a statement (its pipeline's own work)
            await self.fetch(conn, rows[0])
            return
        adapter = await asyncpg_connection_of(conn)
        if adapter is None:
            await conn.execute(self._statement, list(rows))
            return
        compiled = self._for(conn.dialect, frozenset(rows[0]))
        parameters = [compiled.parameters(row) for row in rows]
        try:
            await adapter._connection.executemany(compiled.sql, parameters)
        except Exception as exc:
            await _raise_as_sqlalchemy(conn, adapter, compiled.sql, parameters, exc, ismulti=True)

    def rows(self, plain: sqlite3.Connection, dialect: Any, values: dict[str, Any]) -> Sequence[Row[Any]]:
        """Run the statement; its rows as SQLAlchemy's `Row`s, each value through its type's result processor (JSON
        decoded, booleans), by name, position or column as through the layer."""
        return self._for(dialect, frozenset(values)).rows(self.execute(plain, dialect, values))

    def execute_many(self, plain: sqlite3.Connection, dialect: Any, rows: Sequence[dict[str, Any]]) -> None:
        """The statement once per row (every row with the first one's names, as SQLAlchemy's executemany)."""
        if not rows:
            return
        compiled = self._for(dialect, frozenset(rows[0]))
        parameters = [compiled.parameters(row) for row in rows]
        try:
            plain.executemany(compiled.sql, parameters)
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(
                compiled.sql, parameters, exc, sqlite3.Error, dialect=dialect, ismulti=True
            ) from exc


class _PlainCompiled:
    def __init__(self, statement: Any, dialect: Any, names: frozenset[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=sorted(names))
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("PlainStatement: expanding parameters are not supported")
        if compiled.insert_prefetch or compiled.update_prefetch:  # values SQLAlchemy computes at execution
            raise ValueError("PlainStatement: columns with Python-side defaults are not supported")
        self.sql = str(compiled)
        self._compiled = compiled
        self._dialect = dialect
        self._result_metadata: SimpleResultMetaData | None = None
        processors = compiled._bind_processors  # SQLAlchemy's own, per bound name (memoized by the compiled)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        # Per position: the name, its processor, and the value the statement itself binds (a literal of the
        # statement) when the caller gives none; a name without one must be given, as SQLAlchemy requires.
        self._binds = [
            (name, processors.get(name), compiled.params[name] if by_name[name].value is not None else _REQUIRED)
            for name in compiled.positiontup or ()
        ]

    def parameters(self, values: dict[str, Any]) -> tuple[Any, ...]:
        bound = []
        for name, processor, fixed in self._binds:
            value = values[name] if name in values or fixed is _REQUIRED else fixed
            bound.append(processor(value) if processor is not None else value)
        return tuple(bound)

    def rows(self, raw: Sequence[Any]) -> Sequence[Row[Any]]:
        """The driver's rows of this statement as SQLAlchemy's `Row`s."""
        result: IteratorResult[Any] = IteratorResult(self.result_metadata(), iter(raw))
        return result.all()

    def result_metadata(self) -> SimpleResultMetaData:
        """The rows' keys (labels, and the columns they come from) and result processors, as SQLAlchemy's own
        result metadata derives them from the compiled statement."""
        if self._result_metadata is None:
            columns = self._compiled._result_columns
            self._result_metadata = SimpleResultMetaData(
                [column.keyname for column in columns],
                extra=[column.objects for column in columns],
                _processors=[column.type._cached_result_processor(self._dialect, None) for column in columns],
            )
        return self._result_metadata


_REQUIRED = object()


async def _raise_as_sqlalchemy(
    conn: AsyncConnection, adapter: Any, sql: str, parameters: Any, exc: Exception, *, ismulti: bool = False
) -> NoReturn:
    """An asyncpg error raised as SQLAlchemy raises it through the layer: translated by the adapter to its DB-API
    error (an IntegrityError for a unique violation, ...), wrapped as SQLAlchemy's `DBAPIError` of that kind, and
    when it says the connection is gone, the connection invalidated (so that the pool does not hand it out again)
    and the error marked so (`connection_invalidated`: `db.is_unavailable` answers 503)."""
    dialect = conn.dialect
    try:
        adapter._handle_exception(exc)
    except Exception as dbapi_error:
        if not isinstance(dbapi_error, dialect.loaded_dbapi.Error):
            raise
        gone = dialect.is_disconnect(dbapi_error, adapter, None)
        if gone:
            await conn.invalidate(dbapi_error)
        raise sa.exc.DBAPIError.instance(
            sql,
            parameters,
            dbapi_error,
            dialect.loaded_dbapi.Error,
            dialect=dialect,
            ismulti=ismulti,
            connection_invalidated=gone,
        ) from exc
    raise exc
