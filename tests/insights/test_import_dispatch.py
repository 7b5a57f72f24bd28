"""incidentd import --from dispatch: a fixture Dispatch organization schema (only the columns the importer reads,
as the public Netflix/dispatch models define them) on the test PostgreSQL, imported into the org; a second run
changes nothing, and a change in Dispatch rewrites the incident."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from corpus import ok
from typer.testing import CliRunner

from conftest import ON_POSTGRES, Actor
from incidentd.cli import app as cli
from incidentd.config import get_settings
from incidentd.imports.dispatch import severity_of

needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="Dispatch databases are PostgreSQL: set INCIDENTD_TEST_DATABASE_URL to run this"
)

SCHEMA = "dispatch_organization_default"
TABLES = [
    "CREATE TABLE {s}.incident_severity (id integer PRIMARY KEY, name varchar)",
    "CREATE TABLE {s}.incident_priority (id integer PRIMARY KEY, name varchar)",
    "CREATE TABLE {s}.incident_type (id integer PRIMARY KEY, name varchar)",
    "CREATE TABLE {s}.incident (id integer PRIMARY KEY, title varchar NOT NULL, description varchar NOT NULL, "
    "status varchar, created_at timestamp, updated_at timestamp, reported_at timestamp, stable_at timestamp, "
    "closed_at timestamp, incident_severity_id integer REFERENCES {s}.incident_severity (id), "
    "incident_priority_id integer REFERENCES {s}.incident_priority (id), "
    "incident_type_id integer REFERENCES {s}.incident_type (id))",
    "CREATE TABLE {s}.individual_contact (id integer PRIMARY KEY, email varchar, name varchar)",
    "CREATE TABLE {s}.participant (id integer PRIMARY KEY, incident_id integer REFERENCES {s}.incident (id), "
    "individual_contact_id integer REFERENCES {s}.individual_contact (id))",
    "CREATE TABLE {s}.participant_role (id integer PRIMARY KEY, participant_id integer "
    "REFERENCES {s}.participant (id), role varchar, renounce_at timestamp)",
    "CREATE TABLE {s}.event (id integer PRIMARY KEY, uuid uuid NOT NULL, incident_id integer "
    "REFERENCES {s}.incident (id), individual_id integer REFERENCES {s}.individual_contact (id), "
    "started_at timestamp NOT NULL, source varchar NOT NULL, description varchar NOT NULL)",
]
ROWS = [
    "INSERT INTO {s}.incident_severity VALUES (1, 'Low'), (2, 'High'), (3, 'Critical')",
    "INSERT INTO {s}.incident_priority VALUES (1, 'Medium')",
    "INSERT INTO {s}.incident_type VALUES (1, 'Default')",
    "INSERT INTO {s}.incident VALUES "
    "(1, 'Payments down', 'card payments fail', 'Closed', '2024-03-01 10:00', '2024-03-02 09:00', "
    "'2024-03-01 10:00', '2024-03-01 12:00', '2024-03-02 09:00', 3, 1, 1), "
    "(2, 'Search slow', 'p99 above 2 s', 'Stable', '2024-04-01 08:00', '2024-04-01 09:00', "
    "'2024-04-01 08:00', '2024-04-01 09:00', NULL, 2, 1, 1), "
    "(7, 'Login errors', 'some users', 'Active', '2024-05-01 07:00', '2024-05-01 07:00', "
    "'2024-05-01 07:00', NULL, NULL, NULL, 1, 1)",
    "INSERT INTO {s}.individual_contact VALUES (1, 'ic@corp.test', 'Ida Commander'), "
    "(2, 'rep@corp.test', 'Rex Reporter'), (3, 'admin@incidentd.local', 'The Admin')",
    "INSERT INTO {s}.participant VALUES (1, 1, 1), (2, 1, 2), (3, 2, 3), (4, 7, 2)",
    "INSERT INTO {s}.participant_role VALUES (1, 1, 'Incident Commander', NULL), (2, 2, 'Reporter', NULL), "
    "(3, 3, 'Incident Commander', NULL), (4, 4, 'Reporter', NULL)",
    "INSERT INTO {s}.event VALUES "
    "(1, '00000000-0000-0000-0000-000000000001', 1, 1, '2024-03-01 10:05', 'Dispatch Core App', "
    "'Incident created'), "
    "(2, '00000000-0000-0000-0000-000000000002', 1, NULL, '2024-03-01 12:00', 'Incident Participant', "
    "'Status changed to Stable')",
]


@pytest.fixture
def dispatch_url(database_url: str) -> Iterator[str]:
    """The Dispatch fixture schema, in a schema of its own on the test's PostgreSQL database (dropped after)."""

    async def run(*statements: str) -> None:
        engine = sa.ext.asyncio.create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(sa.text(statement.format(s=SCHEMA)))
        await engine.dispose()

    asyncio.run(run(f"CREATE SCHEMA {SCHEMA}", *TABLES, *ROWS))
    yield database_url
    asyncio.run(run(f"DROP SCHEMA {SCHEMA} CASCADE"))
    get_settings.cache_clear()


