"""What one incidents.search request costs as an org grows: two-word queries over the seeded incidents, one
request at a time (one connection), through the service layer (parsing, the ranked match, rendering the page of
50, snippets; everything but HTTP), on SQLite or PostgreSQL.

Seeds the org in steps with the project's seeder (`incidentd seed`: titles `<service>: <symptom>`, so a query for a
service and a symptom word matches about 1/80 of the org, one for two symptom words about 1/10), and after each
step runs every query --runs times (after --warmup runs not counted: a serving process has compiled its
statements), printing p50 / p99 / max and this process's CPU per query, and p50 / p99 over all of them:

    .venv/bin/python bench/search.py sqlite --counts 100000,300000
    .venv/bin/python bench/search.py postgresql://postgres@127.0.0.1:5432/postgres --counts 100000

A PostgreSQL URL names a server: the script creates (and unless --keep, drops) its own database there; SQLite
uses a file in the temporary directory, or --sqlite-file. To seed a large org once and measure it again (another
commit's code, through PYTHONPATH), keep the database and reuse it: seeding continues from the incidents it holds,
and --runs 0 only seeds:

    .venv/bin/python bench/search.py sqlite --sqlite-file /tmp/search-1m.db --counts 1000000 --runs 0
    .venv/bin/python bench/search.py sqlite --sqlite-file /tmp/search-1m.db --counts 1000000 --runs 20
    .venv/bin/python bench/search.py postgresql://postgres@127.0.0.1:5432/postgres --reuse --keep --counts 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import tempfile
import time
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from incidentd import db as database
from incidentd.config import Settings, normalize_database_url
from incidentd.identity import service as identity
from incidentd.incidents import searching
from incidentd.incidents.search_schemas import IncidentsSearchRequest
from incidentd.principal import ADMIN, Principal
from incidentd.seed import repository as seed_repository
from incidentd.seed.service import seed

QUERIES = ("payments latency", "checkout deploy", "auth certif", "database failover")
NAME = "incidentd_bench_search"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * p // 100) - 1))]


async def measure(db: database.Database, principal: Principal, runs: int, warmup: int) -> None:
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"    {when}, load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}", flush=True)
    every: list[float] = []
    for query in QUERIES:
        request = IncidentsSearchRequest(query=query)
        for _ in range(warmup):
            await searching.search_incidents(db, principal, request)
        times, found = [], 0
        cpu = time.process_time()
        for _ in range(runs):
            started = time.perf_counter()
            page = await searching.search_incidents(db, principal, request)
            times.append((time.perf_counter() - started) * 1000)
            found = len(page.results)
        cpu = (time.process_time() - cpu) * 1000 / runs
        every += times
        print(
            f"    {query!r:22} p50 {percentile(times, 50):7.1f} ms  p99 {percentile(times, 99):7.1f} ms  "
            f"max {max(times):7.1f} ms  this process's CPU {cpu:5.1f} ms  ({found} on the first page)",
            flush=True,
        )
    print(
        f"    all queries          p50 {percentile(every, 50):7.1f} ms  p99 {percentile(every, 99):7.1f} ms", flush=True
    )


async def main(arguments: argparse.Namespace) -> None:
    target = arguments.database
    if target == "sqlite":
        path = Path(arguments.sqlite_file) if arguments.sqlite_file else Path(tempfile.mkdtemp()) / "search.db"
        url = f"sqlite+aiosqlite:///{path}"
        admin_dsn = None
    else:
        admin_dsn = normalize_database_url(target).replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(admin_dsn)
        name = arguments.name
        exists = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
        if not (arguments.reuse and exists):
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = sa.engine.make_url(normalize_database_url(target)).set(database=name).render_as_string(False)
    db = database.Database(Settings(database_url=url, auto_migrate=False))
    try:
        await database.upgrade(db.engine)
        principal = await _admin(db)
        async with db.read() as conn:
            seeded = int((await conn.execute(sa.text("SELECT count(*) FROM incidents"))).scalar_one())
        print(f"database: {target} ({seeded:,} incidents already)", flush=True)
        for count in [int(value) for value in arguments.counts.split(",")]:
            if count > seeded:
                started = time.perf_counter()
                await seed(db, count=count - seeded, rng_seed=count)
                print(
                    f"  seeded {count - seeded:,} more incidents in {time.perf_counter() - started:.0f} s", flush=True
                )
                seeded = count
            if arguments.runs:
                print(f"  {seeded:,} incidents, {arguments.runs} runs per query:", flush=True)
                await measure(db, principal, arguments.runs, arguments.warmup)
    finally:
        await db.dispose()
        if admin_dsn is not None and not arguments.keep:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{arguments.name}" WITH (FORCE)')
            await conn.close()


async def _admin(db: database.Database) -> Principal:
    """The bench org's admin: made on a new database, found on a reused one."""
    created = await identity.bootstrap(db, admin_email="admin@bench.test")
    if created is not None:
        return Principal(created.org, created.admin_number, "dev_user", role=ADMIN)
    async with db.read() as conn:
        org = await identity.find_org(conn, db.settings.don_partition, None)
        admin = await seed_repository.first_dev_user(conn, org.dev_org_id)
    assert admin is not None
    return Principal(org, admin, "dev_user", role=ADMIN)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--counts", default="100000,300000,1000000", help="org sizes to measure at, ascending")
    parser.add_argument("--runs", type=int, default=50, help="runs of each query; 0: only seed")
    parser.add_argument("--warmup", type=int, default=1, help="runs of each query before those measured")
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="PostgreSQL: continue with the database if it exists")
    parser.add_argument("--name", default=NAME, help="PostgreSQL: the database the script makes (or reuses)")
    parser.add_argument("--sqlite-file", help="SQLite: the database file (kept; reused if it exists)")
    asyncio.run(main(parser.parse_args()))
