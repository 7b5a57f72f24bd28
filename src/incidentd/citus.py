"""The schema on Citus (distributed PostgreSQL): every org-keyed table distributed on `dev_org_id`, co-located.

`incidentd db upgrade` runs the migrations as on any PostgreSQL; when the database is a Citus coordinator (the
`citus` extension is installed), `distribute` then hands every table Citus does not manage yet to it:

- a table with a `dev_org_id` column becomes a distributed table on it, co-located with the others, so that one
  org's rows of every table live in the same shard group and the foreign keys between them hold shard by shard;
- a table without one (`dev_orgs`) becomes a reference table, copied to every node.

Citus cannot distribute a table while foreign keys tie it to tables it does not manage (it would turn it into a
"Citus local" table, whose later foreign keys to distributed tables fail), so the foreign keys touching those
tables are dropped first and re-created, unchanged, once every table is distributed. A unique key of a
distributed table must include the distribution column: the three global secret-hash keys (tokens, web sessions,
login links: hashes of 32 random bytes) become unique on (hash, dev_org_id), which still serves the lookup by hash.

Running it again finds nothing to do, so it runs after every upgrade and each future migration's new tables are
distributed the same way. On SQLite and plain PostgreSQL nothing calls it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncConnection

ORG_COLUMN = "dev_org_id"
# Tables Citus leaves alone: Alembic's bookkeeping stays a plain table on the coordinator, which runs migrations.
LOCAL_TABLES = frozenset({"alembic_version"})
# Plain PostgreSQL numbers events at commit with this trigger on webhook_events (migration
# 0016_events_numbered_at_commit); a table with triggers is not distributed, and on Citus events are numbered when
# inserted, so `distribute` drops it from a database that was plain PostgreSQL before.
EVENTS_NUMBERED_AT_COMMIT = "webhook_events_numbered_at_commit"


def is_citus(connection: Connection) -> bool:
    """True when `connection` is to a database with the citus extension (a Citus coordinator)."""
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'")).first()
    return found is not None


def manages_any(connection: Connection, tables: list[str]) -> bool:
    """True when Citus manages (distributed, reference or Citus local) one of these tables of the current schema."""
    found = connection.execute(
        sa.text(
            "SELECT 1 FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(:tables) LIMIT 1"
        ),
        {"tables": tables},
    ).first()
    return found is not None


_CITUS_ENGINES: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()


async def in_use(conn: AsyncConnection) -> bool:
    """Whether `conn`'s database is a Citus coordinator; asked once per engine, then remembered."""
    if conn.dialect.name != "postgresql":
        return False
    engine = conn.sync_engine
    known = _CITUS_ENGINES.get(engine)
    if known is None:
        known = _CITUS_ENGINES[engine] = await conn.run_sync(is_citus)
    return known


# The array types incidentd binds as parameters (`= ANY(:numbers)`, the child rows of a create as `unnest(...)`).
# asyncpg looks a type up in the catalog the first time a connection meets it; see `prime_types`.
PRIMED_TYPES = ("bigint[]", "integer[]", "smallint[]", "text[]", "varchar[]", "boolean[]", "timestamptz[]", "jsonb[]")
_PRIME = "SELECT " + ", ".join(f"CAST(${n} AS {kind})" for n, kind in enumerate(PRIMED_TYPES, start=1))


async def prime_types(conn: Any) -> None:
    """On a new asyncpg connection to a Citus node: look up the array types incidentd binds, with Citus's shard
    hiding off for that one lookup.

    asyncpg asks the catalog about a type (a recursive query over pg_type with subqueries on pg_class) the first time
    a connection binds it. Citus adds `relation_is_a_known_shard(oid)` to every query on pg_class, evaluated there
    for each pg_class row of each pg_type row: 0.3-0.5 s on a coordinator (0.9 s on a worker holding shards) instead
    of 1 ms, once per connection. Looked up here with `citus.override_table_visibility` off in a transaction of its
    own (SET LOCAL: the session's setting is untouched), asyncpg keeps the answer for the connection's life. On
    plain PostgreSQL it does nothing but ask whether the extension is there."""
    if not await conn.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'citus'"):
        return
    async with conn.transaction():
        await conn.execute("SET LOCAL citus.override_table_visibility TO off")
        await conn.prepare(_PRIME)


@dataclass(frozen=True)
class _ForeignKey:
    table: str
    name: str
    definition: str


def distribute(connection: Connection) -> list[str]:
    """Distribute (or make reference) every table of the current schema that Citus does not manage yet.

    Returns the tables it handed to Citus, in the order it did. Idempotent; runs inside the caller's transaction.
    """
    pending = _pending_tables(connection)
    if not pending:
        return []
    # Citus's DDL in a transaction that has run other DDL must use one connection per node.
    connection.execute(sa.text("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'"))
    foreign_keys = _foreign_keys_touching(connection, pending)
    for key in foreign_keys:
        connection.execute(sa.text(f'ALTER TABLE "{key.table}" DROP CONSTRAINT "{key.name}"'))
    _undo_citus_local(connection, pending)
    if "webhook_events" in pending and _has_trigger(connection, "webhook_events", EVENTS_NUMBERED_AT_COMMIT):
        # Only when it is there: Citus refuses DROP TRIGGER, IF EXISTS or not, on a table it manages.
        connection.execute(sa.text(f"DROP TRIGGER {EVENTS_NUMBERED_AT_COMMIT} ON webhook_events"))
    reference = [table for table in pending if not _has_org_column(connection, table)]
    distributed = [table for table in pending if table not in reference]
    for table in reference:
        had_rows = _has_rows(connection, table)
        connection.execute(sa.text("SELECT create_reference_table(:table)"), {"table": table})
        if had_rows:
            _drop_local_copy(connection, table)
    anchor = _colocation_anchor(connection)
    for table in distributed:
        _include_org_in_unique_keys(connection, table)
        had_rows = _has_rows(connection, table)
        connection.execute(
            sa.text("SELECT create_distributed_table(:table, :column, colocate_with => :anchor)"),
            {"table": table, "column": ORG_COLUMN, "anchor": anchor or "default"},
        )
        if had_rows:
            _drop_local_copy(connection, table)
        anchor = anchor or table
    for key in foreign_keys:
        connection.execute(sa.text(f'ALTER TABLE "{key.table}" ADD CONSTRAINT "{key.name}" {key.definition}'))
    return reference + distributed


