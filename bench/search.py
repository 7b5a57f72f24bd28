"""What one incidents.search request costs as an org grows: two-word queries over the seeded incidents, one
request at a time (one connection), through the service layer (parsing, the ranked match, rendering the page of
50, snippets; everything but HTTP), on SQLite or PostgreSQL.

Seeds the org in steps with the project's seeder (`incidentd seed`: titles `<service>: <symptom>`, so a query for a
service and a symptom word matches about 1/80 of the org, one for two symptom words about 1/10), and after each
step runs every query --runs times, printing p50 / p99 / max per query and over all of them:

    .venv/bin/python bench/search.py sqlite --counts 100000,300000
    .venv/bin/python bench/search.py postgresql://postgres@127.0.0.1:5432/postgres --counts 100000

A PostgreSQL URL names a server: the script creates (and unless --keep, drops) its own database there; SQLite
uses a file in the temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
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
from incidentd.seed.service import seed

QUERIES = ("payments latency", "checkout deploy", "auth certif", "database failover")
NAME = "incidentd_bench_search"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * p // 100) - 1))]


async def measure(db: database.Database, principal: Principal, runs: int) -> None:
    every: list[float] = []
    for query in QUERIES:
        times, found = [], 0
        for _ in range(runs):
            started = time.perf_counter()
            page = await searching.search_incidents(db, principal, IncidentsSearchRequest(query=query))
            times.append((time.perf_counter() - started) * 1000)
            found = len(page.results)
        every += times
        print(
            f"    {query!r:22} p50 {percentile(times, 50):7.1f} ms  p99 {percentile(times, 99):7.1f} ms  "
            f"max {max(times):7.1f} ms  ({found} on the first page)",
            flush=True,
        )
    print(
        f"    all queries          p50 {percentile(every, 50):7.1f} ms  p99 {percentile(every, 99):7.1f} ms", flush=True
    )


async def main(arguments: argparse.Namespace) -> None:
    target = arguments.database
    if target == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'search.db'}"
        admin_dsn = None
    else:
        admin_dsn = normalize_database_url(target).replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{NAME}"')
        await conn.close()
        url = sa.engine.make_url(normalize_database_url(target)).set(database=NAME).render_as_string(False)
    db = database.Database(Settings(database_url=url, auto_migrate=False))
    try:
        await database.upgrade(db.engine)
        created = await identity.bootstrap(db, admin_email="admin@bench.test")
        assert created is not None
        principal = Principal(created.org, created.admin_number, "dev_user", role=ADMIN)
        seeded = 0
        print(f"database: {target}", flush=True)
        for count in [int(value) for value in arguments.counts.split(",")]:
            started = time.perf_counter()
            await seed(db, count=count - seeded, rng_seed=count)
            print(f"  seeded {count - seeded:,} more incidents in {time.perf_counter() - started:.0f} s", flush=True)
            seeded = count
            print(f"  {seeded:,} incidents, {arguments.runs} runs per query:", flush=True)
            await measure(db, principal, arguments.runs)
    finally:
        await db.dispose()
        if admin_dsn is not None and not arguments.keep:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--counts", default="100000,300000,1000000", help="org sizes to measure at, ascending")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the database afterwards")
    asyncio.run(main(parser.parse_args()))
