"""Loading imported records into an org, whatever their source (an NDJSON export, a Dispatch database).

A source turns each of its incidents into a `Record` (its references already resolved to this org's objects by
`references.References`); `load` writes a batch of them in one transaction, each record in a savepoint of its
own: the incident through `incidents.importing.put`, its timeline entries through `timeline.import_entry`, and
the import map rows that make the next run idempotent. The map is keyed by (org, source, the record's id in the source):

- a record not in the map is created, under its source display number when that number is free in this org
  (no incident has it, no deleted incident left a timeline under it), else under a new number (`renumbered`);
- a record in the map whose digest (of the source record as read) is unchanged is skipped, nothing is written;
- a changed record rewrites its incident in place and appends the timeline entries not imported yet (`updated`);
- a record in the map whose incident was deleted since is created again.

A record that fails (a stage this org's diagram lacks, a custom field no fragment declares, ...) is counted with
its reason and the import goes on: one record's unit of work never leaves half an incident.

Links come after the incidents they join (`load_links`): a link whose incident end names a source incident not
imported yet waits (the caller offers it again at the end), one whose end cannot be found here is dropped and
counted. Links are mapped too (object kind `link`), so a second run writes none again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.errors import ApiError
from incidentd.imports import repository
from incidentd.incidents import importing
from incidentd.incidents import schemas as incident_schemas
from incidentd.incidents import service as incidents
from incidentd.kit import counters
from incidentd.kit.time import now_ms
from incidentd.links import service as links
from incidentd.principal import OrgScope, Principal
from incidentd.search import service as search
from incidentd.timeline import service as timeline
from incidentd.timeline.schemas import TimelineEntry

MAX_FAILURES_LISTED = 20


@dataclass(frozen=True)
class Entry:
    """A timeline entry to import: its id in the source, the entry, and this org's users for its authors."""

    source_id: str
    entry: TimelineEntry
    created_by: int
    modified_by: int


@dataclass(frozen=True)
class Record:
    source_id: str
    digest: str
    number: int | None  # the display number the source gave it (kept when free)
    request: incident_schemas.IncidentsCreateRequest
    provenance: importing.Provenance
    entries: list[Entry] | None  # None: the source brings no timeline (a `created` change event is recorded)


@dataclass
class Summary:
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    renumbered: int = 0  # created under another number than the source's (it was taken)
    entries: int = 0  # timeline entries imported
    links: int = 0  # links written (one this org had already is mapped, not counted)
    links_dropped: int = 0  # links whose other end is neither in the import nor in this org
    users_created: int = 0
    tags_created: int = 0
    parts_created: int = 0
    accounts_created: int = 0
    dropped: int = 0  # references to parts / articles that do not exist here, left out
    failures: list[str] = field(default_factory=list)

    def fail(self, where: str, reason: str) -> None:
        self.failed += 1
        if len(self.failures) < MAX_FAILURES_LISTED:
            self.failures.append(f"{where}: {reason}")

    def line(self) -> str:
        return (
            f"{self.read:,} read: {self.created:,} created, {self.updated:,} updated, {self.skipped:,} skipped, "
            f"{self.failed:,} failed; {self.renumbered:,} renumbered, {self.entries:,} timeline entries, "
            f"{self.links:,} links ({self.links_dropped:,} dropped), "
            f"{self.users_created:,} users, {self.tags_created:,} tags, {self.parts_created:,} parts and "
            f"{self.accounts_created:,} accounts created, {self.dropped:,} references dropped"
        )


@dataclass(frozen=True)
class LinkEnd:
    """One end of an imported link: an incident of the source, by its id there (found through the import map,
    or as this org's own incident when the import skipped it as unchanged), or an object of this org by id
    (None when the source's object has no counterpart here)."""

    incident: str | None = None
    local_id: str | None = None


@dataclass(frozen=True)
class LinkRecord:
    source_id: str  # the link's id in the source
    link_type: str
    source: LinkEnd
    target: LinkEnd
    provenance: links.Provenance


def importer(org: OrgScope) -> Principal:
    """The principal an import acts as: the org's system (sys user 0), as the CLI's other commands do."""
    return Principal(org, 0, "sys_user")


async def unchanged(
    db: Database, org: OrgScope, source: str, records: Sequence[tuple[str, str, int | None, int | None]]
) -> set[str]:
    """Which of a batch of source records there is nothing to do for, in one read: (source id, digest, the
    number its id names in this org or None, its created_date) each. A record is unchanged when it was imported
    with this digest and its incident still exists, or when it is this org's own incident (its id names one of
    ours with the same created_date: an export loaded back where it came from)."""
    async with db.read() as conn:
        known = await repository.imported(conn, org.dev_org_id, source, [source_id for source_id, *_ in records])
        numbers = {number for number, _ in known.values()} | {own for _, _, own, _ in records if own is not None}
        created = await importing.created_dates(conn, org, list(numbers))
    found = set()
    for source_id, digest, own, created_date in records:
        number, last_digest = known.get(source_id, (None, None))
        if number in created and last_digest == digest:
            found.add(source_id)
        elif own is not None and created_date is not None and created.get(own) == created_date:
            found.add(source_id)
    return found


async def is_current(db: Database, org: OrgScope, source: str, source_id: str, digest: str) -> bool:
    """Whether this record was imported already, unchanged, and its incident still exists (nothing to do)."""
    return bool(await unchanged(db, org, source, [(source_id, digest, None, None)]))


