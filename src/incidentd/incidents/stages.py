"""The stage machine of incidents: where an incident may start, where it may move, and which dates a move stamps.

Pure functions over a loaded `StageDiagram`; the service supplies the diagram and applies the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from incidentd.customization.service import StageDiagram, StageInfo
from incidentd.errors import InvalidField, InvalidId, UnexpectedIdType
from incidentd.kit import ids
from incidentd.principal import OrgScope

FIELD = "stage.stage"


def resolve(diagram: StageDiagram, org: OrgScope, value: str) -> StageInfo:
    """The diagram's stage named by an id (DON or display id) or by its name."""
    parsed = ids.try_parse(value)
    if parsed is not None:
        if parsed.kind.name != "custom_stage":
            raise UnexpectedIdType(f"'{value}' is a {parsed.kind.name} id; expected a custom stage", field_name=FIELD)
        stage = diagram.stages.get(parsed.number) if org.owns(parsed) else None
        if stage is None:
            raise InvalidId(f"'{value}' is not a stage of the incident stage diagram", field_name=FIELD)
        return stage
    stage = diagram.by_name(value)
    if stage is None:
        names = ", ".join(stage.name for stage in diagram.stages.values())
        raise InvalidField(f"'{value}' is not a stage of the incident stage diagram ({names})", field_name=FIELD)
    return stage


def initial(diagram: StageDiagram, requested: StageInfo | None, *, allow_non_start: bool) -> StageInfo:
    """The stage a new incident starts in: the diagram's start unless another is asked for and allowed."""
    start = diagram.stages[diagram.start]
    if requested is None or requested.number == start.number:
        return start
    if not allow_non_start:
        raise InvalidField(
            f"a new incident starts in '{start.name}'; to create it in '{requested.name}' "
            'pass stage_validation_options: ["allow_non_start"]',
            field_name=FIELD,
        )
    return requested


def move(diagram: StageDiagram, current: StageInfo, target: StageInfo, *, allow_invalid: bool) -> StageInfo:
    """Check a move along the diagram; staying in the same stage is always allowed."""
    if target.number == current.number or allow_invalid:
        return target
    allowed = diagram.allowed_from(current.number)
    if target.number not in {stage.number for stage in allowed}:
        names = ", ".join(f"'{stage.name}'" for stage in allowed) or "none"
        raise InvalidField(
            f"an incident in '{current.name}' cannot move to '{target.name}' (allowed: {names}); "
            'pass stage_validation_options: ["allow_invalid_transition"] to force it',
            field_name=FIELD,
        )
    return target


@dataclass(frozen=True)
class LifecycleDates:
    acknowledged_date: int | None
    mitigated_date: int | None
    actual_close_date: int | None


def stamp(dates: LifecycleDates, previous: StageInfo | None, entered: StageInfo, now: int) -> LifecycleDates:
    """Dates a stage change stamps: entering `acknowledged` / `mitigated` stamps their dates when unset; entering
    a final state sets `actual_close_date`, leaving one clears it."""
    if previous is not None and previous.number == entered.number:
        return dates
    acknowledged = dates.acknowledged_date
    mitigated = dates.mitigated_date
    closed = dates.actual_close_date
    if entered.name == "acknowledged" and acknowledged is None:
        acknowledged = now
    if entered.name == "mitigated" and mitigated is None:
        mitigated = now
    if entered.is_final and (previous is None or not previous.is_final):
        closed = now
    elif not entered.is_final and previous is not None and previous.is_final:
        closed = None
    return LifecycleDates(acknowledged, mitigated, closed)
