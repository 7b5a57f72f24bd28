"""The storage layer: schema from the migrations, id counters under concurrency."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest import ON_POSTGRES, Actor
from incidentd import citus, models  # noqa: F401
from incidentd.db import Database, NoPointRead, metadata
from incidentd.errors import ServiceUnavailable
from incidentd.kit import counters
from incidentd.plain_statements import PlainStatement, PointStatement, asyncpg_connection_of, sqlite_connection_of
from incidentd.search.repository import INDEX_TABLES
from incidentd.sqlite_inline import off_loop


async def test_schema_built_by_migrations_matches_the_tables_in_code(app):
    db: Database = app.state.db

    def diff(sync_conn):
        # The search index is not metadata: its SQL builds it (incidentd/search/repository.py).
        def include_name(name, kind, _):
            return kind != "table" or name not in INDEX_TABLES

        context = MigrationContext.configure(sync_conn, opts={"compare_type": True, "include_name": include_name})
        return compare_metadata(context, metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
        on_citus = await citus.in_use(conn)
    if on_citus:
        rewritten = _made_org_wide_by_citus(differences)
        differences = [change for change in differences if not _is_index_change(change, rewritten)]
    assert differences == []


_ADDED_UNIQUE = ("add_index", "add_constraint")  # the code's key: a unique index, or a unique constraint


def _unique(item: Any) -> bool:
    return isinstance(item, sa.UniqueConstraint) or bool(getattr(item, "unique", False))


def _is_index_change(change: tuple[Any, ...], names: set[str]) -> bool:
    return change[0] in (*_ADDED_UNIQUE, "remove_index") and change[1].name in names


def _made_org_wide_by_citus(differences: list[Any]) -> set[str]:
    """On Citus, `incidentd.citus.distribute` re-creates each unique key without dev_org_id (the secret hashes) as
    unique on (its columns..., dev_org_id) under the same name: the names of such index pairs in `differences`."""

    def columns(change: tuple[Any, ...]) -> list[str]:
        return [column.name for column in change[1].columns]

    in_code = {c[1].name: columns(c) for c in differences if c[0] in _ADDED_UNIQUE and _unique(c[1])}
    in_database = {c[1].name: columns(c) for c in differences if c[0] == "remove_index" and _unique(c[1])}
    return {name for name, found in in_database.items() if [*in_code.get(name, [""]), "dev_org_id"] == found}


async def test_every_table_keys_on_the_dev_org_first():
    for table in metadata.sorted_tables:
        if table.name == "dev_orgs":
            continue
        assert table.primary_key.columns.values()[0].name == "dev_org_id", table.name


async def test_fifty_parallel_creates_get_distinct_numbers(client, admin: Actor):
    async def create(index: int):
        return await client.post(
            "/dev-users.create", json={"email": f"p{index}@example.com", "state": "shadow"}, headers=admin.headers
        )

    responses = await asyncio.gather(*(create(index) for index in range(50)))
    assert [r.status_code for r in responses] == [201] * 50
    numbers = [int(r.json()["dev_user"]["id"].rsplit("/", 1)[1]) for r in responses]
    assert len(set(numbers)) == 50


async def test_counters_allocate_distinct_numbers_across_connections(app, admin: Actor):
    db: Database = app.state.db

    async def allocate_one() -> int:
        async with db.write() as conn:
            return await counters.allocate(conn, admin.org.dev_org_id, "incident")

    numbers = await asyncio.gather(*(allocate_one() for _ in range(50)))
    assert sorted(numbers) == list(range(1, 51))


async def test_counters_are_per_org_and_per_kind(app, admin: Actor):
    from conftest import make_org

    other = await make_org(app, "second")
    db: Database = app.state.db
    async with db.write() as conn:
        first = await counters.allocate(conn, admin.org.dev_org_id, "tag")
        other_first = await counters.allocate(conn, other.org.dev_org_id, "tag")
        block = await counters.allocate(conn, admin.org.dev_org_id, "tag", count=10)
        article = await counters.allocate(conn, admin.org.dev_org_id, "article")
    assert (first, other_first, block, article) == (1, 1, 2, 1)
    async with db.write() as conn:
        assert await counters.allocate(conn, admin.org.dev_org_id, "tag") == 12


async def test_a_rolled_back_allocation_is_never_reused_as_a_duplicate(app, admin: Actor):
    db: Database = app.state.db

    class Abort(Exception):
        pass

    try:
        async with db.write() as conn:
            await counters.allocate(conn, admin.org.dev_org_id, "incident")
            raise Abort
    except Abort:
        pass
    async with db.write() as conn:
        again = await counters.allocate(conn, admin.org.dev_org_id, "incident")
    async with db.write() as conn:
        after = await counters.allocate(conn, admin.org.dev_org_id, "incident")
    assert after == again + 1


_PLUS_ONE = PointStatement(sa.select(sa.bindparam("n", type_=sa.Integer) + 1))


async def test_a_point_read_is_one_statement_below_the_units_of_work(app):
    """`Database.first_row`: SQLite on the loop's thread, PostgreSQL on the process's own small asyncpg pool; not
    inside a request transaction that has written (it would not see those writes), where the caller reads through
    the transaction instead."""
    db: Database = app.state.db
    assert (await db.first_row(_PLUS_ONE, {"n": 41}))[0] == 42
    with db.request_transaction() as transaction:
        async with db.write() as conn:
            await conn.execute(sa.text("SELECT 1"))
        with pytest.raises(NoPointRead):
            await db.first_row(_PLUS_ONE, {"n": 1})
        await transaction.rollback()
    assert (await db.first_row(_PLUS_ONE, {"n": 1}))[0] == 2


@pytest.mark.skipif(not ON_POSTGRES, reason="the point pool is PostgreSQL's")
async def test_without_its_point_pool_or_its_server_a_point_read_falls_back(settings):
    off = Database(settings.model_copy(update={"db_point_read_pool_size": 0}))
    unreachable = Database(settings.model_copy(update={"database_url": _unreachable(settings.database_url)}))
    try:
        for db in (off, unreachable):
            with pytest.raises(NoPointRead):
                await db.first_row(_PLUS_ONE, {"n": 1})
    finally:
        await off.dispose()
        await unreachable.dispose()


@pytest.mark.skipif(not ON_POSTGRES, reason="the point pool is PostgreSQL's")
async def test_the_point_pool_opens_when_first_used_and_closes_with_the_database(settings):
    db = Database(settings)
    assert db._point_pool is None  # a process that serves no gets holds none of its connections
    await db.first_row(_PLUS_ONE, {"n": 1})
    pool = db._point_pool
    assert pool is not None and pool.get_size() == 1
    await db.dispose()
    assert db._point_pool is None and pool.is_closing()


@pytest.mark.skipif(not ON_POSTGRES, reason="the point pool is PostgreSQL's")
async def test_a_point_read_waits_its_turn_for_a_busy_point_pool_and_then_503s(settings):
    """With every point connection taken a get waits for one (measured faster than spilling into the main pool),
    up to db_wait_seconds, then answers 503 as the main pool's waits do."""
    db = Database(settings.model_copy(update={"db_point_read_pool_size": 1, "db_wait_seconds": 0.3}))
    try:
        await db.first_row(_PLUS_ONE, {"n": 1})
        pool = db._point_pool
        assert pool is not None
        taken = await pool.acquire()
        waiting = asyncio.ensure_future(db.first_row(_PLUS_ONE, {"n": 2}))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await pool.release(taken)
        assert (await waiting)[0] == 3
        taken = await pool.acquire()
        with pytest.raises(ServiceUnavailable):
            await db.first_row(_PLUS_ONE, {"n": 1})
        await pool.release(taken)
    finally:
        await db.dispose()


