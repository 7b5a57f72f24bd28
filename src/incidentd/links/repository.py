"""SQL of links."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.kit.pages import Window, number_page
from incidentd.kit.rows import RowsByNumber, one_of
from incidentd.links.tables import ENDPOINT_KINDS, KIND_TABLES, SIDES, links

MERGED_INTO = "is_merged_into"


def _end_columns(side: str, endpoint_type: str, number: int) -> dict[str, Any]:
    """The columns of one end: its type and number, and the number again in its kind's column (the others NULL)."""
    kind = ENDPOINT_KINDS[endpoint_type]
    columns: dict[str, Any] = {f"{side}_{name}": None for name in KIND_TABLES}
    return columns | {f"{side}_type": endpoint_type, f"{side}_number": number, f"{side}_{kind}": number}


async def insert(
    conn: AsyncConnection,
    *,
    dev_org_id: int,
    number: int,
    link_type: str,
    source: tuple[str, int],
    target: tuple[str, int],
    user_number: int,
    now: int,
    modified_by: int | None = None,
    modified_date: int | None = None,
) -> Row[Any] | None:
    """Insert a link; the row as stored, or None when the org has that link already. It is created and last
    modified by `user_number` at `now`, unless an import says who modified it last and when.

    A savepoint keeps the transaction usable after the unique constraint refuses the row (PostgreSQL aborts the
    whole transaction otherwise), and the constraint is what decides, so two concurrent writers cannot both win.
    """
    values = {
        "dev_org_id": dev_org_id,
        "number": number,
        "link_type": link_type,
        **_end_columns("source", *source),
        **_end_columns("target", *target),
        "created_by": user_number,
        "created_date": now,
        "modified_by": user_number if modified_by is None else modified_by,
        "modified_date": now if modified_date is None else modified_date,
    }
    try:
        async with conn.begin_nested():
            return (await conn.execute(sa.insert(links).values(**values).returning(*links.c))).one()
    except sa.exc.IntegrityError:
        return None


async def find(
    conn: AsyncConnection, dev_org_id: int, link_type: str, source: tuple[str, int], target: tuple[str, int]
) -> Row[Any] | None:
    """The org's link of this type from `source` to `target`, if any."""
    query = sa.select(links).where(
        links.c.dev_org_id == dev_org_id,
        links.c.source_type == source[0],
        links.c.source_number == source[1],
        links.c.link_type == link_type,
        links.c.target_type == target[0],
        links.c.target_number == target[1],
    )
    return (await conn.execute(query)).first()


async def delete(conn: AsyncConnection, dev_org_id: int, number: int) -> Row[Any] | None:
    """Delete a link; its row as it was, or None when there was none."""
    statement = sa.delete(links).where(links.c.dev_org_id == dev_org_id, links.c.number == number)
    return (await conn.execute(statement.returning(*links.c))).first()


# Links by number.
get_many = RowsByNumber(links)


async def merged_into(
    conn: AsyncConnection, dev_org_id: int, incidents: Iterable[int], *, other_than: int | None = None
) -> dict[int, int]:
    """{incident: the incident it is merged into} of those among `incidents` that have an `is_merged_into` link
    (other than the link `other_than`)."""
    query = sa.select(links.c.source_incident, links.c.target_number).where(
        links.c.dev_org_id == dev_org_id,
        one_of(links.c.source_incident, incidents),
        links.c.link_type == MERGED_INTO,
    )
    if other_than is not None:
        query = query.where(links.c.number != other_than)
    return {source: target for source, target in (await conn.execute(query)).all()}


def _of(side: str, endpoint_type: str, number: int, object_types: Sequence[str] | None) -> Any:
    """The links whose `side` end is the object; with `object_types`, whose other end is of one of them."""
    condition = sa.and_(links.c[f"{side}_{ENDPOINT_KINDS[endpoint_type]}"] == number)
    if object_types:
        other = SIDES[1 - SIDES.index(side)]
        condition = sa.and_(condition, one_of(links.c[f"{other}_type"], object_types))
    return condition


async def page(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    endpoint_type: str,
    number: int,
    sides: Sequence[str],
    link_types: Sequence[str] | None,
    object_types: Sequence[str] | None,
    window: Window,
) -> Sequence[Row[Any]]:
    """A page of the links of one object (as the `sides` given), in link number order (descending when walking
    backwards)."""
    query = sa.select(links).where(
        links.c.dev_org_id == dev_org_id,
        sa.or_(*(_of(side, endpoint_type, number, object_types) for side in sides)),
    )
    if link_types:
        query = query.where(one_of(links.c.link_type, link_types))
    return (await conn.execute(number_page(query, links.c.number, window))).all()


async def of_incidents(
    conn: AsyncConnection, dev_org_id: int, incidents: Iterable[int], *, limit: int
) -> Sequence[Row[Any]]:
    """The links each of `incidents` is the first incident end of (its source when the source is an incident,
    else its target), at most `limit` + 1 per incident in link order: every link belongs to one incident this
    way, so a walk over all incidents meets each link once. Rows carry `first_incident`."""
    numbers = list(incidents)
    as_source = sa.select(links, links.c.source_incident.label("first_incident")).where(
        links.c.dev_org_id == dev_org_id, one_of(links.c.source_incident, numbers)
    )
    as_target = sa.select(links, links.c.target_incident.label("first_incident")).where(
        links.c.dev_org_id == dev_org_id,
        links.c.source_type != "incident",
        one_of(links.c.target_incident, numbers),
    )
    both = sa.union_all(as_source, as_target).subquery()
    rank = sa.func.row_number().over(partition_by=both.c.first_incident, order_by=both.c.number)
    ranked = sa.select(both, rank.label("rank")).subquery()
    query = sa.select(ranked).where(ranked.c.rank <= limit + 1).order_by(ranked.c.first_incident, ranked.c.number)
    return (await conn.execute(query)).all()
