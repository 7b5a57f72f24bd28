"""SQL of idempotency keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import citus
from incidentd.idempotency.tables import idempotency_keys as keys


def _this_key(dev_org_id: int, user_number: int, key: str) -> sa.ColumnElement[bool]:
    return sa.and_(keys.c.dev_org_id == dev_org_id, keys.c.user_number == user_number, keys.c.idempotency_key == key)


async def find(conn: AsyncConnection, dev_org_id: int, user_number: int, key: str, now: int) -> Row[Any] | None:
    """The unexpired, answered record of this key."""
    statement = sa.select(keys).where(
        _this_key(dev_org_id, user_number, key), keys.c.expires_at > now, keys.c.status_code.is_not(None)
    )
    return (await conn.execute(statement)).first()


async def claim(
    conn: AsyncConnection, dev_org_id: int, user_number: int, key: str, request_hash: str, now: int, expires_at: int
) -> bool:
    """Insert this key's record unless one exists; False when it does. An uncommitted insert of the same key by
    another transaction makes this wait for that transaction (PostgreSQL's unique index; SQLite's writer lock)."""
    await conn.execute(sa.delete(keys).where(_this_key(dev_org_id, user_number, key), keys.c.expires_at <= now))
    values = {
        "dev_org_id": dev_org_id,
        "user_number": user_number,
        "idempotency_key": key,
        "request_hash": request_hash,
        "created_at": now,
        "expires_at": expires_at,
    }
    insert = postgresql.insert(keys) if conn.dialect.name == "postgresql" else sqlite.insert(keys)
    result = await conn.execute(insert.values(values).on_conflict_do_nothing())
    return result.rowcount == 1


async def set_lock_timeout(conn: AsyncConnection, seconds: float | None) -> None:
    """PostgreSQL: bound how long the rest of the transaction waits for row locks (None: the server's default)."""
    if await citus.in_use(conn):
        # The row locks are taken on the worker holding the org's shard; Citus sends SET LOCAL there only when
        # asked to (also to a worker connection the transaction opened before).
        await conn.execute(sa.text("SET LOCAL citus.propagate_set_commands TO 'local'"))
    if seconds is None:
        await conn.execute(sa.text("SET LOCAL lock_timeout TO DEFAULT"))
    else:
        await conn.execute(sa.text(f"SET LOCAL lock_timeout = {max(1, int(seconds * 1000))}"))


async def answer(
    conn: AsyncConnection, dev_org_id: int, user_number: int, key: str, status_code: int, media_type: str, body: bytes
) -> None:
    await conn.execute(
        sa.update(keys)
        .where(_this_key(dev_org_id, user_number, key))
        .values(status_code=status_code, media_type=media_type, body=body)
    )


async def delete_expired(conn: AsyncConnection, now: int, limit: int) -> int:
    """Delete up to `limit` expired records, oldest first; the number deleted."""
    batch = (
        sa.select(keys.c.dev_org_id, keys.c.user_number, keys.c.idempotency_key)
        .where(keys.c.expires_at <= now)
        .order_by(keys.c.expires_at)
        .limit(limit)
    )
    result = await conn.execute(
        sa.delete(keys).where(sa.tuple_(keys.c.dev_org_id, keys.c.user_number, keys.c.idempotency_key).in_(batch))
    )
    return result.rowcount
