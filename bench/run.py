"""The incidentd benchmark: incidentd's throughput and latency next to the ceilings it runs under.

    .venv/bin/python bench/run.py                   # full: 1,000,000 incidents, SQLite and PostgreSQL, 1 and 2 workers
    .venv/bin/python bench/run.py --quick           # a smoke run: 20,000 incidents, 3 s per scenario

For each database and worker count it seeds an org (or copies the org seeded before: bench/results/seeds, or
--seed-cache), starts `incidentd serve`, and drives it with wrk
(Debian's `wrk`, one thread, 64 connections, fixed duration, Lua scripts below) — scenario by scenario. In the
same run it measures the ceilings: F, a minimal Litestar + msgspec app that decodes the same create body and
encodes a same-size incident (no database), served the same way; and D, the same rows written and read through
the same driver with no HTTP (bench/driver_ceiling.py). It prints each scenario's ratio to F and to the combined
bound 1/(1/F + 1/D), samples the server's resident memory per worker, and writes everything to
bench/results/<time>.json. Loopback only; every load is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
INCIDENTD = [PYTHON, "-m", "incidentd"]
PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONNECTIONS = 64
# Reads first, on the seeded incidents alone: after the writes, the first list page would hold the incidents the
# create scenario just wrote (consecutive numbers, their links side by side on disk), and comparing it with the page
# at depth 10,000 would measure that locality rather than the cursor.
RUN_ORDER = (
    "get",
    "list",
    "list_first_page",
    "list_depth_10000",
    "group",
    "group_1_connection",
    "search",
    "create",
    "update_stage",
    "mixed_70_read",
)
# Scenarios driven by fewer connections than CONNECTIONS.
SCENARIO_CONNECTIONS = {"group_1_connection": 1, "search": 1}
GROUP_PATH = 'wrk.path = "/incidents.group?group_by=severity&limit=10&limit_per_group=50"\n'

WRK_REPORT = r"""
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"seconds\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
    .. "\"errors\": %d, \"non_2xx\": %d}\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    errors, summary.errors.status))
end
"""


def lua(token: str, body: str) -> str:
    return (
        f'wrk.headers["Authorization"] = "{token}"\nwrk.headers["Content-Type"] = "application/json"\n'
        + body
        + WRK_REPORT
    )


def create_body(world: dict[str, Any]) -> dict[str, Any]:
    """The create scenario's body: 2 owners, 2 parts, 2 tags, an impact without artifacts, custom fields."""
    return {
        "title": "checkout: elevated 5xx rate",
        "body": "Card payments fail for a share of customers in eu-west-1.",
        "owned_by": world["users"][:2],
        "applies_to_parts": world["parts"][:2],
        "tags": [{"tag_id": world["tags"][0], "value": "eu"}, {"tag_id": world["tags"][1]}],
        "impact": {"count": 2},
        "severity": 2,
        "reported_by": 1,
        "custom_fields": {"tnt__region": "eu-west-1", "tnt__service": "checkout"},
        "custom_schema_spec": {"tenant_fragment": True},
    }