def test_severity_reads_names_and_words():
    assert severity_of("SEV1") == 2 and severity_of("sev-0") == 1 and severity_of("Critical") == 1
    assert severity_of("Unknown", "Low") == 4 and severity_of(None, None) is None


async def _incidents(client: Any, admin: Actor) -> dict[str, dict[str, Any]]:
    found = await ok(await client.post("/incidents.list", json={"limit": 100}, headers=admin.headers))
    return {incident["display_id"]: incident for incident in found["incidents"]}


@needs_postgres
async def test_a_dispatch_database_imports_once(client, app, admin: Actor, dispatch_url: str):
    arguments = ["import", "--from", "dispatch", "--database-url", dispatch_url, "--target-database-url", dispatch_url]
    result = await asyncio.to_thread(CliRunner().invoke, cli, arguments)
    assert result.exit_code == 0, result.output
    assert "3 read: 3 created, 0 updated, 0 skipped, 0 failed; 0 renumbered, 2 timeline entries" in result.stdout
    assert "2 users, 0 tags, 0 parts and 0 accounts created" in result.stdout
    assert "imported 3 of 3 (100%)" in result.stderr

    incidents = await _incidents(client, admin)
    assert set(incidents) == {"INC-1", "INC-2", "INC-7"}
    closed, stable, active = incidents["INC-1"], incidents["INC-2"], incidents["INC-7"]
    assert closed["title"] == "Payments down" and closed["body"] == "card payments fail"
    assert closed["stage"]["stage"]["name"] == "resolved" and closed["severity"]["label"] == "sev-0"
    assert closed["created_date"] == "2024-03-01T10:00:00.000Z"
    assert closed["identified_date"] == closed["acknowledged_date"] == "2024-03-01T10:00:00.000Z"
    assert closed["mitigated_date"] == "2024-03-01T12:00:00.000Z"
    assert closed["actual_close_date"] == "2024-03-02T09:00:00.000Z"
    assert [owner["email"] for owner in closed["owned_by"]] == ["ic@corp.test"]
    assert closed["created_by"]["email"] == "rep@corp.test"
    assert stable["stage"]["stage"]["name"] == "mitigated" and stable["severity"]["label"] == "sev-1"
    assert "actual_close_date" not in stable
    assert [owner["email"] for owner in stable["owned_by"]] == ["admin@incidentd.local"]  # matched, not created
    assert active["stage"]["stage"]["name"] == "acknowledged" and active["severity"]["label"] == "sev-2"  # priority
    assert "owned_by" not in active and active["created_by"]["email"] == "rep@corp.test"

    body = {"object": closed["id"], "collections": ["discussions"]}
    timeline = await ok(await client.post("/timeline-entries.list", json=body, headers=admin.headers))
    comments = [(entry["body"], entry.get("created_by", {}).get("email")) for entry in timeline["timeline_entries"]]
    assert comments == [
        ("[Dispatch Core App] Incident created", "ic@corp.test"),
        ("[Incident Participant] Status changed to Stable", None),
    ]

    again = await asyncio.to_thread(CliRunner().invoke, cli, arguments)
    assert "3 read: 0 created, 0 updated, 3 skipped, 0 failed" in again.stdout
    assert await _incidents(client, admin) == incidents

    engine = sa.ext.asyncio.create_async_engine(dispatch_url.replace("postgresql://", "postgresql+asyncpg://"))
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(f"UPDATE {SCHEMA}.incident SET status = 'Closed', closed_at = '2024-04-02' WHERE id = 2")
        )
    await engine.dispose()
    changed = await asyncio.to_thread(CliRunner().invoke, cli, arguments)
    assert "3 read: 0 created, 1 updated, 2 skipped, 0 failed" in changed.stdout
    now = await _incidents(client, admin)
    assert now["INC-2"]["stage"]["stage"]["name"] == "resolved" and now["INC-2"]["actual_close_date"].startswith(
        "2024-04-02"
    )


def test_import_help_explains_both_sources():
    text = " ".join(CliRunner().invoke(cli, ["import", "--help"], terminal_width=100).stdout.split())
    assert "--from" in text and "dispatch" in text and "skipped" in text and "progress line" in text
