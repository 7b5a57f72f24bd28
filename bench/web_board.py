"""Server time of the web board's first page on SQLite, with as many incidents as a time budget seeds.

    .venv/bin/python bench/web_board.py --seconds 120 --repeat 30 [--database PATH]
    .venv/bin/python bench/web_board.py --seconds 60 --count 1000000 --repeat 50 --database PATH

Seeds an org with `incidentd seed`'s realistic incidents (batches of 5,000 until --seconds have passed; an
existing --database is reused and topped up). With --count, the seeded incidents are then copied in bulk SQL
(INSERT ... SELECT, with their owners, parts, tags, customers, articles and custom field rows, under fresh
numbers reserved from the org's counter) until the org holds --count: the same mix of stages, severities and
dates, N times as dense (a fast path: the seeder writes about 2,000 a second here, the copy about ten times as
many); then every incident's stored document is written (`incidents.documents.refresh`), as creates through
the API would have. Then it logs a user in through a one-time link, calls the app in-process (ASGI, no sockets:
server time only, rendering included) for each board request --repeat times and prints median, p90 and p99 in
milliseconds. The board's page is what a browser asks for first; its counts per stage and the polled rows are
separate requests (htmx), measured separately.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from incidentd import db as database
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.incidents import documents
from incidentd.incidents.repository import incident_number_ceiling
from incidentd.incidents.tables import incidents
from incidentd.kit import counters
from incidentd.logins import service as logins
from incidentd.seed.repository import LINK_TABLES
from incidentd.seed.service import seed

REQUESTS = {
    "board page (open, newest first)": "/web/incidents",
    "rows fragment (what htmx polls)": "/web/incidents/results?status=open&sort=created_date:desc",
    "board, open sev-0, most severe first": "/web/incidents?severity=sev-0&sort=severity:asc",
    "board, all incidents, title contains 'latency'": "/web/incidents?status=all&q=latency",
    "counts per stage (open)": "/web/incidents/counts?status=open",
    "counts per stage (all)": "/web/incidents/counts?status=all",
}
# The insights page runs incidents.metrics over every incident of its range: seconds at a million, so fewer runs.
INSIGHTS = {
    "insights, last 4 weeks": "/web/insights?weeks=4",
    "insights, last 12 weeks (the default)": "/web/insights",
}
INSIGHTS_REPEAT = 3


async def copy_until(db: database.Database, dev_org_id: int, target: int) -> int:
    """Copy the org's incidents 1..base (and their link rows) under new numbers until it holds `target`."""
    async with db.read() as conn:
        base = await incident_number_ceiling(conn, dev_org_id)
    have = base
    while have < target:
        chunk = min(base, target - have)
        async with db.write() as conn:
            first = await counters.allocate(conn, dev_org_id, "incident", chunk)
            offset = first - 1  # copy of incident n is n + offset
            picked = (incidents.c.dev_org_id == dev_org_id) & (incidents.c.number <= chunk)
            columns = [column.name for column in incidents.columns]
            await conn.execute(
                sa.insert(incidents).from_select(
                    columns,
                    sa.select(
                        *[(incidents.c.number + offset) if c == "number" else incidents.c[c] for c in columns]
                    ).where(picked),
                )
            )
            for table in LINK_TABLES.values():
                names = [column.name for column in table.columns]
                await conn.execute(
                    sa.insert(table).from_select(
                        names,
                        sa.select(
                            *[(table.c[c] + offset) if c == "incident_number" else table.c[c] for c in names]
                        ).where((table.c.dev_org_id == dev_org_id) & (table.c.incident_number <= chunk)),
                    )
                )
        have += chunk
        print(f"  copied up to {have:,} incidents")
    return have


async def main(path: Path, seconds: float, repeat: int, count: int | None) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", log_level="warning", sqlite_synchronous="NORMAL")
    db = database.Database(settings)
    await database.upgrade(db.engine)
    await identity.bootstrap(db, admin_email=settings.bootstrap_admin_email)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        await seed(db, count=5_000, batch=5_000)
    async with db.read() as conn:
        org = await identity.find_org(conn, settings.don_partition, "default")
        seeded = await incident_number_ceiling(conn, org.dev_org_id)
    print(f"{seeded:,} incidents seeded ({time.perf_counter() - started:.0f} s) in {path}")
    if count is not None and seeded < count:
        copying = time.perf_counter()
        await copy_until(db, org.dev_org_id, count)
        print(f"copied to {count:,} incidents in {time.perf_counter() - copying:.0f} s")
    # Copies (and a reused database's older incidents) lack stored answers; a server that took them through the
    # API would have them (incidents.documents).
    storing = time.perf_counter()
    stored = await documents.refresh(db, org)
    print(f"stored {stored:,} incident documents in {time.perf_counter() - storing:.0f} s")
    secret = await logins.issue_login_link(db, org, settings.bootstrap_admin_email)
    session = await logins.redeem_login_link(db, secret)
    await db.dispose()

    app = create_app(settings)
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from conftest import running  # the tests' ASGI lifespan driver

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            client.cookies.set("incidentd_session", session.secret)
            print(f"{'request':<48} {'median ms':>10} {'p90 ms':>8} {'p99 ms':>8} {'KB':>6}")
            measured = [(name, url, repeat) for name, url in REQUESTS.items()]
            measured += [(name, url, min(repeat, INSIGHTS_REPEAT)) for name, url in INSIGHTS.items()]
            for name, url, times in measured:
                timings = []
                size = 0
                for _ in range(times):
                    begun = time.perf_counter()
                    answer = await client.get(url)
                    timings.append((time.perf_counter() - begun) * 1000)
                    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
                    size = len(answer.content)
                timings.sort()
                p90, p99 = (timings[max(0, math.ceil(len(timings) * share) - 1)] for share in (0.9, 0.99))
                print(f"{name:<48} {statistics.median(timings):>10.1f} {p90:>8.1f} {p99:>8.1f} {size / 1024:>6.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to seed (default 120)")
    parser.add_argument("--repeat", type=int, default=30, help="requests per measured URL (default 30)")
    parser.add_argument("--count", type=int, help="then copy the seeded incidents in bulk until the org has this many")
    parser.add_argument("--database", type=Path, help="SQLite file to use (kept); default a temporary one")
    arguments = parser.parse_args()
    target = arguments.database or Path(tempfile.mkdtemp(prefix="incidentd-web-bench-")) / "bench.db"
    asyncio.run(main(target, arguments.seconds, arguments.repeat, arguments.count))
