"""What one incidents.search request costs as an org grows: two-word queries over the seeded incidents, one
request at a time (one connection), through the service layer (parsing, the ranked match, rendering the page of
50, snippets; everything but HTTP), on SQLite or PostgreSQL.

Seeds the org in steps with the project's seeder (`incidentd seed`: titles `<service>: <symptom>`, so a query for a
service and a symptom word matches about 1/80 of the org, one for two symptom words about 1/10), and after each
step runs every query --runs times (after --warmup runs not counted: a serving process has compiled its
statements), printing p50 / p99 / max and this process's CPU per query, and p50 / p99 over all of them:

    .venv/bin/python bench/search.py sqlite --counts 100000,300000
    .venv/bin/python bench/search.py postgresql://postgres@127.0.0.1:5432/postgres --counts 100000

The database is made or reused as bench/seeded.py says (--keep, --reuse, --sqlite-file); --runs 0 only seeds:

    .venv/bin/python bench/search.py sqlite --sqlite-file /tmp/search-1m.db --counts 1000000 --runs 0
    .venv/bin/python bench/search.py sqlite --sqlite-file /tmp/search-1m.db --counts 1000000 --runs 20
    .venv/bin/python bench/search.py postgresql://postgres@127.0.0.1:5432/postgres --reuse --keep --counts 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import time

from seeded import add_database_arguments, bench_admin, bench_database, incident_count, machine_line, seed_up_to

from incidentd import db as database
from incidentd.incidents import searching
from incidentd.incidents.search_schemas import IncidentsSearchRequest
from incidentd.principal import Principal

QUERIES = ("payments latency", "checkout deploy", "auth certif", "database failover")
NAME = "incidentd_bench_search"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-len(ordered) * p // 100) - 1))]


async def measure(db: database.Database, principal: Principal, runs: int, warmup: int) -> None:
    print(f"    {machine_line()}", flush=True)
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
    async with bench_database(arguments) as db:
        principal = await bench_admin(db)
        seeded = await incident_count(db)
        print(f"  {seeded:,} incidents already", flush=True)
        for count in [int(value) for value in arguments.counts.split(",")]:
            seeded = await seed_up_to(db, seeded, count)
            if arguments.runs:
                print(f"  {seeded:,} incidents, {arguments.runs} runs per query:", flush=True)
                await measure(db, principal, arguments.runs, arguments.warmup)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser, NAME)
    parser.add_argument("--counts", default="100000,300000,1000000", help="org sizes to measure at, ascending")
    parser.add_argument("--runs", type=int, default=50, help="runs of each query; 0: only seed")
    parser.add_argument("--warmup", type=int, default=1, help="runs of each query before those measured")
    asyncio.run(main(parser.parse_args()))
