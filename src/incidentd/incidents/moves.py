"""Which stages an incident may move to next, and the stages incidents of an org use: what a UI needs to offer
only the moves `writing.update` would accept (the same diagram, the same `stages.move` rule)."""

from __future__ import annotations

from dataclasses import dataclass

from incidentd.customization import service as customization
from incidentd.customization.service import StageInfo
from incidentd.db import Database
from incidentd.errors import NotFound
from incidentd.incidents import repository
from incidentd.incidents.reading import LEAF_TYPE, incident_number
from incidentd.principal import Principal


@dataclass(frozen=True)
class StageMoves:
    current: StageInfo
    allowed: list[StageInfo]  # in diagram order, the current stage left out


async def stage_moves(db: Database, principal: Principal, reference: str) -> StageMoves:
    """The incident's stage and the stages its diagram lets it move to from there."""
    org = principal.org
    number = incident_number(org, reference)
    async with db.read() as conn:
        row = (await repository.get_many(conn, org.dev_org_id, [number])).get(number)
        if row is None:
            raise NotFound(f"incident '{reference}' does not exist")
        schema = await customization.apply_schema(
            conn,
            org,
            LEAF_TYPE,
            spec=None,
            given=None,
            stored_fields=row.custom_fields,
            stored_fragments=row.custom_schema_fragments,
            creating=False,
        )
        diagram = await customization.load_diagram(
            conn, org, LEAF_TYPE, row.subtype, number=schema.stage_diagram_number
        )
        current = (await customization.stages(conn, org, [row.stage_number]))[row.stage_number]
    allowed = [stage for stage in diagram.allowed_from(current.number) if stage.number != current.number]
    return StageMoves(current, sorted(allowed, key=lambda stage: (stage.ordinal, stage.number)))


async def org_stages(db: Database, principal: Principal) -> list[StageInfo]:
    """The stages of the org's default incident diagram, in order (what a board filters and counts by)."""
    async with db.read() as conn:
        diagram = await customization.load_diagram(conn, principal.org, LEAF_TYPE, None)
    return sorted(diagram.stages.values(), key=lambda stage: (stage.ordinal, stage.number))


async def org_diagram(db: Database, principal: Principal) -> customization.StageDiagram:
    """The org's default incident stage diagram, whole: its stages and the transitions between them."""
    async with db.read() as conn:
        return await customization.load_diagram(conn, principal.org, LEAF_TYPE, None)
