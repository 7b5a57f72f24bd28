"""What a custom-field filter and group_by cost on 100,000 incidents, on SQLite and on PostgreSQL.

Seeds one org directly through SQL (incidents and their index rows in `incident_custom_values`, as the
repository writes them), then times incidents.list / incidents.group through the service layer (the whole
request minus HTTP: filter parsing, the keyset page, rendering) and prints the query plans.

    .venv/bin/python bench/custom_fields.py sqlite [--count 100000] [--keep | --reuse]
    .venv/bin/python bench/custom_fields.py postgresql://postgres@127.0.0.1:5432/postgres [--keep | --reuse]

A PostgreSQL URL names a server: the script creates (and unless --keep, afterwards drops) its own database
there; SQLite uses a file in the temporary directory. --reuse measures a database an earlier --keep left.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from incidentd import db as database
from incidentd.config import Settings, normalize_database_url
from incidentd.customization import fields
from incidentd.customization import service as customization
from incidentd.customization.schemas import CustomSchemaFragmentsSetRequest, FieldDescriptor
from incidentd.identity import service as identity
from incidentd.incidents import repository, schemas, service
from incidentd.incidents.tables import incident_custom_values, incidents
from incidentd.kit import counters
from incidentd.principal import ADMIN, Principal

REGIONS = ["eu", "us", "apac", "latam", "africa"]  # 20% each
LABELS = [f"label{n}" for n in range(10)]
BATCH = 5_000
RUNS = 15


async def existing(db: database.Database) -> Principal:
    """The bench org of a database seeded before (--reuse)."""
    from incidentd.identity import repository as identity_repository
    from incidentd.principal import OrgScope

    async with db.read() as conn:
        org = await identity_repository.get_org(conn, slug="bench")
        assert org is not None, "nothing to reuse: run with --keep first"
        scope = OrgScope(org.id, org.slug, "dvrv-us-1")
        user = await identity_repository.get_user_by_email(conn, org.id, "bench@example.com")
    return Principal(scope, user.number, "dev_user", role=ADMIN)


async def seed(db: database.Database, count: int) -> Principal:
    async with db.write() as conn:
        org = await identity.create_org(conn, partition="dvrv-us-1", display_name="bench", slug="bench")
        user = await identity.create_user(conn, org, email="bench@example.com", user_type="dev_user", role=ADMIN)
        triage = (await customization.load_diagram(conn, org, "incident", None)).start
        first = await counters.allocate(conn, org.dev_org_id, "incident", count)
    principal = Principal(org, user.number, "dev_user", role=ADMIN)
    await customization.set_fragment(
        db,
        principal,
        CustomSchemaFragmentsSetRequest(
            type="tenant_fragment",
            description="bench",
            leaf_type="incident",
            fields=[
                FieldDescriptor(name="region", field_type="enum", allowed_values=REGIONS),
                FieldDescriptor(name="tier", field_type="int"),
                FieldDescriptor(name="labels", field_type="array", base_type="tokens"),
                FieldDescriptor(name="rare", field_type="text"),
            ],
        ),
    )
    rng = random.Random(1)
    now = int(time.time() * 1000)
    for start in range(0, count, BATCH):
        rows, values = [], []
        for number in range(first + start, first + min(start + BATCH, count)):
            custom: dict[str, Any] = {"tnt__region": rng.choice(REGIONS), "tnt__tier": rng.randint(1, 5)}
            if rng.random() < 0.7:
                custom["tnt__labels"] = rng.sample(LABELS, rng.randint(1, 3))
            if rng.random() < 0.001:
                custom["tnt__rare"] = "needle"
            created = now - rng.randrange(365 * 86_400_000)
            rows.append(
                {
                    "dev_org_id": org.dev_org_id,
                    "number": number,
                    "title": f"incident {number}",
                    "severity": rng.randint(1, 4),
                    "stage_number": triage,
                    "identified_date": created,
                    "custom_fields": custom,
                    "created_by": user.number,
                    "created_date": created,
                    "modified_by": user.number,
                    "modified_date": created,
                }
            )
            values += repository.custom_value_rows(org.dev_org_id, number, custom)
        async with db.write() as conn:
            # Multi-row VALUES statements (2,000 parameters or so each): far fewer round trips than executemany.
            for table, batch in ((incidents, rows), (incident_custom_values, values)):
                for offset in range(0, len(batch), 500):
                    await conn.execute(sa.insert(table).values(batch[offset : offset + 500]))
    async with db.write() as conn:
        if conn.dialect.name == "sqlite":
            await conn.exec_driver_sql("ANALYZE")
    if db.engine.dialect.name == "postgresql":
        # The steady state autovacuum reaches: statistics, and visibility maps for index-only scans.
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(url)
        await connection.execute("VACUUM ANALYZE")
        await connection.close()
    return principal


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Median wall time in ms over RUNS runs (after one warm-up), and the last result."""
    result = await call()
    samples = []
    for _ in range(RUNS):
        began = time.perf_counter()
        result = await call()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples), result


