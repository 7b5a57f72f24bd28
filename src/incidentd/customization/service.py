"""Stage diagrams: the default incident diagram every org gets, loading a diagram, stages and states."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.customization import repository, schemas
from incidentd.db import Database
from incidentd.errors import InvalidField, NotFound
from incidentd.kit import counters, ids, pages
from incidentd.kit.time import now_ms
from incidentd.principal import OrgScope, Principal

# The default incident stage diagram (contract notes): states, stages with their state, start, transitions.
DEFAULT_STATES = (("open", False), ("in_progress", False), ("closed", True))
DEFAULT_STAGES = (
    ("triage", "open"),
    ("acknowledged", "open"),
    ("fixing", "in_progress"),
    ("mitigated", "in_progress"),
    ("resolved", "closed"),
    ("canceled", "closed"),
    ("duplicate", "closed"),
)
DEFAULT_START = "triage"
DEFAULT_TRANSITIONS = {
    "triage": ("acknowledged", "fixing", "canceled", "duplicate"),
    "acknowledged": ("fixing", "mitigated", "resolved", "canceled", "duplicate"),
    "fixing": ("mitigated", "resolved", "canceled"),
    "mitigated": ("fixing", "resolved"),
    "resolved": ("fixing",),
    "canceled": ("triage",),
    "duplicate": ("triage",),
}


@dataclass(frozen=True)
class StageInfo:
    number: int
    name: str
    state_number: int
    state_name: str
    is_final: bool
    ordinal: int = 0


@dataclass(frozen=True)
class StageDiagram:
    """One diagram, loaded whole: small (a handful of stages), so the rules run in memory."""

    number: int
    start: int
    stages: dict[int, StageInfo]
    transitions: dict[int, frozenset[int]] = field(default_factory=dict)

    def by_name(self, name: str) -> StageInfo | None:
        wanted = name.strip().lower()
        return next((stage for stage in self.stages.values() if stage.name.lower() == wanted), None)

    def allowed_from(self, number: int) -> list[StageInfo]:
        return [self.stages[n] for n in sorted(self.transitions.get(number, frozenset())) if n in self.stages]


async def create_default_incident_diagram(conn: AsyncConnection, org: OrgScope) -> None:
    """Create the org's states, stages and default incident stage diagram (called when an org is created)."""
    now = now_ms()
    audit = {"created_date": now, "modified_date": now}
    first_state = await counters.allocate(conn, org.dev_org_id, "custom_state", len(DEFAULT_STATES))
    states: dict[str, int] = {}
    for offset, (name, is_final) in enumerate(DEFAULT_STATES):
        states[name] = first_state + offset
        await repository.insert_state(
            conn,
            dev_org_id=org.dev_org_id,
            number=states[name],
            name=name,
            is_final=is_final,
            ordinal=offset + 1,
            **audit,
        )
    first_stage = await counters.allocate(conn, org.dev_org_id, "custom_stage", len(DEFAULT_STAGES))
    stages: dict[str, int] = {}
    for offset, (name, state) in enumerate(DEFAULT_STAGES):
        stages[name] = first_stage + offset
        await repository.insert_stage(
            conn,
            dev_org_id=org.dev_org_id,
            number=stages[name],
            name=name,
            ordinal=offset + 1,
            state_number=states[state],
            **audit,
        )
    diagram = await counters.allocate(conn, org.dev_org_id, "stage_diagram")
    await repository.insert_diagram(
        conn,
        values={
            "dev_org_id": org.dev_org_id,
            "number": diagram,
            "leaf_type": "incident",
            "subtype": None,
            "start_stage_number": stages[DEFAULT_START],
            **audit,
        },
        stage_numbers=stages.values(),
        transitions=[(stages[a], stages[b]) for a, targets in DEFAULT_TRANSITIONS.items() for b in targets],
    )


