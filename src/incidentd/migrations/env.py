"""Alembic environment. incidentd passes an open connection in `config.attributes["connection"]`;
run by hand (`alembic upgrade head`), the URL comes from incidentd's settings."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection

from incidentd import models  # noqa: F401  (registers every table on the metadata)
from incidentd.citus import distribute, is_citus
from incidentd.db import metadata
from incidentd.search.repository import INDEX_TABLES

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The search index is written by SQL of its own (an FTS5 table on SQLite), not SQLAlchemy metadata.
        include_name=lambda name, kind, _: kind != "table" or name not in INDEX_TABLES,
    )
    citus = is_citus(connection)
    with context.begin_transaction():
        if citus:
            # One migration's transaction may touch distributed tables (one connection per shard, in parallel)
            # and then dev_orgs, a reference table, which Citus refuses after parallel access in a transaction;
            # one connection per node for the whole upgrade is what it accepts.
            connection.execute(sa.text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
        context.run_migrations()
        # On a Citus coordinator, what the migrations created becomes distributed (a no-op once it is).
        if citus:
            distribute(connection)


async def _run_standalone() -> None:
    from incidentd.config import get_settings
    from incidentd.db import Database

    database = Database(get_settings())
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await database.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
