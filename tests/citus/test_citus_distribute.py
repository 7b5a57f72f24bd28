"""`incidentd.citus.distribute` on a coordinator holding a schema that plain PostgreSQL migrated (the in-place move
to Citus, docs/scaling.md): plain PostgreSQL numbers events at commit with a trigger on `webhook_events`, which
Citus would refuse to distribute; `distribute` drops it (Citus numbers events when they are inserted).

Runs only when INCIDENTD_TEST_DATABASE_URL is a Citus coordinator (scripts/citus-cluster start)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from conftest import ON_CITUS
from incidentd import citus, models  # noqa: F401  (every table in the metadata)
from incidentd.config import Settings
from incidentd.db import Database, metadata
from incidentd.kit.counters import id_counters
from incidentd.webhooks.tables import webhook_events

pytestmark = pytest.mark.skipif(not ON_CITUS, reason="needs a Citus coordinator")


async def test_distribute_drops_plain_postgresqls_event_numbering_trigger(empty_database_url):
    db = Database(Settings(database_url=empty_database_url))
    tables = [metadata.tables["dev_orgs"], id_counters, webhook_events]

    def plain_postgres_schema_then_distribute(connection: sa.engine.Connection) -> list[str]:
        metadata.create_all(connection, tables=tables)
        connection.execute(
            sa.text(
                "CREATE FUNCTION incidentd_number_event() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RETURN NULL; END $$"
            )
        )
        connection.execute(
            sa.text(
                f"CREATE CONSTRAINT TRIGGER {citus.EVENTS_NUMBERED_AT_COMMIT} AFTER INSERT ON webhook_events "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION incidentd_number_event()"
            )
        )
        return citus.distribute(connection)

    try:
        async with db.engine.begin() as conn:
            handed = await conn.run_sync(plain_postgres_schema_then_distribute)
        assert set(handed) == {"dev_orgs", "id_counters", "webhook_events"}
        async with db.engine.connect() as conn:
            triggers = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM pg_trigger WHERE tgname = :name"),
                    {"name": citus.EVENTS_NUMBERED_AT_COMMIT},
                )
            ).scalar_one()
            kind = (
                await conn.execute(
                    sa.text("SELECT citus_table_type FROM citus_tables WHERE table_name::text = 'webhook_events'")
                )
            ).scalar_one()
        assert triggers == 0
        assert kind == "distributed"
    finally:
        await db.dispose()
