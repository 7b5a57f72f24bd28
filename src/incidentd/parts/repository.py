"""SQL of the parts domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.kit.pages import Window, number_page
from incidentd.kit.rows import ORG, RowsByNumber, among, one_of
from incidentd.parts.tables import part_owners, parts
from incidentd.plain_statements import PlainStatement


async def insert_part(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(parts).values(**values))


async def update_part(conn: AsyncConnection, dev_org_id: int, number: int, **values: Any) -> None:
    await conn.execute(
        sa.update(parts).where(parts.c.dev_org_id == dev_org_id, parts.c.number == number).values(**values)
    )


async def set_owners(conn: AsyncConnection, dev_org_id: int, number: int, owners: Sequence[int]) -> None:
    """Replace the part's owners with `owners`, in this order."""
    await conn.execute(
        sa.delete(part_owners).where(part_owners.c.dev_org_id == dev_org_id, part_owners.c.part_number == number)
    )
    if owners:
        await conn.execute(
            sa.insert(part_owners),
            [
                {"dev_org_id": dev_org_id, "part_number": number, "position": position, "user_number": user}
                for position, user in enumerate(owners)
            ],
        )


# The parts with these numbers, in one query.
get_parts = RowsByNumber(parts)


async def lock_part(conn: AsyncConnection, dev_org_id: int, number: int) -> Row[Any] | None:
    """The part, locked until the transaction ends (PostgreSQL; SQLite has a single writer already), so that no
    child can be created under it while it is being deleted."""
    query = sa.select(parts).where(parts.c.dev_org_id == dev_org_id, parts.c.number == number).with_for_update()
    return (await conn.execute(query)).first()


_PART_TYPES = sa.select(parts.c.number, parts.c.part_type)
_part_types = RowsByNumber(parts, _PART_TYPES)
_shared_part_types = RowsByNumber(parts, _PART_TYPES.with_for_update(read=True))


async def _types(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int], *, share: bool) -> dict[int, str]:
    rows = await (_shared_part_types if share else _part_types)(conn, dev_org_id, numbers)
    return {number: row.part_type for number, row in rows.items()}


async def part_types(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """{number: part type} of the parts that exist."""
    return await _types(conn, dev_org_id, numbers, share=False)


async def share_part_types(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """Like `part_types`, and the parts stay share-locked until the transaction ends (PostgreSQL; SQLite has a
    single writer already), so that a parent cannot be deleted while a child is being created under it."""
    return await _types(conn, dev_org_id, numbers, share=True)


async def get_owners(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, list[int]]:
    """{part number: owner user numbers in order} of these parts, in one query."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    owners: dict[int, list[int]] = {number: [] for number in wanted}
    for row in (await conn.execute(_OWNERS, {"dev_org_id": dev_org_id, "numbers": wanted})).all():
        owners[row.part_number].append(row.user_number)
    return owners


_OWNERS = (
    sa.select(part_owners.c.part_number, part_owners.c.user_number)
    .where(part_owners.c.dev_org_id == ORG, among(part_owners.c.part_number))
    .order_by(part_owners.c.part_number, part_owners.c.position)
)


async def get_parts_with_owners(
    conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]
) -> dict[int, tuple[Row[Any], list[int]]]:
    """{number: (part row, owner user numbers in order)} of the parts that exist among `numbers`, in one query
    (a part summary shows its owners, and every incident rendered shows its parts' summaries)."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    found: dict[int, tuple[Row[Any], list[int]]] = {}
    # Every create resolves its parts: below SQLAlchemy's async layer (plain_statements.PlainStatement).
    for row in await _PARTS_WITH_OWNERS_NOW.all(conn, {"dev_org_id": dev_org_id, "numbers": wanted}):
        _, owners = found.setdefault(row.number, (row, []))
        if row.owner_number is not None:
            owners.append(row.owner_number)
    return found


_PARTS_WITH_OWNERS = (
    sa.select(parts, part_owners.c.user_number.label("owner_number"))
    .outerjoin(
        part_owners,
        (part_owners.c.dev_org_id == parts.c.dev_org_id) & (part_owners.c.part_number == parts.c.number),
    )
    .where(parts.c.dev_org_id == ORG, among(parts.c.number))
    .order_by(parts.c.number, part_owners.c.position)
)
_PARTS_WITH_OWNERS_NOW = PlainStatement(_PARTS_WITH_OWNERS)


async def has_children(conn: AsyncConnection, dev_org_id: int, number: int) -> bool:
    query = sa.select(parts.c.number).where(parts.c.dev_org_id == dev_org_id, parts.c.parent_number == number)
    return (await conn.execute(query.limit(1))).first() is not None


async def delete_part(conn: AsyncConnection, dev_org_id: int, number: int) -> None:
    """Delete a part; its owners and its links to incidents go with it (ON DELETE CASCADE)."""
    await conn.execute(sa.delete(parts).where(parts.c.dev_org_id == dev_org_id, parts.c.number == number))


def _descendants(dev_org_id: int, roots: Sequence[int], level: int | None) -> Any:
    """The numbers of the parts below `roots`, down to `level` levels (all levels when None)."""
    tree = (
        sa.select(parts.c.number, sa.literal(1).label("depth"))
        .where(parts.c.dev_org_id == dev_org_id, one_of(parts.c.parent_number, roots))
        .cte("part_tree", recursive=True)
    )
    below = sa.select(parts.c.number, (tree.c.depth + 1).label("depth")).where(
        parts.c.dev_org_id == dev_org_id, parts.c.parent_number == tree.c.number
    )
    if level is not None:
        below = below.where(tree.c.depth < level)
    tree = tree.union_all(below)
    return sa.select(tree.c.number)


async def list_parts(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    types: Sequence[str] | None,
    names: Sequence[str] | None,
    owners: Sequence[int] | None,
    created_by: Sequence[int] | None,
    modified_by: Sequence[int] | None,
    parents: Sequence[int] | None,
    parent_level: int | None,
    page: Window,
) -> Sequence[Row[Any]]:
    """A page of parts ordered by number (descending when walking backwards). Each filter given must match;
    a list filter matches any of its values."""
    query = sa.select(parts).where(parts.c.dev_org_id == dev_org_id)
    if types:
        query = query.where(one_of(parts.c.part_type, types))
    if names:
        query = query.where(one_of(sa.func.lower(parts.c.name), [name.lower() for name in names]))
    if owners is not None:
        owned = sa.select(part_owners.c.part_number).where(
            part_owners.c.dev_org_id == dev_org_id, one_of(part_owners.c.user_number, owners)
        )
        query = query.where(parts.c.number.in_(owned))
    if created_by is not None:
        query = query.where(one_of(parts.c.created_by, created_by))
    if modified_by is not None:
        query = query.where(one_of(parts.c.modified_by, modified_by))
    if parents is not None:
        query = query.where(parts.c.number.in_(_descendants(dev_org_id, parents, parent_level)))
    return (await conn.execute(number_page(query, parts.c.number, page))).all()
