"""CPU time of one incidents.create and one incidents.update, in-process, on a SQLite file or PostgreSQL (issue
20's write path).

    PYTHONPATH=src .venv/bin/python bench/write_cpu.py --count 400 --rounds 3 [--via service|app] [--profile FILE]
        [--tasks N] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Builds a fresh database in a temporary directory (migrations, an org with an admin, `--seed` seeded incidents for
the users, parts and tags the create points at), then runs `--count` creates (bench/run.py's create body: 2
owners, 2 parts, 2 tags, an impact, custom fields) and `--count` stage updates of random seeded incidents
(bench/run.py's update_stage), and prints the CPU milliseconds per operation (`time.process_time`: steadier than
wall time on a shared machine). Each round runs on a copy of the freshly seeded database, so rounds and trees
compare like with like; SQLite stays at synchronous=FULL and WAL (the server's defaults), so the commit's fsync is
wall time, not CPU, and is not counted.

`--tasks N` runs the creates (then the updates) from N tasks at once instead of one after another: how SQLite's
group commit shows in-process (with one task no write ever queues behind another).

`--via service` (the default) calls the incidents service with a decoded request, as a route does; `--via app`
posts the JSON through the Litestar app in-process (ASGI, no sockets), which adds the framework, the middleware
and the in-process client's own CPU: its `health` line is a GET /health through the same client, for scale.

To compare two trees, run this file against each (`git archive REV | tar -x -C /tmp/before` and
`PYTHONPATH=/tmp/before/src`), alternating; `--profile FILE` writes a cProfile of the creates of the last round.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import cProfile
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import sqlalchemy as sa
from run import create_body  # bench/run.py's create body: the same request

import incidentd
from incidentd import db as database
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.incidents import schemas, service
from incidentd.principal import ADMIN, Principal
from incidentd.seed.service import seed

# The tests' ASGI lifespan driver, as bench/web_board.py uses it.
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from conftest import running

SLUG = "bench"
EMAIL = "bench@incidentd.local"


def update_body(rng: random.Random, seeded: int) -> dict[str, Any]:
    """bench/run.py's update_stage body."""
    return {
        "id": f"INC-{rng.randint(1, seeded)}",
        "stage": {"stage": rng.choice(["fixing", "mitigated", "resolved"])},
        "stage_validation_options": ["allow_invalid_transition"],
    }


async def prepare(url: str, seeded: int) -> str:
    """Migrate, create the org with its admin and seed it; the admin's token."""
    db = database.Database(Settings(database_url=url))
    try:
        await database.upgrade(db.engine)
        async with db.write() as conn:
            org = await identity.create_org(conn, partition="dvrv-us-1", display_name="Bench", slug=SLUG)
            user = await identity.create_user(conn, org, email=EMAIL, full_name="Administrator", role=ADMIN)
            token = await identity.issue_token(conn, org, user.number, token_hint="bench")
        await seed(db, count=seeded, org_slug=SLUG, rng_seed=1)
        return str(token.secret)
    finally:
        await db.dispose()


