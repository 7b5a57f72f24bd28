"""SQL of the tags domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.kit.cursors import Direction
from incidentd.kit.rows import RowsByNumber, one_of
from incidentd.tags.tables import tags


def name_key(name: str) -> str:
    """The case-insensitive form of a tag name that is unique per org."""
    return name.lower()


async def _without_name_conflict(conn: AsyncConnection, statement: Any) -> bool:
    """Run an insert or update of a tag; False when it would give the org a second tag of that name.

    A savepoint keeps the transaction usable after the unique index refuses the row (PostgreSQL aborts the
    whole transaction otherwise), and the index is what decides, so concurrent writers cannot both win.
    """
    try:
        async with conn.begin_nested():
            await conn.execute(statement)
    except sa.exc.IntegrityError:
        return False
    return True


async def insert_tag(conn: AsyncConnection, **values: Any) -> bool:
    return await _without_name_conflict(conn, sa.insert(tags).values(name_key=name_key(values["name"]), **values))


async def update_tag(conn: AsyncConnection, dev_org_id: int, number: int, **values: Any) -> bool:
    if "name" in values:
        values["name_key"] = name_key(values["name"])
    statement = sa.update(tags).where(tags.c.dev_org_id == dev_org_id, tags.c.number == number).values(**values)
    return await _without_name_conflict(conn, statement)


# The tags with these numbers, in one query.
get_tags = RowsByNumber(tags)


async def delete_tag(conn: AsyncConnection, dev_org_id: int, number: int) -> None:
    """Delete a tag; its links to incidents go with it (ON DELETE CASCADE)."""
    await conn.execute(sa.delete(tags).where(tags.c.dev_org_id == dev_org_id, tags.c.number == number))


async def list_tags(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    names: Sequence[str] | None,
    by_name: bool,
    descending: bool,
    boundary: list[Any] | None,
    direction: Direction,
    limit: int,
) -> Sequence[Row[Any]]:
    """Up to `limit` tags beyond the boundary key ([name_key, number] by name, [number] by id) in `direction`.

    Rows come back in walking order: reversed from the requested order when walking backwards.
    """
    key = [tags.c.name_key, tags.c.number] if by_name else [tags.c.number]
    query = sa.select(tags).where(tags.c.dev_org_id == dev_org_id)
    if names:
        query = query.where(one_of(tags.c.name_key, [name_key(name) for name in names]))
    ascending = (direction == "after") != descending
    if boundary is not None:
        here = sa.tuple_(*key)
        there = sa.tuple_(*(sa.literal(value, column.type) for value, column in zip(boundary, key, strict=True)))
        query = query.where(here > there if ascending else here < there)
    query = query.order_by(*(column.asc() if ascending else column.desc() for column in key))
    return (await conn.execute(query.limit(limit))).all()
