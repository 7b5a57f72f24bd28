"""A repository's own statements run below SQLAlchemy's async layer, where a statement through the layer costs
tens of microseconds of CPU (a greenlet per call, the compiled cache's lookup, result building) around work the
database does in a few (docs/performance.md, "Issue 20: ..."): on SQLite, on the unit of work's plain sqlite3
connection (`SQLiteStatement`, `sqlite_connection_of`); point reads on SQLite's read-only connection or PostgreSQL's
small asyncpg pool (`PointStatement`, run by `db.Database.first_row`). Each is the repository's statement compiled
once, never a hand-written copy of it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

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


class SQLiteStatement:
    """A repository's own SQLAlchemy statement, run on SQLite on the unit of work's plain connection
    (`sqlite_connection_of`): through SQLAlchemy's async layer a statement costs about 28 µs of CPU (a greenlet per
    call, the compiled cache's lookup, result building) where sqlite3 itself takes about 1 µs (bench/write_cpu.py;
    docs/performance.md, "Issue 20: the create path's CPU").

    Compiled once per set of parameter names by the connection's own dialect, so the SQL is the repository's and
    the values are bound as SQLAlchemy binds them (its bind processors: JSON encoded as the engine encodes it,
    booleans as integers). `execute` returns sqlite3's own tuples (for writes, and integers returned); `rows` and
    `all` return SQLAlchemy `Row`s through the columns' result processors. No expanding (IN list) parameters and
    no Python-side column defaults (refused when first compiled). A `sqlite3.Error` is raised as SQLAlchemy's
    `DBAPIError` of the same kind, as through the layer."""

    def __init__(self, statement: Any) -> None:
        self._statement = statement
        self._compiled: dict[tuple[Any, frozenset[str]], _SQLiteCompiled] = {}

    def _for(self, dialect: Any, names: frozenset[str]) -> _SQLiteCompiled:
        compiled = self._compiled.get((dialect, names))
        if compiled is None:
            compiled = self._compiled[(dialect, names)] = _SQLiteCompiled(self._statement, dialect, names)
        return compiled

    def execute(self, plain: sqlite3.Connection, dialect: Any, values: dict[str, Any]) -> list[Any]:
        """Run the statement with these values; its rows, fetched whole (so that the statement is done with)."""
        compiled = self._for(dialect, frozenset(values))
        parameters = compiled.parameters(values)
        try:
            return plain.execute(compiled.sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise sa.exc.DBAPIError.instance(compiled.sql, parameters, exc, sqlite3.Error, dialect=dialect) from exc

    async def all(self, conn: AsyncConnection, values: dict[str, Any]) -> Sequence[Row[Any]]:
        """The statement's rows in `conn`'s unit of work: below the layer where there is a plain connection, else
        through it (PostgreSQL, `off_loop()`)."""
        plain = sqlite_connection_of(conn)
        if plain is not None:
            return self.rows(plain, conn.dialect, values)
        return (await conn.execute(self._statement, values)).all()

    def rows(self, plain: sqlite3.Connection, dialect: Any, values: dict[str, Any]) -> Sequence[Row[Any]]:
        """Run the statement; its rows as SQLAlchemy's `Row`s, each value through its type's result processor (JSON
        decoded, booleans), by name, position or column as through the layer."""
        raw = self.execute(plain, dialect, values)
        result: IteratorResult[Any] = IteratorResult(self._for(dialect, frozenset(values)).result_metadata(), iter(raw))
        return result.all()

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


class _SQLiteCompiled:
    def __init__(self, statement: Any, dialect: Any, names: frozenset[str]) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=sorted(names))
        if any(bind.expanding for bind in compiled.binds.values()):
            raise ValueError("SQLiteStatement: expanding parameters are not supported")
        if compiled.insert_prefetch or compiled.update_prefetch:  # values SQLAlchemy computes at execution
            raise ValueError("SQLiteStatement: columns with Python-side defaults are not supported")
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
