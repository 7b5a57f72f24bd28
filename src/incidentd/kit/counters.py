"""Per-org, per-kind number counters: the numbers behind DONs and display ids. Never reused.

One upsert-with-RETURNING statement on both databases: the counter row is locked by the statement, so
concurrent inserts in one org get distinct numbers; a rolled-back transaction leaves at most a gap.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import citus
from incidentd.db import Database, NoPointRead
from incidentd.kit.ids import KINDS
from incidentd.kit.tables import metadata
from incidentd.plain_statements import CompiledText, PlainStatement

# Not a kind of object: the org's summaries version, raised (`allocate`) in the same transaction as every change of
# what an incident's answer summarises (a part, tag, account, article or artifact), so that a stored incident
# document rendered under an older version is known to be stale (`incidents.documents`).
SUMMARIES = "summaries"
# The counter every schema fragment's number comes from, whatever its kind: it moves in the same transaction as every
# fragment set, so its value tells which fragments are current (`customization.service._current_fragments`).
FRAGMENTS = KINDS["tenant_fragment"].counter

id_counters = sa.Table(
    "id_counters",
    metadata,
    sa.Column("dev_org_id", sa.Integer, sa.ForeignKey("dev_orgs.id"), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("last_value", sa.BigInteger, nullable=False),
)


async def allocate(conn: AsyncConnection, dev_org_id: int, kind: str, count: int = 1) -> int:
    """Reserve `count` consecutive numbers for `kind` in the org; returns the first."""
    # A create allocates three numbers: below SQLAlchemy's async layer (PlainStatement).
    last = (await _ALLOCATE_NOW[conn.dialect.name].fetch(conn, allocation_values(dev_org_id, kind, count)))[0][0]
    return int(last) - count + 1


async def allocate_apart(db: Database, conn: AsyncConnection, dev_org_id: int, kind: str) -> int:
    """A number for `kind` in the org, on PostgreSQL allocated in a transaction of its own (`Database.commit_alone`)
    rather than in `conn`'s unit of work: the counter row is then locked for the statement alone, where in the unit
    of work it stays locked until that commits, and every other writer of the org that needs a number waits for
    each round trip in between (a create's convoy: docs/performance.md, "Issue 20: creates no longer queue for
    their number"). The price: a unit of work that fails after it leaves a gap in the numbers, and numbers
    commit out of order. Elsewhere (SQLite's one writer, Citus, no point pool) `allocate` in the unit of work."""
    if conn.dialect.name == "postgresql" and not await citus.in_use(conn):
        try:
            return int((await db.commit_alone(_ALLOCATE_ALONE, allocation_values(dev_org_id, kind)))[0])
        except NoPointRead:
            pass
    return await allocate(conn, dev_org_id, kind)


def allocation_values(dev_org_id: int, kind: str, count: int = 1) -> dict[str, Any]:
    """The values `allocate`'s statement binds."""
    return {"org": dev_org_id, "counter": KINDS[kind].counter if kind in KINDS else kind, "count": count}


# The values every allocation binds at execution (`allocation_values`).
_ORG = sa.bindparam("org", type_=sa.Integer)
_COUNTER = sa.bindparam("counter", type_=sa.String)
_COUNT = sa.bindparam("count", type_=sa.BigInteger)


def _allocate(insert: Any, rows: Any = None) -> Any:
    """The upsert, built once per dialect with its values bound at execution (every create allocates); with `rows`,
    inserting what that SELECT of the same three values gives (`_allocate_alone`)."""
    statement = insert(id_counters)
    statement = (
        statement.values(dev_org_id=_ORG, kind=_COUNTER, last_value=_COUNT)
        if rows is None
        else statement.from_select(["dev_org_id", "kind", "last_value"], rows)
    )
    return statement.on_conflict_do_update(
        index_elements=[id_counters.c.dev_org_id, id_counters.c.kind],
        set_={"last_value": id_counters.c.last_value + _COUNT},
    ).returning(id_counters.c.last_value)


_ALLOCATE = {"postgresql": _allocate(postgresql.insert), "sqlite": _allocate(sqlite.insert)}
_ALLOCATE_NOW = {name: PlainStatement(statement) for name, statement in _ALLOCATE.items()}


def _allocate_alone() -> CompiledText:
    """PostgreSQL: the upsert committed without waiting for its WAL to reach the disk (synchronous_commit off for
    its own transaction, set by the statement). Safe: a unit of work that uses the number commits after it, and
    its own durable commit flushes the WAL up to its commit record, the counter's change included; a crash before
    that loses the counter's change along with every use of the number. It saves a disk flush with the counter
    row locked."""
    unsynchronised = sa.select(sa.func.set_config("synchronous_commit", "off", sa.true()).label("setting")).subquery()
    rows = sa.select(_ORG, _COUNTER, _COUNT).where(unsynchronised.c.setting.is_not(None))
    return CompiledText(_allocate(postgresql.insert, rows), asyncpg_dialect())


_ALLOCATE_ALONE = _allocate_alone()


async def summaries_changed(conn: AsyncConnection, dev_org_id: int) -> None:
    """Mark every stored incident document of the org stale: something they summarise changes in this unit of work."""
    await allocate(conn, dev_org_id, SUMMARIES)


async def raise_to(conn: AsyncConnection, dev_org_id: int, kind: str, value: int) -> None:
    """Make the counter's last value at least `value`: a number an import wrote explicitly is never allocated
    again."""
    counter = KINDS[kind].counter if kind in KINDS else kind
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(id_counters)
        .values(dev_org_id=dev_org_id, kind=counter, last_value=value)
        .on_conflict_do_update(
            index_elements=[id_counters.c.dev_org_id, id_counters.c.kind],
            set_={"last_value": sa.case((id_counters.c.last_value < value, value), else_=id_counters.c.last_value)},
        )
    )
    await conn.execute(statement)