async def run_round(
    url: str, token: str, args: argparse.Namespace, profile: cProfile.Profile | None
) -> dict[str, float]:
    settings = Settings(database_url=url, rate_limit_requests=0, webhook_delivery=False, log_level="warning")
    app = create_app(settings)
    headers = {"Authorization": token}
    result: dict[str, float] = {}
    transport = httpx.ASGITransport(app=app)
    async with (
        running(app),
        httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client,
    ):
        db: database.Database = app.state.db

        async def api(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = await client.post(path, json=body)
            assert answer.status_code < 300, answer.text
            return dict(answer.json())

        world = {
            "users": [u["id"] for u in (await api("/dev-users.list", {"limit": 5}))["dev_users"]][1:],
            "parts": [p["id"] for p in (await api("/parts.list", {"limit": 5}))["parts"]],
            "tags": [t["id"] for t in (await api("/tags.list", {"limit": 5}))["tags"]],
        }
        async with db.read() as conn:
            org = await identity.find_org(conn, settings.don_partition, SLUG)
            user = await identity.resolve_user(conn, org, EMAIL)
        principal = Principal(org, user.number, "dev_user", role=ADMIN)
        create_json = msgspec.json.encode(create_body(world))
        rng = random.Random(7)
        update_jsons = [msgspec.json.encode(update_body(rng, args.seed)) for _ in range(args.count)]

        async def create() -> None:
            if args.via == "service":
                request = msgspec.json.decode(create_json, type=schemas.IncidentsCreateRequest)
                await service.create(db, principal, request)
            else:
                answer = await client.post("/incidents.create", content=create_json)
                assert answer.status_code == 201, answer.text

        async def update(body: bytes) -> None:
            if args.via == "service":
                await service.update(db, principal, msgspec.json.decode(body, type=schemas.IncidentsUpdateRequest))
            else:
                answer = await client.post("/incidents.update", content=body)
                assert answer.status_code == 200, answer.text

        async def health() -> None:
            answer = await client.get("/health")
            assert answer.status_code == 200, answer.text

        for _ in range(args.warmup):  # the process's memos, the page cache, the compiled statement cache
            await create()
            await update(update_jsons[0])

        async def from_tasks(operation: Callable[[Any], Awaitable[None]], items: Iterable[Any]) -> None:
            """Every item through `operation`, from `--tasks` tasks at once (SQLite's group commit shares one
            commit among the writes that queue behind another: with one task nothing ever queues)."""
            queue = iter(items)

            async def task() -> None:
                for item in queue:
                    await operation(item)

            await asyncio.gather(*(task() for _ in range(args.tasks)))

        started = time.process_time()
        if profile is not None:
            profile.enable()
        await from_tasks(lambda _: create(), range(args.count))
        if profile is not None:
            profile.disable()
        result["create"] = (time.process_time() - started) * 1000 / args.count
        started = time.process_time()
        await from_tasks(update, update_jsons)
        result["update"] = (time.process_time() - started) * 1000 / args.count
        if args.via == "app":
            started = time.process_time()
            for _ in range(args.count):
                await health()
            result["health"] = (time.process_time() - started) * 1000 / args.count
    return result


class SQLiteFiles:
    """The template and each round's copy as files in the work directory."""

    def __init__(self, work: Path) -> None:
        self._work = work

    def template(self) -> str:
        return f"sqlite:///{self._work / 'template.db'}"

    def copy(self, index: int) -> str:
        copy = self._work / f"round{index}.db"
        shutil.copyfile(self._work / "template.db", copy)
        return f"sqlite:///{copy}"


class PostgresDatabases:
    """The template and each round's copy as databases on a PostgreSQL server (CREATE DATABASE ... TEMPLATE)."""

    def __init__(self, server_url: str) -> None:
        self._server = sa.engine.make_url(server_url).set(drivername="postgresql")
        self._names: list[str] = []
        atexit.register(self._drop_all)

    def _admin(self, *statements: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self._server.render_as_string(hide_password=False))
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(run())

    def _fresh(self, name: str, template: str | None = None) -> str:
        self._admin(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""),
        )
        self._names.append(name)
        return self._server.set(database=name).render_as_string(hide_password=False)

    def template(self) -> str:
        return self._fresh(f"write_cpu_{os.getpid()}_template")

    def copy(self, index: int) -> str:
        return self._fresh(f"write_cpu_{os.getpid()}_{index}", template=f"write_cpu_{os.getpid()}_template")

    def _drop_all(self) -> None:
        self._admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in reversed(self._names)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=400, help="creates and updates per round (default 400)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each on a fresh copy (default 3)")
    parser.add_argument("--seed", type=int, default=2000, help="incidents seeded first (default 2000)")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured creates and updates first (default 20)")
    parser.add_argument("--via", choices=("service", "app"), default="service")
    parser.add_argument("--tasks", type=int, default=1, help="creates (and updates) run from this many tasks at once")
    parser.add_argument("--profile", help="write a cProfile of the last round's creates here")
    parser.add_argument("--label", default="", help="a name for this tree in the output")
    parser.add_argument(
        "--postgres",
        help="a PostgreSQL server URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres) to run on instead of a "
        "SQLite file: a template database and a copy per round, dropped at the end",
    )
    args = parser.parse_args()
    print(f"incidentd from {Path(incidentd.__file__).parent}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="write_cpu-") as work:
        databases = SQLiteFiles(Path(work)) if args.postgres is None else PostgresDatabases(args.postgres)
        token = asyncio.run(prepare(databases.template(), args.seed))
        rows: list[dict[str, float]] = []
        for index in range(args.rounds):
            last = index == args.rounds - 1
            # CPU time, not wall time: a commit's wait for the disk is not the server's work (nor, on PostgreSQL,
            # the server's work at all: only this process's is counted).
            profile = cProfile.Profile(time.process_time) if args.profile and last else None
            rows.append(asyncio.run(run_round(databases.copy(index), token, args, profile)))
            if profile is not None:
                profile.dump_stats(args.profile)
            print(args.label, f"round {index + 1}:", {k: round(v, 3) for k, v in rows[-1].items()}, flush=True)
    for key in rows[0]:
        values = [row[key] for row in rows]
        print(f"{args.label} {key}: CPU ms/op median {statistics.median(values):.3f} (min {min(values):.3f})")


if __name__ == "__main__":
    main()
