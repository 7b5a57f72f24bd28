"""SQL of delivery: fan events out into per-webhook deliveries, claim due deliveries in order, record outcomes."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd import citus
from incidentd.identity.tables import dev_orgs
from incidentd.webhooks.tables import webhook_deliveries, webhook_events, webhooks

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
d = webhook_deliveries
_earlier = sa.alias(d, "earlier")  # built once: an alias makes its columns anew each time


def _postgres(conn: AsyncConnection) -> bool:
    return conn.dialect.name == "postgresql"


async def _claim(
    conn: AsyncConnection,
    build: Callable[[int | None], sa.Select[Any]],
    table: sa.Table,
    limit: int,
    *,
    lock: bool = True,
) -> Sequence[Any]:
    """Run a claim across orgs: PostgreSQL (with `lock`) locks the rows it returns, skipping those another process
    claims. `build(org)` is the query, for every org (None) or naming one org in each table it reads.

    Citus locks rows only in a query routed to one shard: there the orgs with work come first (a read of every
    shard, without locks), then the claim runs org by org, each a router query with its lock."""
    if not lock or not _postgres(conn):
        return (await conn.execute(build(None))).all()
    if not await citus.in_use(conn):
        return (await conn.execute(build(None).with_for_update(of=table, skip_locked=True))).all()
    orgs_query = build(None).with_only_columns(table.c.dev_org_id).distinct().order_by(None).limit(limit)
    claimed: list[Any] = []
    for org in (await conn.execute(orgs_query)).scalars().all():
        one_org = build(org).where(table.c.dev_org_id == org).limit(limit - len(claimed))
        claimed += (await conn.execute(one_org.with_for_update(of=table, skip_locked=True))).all()
        if len(claimed) >= limit:
            break
    return claimed


def _of_org(column: sa.ColumnElement[Any], org: int | None) -> tuple[sa.ColumnElement[bool], ...]:
    """`column = org` when the query is for one org (a router query on Citus names it in every table it reads)."""
    return () if org is None else (column == org,)


# fan-out ---------------------------------------------------------------------------------------------


def _behind(org: int | None) -> sa.Select[Any]:
    """Active webhooks whose org has events beyond their fan-out mark."""
    newest = (
        sa.select(sa.func.max(webhook_events.c.seq))
        .where(webhook_events.c.dev_org_id == webhooks.c.dev_org_id, *_of_org(webhook_events.c.dev_org_id, org))
        .scalar_subquery()
    )
    return sa.select(webhooks.c.dev_org_id, webhooks.c.number, webhooks.c.event_types, webhooks.c.fanout_seq).where(
        webhooks.c.status == "active", webhooks.c.fanout_seq < newest
    )


def _handshakes(now: Any) -> sa.Select[Any]:
    return (
        sa.select(webhooks, dev_orgs.c.slug)
        .join(dev_orgs, dev_orgs.c.id == webhooks.c.dev_org_id)
        .where(webhooks.c.status == "unverified", webhooks.c.verify_next_at <= now, webhooks.c.verify_until > now)
    )


async def webhooks_behind(conn: AsyncConnection, limit: int, *, lock: bool = True) -> Sequence[Any]:
    """Active webhooks whose org has events beyond what was fanned out for them (PostgreSQL, with `lock`: locked,
    skipping those another process is fanning out)."""
    return await _claim(conn, lambda org: _behind(org).limit(limit), webhooks, limit, lock=lock)


async def fan_out(conn: AsyncConnection, hooks: Sequence[Row[Any]], batch: int, now: int) -> int:
    """Create the deliveries of the events after the fan-out marks of `hooks` (rows of `webhooks_behind`, which
    on PostgreSQL locked them), up to `batch` events per org; returns how many events were looked at (the marks
    move past them, wanted or not).

    Per org, three statements whatever its number of webhooks (one more per further set of event types), none
    row by row in Python: the window (from the lowest mark: how many events, up to which seq), an INSERT ...
    SELECT of every webhook's wanted events in it, and the marks. Events of an org commit in seq order
    (outbox.record), so a window read in this transaction has no gap that a later commit could fill."""
    by_org: dict[int, list[Row[Any]]] = {}
    for hook in hooks:
        by_org.setdefault(hook.dev_org_id, []).append(hook)
    looked_at = 0
    insert = _FANOUT_INSERT_POSTGRES if _postgres(conn) else _FANOUT_INSERT_SQLITE
    for org, of_org in sorted(by_org.items()):
        after = min(hook.fanout_seq for hook in of_org)
        looked, upto = (await conn.execute(_FANOUT_WINDOW, {"org": org, "after": after, "batch": batch})).one()
        if not looked:
            continue
        # One INSERT per set of event types (the org's webhooks mostly share one): the types are a bound list,
        # not each webhook's JSON array unpacked per event, which cost the insert twice its time.
        receiving: dict[tuple[str, ...], list[int]] = {}
        for hook in of_org:
            receiving.setdefault(tuple(sorted(set(hook.event_types or ()))), []).append(hook.number)
        for types, numbers in sorted(receiving.items()):
            if types:
                window = {"org": org, "after": after, "upto": upto, "now": now}
                await conn.execute(insert, {**window, "numbers": sorted(numbers), "types": list(types)})
        numbers = sorted(hook.number for hook in of_org)
        await conn.execute(_FANOUT_MARKS, {"org": org, "numbers": numbers, "upto": upto})
        looked_at += int(looked)
    return looked_at


_window = (
    sa.select(webhook_events.c.seq)
    .where(webhook_events.c.dev_org_id == sa.bindparam("org"), webhook_events.c.seq > sa.bindparam("after"))
    .order_by(webhook_events.c.seq)
    .limit(sa.bindparam("batch"))
    .subquery()
)
_FANOUT_WINDOW = sa.select(sa.func.count(), sa.func.max(_window.c.seq))
_FANOUT_HOOKS = (
    webhooks.c.dev_org_id == sa.bindparam("org"),
    webhooks.c.number.in_(sa.bindparam("numbers", expanding=True)),
    webhooks.c.fanout_seq < sa.bindparam("upto"),
)
_FANOUT_MARKS = sa.update(webhooks).where(*_FANOUT_HOOKS).values(fanout_seq=sa.bindparam("upto"))


def _fanout_insert(insert: Any) -> Any:
    """INSERT INTO deliveries SELECT, for each of the webhooks, the window's events after its mark of the `types`;
    an existing delivery is kept."""
    wanted = (
        sa.select(
            webhooks.c.dev_org_id,
            webhooks.c.number,
            webhook_events.c.seq,
            webhook_events.c.object_number,
            sa.literal(PENDING, sa.String),
            sa.literal(0, sa.Integer),
            sa.bindparam("now", type_=sa.BigInteger),
            sa.bindparam("now", type_=sa.BigInteger),
        )
        .select_from(
            webhooks.join(
                webhook_events,
                sa.and_(
                    webhook_events.c.dev_org_id == webhooks.c.dev_org_id,
                    webhook_events.c.seq > webhooks.c.fanout_seq,
                ),
            )
        )
        .where(
            *_FANOUT_HOOKS,
            webhook_events.c.dev_org_id == sa.bindparam("org"),
            # The window's bounds, both: with only the join's `seq > fanout_seq` as its lower bound, SQLite read
            # every event of the org up to the window's end (43 ms a pass at 9,000 retained events).
            webhook_events.c.seq > sa.bindparam("after"),
            webhook_events.c.seq <= sa.bindparam("upto"),
            webhook_events.c.type.in_(sa.bindparam("types", expanding=True)),
        )
    )
    columns = ["dev_org_id", "webhook_number", "seq", "object_number", "state", "attempts"]
    columns += ["next_attempt_at", "created_date"]
    return insert(d).from_select(columns, wanted).on_conflict_do_nothing()


_FANOUT_INSERT_POSTGRES = _fanout_insert(postgresql.insert)
_FANOUT_INSERT_SQLITE = _fanout_insert(sqlite.insert)


# claims ----------------------------------------------------------------------------------------------


def _sendable(now: Any, org: int | None) -> tuple[sa.ColumnElement[bool], ...]:
    """A delivery that may be sent at `now`: pending, due, not leased, of an active webhook, and the earliest
    pending one of its webhook and incident (a later event waits while an earlier one is retrying)."""
    earlier = _earlier
    return (
        d.c.state == PENDING,
        d.c.next_attempt_at <= now,
        sa.or_(d.c.lease_until.is_(None), d.c.lease_until < now),
        ~sa.exists().where(
            earlier.c.dev_org_id == d.c.dev_org_id,
            *_of_org(earlier.c.dev_org_id, org),
            earlier.c.webhook_number == d.c.webhook_number,
            earlier.c.object_number == d.c.object_number,
            earlier.c.state == PENDING,
            earlier.c.seq < d.c.seq,
        ),
        sa.exists().where(
            webhooks.c.dev_org_id == d.c.dev_org_id,
            *_of_org(webhooks.c.dev_org_id, org),
            webhooks.c.number == d.c.webhook_number,
            webhooks.c.status == "active",
        ),
    )


async def due(
    conn: AsyncConnection, now: int, limit: int, saturated: Iterable[tuple[int, int]], *, lock: bool = True
) -> Sequence[Any]:
    """Deliveries that may be sent now (`_sendable`), earliest due first. Webhooks in
    `saturated` (org, number) have as many in flight as they may. PostgreSQL, with `lock`: locked, skipping rows
    other processes are claiming."""
    full = list(saturated)

    def build(org: int | None) -> sa.Select[Any]:
        query = (
            sa.select(d.c.dev_org_id, d.c.webhook_number, d.c.seq, d.c.attempts, d.c.first_attempt_at)
            .where(*_sendable(now, org))
            # Due time alone: the (state, next_attempt_at) index then yields rows in order and the scan stops at
            # the limit; a tie-break on seq sorted every due row first (milliseconds per claim with a backlog of
            # thousands). Order within a webhook and incident comes from the NOT EXISTS above, not from here.
            .order_by(d.c.next_attempt_at)
            .limit(limit)
        )
        if full:
            query = query.where(sa.tuple_(d.c.dev_org_id, d.c.webhook_number).not_in(_expanding(full)))
        return query

    return await _claim(conn, build, d, limit, lock=lock)


@dataclass(frozen=True)
class Waiting:
    """What a delivery pass would find to do."""

    fan_out: bool  # an active webhook is behind its org's events
    handshakes: bool  # a verify handshake is due
    deliveries: bool  # a delivery may be sent (of a webhook not in the caller's saturated list)


_NOW = sa.bindparam("now", type_=sa.BigInteger)
_WORK_WAITING = sa.select(
    sa.exists(_behind(None)),
    sa.exists(_handshakes(_NOW)),
    sa.exists(
        sa.select(d.c.seq).where(
            *_sendable(_NOW, None),
            sa.tuple_(d.c.dev_org_id, d.c.webhook_number).not_in(sa.bindparam("saturated", expanding=True)),
        )
    ),
)


async def work_waiting(conn: AsyncConnection, now: int, saturated: Iterable[tuple[int, int]]) -> Waiting:
    """Whether fan-out, handshakes or sends wait, in one prebuilt statement without locks (an idle pass of the
    delivery loop costs this read and nothing else)."""
    row = (await conn.execute(_WORK_WAITING, {"now": now, "saturated": list(saturated)})).one()
    return Waiting(fan_out=bool(row[0]), handshakes=bool(row[1]), deliveries=bool(row[2]))


async def lease(conn: AsyncConnection, keys: Sequence[tuple[int, int, int]], until: int) -> None:
    """Lease the deliveries `keys` (org, webhook, seq) until `until`: one statement for the whole claim."""
    if not keys:
        return
    statement = (
        sa.update(d)
        .where(
            d.c.dev_org_id == sa.bindparam("k_org"),
            d.c.webhook_number == sa.bindparam("k_hook"),
            d.c.seq == sa.bindparam("k_seq"),
        )
        .values(lease_until=until)
    )
    await conn.execute(statement, [{"k_org": org, "k_hook": hook, "k_seq": seq} for org, hook, seq in keys])


async def release_all_leases(conn: AsyncConnection) -> None:
    """Forget every lease (SQLite: the new holder of the delivery turn is the only process that sends)."""
    await conn.execute(sa.update(d).where(d.c.lease_until.is_not(None)).values(lease_until=None))


def _expanding(values: list[tuple[int, int]]) -> Any:
    """A list parameter of IN: the statement stays cacheable and its values are not coerced one by one."""
    return sa.bindparam("keys", value=values, expanding=True)


async def sending_batch(
    conn: AsyncConnection, keys: Sequence[tuple[int, int, int]]
) -> tuple[dict[tuple[int, int], Any], dict[tuple[int, int], Any]]:
    """What the sends of `keys` (org, webhook, seq) need, in two statements per org: the webhooks' url, headers and
    sealed secret with their org's slug, by (org, webhook); the events' type and payload, by (org, seq).

    Per org with `IN` lists of numbers, not one `(org, seq) IN (...)` of pairs: SQLite answers a list of row
    values by scanning the whole table (every retained event, payload and all: 3 ms with 5,000 events), and a
    statement that names its org routes to one shard on Citus."""
    wanted: dict[int, tuple[set[int], set[int]]] = {}
    for org, hook, seq in keys:
        hooks, seqs = wanted.setdefault(org, (set(), set()))
        hooks.add(hook)
        seqs.add(seq)
    hook_rows: dict[tuple[int, int], Any] = {}
    event_rows: dict[tuple[int, int], Any] = {}
    for org, (hooks, seqs) in sorted(wanted.items()):
        for hook_row in await conn.execute(_SENDING_HOOKS, {"org": org, "numbers": sorted(hooks)}):
            hook_rows[(hook_row.dev_org_id, hook_row.number)] = hook_row
        for event_row in await conn.execute(_SENDING_EVENTS, {"org": org, "numbers": sorted(seqs)}):
            event_rows[(event_row.dev_org_id, event_row.seq)] = event_row
    return hook_rows, event_rows


_SENDING_HOOKS = (
    sa.select(
        webhooks.c.dev_org_id,
        webhooks.c.number,
        webhooks.c.url,
        webhooks.c.headers,
        webhooks.c.secret_cipher,
        dev_orgs.c.slug,
    )
    .select_from(webhooks.join(dev_orgs, dev_orgs.c.id == webhooks.c.dev_org_id))
    .where(
        webhooks.c.dev_org_id == sa.bindparam("org"),
        webhooks.c.number.in_(sa.bindparam("numbers", expanding=True)),
    )
)
_SENDING_EVENTS = sa.select(
    webhook_events.c.dev_org_id, webhook_events.c.seq, webhook_events.c.type, webhook_events.c.payload
).where(
    webhook_events.c.dev_org_id == sa.bindparam("org"),
    webhook_events.c.seq.in_(sa.bindparam("numbers", expanding=True)),
)


def _bound(name: str) -> Any:
    return sa.bindparam(name, type_=sa.BigInteger)


# One attempt's outcome, applied only under the sender's lease. Values an outcome leaves as they were
# (`next_attempt_at` after a success, `delivered_date` after a failure) are passed as NULL and kept by COALESCE,
# so outcomes of every kind share one statement and a batch of them is one executemany.
_RECORD = (
    sa.update(d)
    .where(
        d.c.dev_org_id == sa.bindparam("k_org"),
        d.c.webhook_number == sa.bindparam("k_hook"),
        d.c.seq == sa.bindparam("k_seq"),
        d.c.lease_until == sa.bindparam("k_lease"),
    )
    .values(
        lease_until=None,
        attempts=d.c.attempts + 1,
        state=sa.bindparam("v_state"),
        last_status_code=sa.bindparam("v_code"),
        last_error=sa.bindparam("v_error"),
        latency_ms=sa.bindparam("v_latency"),
        first_attempt_at=sa.bindparam("v_first"),
        next_attempt_at=sa.func.coalesce(_bound("v_next"), d.c.next_attempt_at),
        delivered_date=sa.func.coalesce(_bound("v_delivered"), d.c.delivered_date),
    )
)

# The webhook's failing mark after a success (false) or a dead letter (true), only if that outcome was applied:
# the delivery is then in the outcome's state (a send whose lease was taken over left it pending).
_FAILING = (
    sa.update(webhooks)
    .where(
        webhooks.c.dev_org_id == sa.bindparam("k_org"),
        webhooks.c.number == sa.bindparam("k_hook"),
        webhooks.c.failing != sa.bindparam("k_failing", type_=sa.Boolean),
        sa.exists().where(
            d.c.dev_org_id == sa.bindparam("k_org"),
            d.c.webhook_number == sa.bindparam("k_hook"),
            d.c.seq == sa.bindparam("k_seq"),
            d.c.state == sa.bindparam("k_state"),
        ),
    )
    .values(failing=sa.bindparam("v_failing", type_=sa.Boolean))
)


@dataclass(frozen=True)
class Attempt:
    """One finished send to store: the delivery, the lease it was sent under, and its outcome."""

    key: tuple[int, int, int]
    lease_until: int
    state: str
    status_code: int | None
    error: str | None
    latency_ms: int
    first_attempt_at: int
    next_attempt_at: int | None = None
    delivered_date: int | None = None

    @property
    def failing(self) -> bool | None:
        """What the outcome makes of the webhook's failing mark (None: unchanged)."""
        return {DELIVERED: False, DEAD: True}.get(self.state)


