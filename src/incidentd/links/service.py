"""Rules of links: create, get, list, delete, replace. Every link joins an incident to another incident, a part, an
article or an account, with one of the link types that make sense for incidents (`endpoints.RULES`); an object
is merged into one incident at most. Raises DevRev errors; never imports the web framework."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.errors import BadRequestError, Conflict, InvalidField, NotFound
from incidentd.identity import service as identity
from incidentd.identity.schemas import user_summary
from incidentd.incidents import service as incidents
from incidentd.kit import counters, ids, pages
from incidentd.kit.time import now_ms, to_rfc3339
from incidentd.links import repository, schemas
from incidentd.links.endpoints import LINKABLE, RULES, End, resolve, resolve_pair, summaries
from incidentd.principal import OrgScope, Principal
from incidentd.timeline import changes
from incidentd.timeline import service as timeline
from incidentd.timeline.schemas import ChangeEvent
from incidentd.webhooks import outbox

MERGED_INTO = repository.MERGED_INTO


# rows -> wire ----------------------------------------------------------------------------------------------


def _ends(row: Row[Any]) -> tuple[End, End]:
    return End(row.source_type, row.source_number), End(row.target_type, row.target_number)


async def render(
    conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]], known: dict[End, schemas.LinkEndpoint] | None = None
) -> list[schemas.Link]:
    """Links in DevRev's shape; the summaries in `known` are not fetched again."""
    known = dict(known or {})
    wanted = {end for row in rows for end in _ends(row)} - known.keys()
    known |= await summaries(conn, org, wanted)
    users = await identity.users_by_number(
        conn, org, {n for row in rows for n in (row.created_by, row.modified_by) if n is not None}
    )
    people = {number: user_summary(user, org) for number, user in users.items()}
    rendered: list[schemas.Link] = []
    for row in rows:
        source, target = _ends(row)
        rendered.append(
            schemas.Link(
                id=org.don("link", row.number),
                link_type=row.link_type,
                source=known[source],
                target=known[target],
                created_by=people.get(row.created_by),
                created_date=to_rfc3339(row.created_date),
                modified_by=people.get(row.modified_by),
                modified_date=to_rfc3339(row.modified_date),
            )
        )
    return rendered


# history: change events on the timelines of the incidents a link joins -------------------------------------


async def _record(conn: AsyncConnection, principal: Principal, row: Row[Any], event: ChangeEvent) -> None:
    for end in _ends(row):
        if end.type in timeline.OBJECT_KINDS:  # parts, articles and accounts have no timeline here
            await changes.record_change(conn, principal.org, principal, principal.org.don(end.type, end.number), event)


async def _record_linked(conn: AsyncConnection, principal: Principal, row: Row[Any], link: schemas.Link) -> None:
    """A `linked` event carrying the new link's link-summary, on each incident end."""
    summary = schemas.LinkSummary(id=link.id, link_type=link.link_type, source=link.source, target=link.target)
    await _record(conn, principal, row, changes.linked(summary))


def _event_object(row: Row[Any]) -> int:
    """The object whose events a link's event keeps order with (webhooks.deliveries per object): its incident."""
    source, target = _ends(row)
    return source.number if source.type == "incident" else target.number


async def _delete(db: Database, conn: AsyncConnection, principal: Principal, number: int) -> bool:
    """Delete a link, with a `deleted` event naming it on each incident end (DevRev has no `unlinked` event),
    and its `link_deleted` event."""
    org = principal.org
    row = await repository.delete(conn, org.dev_org_id, number)
    if row is None:
        return False
    await _record(conn, principal, row, changes.deleted(org.don("link", number)))
    if "link_deleted" in await outbox.wanted(db, conn, org):
        await outbox.record(db, conn, org, "link_deleted", _event_object(row), {"id": org.don("link", number)})
    return True


# writing ---------------------------------------------------------------------------------------------------


