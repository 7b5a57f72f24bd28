"""Wire types of /articles.* (DevRev's field names and shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from incidentd.artifacts.schemas import ArtifactSummary
from incidentd.identity.schemas import user_summary
from incidentd.kit import ids
from incidentd.kit.bounds import VALUES, Cursor, Id, Ids, Url
from incidentd.kit.pages import PageLimit
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import Request, Response, UserSummary
from incidentd.principal import OrgScope

ArticleType = Literal["article", "content_block", "page"]
ArticleStatus = Literal["archived", "draft", "published", "review_needed"]
ListMode = Literal["after", "before"]
# At least one visible character; the column holds 256.
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"\S")]
Description = Annotated[str, msgspec.Meta(max_length=65_536)]


class Resource(Response):
    """DevRev's `resource` (of an article) and `resource-summary` (of an article-summary): the same shape."""

    artifacts: list[ArtifactSummary] | None = None
    url: str | None = None


class Article(Response):
    id: str
    owned_by: list[UserSummary]
    display_id: str | None = None
    title: str | None = None
    description: str | None = None
    article_type: str | None = None
    # Not in DevRev's article object (its requests set it): returned so that it can be read back.
    status: str | None = None
    resource: Resource | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None


class ArticleSummary(Response):
    """DevRev's article-summary, as incidents render their playbooks and post-incident analyses."""

    id: str
    display_id: str | None = None
    title: str | None = None
    article_type: str | None = None
    resource: Resource | None = None


class ArticlesCreateRequestResource(Request):
    artifacts: Ids | None = None
    url: Url | None = None


class ArticlesCreateRequest(Request):
    title: Title
    owned_by: Ids
    resource: ArticlesCreateRequestResource
    article_type: ArticleType | None = None
    description: Description | None = None
    status: ArticleStatus | None = None


class ArticlesCreateResponse(Response):
    article: Article


class ArticlesGetRequest(Request):
    id: Id


class ArticlesGetResponse(Response):
    article: Article


class ArticlesListRequest(Request):
    article_type: Annotated[list[ArticleType], VALUES] | None = None
    created_by: Ids | None = None
    modified_by: Ids | None = None
    owned_by: Ids | None = None
    cursor: Cursor | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None


class ArticlesListResponse(Response):
    articles: list[Article]
    total: int
    next_cursor: str | None = None
    prev_cursor: str | None = None


class ArticlesUpdateRequestIds(Request):
    """`{"set": [ids]}` of owned_by and artifacts; without `set` the field is unchanged."""

    set: Ids | None = None


class ArticlesUpdateRequest(Request):
    id: Id
    title: Title | UnsetType | None = UNSET  # null is refused: an article has a title
    description: Description | UnsetType | None = UNSET  # null clears it
    status: ArticleStatus | UnsetType | None = UNSET  # null clears it
    url: Url | UnsetType | None = UNSET  # the resource's URL; null clears it
    owned_by: ArticlesUpdateRequestIds | UnsetType = UNSET
    artifacts: ArticlesUpdateRequestIds | UnsetType = UNSET


class ArticlesUpdateResponse(Response):
    article: Article


class ArticlesDeleteRequest(Request):
    id: Id


# rows -> wire ----------------------------------------------------------------------------------------


def resource(row: Any, artifacts: list[ArtifactSummary]) -> Resource:
    return Resource(artifacts=artifacts or None, url=row.resource_url)


def article(
    row: Any,
    org: OrgScope,
    *,
    owners: list[int],
    artifacts: list[ArtifactSummary],
    users: dict[int, Any],
) -> Article:
    """The article object; `owners` are its owners' numbers in order, `users` the rows of its owners, creator
    and modifier, `artifacts` the summaries of its attached artifacts (each resolved in one query for a page)."""
    creator = users.get(row.created_by) if row.created_by is not None else None
    modifier = users.get(row.modified_by) if row.modified_by is not None else None
    return Article(
        id=org.don("article", row.number),
        display_id=ids.to_display("article", row.number),
        title=row.title,
        description=row.description,
        article_type=row.article_type,
        status=row.status,
        owned_by=[user_summary(users[number], org) for number in owners if number in users],
        resource=resource(row, artifacts),
        created_by=user_summary(creator, org) if creator is not None else None,
        created_date=to_rfc3339(row.created_date),
        modified_by=user_summary(modifier, org) if modifier is not None else None,
        modified_date=to_rfc3339(row.modified_date),
    )


def article_summary(row: Any, org: OrgScope, artifacts: list[ArtifactSummary]) -> ArticleSummary:
    return ArticleSummary(
        id=org.don("article", row.number),
        display_id=ids.to_display("article", row.number),
        title=row.title,
        article_type=row.article_type,
        resource=resource(row, artifacts),
    )
