"""Reading incidents: get one, list a page of those matching filters in a sort order, with keyset cursors."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import fields as custom_fields
from incidentd.customization import service as customization
from incidentd.customization.schemas import FieldDescriptor
from incidentd.db import Database, NoPointRead
from incidentd.errors import BadRequestError, InvalidField, NotFound
from incidentd.incidents import documents, filters, repository, schemas
from incidentd.incidents.rendering import render
from incidentd.kit import cursors, ids, pages
from incidentd.kit.time import now_ms
from incidentd.principal import OrgScope, Principal

LEAF_TYPE = "incident"
FEW_MATCHES_AT_LEAST = 256


# get -------------------------------------------------------------------------------------------------


async def get(db: Database, principal: Principal, reference: str, *, encoded: bool = False) -> schemas.Incident:
    """The incident, from its stored document when that is current (one statement, no rendering). `encoded`: the
    answer is only encoded, so a document is passed on as its bytes (`documents.wire`)."""
    org = principal.org
    number = incident_number(org, reference)
    body: bytes | None = None
    looked = not number  # no number (another org's id): nothing to look up, not found
    if number:
        with contextlib.suppress(NoPointRead):  # one statement, no unit of work
            body, looked = await documents.current_point(db, org, number), True
    if body is None:
        async with db.read() as conn:
            if not looked:
                body = await documents.current(conn, org, number)
            if body is None:
                return await _fetch(conn, org, number, reference)
    return documents.answer(body, encoded=encoded)


def incident_number(org: OrgScope, reference: str) -> int:
    """The number of the incident an id names; 404 for ids of other orgs (exactly like ids that do not exist)."""
    parsed = ids.parse(reference, "incident", field_name="id")
    return parsed.number if org.owns(parsed) else 0


async def lookup(conn: AsyncConnection, dev_org_id: int, numbers: Iterable[int]) -> dict[int, str]:
    """{number: "incident"} of the incidents that exist (a `kit.references.Lookup` for other domains)."""
    return {number: LEAF_TYPE for number in await repository.get_many(conn, dev_org_id, numbers)}


async def _fetch(conn: AsyncConnection, org: OrgScope, number: int, reference: str | None = None) -> schemas.Incident:
    rows = await repository.get_many(conn, org.dev_org_id, [number])
    if number not in rows:
        raise NotFound(f"incident '{reference or number}' does not exist")
    return (await render(conn, org, [rows[number]]))[0]


# list ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentsPage:
    incidents: list[schemas.Incident]
    next_cursor: str | None
    prev_cursor: str | None


def request_fingerprint(request: Any, *extra: Any) -> str:
    """What a cursor is bound to: the filters and sort of the request (not its cursor, mode or limits)."""
    document = msgspec.to_builtins(request)
    for name in ("cursor", "mode", "limit", "limit_per_group"):
        document.pop(name, None)
    return cursors.fingerprint(document, *extra)


async def filter_spec(conn: AsyncConnection, org: OrgScope, request: Any, now: int) -> filters.FilterSpec:
    """The request's filters with stage names and custom field values resolved (and how selective each custom
    field filter is)."""
    spec = filters.parse_filters(request, org, now)
    if spec.stage_names:
        assert spec.stage_numbers is not None
        spec.stage_numbers += await customization.stage_numbers_named(conn, org, spec.stage_names, field_name="stage")
    if spec.custom_fields:
        declared = await customization.declared_fields(conn, org, LEAF_TYPE)
        few = await few_matches(conn, org)
        for name, wanted in spec.custom_fields.items():
            keys = _custom_field_keys(declared, name, wanted, org)
            spec.custom_field_keys[name] = keys
            present = [key for key in keys if key is not None]
            if await repository.count_custom_matches(conn, org.dev_org_id, name, present, up_to=few) <= few:
                spec.sparse_custom_fields.add(name)
    return spec


async def few_matches(conn: AsyncConnection, org: OrgScope) -> int:
    """Up to how many matches a custom field filter starts the query (a semi-join, then sorting the matches)
    rather than walking the sort order and testing each incident. Over n incidents a page of 50 walks about
    50 n / m incidents for m matches; the two cost the same near m = sqrt(64 n) (measured on SQLite, see
    docs/performance.md)."""
    return max(FEW_MATCHES_AT_LEAST, 8 * math.isqrt(await repository.incident_number_ceiling(conn, org.dev_org_id)))


def _custom_field_keys(
    declared: dict[str, list[FieldDescriptor]], name: str, wanted: list[Any], org: OrgScope
) -> list[str | None]:
    """The index keys a custom field filter matches (None: incidents without a value)."""
    field_name = f"custom_fields.{name}"
    if name not in declared:
        raise InvalidField(f"'{name}' is not a field of any schema fragment of incidents", field_name=field_name)
    keys: list[str | None] = []
    for value in wanted:
        if value is None:
            keys.append(None)
        else:
            keys += sorted(custom_fields.filter_keys(declared[name], value, field_name=field_name, org=org))
    return keys


async def list_incidents(
    db: Database, principal: Principal, request: schemas.IncidentsListRequest, *, encoded: bool = False
) -> IncidentsPage:
    """A page of the incidents that match every filter, in the requested order, with keyset cursors; incidents
    with a current stored document are taken from it (`encoded` as in `get`)."""
    org = principal.org
    sort = filters.parse_sort(request.sort_by)
    limit = pages.page_limit(request.limit)
    fingerprint = request_fingerprint(request, "incidents.list")
    boundary, backwards = _position(request.cursor, request.mode, fingerprint, "list", sort)
    async with db.read() as conn:
        clauses = repository.where(org.dev_org_id, await filter_spec(conn, org, request, now_ms()))
        window = await walk(conn, clauses, sort, boundary=boundary, backwards=backwards, limit=limit)
        incidents = await from_documents(conn, org, window.rows, encoded=encoded)
    return IncidentsPage(
        incidents,
        cursors.encode(["list", *window.last], "after", fingerprint) if window.last else None,
        cursors.encode(["list", *window.first], "before", fingerprint) if window.first else None,
    )


async def from_documents(
    conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]], *, encoded: bool
) -> list[schemas.Incident]:
    """The incidents of `rows` in order: each from its current stored document, the others rendered."""
    numbers = [row.number for row in rows]
    found = await documents.current_many(conn, org, numbers)
    missing = [row for row in rows if row.number not in found]
    rendered = dict(
        zip((row.number for row in missing), await render(conn, org, missing) if missing else [], strict=True)
    )
    return documents.documents_or_rendered(found, rendered, numbers, encoded=encoded)


def _position(
    cursor: str | None, mode: str | None, fingerprint: str, kind: str, sort: tuple[filters.SortKey, ...]
) -> tuple[list[Any] | None, bool]:
    """(boundary values, walking backwards?) of a request's cursor and mode; a cursor of another kind is 400."""
    if not cursor:
        return None, mode == "before"
    position = cursors.decode(cursor, fingerprint)
    if not position.values or position.values[0] != kind:
        raise BadRequestError("the cursor was made for another operation")
    backwards = (mode or position.direction) == "before"
    return checked_boundary(position.values[1:], sort), backwards


