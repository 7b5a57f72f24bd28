"""One large seeded org for the benchmarks that time single requests (bench/search.py, bench/metrics.py): the
database made or reused, the org's admin, and seeding in steps with the project's seeder.

A PostgreSQL URL names a server: the script creates (and unless --keep, drops) its own database there, or with
--reuse continues with it; SQLite uses a file in the temporary directory, or --sqlite-file (kept, reused if it
exists). Seeding continues from the incidents the database holds, so a large org is seeded once and measured
again with another commit's code (through PYTHONPATH).
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import sqlalchemy as sa

from incidentd import db as database
from incidentd.config import Settings, normalize_database_url
from incidentd.identity import service as identity
from incidentd.principal import ADMIN, Principal
from incidentd.seed import repository as seed_repository
from incidentd.seed.service import seed


def add_database_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("database", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--keep", action="store_true", help="PostgreSQL: keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="PostgreSQL: continue with the database if it exists")
    parser.add_argument("--name", default=name, help="PostgreSQL: the database the script makes (or reuses)")
    parser.add_argument("--sqlite-file", help="SQLite: the database file (kept; reused if it exists)")


@asynccontextmanager
async def bench_database(arguments: argparse.Namespace) -> AsyncIterator[database.Database]:
    """The benchmark's database, upgraded to the current schema (a reused one too)."""
    target = arguments.database
    admin_dsn = None
    if target == "sqlite":
        path = Path(arguments.sqlite_file) if arguments.sqlite_file else Path(tempfile.mkdtemp()) / "bench.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        admin_dsn = normalize_database_url(target).replace("postgresql+asyncpg://", "postgresql://")
        conn = await asyncpg.connect(admin_dsn)
        exists = await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", arguments.name)
        if not (arguments.reuse and exists):
            await conn.execute(f'DROP DATABASE IF EXISTS "{arguments.name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{arguments.name}"')
        await conn.close()
        url = sa.engine.make_url(normalize_database_url(target)).set(database=arguments.name).render_as_string(False)
    db = database.Database(Settings(database_url=url, auto_migrate=False))
    try:
        started = time.perf_counter()
        await database.upgrade(db.engine)
        print(f"database: {target} (schema upgraded in {time.perf_counter() - started:.1f} s)", flush=True)
        yield db
    finally:
        await db.dispose()
        if admin_dsn is not None and not arguments.keep:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{arguments.name}" WITH (FORCE)')
            await conn.close()


async def bench_admin(db: database.Database) -> Principal:
    """The bench org's admin: made on a new database, found on a reused one."""
    created = await identity.bootstrap(db, admin_email="admin@bench.test")
    if created is not None:
        return Principal(created.org, created.admin_number, "dev_user", role=ADMIN)
    async with db.read() as conn:
        org = await identity.find_org(conn, db.settings.don_partition, None)
        admin = await seed_repository.first_dev_user(conn, org.dev_org_id)
    assert admin is not None
    return Principal(org, admin, "dev_user", role=ADMIN)


async def incident_count(db: database.Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(sa.text("SELECT count(*) FROM incidents"))).scalar_one())


async def seed_up_to(db: database.Database, seeded: int, count: int) -> int:
    """Seed the org from `seeded` to `count` incidents (nothing when it holds as many); the count it holds."""
    if count <= seeded:
        return seeded
    started = time.perf_counter()
    await seed(db, count=count - seeded, rng_seed=count)
    print(f"  seeded {count - seeded:,} more incidents in {time.perf_counter() - started:.0f} s", flush=True)
    await settle(db)
    return count


async def settle(db: database.Database) -> None:
    """PostgreSQL: what autovacuum does to a table in service, now (statistics for the planner, and the
    visibility map that lets an index-only scan skip the table), so that a freshly seeded database is measured in
    the state a serving one is in."""
    if db.engine.dialect.name != "postgresql":
        return
    started = time.perf_counter()
    async with db.engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(sa.text("VACUUM (ANALYZE)"))
    print(f"  vacuumed and analyzed in {time.perf_counter() - started:.0f} s", flush=True)


def machine_line() -> str:
    """When a measurement ran and how busy the machine was."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"{when}, load average {' '.join(f'{load:.2f}' for load in os.getloadavg())}"