@pytest.mark.skipif(not ON_POSTGRES, reason="the point pool is PostgreSQL's")
async def test_a_point_connection_goes_back_to_its_pool_without_a_reset_statement(settings):
    """A point read is its one statement: asyncpg's reset (`pg_advisory_unlock_all(); ... RESET ALL`) was a second
    round trip per get, undoing nothing. What the server last ran on the point connection is the read itself."""
    db = Database(settings.model_copy(update={"db_point_read_pool_size": 1}))
    try:
        backend = (await db.first_row(PointStatement(sa.select(sa.func.pg_backend_pid())), {}))[0]
        async with db.read() as conn:
            last = (
                await conn.execute(sa.text("SELECT query FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend})
            ).scalar_one()
        assert "pg_backend_pid" in last and "RESET" not in last
    finally:
        await db.dispose()


@pytest.mark.skipif(not ON_POSTGRES, reason="the point pool is PostgreSQL's")
async def test_a_number_allocated_apart_is_committed_before_the_unit_of_work_that_uses_it(app, admin: Actor):
    """`counters.allocate_apart` on PostgreSQL: committed in a transaction of its own, so another connection sees
    the counter raised while the unit of work is still open, and the counter row is not left locked by it (a
    rolled-back unit of work leaves a gap, never a reuse). Without the point pool it allocates in the unit of
    work, as `allocate`."""
    db: Database = app.state.db
    org = admin.org.dev_org_id
    counter = sa.select(counters.id_counters.c.last_value).where(
        counters.id_counters.c.dev_org_id == org, counters.id_counters.c.kind == "probe_apart"
    )
    async with db.write() as conn:
        first = await counters.allocate_apart(db, conn, org, "probe_apart")
        async with db.read() as other:
            seen = (await other.execute(counter)).scalar()
        if await citus.in_use(conn):
            assert seen is None  # Citus allocates in the unit of work
        else:
            assert seen == first
        await conn.rollback()
    async with db.write() as conn:
        assert await counters.allocate_apart(db, conn, org, "probe_apart") == (first + 1 if seen else first)


@pytest.mark.skipif(not ON_POSTGRES, reason="the point pool is PostgreSQL's")
async def test_point_reads_take_the_point_connections_first_come_first_served(settings, monkeypatch):
    """Tasks that read again as soon as they are answered do not take a point connection from the ones that were
    already waiting: connections are handed out in the order the reads asked for them. asyncpg's pool alone gives a
    returned connection to whichever task asks next: under load, some gets waited half a second while others went
    past them many times over."""
    db = Database(settings.model_copy(update={"db_point_read_pool_size": 2}))
    tickets: dict[asyncio.Task[Any] | None, int] = {}
    handed_out: list[int] = []
    asked = 0

    async def reader() -> None:
        nonlocal asked
        for _ in range(15):
            tickets[asyncio.current_task()], asked = asked, asked + 1
            await db.first_row(_PLUS_ONE, {"n": 1})
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(db.first_row(_PLUS_ONE, {"n": 1}) for _ in range(2)))  # the pool's connections open
        pool = db._point_pool
        assert pool is not None
        acquire = type(pool).acquire

        def acquire_in_order(self: Any, *args: Any, **kwargs: Any) -> Any:
            async def handed() -> Any:
                connection = await acquire(self, *args, **kwargs)
                handed_out.append(tickets[asyncio.current_task()])
                return connection

            return handed()

        monkeypatch.setattr(type(pool), "acquire", acquire_in_order)
        await asyncio.gather(*(reader() for _ in range(32)))
        assert len(handed_out) == 32 * 15
        assert handed_out == sorted(handed_out)
    finally:
        await db.dispose()


def _unreachable(url: str) -> str:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return sa.engine.make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


# plain_statements.PlainStatement: a repository's statement run below SQLAlchemy's async layer on SQLite -------

_probe = sa.Table(
    "statement_probe",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("doc", sa.JSON),
    sa.Column("flag", sa.Boolean),
    sa.Column("note", sa.String),
)


async def test_a_sqlite_statement_binds_values_as_sqlalchemy_does(app):
    """JSON encoded by the engine's serializer, booleans as integers, the same rows as the layer's own insert;
    on PostgreSQL (no plain connection) the caller's fallback is all there is."""
    db: Database = app.state.db
    insert = sa.insert(_probe)
    now = PlainStatement(insert)
    async with db.write() as conn:
        await conn.run_sync(lambda sync: _probe.create(sync))
        plain = sqlite_connection_of(conn)
        assert (plain is None) == ON_POSTGRES
        rows = [
            {"id": 1, "doc": {"a": [1, "é"]}, "flag": True, "note": None},
            {"id": 2, "doc": None, "flag": False, "note": "n"},
        ]
        if plain is not None:
            now.execute(plain, conn.dialect, rows[0])
            now.execute_many(plain, conn.dialect, [{**rows[1], "id": 3}])
        await conn.execute(insert, [{**rows[0], "id": 2}, {**rows[1], "id": 4}])
        raw = (await conn.execute(sa.text("SELECT id, CAST(doc AS TEXT), flag, note FROM statement_probe"))).all()
        read = (await conn.execute(sa.select(_probe).order_by(_probe.c.id))).all()
        # Rows read below the layer are the layer's own: values through their result processors, keys, columns.
        below = PlainStatement(sa.select(_probe).order_by(_probe.c.id)).rows(plain, conn.dialect, {}) if plain else read
        await conn.run_sync(lambda sync: _probe.drop(sync))
    by_id = {row[0]: tuple(row[1:]) for row in raw}
    if not ON_POSTGRES:
        assert by_id[1] == by_id[2] and by_id[3] == by_id[4]  # below the layer and through it: the same values
        assert [row.doc for row in read] == [{"a": [1, "é"]}, {"a": [1, "é"]}, None, None]
        assert [tuple(row) for row in below] == [tuple(row) for row in read]
        assert [row.flag for row in below] == [True, True, False, False]
        assert (
            below[0]._mapping[_probe.c.doc] == below[0].doc == {"a": [1, "é"]} and below[0]._fields == read[0]._fields
        )


async def test_a_sqlite_statement_raises_sqlalchemys_errors(app):
    if ON_POSTGRES:
        pytest.skip("SQLite only: there is no plain connection on PostgreSQL")
    db: Database = app.state.db
    now = PlainStatement(sa.insert(_probe))
    async with db.write() as conn:
        await conn.run_sync(lambda sync: _probe.create(sync))
        plain = sqlite_connection_of(conn)
        assert plain is not None
        now.execute(plain, conn.dialect, {"id": 1, "note": "x"})
        with pytest.raises(sa.exc.IntegrityError):
            now.execute(plain, conn.dialect, {"id": 1, "note": "y"})
        await conn.run_sync(lambda sync: _probe.drop(sync))


async def test_a_plain_statement_runs_in_the_unit_of_works_transaction_on_either_database(app):
    """`fetch`, `all` and `run_many` below the layer (SQLite's plain connection, PostgreSQL's asyncpg connection):
    the same values and rows as through the layer, SQLAlchemy's errors, and the unit of work's transaction: what
    ran below it is rolled back with the rest, and kept when it commits."""
    db: Database = app.state.db
    async with db.write() as conn:
        await conn.run_sync(lambda sync: _probe.create(sync))
    try:
        insert = PlainStatement(sa.insert(_probe).returning(_probe.c.id))
        select = PlainStatement(sa.select(_probe).where(_probe.c.id >= sa.bindparam("least")).order_by(_probe.c.id))
        doc = {"a": [1, "é"]}
        with pytest.raises(RuntimeError):
            async with db.write() as conn:  # no statement through the layer first: the transaction is begun here
                await insert.fetch(conn, {"id": 9, "doc": doc, "flag": True, "note": "rolled back"})
                raise RuntimeError
        async with db.write() as conn:
            assert await asyncpg_connection_of(conn) is not None if ON_POSTGRES else sqlite_connection_of(conn)
            assert [tuple(row) for row in await insert.fetch(conn, {"id": 1, "doc": doc, "flag": True})] == [(1,)]
            await insert.run_many(conn, [{"id": 2, "doc": None, "flag": False}, {"id": 3, "doc": doc, "flag": None}])
            with pytest.raises(sa.exc.IntegrityError):  # SQLAlchemy's error, as through the layer
                async with conn.begin_nested():
                    await insert.fetch(conn, {"id": 1, "doc": None, "flag": None})
            below = await select.all(conn, {"least": 1})
        async with db.read() as conn:
            through = (await conn.execute(sa.select(_probe).order_by(_probe.c.id))).all()
        assert [tuple(row) for row in below] == [tuple(row) for row in through]
        assert [row.id for row in through] == [1, 2, 3]  # id 9 was rolled back with its unit of work
        assert [row.doc for row in below] == [doc, None, doc] and [row.flag for row in below] == [True, False, None]
        assert below[0]._mapping[_probe.c.doc] == doc and below[0]._fields == through[0]._fields
    finally:
        async with db.write() as conn:
            await conn.run_sync(lambda sync: _probe.drop(sync))


async def test_no_plain_connection_inside_off_loop(app):
    """Statements marked to run in a worker thread take SQLAlchemy's path, which honours the mark."""
    db: Database = app.state.db
    async with db.write() as conn:
        with off_loop():
            assert sqlite_connection_of(conn) is None
        assert (sqlite_connection_of(conn) is None) == ON_POSTGRES


def test_a_sqlite_statement_refuses_what_it_cannot_bind():
    from sqlalchemy.dialects import sqlite

    with pytest.raises(ValueError, match="expanding"):
        PlainStatement(sa.select(_probe).where(_probe.c.id.in_(sa.bindparam("ids", expanding=True)))).execute(
            None,
            sqlite.dialect(),
            {"ids": [1]},  # type: ignore[arg-type]
        )
    defaulted = sa.Table("defaulted", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True, default=7))
    with pytest.raises(ValueError, match="Python-side defaults"):
        PlainStatement(sa.insert(defaulted)).execute(None, sqlite.dialect(), {})  # type: ignore[arg-type]


