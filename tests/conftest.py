"""Every test gets a fresh database built by the migrations, and the real app over in-process HTTP.

INCIDENTD_TEST_DATABASE_URL selects the database: unset (or `sqlite`) for SQLite files, or a PostgreSQL server
URL such as `postgresql://postgres@127.0.0.1:5432/postgres` (its database is used for admin statements only).
The schema is migrated once into a template (a file / a template database) and each test gets a copy of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import weakref
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from incidentd import db as database
from incidentd import plain_statements
from incidentd.app import create_app
from incidentd.config import Settings, normalize_database_url
from incidentd.identity import service as identity
from incidentd.identity.tables import auth_tokens
from incidentd.kit import counters
from incidentd.principal import ADMIN, MEMBER, OrgScope

TEST_DATABASE = os.environ.get("INCIDENTD_TEST_DATABASE_URL", "sqlite")
ON_POSTGRES = TEST_DATABASE.startswith("postgres")
_sequence = itertools.count()


def pytest_report_header() -> str:
    return f"incidentd test database: {'PostgreSQL ' + TEST_DATABASE if ON_POSTGRES else 'SQLite files'}"


def _pg_admin_dsn() -> str:
    return normalize_database_url(TEST_DATABASE).replace("postgresql+asyncpg://", "postgresql://")


def _pg_url(name: str) -> str:
    url = sa.engine.make_url(normalize_database_url(TEST_DATABASE))
    return url.set(database=name).render_as_string(hide_password=False)


# A Citus coordinator as the test database (scripts/citus-cluster): Citus keeps a database's shards in databases of
# the same name on its workers and does not create those itself, so each test database is made on every node.
_citus_workers: list[tuple[str, int]] | None = None  # the workers' (host, port); [] on plain PostgreSQL


async def _workers() -> list[tuple[str, int]]:
    global _citus_workers
    if _citus_workers is None:
        conn = await asyncpg.connect(_pg_admin_dsn())
        try:
            if await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'citus'"):
                rows = await conn.fetch("SELECT nodename, nodeport FROM pg_dist_node WHERE groupid > 0")
                _citus_workers = [(row["nodename"], row["nodeport"]) for row in rows]
            else:
                _citus_workers = []
        finally:
            await conn.close()
    return _citus_workers


async def _on_node(host: str, port: int, database: str, *statements: str) -> None:
    url = sa.engine.make_url(_pg_admin_dsn()).set(host=host, port=port, database=database)
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    # Citus says why a worker's connection failed in a WARNING before its ERROR ("failure on connection marked as
    # essential"): keep what the server said, to show with the error.
    notices: list[str] = []
    conn.add_log_listener(lambda _conn, message: notices.append(f"{message.severity}: {message.message}"))
    try:
        for statement in statements:
            await conn.execute(statement)
    except asyncpg.PostgresError as error:
        for notice in notices:
            error.add_note(f"{host}:{port}/{database} said before the error: {notice}")
        raise
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _one_citus_setup_at_a_time() -> AsyncIterator[None]:
    """Hold the coordinator's lock for adding workers to a new database, across the test processes.

    citus_add_node copies the cluster's roles to the worker (ALTER ROLE on it): two test processes adding workers to
    their own new databases at once can update the same role row on a worker at once, and one of them then fails
    ("failure on connection marked as essential"; CI saw it once, at both processes' start). An advisory lock is per
    database, so it is taken in the coordinator's `postgres` database, which every process shares.
    """
    conn = await asyncpg.connect(_pg_admin_dsn())
    try:
        await conn.execute("SELECT pg_advisory_lock(hashtext('incidentd tests: citus_add_node'))")
        yield
    finally:
        await conn.close()  # the session's advisory lock goes with it


async def _create_database(name: str, template: str | None = None) -> None:
    """CREATE DATABASE, on a Citus coordinator on every node (copies of a migrated template stay consistent: the
    coordinator's copy names the shards the workers' copies hold)."""
    workers = await _workers()
    coordinator = sa.engine.make_url(_pg_admin_dsn())
    nodes = [(coordinator.host or "127.0.0.1", coordinator.port or 5432), *workers]
    create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    for host, port in nodes if workers else nodes[:1]:
        if not (template and workers):
            await _on_node(host, port, "postgres", create)
            continue
        # Citus's maintenance daemon stays connected to the template; stopped, it is started again on use, and may
        # reconnect between the kick and the copy ("source database is being accessed by other users"): kick and
        # copy again, a bounded number of times.
        for attempt in range(_COPY_ATTEMPTS):
            await _on_node(host, port, "postgres", _KICK.format(template))
            try:
                await _on_node(host, port, "postgres", create)
                break
            except asyncpg.exceptions.ObjectInUseError:
                if attempt == _COPY_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
    if workers and template is None:
        async with _one_citus_setup_at_a_time():
            for host, port in workers:
                await _on_node(host, port, name, "CREATE EXTENSION citus")
            host, port = nodes[0]
            adding = [f"SELECT citus_add_node('{worker}', {worker_port})" for worker, worker_port in workers]
            coordinator_host = f"SELECT citus_set_coordinator_host('{host}', {port})"
            await _on_node(host, port, name, "CREATE EXTENSION citus", coordinator_host, *adding)


def _on_citus() -> bool:
    return ON_POSTGRES and bool(asyncio.run(_workers()))


ON_CITUS = _on_citus()


_COPY_ATTEMPTS = 10
_KICK = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()"


async def _drop_database(name: str) -> None:
    coordinator = sa.engine.make_url(_pg_admin_dsn())
    nodes = [(coordinator.host or "127.0.0.1", coordinator.port or 5432), *await _workers()]
    for host, port in nodes:
        await _on_node(host, port, "postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _migrate(url: str) -> None:
    db = database.Database(Settings(database_url=url))
    try:
        await database.upgrade(db.engine)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated template: a SQLite file path, or a PostgreSQL database name."""
    if not ON_POSTGRES:
        path = tmp_path_factory.mktemp("template") / "template.db"
        asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
        yield str(path)
        return
    name = f"incidentd_tpl_{os.getpid()}"
    asyncio.run(_drop_database(name))
    asyncio.run(_create_database(name))
    asyncio.run(_migrate(_pg_url(name)))
    yield name
    asyncio.run(_drop_database(name))
    asyncio.run(_drop_database(f"incidentd_r_{os.getpid()}"))  # this process's reused copy on Citus, if any


# On a Citus coordinator a copy of the template is a CREATE DATABASE on every node, about 3.5 s a test on 2 cores
# (the suite would take over an hour), so each test process keeps one copy and empties it before each test
# instead: every table's rows deleted (children first), the sequences set back to 1, about 0.2 s. A test that changed
# the schema (a migration test that downgrades) leaves another fingerprint, and the copy is then made anew.
_SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(part, '|' ORDER BY part)) FROM (
    SELECT c.relname || ':' || c.relkind::text || ':' || coalesce(string_agg(a.attname || ' '
           || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull, ',' ORDER BY a.attnum), '') AS part
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    GROUP BY c.relname, c.relkind
    UNION ALL
    SELECT con.conname || ':' || pg_get_constraintdef(con.oid) FROM pg_constraint con
    JOIN pg_namespace n ON n.oid = con.connamespace AND n.nspname = 'public'
    UNION ALL
    SELECT 'version:' || version_num FROM alembic_version
) parts
"""
# The tables, each after every table whose foreign keys point at it (children first).
_CHILDREN_FIRST = """
WITH RECURSIVE tables AS (
    SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
      AND c.relname <> 'alembic_version'
), depth(oid, level) AS (
    SELECT oid, 0 FROM tables
    UNION ALL
    SELECT con.conrelid, depth.level + 1 FROM depth
    JOIN pg_constraint con ON con.contype = 'f' AND con.confrelid = depth.oid AND con.conrelid <> depth.oid
    WHERE depth.level < 20
)
SELECT t.relname FROM tables t JOIN depth d ON d.oid = t.oid GROUP BY t.relname ORDER BY max(d.level) DESC, t.relname
"""
_SEQUENCES = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind = 'S'"
)
_reused: dict[str, str] = {}  # this process's Citus copy -> its schema fingerprint when it was made


def _dsn(name: str) -> str:
    return _pg_url(name).replace("postgresql+asyncpg://", "postgresql://")


async def _reused_citus_database(template: str) -> str:
    """This process's copy of the template on a Citus coordinator, emptied (made anew if its schema changed)."""
    name = f"incidentd_r_{os.getpid()}"
    if name in _reused:
        conn = await asyncpg.connect(_dsn(name))
        try:
            await conn.execute(_KICK.format(name))  # a server or pool a test left behind must not write on
            if await conn.fetchval(_SCHEMA_FINGERPRINT) == _reused[name]:
                tables = [row["relname"] for row in await conn.fetch(_CHILDREN_FIRST)]
                sequences = [row["relname"] for row in await conn.fetch(_SEQUENCES)]
                async with conn.transaction():
                    # dev_orgs is a reference table: Citus refuses to write it after parallel deletes elsewhere
                    await conn.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
                    for table in tables:
                        await conn.execute(f'DELETE FROM "{table}"')
                for sequence in sequences:
                    # (Citus refuses ALTER SEQUENCE ... RESTART on a sequence its tables use; setval works)
                    await conn.execute("SELECT setval($1::regclass, 1, false)", f'"{sequence}"')
                return name
        finally:
            await conn.close()
    await _drop_database(name)
    await _create_database(name, template)
    conn = await asyncpg.connect(_dsn(name))
    try:
        _reused[name] = await conn.fetchval(_SCHEMA_FINGERPRINT)
    finally:
        await conn.close()
    return name


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database for one test (on Citus an emptied one: see _reused_citus_database)."""
    if not ON_POSTGRES:
        target = tmp_path / "incidentd.db"
        shutil.copyfile(database_template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    if ON_CITUS:
        yield _pg_url(asyncio.run(_reused_citus_database(database_template)))
        return
    name = f"incidentd_t_{os.getpid()}_{next(_sequence)}"
    asyncio.run(_create_database(name, database_template))
    yield _pg_url(name)
    asyncio.run(_drop_database(name))


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """A database without any schema, for tests of the migrations themselves."""
    if not ON_POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"incidentd_e_{os.getpid()}_{next(_sequence)}"
    asyncio.run(_create_database(name))
    yield _pg_url(name)
    asyncio.run(_drop_database(name))


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        auto_migrate=False,
        # On Citus a new connection's first query with an array parameter costs about 0.5 s (asyncpg asks the
        # catalog, Citus's included, about the type) and each statement is a hop more: a burst of requests that
        # opens the whole pool, or queues on one org's counter row (50 parallel creates), waits for its
        # connection far longer than 2 s on 2 shared cores.
        db_wait_seconds=30.0 if ON_CITUS else 2.0,
        log_format="console",
        artifacts_dir=str(tmp_path / "artifacts"),
        webhook_delivery=False,  # tests of webhooks turn it on
    )


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[Any]:
    """Drive the ASGI lifespan (startup, then shutdown) around a block, as a server would."""
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, to_app.get, from_app.put)
    )
    await to_app.put({"type": "lifespan.startup"})
    message = await from_app.get()
    if message["type"] != "lifespan.startup.complete":
        task.cancel()
        raise RuntimeError(f"app startup failed: {message}")
    try:
        yield app
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    async with running(create_app(settings)) as started:
        yield started


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://incidentd.test") as http:
        yield http


@dataclass
class Actor:
    """A principal with a token, as the tests use it."""

    org: OrgScope
    user_number: int
    user_type: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def don(self) -> str:
        return self.org.don(self.user_type, self.user_number)


async def make_org(app: Any, slug: str, *, user_type: str = "dev_user", role: str = ADMIN) -> Actor:
    """A new org with one principal of `user_type` (its admin unless `role` says otherwise) and a token for it."""
    db: database.Database = app.state.db
    async with db.write() as conn:
        org = await identity.create_org(conn, partition=db.settings.don_partition, display_name=slug, slug=slug)
        user = await identity.create_user(conn, org, email=f"owner@{slug}.test", user_type=user_type, role=role)
        token = await identity.issue_token(conn, org, user.number)
    return Actor(org, user.number, user_type, token.secret)


async def add_principal(
    app: Any, actor: Actor, *, user_type: str = "dev_user", email: str | None = None, role: str = ADMIN
) -> Actor:
    """Another principal (and token) in `actor`'s org; an admin unless `role` says otherwise."""
    db: database.Database = app.state.db
    async with db.write() as conn:
        user = await identity.create_user(conn, actor.org, email=email, user_type=user_type, role=role)
        token = await identity.issue_token(conn, actor.org, user.number)
    return Actor(actor.org, user.number, user_type, token.secret)