async def load(
    db: Database,
    principal: Principal,
    source: str,
    records: list[Record],
    summary: Summary,
    *,
    renumber_above: int = 0,
) -> None:
    """Write a batch of records (see the module's rules) in one transaction, each in a savepoint of its own (a
    record that fails is rolled back alone and counted with its reason), counting what happened in `summary`.
    A record renumbered gets a number above `renumber_above` (the source's highest: it takes no number another
    record will ask for). One commit per batch: an import is not bound by the disk's flush rate."""
    if not records:
        return
    now = now_ms()
    async with db.write(alone=True) as conn:  # a batch: short writes need not wait for its end
        for record in records:
            try:
                async with conn.begin_nested():
                    existing, written, entries = await _load_one(
                        db, conn, principal, source, record, renumber_above, now
                    )
            except ApiError as exc:
                summary.fail(record.source_id, exc.message)
                continue
            summary.entries += entries
            if existing:
                summary.updated += 1
            else:
                summary.created += 1
                if record.number is not None and written != record.number:
                    summary.renumbered += 1


async def _load_one(
    db: Database,
    conn: AsyncConnection,
    principal: Principal,
    source: str,
    record: Record,
    renumber_above: int,
    now: int,
) -> tuple[bool, int, int]:
    """Write one record; (whether its incident existed, its number here, the timeline entries appended)."""
    org = principal.org
    found = await repository.find(conn, org.dev_org_id, source, record.source_id)
    existing = found is not None and bool(await incidents.lookup(conn, org.dev_org_id, [found.number]))
    if found is not None and existing:
        number: int | None = found.number
    elif record.number is not None and await importing.number_is_free(
        conn, org, record.number, has_history=await timeline.has_history(conn, org, record.number)
    ):
        number = record.number
    else:
        number = None
        await counters.raise_to(conn, org.dev_org_id, "incident", renumber_above)
    written = await importing.put(
        conn,
        principal,
        record.request,
        record.provenance,
        number=number,
        existing=existing,
        record_created=record.entries is None and not existing,
    )
    await repository.record(
        conn,
        dev_org_id=org.dev_org_id,
        source=source,
        source_id=record.source_id,
        object_kind="incident",
        number=written,
        digest=record.digest,
        now=now,
    )
    entries = record.entries or []
    # An entry mapped to another incident (its incident was deleted and is created again) comes again.
    done = await repository.mapped(conn, org.dev_org_id, source, [entry.source_id for entry in entries])
    todo = [entry for entry in entries if entry.source_id not in done or not existing]
    for entry in todo:
        entry_number = await timeline.import_entry(
            conn, org, written, entry.entry, created_by=entry.created_by, modified_by=entry.modified_by
        )
        await repository.record(
            conn,
            dev_org_id=org.dev_org_id,
            source=source,
            source_id=entry.source_id,
            object_kind="timeline_entry",
            number=entry_number,
            digest=None,
            now=now,
        )
    # The search document holds the title, body, tags and comments: written once the entries are in.
    await search.refresh(db, conn, org.dev_org_id, [written], new=not existing)
    return existing, written, len(todo)


async def load_links(
    db: Database,
    principal: Principal,
    source: str,
    records: list[LinkRecord],
    summary: Summary,
    *,
    own_incidents: set[str],
    final: bool,
) -> list[LinkRecord]:
    """Write a batch of links in one transaction, each in a savepoint of its own; a link imported already is
    left alone. The links that name a source incident not imported (yet) are returned to be offered again, or,
    when `final`, dropped and counted, as are links whose part, article or account end has no counterpart here.
    `own_incidents`: source incident ids that are this org's own incidents (skipped as unchanged)."""
    if not records:
        return []
    org = principal.org
    waiting: list[LinkRecord] = []
    now = now_ms()
    async with db.write(alone=True) as conn:
        done = await repository.mapped(conn, org.dev_org_id, source, [record.source_id for record in records])
        named = {end.incident for record in records for end in (record.source, record.target) if end.incident}
        incidents_here = await repository.mapped(conn, org.dev_org_id, source, sorted(named))

        def local(end: LinkEnd) -> str | None:
            if end.incident is None:
                return end.local_id
            if end.incident in incidents_here:
                return org.don("incident", incidents_here[end.incident])
            return end.incident if end.incident in own_incidents else None

        for record in records:
            if record.source_id in done:
                continue
            source_id, target_id = local(record.source), local(record.target)
            if source_id is None or target_id is None:
                unresolved_incident = (source_id is None and record.source.incident is not None) or (
                    target_id is None and record.target.incident is not None
                )
                if unresolved_incident and not final:
                    waiting.append(record)
                else:
                    summary.links_dropped += 1
                continue
            try:
                async with conn.begin_nested():
                    number, written = await links.import_link(
                        conn, org, record.link_type, source_id, target_id, record.provenance
                    )
                    await repository.record(
                        conn,
                        dev_org_id=org.dev_org_id,
                        source=source,
                        source_id=record.source_id,
                        object_kind="link",
                        number=number,
                        digest=None,
                        now=now,
                    )
            except ApiError as exc:
                summary.fail(f"link {record.source_id}", exc.message)
                continue
            summary.links += written
    return waiting
