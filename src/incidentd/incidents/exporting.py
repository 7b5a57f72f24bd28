"""incidents.export: every incident matching the list filters, streamed as NDJSON (wire incidents) or CSV.

The filters are checked (and stage names, custom fields resolved) before the first byte, so a bad request is a
DevRev-shaped 4xx; then the incidents are read by keyset pages of PAGE in (created_date, number) order, each page
in a read transaction of its own, rendered, encoded and handed on: memory holds one page, whatever the count.
An incident created during an export appears when it sorts after the page being read (keyset: nothing is read
twice, nothing that existed throughout is missed).

With `include: ["timeline"]` a line is `{"incident": {...}, "timeline": [...]}` and with `["links"]` it has
`"links": [...]` (`IncidentExportLine`; both may be asked for): pages are DETAIL_PAGE incidents and each carries
at most TIMELINE_LIMIT entries and LINKS_LIMIT links, read in the page's transaction, so memory stays bounded by
DETAIL_PAGE x (TIMELINE_LIMIT + LINKS_LIMIT) objects whatever the export's size."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import service as customization
from incidentd.db import Database
from incidentd.errors import InvalidField
from incidentd.incidents import filters, reading, repository, schemas
from incidentd.incidents.export_schemas import IncidentExportLine, IncidentsExportRequest
from incidentd.kit.time import now_ms
from incidentd.links import service as links
from incidentd.principal import OrgScope, Principal
from incidentd.timeline import service as timeline

PAGE = 500
DETAIL_PAGE = 50  # incidents per page when their timelines or links ride along
TIMELINE_LIMIT = 1_000  # entries per incident in an export; more are cut (the line says timeline_truncated)
LINKS_LIMIT = 1_000  # links per incident in an export; more are cut (the line says links_truncated)
ORDER = (filters.SortKey("created_date", False),)
LIST_SEPARATOR = " "  # between the display ids of a multi-valued CSV column (ids hold no spaces)
CSV_COLUMNS = (
    "id",
    "display_id",
    "title",
    "body",
    "severity",
    "stage",
    "state",
    "reported_by",
    "source",
    "subtype",
    "owned_by",
    "applies_to_parts",
    "tags",
    "created_by",
    "created_date",
    "modified_date",
    "identified_date",
    "acknowledged_date",
    "mitigated_date",
    "target_close_date",
    "actual_close_date",
    "impact_count",
    "external_reference",
)
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


@dataclass(frozen=True)
class Export:
    media_type: str
    filename: str
    total: int  # incidents matching when the export began
    chunks: AsyncIterator[bytes]


async def export_incidents(
    db: Database,
    principal: Principal,
    request: IncidentsExportRequest,
    *,
    progress: Callable[[int], None] | None = None,
    everything: bool = False,
) -> Export:
    """Check the request and count its matches now; the returned `chunks` read and encode the incidents when
    iterated. `progress` is called with the number of incidents of each page written. `everything` puts every
    user's private timeline comments in (the CLI's operator export); the API exports what the caller may see."""
    org = principal.org
    form = request.format or "ndjson"
    include: set[str] = set(request.include or [])
    if include and form != "ndjson":
        raise InvalidField("include: timeline and links are exported in the ndjson format only", field_name="include")
    async with db.read() as conn:
        spec = await reading.filter_spec(conn, org, request, now_ms())
        clauses = repository.where(org.dev_org_id, spec)
        total = await repository.count(conn, clauses)
        custom = sorted(await customization.declared_fields(conn, org, reading.LEAF_TYPE)) if form == "csv" else []
    if form == "csv":
        header = _csv_line([*CSV_COLUMNS, *(f"custom_fields.{name}" for name in custom)])
        encode = _csv_encoder(custom)
    else:
        header, encode = b"", _ndjson
    if include:

        async def read(conn: AsyncConnection, rows: list[Row[Any]]) -> list[Any]:
            return await _with_details(conn, principal, rows, include, everything)

        pages = _pages(db, clauses, DETAIL_PAGE, read)
    else:
        pages = incident_pages(db, org, clauses)
    return Export(MEDIA_TYPES[form], f"incidents.{form}", total, _chunks(pages, header, encode, progress))


async def _pages(
    db: Database, clauses: list[Any], size: int, read: Callable[[AsyncConnection, list[Row[Any]]], Any]
) -> AsyncIterator[list[Any]]:
    """The matching incidents a keyset page of `size` at a time, oldest first, each page turned by `read` into
    what is encoded, inside the page's read transaction."""
    boundary: list[Any] | None = None
    while True:
        async with db.read() as conn:
            rows = list(await repository.page(conn, clauses, ORDER, boundary=boundary, backwards=False, limit=size))
            items = await read(conn, rows) if rows else []
        if items:
            yield items
        if len(rows) < size:
            return
        boundary = repository.sort_values(rows[-1], ORDER)