def scenarios(token: str, world: dict[str, Any], count: int, deep_cursor: str) -> dict[str, str]:
    create_body_lua = json.dumps(create_body(world)).replace('"', '\\"')
    random_id = f'"INC-" .. math.random(1, {count})'
    return {
        "create": lua(token, f'wrk.method = "POST"\nwrk.path = "/incidents.create"\nwrk.body = "{create_body_lua}"\n'),
        "get": lua(
            token, f'request = function()\n  return wrk.format("GET", "/incidents.get?id=" .. {random_id})\nend\n'
        ),
        "list": lua(
            token,
            'wrk.path = "/incidents.list?severity=2,3&stage=resolved&sort_by=created_date:desc&limit=50"\n',
        ),
        "list_first_page": lua(token, 'wrk.path = "/incidents.list?limit=50"\n'),
        "list_depth_10000": lua(token, f'wrk.path = "/incidents.list?limit=50&cursor={deep_cursor}"\n'),
        "group": lua(token, GROUP_PATH),
        # The same request from one client: the time one group request takes, not the queue of 64 in front of it.
        "group_1_connection": lua(token, GROUP_PATH),
        # incidents.search with a two-word query (a seeded service and a symptom word), from one client.
        "search": lua(
            token,
            'local queries = {"payments%20latency", "checkout%20deploy", "auth%20certif", "database%20failover"}\n'
            "request = function()\n"
            '  return wrk.format("GET", "/incidents.search?limit=50&query=" .. queries[math.random(1, 4)])\nend\n',
        ),
        "update_stage": lua(
            token,
            'local stages = {"fixing", "mitigated", "resolved"}\n'
            "request = function()\n"
            f'  local body = \'{{"id": "\' .. {random_id} .. \'", "stage": {{"stage": "\' .. '
            'stages[math.random(1, 3)] .. \'"}, "stage_validation_options": ["allow_invalid_transition"]}\'\n'
            '  return wrk.format("POST", "/incidents.update", nil, body)\nend\n',
        ),
        "mixed_70_read": lua(
            token,
            "request = function()\n"
            "  local dice = math.random(1, 100)\n"
            f'  if dice <= 50 then return wrk.format("GET", "/incidents.get?id=" .. {random_id}) end\n'
            '  if dice <= 70 then return wrk.format("GET", "/incidents.list?severity=2,3&limit=50") end\n'
            f'  if dice <= 85 then return wrk.format("POST", "/incidents.create", nil, "{create_body_lua}") end\n'
            f"  local body = '{{\"id\": \"' .. {random_id} .. '\", \"severity\": ' .. math.random(1, 4) .. '}}'\n"
            '  return wrk.format("POST", "/incidents.update", nil, body)\nend\n',
        ),
    }


# processes ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


def process_tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                pending += [int(child) for child in (task / "children").read_text().split()]
    return found


def busy_and_total_ticks() -> tuple[int, int]:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


SETTLE_SECONDS = [120.0]  # --settle


def settle(timeout: float | None = None) -> None:
    """Wait until the machine is idle again: the server (and PostgreSQL's backends) finish the requests a scenario
    left in flight after wrk stopped sending, and they must not slow the next scenario down."""
    deadline = time.monotonic() + (SETTLE_SECONDS[0] if timeout is None else timeout)
    while time.monotonic() < deadline:
        busy_before, total_before = busy_and_total_ticks()
        time.sleep(0.5)
        busy_after, total_after = busy_and_total_ticks()
        if (busy_after - busy_before) < 0.1 * max(1, total_after - total_before):
            return


