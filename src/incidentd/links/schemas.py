"""Wire types of /links.* and of incidents.merge (DevRev's field names and shapes)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from incidentd.articles.schemas import Resource
from incidentd.incidents.schemas import Incident, IncidentSummary
from incidentd.kit.bounds import Cursor
from incidentd.kit.pages import PageLimit
from incidentd.kit.wire import Request, Response, UserSummary

# The link types an incident takes part in; DevRev's other types are refused with these as allowed_values.
LinkType = Literal["is_duplicate_of", "is_follow_up_of", "is_merged_into", "is_parent_of", "is_related_to"]
# DevRev's `link-type` and `link-endpoint-type`, all of them: a list filter may name any (those incidentd never
# links match nothing).
DevRevLinkType = Literal[
    "custom_link",
    "developed_with",
    "imports",
    "is_analyzed_by",
    "is_converted_to",
    "is_dependent_on",
    "is_duplicate_of",
    "is_follow_up_of",
    "is_merged_into",
    "is_parent_of",
    "is_part_of",
    "is_related_to",
    "serves",
]
EndpointType = Literal[
    "account",
    "article",
    "capability",
    "code_change",
    "conversation",
    "custom_object",
    "dev_user",
    "enhancement",
    "feature",
    "incident",
    "issue",
    "linkable",
    "meeting",
    "opportunity",
    "product",
    "rev_org",
    "rev_user",
    "runnable",
    "task",
    "ticket",
    "widget",
]
Direction = Literal["is_source", "is_target"]
ListMode = Literal["after", "before"]
# An object id: a DON (at most a few dozen characters) or a display id.
ObjectId = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
MAX_FILTER_VALUES = 32  # at most every value of the enum a filter takes, with room for repeats


# link ends: DevRev's link-endpoint-summary, one variant per endpoint type ---------------------------------


class PartEndpoint(Response, tag_field="type"):
    """DevRev's part-base-summary, the shape of the four part types."""

    id: str
    name: str
    owned_by: list[UserSummary]
    display_id: str | None = None


class ProductEndpoint(PartEndpoint, tag="product"):
    pass


class CapabilityEndpoint(PartEndpoint, tag="capability"):
    pass


class FeatureEndpoint(PartEndpoint, tag="feature"):
    pass


class EnhancementEndpoint(PartEndpoint, tag="enhancement"):
    pass


class ArticleEndpoint(Response, tag="article", tag_field="type"):
    id: str
    display_id: str | None = None
    title: str | None = None
    article_type: str | None = None
    resource: Resource | None = None


class AccountEndpoint(Response, tag="account", tag_field="type"):
    id: str
    display_id: str | None = None
    display_name: str | None = None


LinkEndpoint = (
    IncidentSummary
    | ProductEndpoint
    | CapabilityEndpoint
    | FeatureEndpoint
    | EnhancementEndpoint
    | ArticleEndpoint
    | AccountEndpoint
)
PART_ENDPOINTS: dict[str, type[ProductEndpoint | CapabilityEndpoint | FeatureEndpoint | EnhancementEndpoint]] = {
    "product": ProductEndpoint,
    "capability": CapabilityEndpoint,
    "feature": FeatureEndpoint,
    "enhancement": EnhancementEndpoint,
}


class Link(Response):
    id: str
    link_type: str
    source: LinkEndpoint
    target: LinkEndpoint
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None


class LinkSummary(Response):
    """DevRev's link-summary: what a `linked` change event on an incident's timeline carries."""

    id: str
    link_type: str
    source: LinkEndpoint
    target: LinkEndpoint


# requests and responses ------------------------------------------------------------------------------------


class LinksCreateRequest(Request):
    link_type: LinkType
    source: ObjectId
    target: ObjectId
    custom_link_type: ObjectId | None = None  # refused: incidentd has no custom link types


class LinkResponse(Response):
    """`{"link": {...}}`: the answer of create, get and replace."""

    link: Link


class LinksGetRequest(Request):
    id: ObjectId


class LinksListRequest(Request):
    object: ObjectId
    cursor: Cursor | None = None
    # DevRev's newer SDKs send it; incidentd has no custom link types, so a list with it matches nothing.
    custom_link_type: Annotated[list[ObjectId], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None
    direction: Direction | None = None
    limit: PageLimit | None = None
    link_type: Annotated[list[DevRevLinkType], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None
    mode: ListMode | None = None
    object_types: Annotated[list[EndpointType], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None
    # Deprecated by DevRev in favour of link_type; both given, a link of either list matches.
    types: Annotated[list[DevRevLinkType], msgspec.Meta(max_length=MAX_FILTER_VALUES)] | None = None


class LinksListResponse(Response):
    links: list[Link]
    next_cursor: str | None = None
    prev_cursor: str | None = None


class LinksDeleteRequest(Request):
    id: ObjectId


class LinksReplaceRequest(Request):
    id: ObjectId
    link_type: LinkType
    source: ObjectId
    target: ObjectId


class IncidentsMergeRequest(Request):
    source: ObjectId
    target: ObjectId


class IncidentsMergeResponse(Response):
    """incidents.merge answers with the source as it now is (stage `duplicate`) and the link that records the
    merge."""

    incident: Incident
    link: Link
