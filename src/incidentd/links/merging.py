"""incidents.merge, incidentd's extension: close one incident as a duplicate of another and record it with an
`is_merged_into` link, in one transaction. Nothing is copied; the link is how the target leads to the source."""

from __future__ import annotations

from dataclasses import dataclass

from incidentd.db import Database
from incidentd.errors import InvalidField, InvalidId, NotFound
from incidentd.incidents import schemas as incident_schemas
from incidentd.incidents import service as incidents
from incidentd.kit import ids
from incidentd.links import schemas
from incidentd.links.endpoints import End, summaries
from incidentd.links.service import MERGED_INTO, check_merge, insert
from incidentd.principal import Principal


@dataclass(frozen=True)
class Merged:
    incident: incident_schemas.Incident  # the source, now in stage `duplicate`
    link: schemas.Link


async def merge(db: Database, principal: Principal, request: schemas.IncidentsMergeRequest) -> Merged:
    """Merge `source` into `target`: the source (open, in any stage) moves to `duplicate` and gets a link
    `source is_merged_into target`. The source is the object acted on (another org's or a missing one: 404);
    the target must exist (400 invalid_id), differ from the source, and not be merged itself (400)."""
    org = principal.org
    source = ids.parse(request.source, "incident", field_name="source")
    target = ids.parse(request.target, "incident", field_name="target")
    source_number = source.number if org.owns(source) else 0
    target_number = target.number if org.owns(target) else 0
    if source_number and source_number == target_number:
        raise InvalidField("an incident cannot be merged into itself", field_name="target")
    async with db.write() as conn:
        rows = await incidents.lock(conn, org, [source_number, target_number])
        if source_number not in rows:
            raise NotFound(f"incident '{request.source}' does not exist")
        if target_number not in rows:
            raise InvalidId(
                f"incident '{request.target}' does not exist (a deleted incident cannot be merged into)",
                field_name="target",
            )
        source_end, target_end = End("incident", source_number), End("incident", target_number)
        await check_merge(conn, org, source_end, target_end)
        incident = await incidents.close_as_duplicate(conn, principal, rows[source_number], field_name="source")
        known = await summaries(conn, org, [source_end, target_end])
        link = await insert(db, conn, principal, MERGED_INTO, source_end, target_end, known)
    return Merged(incident, link)
