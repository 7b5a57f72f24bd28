"""Wire types of /incidents.* — DevRev's field names and shapes (tests validate them against the pinned spec)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.accounts.schemas import AccountSummary
from incidentd.articles.schemas import ArticleSummary
from incidentd.artifacts.schemas import ArtifactSummary
from incidentd.customization.schemas import CustomSchemaSpec, CustomStageSummary, CustomStateSummary
from incidentd.kit.bounds import KEYS, VALUES, Cursor, Date, Id, Ids, Int64, Name, Names, Text
from incidentd.kit.enums import EnumValue
from incidentd.kit.pages import PageLimit
from incidentd.kit.wire import Request, Response, UserSummary
from incidentd.parts.schemas import PartSummary
from incidentd.tags.schemas import TagSummary

SyncInStatus = Literal["failed", "modified", "staged", "succeeded"]
SyncOutStatus = Literal["failed", "modified", "succeeded"]
ListMode = Literal["after", "before"]

MAX_TITLE = 256
MAX_BODY = 65_536
# Checked while decoding (invalid_field naming the field) and so shown in /openapi.json; the service checks again.
Title = Annotated[str, msgspec.Meta(max_length=MAX_TITLE)]
Body = Annotated[str, msgspec.Meta(max_length=MAX_BODY)]
MAX_PRESET_DAYS = 36_600  # a century; larger values would overflow nothing useful
MAX_SYNC_TEXT = 512  # sync units and histories: their columns hold 512
SyncText = Annotated[str, msgspec.Meta(max_length=MAX_SYNC_TEXT)]
# An enum value: its int id, or (severity) a name such as "sev1".
EnumInput = Int64 | Name
CustomFields = Annotated[dict[Name, Any], KEYS]


# shared request pieces ------------------------------------------------------------------------------


class StagedUnresolvedField(Request):
    devrev_field_name: Name | None = None
    external_display_name: Name | None = None
    external_field_name: Name | None = None


class StagedInfoInput(Request):
    is_staged: bool | None = None
    sync_in_unresolved_fields: Annotated[list[StagedUnresolvedField], VALUES] | None = None
    sync_out_unresolved_fields: Annotated[list[StagedUnresolvedField], VALUES] | None = None
    unresolved_fields: Names | None = None


class SyncInInput(Request):
    status: SyncInStatus | None = None
    sync_date: Date | None = None
    sync_history: SyncText | None = None
    sync_unit: SyncText | None = None


class SyncOutInput(Request):
    status: SyncOutStatus | None = None
    sync_date: Date | None = None
    sync_history: SyncText | None = None
    sync_unit: SyncText | None = None


class SyncMetadataInput(Request):
    external_reference: Text | None = None
    last_sync_in: SyncInInput | None = None
    last_sync_out: SyncOutInput | None = None
    origin_system: Name | None = None


class ExternalSourceData(Request):
    closed_date: Date | None = None
    created_date: Date | None = None
    modified_date: Date | None = None


class StageInput(Request):
    stage: Name
    notes: Text | None = None


class TagWithValueInput(Request):
    tag_id: Id
    value: Name | None = None


class ImpactInput(Request):
    count: EnumInput | None = None
    customer_ids: Ids | None = None


# create -----------------------------------------------------------------------------------------------


class IncidentsCreateRequest(Request):
    title: Title
    acknowledged_date: Date | None = None
    applies_to_parts: Ids | None = None
    artifacts: Ids | None = None
    body: Body | None = None
    custom_fields: CustomFields | None = None
    custom_schema_spec: CustomSchemaSpec | None = None
    external_source_data: ExternalSourceData | None = None
    identified_date: Date | None = None
    impact: ImpactInput | None = None
    mitigated_date: Date | None = None
    owned_by: Ids | None = None
    pia: Ids | None = None
    playbooks: Ids | None = None
    related_docs: Ids | None = None
    reported_by: EnumInput | None = None
    # An int id as the spec says; "sev1" / "sev-1" too, as existing clients send it (contract notes).
    severity: EnumInput | None = None
    source: EnumInput | None = None
    # A bare stage name is accepted besides {"stage": id} (contract notes).
    stage: StageInput | Name | None = None
    stage_validation_options: Annotated[list[Literal["allow_non_start"]], VALUES] | None = None
    staged_info: StagedInfoInput | None = None
    sync_metadata: SyncMetadataInput | None = None
    tags: Annotated[list[TagWithValueInput], VALUES] | None = None
    target_close_date: Date | None = None


# update -----------------------------------------------------------------------------------------------
# Absent fields (UNSET) stay as they are; `null` clears an optional scalar; collections take {"set": [...]}.


class SetIds(Request):
    set: Ids | None = None


class SetTags(Request):
    set: Annotated[list[TagWithValueInput], VALUES] | None = None


class UpdateStage(Request):
    stage: Name | None = None
    notes: Text | None = None


class UpdateImpact(Request):
    count: EnumInput | UnsetType | None = UNSET
    customer_ids: SetIds | None = None


class IncidentsUpdateRequest(Request):
    id: Id
    acknowledged_date: Date | UnsetType | None = UNSET
    applies_to_parts: SetIds | None = None
    artifacts: SetIds | None = None
    body: Body | UnsetType | None = UNSET
    custom_fields: CustomFields | UnsetType | None = UNSET
    custom_schema_spec: CustomSchemaSpec | None = None
    external_source_data: ExternalSourceData | None = None
    identified_date: Date | UnsetType | None = UNSET
    impact: UpdateImpact | None = None
    mitigated_date: Date | UnsetType | None = UNSET
    owned_by: SetIds | None = None
    pia: SetIds | None = None
    playbooks: SetIds | None = None
    related_docs: SetIds | None = None
    reported_by: EnumInput | UnsetType | None = UNSET
    severity: EnumInput | UnsetType | None = UNSET
    source: EnumInput | UnsetType | None = UNSET
    stage: UpdateStage | Name | None = None
    stage_validation_options: Annotated[list[Literal["allow_invalid_transition"]], VALUES] | None = None
    staged_info: StagedInfoInput | None = None
    sync_metadata: SyncMetadataInput | None = None
    tags: SetTags | None = None
    target_close_date: Date | UnsetType | None = UNSET
    title: Title | UnsetType | None = UNSET


# list and group -------------------------------------------------------------------------------------


class DateFilter(Request):
    """DevRev's date-filter: {"type": "range", "after", "before"} (both inclusive) or
    {"type": "preset", "preset_type": "last_n_days" | "next_n_days", "days"}."""

    type: Literal["range", "preset"]
    after: Date | None = None
    before: Date | None = None
    preset_type: Literal["last_n_days", "next_n_days"] | None = None
    days: Annotated[int, msgspec.Meta(ge=0, le=MAX_PRESET_DAYS)] | None = None


class StagedInfoFilter(Request):
    is_staged: bool | None = None


class SyncInFilter(Request):
    status: Annotated[list[SyncInStatus], VALUES] | None = None
    sync_date: DateFilter | None = None
    sync_history: Annotated[list[SyncText], VALUES] | None = None
    sync_unit: Annotated[list[SyncText], VALUES] | None = None


class SyncOutFilter(Request):
    status: Annotated[list[SyncOutStatus], VALUES] | None = None
    sync_date: DateFilter | None = None
    sync_history: Annotated[list[SyncText], VALUES] | None = None
    sync_unit: Annotated[list[SyncText], VALUES] | None = None


class SyncMetadataFilter(Request):
    external_reference: Annotated[list[Text], VALUES] | None = None
    last_sync_in: SyncInFilter | None = None
    last_sync_out: SyncOutFilter | None = None
    origin_system: Names | None = None


class IncidentFilters(Request):
    """The filters list and group share; every filter is optional, arrays match any value, filters AND."""

    acknowledged_date: DateFilter | None = None
    actual_close_date: DateFilter | None = None
    applies_to_parts: Ids | None = None
    created_by: Ids | None = None
    created_date: DateFilter | None = None
    custom_fields: CustomFields | None = None
    identified_date: DateFilter | None = None
    mitigated_date: DateFilter | None = None
    modified_date: DateFilter | None = None
    owned_by: Ids | None = None
    pia: Ids | None = None
    playbooks: Ids | None = None
    related_docs: Ids | None = None
    reported_by: Annotated[list[EnumInput], VALUES] | None = None
    severity: Annotated[list[EnumInput], VALUES] | None = None
    source: Annotated[list[EnumInput], VALUES] | None = None
    stage: Names | None = None
    staged_info: StagedInfoFilter | None = None
    subtype: Names | None = None
    sync_metadata: SyncMetadataFilter | None = None
    target_close_date: DateFilter | None = None
    title: Names | None = None
    # Extensions (docs/compatibility.md): incidents with any of these tags; a title containing this text.
    tags: Names | None = None
    title_contains: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)] | None = None


class IncidentsListRequest(IncidentFilters):
    cursor: Cursor | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None
    sort_by: Names | None = None


class IncidentsGroupRequest(IncidentFilters, kw_only=True):
    group_by: Name
    cursor: Cursor | None = None
    limit: PageLimit | None = None
    limit_per_group: PageLimit | None = None
    mode: ListMode | None = None
    sort_by: Names | None = None


# responses --------------------------------------------------------------------------------------------


class Stage(Response):
    stage: CustomStageSummary | None = None
    state: CustomStateSummary | None = None


class StageSummary(Response):
    """DevRev's stage-summary: the stage alone (an incident-summary carries no state)."""

    stage: CustomStageSummary | None = None


