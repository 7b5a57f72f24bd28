"""Wire types of /timeline-entries.*: DevRev's requests, `timeline-entry` (a comment or a change event) and the
change event's parts (`field-delta`, `field-value`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.artifacts.schemas import ArtifactSummary
from incidentd.kit.pages import PageLimit
from incidentd.kit.wire import DateTimeFilter, Request, Response, UserSummary

MAX_BODY = 65_536
MAX_LABELS = 16
MAX_ARTIFACTS = 50
MAX_ARTIFACTS_CHANGE = 10
MAX_PRIVATE_TO = 50
MAX_FILTER_VALUES = 1_000

Visibility = Literal["external", "internal", "private", "public"]
Collection = Literal["discussions", "events"]
Panel = Literal["alerts", "broadcasts", "customer_chat", "discussions", "events"]
BodyType = Literal["data", "snap_kit", "snap_widget", "text"]
EntryType = Literal["timeline_comment", "timeline_change_event"]
ChangeEventType = Literal["annotated", "created", "deleted", "linked", "updated"]
ListMode = Literal["after", "before"]

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Body = Annotated[str, msgspec.Meta(max_length=MAX_BODY)]
ExternalRef = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
Timestamp = Annotated[str, msgspec.Meta(max_length=64)]
Cursor = Annotated[str, msgspec.Meta(max_length=1024)]


# requests --------------------------------------------------------------------------------------------


class TimelineEntriesCreateRequest(Request):
    """`timeline-entries-create-request` with its `timeline_comment` variant's fields, flat as DevRev sends them."""

    type: Literal["timeline_comment"]
    object: Id
    body: Body | None = None
    body_type: BodyType | None = None
    visibility: Visibility | None = None
    private_to: Annotated[list[Id], msgspec.Meta(max_length=MAX_PRIVATE_TO)] | None = None
    labels: Annotated[list[Label], msgspec.Meta(max_length=MAX_LABELS)] | None = None
    artifacts: Annotated[list[Id], msgspec.Meta(max_length=MAX_ARTIFACTS)] | None = None
    external_ref: ExternalRef | None = None
    collections: Annotated[list[Collection], msgspec.Meta(max_length=8)] | None = None
    expires_at: Timestamp | None = None


class TimelineEntriesGetRequest(Request):
    id: Id
    external_ref: ExternalRef | None = None


class TimelineEntriesListRequest(Request):
    object: Id
    collections: Annotated[list[Collection], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None
    created_date: DateTimeFilter | None = None
    cursor: Cursor | None = None
    labels: Annotated[list[Label], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None
    panels: Annotated[list[Panel], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None
    visibility: Annotated[list[Visibility], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None


class ArtifactsChange(Request):
    """`add` / `remove` (mutually exclusive with `set`) or `set` of a comment's artifacts."""

    add: Annotated[list[Id], msgspec.Meta(max_length=MAX_ARTIFACTS_CHANGE)] | None = None
    remove: Annotated[list[Id], msgspec.Meta(max_length=MAX_ARTIFACTS_CHANGE)] | None = None
    set: Annotated[list[Id], msgspec.Meta(max_length=MAX_ARTIFACTS)] | None = None


class TimelineEntriesUpdateRequest(Request):
    """A missing `type` means `timeline_comment` (a third-party SDK sends none); an absent field is unchanged."""

    id: Id
    type: Literal["timeline_comment"] = "timeline_comment"
    body: Body | UnsetType | None = UNSET
    body_type: BodyType | None = None
    external_ref: ExternalRef | UnsetType | None = UNSET
    artifacts: ArtifactsChange | None = None


class TimelineEntriesDeleteRequest(Request):
    id: Id


# change events ---------------------------------------------------------------------------------------


class FieldValue(Response):
    """DevRev's `field-value`: `type`, then `value` for scalars, `values` for lists, `name` (and `notes`) for a
    stage, `tag_id` (and `name`) for a tag summary."""

    type: str
    value: Any = UNSET
    values: list[Any] | UnsetType = UNSET
    name: str | UnsetType = UNSET
    notes: str | UnsetType = UNSET
    tag_id: str | UnsetType = UNSET


class FieldDelta(Response):
    """One changed field: a value that was cleared has no `new_value`; one that was set has no `old_value`."""

    name: str
    old_value: FieldValue | None = None
    new_value: FieldValue | None = None


class ChangeEventCreated(Response):
    object: dict[str, Any] | None = None  # the object's atom-summary (an incident-summary for incidents)


class ChangeEventUpdated(Response):
    field_deltas: list[FieldDelta] = msgspec.field(default_factory=list)
    object_type: str | None = None


class ChangeEventDeleted(Response):
    object_id: str | None = None


class ChangeEventLinked(Response):
    link: dict[str, Any] | None = None  # the link's link-summary


class ChangeEvent(Response):
    """DevRev's `timeline-change-event-event`: its `type` and the payload of that type."""

    type: ChangeEventType
    created: ChangeEventCreated | None = None
    updated: ChangeEventUpdated | None = None
    deleted: ChangeEventDeleted | None = None
    linked: ChangeEventLinked | None = None


# responses -------------------------------------------------------------------------------------------


class TimelineEntry(Response):
    """DevRev's `timeline-entry`: a `timeline_comment` (body, artifacts) or a `timeline_change_event` (event)."""

    type: EntryType
    id: str
    object: str
    object_display_id: str
    object_type: str
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None
    external_ref: str | None = None
    labels: list[str] | None = None
    panels: list[str] | None = None
    visibility: Visibility | None = None
    body: str | None = None
    body_type: BodyType | None = None
    artifacts: list[ArtifactSummary] | None = None
    event: ChangeEvent | None = None


class TimelineEntryResponse(Response):
    timeline_entry: TimelineEntry


class TimelineEntriesListResponse(Response):
    timeline_entries: list[TimelineEntry]
    next_cursor: str | None = None
    prev_cursor: str | None = None
