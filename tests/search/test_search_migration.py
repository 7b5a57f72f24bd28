"""Migration 0011_search on a database that holds incidents, comments and tags already: the upgrade builds every
incident's document (backfill), scoped to its org; the downgrade drops the index and leaves the incidents."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from incidentd import db as database
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.incidents import searching
from incidentd.incidents import service as incidents
from incidentd.incidents.schemas import IncidentsCreateRequest, TagWithValueInput
from incidentd.incidents.search_schemas import IncidentsSearchRequest
from incidentd.incidents.tables import incidents as incidents_table
from incidentd.principal import ADMIN, Principal
from incidentd.search import service as search
from incidentd.tags import service as tags
from incidentd.tags.schemas import TagsCreateRequest
from incidentd.timeline import service as timeline
from incidentd.timeline.schemas import TimelineEntriesCreateRequest

REVISION = "0011_search"


async def _downgrade(db: database.Database, revision: str) -> None:
    def run(connection: sa.engine.Connection) -> None:
        config = database.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def _has_index(db: database.Database) -> bool:
    async with db.engine.connect() as conn:
        names = set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))
    return "incident_search" in names


async def _found(db: database.Database, principal: Principal, query: str) -> list[str]:
    page = await searching.search_incidents(db, principal, IncidentsSearchRequest(query=query))
    return [result.incident.display_id for result in page.results]


async def test_the_upgrade_indexes_existing_incidents_comments_and_tags_per_org(empty_database_url):
    previous = ScriptDirectory.from_config(database.alembic_config()).get_revision(REVISION).down_revision
    assert previous == "0010_webhooks"
    db = database.Database(Settings(database_url=empty_database_url))
    try:
        # Today's code writes the rows (it needs every table), then the schema goes back to before the index.
        await database.upgrade(db.engine)
        created = await identity.bootstrap(db, admin_email="admin@example.com")
        assert created is not None
        principal = Principal(org=created.org, user_number=created.admin_number, user_type="dev_user", role=ADMIN)
        async with db.write() as conn:
            other_org = await identity.create_org(conn, partition="dvrv-us-1", display_name="Other", slug="other")
            other_user = await identity.create_user(conn, other_org, email="o@other.test", user_type="dev_user")
        other = Principal(org=other_org, user_number=other_user.number, user_type="dev_user", role=ADMIN)
        tag = await tags.create(db, principal, TagsCreateRequest(name="networking"))
        one = await incidents.create(
            db,
            principal,
            IncidentsCreateRequest(
                title="Payment gateway down", body="Checkout failing", tags=[TagWithValueInput(tag_id=tag.id)]
            ),
        )
        two = await incidents.create(db, principal, IncidentsCreateRequest(title="Disk pressure"))
        await timeline.create(
            db, principal, TimelineEntriesCreateRequest(type="timeline_comment", object=two.id, body="kraken spotted")
        )
        theirs = await incidents.create(db, other, IncidentsCreateRequest(title="Payment gateway slow"))
        await _downgrade(db, previous)
        assert not await _has_index(db)

        await database.upgrade(db.engine)

        assert await _found(db, principal, "paym gateway") == [one.display_id]
        assert await _found(db, principal, "networking") == [one.display_id]
        assert await _found(db, principal, "kraken") == [two.display_id]
        assert await _found(db, other, "payment") == [theirs.display_id]
        # `incidentd db reindex-search` (after a change of language) rebuilds the same documents.
        assert await search.rebuild(db) == 3
        assert await _found(db, principal, "kraken") == [two.display_id]

        await _downgrade(db, previous)
        assert not await _has_index(db)
        # The incidents are untouched (read as rows: today's get also reads tables of later migrations).
        async with db.read() as conn:
            titles = (await conn.execute(sa.select(incidents_table.c.title))).scalars().all()
        assert sorted(titles) == ["Disk pressure", "Payment gateway down", "Payment gateway slow"]
    finally:
        await db.dispose()
