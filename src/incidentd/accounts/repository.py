"""SQL of the accounts domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.accounts.tables import accounts
from incidentd.kit.pages import Window, number_page
from incidentd.kit.rows import RowsByNumber, one_of

# The first key of PostgreSQL's advisory lock that guards an org's account external refs (the second is the org).
_EXTERNAL_REFS_LOCK = 0x41434301


def _elements(conn: AsyncConnection, column: Any) -> Any:
    """The text elements of a JSON array column, as a table for a correlated subquery."""
    function = sa.func.json_array_elements_text if conn.dialect.name == "postgresql" else sa.func.json_each
    return function(column).table_valued("value")


def _has_any(conn: AsyncConnection, column: Any, values: Sequence[str], *, ignore_case: bool = False) -> Any:
    """The JSON array in `column` holds at least one of `values`."""
    elements = _elements(conn, column)
    value = sa.func.lower(elements.c.value) if ignore_case else elements.c.value
    wanted = sorted({item.lower() for item in values} if ignore_case else set(values))
    return sa.exists(sa.select(sa.literal(1)).select_from(elements).where(one_of(value, wanted)))


async def insert_account(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(accounts).values(**values))


async def update_account(conn: AsyncConnection, dev_org_id: int, number: int, **values: Any) -> None:
    await conn.execute(
        sa.update(accounts).where(accounts.c.dev_org_id == dev_org_id, accounts.c.number == number).values(**values)
    )


async def delete_account(conn: AsyncConnection, dev_org_id: int, number: int) -> None:
    """Delete an account; its links to incidents go with it (ON DELETE CASCADE)."""
    await conn.execute(sa.delete(accounts).where(accounts.c.dev_org_id == dev_org_id, accounts.c.number == number))


# The accounts with these numbers, in one query.
get_accounts = RowsByNumber(accounts)


async def lock_external_refs(conn: AsyncConnection, dev_org_id: int) -> None:
    """Serialise the writers that may claim external refs in one org until the transaction ends.

    SQLite has a single writer already; PostgreSQL takes a transaction-scoped advisory lock, so that two
    concurrent writers cannot both find a ref free and both claim it (no index can cover a JSON array's items).
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_EXTERNAL_REFS_LOCK, dev_org_id)))


async def holder_of_external_refs(
    conn: AsyncConnection, dev_org_id: int, refs: Sequence[str], *, other_than: int | None = None
) -> int | None:
    """The number of an account of the org (other than `other_than`) that has one of these external refs."""
    query = sa.select(accounts.c.number).where(
        accounts.c.dev_org_id == dev_org_id, _has_any(conn, accounts.c.external_refs, refs)
    )
    if other_than is not None:
        query = query.where(accounts.c.number != other_than)
    return (await conn.execute(query.order_by(accounts.c.number).limit(1))).scalar()


async def list_accounts(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    created_after: int | None,
    created_before: int | None,
    modified_after: int | None,
    modified_before: int | None,
    display_names: Sequence[str] | None,
    domains: Sequence[str] | None,
    external_refs: Sequence[str] | None,
    tiers: Sequence[str] | None,
    websites: Sequence[str] | None,
    page: Window,
) -> Sequence[Row[Any]]:
    """A page of accounts ordered by number (descending when walking backwards). Each filter given must match;
    a list filter matches any of its values."""
    query = sa.select(accounts).where(accounts.c.dev_org_id == dev_org_id)
    if created_after is not None:
        query = query.where(accounts.c.created_date >= created_after)
    if created_before is not None:
        query = query.where(accounts.c.created_date <= created_before)
    if modified_after is not None:
        query = query.where(accounts.c.modified_date >= modified_after)
    if modified_before is not None:
        query = query.where(accounts.c.modified_date <= modified_before)
    if display_names:
        wanted = sorted({name.lower() for name in display_names})
        query = query.where(one_of(sa.func.lower(accounts.c.display_name), wanted))
    if domains:
        query = query.where(_has_any(conn, accounts.c.domains, domains, ignore_case=True))
    if external_refs:
        query = query.where(_has_any(conn, accounts.c.external_refs, external_refs))
    if tiers:
        query = query.where(one_of(accounts.c.tier, tiers))
    if websites:
        query = query.where(_has_any(conn, accounts.c.websites, websites))
    return (await conn.execute(number_page(query, accounts.c.number, page))).all()
