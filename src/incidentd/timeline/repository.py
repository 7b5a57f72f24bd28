"""SQL of timeline entries: rows, their labels and private_to users, one object's timeline by keyset, expiry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.kit import counters
from incidentd.kit.pages import Window, number_page
from incidentd.kit.rows import one_of
from incidentd.plain_statements import PlainStatement
from incidentd.timeline.tables import timeline_entries, timeline_entry_labels, timeline_private_to

entries = timeline_entries
_ENTRY = sa.bindparam("dev_org_id", type_=sa.Integer), sa.bindparam("number", type_=sa.BigInteger)
_INSERT_ENTRY = sa.insert(entries)
_INSERT_ENTRY_NOW = PlainStatement(_INSERT_ENTRY)
_SELECT_ENTRY = sa.select(entries).where(entries.c.dev_org_id == _ENTRY[0], entries.c.number == _ENTRY[1])


# PostgreSQL numbers entries from a sequence (created by the migration, PostgreSQL only): an org's id counter row
# would stay locked from an incident update's change event to its commit, serialising every update of the org
# (update_stage lost a third of its throughput with 64 connections). SQLite has one writer anyway and uses the
# org's counter. Either way a number is never reused.
ENTRY_NUMBERS = sa.Sequence("timeline_entry_numbers")
ENTRY_COUNTER = "timeline_entry"
_INSERT_NUMBERED = PlainStatement(
    sa.insert(entries).values(number=ENTRY_NUMBERS.next_value()).returning(entries.c.number)
)


async def next_number(conn: AsyncConnection, dev_org_id: int) -> int:
    """A new entry number of the org."""
    if conn.dialect.name == "postgresql":
        return int((await conn.execute(sa.select(ENTRY_NUMBERS.next_value()))).scalar_one())
    return await counters.allocate(conn, dev_org_id, ENTRY_COUNTER)


async def insert_numbered(conn: AsyncConnection, values: dict[str, Any]) -> int:
    """Insert one entry (without `number`) under a new number, in one statement on PostgreSQL; its number."""
    if conn.dialect.name == "postgresql":
        return int((await _INSERT_NUMBERED.fetch(conn, values))[0][0])
    number = await next_number(conn, values["dev_org_id"])
    await insert(conn, {**values, "number": number})
    return number


class DuplicateExternalRef(Exception):
    """Another entry of the same timeline has this external_ref (the unique constraint said so)."""


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """Insert one entry (labels and private_to users go in with `set_labels` / `set_private_to`)."""
    try:  # every change's entry: below SQLAlchemy's async layer (`PlainStatement`)
        await _INSERT_ENTRY_NOW.fetch(conn, values)
    except IntegrityError as exc:
        _reraise(exc)


def _reraise(exc: IntegrityError) -> None:
    # Two writers racing with one external_ref (PostgreSQL runs them concurrently): the constraint decides.
    if "external_ref" in str(exc.orig):
        raise DuplicateExternalRef from None
    raise exc


async def set_labels(conn: AsyncConnection, dev_org_id: int, number: int, labels: Sequence[str]) -> None:
    if labels:
        await conn.execute(
            sa.insert(timeline_entry_labels),
            [{"dev_org_id": dev_org_id, "entry_number": number, "label": label} for label in labels],
        )


async def set_private_to(conn: AsyncConnection, dev_org_id: int, number: int, users: Sequence[int]) -> None:
    if users:
        await conn.execute(
            sa.insert(timeline_private_to),
            [{"dev_org_id": dev_org_id, "entry_number": number, "user_number": user} for user in users],
        )


async def private_to(conn: AsyncConnection, dev_org_id: int, number: int) -> set[int]:
    query = sa.select(timeline_private_to.c.user_number).where(
        timeline_private_to.c.dev_org_id == dev_org_id, timeline_private_to.c.entry_number == number
    )
    return set((await conn.execute(query)).scalars().all())


async def get(conn: AsyncConnection, dev_org_id: int, number: int) -> Row[Any] | None:
    return (await conn.execute(_SELECT_ENTRY, {"dev_org_id": dev_org_id, "number": number})).first()


async def by_external_ref(
    conn: AsyncConnection, dev_org_id: int, object_kind: str, object_number: int, external_ref: str
) -> Row[Any] | None:
    query = sa.select(entries).where(
        entries.c.dev_org_id == dev_org_id,
        entries.c.object_kind == object_kind,
        entries.c.object_number == object_number,
        entries.c.external_ref == external_ref,
    )
    return (await conn.execute(query)).first()


async def update(conn: AsyncConnection, dev_org_id: int, number: int, values: dict[str, Any]) -> Row[Any]:
    statement = (
        sa.update(entries)
        .where(entries.c.dev_org_id == dev_org_id, entries.c.number == number)
        .values(**values)
        .returning(*entries.c)
    )
    try:
        return (await conn.execute(statement)).one()
    except IntegrityError as exc:
        _reraise(exc)
        raise


async def delete(conn: AsyncConnection, dev_org_id: int, numbers: Sequence[int]) -> int:
    """Delete entries with their labels and private_to rows; how many entries were deleted."""
    if not numbers:
        return 0
    for child in (timeline_entry_labels, timeline_private_to):
        await conn.execute(
            sa.delete(child).where(child.c.dev_org_id == dev_org_id, one_of(child.c.entry_number, numbers))
        )
    result = await conn.execute(
        sa.delete(entries).where(entries.c.dev_org_id == dev_org_id, one_of(entries.c.number, numbers))
    )
    return int(result.rowcount or 0)


async def has_entries(conn: AsyncConnection, dev_org_id: int, object_kind: str, object_number: int) -> bool:
    query = (
        sa.select(entries.c.number)
        .where(
            entries.c.dev_org_id == dev_org_id,
            entries.c.object_kind == object_kind,
            entries.c.object_number == object_number,
        )
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None


def visible(dev_org_id: int, viewer: int, now: int) -> list[sa.ColumnElement[bool]]:
    """What a caller may see: not expired, and not private unless the caller wrote it or is in its private_to."""
    shared_with_viewer = (
        sa.select(timeline_private_to.c.user_number)
        .where(
            timeline_private_to.c.dev_org_id == dev_org_id,
            timeline_private_to.c.entry_number == entries.c.number,
            timeline_private_to.c.user_number == viewer,
        )
        .exists()
    )
    return [
        sa.or_(entries.c.expires_at.is_(None), entries.c.expires_at > now),
        sa.or_(entries.c.visibility != "private", entries.c.created_by == viewer, shared_with_viewer),
    ]


@dataclass(frozen=True)
class EntryFilters:
    """timeline-entries.list's filters: each list matches any of its values (None: no filter)."""

    collections_mask: int | None = None  # entries in any of these collections (a bit mask)
    labels: Sequence[str] | None = None
    visibility: Sequence[str] | None = None
    created_after: int | None = None
    created_before: int | None = None