def checked_boundary(values: list[Any], sort: tuple[filters.SortKey, ...]) -> list[Any]:
    """A boundary read from a cursor. The server writes one value per sort key (an integer, text for the title,
    or null) and then the incident number; a cursor is not signed, so anything else was forged: 400."""
    if len(values) != len(sort) + 1 or type(values[-1]) is not int:
        raise BadRequestError("the cursor is not valid")
    for key, value in zip(sort, values, strict=False):
        if value is not None and type(value) is not (str if key.column == "title" else int):
            raise BadRequestError("the cursor is not valid")
    return values


@dataclass(frozen=True)
class _Window:
    rows: list[Row[Any]]
    first: list[Any] | None  # boundary values for prev_cursor, when rows lie before the page
    last: list[Any] | None  # boundary values for next_cursor, when rows lie after the page


async def walk(
    conn: AsyncConnection,
    clauses: list[Any],
    sort: tuple[filters.SortKey, ...],
    *,
    boundary: list[Any] | None,
    backwards: bool,
    limit: int,
) -> _Window:
    """One page in sort order, and whether anything lies before and after it (the far side checked exactly,
    so cursors are omitted only when nothing lies beyond)."""
    rows = list(await repository.page(conn, clauses, sort, boundary=boundary, backwards=backwards, limit=limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    if not rows:
        return _Window([], None, None)
    first, last = repository.sort_values(rows[0], sort), repository.sort_values(rows[-1], sort)
    if backwards:
        has_prev = more
        has_next = boundary is not None and await _any_beyond(conn, clauses, sort, last, backwards=False)
    else:
        has_next = more
        has_prev = boundary is not None and await _any_beyond(conn, clauses, sort, first, backwards=True)
    return _Window(rows, first if has_prev else None, last if has_next else None)


async def _any_beyond(
    conn: AsyncConnection, clauses: list[Any], sort: tuple[filters.SortKey, ...], values: list[Any], *, backwards: bool
) -> bool:
    return bool(await repository.page(conn, clauses, sort, boundary=values, backwards=backwards, limit=1))