async def record_attempts(conn: AsyncConnection, attempts: Sequence[Attempt]) -> None:
    """Store attempts' outcomes, in order, each only if its delivery is still under the lease it was sent with
    (a replay, or a claim after an expired lease, took it over otherwise: that outcome is dropped, so the new
    send's is not lost). A success clears the webhook's failing mark, a dead letter sets it. Two statements for
    the whole batch."""
    if not attempts:
        return
    await conn.execute(
        _RECORD,
        [
            {
                "k_org": a.key[0],
                "k_hook": a.key[1],
                "k_seq": a.key[2],
                "k_lease": a.lease_until,
                "v_state": a.state,
                "v_code": a.status_code,
                "v_error": a.error,
                "v_latency": a.latency_ms,
                "v_first": a.first_attempt_at,
                "v_next": a.next_attempt_at,
                "v_delivered": a.delivered_date,
            }
            for a in attempts
        ],
    )
    marks = [
        {
            "k_org": a.key[0],
            "k_hook": a.key[1],
            "k_seq": a.key[2],
            "k_state": a.state,
            "k_failing": a.failing,
            "v_failing": a.failing,
        }
        for a in attempts
        if a.failing is not None
    ]
    if marks:
        await conn.execute(_FAILING, marks)


# the verify handshake --------------------------------------------------------------------------------


