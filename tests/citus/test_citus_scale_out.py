"""Online scale-out on Citus: a third worker joins and Citus's rebalancer moves shards while the API takes writes.

Runs only when INCIDENTD_TEST_DATABASE_URL is a Citus coordinator with 2 workers (scripts/citus-cluster start 2),
and only when asked for (`-m scale_out`: CI runs it in a step of its own after the suite, it takes about a minute).
The test database starts on the cluster's 2 workers with 200 orgs; `incidentd serve` runs on loopback and several
clients create, update, get and list incidents of random orgs; meanwhile the test starts a PostgreSQL node of its
own (a third worker: its own data directory and port, removed afterwards, so the cluster is left as it was), adds
it to the test database with citus_add_node and runs citus_rebalance_start / citus_rebalance_wait. No request may
fail except with a 503, retried a bounded number of times; afterwards every acknowledged write is there (its
incident, at the last revision a 2xx answered) and the orgs' shards are on 3 workers.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from clients.live_server import LiveServer, report_line
from conftest import ON_POSTGRES, _workers
from incidentd import db as database
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.principal import ADMIN

pytestmark = pytest.mark.scale_out

ORGS = 200
CLIENTS = 6
RETRIES_503 = 20  # per request: a 503 means the pool wait ran out while a shard move held a lock; it is retried
LOAD_AFTER_REBALANCE_SECONDS = 2.0
DEADLINE_SECONDS = 240  # the load, the new node and the rebalance together
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


def _dsn(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; as root the node runs as `postgres`, like scripts/citus-cluster's."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class Node:
    """A PostgreSQL server with Citus loaded, on a loopback port, in a data directory of its own."""

    directory: Path
    port: int

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def two_workers() -> None:
    if not ON_POSTGRES or len(asyncio.run(_workers())) != 2:
        pytest.skip("INCIDENTD_TEST_DATABASE_URL is not a Citus coordinator with 2 workers (scripts/citus-cluster)")


@pytest.fixture
def third_worker(two_workers: None) -> Iterator[Node]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL programs in {PG_BIN} (set PG_BIN)")
    directory = Path(tempfile.mkdtemp(prefix="incidentd-worker-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    node = Node(directory / "data", _free_port())
    run = {"check": True, "capture_output": True}
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(node.directory), "-U", "postgres", "-A", "trust"]), **run
    )
    with (node.directory / "postgresql.conf").open("a") as conf:
        conf.write(
            f"port = {node.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{directory}'\n"
            "shared_preload_libraries = 'citus'\nwal_level = logical\nmax_connections = 200\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
    pg_ctl = [str(PG_BIN / "pg_ctl"), "-D", str(node.directory)]
    subprocess.run(_as_postgres([*pg_ctl, "-l", str(directory / "server.log"), "-w", "-t", "60", "start"]), **run)
    try:
        yield node
    finally:
        subprocess.run(_as_postgres([*pg_ctl, "-m", "immediate", "-w", "stop"]), check=False, capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


async def _seed(database_url: str) -> list[str]:
    """The schema, then ORGS orgs, each with an admin and a token; returns the tokens."""
    db = database.Database(Settings(database_url=database_url, auto_migrate=False))
    tokens = []
    try:
        await database.upgrade(db.engine)
        for number in range(ORGS):
            async with db.write() as conn:
                org = await identity.create_org(
                    conn, partition=db.settings.don_partition, display_name=f"org {number}", slug=f"o{number}"
                )
                user = await identity.create_user(conn, org, email=f"admin@o{number}.test", role=ADMIN)
                tokens.append((await identity.issue_token(conn, org, user.number)).secret)
    finally:
        await db.dispose()
    return tokens


@dataclass
class Written:
    """One incident a client created, and the last revision of its title a 2xx answer acknowledged."""

    org: int
    id: str
    rev: int


@dataclass
class Tally:
    answered: Counter[str] = field(default_factory=Counter)
    retried_503: int = 0
    most_retries: int = 0
    database_url: str = ""  # where `_placements` looks when a request fails


async def _request(http: httpx.AsyncClient, token: str, path: str, body: dict[str, Any], tally: Tally) -> Any:
    """The 2xx answer's body. A 503 is retried (bounded), with the same Idempotency-Key, so that a retried write
    lands once even if a 503 came after it had been done; any other failure fails the test."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    for attempt in range(RETRIES_503 + 1):
        response = await http.post(path, json=body, headers=headers)
        if response.status_code == 503 and attempt < RETRIES_503:
            tally.retried_503 += 1
            tally.most_retries = max(tally.most_retries, attempt + 1)
            await asyncio.sleep(0.1)
            continue
        if response.status_code not in (200, 201):
            where = await _placements(tally.database_url, body.get("id")) if tally.database_url else ""
            raise AssertionError(f"{path}: {response.status_code} {response.text}{where}")
        tally.answered[path] += 1
        return response.json()
    raise AssertionError("unreachable")