@pytest.mark.skipif(not ON_POSTGRES, reason="PostgreSQL's connections are pinged")
async def test_a_pooled_connection_is_pinged_after_idling_and_replaced_when_dead(settings, monkeypatch):
    """SQLAlchemy's pre-ping costs three round trips at every checkout: a connection is pinged only after it idled
    (`PING_AFTER_IDLE_SECONDS`), and one that is closed, or does not answer its ping, is replaced, so that a unit
    of work after the server dropped a connection still works."""
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    from incidentd import db as database

    pings: list[int] = []
    real_ping = AsyncAdapt_asyncpg_connection.ping
    unanswered = []  # pings to leave unanswered, one each

    def ping(self: Any) -> None:
        pings.append(1)
        if unanswered:
            unanswered.pop()
            raise ConnectionError("no answer")
        real_ping(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", ping)
    db = Database(settings.model_copy(update={"db_pool_size": 1, "db_pool_overflow": 0}))

    async def backend() -> int:
        async with db.write() as conn:
            return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())

    try:
        first = await backend()
        for _ in range(3):
            assert await backend() == first
        assert not pings  # made, then returned, a moment ago each time: no ping, the same connection

        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert await backend() == first and len(pings) == 1  # idled longer than that: pinged, answered, kept
        unanswered.append(1)
        second = await backend()  # the ping went unanswered: the pool connected anew (and, at 0 s, pinged it)
        assert second != first and len(pings) == 3

        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 3600.0)
        other = Database(settings)  # the pool's one connection is `second` itself
        try:
            async with other.write() as conn:
                await conn.execute(sa.text(f"SELECT pg_terminate_backend({second})"))
        finally:
            await other.dispose()
        await asyncio.sleep(0.2)  # the server's goodbye reaches the idle connection
        third = await backend()  # closed under the pool: replaced without a ping, the unit of work unharmed
        assert third not in (first, second) and len(pings) == 3
    finally:
        await db.dispose()