async def handshakes_due(conn: AsyncConnection, now: int, limit: int, *, lock: bool = True) -> Sequence[Row[Any]]:
    query = _handshakes(now).limit(limit)
    return await _claim(conn, lambda org: query, webhooks, limit, lock=lock)


async def set_handshake(conn: AsyncConnection, dev_org_id: int, number: int, challenge: str, **values: Any) -> None:
    """Update a webhook's handshake state, only if it still waits for this challenge (an update may have
    restarted it meanwhile)."""
    await conn.execute(
        sa.update(webhooks)
        .where(
            webhooks.c.dev_org_id == dev_org_id,
            webhooks.c.number == number,
            webhooks.c.verify_challenge == challenge,
        )
        .values(**values)
    )


# retention -------------------------------------------------------------------------------------------


# The partial indexes' own predicates, as literals: a planner uses a partial index only for a condition it can
# prove implies the index's, which a bound parameter never does.
_FINISHED = sa.text("webhook_deliveries.state <> 'pending'")
_STILL_PENDING = sa.text("earlier.state = 'pending'")


async def sweep(conn: AsyncConnection, before: int) -> None:
    """Delete events older than `before` and their finished deliveries (pending ones keep their event). Both
    statements read only what they delete, through the partial indexes of migration 0013."""
    await conn.execute(sa.delete(d).where(_FINISHED, d.c.created_date < before))
    waiting = sa.select(_earlier.c.seq).where(
        _earlier.c.dev_org_id == webhook_events.c.dev_org_id, _earlier.c.seq == webhook_events.c.seq, _STILL_PENDING
    )
    await conn.execute(sa.delete(webhook_events).where(webhook_events.c.created_date < before, ~sa.exists(waiting)))


