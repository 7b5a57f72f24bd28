"""Wire types of /incidents.* — DevRev's field names and shapes (tests validate them against the pinned spec)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.accounts.schemas import AccountSummary
from incidentd.articles.schemas import ArticleSummary
from incidentd.artifacts.schemas import ArtifactSummary
from incidentd.customization.schemas import CustomSchemaSpec, CustomStageSummary, CustomStateSummary
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


# shared request pieces ------------------------------------------------------------------------------


class StagedUnresolvedField(Request):
    devrev_field_name: str | None = None
    external_display_name: str | None = None
    external_field_name: str | None = None


class StagedInfoInput(Request):
    is_staged: bool | None = None
    sync_in_unresolved_fields: list[StagedUnresolvedField] | None = None
    sync_out_unresolved_fields: list[StagedUnresolvedField] | None = None
    unresolved_fields: list[str] | None = None


class SyncInInput(Request):
    status: SyncInStatus | None = None
    sync_date: str | None = None
    sync_history: str | None = None
    sync_unit: str | None = None


class SyncOutInput(Request):
    status: SyncOutStatus | None = None
    sync_date: str | None = None
    sync_history: str | None = None
    sync_unit: str | None = None


class SyncMetadataInput(Request):
    external_reference: str | None = None
    last_sync_in: SyncInInput | None = None
    last_sync_out: SyncOutInput | None = None
    origin_system: str | None = None


class ExternalSourceData(Request):
    closed_date: str | None = None
    created_date: str | None = None
    modified_date: str | None = None


class StageInput(Request):
    stage: str
    notes: str | None = None


class TagWithValueInput(Request):
    tag_id: str
    value: str | None = None


class ImpactInput(Request):
    count: int | str | None = None
    customer_ids: list[str] | None = None


# create -----------------------------------------------------------------------------------------------


class IncidentsCreateRequest(Request):
    title: Title
    acknowledged_date: str | None = None
    applies_to_parts: list[str] | None = None
    artifacts: list[str] | None = None
    body: Body | None = None
    custom_fields: dict[str, Any] | None = None
    custom_schema_spec: CustomSchemaSpec | None = None
    external_source_data: ExternalSourceData | None = None
    identified_date: str | None = None
    impact: ImpactInput | None = None
    mitigated_date: str | None = None
    owned_by: list[str] | None = None
    pia: list[str] | None = None
    playbooks: list[str] | None = None
    related_docs: list[str] | None = None
    reported_by: int | str | None = None
    # An int id as the spec says; "sev1" / "sev-1" too, as existing clients send it (contract notes).
    severity: int | str | None = None
    source: int | str | None = None
    # A bare stage name is accepted besides {"stage": id} (contract notes).
    stage: StageInput | str | None = None
    stage_validation_options: list[Literal["allow_non_start"]] | None = None
    staged_info: StagedInfoInput | None = None
    sync_metadata: SyncMetadataInput | None = None
    tags: list[TagWithValueInput] | None = None
    target_close_date: str | None = None


# update -----------------------------------------------------------------------------------------------
# Absent fields (UNSET) stay as they are; `null` clears an optional scalar; collections take {"set": [...]}.


class SetIds(Request):
    set: list[str] | None = None


class SetTags(Request):
    set: list[TagWithValueInput] | None = None


class UpdateStage(Request):
    stage: str | None = None
    notes: str | None = None


class UpdateImpact(Request):
    count: int | str | UnsetType | None = UNSET
    customer_ids: SetIds | None = None


class IncidentsUpdateRequest(Request):
    id: str
    acknowledged_date: str | UnsetType | None = UNSET
    applies_to_parts: SetIds | None = None
    artifacts: SetIds | None = None
    body: Body | UnsetType | None = UNSET
    custom_fields: dict[str, Any] | UnsetType | None = UNSET
    custom_schema_spec: CustomSchemaSpec | None = None
    external_source_data: ExternalSourceData | None = None
    identified_date: str | UnsetType | None = UNSET
    impact: UpdateImpact | None = None
    mitigated_date: str | UnsetType | None = UNSET
    owned_by: SetIds | None = None
    pia: SetIds | None = None
    playbooks: SetIds | None = None
    related_docs: SetIds | None = None
    reported_by: int | str | UnsetType | None = UNSET
    severity: int | str | UnsetType | None = UNSET
    source: int | str | UnsetType | None = UNSET
    stage: UpdateStage | str | None = None
    stage_validation_options: list[Literal["allow_invalid_transition"]] | None = None
    staged_info: StagedInfoInput | None = None
    sync_metadata: SyncMetadataInput | None = None
    tags: SetTags | None = None
    target_close_date: str | UnsetType | None = UNSET
    title: Title | UnsetType | None = UNSET


# list and group -------------------------------------------------------------------------------------


class DateFilter(Request):
    """DevRev's date-filter: {"type": "range", "after", "before"} (both inclusive) or
    {"type": "preset", "preset_type": "last_n_days" | "next_n_days", "days"}."""

    type: Literal["range", "preset"]
    after: str | None = None
    before: str | None = None
    preset_type: Literal["last_n_days", "next_n_days"] | None = None
    # Checked by the service with the filter's own field name (created_date.days), documented here.
    days: Annotated[int, msgspec.Meta(extra_json_schema={"minimum": 0, "maximum": MAX_PRESET_DAYS})] | None = None


class StagedInfoFilter(Request):
    is_staged: bool | None = None


class SyncInFilter(Request):
    status: list[SyncInStatus] | None = None
    sync_date: DateFilter | None = None
    sync_history: list[str] | None = None
    sync_unit: list[str] | None = None


class SyncOutFilter(Request):
    status: list[SyncOutStatus] | None = None
    sync_date: DateFilter | None = None
    sync_history: list[str] | None = None
    sync_unit: list[str] | None = None


class SyncMetadataFilter(Request):
    external_reference: list[str] | None = None
    last_sync_in: SyncInFilter | None = None
    last_sync_out: SyncOutFilter | None = None
    origin_system: list[str] | None = None


class IncidentFilters(Request):
    """The filters list and group share; every filter is optional, arrays match any value, filters AND."""

    acknowledged_date: DateFilter | None = None
    actual_close_date: DateFilter | None = None
    applies_to_parts: list[str] | None = None
    created_by: list[str] | None = None
    created_date: DateFilter | None = None
    custom_fields: dict[str, Any] | None = None
    identified_date: DateFilter | None = None
    mitigated_date: DateFilter | None = None
    modified_date: DateFilter | None = None
    owned_by: list[str] | None = None
    pia: list[str] | None = None
    playbooks: list[str] | None = None
    related_docs: list[str] | None = None
    reported_by: list[int | str] | None = None
    severity: list[int | str] | None = None
    source: list[int | str] | None = None
    stage: list[str] | None = None
    staged_info: StagedInfoFilter | None = None
    subtype: list[str] | None = None
    sync_metadata: SyncMetadataFilter | None = None
    target_close_date: DateFilter | None = None
    title: list[str] | None = None
    # Extensions (docs/compatibility.md): incidents with any of these tags; a title containing this text.
    tags: list[str] | None = None
    title_contains: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TITLE)] | None = None


class IncidentsListRequest(IncidentFilters):
    cursor: str | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None
    sort_by: list[str] | None = None


class IncidentsGroupRequest(IncidentFilters, kw_only=True):
    group_by: str
    cursor: str | None = None
    limit: PageLimit | None = None
    limit_per_group: PageLimit | None = None
    mode: ListMode | None = None
    sort_by: list[str] | None = None


# responses --------------------------------------------------------------------------------------------


class Stage(Response):
    stage: CustomStageSummary | None = None
    state: CustomStateSummary | None = None


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
    id: str


class IncidentsDeleteRequest(Request):
    id: str


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
