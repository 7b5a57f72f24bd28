"""Many orgs on a Citus cluster next to a single PostgreSQL, in one run: create, get, list and group per org.

    scripts/citus-cluster build && scripts/citus-cluster start 2
    .venv/bin/python bench/citus.py                        # 1,000 orgs x 1,000 incidents, 10 s per scenario
    .venv/bin/python bench/citus.py --orgs 100 --seconds 3   # a smoke run

For each target (the single PostgreSQL at BENCH_POSTGRES_URL, the Citus coordinator at BENCH_CITUS_URL) it makes a
database `incidentd_bench_orgs` (on Citus on every node, with the extension, as the tests do), runs
`incidentd db upgrade` (on Citus that distributes the schema), seeds one org with `incidentd seed` (1,000 realistic
incidents with owners, tags, parts, timeline), then copies that org's rows to the other orgs in bulk SQL, table by
table (`INSERT ... SELECT` joined with the new orgs: minutes, where seeding each org through the API would take
hours), and issues one token per org. Then `incidentd serve --workers 2` with Redis rate limits
(INCIDENTD_RATE_LIMIT_STORAGE=redis://127.0.0.1:6379/0) is driven by wrk (one thread, 64 connections, a fixed
duration), every request for a random org with that org's token. Loopback only; every load is bounded in time.
Results go to stdout and bench/results/citus-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from run import GROUP_PATH, INCIDENTD, ROOT, WRK_REPORT, free_port, server, settle, wrk

PG_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CITUS_URL = os.environ.get("BENCH_CITUS_URL", "postgresql://postgres@127.0.0.1:9700/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE = "incidentd_bench_orgs"
# Wait at most this long for the machine to go quiet between scenarios (a shared machine may never be idle).
SETTLE_SECONDS = 10.0
WARM_UP_SECONDS = 3.0
# Rows copied per org: everything of the seeded org but its secrets (token, session and link hashes are unique)
# and its idempotency records; each org gets its own token afterwards.
NOT_COPIED = frozenset({"auth_tokens", "web_sessions", "login_links", "idempotency_keys", "alembic_version"})


def _url(server_url: str, database: str) -> str:
    return sa.engine.make_url(server_url).set(database=database).render_as_string(hide_password=False)


async def _execute(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def create_database(server_url: str) -> str:
    """A new empty database; on a Citus coordinator also on every worker, with the extension, workers added."""
    await _execute(server_url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    conn = await asyncpg.connect(server_url)
    try:
        citus = bool(await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'citus'"))
        workers = await conn.fetch("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid > 0") if citus else []
    finally:
        await conn.close()
    for row in workers:
        worker = f"postgresql://postgres@{row['nodename']}:{row['nodeport']}/postgres"
        await _execute(worker, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"')
        await _execute(_url(worker, DATABASE), "CREATE EXTENSION citus")
    await _execute(server_url, f'CREATE DATABASE "{DATABASE}"')
    if citus:
        coordinator = sa.engine.make_url(server_url)
        await _execute(
            _url(server_url, DATABASE),
            "CREATE EXTENSION citus",
            f"SELECT citus_set_coordinator_host('{coordinator.host}', {coordinator.port})",
            *(f"SELECT citus_add_node('{row['nodename']}', {row['nodeport']})" for row in workers),
        )
    return _url(server_url, DATABASE)


def incidentd(url: str, *args: str) -> str:
    env = {**os.environ, "INCIDENTD_DATABASE_URL": url}
    return subprocess.run([*INCIDENTD, *args], env=env, check=True, capture_output=True, text=True, cwd=ROOT).stdout


# Parents before children: a table comes after every table its foreign keys point at.
_PARENTS_FIRST = """
WITH RECURSIVE tables AS (
    SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
), depth(oid, level) AS (
    SELECT oid, 0 FROM tables
    UNION ALL
    SELECT con.confrelid, depth.level + 1 FROM depth
    JOIN pg_constraint con ON con.contype = 'f' AND con.conrelid = depth.oid AND con.confrelid <> depth.oid
    WHERE depth.level < 20
)
SELECT t.relname FROM tables t JOIN depth d ON d.oid = t.oid GROUP BY t.relname ORDER BY max(d.level) DESC, t.relname
"""


async def copy_org(url: str, orgs: int) -> None:
    """Orgs o1..o{orgs-1}, each with a copy of o0's rows in every org-keyed table (one statement per table)."""
    conn = await asyncpg.connect(url)
    try:
        template = await conn.fetchval("SELECT id FROM dev_orgs WHERE slug = 'o0'")
        await conn.execute(
            "INSERT INTO dev_orgs (slug, display_name, created_date) "
            "SELECT 'o' || n, 'org ' || n, (SELECT created_date FROM dev_orgs WHERE id = $1) "
            "FROM generate_series(1, $2 - 1) AS n",
            template,
            orgs,
        )
        for table in [row["relname"] for row in await conn.fetch(_PARENTS_FIRST)]:
            columns = [
                row["attname"]
                for row in await conn.fetch(
                    "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 "
                    "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
                    table,
                )
            ]
            if table in NOT_COPIED or "dev_org_id" not in columns:
                continue
            listed = ", ".join(f'"{column}"' for column in columns)
            chosen = ", ".join("o.id" if column == "dev_org_id" else f't."{column}"' for column in columns)
            started = time.perf_counter()
            copied = await conn.execute(
                f'INSERT INTO "{table}" ({listed}) SELECT {chosen} FROM "{table}" t '
                "JOIN dev_orgs o ON o.id <> $1 WHERE t.dev_org_id = $1",
                template,
            )
            print(f"    {table}: {copied.split()[-1]} rows in {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        await conn.close()


async def issue_tokens(url: str, orgs: int) -> list[str]:
    """One token per org, for the copied admin (user 1 of every org)."""
    from incidentd import db as database
    from incidentd.config import Settings
    from incidentd.identity import service as identity
    from incidentd.principal import OrgScope

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        rows = await conn.fetch("SELECT id, slug FROM dev_orgs ORDER BY id")
    finally:
        await conn.close()
    assert len(rows) == orgs, f"{len(rows)} orgs, {orgs} wanted"
    db = database.Database(Settings(database_url=url, auto_migrate=False))
    tokens = []
    try:
        for start in range(0, len(rows), 100):
            async with db.write() as write:
                for row in rows[start : start + 100]:
                    scope = OrgScope(row["id"], row["slug"], db.settings.don_partition)
                    tokens.append((await identity.issue_token(write, scope, 1)).secret)
    finally:
        await db.dispose()
    return tokens


def lua(tokens: list[str], request: str) -> str:
    """A wrk script whose every request is for a random org, with that org's token."""
    listed = ", ".join(f'"{token}"' for token in tokens)
    return (
        f"local tokens = {{{listed}}}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        "request = function()\n"
        '  wrk.headers["Authorization"] = tokens[math.random(1, #tokens)]\n'
        f"  {request}\n"
        "end\n" + WRK_REPORT
    )


def scenarios(tokens: list[str], per_org: int) -> dict[str, str]:
    create = json.dumps({"title": "checkout: elevated 5xx rate", "body": "Card payments fail.", "severity": 2})
    create = create.replace('"', '\\"')
    group = GROUP_PATH.split('"')[1]
    return {
        "get": lua(tokens, f'return wrk.format("GET", "/incidents.get?id=INC-" .. math.random(1, {per_org}))'),
        "list": lua(tokens, 'return wrk.format("GET", "/incidents.list?severity=2,3&limit=50")'),
        "group": lua(tokens, f'return wrk.format("GET", "{group}")'),
        "create": lua(tokens, f'return wrk.format("POST", "/incidents.create", nil, "{create}")'),
    }


def prepare(server_url: str, orgs: int, per_org: int) -> tuple[str, list[str], dict[str, float]]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    url = asyncio.run(create_database(server_url))
    incidentd(url, "db", "upgrade")
    timings["schema_s"] = time.perf_counter() - started
    started = time.perf_counter()
    incidentd(url, "org", "create", "Bench", "--slug", "o0", "--admin-email", "bench@incidentd.local")
    incidentd(url, "seed", "--count", str(per_org), "--org", "o0", "--random-seed", "1")
    timings["seed_one_org_s"] = time.perf_counter() - started
    started = time.perf_counter()
    asyncio.run(copy_org(url.replace("postgresql+asyncpg://", "postgresql://"), orgs))
    timings["copy_to_orgs_s"] = time.perf_counter() - started
    # The copies are minutes of inserts with no statistics yet: without them the planner picks plans for empty
    # tables (a first 1,000,000-incident run measured PostgreSQL gets at 38/s before autovacuum got there).
    # On Citus the coordinator passes VACUUM and ANALYZE on to every shard.
    started = time.perf_counter()
    asyncio.run(_execute(url.replace("postgresql+asyncpg://", "postgresql://"), "VACUUM ANALYZE"))
    timings["vacuum_analyze_s"] = time.perf_counter() - started
    started = time.perf_counter()
    tokens = asyncio.run(issue_tokens(url, orgs))
    timings["tokens_s"] = time.perf_counter() - started
    return url, tokens, timings


async def sessions(url: str) -> int:
    """Connections opened to the database so far (the server it is on counts them: pg_stat_database)."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = current_database()"))
    finally:
        await conn.close()


def measure(url: str, tokens: list[str], per_org: int, seconds: float, overflow: int | None) -> dict[str, Any]:
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("INCIDENTD_")},
        "INCIDENTD_DATABASE_URL": url,
        "INCIDENTD_RATE_LIMIT_STORAGE": REDIS_URL,
        "INCIDENTD_LOG_LEVEL": "warning",
        "INCIDENTD_AUTO_MIGRATE": "false",
    }
    if overflow is not None:
        env["INCIDENTD_DB_POOL_OVERFLOW"] = str(overflow)
    command = [*INCIDENTD, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    results = {}
    with server(command, env, f"http://127.0.0.1:{port}/ready"):
        # Not measured: the pools fill (a new connection's first queries look its types up, 0.5 s on Citus).
        wrk(f"http://127.0.0.1:{port}", scenarios(tokens, per_org)["get"], WARM_UP_SECONDS)
        for name, script in scenarios(tokens, per_org).items():
            settle(timeout=SETTLE_SECONDS)
            opened = asyncio.run(sessions(url))
            results[name] = wrk(f"http://127.0.0.1:{port}", script, seconds)
            row = results[name]
            # Each of these is one connection the pools opened during the scenario (and one more: this count's own).
            row["connections_opened"] = asyncio.run(sessions(url)) - opened - 1
            print(
                f"    {name:7} {row['rps']:8.0f} req/s  p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:7.1f} ms  "
                f"errors {row['errors']} non-2xx {row['non_2xx']}  connections opened {row['connections_opened']}",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=1000)
    parser.add_argument("--incidents-per-org", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument("--targets", default="postgresql,citus")
    parser.add_argument(
        "--pool-overflows",
        default="",
        help="comma-separated INCIDENTD_DB_POOL_OVERFLOW values, each measured in turn on every target "
        "(default: the server's own setting)",
    )
    parser.add_argument(
        "--token-orgs",
        type=int,
        default=0,
        help="drive only this many orgs (their tokens stay in each API process's token cache; 0: every org)",
    )
    args = parser.parse_args()
    run: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "orgs": args.orgs,
        "incidents_per_org": args.incidents_per_org,
        "seconds_per_scenario": args.seconds,
        "token_orgs": args.token_orgs or args.orgs,
        "targets": {},
    }
    for target in args.targets.split(","):
        server_url = {"postgresql": PG_URL, "citus": CITUS_URL}[target]
        print(f"== {target}: {args.orgs} orgs x {args.incidents_per_org} incidents", flush=True)
        url, tokens, timings = prepare(server_url, args.orgs, args.incidents_per_org)
        print(f"  prepared: {json.dumps({k: round(v, 1) for k, v in timings.items()})}", flush=True)
        tokens = tokens[: args.token_orgs] if args.token_orgs else tokens
        overflows = [int(value) for value in args.pool_overflows.split(",") if value] or [None]
        run["targets"][target] = {"prepare": timings, "runs": []}
        for overflow in overflows:
            print(f"  INCIDENTD_DB_POOL_OVERFLOW={'default' if overflow is None else overflow}", flush=True)
            scenarios_run = measure(url, tokens, args.incidents_per_org, args.seconds, overflow)
            run["targets"][target]["runs"].append({"pool_overflow": overflow, "scenarios": scenarios_run})
    out = ROOT / "bench" / "results" / f"citus-{run['started'].replace(':', '')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(run, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