def _name_and_cpu_ticks(pid: int | str) -> tuple[str, int]:
    """A process's command name and its CPU time so far (user + system, in clock ticks); OSError once it is gone."""
    name, fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)
    values = fields.split()
    return name.split("(", 1)[1], int(values[11]) + int(values[12])  # utime, stime


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a server's processes so far: the master and its workers (not PostgreSQL's)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            total += _name_and_cpu_ticks(member)[1]
    return total / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float:
    """CPU time (user + system) so far of every PostgreSQL process on this machine (backends, WAL writer,
    checkpointer): on a machine where the database shares the cores, what a request costs it. 0 without any."""
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                name, ticks = _name_and_cpu_ticks(entry.name)
                total += ticks if name == "postgres" else 0
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler:
    """Samples the resident set of every process of a server (the master and its workers) twice a second."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_per_process = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in process_tree(self.pid):
                self.peak_per_process = max(self.peak_per_process, rss_mb(pid))
            self._stop.wait(0.5)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def server(command: list[str], env: dict[str, str], health_url: str) -> Iterator[subprocess.Popen[bytes]]:
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(health_url)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wrk(url: str, script: str, seconds: float, connections: int = CONNECTIONS) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / result["seconds"] if result["seconds"] else 0.0
    return result


def timed_wrk(pid: int, url: str, script: str, seconds: float, connections: int = CONNECTIONS) -> dict[str, Any]:
    """`wrk`, and the server's CPU per request (its processes' user + system time over the requests answered):
    steadier than throughput on a shared machine, and comparable between incidentd and F. Beside it PostgreSQL's
    (every postgres process of the machine, over the same requests; 0 on SQLite, whose work is the server's): on a
    machine where both share the cores, the two together are what a request costs."""
    cpu_before, database_before = cpu_seconds(pid), database_cpu_seconds()
    result = wrk(url, script, seconds, connections)
    requests = max(1, result["requests"])
    result["server_cpu_ms"] = round((cpu_seconds(pid) - cpu_before) * 1000 / requests, 3)
    result["database_cpu_ms"] = round((database_cpu_seconds() - database_before) * 1000 / requests, 3)
    return result


# the run -----------------------------------------------------------------------------------------------


def api(base: str, token: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, headers={"Authorization": token, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def prepare_database(kind: str, work: Path, count: int, seed_cache: Path | None) -> tuple[str, str]:
    """A fresh database with `count` seeded incidents; returns (url, admin token).

    With `seed_cache`, a database seeded before with the same count (and the same migrations) is copied instead of
    seeded again: a file copy on SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL. The seeder is
    deterministic (`--random-seed 1`), so the copy holds the same incidents.
    """
    head = _migration_head()
    if kind == "sqlite":
        path = work / "bench.db"
        _remove_sqlite(path)
        url = f"sqlite:///{path}"
        cached = seed_cache / f"sqlite-{count}-{head}.db" if seed_cache else None
        if cached is not None and cached.exists():
            shutil.copyfile(cached, path)
            return url, _fresh_token(url)
    else:
        name = "incidentd_bench"
        template = f"incidentd_bench_seed_{count}_{head}" if seed_cache else None
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if template is not None and _pg_database_exists(template):
            _psql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
            return url, _fresh_token(url)
        _psql(f'CREATE DATABASE "{name}"')
        url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
    env = {**os.environ, "INCIDENTD_DATABASE_URL": url}
    subprocess.run([*INCIDENTD, "db", "upgrade"], env=env, check=True, capture_output=True)
    made = subprocess.run(
        [*INCIDENTD, "org", "create", "Bench", "--slug", "bench", "--admin-email", "bench@incidentd.local"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    token = next(word for word in made.split() if word.startswith("idt_"))
    started = time.perf_counter()
    subprocess.run(
        [*INCIDENTD, "seed", "--count", str(count), "--org", "bench", "--random-seed", "1"], env=env, check=True
    )
    print(f"  seeded {count:,} incidents in {time.perf_counter() - started:.0f} s", flush=True)
    if seed_cache is not None and kind == "sqlite":
        seed_cache.mkdir(parents=True, exist_ok=True)
        _checkpoint(url)
        shutil.copyfile(work / "bench.db", seed_cache / f"sqlite-{count}-{head}.db")
    elif template is not None:
        _psql(f'CREATE DATABASE "{template}" TEMPLATE "{name}"')
    return url, token


def _migration_head() -> str:
    from incidentd.db import head_revisions

    return "_".join(sorted(head_revisions()))


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _checkpoint(url: str) -> None:
    """Fold the WAL into the database file, so that copying the file copies everything."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _psql(command: str) -> str:
    return subprocess.run(["psql", PG_SERVER, "-qAtc", command], check=True, capture_output=True, text=True).stdout


def _pg_database_exists(name: str) -> bool:
    return _psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"


def _fresh_token(url: str) -> str:
    """A new API token for the bench org's admin (the copied database's own token was shown once, at seeding)."""
    made = subprocess.run(
        [*INCIDENTD, "token", "create", "--user", "bench@incidentd.local", "--org", "bench"],
        env={**os.environ, "INCIDENTD_DATABASE_URL": url},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return next(word for word in made.split() if word.startswith("idt_"))


def deep_cursor(url: str, depth_pages: int) -> str:
    """The next_cursor after `depth_pages` pages of 50 of the default list, made as the server would make it
    (walking 10,000 pages through HTTP first would take minutes and measure nothing new)."""
    import sqlalchemy as sa

    from incidentd.config import Settings
    from incidentd.db import Database
    from incidentd.incidents import filters, reading, repository, schemas
    from incidentd.incidents.tables import incidents
    from incidentd.kit import cursors

    async def boundary() -> Any:
        db = Database(Settings(database_url=url))
        try:
            async with db.read() as conn:
                order = (incidents.c.created_date.desc(), incidents.c.number.desc())
                query = sa.select(incidents).order_by(*order).offset(depth_pages * 50 - 1).limit(1)
                return (await conn.execute(query)).first()
        finally:
            await db.dispose()

    row = asyncio.run(boundary())
    fingerprint = reading.request_fingerprint(schemas.IncidentsListRequest(limit=50), "incidents.list")
    return cursors.encode(["list", *repository.sort_values(row, filters.DEFAULT_SORT)], "after", fingerprint)


def measure(
    kind: str,
    workers: int,
    count: int,
    seconds: float,
    warmup: float,
    work: Path,
    url: str,
    token: str,
    only: set[str],
) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "INCIDENTD_DATABASE_URL": url,
        "INCIDENTD_LOG_LEVEL": "warning",
        "INCIDENTD_LOG_FORMAT": "json",
        "INCIDENTD_DB_POOL_SIZE": "20",
        # One token drives the whole load: rate limiting would measure the limiter, not the server.
        "INCIDENTD_RATE_LIMIT_REQUESTS": "0",
    }
    results: dict[str, Any] = {"database": kind, "workers": workers, "scenarios": {}}
    command = [*INCIDENTD, "serve", "--port", str(port), "--workers", str(workers)]
    with server(command, env, f"{base}/health") as process, MemorySampler(process.pid) as memory:
        world = {
            "users": [u["id"] for u in api(base, token, "/dev-users.list", {"limit": 5})["dev_users"]][1:],
            "parts": [p["id"] for p in api(base, token, "/parts.list", {"limit": 5})["parts"]],
            "tags": [t["id"] for t in api(base, token, "/tags.list", {"limit": 5})["tags"]],
        }
        cursor = deep_cursor(url, 10_000 if count >= 600_000 else max(1, count // 100))
        scripts = scenarios(token, world, count, cursor)
        for name in RUN_ORDER:
            script = scripts[name]
            if only and name not in only:
                continue
            connections = SCENARIO_CONNECTIONS.get(name, CONNECTIONS)
            # Unmeasured first: a freshly copied database is cold (page caches, PostgreSQL's buffers, the process's
            # memos), and the first scenario would pay for every later one.
            if warmup:
                settle()
                wrk(base, script, warmup, connections)
            settle()
            results["scenarios"][name] = {
                **timed_wrk(process.pid, base, script, seconds, connections),
                "connections": connections,
            }
            print(f"  {kind} w={workers} {name}: {results['scenarios'][name]}", flush=True)
        # A real incident of the create scenario, for the F ceiling to encode.
        created = api(base, token, "/incidents.create", create_body(world))
        (work / "incident.json").write_text(json.dumps(created["incident"]))
    results["peak_rss_mb_per_process"] = round(memory.peak_per_process, 1)
    return results


def ceilings(
    kind: str, workers: int, seconds: float, warmup: float, work: Path, url: str, token: str, count: int
) -> dict[str, Any]:
    """F (HTTP + JSON, no database) and D (database + driver, no HTTP) for the same work, warmed up as incidentd's
    scenarios are."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CEILING_INCIDENT_JSON": str(work / "incident.json"), "PYTHONPATH": str(ROOT / "bench")}
    command = [PYTHON, str(ROOT / "bench" / "ceiling_app.py"), str(port), str(workers)]
    world = {"users": ["DEVU-2", "DEVU-3"], "parts": ["PROD-1", "CAPL-2"], "tags": ["TAG-1", "TAG-2"]}
    scripts = scenarios(token, world, count, "")
    with server(command, env, f"{base}/incidents.get?id=INC-1") as process:
        if warmup:
            wrk(base, scripts["create"], warmup)
        f_create = timed_wrk(process.pid, base, scripts["create"], seconds)
        if warmup:
            wrk(base, scripts["get"], warmup)
        f_get = timed_wrk(process.pid, base, scripts["get"], seconds)
    driver = [
        subprocess.Popen(
            [
                PYTHON,
                str(ROOT / "bench" / "driver_ceiling.py"),
                "--database-url",
                url,
                "--seconds",
                str(seconds),
                "--warmup",
                str(warmup),
                "--max-number",
                str(count),
                "--org",
                "bench",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(workers)
    ]
    measured = [json.loads(process.communicate(timeout=(seconds + warmup) * 4 + 120)[0]) for process in driver]
    d = {key: sum(item[key] for item in measured) for key in ("row_per_s", "create_per_s", "get_per_s")}
    return {"F": {"create": f_create, "get": f_get}, "D": d}


def report(run: dict[str, Any]) -> str:
    lines = [
        "| database | workers | scenario | connections | req/s | p50 ms | p99 ms | errors | / F | / bound "
        "| server CPU ms/request | PostgreSQL CPU ms/request | / bound with D row |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in run["results"]:
        ceiling = result["ceilings"]
        for name, scenario in result["scenarios"].items():
            kind = "create" if name == "create" else "get"
            f = ceiling["F"][kind]["rps"]
            d = ceiling["D"]["create_per_s" if kind == "create" else "get_per_s"]
            bound = 1 / (1 / f + 1 / d) if f and d else 0
            to_f = f"{scenario['rps'] / f:.2f}" if name in ("create", "get") else ""
            to_bound = f"{scenario['rps'] / bound:.2f}" if name in ("create", "get") and bound else ""
            # Issue 20's create bound: F and one ~2 KB row per transaction (D row).
            d_row = ceiling["D"].get("row_per_s", 0)
            to_row_bound = f"{scenario['rps'] * (1 / f + 1 / d_row):.2f}" if name == "create" and f and d_row else ""
            lines.append(
                f"| {result['database']} | {result['workers']} | {name} | {scenario.get('connections', CONNECTIONS)} | "
                f"{scenario['rps']:,.0f} | "
                f"{scenario['p50_ms']:.1f} | {scenario['p99_ms']:.1f} | {scenario['errors']} | {to_f} | {to_bound} | "
                f"{scenario.get('server_cpu_ms', '')} | {scenario.get('database_cpu_ms', '') or ''} | {to_row_bound} |"
            )
        # D get reads what a get that renders reads (a row and its links); a get answered from its stored document
        # reads one row.
        f_get = ceiling["F"]["get"]["rps"]
        reachable_get = f"{ceiling['D']['get_per_s'] / f_get:.2f}" if f_get else "?"
        lines.append(
            f"| {result['database']} | {result['workers']} | ceilings | F create {ceiling['F']['create']['rps']:,.0f}, "
            f"F get {ceiling['F']['get']['rps']:,.0f} (server CPU ms/request: F create "
            f"{ceiling['F']['create'].get('server_cpu_ms', '?')}, "
            f"F get {ceiling['F']['get'].get('server_cpu_ms', '?')}), "
            f"D row {ceiling['D'].get('row_per_s', 0):,.0f}, D create {ceiling['D']['create_per_s']:,.0f}, "
            f"D get {ceiling['D']['get_per_s']:,.0f}; D get / F get = {reachable_get} | "
            f"| | | | | | | peak RSS {result['peak_rss_mb_per_process']} MB |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--pg-count", type=int, default=None, help="incidents on PostgreSQL (default: --count)")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before each measured run")
    parser.add_argument("--quick", action="store_true", help="20,000 incidents, 3 s per scenario, 1 s warm-up")
    parser.add_argument(
        "--seed-cache",
        type=Path,
        default=None,
        help="where seeded databases are kept and reused (SQLite files; PostgreSQL keeps template databases) "
        "(default: bench/results/seeds)",
    )
    parser.add_argument("--scenarios", default=None, help="only these scenarios (comma-separated)")
    parser.add_argument(
        "--settle",
        type=float,
        default=120,
        help="longest wait for an idle machine before each scenario, in seconds (a shared machine never idles)",
    )
    args = parser.parse_args()
    SETTLE_SECONDS[0] = args.settle
    if args.quick:
        args.count, args.seconds, args.warmup = 20_000, 3, 1
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    work = ROOT / "bench" / "results" / "work"
    work.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    run: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(),
        "commit": commit,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": {
            name: subprocess.run(
                [PYTHON, "-c", f"import {name}; print({name}.__version__)"], capture_output=True, text=True
            ).stdout.strip()
            for name in ("litestar", "msgspec", "sqlalchemy", "aiosqlite", "asyncpg", "uvicorn")
        },
        "settings": {"connections": CONNECTIONS, "seconds": args.seconds, "warmup": args.warmup, "count": args.count},
        "results": [],
    }
    run["versions"]["wrk"] = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    only = set(args.scenarios.split(",")) if args.scenarios else set()
    # Every worker count starts from the seeded database as it was seeded: the writes of one would otherwise put
    # their fresh incidents on the next one's first list page.
    seed_cache = args.seed_cache or ROOT / "bench" / "results" / "seeds"
    for kind in args.databases.split(","):
        count = args.pg_count or args.count if kind == "postgresql" else args.count
        for workers in (int(w) for w in args.workers.split(",")):
            print(f"{kind}, {workers} worker(s): preparing {count:,} incidents", flush=True)
            url, token = prepare_database(kind, work, count, seed_cache)
            result = measure(kind, workers, count, args.seconds, args.warmup, work, url, token, only)
            result["ceilings"] = ceilings(kind, workers, args.seconds, args.warmup, work, url, token, count)
            result["count"] = count
            run["results"].append(result)
    table = report(run)
    print(table)
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps({**run, "table": table}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
