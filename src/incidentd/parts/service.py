"""Rules of the parts domain: the product hierarchy (product > capability > feature, enhancements on any of
them), owners, and keyset-paged lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.errors import BadRequestError, InvalidField, MissingRequiredField, NotFound
from incidentd.identity import service as identity
from incidentd.kit import counters, ids, pages
from incidentd.kit.filters import check_list_lengths
from incidentd.kit.references import Lookup, resolve_many, resolve_one
from incidentd.kit.time import now_ms
from incidentd.parts import repository, schemas
from incidentd.principal import OrgScope, Principal

# The kinds of part each type may be created under; a product is a root and has none.
PARENT_TYPES: dict[str, tuple[str, ...]] = {
    "product": (),
    "capability": ("product",),
    "feature": ("capability", "feature"),
    "enhancement": ("product", "capability", "feature"),
}


async def lookup(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """{number: part type} of the parts that exist (a `kit.references.Lookup`)."""
    return await repository.part_types(conn, dev_org_id, numbers)


async def summaries(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, schemas.PartSummary]:
    """DevRev's part-summary of each existing part among `numbers`, with its owners: one query for the parts and
    their owners, and one for the owners not yet remembered, whatever the number of parts."""
    found = await repository.get_parts_with_owners(conn, org.dev_org_id, numbers)
    users = await identity.users_by_number(conn, org, [user for _, owned in found.values() for user in owned])
    return {number: schemas.part_summary(row, org, owned, users) for number, (row, owned) in found.items()}


async def _render(conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.Part]:
    owners = await repository.get_owners(conn, org.dev_org_id, [row.number for row in rows])
    related = [user for owned in owners.values() for user in owned]
    related += [number for row in rows for number in (row.created_by, row.modified_by) if number is not None]
    users = await identity.users_by_number(conn, org, related)
    return [schemas.part(row, org, owners[row.number], users) for row in rows]


async def _existing(conn: AsyncConnection, org: OrgScope, reference: str, *, lock: bool = False) -> Row[Any]:
    """The part a get/update/delete names; another org's part, or a display id of the wrong type (`FEAT-3` for
    product 3), is as absent as a nonexistent one. `lock` holds it until the transaction ends."""
    parsed = ids.parse(reference, ids.PART_KINDS, field_name="id")
    row = None
    if org.owns(parsed):
        if lock:
            row = await repository.lock_part(conn, org.dev_org_id, parsed.number)
        else:
            row = (await repository.get_parts(conn, org.dev_org_id, [parsed.number])).get(parsed.number)
    if row is None or row.part_type != parsed.kind.name:
        raise NotFound(f"part '{reference}' does not exist")
    return row


async def _owners(conn: AsyncConnection, org: OrgScope, values: list[str], field_name: str) -> list[int]:
    """The user numbers of the owners, in request order; DevRev requires at least one."""
    if not values:
        raise InvalidField("a part needs at least one owner", field_name=field_name)
    return await resolve_many(
        conn, org, values, kinds=ids.USER_KINDS, field_name=field_name, lookup=identity.user_kinds
    )


async def _parent(conn: AsyncConnection, org: OrgScope, part_type: str, values: list[str] | None) -> int | None:
    """The number of the part a new part of `part_type` goes under, checked against the hierarchy."""
    allowed = PARENT_TYPES[part_type]
    if not allowed:
        if values:
            raise InvalidField("a product is a root part and has no parent part", field_name="parent_part")
        return None
    if values is None:
        raise MissingRequiredField(f"a {part_type} needs a parent part", field_name="parent_part")
    if len(values) != 1:
        raise InvalidField(f"a {part_type} needs exactly one parent part", field_name="parent_part")
    parsed = ids.parse(values[0], ids.PART_KINDS, field_name="parent_part[0]")
    if parsed.kind.name not in allowed:
        raise InvalidField(
            f"a {part_type} goes under a {' or a '.join(allowed)}, not a {parsed.kind.name}", field_name="parent_part"
        )
    # Share-locked: the parent cannot be deleted before this part is committed under it.
    return await resolve_one(
        conn, org, values[0], kinds=ids.PART_KINDS, field_name="parent_part[0]", lookup=repository.share_part_types
    )


async def create(db: Database, principal: Principal, request: schemas.PartsCreateRequest) -> schemas.Part:
    org = principal.org
    async with db.write() as conn:
        owners = await _owners(conn, org, request.owned_by, "owned_by")
        parent = await _parent(conn, org, request.type, request.parent_part)
        number = await counters.allocate(conn, org.dev_org_id, request.type)
        now = now_ms()
        await repository.insert_part(
            conn,
            dev_org_id=org.dev_org_id,
            number=number,
            part_type=request.type,
            name=request.name,
            description=request.description,
            parent_number=parent,
            created_by=principal.user_number,
            created_date=now,
            modified_by=principal.user_number,
            modified_date=now,
        )
        await repository.set_owners(conn, org.dev_org_id, number, owners)
        rows = await repository.get_parts(conn, org.dev_org_id, [number])
        return (await _render(conn, org, [rows[number]]))[0]


async def get(db: Database, principal: Principal, reference: str) -> schemas.Part:
    async with db.read() as conn:
        row = await _existing(conn, principal.org, reference)
        return (await _render(conn, principal.org, [row]))[0]


async def update(db: Database, principal: Principal, request: schemas.PartsUpdateRequest) -> schemas.Part:
    """Change the fields the request carries; an absent field is unchanged, `null` clears the description, and
    `owned_by.set` replaces the owners (never with none)."""
    org = principal.org
    async with db.write() as conn:
        row = await _existing(conn, org, request.id)
        if request.type is not UNSET and request.type != row.part_type:
            raise InvalidField(f"{request.id} is a {row.part_type}, not a {request.type}", field_name="type")
        values: dict[str, Any] = {"modified_by": principal.user_number, "modified_date": now_ms()}
        if request.name is not UNSET:
            values["name"] = request.name
        if request.description is not UNSET:
            values["description"] = request.description
        if request.owned_by is not UNSET and request.owned_by.set is not None:
            owners = await _owners(conn, org, request.owned_by.set, "owned_by.set")
            await repository.set_owners(conn, org.dev_org_id, row.number, owners)
        await repository.update_part(conn, org.dev_org_id, row.number, **values)
        await counters.summaries_changed(conn, org.dev_org_id)  # stored incident documents name it
        rows = await repository.get_parts(conn, org.dev_org_id, [row.number])
        return (await _render(conn, org, [rows[row.number]]))[0]


async def delete(db: Database, principal: Principal, reference: str) -> None:
    """Delete a part that has no child parts; the incidents that apply to it lose it."""
    async with db.write() as conn:
        row = await _existing(conn, principal.org, reference, lock=True)
        if await repository.has_children(conn, principal.org.dev_org_id, row.number):
            raise BadRequestError(f"part {reference} has child parts; delete them first")
        await repository.delete_part(conn, principal.org.dev_org_id, row.number)
        await counters.summaries_changed(conn, principal.org.dev_org_id)  # stored incident documents name it


@dataclass(frozen=True)
class PartsPage:
    parts: list[schemas.Part]
    next_cursor: str | None
    prev_cursor: str | None


def _references(
    org: OrgScope, values: list[str] | None, kinds: tuple[str, ...], field_name: str
) -> list[ids.ObjectId] | None:
    """The ids a list filter names (None: no filter), parsed: a malformed id or one of the wrong kind is a bad
    request naming it; ids of another org match nothing, so they are left out."""
    if values is None:
        return None
    references = []
    for index, value in enumerate(values):
        parsed = ids.parse(value, kinds, field_name=f"{field_name}[{index}]")
        if org.owns(parsed):
            references.append(parsed)
    return references


def _key(references: list[ids.ObjectId] | None) -> list[str] | None:
    """What a cursor remembers of a filter's ids."""
    return None if references is None else sorted({f"{ref.kind.name}/{ref.number}" for ref in references})