async def backlog(conn: AsyncConnection) -> tuple[int, int | None]:
    """How many deliveries are pending, over every org, and when the oldest was created."""
    query = sa.select(sa.func.count(), sa.func.min(d.c.created_date)).where(d.c.state == PENDING)
    count, oldest = (await conn.execute(query)).one()
    return int(count), oldest


# the deliveries extension ----------------------------------------------------------------------------


async def list_deliveries(
    conn: AsyncConnection,
    dev_org_id: int,
    webhook_number: int,
    states: Sequence[str] | None,
    after_seq: int,
    limit: int,
) -> Sequence[Any]:
    """A webhook's deliveries after `after_seq`, newest events last, with their event types."""
    query = (
        sa.select(d, webhook_events.c.type)
        .select_from(
            d.outerjoin(
                webhook_events,
                sa.and_(webhook_events.c.dev_org_id == d.c.dev_org_id, webhook_events.c.seq == d.c.seq),
            )
        )
        .where(d.c.dev_org_id == dev_org_id, d.c.webhook_number == webhook_number, d.c.seq > after_seq)
        .order_by(d.c.seq)
        .limit(limit)
    )
    if states:
        query = query.where(d.c.state.in_(list(states)))
    return (await conn.execute(query)).all()


async def replay_one(conn: AsyncConnection, dev_org_id: int, webhook_number: int, seq: int, now: int) -> int:
    """Make one delivery pending again, due now, with a fresh retry window; how many rows it touched."""
    result = await conn.execute(
        sa.update(d)
        .where(d.c.dev_org_id == dev_org_id, d.c.webhook_number == webhook_number, d.c.seq == seq)
        .values(state=PENDING, next_attempt_at=now, first_attempt_at=None, lease_until=None)
    )
    return int(result.rowcount)


