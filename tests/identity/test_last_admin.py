"""An org keeps at least one admin: demoting the last one is refused, also when two demotions race."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conftest import Actor, add_principal
from incidentd.errors import Conflict
from incidentd.identity import repository
from incidentd.identity import service as identity
from incidentd.kit.time import now_ms
from incidentd.principal import ADMIN, MEMBER


async def test_two_admins_demoted_at_once_leave_one(app: Any, admin: Actor):
    other = await add_principal(app, admin, role=ADMIN)
    first, second = admin.org.don("dev_user", admin.user_number), admin.org.don("dev_user", other.user_number)
    results = await asyncio.gather(
        identity.set_role(app.state.db, admin.org, first, MEMBER),
        identity.set_role(app.state.db, admin.org, second, MEMBER),
        return_exceptions=True,
    )
    assert sorted(type(result).__name__ for result in results) == ["Conflict", "Row"], results
    users = await identity.list_users(app.state.db, admin.org)
    assert [user.role for user in users].count(ADMIN) == 1


async def test_the_last_admin_may_stay_admin_and_members_may_be_demoted(app: Any, admin: Actor, member: Actor):
    assert (await identity.set_role(app.state.db, admin.org, "DEVU-1", ADMIN)).role == ADMIN
    assert (
        await identity.set_role(app.state.db, admin.org, member.org.don("dev_user", member.user_number), MEMBER)
    ).role == MEMBER
    with pytest.raises(Conflict, match="last admin"):
        await identity.set_role(app.state.db, admin.org, "DEVU-1", MEMBER)


async def test_reading_the_admins_locks_them_until_the_demotion_commits(app: Any, admin: Actor):
    """What makes the race above safe on PostgreSQL (SQLite has one writer at a time anyway): a second unit of work
    reading the admins waits for the first, then sees its demotion."""
    other = await add_principal(app, admin, role=ADMIN)
    db, org_id = app.state.db, admin.org.dev_org_id
    locked, demote = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.write() as conn:
            assert await repository.admin_numbers(conn, org_id) == [admin.user_number, other.user_number]
            locked.set()
            await demote.wait()
            await repository.set_role(conn, org_id, admin.user_number, MEMBER, now_ms())

    async def second() -> list[int]:
        await locked.wait()
        async with db.write() as conn:
            return await repository.admin_numbers(conn, org_id)

    demoting, reading = asyncio.create_task(first()), asyncio.create_task(second())
    await locked.wait()
    await asyncio.sleep(0.3)
    assert not reading.done()  # waits for the first unit of work
    demote.set()
    await demoting
    assert await reading == [other.user_number]