async def _matching(
    conn: AsyncConnection, org: OrgScope, references: list[ids.ObjectId] | None, lookup: Lookup
) -> list[int] | None:
    """The numbers of the filter's objects that exist as the kind their id says (`FEAT-1` names nothing when
    part 1 is a product), in one query."""
    if references is None:
        return None
    found = await lookup(conn, org.dev_org_id, {ref.number for ref in references})
    return sorted({ref.number for ref in references if found.get(ref.number) == ref.kind.name})


async def list_parts(db: Database, principal: Principal, request: schemas.PartsListRequest) -> PartsPage:
    """A page of parts in id order, with keyset cursors over the part number."""
    check_list_lengths(request)
    org = principal.org
    owners = _references(org, request.owned_by, ids.USER_KINDS, "owned_by")
    created_by = _references(org, request.created_by, ids.USER_KINDS, "created_by")
    modified_by = _references(org, request.modified_by, ids.USER_KINDS, "modified_by")
    parents: list[ids.ObjectId] | None = None
    level: int | None = None
    if request.parent_part is not None:
        if not request.parent_part.parts:
            raise InvalidField("name at least one part", field_name="parent_part.parts")
        level = request.parent_part.level
        if level is not None and level < 1:
            raise InvalidField("level must be at least 1", field_name="parent_part.level")
        parents = _references(org, request.parent_part.parts, ids.PART_KINDS, "parent_part.parts")
    types = sorted(set(request.type or []))
    names = sorted({name.lower() for name in request.name or []})
    page = pages.window(
        request.cursor,
        request.mode,
        request.limit,
        "parts",
        types,
        names,
        _key(owners),
        _key(created_by),
        _key(modified_by),
        _key(parents),
        level,
    )
    users = identity.user_kinds
    async with db.read() as conn:
        rows = list(
            await repository.list_parts(
                conn,
                org.dev_org_id,
                types=types,
                names=names,
                owners=await _matching(conn, org, owners, users),
                created_by=await _matching(conn, org, created_by, users),
                modified_by=await _matching(conn, org, modified_by, users),
                parents=await _matching(conn, org, parents, repository.part_types),
                parent_level=level,
                page=page,
            )
        )
        more = len(rows) > page.limit
        rows = sorted(rows[: page.limit], key=lambda row: row.number)
        rendered = await _render(conn, org, rows)
    links = pages.page_cursors([row.number for row in rows], more=more, page=page)
    return PartsPage(rendered, links.next_cursor, links.prev_cursor)