def _has_trigger(connection: Connection, table: str, trigger: str) -> bool:
    found = connection.execute(
        sa.text(
            "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = :table AND t.tgname = :trigger"
        ),
        {"table": table, "trigger": trigger},
    ).first()
    return found is not None


def _pending_tables(connection: Connection) -> list[str]:
    """Tables of the current schema that are neither distributed nor reference tables (Citus local ones are)."""
    rows = connection.execute(
        sa.text(
            """
            SELECT c.relname
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND (p.logicalrelid IS NULL OR (p.partmethod = 'n' AND p.repmodel <> 't'))
            ORDER BY c.relname
            """
        )
    ).scalars()
    return [name for name in rows if name not in LOCAL_TABLES]


def _foreign_keys_touching(connection: Connection, tables: list[str]) -> list[_ForeignKey]:
    rows = connection.execute(
        sa.text(
            """
            SELECT src.relname, con.conname, pg_get_constraintdef(con.oid)
            FROM pg_constraint con
            JOIN pg_class src ON src.oid = con.conrelid
            JOIN pg_class dst ON dst.oid = con.confrelid
            JOIN pg_namespace n ON n.oid = src.relnamespace
            WHERE con.contype = 'f' AND n.nspname = current_schema()
              AND (src.relname = ANY(:tables) OR dst.relname = ANY(:tables))
            ORDER BY src.relname, con.conname
            """
        ),
        {"tables": tables},
    )
    return [_ForeignKey(table, name, definition) for table, name, definition in rows]


def _undo_citus_local(connection: Connection, tables: list[str]) -> None:
    """A table created with a foreign key to a reference table became a Citus local table; with its foreign keys
    dropped, Citus usually undoes that by itself. What is left is undone here, so it can be distributed."""
    rows = connection.execute(
        sa.text(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition "
            "WHERE partmethod = 'n' AND repmodel <> 't' AND logicalrelid::regclass::text = ANY(:tables)"
        ),
        {"tables": tables},
    ).scalars()
    for table in list(rows):
        connection.execute(sa.text("SELECT undistribute_table(:table)"), {"table": table})


def _has_org_column(connection: Connection, table: str) -> bool:
    found = connection.execute(
        sa.text(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = :table AND column_name = :column"
        ),
        {"table": table, "column": ORG_COLUMN},
    ).first()
    return found is not None


def _colocation_anchor(connection: Connection) -> str | None:
    """An already distributed org-keyed table that new ones co-locate with (none on the first run)."""
    found = connection.execute(
        sa.text(
            "SELECT logicalrelid::regclass::text FROM pg_dist_partition "
            "WHERE partmethod = 'h' AND column_to_column_name(logicalrelid, partkey) = :column "
            "ORDER BY colocationid, logicalrelid::regclass::text LIMIT 1"
        ),
        {"column": ORG_COLUMN},
    ).scalar()
    return None if found is None else str(found)


def _include_org_in_unique_keys(connection: Connection, table: str) -> None:
    """Re-create each unique key of `table` that lacks dev_org_id as unique on (its columns..., dev_org_id).

    Only the secret-hash keys are like this; a hash of 32 random bytes is unique on its own, so nothing is lost,
    and the index still leads with the hash the lookup names."""
    rows = connection.execute(
        sa.text(
            """
            SELECT i.relname, con.conname,
                   array_agg(a.attname ORDER BY k.ordinality) AS columns
            FROM pg_index x
            JOIN pg_class t ON t.oid = x.indrelid
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.contype = 'u'
            CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ordinality)
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE n.nspname = current_schema() AND t.relname = :table AND x.indisunique AND NOT x.indisprimary
            GROUP BY i.relname, con.conname
            """
        ),
        {"table": table},
    )
    for index, constraint, columns in list(rows):
        if ORG_COLUMN in columns:
            continue
        if constraint is not None:
            connection.execute(sa.text(f'ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}"'))
        else:
            connection.execute(sa.text(f'DROP INDEX "{index}"'))
        listed = ", ".join(f'"{column}"' for column in [*columns, ORG_COLUMN])
        connection.execute(sa.text(f'CREATE UNIQUE INDEX "{index}" ON "{table}" ({listed})'))


def _has_rows(connection: Connection, table: str) -> bool:
    return connection.execute(sa.text(f'SELECT EXISTS (SELECT 1 FROM ONLY "{table}")')).scalar() is True


def _drop_local_copy(connection: Connection, table: str) -> None:
    """Distributing a table with rows copies them into its shards and leaves the originals behind, hidden."""
    connection.execute(
        sa.text("SELECT truncate_local_data_after_distributing_table(:table)"),
        {"table": table},
    )
