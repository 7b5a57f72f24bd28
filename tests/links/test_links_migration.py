"""Migration 0008_links on a database that holds incidents already: it adds the links table and nothing else
changes; the downgrade drops it and leaves the incidents."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from incidentd import db as database
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.incidents import service as incidents
from incidentd.incidents.schemas import IncidentsCreateRequest
from incidentd.links import service as links
from incidentd.links.schemas import LinksCreateRequest, LinksListRequest
from incidentd.principal import ADMIN, Principal

REVISION = "0008_links"


async def _tables(db: database.Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names()))


async def _downgrade(db: database.Database, revision: str) -> None:
    def run(connection: sa.engine.Connection) -> None:
        config = database.alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def test_upgrading_a_database_with_incidents_adds_links_and_the_downgrade_drops_them(empty_database_url):
    previous = ScriptDirectory.from_config(database.alembic_config()).get_revision(REVISION).down_revision
    assert isinstance(previous, str)
    db = database.Database(Settings(database_url=empty_database_url))
    try:
        # The incidents are written by today's code (it needs the later tables too), then the schema goes back to
        # the revision before links: the upgrade then meets a database that holds incidents.
        await database.upgrade(db.engine)
        created = await identity.bootstrap(db, admin_email="admin@example.com")
        assert created is not None
        principal = Principal(org=created.org, user_number=created.admin_number, user_type="dev_user", role=ADMIN)
        one = await incidents.create(db, principal, IncidentsCreateRequest(title="one"))
        two = await incidents.create(db, principal, IncidentsCreateRequest(title="two"))
        await _downgrade(db, previous)
        assert "links" not in await _tables(db)

        await database.upgrade(db.engine)

        request = LinksCreateRequest(link_type="is_related_to", source=one.id, target=two.display_id)
        made = await links.create(db, principal, request)
        page = await links.list_links(db, principal, LinksListRequest(object=two.id))
        assert [link.id for link in page.links] == [made.id]
        assert (await incidents.get(db, principal, one.id)).title == "one"

        await _downgrade(db, previous)
        assert "links" not in await _tables(db)
        await database.upgrade(db.engine)
        assert (await incidents.get(db, principal, two.id)).title == "two"
        assert (await links.list_links(db, principal, LinksListRequest(object=two.id))).links == []
    finally:
        await db.dispose()
