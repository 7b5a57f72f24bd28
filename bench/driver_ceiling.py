"""Ceiling D: the fastest the database and its driver take the same rows, with no HTTP.

Creates: per transaction, the counter bump, one incident row, its six link rows (2 owners, 2 parts, 2 tags) and its
two custom values' index rows, inserted by incidentd's own repository function (on PostgreSQL one statement),
committed with the same settings incidentd uses (SQLite WAL + synchronous=FULL + BEGIN IMMEDIATE, or PostgreSQL
with synchronous_commit on), from 64 concurrent tasks. Rows: per transaction, one ~2 KB row (2,048 random bytes)
into a table of its own, committed the same way: the D of issue 20's create target, what the database takes
with nothing but one row and the commit. Every transaction is a unit of work of its own
(`Database.write(alone=True)`): SQLite's group commit would otherwise share one commit among the rows queued
behind another. Reads: one incident row and its links by number.
Runs for a fixed time (after an unmeasured warm-up) and prints JSON: {"row_per_s": ..., "create_per_s": ...,
"get_per_s": ...}.

    python bench/driver_ceiling.py --database-url URL --seconds 10 --warmup 3 --max-number 1000000 --org bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import sqlalchemy as sa

from incidentd.config import Settings
from incidentd.customization import service as stage_diagrams
from incidentd.db import Database
from incidentd.identity import service as identity
from incidentd.incidents import repository
from incidentd.kit import counters
from incidentd.kit.time import now_ms


async def run(url: str, seconds: float, warmup: float, concurrency: int, max_number: int, org_slug: str) -> dict:
    settings = Settings(database_url=url)
    db = Database(settings)
    rng = random.Random(5)
    async with db.read() as conn:
        org = await identity.find_org(conn, settings.don_partition, org_slug)
        diagram = await stage_diagrams.load_diagram(conn, org, "incident", None)
    dev_org_id, stage = org.dev_org_id, diagram.start
    done = {"row": 0, "create": 0, "get": 0}
    async with db.write() as conn:
        key = "INTEGER PRIMARY KEY" if db.is_sqlite else "BIGSERIAL PRIMARY KEY"
        blob = "BLOB" if db.is_sqlite else "BYTEA"
        await conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS bench_ceiling_rows (id {key}, body {blob} NOT NULL)"))
    row_statement = sa.text("INSERT INTO bench_ceiling_rows (body) VALUES (:body)")

    async def row_once() -> None:
        # alone: one row per transaction, never sharing a commit (SQLite's group commit)
        async with db.write(alone=True) as conn:
            await conn.execute(row_statement, {"body": rng.randbytes(2048)})

    custom_fields = {"tnt__region": "eu-west-1", "tnt__service": "checkout"}
    links = {"owned_by": [2, 3], "applies_to_parts": [1, 2], "tags": [(1, "eu"), (2, None)]}

    async def create_once() -> None:
        # The rows incidentd's create writes, written the way its repository writes them.
        async with db.write(alone=True) as conn:
            number = await counters.allocate(conn, dev_org_id, "incident")
            now = now_ms()
            values = {
                "dev_org_id": dev_org_id,
                "number": number,
                "title": "ceiling",
                "body": "driver ceiling row",
                "severity": 2,
                "reported_by": 1,
                "impact_count": 2,
                "stage_number": stage,
                "identified_date": now,
                "created_by": 1,
                "created_date": now,
                "modified_by": 1,
                "modified_date": now,
                "custom_fields": custom_fields,
            }
            await repository.insert(conn, values, links, custom_fields)

    async def get_once() -> None:
        number = rng.randint(1, max_number)
        async with db.read() as conn:
            await repository.get_many(conn, dev_org_id, [number])
            await repository.links(conn, dev_org_id, [number])

    async def loop(kind: str, operation, deadline: float) -> None:
        while time.perf_counter() < deadline:
            await operation()
            done[kind] += 1

    try:
        for kind, operation in (("row", row_once), ("create", create_once), ("get", get_once)):
            if warmup:  # unmeasured, as incidentd's scenarios are warmed up
                deadline = time.perf_counter() + warmup
                await asyncio.gather(*(loop(kind, operation, deadline) for _ in range(concurrency)))
                done[kind] = 0
            started = time.perf_counter()
            deadline = started + seconds
            await asyncio.gather(*(loop(kind, operation, deadline) for _ in range(concurrency)))
            done[kind] = done[kind] / (time.perf_counter() - started)
    finally:
        await db.dispose()
    return {"row_per_s": done["row"], "create_per_s": done["create"], "get_per_s": done["get"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-number", type=int, required=True)
    parser.add_argument("--org", default="bench")
    args = parser.parse_args()
    result = asyncio.run(run(args.database_url, args.seconds, args.warmup, args.concurrency, args.max_number, args.org))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
