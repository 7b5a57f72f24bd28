"""Wire types of /parts.* (DevRev's field names and shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.identity.schemas import user_summary
from incidentd.kit import ids
from incidentd.kit.bounds import INT32_MAX, VALUES, Cursor, Id, Ids, Names
from incidentd.kit.pages import PageLimit
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import Request, Response, UserSummary
from incidentd.principal import OrgScope

# The part types incidentd keeps (DevRev's linkable and runnable are not among them).
PartType = Literal["product", "capability", "feature", "enhancement"]
# At least one visible character; the column holds 256.
PartName = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"\S")]
Description = Annotated[str, msgspec.Meta(max_length=65_536)]
ListMode = Literal["after", "before"]


class Part(Response):
    type: str
    id: str
    name: str
    owned_by: list[UserSummary]
    display_id: str | None = None
    description: str | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None


class PartSummary(Response):
    """DevRev's part-summary, as incidents render the parts they apply to."""

    type: str
    id: str
    name: str
    owned_by: list[UserSummary]
    display_id: str | None = None


class PartsCreateRequest(Request):
    type: PartType
    name: PartName
    owned_by: Ids
    description: Description | None = None
    parent_part: Ids | None = None


class PartsCreateResponse(Response):
    part: Part


class PartsGetRequest(Request):
    id: Id


class PartsGetResponse(Response):
    part: Part


class ParentPartFilter(Request):
    parts: Ids
    level: Annotated[int, msgspec.Meta(ge=1, le=INT32_MAX)] | None = None  # levels of the hierarchy to walk


class PartsListRequest(Request):
    type: Annotated[list[PartType], VALUES] | None = None
    created_by: Ids | None = None
    cursor: Cursor | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None
    modified_by: Ids | None = None
    name: Names | None = None
    owned_by: Ids | None = None
    parent_part: ParentPartFilter | None = None


class PartsListResponse(Response):
    parts: list[Part]
    next_cursor: str | None = None
    prev_cursor: str | None = None


class PartsUpdateOwnedBy(Request):
    set: Ids | None = None


class PartsUpdateRequest(Request):
    id: Id
    type: PartType | UnsetType = UNSET  # DevRev's discriminator of type-specific fields; must be the part's type
    name: PartName | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET  # null clears it
    owned_by: PartsUpdateOwnedBy | UnsetType = UNSET


class PartsUpdateResponse(Response):
    part: Part


class PartsDeleteRequest(Request):
    id: Id


# rows -> wire ----------------------------------------------------------------------------------------


def _owners(numbers: list[int], org: OrgScope, users: dict[int, Any]) -> list[UserSummary]:
    return [user_summary(users[number], org) for number in numbers if number in users]


def part(row: Any, org: OrgScope, owners: list[int], users: dict[int, Any]) -> Part:
    """The part object; `owners` are its owners' user numbers in order, `users` holds the rows of its owners,
    creator and modifier (resolved in one query)."""
    creator = users.get(row.created_by) if row.created_by is not None else None
    modifier = users.get(row.modified_by) if row.modified_by is not None else None
    return Part(
        type=row.part_type,
        id=org.don(row.part_type, row.number),
        display_id=ids.to_display(row.part_type, row.number),
        name=row.name,
        description=row.description,
        owned_by=_owners(owners, org, users),
        created_by=user_summary(creator, org) if creator is not None else None,
        created_date=to_rfc3339(row.created_date),
        modified_by=user_summary(modifier, org) if modifier is not None else None,
        modified_date=to_rfc3339(row.modified_date),
    )


def part_summary(row: Any, org: OrgScope, owners: list[int], users: dict[int, Any]) -> PartSummary:
    return PartSummary(
        type=row.part_type,
        id=org.don(row.part_type, row.number),
        display_id=ids.to_display(row.part_type, row.number),
        name=row.name,
        owned_by=_owners(owners, org, users),
    )