async def _client(
    number: int, url: str, tokens: list[str], stop: asyncio.Event, tally: Tally, written: list[Written]
) -> None:
    rng = random.Random(number)
    mine: list[Written] = []  # only this client updates them, so the last answered revision is the stored one
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as http:
        while not stop.is_set():
            org = rng.randrange(len(tokens))
            roll = rng.random()
            if not mine or roll < 0.35:
                body = {"title": f"c{number} o{org} rev 0", "severity": 1 + rng.randrange(4)}
                created = await _request(http, tokens[org], "/incidents.create", body, tally)
                mine.append(Written(org, created["incident"]["id"], 0))
                written.append(mine[-1])
            elif roll < 0.55:
                target = rng.choice(mine)
                title = f"c{number} o{target.org} rev {target.rev + 1}"
                await _request(http, tokens[target.org], "/incidents.update", {"id": target.id, "title": title}, tally)
                target.rev += 1
            elif roll < 0.85:
                target = rng.choice(mine)
                got = await _request(http, tokens[target.org], "/incidents.get", {"id": target.id}, tally)
                assert got["incident"]["id"] == target.id
            else:
                await _request(http, tokens[org], "/incidents.list", {"limit": 20}, tally)


async def _placements(database_url: str, don: Any) -> str:
    """Where an incident's rows are at the moment a request for it failed: its shard's placements as the
    coordinator has them now, the rebalance's tasks and deferred drops, and whether each node's copy of the shard
    holds the incident. Said in the failure's message, so that a failure under load can be told apart: a read
    planned with an old placement, a write lost in a move, or something in incidentd."""
    match = re.search(r"devo/([^:]+):incident/(\d+)", str(don or ""))
    if match is None:
        return ""
    slug, number = match[1], int(match[2])
    lines = [f"\nplacements of {slug} incident {number} when the request failed:"]
    coordinator = await asyncpg.connect(_dsn(database_url))
    try:
        lines.append(f"  coordinator clock {await coordinator.fetchval('SELECT clock_timestamp()')}")
        org = await coordinator.fetchval("SELECT id FROM dev_orgs WHERE slug = $1", slug)
        shard = await coordinator.fetchval("SELECT get_shard_id_for_distribution_column('incidents', $1::bigint)", org)
        for row in await coordinator.fetch(
            "SELECT nodename, nodeport, shardstate FROM pg_dist_shard_placement WHERE shardid = $1", shard
        ):
            lines.append(f"  metadata: shard {shard} on {row['nodeport']} (state {row['shardstate']})")
        found = await coordinator.fetchval(
            "SELECT count(*) FROM incidents WHERE dev_org_id = $1 AND number = $2", org, number
        )
        lines.append(f"  through the coordinator now: {found} row(s)")
        for row in await coordinator.fetch(
            "SELECT task_id, status, command FROM pg_dist_background_task WHERE command LIKE $1 ORDER BY task_id",
            f"%{shard}%",
        ):
            lines.append(f"  task {row['task_id']} {row['status']}: {row['command'][:160]}")
        for row in await coordinator.fetch("SELECT object_name, node_group_id, policy_type FROM pg_dist_cleanup"):
            if str(shard) in row["object_name"]:
                lines.append(f"  deferred drop: {row['object_name']} in group {row['node_group_id']}")
        name = sa.engine.make_url(database_url).database
        for node in await coordinator.fetch("SELECT nodeport FROM pg_dist_node WHERE noderole = 'primary'"):
            worker = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{node['nodeport']}/{name}")
            try:
                table = await worker.fetchval("SELECT to_regclass($1)::text", f"incidents_{shard}")
                rows = None
                if table is not None:
                    rows = await worker.fetchval(
                        f"SELECT count(*) FROM {table} WHERE dev_org_id = $1 AND number = $2", org, number
                    )
                lines.append(f"  node {node['nodeport']}: table {table}, {rows} row(s)")
            finally:
                await worker.close()
    except Exception as exc:  # a diagnosis must not hide the failure it describes
        lines.append(f"  (diagnosis stopped: {exc!r})")
    finally:
        await coordinator.close()
    return "\n".join(lines)


async def _orgs_per_worker(conn: asyncpg.Connection) -> dict[int, int]:
    """How many of the orgs' shard groups each worker holds (by the port it listens on)."""
    rows = await conn.fetch(
        """
        SELECT s.nodeport, count(*) AS orgs FROM dev_orgs o
        JOIN citus_shards s ON s.table_name = 'incidents'::regclass
         AND s.shardid = get_shard_id_for_distribution_column('incidents', o.id)
        GROUP BY s.nodeport
        """
    )
    return {row["nodeport"]: row["orgs"] for row in rows}