class IncidentSummary(Response, tag="incident", tag_field="type"):
    """DevRev's incident-summary (`"type": "incident"`), as links render their incident ends."""

    id: str
    display_id: str
    title: str
    owned_by: list[UserSummary] | None = None
    severity: EnumValue | None = None
    stage: StageSummary | None = None


class TagWithValue(Response):
    tag: TagSummary
    value: str | None = None


class ImpactedCustomerDetails(Response):
    count: EnumValue | None = None
    customer_ids: list[AccountSummary] | None = None


class SyncUnitSummary(Response):
    id: str


class SyncIn(Response):
    status: str | None = None
    sync_date: str | None = None
    sync_unit: SyncUnitSummary | None = None


class SyncOut(Response):
    status: str | None = None
    sync_date: str | None = None
    sync_unit: SyncUnitSummary | None = None


class SyncMetadata(Response):
    external_reference: str | None = None
    last_sync_in: SyncIn | None = None
    last_sync_out: SyncOut | None = None
    origin_system: str | None = None


class Incident(Response):
    id: str
    display_id: str
    title: str
    body: str | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None
    acknowledged_date: str | None = None
    actual_close_date: str | None = None
    applies_to_parts: list[PartSummary] | None = None
    artifacts: list[ArtifactSummary] | None = None
    custom_fields: dict[str, Any] | None = None
    custom_schema_fragments: list[str] | None = None
    identified_date: str | None = None
    impact: ImpactedCustomerDetails | None = None
    mitigated_date: str | None = None
    owned_by: list[UserSummary] | None = None
    pia: list[ArticleSummary] | None = None
    playbooks: list[ArticleSummary] | None = None
    reported_by: EnumValue | None = None
    severity: EnumValue | None = None
    source: EnumValue | None = None
    stage: Stage | None = None
    stock_schema_fragment: str | None = None
    subtype: str | None = None
    sync_metadata: SyncMetadata | None = None
    tags: list[TagWithValue] | None = None
    target_close_date: str | None = None


class IncidentResponse(Response):
    """`{"incident": {...}}`: the answer of create, get and update."""

    incident: Incident


class IncidentsGetRequest(Request):
    id: Id


class IncidentsDeleteRequest(Request):
    id: Id


class IncidentsListResponse(Response):
    incidents: list[Incident]
    next_cursor: str | None = None
    prev_cursor: str | None = None


class FieldValue(Response):
    """DevRev's field-value: `{"type": "int" | "stage" | "id" | "string", "value" or "name"}`."""

    type: str
    value: Any = msgspec.UNSET
    name: str | None = None


class IncidentsGroup(Response):
    key: FieldValue
    incidents: list[Incident]
    total: int
    next_cursor: str | None = None


class IncidentsGroupResponse(Response):
    groups: list[IncidentsGroup]
    next_cursor: str | None = None
    prev_cursor: str | None = None
