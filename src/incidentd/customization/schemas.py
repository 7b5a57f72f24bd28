"""Wire types of /stages.custom.*, /states.custom.*, /schemas.custom.* and /schemas.subtypes.list, the stage
summaries incidents carry, and DevRev's custom-schema-spec that objects with custom fields take."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from incidentd.identity.schemas import user_summary
from incidentd.kit import ids
from incidentd.kit.bounds import KEYS, VALUES, Cursor, Id, Int32, Int64, Name, Names, Text
from incidentd.kit.pages import PageLimit
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import Request, Response, UserSummary
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
    id: Id


class CustomStagesGetResponse(Response):
    custom_stage: CustomStage


class CustomStagesListRequest(Request):
    cursor: Cursor | None = None
    limit: PageLimit | None = None
    name: Names | None = None
    ordinal: Annotated[list[Int32], VALUES] | None = None  # the column is 32-bit


class CustomStagesListResponse(Response):
    result: list[CustomStage]
    cursor: str | None = None


class CustomStatesGetRequest(Request):
    id: Id


class CustomStatesGetResponse(Response):
    custom_state: CustomState


class CustomStatesListRequest(Request):
    cursor: Cursor | None = None
    limit: PageLimit | None = None
    name: Names | None = None
    ordinal: Annotated[list[Int32], VALUES] | None = None  # the column is 32-bit
    is_final: bool | None = None


class CustomStatesListResponse(Response):
    result: list[CustomState]
    cursor: str | None = None


# schema fragments ------------------------------------------------------------------------------------

FragmentType = Literal["app_fragment", "custom_type_fragment", "tenant_fragment"]
FieldType = Literal[
    "array",
    "bool",
    "composite",
    "date",
    "double",
    "enum",
    "id",
    "int",
    "json_value",
    "rich_text",
    "struct",
    "text",
    "timestamp",
    "tokens",
    "uenum",
    "unknown",
]
BaseType = Literal[
    "bool",
    "composite",
    "date",
    "double",
    "enum",
    "id",
    "int",
    "json_value",
    "rich_text",
    "struct",
    "text",
    "timestamp",
    "tokens",
    "uenum",
]


class UenumValue(Request):
    """DevRev's schema-field-uenum-value: one value of a uenum field (the id is what objects store)."""

    id: Int64
    label: Name
    ordinal: Int64
    is_deprecated: bool | None = None
    tooltip: Text | None = None


# DevRev's opaque hints of a field (ui, mfz, oasis) and the entries of a fragment's path: stored and echoed back.
Hints = Annotated[dict[Name, Any], KEYS]


class FieldDescriptor(Request):
    """DevRev's schema-field-descriptor, every field type in one shape (`field_type` / `base_type` say which
    checks apply; `customization.fields.check_descriptor` enforces it). Echoed back as given, normalised."""

    name: Name
    field_type: FieldType
    base_type: BaseType | None = None
    description: Text | None = None
    is_required: bool | None = None
    is_filterable: bool | None = None
    is_immutable: bool | None = None
    is_pii: bool | None = None
    origin: Name | None = None
    ui: Hints | None = None
    mfz: Hints | None = None
    oasis: Hints | None = None
    default_value: Any = None
    # text, rich_text, tokens
    contains: Text | None = None
    eq_len: Int64 | None = None
    max_len: Int64 | None = None
    min_len: Int64 | None = None
    pattern: Text | None = None
    prefix: Text | None = None
    suffix: Text | None = None
    # int (and double, beyond DevRev's spec)
    gt: Int64 | float | None = None
    gte: Int64 | float | None = None
    lt: Int64 | float | None = None
    lte: Int64 | float | None = None
    # enum, uenum
    allowed_values: Annotated[list[Any], VALUES] | None = None
    is_overridable: bool | None = None
    translated_values: Annotated[dict[Name, Name], KEYS] | None = None
    # id
    id_type: Names | None = None
    # array
    eq_items: Int64 | None = None
    max_items: Int64 | None = None
    min_items: Int64 | None = None


def stored_descriptor(entry: dict[str, Any]) -> FieldDescriptor:
    """A descriptor as a fragment stored it (checked and normalised when it was set). Built without decoding, so
    that the request bounds, which may tighten over releases, never make a stored fragment unreadable."""
    return FieldDescriptor(**entry)


class CustomSchemaFragmentsSetRequest(Request):
    """DevRev's custom-schema-fragments-set-request: the members of all three types in one shape; a member of
    another type than `type` is 400 invalid_field. `conditions`, `composite_schemas`, `stock_field_overrides`
    and `id_prefix` are not implemented and rejected as unknown fields."""

    type: FragmentType
    description: Text
    leaf_type: Name
    fields: Annotated[list[FieldDescriptor], VALUES] | None = None
    deleted_fields: Names | None = None
    is_deprecated: bool | None = None
    deprecated: bool | None = None
    is_custom_leaf_type: bool | None = None
    subtype: Name | None = None
    subtype_display_name: Name | None = None
    stage_diagram: Id | None = None
    path: Annotated[list[Hints], VALUES] | None = None
    app: Name | None = None
    app_display_name: Name | None = None