def test_a_third_worker_and_a_rebalance_under_load_lose_nothing(
    two_workers: None, third_worker: Node, empty_database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # Migrated here rather than copied from the suite's template: a copy's Citus metadata names the template
    # database, which a new node's metadata sync then looks for (ALTER DATABASE <template> OWNER ...).
    database_url = empty_database_url
    test_database = sa.engine.make_url(database_url).database
    tokens = asyncio.run(_seed(database_url))
    server = LiveServer(database_url, tmp_path)
    server.start()
    tally = Tally(database_url=database_url)
    written: list[Written] = []
    try:

        async def scale_out() -> tuple[dict[int, int], dict[int, int], float, str]:
            coordinator = await asyncpg.connect(_dsn(database_url))
            try:
                before = await _orgs_per_worker(coordinator)
                node = await asyncpg.connect(third_worker.dsn)
                try:  # Citus keeps the test database's shards in a same-named database on each worker
                    await node.execute(f'CREATE DATABASE "{test_database}"')
                finally:
                    await node.close()
                node = await asyncpg.connect(third_worker.dsn.rsplit("/", 1)[0] + f"/{test_database}")
                try:
                    await node.execute("CREATE EXTENSION citus")
                finally:
                    await node.close()
                await coordinator.execute("SELECT citus_add_node('127.0.0.1', $1)", third_worker.port)
                # Shard moves copy a shard, then follow its changes by logical replication while writes go on;
                # without wal_level=logical on the workers Citus can only block writes to a shard while it moves.
                logical = await coordinator.fetchval(
                    "SELECT bool_and(success AND result = 'logical') FROM run_command_on_workers('SHOW wal_level')"
                )
                mode = "force_logical" if logical else "block_writes"
                started = time.monotonic()
                await coordinator.execute(
                    "SELECT citus_rebalance_start(shard_transfer_mode => $1::citus.shard_transfer_mode)", mode
                )
                await coordinator.execute("SELECT citus_rebalance_wait()")
                took = time.monotonic() - started
                return before, await _orgs_per_worker(coordinator), took, mode
            finally:
                await coordinator.close()

        async def run() -> tuple[dict[int, int], dict[int, int], float, str]:
            stop = asyncio.Event()
            clients = [
                asyncio.create_task(_client(n, server.url, tokens, stop, tally, written)) for n in range(CLIENTS)
            ]
            try:
                await asyncio.sleep(1.0)  # the load is steady before the cluster changes
                outcome = await scale_out()
                await asyncio.sleep(LOAD_AFTER_REBALANCE_SECONDS)  # and goes on on the new layout
            finally:
                stop.set()
                await asyncio.gather(*clients)
            return outcome

        started = time.monotonic()
        before, after, rebalance_seconds, mode = asyncio.run(asyncio.wait_for(run(), DEADLINE_SECONDS))
        load_seconds = time.monotonic() - started

        async def stored() -> dict[str, str]:
            conn = await asyncpg.connect(_dsn(database_url))
            try:
                rows = await conn.fetch("SELECT dev_org_id, number, title FROM incidents")
                return {f"{row['dev_org_id']}:{row['number']}": row["title"] for row in rows}
            finally:
                await conn.close()

        titles = asyncio.run(stored())
        # every acknowledged write, read back through the API: the incident at its last answered revision
        with httpx.Client(base_url=server.url, timeout=30.0) as http:
            for write in written:
                response = http.post(
                    "/incidents.get", json={"id": write.id}, headers={"Authorization": f"Bearer {tokens[write.org]}"}
                )
                assert response.status_code == 200, (write, response.text)
                assert response.json()["incident"]["title"].endswith(f" rev {write.rev}"), (write, response.text)
    finally:
        server.stop()

    assert len(before) == 2, f"orgs per worker before the rebalance: {before}"
    assert len(after) == 3 and third_worker.port in after, f"orgs per worker after the rebalance: {after}"
    assert sum(after.values()) == ORGS
    assert len(titles) == len(written), "incidents nobody acknowledged, or acknowledged ones missing"
    creates = tally.answered["/incidents.create"]
    assert creates == len(written) and tally.answered["/incidents.update"] > 0
    report_line(
        request.config,
        f"citus scale-out: {ORGS} orgs, {CLIENTS} clients for {load_seconds:.0f} s; rebalance ({mode}) onto a third "
        f"worker in {rebalance_seconds:.1f} s; orgs per worker {before} -> {after}; 2xx answers "
        f"{dict(tally.answered)}; 503s retried {tally.retried_503} (at most {tally.most_retries} for one request); "
        f"all {len(written)} acknowledged incidents present at their last answered revision",
    )