def incident_pages(db: Database, org: OrgScope, clauses: list[Any]) -> AsyncIterator[list[schemas.Incident]]:
    """The matching incidents as wire objects, a keyset page at a time, oldest first."""

    async def read(conn: AsyncConnection, rows: list[Row[Any]]) -> list[schemas.Incident]:
        return await reading.from_documents(conn, org, rows, encoded=False)

    return _pages(db, clauses, PAGE, read)


async def _with_details(
    conn: AsyncConnection, principal: Principal, rows: list[Row[Any]], include: set[str], everything: bool
) -> list[IncidentExportLine]:
    incidents = await reading.from_documents(conn, principal.org, rows, encoded=False)
    numbers = [row.number for row in rows]
    timelines = (
        await timeline.first_entries(conn, principal, numbers, limit=TIMELINE_LIMIT + 1, everything=everything)
        if "timeline" in include
        else None
    )
    linked = await links.of_incidents(conn, principal.org, numbers, limit=LINKS_LIMIT) if "links" in include else None
    lines = []
    for number, incident in zip(numbers, incidents, strict=True):
        line = IncidentExportLine(incident=incident)
        if timelines is not None:
            entries = timelines.get(number, [])
            line.timeline, line.timeline_truncated = entries[:TIMELINE_LIMIT], len(entries) > TIMELINE_LIMIT
        if linked is not None:
            found = linked.get(number, [])
            line.links, line.links_truncated = found[:LINKS_LIMIT], len(found) > LINKS_LIMIT
        lines.append(line)
    return lines


async def _chunks(
    pages: AsyncIterator[list[Any]],
    header: bytes,
    encode: Callable[[list[Any]], bytes],
    progress: Callable[[int], None] | None,
) -> AsyncIterator[bytes]:
    if header:
        yield header
    async for page in pages:
        yield encode(page)
        if progress is not None:
            progress(len(page))


_ENCODER = msgspec.json.Encoder()


def _ndjson(page: list[Any]) -> bytes:
    buffer = bytearray()
    for incident in page:
        _ENCODER.encode_into(incident, buffer, -1)
        buffer += b"\n"
    return bytes(buffer)


def _csv_line(values: list[str]) -> bytes:
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerow(values)
    return text.getvalue().encode()


def _csv_encoder(custom_fields: list[str]) -> Callable[[list[schemas.Incident]], bytes]:
    def encode(page: list[schemas.Incident]) -> bytes:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        for incident in page:
            writer.writerow(csv_row(incident, custom_fields))
        return text.getvalue().encode()

    return encode


def csv_row(incident: schemas.Incident, custom_fields: list[str]) -> list[str]:
    """One incident's CSV cells: enums by label, stage and state by name, references by display id (several
    separated by a space), dates as RFC 3339; a custom field's value as text (JSON for arrays and objects)."""

    def ids(items: list[Any] | None) -> str:
        return LIST_SEPARATOR.join(item.display_id or item.id for item in items or [])

    stage = incident.stage
    tags = [tag.tag for tag in incident.tags or []]
    values = incident.custom_fields or {}
    row = [
        incident.id,
        incident.display_id,
        incident.title,
        incident.body or "",
        incident.severity.label if incident.severity else "",
        (stage.stage.name or "") if stage and stage.stage else "",
        (stage.state.name or "") if stage and stage.state else "",
        incident.reported_by.label if incident.reported_by else "",
        incident.source.label if incident.source else "",
        incident.subtype or "",
        ids(incident.owned_by),
        ids(incident.applies_to_parts),
        ids(tags),
        (incident.created_by.display_id or incident.created_by.id) if incident.created_by else "",
        incident.created_date or "",
        incident.modified_date or "",
        incident.identified_date or "",
        incident.acknowledged_date or "",
        incident.mitigated_date or "",
        incident.target_close_date or "",
        incident.actual_close_date or "",
        incident.impact.count.label if incident.impact and incident.impact.count else "",
        (incident.sync_metadata.external_reference or "") if incident.sync_metadata else "",
    ]
    for name in custom_fields:
        row.append(_cell(values.get(name)))
    return row


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return msgspec.json.encode(value).decode()