async def check_merge(
    conn: AsyncConnection, org: OrgScope, source: End, target: End, *, other_than: int | None = None
) -> None:
    """An incident is merged into one incident at most, and never into one that is itself merged (follow that
    one's link instead): 400 invalid_field naming the end at fault. The caller holds both incidents locked."""
    merged = await repository.merged_into(conn, org.dev_org_id, [source.number, target.number], other_than=other_than)
    if source.number in merged:
        into = ids.to_display("incident", merged[source.number])
        raise InvalidField(f"{source.display} is merged into {into} already", field_name="source")
    if target.number in merged:
        into = ids.to_display("incident", merged[target.number])
        raise InvalidField(f"{target.display} is merged into {into}; merge into {into} instead", field_name="target")


async def insert(
    db: Database,
    conn: AsyncConnection,
    principal: Principal,
    link_type: str,
    source: End,
    target: End,
    known: dict[End, schemas.LinkEndpoint],
) -> schemas.Link:
    """Write a link whose ends are resolved and checked, with a `linked` change event on each incident end and
    its `link_created` event; 409 conflict when the org has it already."""
    org = principal.org
    number = await counters.allocate(conn, org.dev_org_id, "link")
    row = await repository.insert(
        conn,
        dev_org_id=org.dev_org_id,
        number=number,
        link_type=link_type,
        source=source.key,
        target=target.key,
        user_number=principal.user_number,
        now=now_ms(),
    )
    if row is None:
        existing = await repository.find(conn, org.dev_org_id, link_type, source.key, target.key)
        if existing is None:  # the unique constraint did not refuse it: an end went while the link was written
            raise BadRequestError("an end of the link was deleted while the link was being created")
        raise Conflict(
            f"{source.display} {link_type} {target.display} exists already: {org.don('link', existing.number)}"
        )
    link = (await render(conn, org, [row], known))[0]
    await _record_linked(conn, principal, row, link)
    if "link_created" in await outbox.wanted(db, conn, org):
        await outbox.record(db, conn, org, "link_created", _event_object(row), {"link": link})
    return link


async def _write(
    db: Database,
    conn: AsyncConnection,
    principal: Principal,
    link_type: str,
    source: str,
    target: str,
    *,
    replacing: int | None = None,
) -> schemas.Link:
    org = principal.org
    source_end, target_end, known = await resolve_pair(conn, org, link_type, source, target)
    if link_type == MERGED_INTO:
        await incidents.lock(conn, org, [source_end.number, target_end.number])
        await check_merge(conn, org, source_end, target_end, other_than=replacing)
    if replacing is not None:
        await _delete(db, conn, principal, replacing)
    return await insert(db, conn, principal, link_type, source_end, target_end, known)


async def create(db: Database, principal: Principal, request: schemas.LinksCreateRequest) -> schemas.Link:
    """Link two objects of the caller's org."""
    if request.custom_link_type is not None:
        raise InvalidField("incidentd has no custom link types", field_name="custom_link_type")
    async with db.write() as conn:
        return await _write(db, conn, principal, request.link_type, request.source, request.target)


async def replace(db: Database, principal: Principal, request: schemas.LinksReplaceRequest) -> schemas.Link:
    """Replace a link by a new one (a new id) in one transaction: the old link is gone, the new one answered."""
    org = principal.org
    number = _link_number(org, request.id)
    async with db.write() as conn:
        if number not in await repository.get_many(conn, org.dev_org_id, [number]):
            raise NotFound(f"link '{request.id}' does not exist")
        return await _write(db, conn, principal, request.link_type, request.source, request.target, replacing=number)


async def delete(db: Database, principal: Principal, reference: str) -> None:
    number = _link_number(principal.org, reference)
    async with db.write() as conn:
        if not await _delete(db, conn, principal, number):
            raise NotFound(f"link '{reference}' does not exist")


# reading ---------------------------------------------------------------------------------------------------


def _link_number(org: OrgScope, reference: str) -> int:
    """The number of the link an id names; 0 (nothing) for another org's."""
    parsed = ids.parse(reference, "link", field_name="id")
    return parsed.number if org.owns(parsed) else 0


async def get(db: Database, principal: Principal, reference: str) -> schemas.Link:
    org = principal.org
    number = _link_number(org, reference)
    async with db.read() as conn:
        rows = await repository.get_many(conn, org.dev_org_id, [number])
        if number not in rows:
            raise NotFound(f"link '{reference}' does not exist")
        return (await render(conn, org, [rows[number]]))[0]


