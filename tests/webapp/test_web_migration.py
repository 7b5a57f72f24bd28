"""Migration 0009_web on a database that holds users already: new tables only, a user logs in afterwards, and
the downgrade drops the tables and keeps the users."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from incidentd import db as database
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.logins import service as logins

BEFORE_WEB = "0008_links"
WEB_TABLES = {"user_passwords", "web_sessions", "login_links"}


def _downgrade(connection: Connection, revision: str) -> None:
    config = database.alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def _tables(db: database.Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


async def test_upgrade_adds_the_web_tables_and_an_existing_user_logs_in(empty_database_url):
    db = database.Database(Settings(database_url=empty_database_url))
    try:
        await database.upgrade(db.engine, BEFORE_WEB)
        async with db.write() as conn:
            org = await identity.create_org(conn, partition="dvrv-us-1", display_name="Acme", slug="acme")
            await identity.create_user(conn, org, email="ops@acme.test")
        assert not WEB_TABLES & await _tables(db)
        await database.upgrade(db.engine)
        assert WEB_TABLES <= await _tables(db)
        await logins.set_password(db, org, "ops@acme.test", "a long enough password")
        session = await logins.log_in(db, "acme", "ops@acme.test", "a long enough password")
        assert (await logins.session_of(db, session.secret)).email == "ops@acme.test"

        async with db.engine.begin() as conn:
            await conn.run_sync(_downgrade, BEFORE_WEB)
        assert not WEB_TABLES & await _tables(db)
        async with db.read() as conn:
            assert (await identity.resolve_user(conn, org, "ops@acme.test")).email == "ops@acme.test"
        await database.upgrade(db.engine)
        assert WEB_TABLES <= await _tables(db)
    finally:
        await db.dispose()
