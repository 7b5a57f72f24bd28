"""Stored incident documents: each incident's answer kept as DevRev's JSON, so that a get is one read and no
rendering, and a list page assembles its incidents from them.

What makes a stored document current, and why a read never shows a stale one:
- The incident's own state. Every write of an incident (create, update, a stage move, closing as a duplicate)
  renders its answer anyway and stores it in the same transaction as the change; a delete removes it. Imports and
  the seeder write incidents without documents: those are rendered on each read until `refresh` stores them.
- What the incident summarises (parts, tags, accounts, articles, artifacts; users, stages and schema fragments are
  never changed, `incidentd.memo`). Every change of those raises the org's summaries version
  (`kit.counters.summaries_changed`) in the same transaction, and a document is current only under the version it
  was rendered under, compared in the statement that reads it. A writer reads the version before it reads any
  summary it renders (or takes one its process read under that same version, `memo.VersionedRows`): on
  PostgreSQL (read committed) a rename that commits after that read leaves the new document under the older
  version, stale at once, never the reverse.
- How it is rendered: `FORMAT` changes with the rendering code's format and the org's DON partition, so documents
  of another build or setting are not current either.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import msgspec
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.incidents import documents_repository as repository
from incidentd.incidents import repository as incidents_repository
from incidentd.incidents import schemas
from incidentd.incidents.rendering import render
from incidentd.principal import OrgScope

# Raise when rendering changes what an incident's JSON holds: every stored document becomes stale.
FORMAT_VERSION = 1
REFRESH_BATCH = 200

_encoder = msgspec.json.Encoder()


def format_of(org: OrgScope) -> int:
    return zlib.crc32(f"{FORMAT_VERSION}/{org.partition}/{org.slug}".encode())


def wire(body: bytes) -> schemas.Incident:
    """A stored document where a wire Incident goes in a response Struct: msgspec writes a Raw's bytes as they are.
    Only for answers that are encoded and nothing else (the annotation, and so the OpenAPI document, stays
    Incident)."""
    return cast(schemas.Incident, msgspec.Raw(body))


def decoded(body: bytes) -> schemas.Incident:
    return msgspec.json.decode(body, type=schemas.Incident)


def answer(body: bytes, *, encoded: bool) -> schemas.Incident:
    """A stored document as the incident a read answers: its bytes when the answer is only encoded, else decoded."""
    return wire(body) if encoded else decoded(body)


async def current(conn: AsyncConnection, org: OrgScope, number: int) -> bytes | None:
    return await repository.current_one(conn, org.dev_org_id, number, format_of(org))


async def current_point(db: Database, org: OrgScope, number: int) -> bytes | None:
    """`current`, read with one statement and no unit of work (`Database.first_row`); raises `db.NoPointRead`."""
    return await repository.current_one_point(db, org.dev_org_id, number, format_of(org))


async def current_many(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, bytes]:
    return await repository.current_many(conn, org.dev_org_id, numbers, format_of(org))


@dataclass(frozen=True)
class Versions:
    """What a create or an update reads before anything else: the org's summaries version (see above), under which
    its document is kept and its summaries may come from memory (`rendering.Summaries`), and the org's fragments
    counter, under which its current schema fragments may (`customization.apply_schema`). Both None on SQLite
    (`version`)."""

    summaries: int | None
    fragments: int | None


async def versions(conn: AsyncConnection, org: OrgScope) -> Versions:
    """`Versions`, in one statement."""
    if conn.dialect.name == "sqlite":
        return Versions(None, None)
    return Versions(*await repository.versions(conn, org.dev_org_id))


async def version(conn: AsyncConnection, org: OrgScope) -> int | None:
    """The org's summaries version, read by a writer before it reads any summary it will render (see above). None
    on SQLite: its writer holds the only write lock from its first statement, so `keep` reads the version as it
    writes the documents, one statement fewer."""
    return (await versions(conn, org)).summaries


async def keep(
    conn: AsyncConnection, org: OrgScope, version: int | None, rendered: dict[int, schemas.Incident]
) -> dict[int, bytes]:
    """Store the documents of incidents this unit of work wrote and rendered under `version`; the documents (the
    incidents' JSON, for a change event to carry without encoding them again)."""
    bodies = {number: _encoder.encode(incident) for number, incident in rendered.items()}
    await repository.store(conn, org.dev_org_id, version, format_of(org), bodies)
    return bodies


async def forget(conn: AsyncConnection, org: OrgScope, numbers: list[int]) -> None:
    await repository.forget(conn, org.dev_org_id, numbers)


async def refresh(db: Database, org: OrgScope, batch: int = REFRESH_BATCH) -> int:
    """Render and store every document of the org that is missing or stale, `batch` incidents per unit of work
    (each locks its incidents, so an update cannot slip between rendering and storing); how many were stored."""
    stored, after = 0, 0
    fmt = format_of(org)
    while True:
        async with db.write(alone=True) as conn:  # a batch: short writes need not wait for its end
            summaries = await version(conn, org)
            numbers = await repository.stale_numbers(conn, org.dev_org_id, after, batch, fmt)
            if not numbers:
                return stored
            rows = await incidents_repository.lock_many(conn, org.dev_org_id, numbers)
            incidents = await render(conn, org, list(rows.values()))
            await keep(conn, org, summaries, dict(zip(rows, incidents, strict=True)))
        stored += len(rows)
        after = numbers[-1]


def documents_or_rendered(
    found: dict[int, bytes], rendered: dict[int, schemas.Incident], numbers: list[int], *, encoded: bool
) -> list[schemas.Incident]:
    """The incidents of `numbers` in order, each from its stored document or its rendering."""
    incidents: list[schemas.Incident] = []
    for number in numbers:
        body = found.get(number)
        incidents.append(rendered[number] if body is None else answer(body, encoded=encoded))
    return incidents
