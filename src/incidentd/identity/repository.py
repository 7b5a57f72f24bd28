"""SQL of the identity domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.identity.tables import auth_tokens, dev_orgs, users
from incidentd.kit.pages import Window, number_page
from incidentd.kit.rows import RowsByNumber, one_of


async def count_orgs(conn: AsyncConnection) -> int:
    return int((await conn.execute(sa.select(sa.func.count()).select_from(dev_orgs))).scalar_one())


async def insert_org(conn: AsyncConnection, *, slug: str, display_name: str, now: int) -> int:
    result = await conn.execute(
        sa.insert(dev_orgs).values(slug=slug, display_name=display_name, created_date=now).returning(dev_orgs.c.id)
    )
    return int(result.scalar_one())


async def get_org(conn: AsyncConnection, *, slug: str | None = None, org_id: int | None = None) -> Row[Any] | None:
    query = sa.select(dev_orgs)
    query = query.where(dev_orgs.c.slug == slug) if slug is not None else query.where(dev_orgs.c.id == org_id)
    return (await conn.execute(query)).first()


async def list_orgs(conn: AsyncConnection) -> Sequence[Row[Any]]:
    return (await conn.execute(sa.select(dev_orgs).order_by(dev_orgs.c.id))).all()


async def insert_user(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(users).values(**values))


# The users with these numbers, in one query (for resolving summaries without N+1).
get_users = RowsByNumber(users)

# The columns of a user that never change once written (what a user-summary shows); role and modified_* do.
get_user_summaries = RowsByNumber(
    users,
    sa.select(users.c.number, users.c.user_type, users.c.email, users.c.full_name, users.c.display_name, users.c.state),
)


async def get_user_by_email(conn: AsyncConnection, dev_org_id: int, email: str) -> Row[Any] | None:
    query = sa.select(users).where(users.c.dev_org_id == dev_org_id, sa.func.lower(users.c.email) == email.lower())
    return (await conn.execute(query)).first()


async def list_users(
    conn: AsyncConnection,
    dev_org_id: int,
    *,
    user_type: str,
    emails: Sequence[str] | None,
    states: Sequence[str] | None,
    page: Window,
) -> Sequence[Row[Any]]:
    """A page of users ordered by number (descending when walking backwards)."""
    query = sa.select(users).where(users.c.dev_org_id == dev_org_id, users.c.user_type == user_type)
    if emails:
        query = query.where(one_of(sa.func.lower(users.c.email), [email.lower() for email in emails]))
    if states:
        query = query.where(one_of(users.c.state, states))
    return (await conn.execute(number_page(query, users.c.number, page))).all()


async def list_all_users(conn: AsyncConnection, dev_org_id: int) -> Sequence[Row[Any]]:
    """Every principal of the org, of every kind, by number (for the CLI)."""
    return (await conn.execute(sa.select(users).where(users.c.dev_org_id == dev_org_id).order_by(users.c.number))).all()


async def admin_numbers(conn: AsyncConnection, dev_org_id: int) -> list[int]:
    """The numbers of the org's admins, locked until the unit of work ends (PostgreSQL; SQLite has one writer), so
    that two demotions at once cannot both see another admin left."""
    query = (
        sa.select(users.c.number)
        .where(users.c.dev_org_id == dev_org_id, users.c.role == "admin")
        .order_by(users.c.number)
        .with_for_update()
    )
    return [int(number) for number in (await conn.execute(query)).scalars()]


async def set_role(conn: AsyncConnection, dev_org_id: int, number: int, role: str, now: int) -> None:
    await conn.execute(
        sa.update(users)
        .where(users.c.dev_org_id == dev_org_id, users.c.number == number)
        .values(role=role, modified_date=now)
    )


async def insert_token(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(auth_tokens).values(**values))


async def find_token(conn: AsyncConnection, token_hash: str, *, dev_org_id: int | None = None) -> Row[Any] | None:
    """The token with this hash, joined with its user and org; only in that org when `dev_org_id` is given (one
    shard on Citus; without it the lookup asks every shard)."""
    query = (
        sa.select(
            auth_tokens,
            users.c.user_type,
            users.c.role,
            users.c.state.label("user_state"),
            dev_orgs.c.slug.label("org_slug"),
        )
        .join(users, (users.c.dev_org_id == auth_tokens.c.dev_org_id) & (users.c.number == auth_tokens.c.user_number))
        .join(dev_orgs, dev_orgs.c.id == auth_tokens.c.dev_org_id)
        .where(auth_tokens.c.token_hash == token_hash)
    )
    if dev_org_id is not None:
        query = query.where(auth_tokens.c.dev_org_id == dev_org_id)
    return (await conn.execute(query)).first()


async def touch_token(conn: AsyncConnection, dev_org_id: int, number: int, now: int) -> None:
    await conn.execute(
        sa.update(auth_tokens)
        .where(auth_tokens.c.dev_org_id == dev_org_id, auth_tokens.c.number == number)
        .values(last_used_at=now)
    )


async def get_token(conn: AsyncConnection, dev_org_id: int, number: int) -> Row[Any] | None:
    query = sa.select(auth_tokens).where(auth_tokens.c.dev_org_id == dev_org_id, auth_tokens.c.number == number)
    return (await conn.execute(query)).first()


async def list_tokens(
    conn: AsyncConnection, dev_org_id: int, *, user_number: int | None, requested_token_type: str | None
) -> Sequence[Row[Any]]:
    query = sa.select(auth_tokens).where(auth_tokens.c.dev_org_id == dev_org_id)
    if user_number is not None:
        query = query.where(auth_tokens.c.user_number == user_number)
    if requested_token_type is not None:
        query = query.where(auth_tokens.c.requested_token_type == requested_token_type)
    return (await conn.execute(query.order_by(auth_tokens.c.number))).all()


async def revoke_token(conn: AsyncConnection, dev_org_id: int, number: int, now: int) -> None:
    await conn.execute(
        sa.update(auth_tokens)
        .where(
            auth_tokens.c.dev_org_id == dev_org_id,
            auth_tokens.c.number == number,
            auth_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


async def user_kinds(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """{number: user_type} of the users that exist (a `kit.references.Lookup`)."""
    return {number: row.user_type for number, row in (await _user_types(conn, dev_org_id, numbers)).items()}


_user_types = RowsByNumber(users, sa.select(users.c.number, users.c.user_type))
