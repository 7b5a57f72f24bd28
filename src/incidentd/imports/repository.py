"""SQL of imports: the import map."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.imports.tables import import_map


async def find(conn: AsyncConnection, dev_org_id: int, source: str, source_id: str) -> Row[Any] | None:
    query = sa.select(import_map).where(
        import_map.c.dev_org_id == dev_org_id, import_map.c.source == source, import_map.c.source_id == source_id
    )
    return (await conn.execute(query)).first()


async def imported(
    conn: AsyncConnection, dev_org_id: int, source: str, source_ids: list[str]
) -> dict[str, tuple[int, str | None]]:
    """{source_id: (number, digest)} of the records among `source_ids` imported already."""
    if not source_ids:
        return {}
    query = sa.select(import_map.c.source_id, import_map.c.number, import_map.c.digest).where(
        import_map.c.dev_org_id == dev_org_id, import_map.c.source == source, import_map.c.source_id.in_(source_ids)
    )
    return {row.source_id: (row.number, row.digest) for row in (await conn.execute(query)).all()}


async def mapped(conn: AsyncConnection, dev_org_id: int, source: str, source_ids: list[str]) -> dict[str, int]:
    """{source_id: number} of the records among `source_ids` imported already."""
    if not source_ids:
        return {}
    query = sa.select(import_map.c.source_id, import_map.c.number).where(
        import_map.c.dev_org_id == dev_org_id, import_map.c.source == source, import_map.c.source_id.in_(source_ids)
    )
    return {row.source_id: row.number for row in (await conn.execute(query)).all()}


async def record(
    conn: AsyncConnection,
    *,
    dev_org_id: int,
    source: str,
    source_id: str,
    object_kind: str,
    number: int,
    digest: str | None,
    now: int,
) -> None:
    """Map a source record to the object it became (replacing an earlier mapping of the same record)."""
    await conn.execute(
        sa.delete(import_map).where(
            import_map.c.dev_org_id == dev_org_id, import_map.c.source == source, import_map.c.source_id == source_id
        )
    )
    await conn.execute(
        sa.insert(import_map).values(
            dev_org_id=dev_org_id,
            source=source,
            source_id=source_id,
            object_kind=object_kind,
            number=number,
            digest=digest,
            imported_date=now,
        )
    )
