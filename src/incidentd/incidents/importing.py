"""Writing an imported incident (incidentd import): the bulk path beside `writing.create`.

An import keeps what the source says happened: the display number when it is free, the stage by name with the
lifecycle dates as they were (not stamped now), who created and last changed it and when. Everything else goes
through create's own checks: the scalars (`writing._scalars`), the references (`writing._resolve_links`, ids of
this org), the custom fields against this org's fragments (`customization.apply_schema`). The invariants create
keeps hold: the incident counter never hands out an imported number again, the custom value index and link rows
are written with the row. No webhook event is sent (an import is a bulk load, not a change to announce).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import service as customization
from incidentd.incidents import documents, history, repository, schemas, stages, writing
from incidentd.incidents.reading import LEAF_TYPE
from incidentd.incidents.rendering import Summaries, render
from incidentd.incidents.tables import incidents
from incidentd.kit import counters
from incidentd.kit.enums import SOURCE
from incidentd.principal import OrgScope, Principal

# Every optional column unset: a re-import rewrites the row whole (a field the source cleared is cleared here).
CLEARED: dict[str, Any] = {
    column.name: None for column in incidents.c if column.nullable and column.name not in ("dev_org_id", "number")
} | {"is_staged": False}


@dataclass(frozen=True)
class Provenance:
    """What an import keeps from the source besides the request's fields (dates in ms since the epoch)."""

    stage: str | None  # a stage name of this org's diagram; None: the diagram's start
    created_by: int
    created_date: int
    modified_by: int
    modified_date: int
    actual_close_date: int | None
    source: int | str | None = None


async def created_dates(conn: AsyncConnection, org: OrgScope, numbers: list[int]) -> dict[int, int]:
    """{number: created_date} of the org's incidents among `numbers` (those that exist)."""
    rows = await repository.get_many(conn, org.dev_org_id, numbers)
    return {number: row.created_date for number, row in rows.items()}


async def number_is_free(conn: AsyncConnection, org: OrgScope, number: int, *, has_history: bool) -> bool:
    """A display number an import may take: no incident has it, and no deleted incident left a timeline under it
    (`has_history`, the caller asks the timeline)."""
    return number > 0 and not await repository.get_many(conn, org.dev_org_id, [number]) and not has_history


async def put(
    conn: AsyncConnection,
    principal: Principal,
    request: schemas.IncidentsCreateRequest,
    provenance: Provenance,
    *,
    number: int | None,
    existing: bool,
    record_created: bool,
) -> int:
    """Write an imported incident under `number` (None: a new number from the counter): inserted, or with
    `existing` rewritten in place (an import run again after the source changed). `record_created` appends the
    `created` change event (when the import brings no timeline of its own). The incident's number."""
    org = principal.org
    values = writing._scalars(request)
    if provenance.source is not None:
        values["source"] = SOURCE.parse(provenance.source, field_name="source")
    schema = await customization.apply_schema(
        conn, org, LEAF_TYPE, spec=request.custom_schema_spec, given=request.custom_fields, creating=True
    )
    diagram = await customization.load_diagram(conn, org, LEAF_TYPE, schema.subtype, number=schema.stage_diagram_number)
    stage = stages.resolve(diagram, org, provenance.stage) if provenance.stage else diagram.stages[diagram.start]
    known = Summaries()
    links = await writing._resolve_links(conn, org, writing._create_links(request), writing.CREATE_PATHS, known)
    columns = {
        **CLEARED,
        **values,
        "custom_fields": schema.custom_fields or None,
        "custom_schema_fragments": schema.fragments or None,
        "subtype": schema.subtype,
        "stage_number": stage.number,
        "stage_notes": request.stage.notes if isinstance(request.stage, schemas.StageInput) else None,
        "actual_close_date": provenance.actual_close_date,
        "created_by": provenance.created_by,
        "created_date": provenance.created_date,
        "modified_by": provenance.modified_by,
        "modified_date": provenance.modified_date,
    }
    if existing and number is not None:
        row = await repository.update(conn, org.dev_org_id, number, columns)
        await repository.replace_links(conn, org.dev_org_id, number, links)
        await repository.replace_custom_values(conn, org.dev_org_id, number, schema.custom_fields)
        await documents.forget(conn, org, [number])  # rendered again on reads, until `documents.refresh`
    else:
        if number is None:
            number = await counters.allocate(conn, org.dev_org_id, "incident")
        else:
            await counters.raise_to(conn, org.dev_org_id, "incident", number)
        row = await repository.insert(
            conn, {**columns, "dev_org_id": org.dev_org_id, "number": number}, links, schema.custom_fields
        )
    if record_created:
        await history.record_created(conn, org, principal, (await render(conn, org, [row]))[0])
    return number
