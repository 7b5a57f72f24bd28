"""SQL of artifacts: their records and the one parent each may be attached to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.artifacts.tables import artifacts
from incidentd.kit.rows import ORG, among, one_of
from incidentd.plain_statements import PlainStatement


async def insert(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(artifacts).values(**values))


async def get_many(
    conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int], *, for_update: bool = False
) -> dict[int, Row[Any]]:
    """The artifacts with these numbers, in one query. `for_update` locks them until the transaction ends
    (PostgreSQL; SQLite's writer holds the whole database already), so that their parents cannot change underfoot."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    query = sa.select(artifacts).where(artifacts.c.dev_org_id == dev_org_id, one_of(artifacts.c.number, wanted))
    if for_update:
        query = query.with_for_update()
    return {row.number: row for row in (await conn.execute(query)).all()}


async def existing(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> set[int]:
    wanted = sorted(set(numbers))
    if not wanted:
        return set()
    query = sa.select(artifacts.c.number).where(
        artifacts.c.dev_org_id == dev_org_id, one_of(artifacts.c.number, wanted)
    )
    return {int(number) for number in (await conn.execute(query)).scalars()}


async def mark_uploaded(
    conn: AsyncConnection, dev_org_id: int, number: int, *, size: int, sha256: str, file_type: str | None, now: int
) -> bool:
    """Record the uploaded content; False when the artifact is gone or already has content (one upload wins)."""
    result = await conn.execute(
        sa.update(artifacts)
        .where(
            artifacts.c.dev_org_id == dev_org_id,
            artifacts.c.number == number,
            artifacts.c.uploaded_date.is_(None),
        )
        .values(file_size=size, sha256=sha256, file_type=file_type, uploaded_date=now, modified_date=now)
    )
    return result.rowcount == 1


async def attach(
    conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int], *, parent_kind: str, parent_number: int
) -> None:
    """Give the artifacts this parent, each at its index in `numbers`, in one statement."""
    if not numbers:
        return
    positions = {number: index for index, number in enumerate(numbers)}
    await conn.execute(
        sa.update(artifacts)
        .where(artifacts.c.dev_org_id == dev_org_id, one_of(artifacts.c.number, positions))
        .values(
            parent_kind=parent_kind,
            parent_number=parent_number,
            # a searched CASE: Citus deparses a simple one (CASE number WHEN ...) into a comparison of number
            # with a boolean when it sends the UPDATE to the shard
            parent_position=sa.case(*((artifacts.c.number == number, index) for number, index in positions.items())),
        )
    )


async def detach(
    conn: AsyncConnection, dev_org_id: int, *, parent_kind: str, parent_number: int, keep: Iterable[int]
) -> None:
    query = sa.update(artifacts).where(
        artifacts.c.dev_org_id == dev_org_id,
        artifacts.c.parent_kind == parent_kind,
        artifacts.c.parent_number == parent_number,
    )
    kept = sorted(set(keep))
    if kept:
        query = query.where(artifacts.c.number.not_in(kept))
    await conn.execute(query.values(parent_kind=None, parent_number=None, parent_position=None))


async def attached(
    conn: AsyncConnection, dev_org_id: int, parent_kind: str, parent_numbers: Iterable[int]
) -> Sequence[Row[Any]]:
    """The artifacts attached to any of these parents, by parent then position."""
    wanted = sorted(set(parent_numbers))
    if not wanted:
        return []
    values = {"dev_org_id": dev_org_id, "parent_kind": parent_kind, "numbers": wanted}
    return await _ATTACHED_NOW.all(conn, values)  # every update reads them: see plain_statements.PlainStatement


_ATTACHED = (
    sa.select(artifacts)
    .where(
        artifacts.c.dev_org_id == ORG,
        artifacts.c.parent_kind == sa.bindparam("parent_kind"),
        among(artifacts.c.parent_number),
    )
    .order_by(artifacts.c.parent_number, artifacts.c.parent_position, artifacts.c.number)
)
_ATTACHED_NOW = PlainStatement(_ATTACHED)