async def replay_since(
    conn: AsyncConnection, dev_org_id: int, webhook_number: int, types: Sequence[str], since: int, now: int
) -> int:
    """Make a delivery pending, due now, of every retained event of the org since `since` of the given types
    (creating the deliveries of events the webhook never had); how many."""
    events = (
        await conn.execute(
            sa.select(webhook_events.c.seq, webhook_events.c.object_number).where(
                webhook_events.c.dev_org_id == dev_org_id,
                webhook_events.c.created_date >= since,
                webhook_events.c.type.in_(list(types)),
            )
        )
    ).all()
    if not events:
        return 0
    rows = [
        {
            "dev_org_id": dev_org_id,
            "webhook_number": webhook_number,
            "seq": event.seq,
            "object_number": event.object_number,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_date": now,
        }
        for event in events
    ]
    insert = (postgresql.insert if _postgres(conn) else sqlite.insert)(d)
    statement = insert.on_conflict_do_update(
        index_elements=[d.c.dev_org_id, d.c.webhook_number, d.c.seq],
        set_={"state": PENDING, "next_attempt_at": now, "first_attempt_at": None, "lease_until": None},
    )
    await conn.execute(statement, rows)
    return len(rows)


async def clear_failing(conn: AsyncConnection, dev_org_id: int, webhook_number: int) -> None:
    await conn.execute(
        sa.update(webhooks)
        .where(webhooks.c.dev_org_id == dev_org_id, webhooks.c.number == webhook_number)
        .values(failing=False)
    )
