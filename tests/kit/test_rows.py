"""Lookups by a list of numbers: the list is bound as one parameter, whatever its length."""

from __future__ import annotations

from conftest import Actor
from incidentd.identity import repository as identity_repository
from incidentd.kit.rows import RowsByNumber
from incidentd.parts.tables import parts


async def test_rows_by_number_finds_the_rows_among_any_number_of_numbers(app, admin: Actor):
    org = admin.org.dev_org_id
    async with app.state.db.read() as conn:
        users = await identity_repository.get_users(conn, org, [admin.user_number])
        # Many numbers, one parameter.
        many = await identity_repository.get_users(conn, org, [*range(100_000, 140_000), admin.user_number])
        repeated = await identity_repository.get_users(conn, org, [admin.user_number] * 3)
        absent = await identity_repository.get_users(conn, org, [999_999])
        other_org = await identity_repository.get_users(conn, org + 1, [admin.user_number])
        nothing = await RowsByNumber(parts)(conn, org, [])
    assert list(users) == list(many) == list(repeated) == [admin.user_number]
    assert users[admin.user_number].email == many[admin.user_number].email
    assert absent == {} and other_org == {} and nothing == {}