@dataclass(frozen=True)
class LinksPage:
    links: list[schemas.Link]
    next_cursor: str | None
    prev_cursor: str | None


_SIDES = {None: ("source", "target"), "is_source": ("source",), "is_target": ("target",)}


def _sorted(*lists: Iterable[str] | None) -> list[str]:
    return sorted({value for values in lists for value in values or []})


async def list_links(db: Database, principal: Principal, request: schemas.LinksListRequest) -> LinksPage:
    """A page of the links of one object, oldest first, with keyset cursors over the link number."""
    org = principal.org
    link_types = _sorted(request.link_type, request.types)
    object_types = _sorted(request.object_types)
    async with db.read() as conn:
        end, _ = await resolve(conn, org, request.object, types=LINKABLE, field_name="object")
        if request.custom_link_type:
            return LinksPage([], None, None)
        window = pages.window(
            request.cursor, request.mode, request.limit, "links", end.key, request.direction, link_types, object_types
        )
        rows = list(
            await repository.page(
                conn,
                org.dev_org_id,
                endpoint_type=end.type,
                number=end.number,
                sides=_SIDES[request.direction],
                link_types=link_types,
                object_types=object_types,
                window=window,
            )
        )
        more = len(rows) > window.limit
        rows = sorted(rows[: window.limit], key=lambda row: row.number)
        rendered = await render(conn, org, rows)
    cursors = pages.page_cursors([row.number for row in rows], more=more, page=window)
    return LinksPage(rendered, cursors.next_cursor, cursors.prev_cursor)


# export and import -----------------------------------------------------------------------------------------


async def of_incidents(
    conn: AsyncConnection, org: OrgScope, numbers: list[int], *, limit: int
) -> dict[int, list[schemas.Link]]:
    """{incident: the links it is the first incident end of, in link order}, at most `limit` + 1 each (a caller
    that gets more than `limit` knows the list was cut): an export walking every incident meets each link once."""
    rows = await repository.of_incidents(conn, org.dev_org_id, numbers, limit=limit)
    found: dict[int, list[schemas.Link]] = {}
    for row, link in zip(rows, await render(conn, org, list(rows)), strict=True):
        found.setdefault(row.first_incident, []).append(link)
    return found


@dataclass(frozen=True)
class Provenance:
    """Who made an imported link and when, as its source says (numbers of this org's users)."""

    created_by: int
    created_date: int
    modified_by: int
    modified_date: int


async def import_link(
    conn: AsyncConnection, org: OrgScope, link_type: str, source: str, target: str, provenance: Provenance
) -> tuple[int, bool]:
    """Write a link an import brings, between objects of this org named by id: the same checks as links.create
    (what the type joins, one merge target per incident), but no change events and no webhook events (the
    imported timeline has its own history). (The link's number, whether it was written): the existing link's
    number when the org has it already. Raises DevRev errors naming `source` or `target`."""
    if link_type not in RULES:
        raise InvalidField(f"incidentd does not link '{link_type}'", field_name="link_type")
    source_end, target_end, _ = await resolve_pair(conn, org, link_type, source, target)
    existing = await repository.find(conn, org.dev_org_id, link_type, source_end.key, target_end.key)
    if existing is not None:
        return int(existing.number), False
    if link_type == MERGED_INTO:
        await incidents.lock(conn, org, [source_end.number, target_end.number])
        await check_merge(conn, org, source_end, target_end)
    number = await counters.allocate(conn, org.dev_org_id, "link")
    row = await repository.insert(
        conn,
        dev_org_id=org.dev_org_id,
        number=number,
        link_type=link_type,
        source=source_end.key,
        target=target_end.key,
        user_number=provenance.created_by,
        now=provenance.created_date,
        modified_by=provenance.modified_by,
        modified_date=provenance.modified_date,
    )
    if row is None:  # written between the lookup and the insert
        raise Conflict(f"{source_end.display} {link_type} {target_end.display} exists already")
    return number, True