async def load_diagram(conn: AsyncConnection, org: OrgScope, leaf_type: str, subtype: str | None) -> StageDiagram:
    """The diagram of the leaf type's subtype, or the leaf type's default diagram when the subtype has none."""
    row = await repository.find_diagram(conn, org.dev_org_id, leaf_type, subtype) if subtype else None
    row = row or await repository.find_diagram(conn, org.dev_org_id, leaf_type, None)
    if row is None:
        raise NotFound(f"the org has no stage diagram for {leaf_type}")
    stage_rows = await repository.diagram_stages(conn, org.dev_org_id, row.number)
    moves: dict[int, set[int]] = {}
    for move in await repository.diagram_transitions(conn, org.dev_org_id, row.number):
        moves.setdefault(move.from_stage_number, set()).add(move.to_stage_number)
    return StageDiagram(
        number=row.number,
        start=row.start_stage_number,
        stages={
            stage.number: StageInfo(
                stage.number, stage.name, stage.state_number, stage.state_name, stage.state_is_final
            )
            for stage in stage_rows
        },
        transitions={source: frozenset(targets) for source, targets in moves.items()},
    )


async def stages(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, StageInfo]:
    """Stages by number with their states, in one query (for rendering incidents)."""
    rows = await repository.stages_by_number(conn, org.dev_org_id, numbers)
    return {number: _stage_info(row) for number, row in rows.items()}


def _stage_info(row: Any) -> StageInfo:
    """A custom_stages row joined with its state (`state_name`, `state_is_final`)."""
    return StageInfo(row.number, row.name, row.state_number, row.state_name, row.state_is_final, row.ordinal)


# endpoints ------------------------------------------------------------------------------------------


async def get_stage(db: Database, principal: Principal, reference: str) -> schemas.CustomStage:
    parsed = ids.parse(reference, "custom_stage", field_name="id")
    async with db.read() as conn:
        rows = await repository.stages_by_number(conn, principal.org.dev_org_id, [parsed.number])
    row = rows.get(parsed.number) if principal.org.owns(parsed) else None
    if row is None:
        raise NotFound(f"custom stage '{reference}' does not exist")
    return schemas.custom_stage(row, principal.org)


async def list_stages(
    db: Database, principal: Principal, request: schemas.CustomStagesListRequest
) -> tuple[list[schemas.CustomStage], str | None]:
    names, ordinals = sorted(request.name or []), sorted(request.ordinal or [])
    page = pages.window(request.cursor, "after", request.limit, "custom_stages", names, ordinals)
    async with db.read() as conn:
        rows = list(
            await repository.list_stages(conn, principal.org.dev_org_id, names=names, ordinals=ordinals, page=page)
        )
    return _result(rows, page, lambda row: schemas.custom_stage(row, principal.org))


async def get_state(db: Database, principal: Principal, reference: str) -> schemas.CustomState:
    parsed = ids.parse(reference, "custom_state", field_name="id")
    async with db.read() as conn:
        rows = await repository.states_by_number(conn, principal.org.dev_org_id, [parsed.number])
    row = rows.get(parsed.number) if principal.org.owns(parsed) else None
    if row is None:
        raise NotFound(f"custom state '{reference}' does not exist")
    return schemas.custom_state(row, principal.org)


async def list_states(
    db: Database, principal: Principal, request: schemas.CustomStatesListRequest
) -> tuple[list[schemas.CustomState], str | None]:
    names, ordinals = sorted(request.name or []), sorted(request.ordinal or [])
    page = pages.window(request.cursor, "after", request.limit, "custom_states", names, ordinals, request.is_final)
    async with db.read() as conn:
        rows = list(
            await repository.list_states(
                conn, principal.org.dev_org_id, names=names, ordinals=ordinals, is_final=request.is_final, page=page
            )
        )
    return _result(rows, page, lambda row: schemas.custom_state(row, principal.org))


def _result(rows: list[Any], page: pages.Window, render: Any) -> tuple[list[Any], str | None]:
    """DevRev's custom stage/state lists have one `cursor`: the position after this page, if more follow."""
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    links = pages.page_cursors([row.number for row in rows], more=more, page=page)
    return [render(row) for row in rows], links.next_cursor


async def stage_numbers_named(conn: AsyncConnection, org: OrgScope, names: list[str], *, field_name: str) -> list[int]:
    """The numbers of the org's stages with these names; an unknown name is 400 naming its element."""
    found = await repository.stage_numbers_named(conn, org.dev_org_id, names)
    numbers: list[int] = []
    for index, name in enumerate(names):
        matches = found.get(name.strip().lower())
        if not matches:
            raise InvalidField(f"'{name}' is not the name of a stage", field_name=f"{field_name}[{index}]")
        numbers += matches
    return numbers
