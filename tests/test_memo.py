"""Rows that never change are remembered per database, but never from a write that may still roll back."""

from __future__ import annotations

import pytest

from conftest import Actor
from incidentd.db import Database
from incidentd.identity import repository as identity_repository
from incidentd.memo import ImmutableRows


class Fetches:
    def __init__(self) -> None:
        self.asked: list[list[int]] = []

    async def __call__(self, conn, dev_org_id: int, numbers: list[int]):
        self.asked.append(sorted(numbers))
        return await identity_repository.get_users(conn, dev_org_id, numbers)


async def test_rows_read_once_are_not_fetched_again_and_misses_are_fetched_together(app, admin: Actor):
    db: Database = app.state.db
    memo, fetch = ImmutableRows(), Fetches()
    org = admin.org.dev_org_id
    async with db.read() as conn:
        first = await memo.get(conn, org, [admin.user_number], fetch)
        again = await memo.get(conn, org, [admin.user_number, 999], fetch)
    assert first[admin.user_number].email == again[admin.user_number].email
    # The second call asked only for what it did not know; an absent row is asked for every time.
    assert fetch.asked == [[admin.user_number], [999]]


async def test_rows_read_inside_a_write_are_remembered_only_once_it_commits(app, admin: Actor):
    db: Database = app.state.db
    memo, fetch = ImmutableRows(), Fetches()
    org, user = admin.org.dev_org_id, admin.user_number
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await memo.get(conn, org, [user], fetch)
            raise RuntimeError("rolled back")
    async with db.write() as conn:
        await memo.get(conn, org, [user], fetch)
        # Not before the commit: the write could still roll back.
        await memo.get(conn, org, [user], fetch)
    async with db.read() as conn:
        await memo.get(conn, org, [user], fetch)
    assert fetch.asked == [[user], [user], [user]]


async def test_each_database_has_its_own_memory(app, admin: Actor, settings):
    memo, fetch = ImmutableRows(), Fetches()
    other = Database(settings)
    try:
        for db in (app.state.db, other):
            async with db.read() as conn:
                await memo.get(conn, admin.org.dev_org_id, [admin.user_number], fetch)
    finally:
        await other.dispose()
    assert len(fetch.asked) == 2


async def test_memory_is_bounded(app, admin: Actor):
    asked: list[int] = []

    async def rows(conn, dev_org_id: int, numbers: list[int]) -> dict[int, str]:
        asked.extend(numbers)
        return {number: f"row {number}" for number in numbers}

    memo = ImmutableRows[int, str](max_entries=2)
    async with app.state.db.read() as conn:
        for number in (1, 2, 1, 3, 1):
            assert await memo.get(conn, admin.org.dev_org_id, [number], rows) == {number: f"row {number}"}
    # 1 and 2 fill it; 3 does not fit, so everything is forgotten and 1 is asked for again.
    assert asked == [1, 2, 3, 1]
