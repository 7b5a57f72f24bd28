"""Rules of the tags domain: names unique per org (case-insensitively), a style color, keyset-paged lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.db import Database
from incidentd.errors import BadRequestError, Conflict, InvalidField, NotFound
from incidentd.identity import service as identity
from incidentd.kit import counters, cursors, ids, pages
from incidentd.kit.filters import check_list_lengths
from incidentd.kit.time import now_ms
from incidentd.principal import OrgScope, Principal
from incidentd.search import service as search
from incidentd.tags import repository, schemas

SORT_FIELDS = ("name", "id")


async def summaries(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, schemas.TagSummary]:
    """DevRev's tag-summary of each existing tag among `numbers`, in one query."""
    rows = await repository.get_tags(conn, org.dev_org_id, numbers)
    return {number: schemas.tag_summary(row, org) for number, row in rows.items()}


def _no_values(values: list[str] | None, field_name: str) -> None:
    if values:
        raise InvalidField("tags with allowed values are not supported", field_name=field_name)


async def _existing(conn: AsyncConnection, org: OrgScope, reference: str) -> Row[Any]:
    """The tag a get/update/delete names; another org's tag is as absent as a nonexistent one."""
    parsed = ids.parse(reference, "tag", field_name="id")
    found = await repository.get_tags(conn, org.dev_org_id, [parsed.number]) if org.owns(parsed) else {}
    row = found.get(parsed.number)
    if row is None:
        raise NotFound(f"tag '{reference}' does not exist")
    return row


async def _render(conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.Tag]:
    related = [number for row in rows for number in (row.created_by, row.modified_by) if number is not None]
    users = await identity.users_by_number(conn, org, related)
    return [schemas.tag(row, org, users) for row in rows]


async def create(db: Database, principal: Principal, request: schemas.TagsCreateRequest) -> schemas.Tag:
    _no_values(request.allowed_values, "allowed_values")
    org = principal.org
    async with db.write() as conn:
        number = await counters.allocate(conn, org.dev_org_id, "tag")
        now = now_ms()
        inserted = await repository.insert_tag(
            conn,
            dev_org_id=org.dev_org_id,
            number=number,
            name=request.name,
            description=request.description,
            style_color=request.style_new.color if request.style_new else None,
            created_by=principal.user_number,
            created_date=now,
            modified_by=principal.user_number,
            modified_date=now,
        )
        if not inserted:
            raise Conflict(f"a tag named '{request.name}' exists already")
        rows = await repository.get_tags(conn, org.dev_org_id, [number])
        return (await _render(conn, org, [rows[number]]))[0]


async def get(db: Database, principal: Principal, reference: str) -> schemas.Tag:
    async with db.read() as conn:
        row = await _existing(conn, principal.org, reference)
        return (await _render(conn, principal.org, [row]))[0]


async def update(db: Database, principal: Principal, request: schemas.TagsUpdateRequest) -> schemas.Tag:
    """Change the fields the request carries; an absent field is unchanged, `null` clears an optional one."""
    if request.allowed_values is not UNSET:
        _no_values(request.allowed_values.set, "allowed_values.set")
    org = principal.org
    async with db.write() as conn:
        row = await _existing(conn, org, request.id)
        values: dict[str, Any] = {"modified_by": principal.user_number, "modified_date": now_ms()}
        if request.name is not UNSET:
            values["name"] = request.name
        if request.description is not UNSET:
            values["description"] = request.description
        if request.style_new is not UNSET:
            values["style_color"] = request.style_new.color if request.style_new else None
        if not await repository.update_tag(conn, org.dev_org_id, row.number, **values):
            raise Conflict(f"a tag named '{request.name}' exists already")
        await counters.summaries_changed(conn, org.dev_org_id)  # stored incident documents name it
        if "name" in values and values["name"] != row.name:  # tag names are in incidents' search documents
            await search.refresh_tagged(db, conn, org.dev_org_id, row.number)
        rows = await repository.get_tags(conn, org.dev_org_id, [row.number])
        return (await _render(conn, org, [rows[row.number]]))[0]


async def delete(db: Database, principal: Principal, reference: str) -> None:
    """Delete a tag; the incidents tagged with it lose the tag."""
    async with db.write() as conn:
        row = await _existing(conn, principal.org, reference)
        tagged = await search.tagged(conn, principal.org.dev_org_id, row.number)
        await repository.delete_tag(conn, principal.org.dev_org_id, row.number)
        await counters.summaries_changed(conn, principal.org.dev_org_id)  # stored incident documents name it
        await search.refresh(db, conn, principal.org.dev_org_id, tagged)


@dataclass(frozen=True)
class TagsPage:
    tags: list[schemas.Tag]
    next_cursor: str | None
    prev_cursor: str | None


def _sort_order(sort_by: list[str] | None) -> tuple[bool, bool]:
    """(by_name, descending) from DevRev's `sort_by` (`name:asc`, `id:desc`, ...); default: id ascending.

    Names and ids are both unique, so the first key decides the order alone; later keys are checked only.
    """
    order: list[tuple[bool, bool]] = []
    for index, item in enumerate(sort_by or []):
        field, _, direction = item.strip().partition(":")
        if field not in SORT_FIELDS or direction not in ("", "asc", "desc"):
            raise InvalidField(
                f"'{item}' is not a sort order; use name or id, then :asc or :desc", field_name=f"sort_by[{index}]"
            )
        order.append((field == "name", direction == "desc"))
    return order[0] if order else (False, False)


def _boundary(position: cursors.Position, by_name: bool) -> list[Any]:
    values = position.values
    shape = (str, int) if by_name else (int,)
    if len(values) != len(shape) or not all(isinstance(v, t) for v, t in zip(values, shape, strict=True)):
        raise BadRequestError("the cursor is not valid")
    return values


async def list_tags(db: Database, principal: Principal, request: schemas.TagsListRequest) -> TagsPage:
    """A page of tags in name or id order, with keyset cursors (the sort key and the number of a boundary tag)."""
    check_list_lengths(request)
    by_name, descending = _sort_order(request.sort_by)
    limit = pages.page_limit(request.limit)
    names = sorted({repository.name_key(name) for name in request.name or []})
    fingerprint = cursors.fingerprint("tags", names, by_name, descending)
    boundary: list[Any] | None = None
    direction: cursors.Direction = "after"
    if request.cursor:
        position = cursors.decode(request.cursor, fingerprint)
        boundary = _boundary(position, by_name)
        direction = request.mode or position.direction
    async with db.read() as conn:
        rows = list(
            await repository.list_tags(
                conn,
                principal.org.dev_org_id,
                names=names,
                by_name=by_name,
                descending=descending,
                boundary=boundary,
                direction=direction,
                limit=limit + 1,
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        if direction == "before":
            rows.reverse()
        rendered = await _render(conn, principal.org, rows)
    if not rows:
        return TagsPage(rendered, None, None)

    def key(row: Row[Any]) -> list[Any]:
        return [row.name_key, row.number] if by_name else [row.number]

    # Beyond the page in its own direction lies `more`; behind it lies whatever the cursor came from.
    has_next = more if direction == "after" else boundary is not None
    has_prev = boundary is not None if direction == "after" else more
    return TagsPage(
        rendered,
        cursors.encode(key(rows[-1]), "after", fingerprint) if has_next else None,
        cursors.encode(key(rows[0]), "before", fingerprint) if has_prev else None,
    )
