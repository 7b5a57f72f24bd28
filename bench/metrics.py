"""What one incidents.metrics request costs as an org grows: a year of incidents by week and severity (about
53 weeks x 5 severities), once by created date and once by close date, on SQLite or PostgreSQL, measured through
the service layer (filters, the one SQL statement, group keys; everything but HTTP).

Seeds the org in steps with the project's seeder (`incidentd seed`: two years of incidents, every stage with its
dates), and after each step times the request (best and median of --runs, after --warmup runs not counted) and
this process's CPU per request (all of SQLite's work; on PostgreSQL the server's is not in it):

    .venv/bin/python bench/metrics.py sqlite --counts 100000,300000,1000000
    .venv/bin/python bench/metrics.py postgresql://postgres@127.0.0.1:5432/postgres --counts 100000,300000

The database is made or reused as bench/seeded.py says (--keep, --reuse, --sqlite-file), so a 1,000,000-incident
org is seeded once and measured again with another commit's code:

    .venv/bin/python bench/metrics.py sqlite --sqlite-file /tmp/metrics-1m.db --counts 1000000 --runs 0
    PYTHONPATH=src .venv/bin/python bench/metrics.py sqlite --sqlite-file /tmp/metrics-1m.db --counts 1000000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from seeded import add_database_arguments, bench_admin, bench_database, incident_count, machine_line, seed_up_to

from incidentd import db as database
from incidentd.incidents import metrics
from incidentd.incidents.metrics_schemas import IncidentsMetricsRequest
from incidentd.incidents.schemas import DateFilter
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.principal import Principal

YEAR_MS = 365 * 86_400_000
NAME = "incidentd_bench_metrics"


async def measure(db: database.Database, principal: Principal, runs: int, warmup: int) -> None:
    """Time a year by week and severity, bucketed by created date and by close date: best, median, CPU, cells."""
    now = now_ms()
    year = DateFilter(type="range", after=to_rfc3339(now - YEAR_MS), before=to_rfc3339(now))
    requests = {
        "created_date": IncidentsMetricsRequest(created_date=year, group_by="severity", bucket="week"),
        "actual_close_date": IncidentsMetricsRequest(
            actual_close_date=year, group_by="severity", bucket="week", bucket_date="actual_close_date"
        ),
    }
    for date, request in requests.items():
        for _ in range(warmup):
            await metrics.incident_metrics(db, principal, request)
        times, cpu, cells, counted = [], [], 0, 0
        for _ in range(runs):
            started, started_cpu = time.perf_counter(), time.process_time()
            answer = await metrics.incident_metrics(db, principal, request)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            cells, counted = len(answer), sum(entry.count for entry in answer)
        print(
            f"    {date:17}  best {min(times) * 1000:6.0f} ms, median {statistics.median(times) * 1000:6.0f} ms, "
            f"CPU median {statistics.median(cpu) * 1000:6.0f} ms ({cells} week x severity cells, "
            f"{counted:,} incidents; {machine_line()})",
            flush=True,
        )


async def main(arguments: argparse.Namespace) -> None:
    async with bench_database(arguments) as db:
        principal = await bench_admin(db)
        seeded = await incident_count(db)
        print(f"  {seeded:,} incidents already", flush=True)
        for count in [int(value) for value in arguments.counts.split(",")]:
            seeded = await seed_up_to(db, seeded, count)
            if arguments.runs:
                print(f"  {seeded:,} incidents, {arguments.runs} runs:", flush=True)
                await measure(db, principal, arguments.runs, arguments.warmup)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_arguments(parser, NAME)
    parser.add_argument("--counts", default="100000,300000,1000000", help="org sizes to measure at, ascending")
    parser.add_argument("--runs", type=int, default=3, help="timed requests at each size; 0: only seed")
    parser.add_argument("--warmup", type=int, default=1, help="requests before those timed")
    asyncio.run(main(parser.parse_args()))
