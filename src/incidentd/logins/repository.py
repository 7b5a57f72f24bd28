"""SQL of the logins domain. Sessions and links are found by the hash of their secret (unique, like tokens'
hashes): the secret is all a browser presents, and it names its org through the row."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.identity.tables import dev_orgs, users
from incidentd.logins.tables import login_links, user_passwords, web_sessions


async def password_hash(conn: AsyncConnection, dev_org_id: int, user_number: int) -> str | None:
    query = sa.select(user_passwords.c.password_hash).where(
        user_passwords.c.dev_org_id == dev_org_id, user_passwords.c.user_number == user_number
    )
    return (await conn.execute(query)).scalar_one_or_none()


async def set_password_hash(conn: AsyncConnection, dev_org_id: int, user_number: int, value: str, now: int) -> None:
    where = (user_passwords.c.dev_org_id == dev_org_id, user_passwords.c.user_number == user_number)
    updated = await conn.execute(sa.update(user_passwords).where(*where).values(password_hash=value, set_at=now))
    if updated.rowcount == 0:
        await conn.execute(
            sa.insert(user_passwords).values(
                dev_org_id=dev_org_id, user_number=user_number, password_hash=value, set_at=now
            )
        )


async def insert_session(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(web_sessions).values(**values))


async def find_session(conn: AsyncConnection, session_hash: str, *, dev_org_id: int | None = None) -> Row[Any] | None:
    """The session with this hash, with its user's kind, role and state and its org's slug; only in that org when
    `dev_org_id` is given (one shard on Citus)."""
    query = (
        sa.select(
            web_sessions,
            users.c.user_type,
            users.c.role,
            users.c.state.label("user_state"),
            users.c.email,
            users.c.display_name,
            dev_orgs.c.slug.label("org_slug"),
        )
        .join(users, (users.c.dev_org_id == web_sessions.c.dev_org_id) & (users.c.number == web_sessions.c.user_number))
        .join(dev_orgs, dev_orgs.c.id == web_sessions.c.dev_org_id)
        .where(web_sessions.c.session_hash == session_hash)
    )
    if dev_org_id is not None:
        query = query.where(web_sessions.c.dev_org_id == dev_org_id)
    return (await conn.execute(query)).first()


async def touch_session(conn: AsyncConnection, dev_org_id: int, session_hash: str, now: int) -> None:
    await conn.execute(
        sa.update(web_sessions)
        .where(web_sessions.c.dev_org_id == dev_org_id, web_sessions.c.session_hash == session_hash)
        .values(last_seen_at=now)
    )


async def revoke_session(conn: AsyncConnection, dev_org_id: int, session_hash: str, now: int) -> None:
    await conn.execute(
        sa.update(web_sessions)
        .where(
            web_sessions.c.dev_org_id == dev_org_id,
            web_sessions.c.session_hash == session_hash,
            web_sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


async def revoke_user_sessions(conn: AsyncConnection, dev_org_id: int, user_number: int, now: int) -> int:
    result = await conn.execute(
        sa.update(web_sessions)
        .where(
            web_sessions.c.dev_org_id == dev_org_id,
            web_sessions.c.user_number == user_number,
            web_sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return int(result.rowcount or 0)


async def insert_login_link(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(login_links).values(**values))


async def find_login_link(conn: AsyncConnection, link_hash: str, *, dev_org_id: int | None = None) -> Row[Any] | None:
    """The link with this hash and its org's slug; only in that org when `dev_org_id` is given (one shard on
    Citus)."""
    query = (
        sa.select(login_links, dev_orgs.c.slug.label("org_slug"))
        .join(dev_orgs, dev_orgs.c.id == login_links.c.dev_org_id)
        .where(login_links.c.link_hash == link_hash)
    )
    if dev_org_id is not None:
        query = query.where(login_links.c.dev_org_id == dev_org_id)
    return (await conn.execute(query)).first()


async def use_login_link(conn: AsyncConnection, dev_org_id: int, link_hash: str, now: int) -> bool:
    """Mark the link used; False when it was used already (two redeemers race: one wins)."""
    result = await conn.execute(
        sa.update(login_links)
        .where(
            login_links.c.dev_org_id == dev_org_id,
            login_links.c.link_hash == link_hash,
            login_links.c.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return bool(result.rowcount)
