"""Wire types of /tags.* (DevRev's field names and shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.identity.schemas import user_summary
from incidentd.kit import ids
from incidentd.kit.bounds import Cursor, Id, Names
from incidentd.kit.pages import PageLimit
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import Request, Response, UserSummary
from incidentd.principal import OrgScope

# At least one visible character; the column holds 256.
TagName = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"\S")]
Description = Annotated[str, msgspec.Meta(max_length=65_536)]
Color = Annotated[str, msgspec.Meta(max_length=7, pattern=r"^#[0-9A-Fa-f]{6}$")]
ListMode = Literal["after", "before"]


class TagStyle(Request):
    color: Color | None = None


class TagStyleOut(Response):
    color: str | None = None


class Tag(Response):
    id: str
    name: str
    display_id: str | None = None
    description: str | None = None
    style_new: TagStyleOut | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None


class TagSummary(Response):
    """DevRev's tag-summary, as incidents render their tags."""

    id: str
    name: str
    display_id: str | None = None
    style_new: TagStyleOut | None = None


class TagsCreateRequest(Request):
    name: TagName
    description: Description | None = None
    style_new: TagStyle | None = None
    # Tag values are not supported; an empty list (no values permitted) is what every tag has.
    allowed_values: Names | None = None


class TagsCreateResponse(Response):
    tag: Tag


class TagsGetRequest(Request):
    id: Id


class TagsGetResponse(Response):
    tag: Tag


class TagsListRequest(Request):
    cursor: Cursor | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None
    name: Names | None = None
    sort_by: Names | None = None


class TagsListResponse(Response):
    tags: list[Tag]
    next_cursor: str | None = None
    prev_cursor: str | None = None


class TagsUpdateAllowedValues(Request):
    set: Names | None = None


class TagsUpdateRequest(Request):
    id: Id
    name: TagName | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET  # null clears it
    style_new: TagStyle | UnsetType | None = UNSET  # null (or no color) clears it
    allowed_values: TagsUpdateAllowedValues | UnsetType = UNSET


class TagsUpdateResponse(Response):
    tag: Tag


class TagsDeleteRequest(Request):
    id: Id


# rows -> wire ----------------------------------------------------------------------------------------


def _style(row: Any) -> TagStyleOut | None:
    return TagStyleOut(color=row.style_color) if row.style_color else None


def tag(row: Any, org: OrgScope, users: dict[int, Any]) -> Tag:
    """The tag object; `users` holds the rows of its creator and modifier (resolved in one query)."""
    creator = users.get(row.created_by) if row.created_by is not None else None
    modifier = users.get(row.modified_by) if row.modified_by is not None else None
    return Tag(
        id=org.don("tag", row.number),
        display_id=ids.to_display("tag", row.number),
        name=row.name,
        description=row.description,
        style_new=_style(row),
        created_by=user_summary(creator, org) if creator is not None else None,
        created_date=to_rfc3339(row.created_date),
        modified_by=user_summary(modifier, org) if modifier is not None else None,
        modified_date=to_rfc3339(row.modified_date),
    )


def tag_summary(row: Any, org: OrgScope) -> TagSummary:
    return TagSummary(
        id=org.don("tag", row.number),
        display_id=ids.to_display("tag", row.number),
        name=row.name,
        style_new=_style(row),
    )