async def measure(db: database.Database, principal: Principal) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("region = eu (20%)", {"tnt__region": "eu"}),
        ("region in (eu, us) (40%)", {"tnt__region": ["eu", "us"]}),
        ("labels has label3 (~14%)", {"tnt__labels": "label3"}),
        ("region = eu and tier = 5 (4%)", {"tnt__region": "eu", "tnt__tier": 5}),
        ("rare = needle (0.1%)", {"tnt__rare": "needle"}),
        ("labels has no value (30%)", {"tnt__labels": None}),
    ]
    print(f"{'incidents.list, limit 50, first page':45} {'median ms':>10} {'rows':>6}")
    for label, filters in cases:
        request = schemas.IncidentsListRequest(custom_fields=filters, limit=50)
        elapsed, page = await timed(lambda request=request: service.list_incidents(db, principal, request))
        print(f"{label:45} {elapsed:10.1f} {len(page.incidents):6}")
    request = schemas.IncidentsListRequest(custom_fields={"tnt__region": "eu"}, limit=50)
    first = await service.list_incidents(db, principal, request)
    deep = schemas.IncidentsListRequest(custom_fields={"tnt__region": "eu"}, limit=50, cursor=first.next_cursor)
    elapsed, _ = await timed(lambda: service.list_incidents(db, principal, deep))
    print(f"{'region = eu, second page (cursor)':45} {elapsed:10.1f}")
    unfiltered = schemas.IncidentsListRequest(limit=50)
    elapsed, _ = await timed(lambda: service.list_incidents(db, principal, unfiltered))
    print(f"{'no filter (for comparison)':45} {elapsed:10.1f}")
    print()
    print(f"{'incidents.group, 10 per group':45} {'median ms':>10} {'groups':>6}")
    for label, group_by, filters in (
        ("group_by custom_fields.tnt__region", "custom_fields.tnt__region", None),
        ("group_by custom_fields.tnt__labels", "custom_fields.tnt__labels", None),
        ("group_by custom_fields.tnt__tier, region=eu", "custom_fields.tnt__tier", {"tnt__region": "eu"}),
        ("group_by severity (for comparison)", "severity", None),
    ):
        group = schemas.IncidentsGroupRequest(group_by=group_by, limit_per_group=10, custom_fields=filters)
        elapsed, result = await timed(lambda group=group: service.group_incidents(db, principal, group))
        print(f"{label:45} {elapsed:10.1f} {len(result.groups):6}")
    await writes(db, principal)
    await plans(db, principal)


async def writes(db: database.Database, principal: Principal) -> None:
    """What the index costs a write: incidents.create with three custom fields (five index rows) and without."""
    from incidentd.customization.schemas import CustomSchemaSpec

    print()
    with_fields = schemas.IncidentsCreateRequest(
        title="bench",
        custom_schema_spec=CustomSchemaSpec(tenant_fragment=True),
        custom_fields={"tnt__region": "eu", "tnt__tier": 3, "tnt__labels": ["label1", "label2", "label3"]},
    )
    for label, request in (("create with 3 custom fields (5 index rows)", with_fields), ("create without", None)):
        plain = request or schemas.IncidentsCreateRequest(title="bench")
        elapsed, _ = await timed(lambda plain=plain: service.create(db, principal, plain))
        print(f"{label:45} {elapsed:10.1f} ms")


