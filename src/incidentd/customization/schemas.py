"""Wire types of /stages.custom.* and /states.custom.*, and the stage summaries incidents carry."""

from __future__ import annotations

from typing import Any

from incidentd.kit import ids
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import Request, Response
from incidentd.principal import OrgScope


class CustomStateSummary(Response):
    id: str
    display_id: str | None = None
    is_final: bool | None = None
    name: str | None = None


class CustomStageSummary(Response):
    id: str
    display_id: str | None = None
    name: str | None = None


class CustomState(Response):
    id: str
    display_id: str | None = None
    is_final: bool | None = None
    name: str | None = None
    ordinal: int | None = None
    created_date: str | None = None
    modified_date: str | None = None


class CustomStage(Response):
    id: str
    display_id: str | None = None
    name: str | None = None
    ordinal: int | None = None
    state: CustomStateSummary | None = None
    created_date: str | None = None
    modified_date: str | None = None


class CustomStagesGetRequest(Request):
    id: str


class CustomStagesGetResponse(Response):
    custom_stage: CustomStage


class CustomStagesListRequest(Request):
    cursor: str | None = None
    limit: int | None = None
    name: list[str] | None = None
    ordinal: list[int] | None = None


class CustomStagesListResponse(Response):
    result: list[CustomStage]
    cursor: str | None = None


class CustomStatesGetRequest(Request):
    id: str


class CustomStatesGetResponse(Response):
    custom_state: CustomState


class CustomStatesListRequest(Request):
    cursor: str | None = None
    limit: int | None = None
    name: list[str] | None = None
    ordinal: list[int] | None = None
    is_final: bool | None = None


class CustomStatesListResponse(Response):
    result: list[CustomState]
    cursor: str | None = None


# rows -> wire ----------------------------------------------------------------------------------------


def state_summary(number: int, name: str, is_final: bool, org: OrgScope) -> CustomStateSummary:
    return CustomStateSummary(
        id=org.don("custom_state", number),
        display_id=ids.to_display("custom_state", number),
        is_final=is_final,
        name=name,
    )


def stage_summary(number: int, name: str, org: OrgScope) -> CustomStageSummary:
    return CustomStageSummary(
        id=org.don("custom_stage", number), display_id=ids.to_display("custom_stage", number), name=name
    )


def custom_state(row: Any, org: OrgScope) -> CustomState:
    return CustomState(
        id=org.don("custom_state", row.number),
        display_id=ids.to_display("custom_state", row.number),
        is_final=row.is_final,
        name=row.name,
        ordinal=row.ordinal,
        created_date=to_rfc3339(row.created_date),
        modified_date=to_rfc3339(row.modified_date),
    )


def custom_stage(row: Any, org: OrgScope) -> CustomStage:
    """A custom_stages row joined with its state's name and finality (`state_name`, `state_is_final`)."""
    return CustomStage(
        id=org.don("custom_stage", row.number),
        display_id=ids.to_display("custom_stage", row.number),
        name=row.name,
        ordinal=row.ordinal,
        state=state_summary(row.state_number, row.state_name, row.state_is_final, org),
        created_date=to_rfc3339(row.created_date),
        modified_date=to_rfc3339(row.modified_date),
    )
