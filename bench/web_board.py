"""Server time of the web board's first page on SQLite, with as many incidents as a time budget seeds.

    .venv/bin/python bench/web_board.py --seconds 120 --repeat 30 [--database PATH]

Seeds an org with `incidentd seed`'s realistic incidents (batches of 5,000 until --seconds have passed; an
existing --database is reused and topped up), logs a user in through a one-time link, then calls the app in-process
(ASGI, no sockets: server time only, rendering included) for each board request --repeat times and prints
median and p90 in milliseconds. The board's page is what a browser asks for first; its counts per stage and
the polled rows are separate requests (htmx), measured separately.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from incidentd import db as database
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.incidents.repository import incident_number_ceiling
from incidentd.logins import service as logins
from incidentd.seed.service import seed

REQUESTS = {
    "board page (open, newest first)": "/web/incidents",
    "rows fragment (what htmx polls)": "/web/incidents/results?status=open&sort=created_date:desc",
    "board, open sev-0, most severe first": "/web/incidents?severity=sev-0&sort=severity:asc",
    "board, all incidents, title contains 'latency'": "/web/incidents?status=all&q=latency",
    "counts per stage (open)": "/web/incidents/counts?status=open",
    "counts per stage (all)": "/web/incidents/counts?status=all",
}


async def main(path: Path, seconds: float, repeat: int) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{path}", log_level="warning", sqlite_synchronous="NORMAL")
    db = database.Database(settings)
    await database.upgrade(db.engine)
    await identity.bootstrap(db, admin_email=settings.bootstrap_admin_email)
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        await seed(db, count=5_000, batch=5_000)
    async with db.read() as conn:
        org = await identity.find_org(conn, settings.don_partition, "default")
        count = await incident_number_ceiling(conn, org.dev_org_id)
    print(f"{count:,} incidents (seeded for {time.perf_counter() - started:.0f} s) in {path}")
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
            print(f"{'request':<48} {'median ms':>10} {'p90 ms':>8} {'KB':>6}")
            for name, url in REQUESTS.items():
                timings = []
                size = 0
                for _ in range(repeat):
                    begun = time.perf_counter()
                    answer = await client.get(url)
                    timings.append((time.perf_counter() - begun) * 1000)
                    assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
                    size = len(answer.content)
                timings.sort()
                p90 = timings[int(len(timings) * 0.9) - 1]
                print(f"{name:<48} {statistics.median(timings):>10.1f} {p90:>8.1f} {size / 1024:>6.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="how long to seed (default 120)")
    parser.add_argument("--repeat", type=int, default=30, help="requests per measured URL (default 30)")
    parser.add_argument("--database", type=Path, help="SQLite file to use (kept); default a temporary one")
    arguments = parser.parse_args()
    target = arguments.database or Path(tempfile.mkdtemp(prefix="incidentd-web-bench-")) / "bench.db"
    asyncio.run(main(target, arguments.seconds, arguments.repeat))
