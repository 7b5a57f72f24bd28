"""SQL of stored incident documents (`incidents.documents`): each incident's wire JSON with the org's summaries
version it was rendered under."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.incidents.tables import incident_documents, incidents
from incidentd.kit.counters import FRAGMENTS, SUMMARIES, id_counters
from incidentd.kit.rows import ORG, among, one_of
from incidentd.plain_statements import CompiledText, PlainStatement, PointStatement, sqlite_connection_of

_NUMBER = sa.bindparam("number", type_=sa.BigInteger)
_FORMAT = sa.bindparam("format", type_=sa.BigInteger)


def _counter(kind: str) -> Any:
    """The org's counter of `kind` now (0 before its first number), as a scalar subquery."""
    return sa.func.coalesce(
        sa.select(id_counters.c.last_value)
        .where(id_counters.c.dev_org_id == ORG, id_counters.c.kind == kind)
        .scalar_subquery(),
        0,
    )


# The org's summaries version now (0 before anything was ever renamed). Read in the statement that reads the
# documents, so a document and the version it is checked against come from one snapshot.
_CURRENT_VERSION = _counter(SUMMARIES)
_CURRENT = (incident_documents.c.format == _FORMAT) & (incident_documents.c.summaries_version == _CURRENT_VERSION)

# Statements built once, values bound at execution (a get runs the first and nothing else when it finds it).
_ONE = sa.select(incident_documents.c.body).where(
    incident_documents.c.dev_org_id == ORG, incident_documents.c.incident_number == _NUMBER, _CURRENT
)
_MANY = sa.select(incident_documents.c.incident_number, incident_documents.c.body).where(
    incident_documents.c.dev_org_id == ORG, among(incident_documents.c.incident_number), _CURRENT
)
_VERSION = sa.select(_CURRENT_VERSION)
# A create's or an update's first read: the summaries version, and the org's fragments counter (which moves with
# every schema fragment set: `kit.counters.FRAGMENTS`), in one round trip.
_VERSIONS = sa.select(_CURRENT_VERSION, _counter(FRAGMENTS))


_ONE_POINT = PointStatement(_ONE)
# Every PostgreSQL create and update reads the version first: below SQLAlchemy's async layer (`PlainStatement`).
_VERSION_NOW = PlainStatement(_VERSION)
_VERSIONS_NOW = PlainStatement(_VERSIONS)


async def current_one(conn: AsyncConnection, dev_org_id: int, number: int, format: int) -> bytes | None:
    """The incident's document if it is current (rendered in `format` under the org's summaries version now)."""
    return (await conn.execute(_ONE, {"dev_org_id": dev_org_id, "number": number, "format": format})).scalar()


async def current_one_point(db: Database, dev_org_id: int, number: int, format: int) -> bytes | None:
    """`current_one` read without a unit of work (`Database.first_row`); raises `NoPointRead` where it cannot be."""
    row = await db.first_row(_ONE_POINT, {"dev_org_id": dev_org_id, "number": number, "format": format})
    return row[0] if row is not None else None


async def current_many(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int], format: int) -> dict[int, bytes]:
    """{number: document} of those among `numbers` whose document is current; one statement."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    rows = await conn.execute(_MANY, {"dev_org_id": dev_org_id, "numbers": wanted, "format": format})
    return {int(number): body for number, body in rows}


async def summaries_version(conn: AsyncConnection, dev_org_id: int) -> int:
    return int((await _VERSION_NOW.fetch(conn, {"dev_org_id": dev_org_id}))[0][0])


async def versions(conn: AsyncConnection, dev_org_id: int) -> tuple[int, int]:
    """(the summaries version, the fragments counter) of the org now."""
    summaries, fragments = (await _VERSIONS_NOW.fetch(conn, {"dev_org_id": dev_org_id}))[0]
    return int(summaries), int(fragments)


def _store(insert: Any) -> Any:
    statement = insert(incident_documents)
    return statement.on_conflict_do_update(
        index_elements=[incident_documents.c.dev_org_id, incident_documents.c.incident_number],
        set_={
            "summaries_version": statement.excluded.summaries_version,
            "format": statement.excluded.format,
            "body": statement.excluded.body,
        },
    )


_STORE = {"postgresql": PlainStatement(_store(postgresql.insert)), "sqlite": PlainStatement(_store(sqlite.insert))}


# `_STORE` on SQLite's own connection, the version read as the row is written (see `store`).
_STORE_NOW = CompiledText(
    _store(sqlite.insert).values(
        dev_org_id=ORG,
        incident_number=_NUMBER,
        summaries_version=_CURRENT_VERSION,
        format=_FORMAT,
        body=sa.bindparam("body", type_=sa.LargeBinary),
    ),
    sqlite.dialect(),
)


async def store(
    conn: AsyncConnection, dev_org_id: int, version: int | None, format: int, bodies: dict[int, bytes]
) -> None:
    """Write (or replace) the documents of these incidents, rendered under `version` in `format`. A version of
    None is the org's version as the documents are written: only where nothing can change it since the summaries
    were read (SQLite, whose writer holds the database's only write lock from its first statement). On SQLite the
    statement runs on the unit of work's own connection, below SQLAlchemy's async layer."""
    if not bodies:
        return
    plain = sqlite_connection_of(conn)
    if plain is not None and version is None:
        plain.executemany(
            _STORE_NOW.sql,
            [
                _STORE_NOW.parameters({"dev_org_id": dev_org_id, "number": number, "format": format, "body": body})
                for number, body in bodies.items()
            ],
        )
        return
    if version is None:
        version = await summaries_version(conn, dev_org_id)
    rows = [
        {
            "dev_org_id": dev_org_id,
            "incident_number": number,
            "summaries_version": version,
            "format": format,
            "body": body,
        }
        for number, body in bodies.items()
    ]
    await _STORE[conn.dialect.name].run_many(conn, rows)


async def forget(conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int]) -> None:
    """Remove the documents of these incidents (deleted ones)."""
    if numbers:
        await conn.execute(
            sa.delete(incident_documents).where(
                incident_documents.c.dev_org_id == dev_org_id, one_of(incident_documents.c.incident_number, numbers)
            )
        )


async def stale_numbers(conn: AsyncConnection, dev_org_id: int, after: int, limit: int, format: int) -> list[int]:
    """Up to `limit` incident numbers above `after`, in order, whose document is missing or not current."""
    query = (
        sa.select(incidents.c.number)
        .outerjoin(
            incident_documents,
            (incident_documents.c.dev_org_id == incidents.c.dev_org_id)
            & (incident_documents.c.incident_number == incidents.c.number),
        )
        .where(incidents.c.dev_org_id == ORG, incidents.c.number > after)
        .where(sa.or_(incident_documents.c.incident_number.is_(None), sa.not_(_CURRENT)))
        .order_by(incidents.c.number)
        .limit(limit)
    )
    rows = await conn.execute(query, {"dev_org_id": dev_org_id, "format": format})
    return [int(number) for number in rows.scalars()]
