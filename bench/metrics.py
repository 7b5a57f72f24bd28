"""What one incidents.metrics request costs as an org grows: a year of incidents by week and severity (about
53 weeks x 5 severities), on SQLite or PostgreSQL, measured through the service layer (filters, the one SQL
statement, group keys; everything but HTTP).

Seeds the org in steps with the project's seeder (`incidentd seed`: two years of incidents, every stage with its
dates), and after each step times the request (best and median of --runs):

    .venv/bin/python bench/metrics.py sqlite --counts 100000,300000,1000000
    .venv/bin/python bench/metrics.py postgresql://postgres@127.0.0.1:5432/postgres --counts 100000,300000

A PostgreSQL URL names a server: the script creates (and unless --keep, drops) its own database there; SQLite
uses a file in the temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from incidentd import db as database
from incidentd.config import Settings, normalize_database_url
from incidentd.identity import service as identity
from incidentd.incidents import metrics
from incidentd.incidents.metrics_schemas import IncidentsMetricsRequest
from incidentd.incidents.schemas import DateFilter
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.principal import ADMIN, Principal
from incidentd.seed.service import seed

YEAR_MS = 365 * 86_400_000


async def measure(db: database.Database, principal: Principal, runs: int) -> tuple[float, float, int]:
    """(best, median) seconds of the year-by-week-and-severity request, and how many cells it answered."""
    now = now_ms()
    request = IncidentsMetricsRequest(
        created_date=DateFilter(type="range", after=to_rfc3339(now - YEAR_MS), before=to_rfc3339(now)),
        group_by="severity",
        bucket="week",
    )
    times, cells = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        cells = len(await metrics.incident_metrics(db, principal, request))
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), cells


async def main(arguments: argparse.Namespace) -> None:
    target = arguments.database
    if target == "sqlite":
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'metrics.db'}"
        admin_dsn = None
    else:
        admin_dsn = normalize_database_url(target).replace("postgresql+asyncpg://", "postgresql://")
        name = "incidentd_bench_metrics"
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        url = sa.engine.make_url(normalize_database_url(target)).set(database=name).render_as_string(False)
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
            elapsed = time.perf_counter() - started
            print(f"  seeded {count - seeded:,} more incidents in {elapsed:.0f} s", flush=True)
            seeded = count
            best, median, cells = await measure(db, principal, arguments.runs)
            print(
                f"  {seeded:>9,} incidents: best {best * 1000:7.0f} ms, median {median * 1000:7.0f} ms "
                f"({cells} week x severity cells)",
                flush=True,
            )
    finally:
        await db.dispose()
        if admin_dsn is not None and not arguments.keep:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute('DROP DATABASE IF EXISTS "incidentd_bench_metrics" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--counts", default="100000,300000,1000000", help="org sizes to measure at, ascending")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the database afterwards")
    asyncio.run(main(parser.parse_args()))