async def add_older_token(app: Any, actor: Actor, secret: str) -> None:
    """Store `secret` as a token of `actor` the way tokens were stored before they said their org (only the hash):
    for tests that such tokens keep working."""
    async with app.state.db.write() as conn:
        await conn.execute(
            sa.insert(auth_tokens).values(
                dev_org_id=actor.org.dev_org_id,
                number=await counters.allocate(conn, actor.org.dev_org_id, "auth_token"),
                user_number=actor.user_number,
                token_hash=identity.hash_token(secret),
                requested_token_type=identity.PAT,
                issued_at=0,
            )
        )


@pytest.fixture
async def member(app: Any, admin: Actor) -> Actor:
    """A dev user of the admin's org whose role is member, with a token."""
    return await add_principal(app, admin, email="member@incidentd.local", role=MEMBER)


@pytest.fixture
async def admin(app: Any) -> Actor:
    """The bootstrap admin of the default org, as `incidentd serve` creates it."""
    created = await identity.bootstrap(app.state.db, admin_email="admin@incidentd.local")
    assert created is not None
    return Actor(created.org, created.admin_number, "dev_user", created.token.secret)


@contextlib.contextmanager
def plain_statements_run(app: Any, logged: Any, *held: Any) -> Iterator[None]:
    """On PostgreSQL, call `logged(sql, arguments)` with each statement that a pooled connection runs below
    SQLAlchemy's async layer (`plain_statements.PlainStatement`, on asyncpg's `fetch` and `executemany`: SQLAlchemy's
    events do not see it) from its checkout on, and that the already checked-out connections `held` run; an
    executemany's arguments are the list of its rows'. At once, as the statement starts (asyncpg's own query
    loggers are called later, from the event loop). Statements through SQLAlchemy run as prepared statements, not
    through these two: each statement is seen by one of SQLAlchemy's events and this."""
    db: database.Database = app.state.db
    pooled: weakref.WeakSet[Any] = weakref.WeakSet()
    fetch, executemany = asyncpg.Connection.fetch, asyncpg.Connection.executemany

    async def fetch_logged(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if self in pooled:
            logged(query, args)
        return await fetch(self, query, *args, **kwargs)

    async def executemany_logged(self: Any, command: str, args: Any, **kwargs: Any) -> Any:
        if self in pooled:
            logged(command, list(args))
        return await executemany(self, command, args, **kwargs)

    def checkout(dbapi_connection: Any, *args: Any) -> None:
        pooled.add(dbapi_connection.driver_connection)

    with contextlib.ExitStack() as stack:
        for conn in held:
            pooled.add(conn.sync_connection.connection.driver_connection)
        for engine in db.engines:
            sa.event.listen(engine.sync_engine.pool, "checkout", checkout)
            stack.callback(sa.event.remove, engine.sync_engine.pool, "checkout", checkout)
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setattr(asyncpg.Connection, "fetch", fetch_logged)
        patch.setattr(asyncpg.Connection, "executemany", executemany_logged)
        yield


@contextlib.contextmanager
def statements_seen(app: Any, *held: Any) -> Iterator[list[str]]:
    """The statements the app's database connections run meanwhile, whichever layer runs them: on SQLite each
    pooled connection's own trace (`plain_statements.PlainStatement` runs statements below SQLAlchemy, where its
    events do not see them) from its checkout on, and that of the already checked-out connections `held`, with
    their values in the text, SQLite's internal and PRAGMA statements left out; on PostgreSQL SQLAlchemy's
    `before_cursor_execute` and, for the statements run below it on asyncpg, `plain_statements_run`."""
    seen: list[str] = []
    db: database.Database = app.state.db
    if not db.is_sqlite:

        def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        with contextlib.ExitStack() as stack:
            for engine in db.engines:
                sa.event.listen(engine.sync_engine, "before_cursor_execute", executed)
                stack.callback(sa.event.remove, engine.sync_engine, "before_cursor_execute", executed)
            stack.enter_context(plain_statements_run(app, lambda sql, arguments: seen.append(sql), *held))
            yield seen
        return

    def traced(statement: str) -> None:
        if not statement.startswith(("--", "PRAGMA")):
            seen.append(statement)

    def checkout(dbapi_connection: Any, *args: Any) -> None:
        dbapi_connection.driver_connection.plain.set_trace_callback(traced)

    def checkin(dbapi_connection: Any, *args: Any) -> None:
        if dbapi_connection is not None and dbapi_connection.driver_connection._connection is not None:
            dbapi_connection.driver_connection.plain.set_trace_callback(None)

    with contextlib.ExitStack() as stack:
        for conn in held:
            plain = plain_statements.sqlite_connection_of(conn)
            plain.set_trace_callback(traced)
            stack.callback(plain.set_trace_callback, None)
        for engine in db.engines:
            for name, listener in (("checkout", checkout), ("checkin", checkin)):
                sa.event.listen(engine.sync_engine.pool, name, listener)
                stack.callback(sa.event.remove, engine.sync_engine.pool, name, listener)
        yield seen