class CustomSchemaFragmentsSetResponse(Response):
    id: str


class CustomSchemaFragmentsGetRequest(Request):
    id: Id


class CustomSchemaFragmentSummary(Response):
    type: str
    id: str
    display_id: str | None = None


class StageDiagramSummary(Response):
    id: str
    display_id: str | None = None


class CustomSchemaFragment(Response):
    """DevRev's custom-schema-fragment (tenant-fragment, custom-type-fragment or app-fragment by `type`)."""

    type: str
    id: str
    display_id: str | None = None
    fragment_type: str | None = None
    leaf_type: str | None = None
    description: str | None = None
    fields: list[FieldDescriptor] | None = None
    is_custom_leaf_type: bool | None = None
    deprecated: bool | None = None
    is_deprecated: bool | None = None
    old_fragment_ref: CustomSchemaFragmentSummary | None = None
    new_fragment_ref: CustomSchemaFragmentSummary | None = None
    subtype: str | None = None
    subtype_display_name: str | None = None
    stage_diagram: StageDiagramSummary | None = None
    path: list[dict[str, Any]] | None = None
    app: str | None = None
    app_display_name: str | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None


class CustomSchemaFragmentsGetResponse(Response):
    fragment: CustomSchemaFragment


class CustomSchemaFragmentsListRequest(Request):
    app: Names | None = None
    cursor: Cursor | None = None
    deprecated: bool | None = None
    is_custom_leaf_type: bool | None = None
    is_deprecated: bool | None = None
    leaf_type: Names | None = None
    limit: PageLimit | None = None
    mode: Literal["after", "before"] | None = None
    prune: Annotated[list[Literal["fields"]], VALUES] | None = None
    subtype: Names | None = None
    types: Annotated[list[FragmentType], VALUES] | None = None


class CustomSchemaFragmentsListResponse(Response):
    result: list[CustomSchemaFragment]
    next_cursor: str | None = None
    prev_cursor: str | None = None


class SubtypesListRequest(Request):
    leaf_type: Name | None = None
    leaf_types: Names | None = None


class Subtype(Response):
    fragment_id: str
    leaf_type: str
    value: str
    display_name: str | None = None


class SubtypesListResponse(Response):
    subtypes: list[Subtype]


class CustomSchemaSpecDrop(Request):
    apps: Names | None = None
    subtype: bool | None = None


class CustomSchemaSpec(Request):
    """DevRev's custom-schema-spec: which fragments a create or update applies (and `drop` removes)."""

    apps: Names | None = None
    drop: CustomSchemaSpecDrop | None = None
    subtype: Name | None = None
    tenant_fragment: bool | None = None
    validate_required_fields: bool | None = None


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


def _fragment_summary(kind: str, number: int, org: OrgScope) -> CustomSchemaFragmentSummary:
    return CustomSchemaFragmentSummary(type=kind, id=org.don(kind, number), display_id=ids.to_display(kind, number))


def custom_schema_fragment(
    row: Any, org: OrgScope, users: dict[int, Any], *, newer: int | None, prune_fields: bool
) -> CustomSchemaFragment:
    """A schema_fragments row; `users` holds its creator, `newer` is the number of the version that replaced it."""
    kind = row.fragment_type
    details = row.details or {}
    return CustomSchemaFragment(
        type=kind,
        id=org.don(kind, row.number),
        display_id=ids.to_display(kind, row.number),
        fragment_type=kind.removesuffix("_fragment"),
        leaf_type=row.leaf_type,
        description=row.description,
        fields=None if prune_fields else [stored_descriptor(entry) for entry in row.fields],
        is_custom_leaf_type=False,
        deprecated=row.is_deprecated,
        is_deprecated=row.is_deprecated,
        old_fragment_ref=_fragment_summary(kind, row.previous_number, org) if row.previous_number else None,
        new_fragment_ref=_fragment_summary(kind, newer, org) if newer else None,
        subtype=row.subtype,
        subtype_display_name=details.get("subtype_display_name"),
        stage_diagram=StageDiagramSummary(id=org.don("stage_diagram", row.stage_diagram_number))
        if row.stage_diagram_number is not None
        else None,
        path=details.get("path"),
        app=row.app,
        app_display_name=details.get("app_display_name"),
        created_by=user_summary(users[row.created_by], org) if row.created_by in users else None,
        created_date=to_rfc3339(row.created_date),
        modified_by=user_summary(users[row.modified_by], org) if row.modified_by in users else None,
        modified_date=to_rfc3339(row.modified_date),
    )


def subtype(row: Any, org: OrgScope) -> Subtype:
    """A subtype: the current custom type fragment of a leaf type's subtype."""
    return Subtype(
        fragment_id=org.don(row.fragment_type, row.number),
        leaf_type=row.leaf_type,
        value=row.subtype,
        display_name=(row.details or {}).get("subtype_display_name"),
    )