async def plans(db: database.Database, principal: Principal) -> None:
    """The page query of a common and of a rare value in the form the service picks for each, against the same
    filter read from the JSON column with no index."""
    from incidentd.incidents import filters as incident_filters
    from incidentd.incidents import repository

    org = principal.org

    def page(where: list[Any]) -> Any:
        order = (incidents.c.created_date.desc(), incidents.c.number.desc())
        return sa.select(incidents.c.number).where(*where).order_by(*order).limit(51)

    async with db.read() as conn:
        if conn.dialect.name == "postgresql":
            explain = "EXPLAIN ANALYZE"

            def from_json(name: str) -> Any:
                return incidents.c.custom_fields.op("->>")(name)

        else:
            explain = "EXPLAIN QUERY PLAN"

            def from_json(name: str) -> Any:
                return sa.func.json_extract(incidents.c.custom_fields, f"$.{name}")

        cases = []
        for name, value, sparse in (("tnt__region", "eu", False), ("tnt__rare", "needle", True)):
            spec = incident_filters.FilterSpec(
                custom_field_keys={name: [fields.index_key(value)[0]]},
                sparse_custom_fields={name} if sparse else set(),
            )
            form = "semi-join" if sparse else "walk"
            cases.append((f"{name} = {value}, index ({form})", page(repository.where(org.dev_org_id, spec))))
            scan = page([incidents.c.dev_org_id == org.dev_org_id, from_json(name) == value])
            cases.append((f"{name} = {value}, JSON column, no index", scan))
        for label, query in cases:
            compiled = query.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})  # type: ignore[union-attr]
            elapsed, _ = await timed(lambda query=query: conn.execute(query))
            print(f"\n{label}: {elapsed:.1f} ms")
            for row in (await conn.exec_driver_sql(f"{explain} {compiled}")).all():
                print("  ", " | ".join(str(part) for part in row))
        sizes = sa.select(sa.func.count()).select_from(incident_custom_values)
        print(f"\nindex rows: {(await conn.execute(sizes)).scalar_one()}")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("database", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    parser.add_argument("--reuse", action="store_true", help="measure the database a --keep run left")
    args = parser.parse_args()
    cleanup = None
    if args.database == "sqlite":
        path = Path(tempfile.gettempdir()) / "incidentd-bench-custom-fields.db"
        if not args.reuse:
            for stale in path.parent.glob(path.name + "*"):
                stale.unlink()
        url = f"sqlite+aiosqlite:///{path}"
        if not args.keep:

            async def cleanup() -> None:
                for leftover in path.parent.glob(path.name + "*"):
                    leftover.unlink()

    else:
        admin_dsn = normalize_database_url(args.database).replace("postgresql+asyncpg://", "postgresql://")
        name = "incidentd_bench_custom_fields"
        if not args.reuse:
            connection = await asyncpg.connect(admin_dsn)
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
            await connection.close()
        url = sa.engine.make_url(normalize_database_url(args.database)).set(database=name).render_as_string(False)
        if not args.keep:

            async def cleanup() -> None:
                connection = await asyncpg.connect(admin_dsn)
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                await connection.close()

    db = database.Database(Settings(database_url=url, db_wait_seconds=120))
    try:
        if args.reuse:
            principal = await existing(db)
        else:
            await database.upgrade(db.engine)
            began = time.perf_counter()
            principal = await seed(db, args.count)
            print(f"{db.engine.dialect.name}: seeded {args.count} incidents in {time.perf_counter() - began:.0f} s\n")
        await measure(db, principal)
    finally:
        await db.dispose()
        if cleanup is not None:
            await cleanup()


if __name__ == "__main__":
    asyncio.run(main())
