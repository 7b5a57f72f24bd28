"""Rules of articles: owners required, a resource (a URL and attached artifacts), paged lists.

An article's artifacts are attached to it through `artifacts.service` (each artifact has at most one parent);
deleting the article frees them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from msgspec import UNSET
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.articles import repository, schemas
from incidentd.artifacts import service as artifacts
from incidentd.db import Database
from incidentd.errors import InvalidField, NotFound
from incidentd.identity import service as identity
from incidentd.kit import counters, ids, pages, references
from incidentd.kit.filters import check_list_lengths
from incidentd.kit.time import now_ms
from incidentd.principal import OrgScope, Principal

PARENT_KIND = "article"
DEFAULT_ARTICLE_TYPE = "article"
# Without an article_type filter, DevRev lists every article that is not a content block.
LISTED_BY_DEFAULT = ("article", "page")


async def summaries(conn: AsyncConnection, org: OrgScope, numbers: Iterable[int]) -> dict[int, schemas.ArticleSummary]:
    """DevRev's article-summary of each existing article, with its artifacts' summaries (two queries)."""
    rows = await repository.get_articles(conn, org.dev_org_id, numbers)
    attached = await artifacts.attached_summaries(conn, org, PARENT_KIND, rows.keys())
    return {number: schemas.article_summary(row, org, attached.get(number, [])) for number, row in rows.items()}


async def _owners(conn: AsyncConnection, org: OrgScope, values: Sequence[str], field_name: str) -> list[int]:
    """The owners' user numbers; an article needs at least one."""
    if not values:
        raise InvalidField("an article needs at least one owner", field_name=field_name)
    return await references.resolve_many(
        conn, org, values, kinds=ids.USER_KINDS, field_name=field_name, lookup=identity.user_kinds
    )


async def _attach(
    conn: AsyncConnection, org: OrgScope, article_number: int, values: Sequence[str], field_name: str
) -> None:
    """Make `values` the article's artifacts, in this order; the artifacts it had besides are freed."""
    numbers = await references.resolve_many(
        conn, org, values, kinds=("artifact",), field_name=field_name, lookup=artifacts.lookup
    )
    await artifacts.detach(conn, org, parent_kind=PARENT_KIND, parent_number=article_number, keep=numbers)
    await artifacts.attach(
        conn, org, numbers, parent_kind=PARENT_KIND, parent_number=article_number, field_name=field_name
    )


async def _existing(conn: AsyncConnection, org: OrgScope, reference: str) -> Row[Any]:
    """The article a get/update/delete names; another org's article is as absent as a nonexistent one."""
    parsed = ids.parse(reference, "article", field_name="id")
    row = None
    if org.owns(parsed):
        row = (await repository.get_articles(conn, org.dev_org_id, [parsed.number])).get(parsed.number)
    if row is None:
        raise NotFound(f"article '{reference}' does not exist")
    return row


async def _render(conn: AsyncConnection, org: OrgScope, rows: list[Row[Any]]) -> list[schemas.Article]:
    """Articles with their owners, users and artifacts: one query each, whatever the number of rows."""
    numbers = [row.number for row in rows]
    owners = await repository.owners_of(conn, org.dev_org_id, numbers)
    attached = await artifacts.attached_summaries(conn, org, PARENT_KIND, numbers)
    related = {number for row in rows for number in (row.created_by, row.modified_by) if number is not None}
    related.update(user for users in owners.values() for user in users)
    users = await identity.users_by_number(conn, org, list(related))
    return [
        schemas.article(
            row, org, owners=owners.get(row.number, []), artifacts=attached.get(row.number, []), users=users
        )
        for row in rows
    ]


async def _reload(conn: AsyncConnection, org: OrgScope, number: int) -> schemas.Article:
    rows = await repository.get_articles(conn, org.dev_org_id, [number])
    return (await _render(conn, org, [rows[number]]))[0]


async def create(db: Database, principal: Principal, request: schemas.ArticlesCreateRequest) -> schemas.Article:
    org = principal.org
    async with db.write() as conn:
        owners = await _owners(conn, org, request.owned_by, "owned_by")
        number = await counters.allocate(conn, org.dev_org_id, "article")
        now = now_ms()
        await repository.insert_article(
            conn,
            dev_org_id=org.dev_org_id,
            number=number,
            title=request.title,
            description=request.description,
            article_type=request.article_type or DEFAULT_ARTICLE_TYPE,
            status=request.status,
            resource_url=request.resource.url,
            created_by=principal.user_number,
            created_date=now,
            modified_by=principal.user_number,
            modified_date=now,
        )
        await repository.set_owners(conn, org.dev_org_id, number, owners)
        if request.resource.artifacts:
            await _attach(conn, org, number, request.resource.artifacts, "resource.artifacts")
        return await _reload(conn, org, number)