def _filter_clauses(dev_org_id: int, filters: EntryFilters) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if filters.collections_mask is not None:
        clauses.append(entries.c.collections.op("&")(filters.collections_mask) != 0)
    if filters.labels is not None:
        clauses.append(
            sa.select(timeline_entry_labels.c.label)
            .where(
                timeline_entry_labels.c.dev_org_id == dev_org_id,
                timeline_entry_labels.c.entry_number == entries.c.number,
                one_of(timeline_entry_labels.c.label, filters.labels),
            )
            .exists()
        )
    if filters.visibility is not None:
        clauses.append(one_of(entries.c.visibility, filters.visibility))
    if filters.created_after is not None:
        clauses.append(entries.c.created_date >= filters.created_after)
    if filters.created_before is not None:
        clauses.append(entries.c.created_date <= filters.created_before)
    return clauses


async def page(
    conn: AsyncConnection,
    dev_org_id: int,
    object_kind: str,
    object_number: int,
    filters: EntryFilters,
    window: Window,
    *,
    viewer: int,
    now: int,
) -> list[Row[Any]]:
    """One page of an object's timeline in entry order (oldest first), plus one row beyond it when there is one
    (walking backwards the rows come newest first; the caller re-sorts). A keyset walk of the object's index."""
    query = sa.select(entries).where(
        entries.c.dev_org_id == dev_org_id,
        entries.c.object_kind == object_kind,
        entries.c.object_number == object_number,
        *visible(dev_org_id, viewer, now),
        *_filter_clauses(dev_org_id, filters),
    )
    return list((await conn.execute(number_page(query, entries.c.number, window))).all())


async def expired(conn: AsyncConnection, now: int, batch: int) -> list[tuple[int, int]]:
    """(dev_org_id, number) of up to `batch` entries whose expiry has passed, of any org (the sweep's work)."""
    query = (
        sa.select(entries.c.dev_org_id, entries.c.number)
        .where(entries.c.expires_at <= now)
        .order_by(entries.c.expires_at)
        .limit(batch)
    )
    return [(row.dev_org_id, row.number) for row in (await conn.execute(query)).all()]


async def first_entries(
    conn: AsyncConnection,
    dev_org_id: int,
    object_kind: str,
    object_numbers: Sequence[int],
    *,
    limit: int,
    viewer: int | None,
    now: int,
) -> list[Row[Any]]:
    """The first `limit` entries (in entry order) of each of several objects' timelines, ordered by object then
    entry: one statement for a page of objects (a window function numbers each timeline's rows). `viewer` None
    reads private entries too (an operator's export); expired entries are left out either way."""
    conditions = [
        entries.c.dev_org_id == dev_org_id,
        entries.c.object_kind == object_kind,
        one_of(entries.c.object_number, object_numbers),
    ]
    if viewer is None:
        conditions.append(sa.or_(entries.c.expires_at.is_(None), entries.c.expires_at > now))
    else:
        conditions.extend(visible(dev_org_id, viewer, now))
    position = sa.func.row_number().over(partition_by=entries.c.object_number, order_by=entries.c.number)
    ranked = sa.select(entries, position.label("position")).where(*conditions).subquery()
    query = (
        sa.select(*(ranked.c[column.name] for column in entries.c))
        .where(ranked.c.position <= limit)
        .order_by(ranked.c.object_number, ranked.c.number)
    )
    return list((await conn.execute(query)).all())
