"""Migration 0006_roles on a database that holds users already: who becomes an admin."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from incidentd import db as database
from incidentd.config import Settings
from incidentd.identity import service as identity

BEFORE_ROLES = "0005_custom_schemas"

# (org id, slug, [(number, user_type, email)]) as an install of the previous release may hold them.
ORGS: list[tuple[int, str, list[tuple[int, str, str | None]]]] = [
    (
        1,
        "acme",
        [
            (1, "service_account", None),
            (2, "dev_user", "ops@acme.test"),
            (3, "dev_user", "sre@acme.test"),
            (4, "sys_user", None),
        ],
    ),
    (2, "beta", [(1, "dev_user", "ops@beta.test"), (2, "dev_user", "dev@beta.test")]),
    (3, "robots", [(1, "service_account", None)]),
]


def _downgrade(connection: Connection, revision: str) -> None:
    config = database.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def _fill(db: database.Database) -> None:
    async with db.engine.begin() as conn:
        for org_id, slug, users in ORGS:
            await conn.execute(
                sa.text("INSERT INTO dev_orgs (id, slug, display_name, created_date) VALUES (:id, :slug, :slug, 0)"),
                {"id": org_id, "slug": slug},
            )
            for number, user_type, email in users:
                await conn.execute(
                    sa.text(
                        "INSERT INTO users (dev_org_id, number, user_type, email, state, created_date, modified_date)"
                        " VALUES (:org, :number, :user_type, :email, 'active', 0, 0)"
                    ),
                    {"org": org_id, "number": number, "user_type": user_type, "email": email},
                )
        await conn.execute(
            sa.text(
                "INSERT INTO auth_tokens (dev_org_id, number, user_number, token_hash, requested_token_type,"
                " issued_at) VALUES (2, 1, 1, :hash, 'pat', 0)"
            ),
            {"hash": identity.hash_token("idt_beta-owner")},
        )


async def _users(db: database.Database, *columns: str) -> dict[tuple[int, int], Any]:
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.text(f"SELECT dev_org_id, number, {', '.join(columns)} FROM users"))).all()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


async def test_upgrading_makes_the_first_dev_user_of_each_org_its_admin_and_keeps_every_user(empty_database_url):
    db = database.Database(Settings(database_url=empty_database_url))
    try:
        await database.upgrade(db.engine, BEFORE_ROLES)
        await _fill(db)
        before = await _users(db, "user_type", "email", "state")

        await database.upgrade(db.engine)

        assert await _users(db, "user_type", "email", "state") == before
        roles = {key: role for key, (role,) in (await _users(db, "role")).items()}
        assert roles == {
            (1, 1): "member",  # a service account, though created before the org's first dev user
            (1, 2): "admin",
            (1, 3): "member",
            (1, 4): "member",
            (2, 1): "admin",
            (2, 2): "member",
            (3, 1): "member",  # an org without dev users has no admin until `incidentd user set-role`
        }
        principal = await identity.authenticate(db, "dvrv-us-1", "idt_beta-owner")
        assert (principal.org.slug, principal.user_number, principal.is_admin) == ("beta", 1, True)

        async with db.engine.begin() as conn:  # users written without a role are members
            await conn.execute(
                sa.text(
                    "INSERT INTO users (dev_org_id, number, user_type, email, state, created_date, modified_date)"
                    " VALUES (2, 3, 'dev_user', 'late@beta.test', 'active', 0, 0)"
                )
            )
        assert (await _users(db, "role"))[(2, 3)] == ("member",)
    finally:
        await db.dispose()


async def test_downgrading_drops_the_roles_and_keeps_the_users(empty_database_url):
    db = database.Database(Settings(database_url=empty_database_url))
    try:
        await database.upgrade(db.engine, BEFORE_ROLES)
        await _fill(db)
        before = await _users(db, "user_type", "email", "state")
        await database.upgrade(db.engine)
        async with db.engine.begin() as conn:
            await conn.run_sync(_downgrade, BEFORE_ROLES)
            columns = await conn.run_sync(lambda sync: {c["name"] for c in sa.inspect(sync).get_columns("users")})
        assert "role" not in columns
        assert await _users(db, "user_type", "email", "state") == before
        await database.upgrade(db.engine)
        assert (await _users(db, "role"))[(1, 2)] == ("admin",)
    finally:
        await db.dispose()
