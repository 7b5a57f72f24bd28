"""Bulk SQL of the seeder: many incidents and their links per statement (executemany)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.identity.tables import users
from incidentd.incidents.tables import (
    incident_articles,
    incident_custom_values,
    incident_customers,
    incident_owners,
    incident_parts,
    incident_tags,
    incidents,
)
from incidentd.sqlite_inline import off_loop

LINK_TABLES = {
    "custom_values": incident_custom_values,
    "owners": incident_owners,
    "parts": incident_parts,
    "articles": incident_articles,
    "tags": incident_tags,
    "customers": incident_customers,
}


async def insert_incidents(
    conn: AsyncConnection, rows: list[dict[str, Any]], links: dict[str, list[dict[str, Any]]]
) -> None:
    # Off the event loop, so that the seeder generates the next batch meanwhile.
    with off_loop():
        await conn.execute(sa.insert(incidents), rows)
        for name, table in LINK_TABLES.items():
            if links.get(name):
                await conn.execute(sa.insert(table), links[name])


async def refresh_statistics(conn: AsyncConnection) -> None:
    """After a bulk load, PostgreSQL's planner needs statistics that autovacuum would gather only later."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("ANALYZE"))


async def first_dev_user(conn: AsyncConnection, dev_org_id: int) -> int | None:
    query = (
        sa.select(users.c.number)
        .where(users.c.dev_org_id == dev_org_id, users.c.user_type == "dev_user")
        .order_by(users.c.number)
        .limit(1)
    )
    return (await conn.execute(query)).scalar_one_or_none()