async def get(db: Database, principal: Principal, reference: str) -> schemas.Article:
    async with db.read() as conn:
        row = await _existing(conn, principal.org, reference)
        return (await _render(conn, principal.org, [row]))[0]


async def update(db: Database, principal: Principal, request: schemas.ArticlesUpdateRequest) -> schemas.Article:
    """Change the fields the request carries; an absent field is unchanged, `null` clears an optional one, and
    `{"set": [...]}` replaces owners or artifacts (artifacts left out are freed)."""
    if request.title is None:
        raise InvalidField("an article's title cannot be cleared", field_name="title")
    org = principal.org
    async with db.write() as conn:
        row = await _existing(conn, org, request.id)
        values: dict[str, Any] = {"modified_by": principal.user_number, "modified_date": now_ms()}
        for field, column in (("title", "title"), ("description", "description"), ("status", "status")):
            if getattr(request, field) is not UNSET:
                values[column] = getattr(request, field)
        if request.url is not UNSET:
            values["resource_url"] = request.url
        if request.owned_by is not UNSET and request.owned_by.set is not None:
            owners = await _owners(conn, org, request.owned_by.set, "owned_by.set")
            await repository.set_owners(conn, org.dev_org_id, row.number, owners)
        if request.artifacts is not UNSET and request.artifacts.set is not None:
            await _attach(conn, org, row.number, request.artifacts.set, "artifacts.set")
        await repository.update_article(conn, org.dev_org_id, row.number, **values)
        await counters.summaries_changed(conn, org.dev_org_id)  # stored incident documents name it
        return await _reload(conn, org, row.number)


async def delete(db: Database, principal: Principal, reference: str) -> None:
    """Delete an article: its artifacts are freed, and incidents that point at it no longer do."""
    org = principal.org
    async with db.write() as conn:
        row = await _existing(conn, org, reference)
        await artifacts.detach(conn, org, parent_kind=PARENT_KIND, parent_number=row.number)
        await repository.delete_article(conn, org.dev_org_id, row.number)
        await counters.summaries_changed(conn, org.dev_org_id)  # stored incident documents name it


@dataclass(frozen=True)
class ArticlesPage:
    articles: list[schemas.Article]
    total: int
    next_cursor: str | None
    prev_cursor: str | None


def _user_filter(org: OrgScope, values: list[str] | None, field_name: str) -> list[int] | None:
    """User numbers to filter on: malformed ids are errors; ids of other orgs simply match nothing."""
    if values is None:
        return None
    numbers: list[int] = []
    for index, value in enumerate(values):
        parsed = ids.parse(value, ids.USER_KINDS, field_name=f"{field_name}[{index}]")
        if org.owns(parsed):
            numbers.append(parsed.number)
    return sorted(set(numbers))


async def list_articles(db: Database, principal: Principal, request: schemas.ArticlesListRequest) -> ArticlesPage:
    """A page of articles in id order with keyset cursors, and the total number that match."""
    check_list_lengths(request)
    org = principal.org
    filters = repository.ArticleFilters(
        article_types=sorted(set(request.article_type or LISTED_BY_DEFAULT)),
        created_by=_user_filter(org, request.created_by, "created_by"),
        modified_by=_user_filter(org, request.modified_by, "modified_by"),
        owned_by=_user_filter(org, request.owned_by, "owned_by"),
    )
    page = pages.window(
        request.cursor,
        request.mode,
        request.limit,
        "articles",
        filters.article_types,
        filters.created_by,
        filters.modified_by,
        filters.owned_by,
    )
    async with db.read() as conn:
        rows = list(await repository.list_articles(conn, org.dev_org_id, filters, page))
        more = len(rows) > page.limit
        rows = sorted(rows[: page.limit], key=lambda row: row.number)
        total = await repository.count_articles(conn, org.dev_org_id, filters)
        rendered = await _render(conn, org, rows)
    links = pages.page_cursors([row.number for row in rows], more=more, page=page)
    return ArticlesPage(rendered, total, links.next_cursor, links.prev_cursor)
