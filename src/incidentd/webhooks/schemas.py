"""Wire types of /webhooks.* (DevRev's field names and shapes) and of the deliveries extension."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.kit.numbers import INT64_MAX
from incidentd.kit.wire import Request, Response, UserSummary

# DevRev's `webhook-event-type`, without `verify` (a protocol message, not a subscription).
EventType = Literal[
    "account_created", "account_deleted", "account_updated", "ai_agent_response", "article_created",
    "article_deleted", "article_updated", "conversation_created", "conversation_deleted", "conversation_updated",
    "dashboard_created", "dashboard_deleted", "dashboard_updated", "dev_user_created", "dev_user_deleted",
    "dev_user_updated", "group_created", "group_deleted", "group_member_added", "group_member_removed",
    "group_updated", "incident_created", "incident_deleted", "incident_updated", "job_created", "job_deleted",
    "job_updated", "link_created", "link_deleted", "link_updated", "part_created", "part_deleted", "part_updated",
    "question_answer_created", "question_answer_deleted", "question_answer_updated", "rev_org_created",
    "rev_org_deleted", "rev_org_updated", "rev_user_created", "rev_user_deleted", "rev_user_updated",
    "sla_tracker_created", "sla_tracker_deleted", "sla_tracker_fetched", "sla_tracker_updated", "survey_created",
    "survey_deleted", "survey_response_created", "survey_response_deleted", "survey_response_updated",
    "survey_updated", "sync_history_created", "sync_history_deleted", "sync_history_updated", "sync_unit_updated",
    "tag_created", "tag_deleted", "tag_updated", "timeline_entry_created", "timeline_entry_deleted",
    "timeline_entry_updated", "webhook_created", "webhook_deleted", "webhook_updated", "widget_created",
    "widget_deleted", "widget_updated", "work_created", "work_deleted", "work_fetched", "work_updated",
]  # fmt: skip
EventTypes = Annotated[list[EventType], msgspec.Meta(max_length=80)]
# An absolute http(s) URL; the service checks its parts.
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
# DevRev: 8 to 32 bytes (checked by the service, which names the field); bounded here so decoding stays cheap.
Secret = Annotated[str, msgspec.Meta(max_length=256)]
HeaderName = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
HeaderValue = Annotated[str, msgspec.Meta(max_length=1024)]
Status = Literal["active", "inactive", "unverified"]
MAX_HEADERS = 8


class WebhookHeader(Request):
    name: HeaderName
    value: HeaderValue


Headers = Annotated[list[WebhookHeader], msgspec.Meta(max_length=MAX_HEADERS)]


class WebhookHeaderOut(Response):
    name: str
    value: str


class Webhook(Response):
    id: str
    url: str
    secret: str
    status: Status
    event_types: list[str] = msgspec.field(default_factory=list)
    headers: list[WebhookHeaderOut] = msgspec.field(default_factory=list)
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None
    # Extension: a delivery was dead-lettered and nothing has succeeded since (DevRev's "degraded").
    failing: bool = False


class WebhooksCreateRequest(Request):
    url: Url
    event_types: EventTypes | None = None
    headers: Headers | None = None
    secret: Secret | None = None


class WebhookResponse(Response):
    webhook: Webhook


class WebhooksGetRequest(Request):
    id: Annotated[str, msgspec.Meta(max_length=256)]


class WebhooksListRequest(Request, forbid_unknown_fields=False):
    """DevRev's list takes no fields (a newer spec: `status`); the Python SDK sends `cursor`/`limit`: ignored."""

    status: Annotated[list[Status], msgspec.Meta(max_length=3)] | None = None


class WebhooksListResponse(Response):
    webhooks: list[Webhook]


class EventTypesChange(Request):
    add: EventTypes | None = None
    remove: EventTypes | None = None
    set: EventTypes | None = None


class HeadersChange(Request):
    add: Headers | None = None
    remove: Annotated[list[HeaderName], msgspec.Meta(max_length=MAX_HEADERS)] | None = None
    set: Headers | None = None


class WebhooksUpdateRequest(Request):
    id: Annotated[str, msgspec.Meta(max_length=256)]
    action: Literal["activate", "deactivate"] | None = None
    # The third-party Python SDK sends `status` instead of `action`.
    status: Status | None = None
    event_types: EventTypesChange | None = None
    headers: HeadersChange | None = None
    secret: Secret | UnsetType = UNSET  # "" generates a new one
    url: Url | None = None


class WebhooksDeleteRequest(Request):
    id: Annotated[str, msgspec.Meta(max_length=256)]


# extensions (docs/compatibility.md) -------------------------------------------------------------------

DeliveryState = Literal["pending", "delivered", "dead"]


class WebhooksDeliveriesListRequest(Request):
    id: Annotated[str, msgspec.Meta(max_length=256)]
    state: Annotated[list[DeliveryState], msgspec.Meta(max_length=3)] | None = None
    cursor: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)] | None = None  # more than 100 is served as 100


class WebhookDelivery(Response):
    event_id: str
    type: str
    object: str  # the incident the event is about
    state: DeliveryState
    attempts: int
    created_date: str
    last_status_code: int | None = None
    latency_ms: int | None = None
    last_error: str | None = None
    next_attempt_date: str | None = None
    delivered_date: str | None = None


class WebhooksDeliveriesListResponse(Response):
    deliveries: list[WebhookDelivery]
    next_cursor: str | None = None


class WebhooksReplayRequest(Request):
    """Send again one delivery (`event_id`) or every retained event since a time (`since`, RFC 3339)."""

    id: Annotated[str, msgspec.Meta(max_length=256)]
    event_id: Annotated[str, msgspec.Meta(max_length=512)] | None = None
    since: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class WebhooksReplayResponse(Response):
    replayed: int


class WebhooksTestRequest(Request):
    id: Annotated[str, msgspec.Meta(max_length=256)]


class WebhooksTestResponse(Response):
    """What the receiver answered to a signed `webhook_updated` event sent now."""

    ok: bool
    latency_ms: int
    status_code: int | None = None
    error: str | None = None


class EventsStreamRequest(Request):
    """GET /events.stream's query (the extension, docs/compatibility.md): where to resume, for clients that
    cannot set the `Last-Event-ID` header (which wins when both are given)."""

    last_event_id: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] | None = None
