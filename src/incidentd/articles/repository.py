"""SQL of articles and their owners."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from incidentd.articles.tables import article_owners, articles
from incidentd.kit.pages import Window, number_page
from incidentd.kit.rows import RowsByNumber, one_of


@dataclass(frozen=True)
class ArticleFilters:
    """Filters of articles.list: each matches any of its values, all of them at once (empty: no filter)."""

    article_types: Sequence[str]
    created_by: Sequence[int] | None = None
    modified_by: Sequence[int] | None = None
    owned_by: Sequence[int] | None = None


async def insert_article(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(sa.insert(articles).values(**values))


# The articles with these numbers, in one query.
get_articles = RowsByNumber(articles)


async def update_article(conn: AsyncConnection, dev_org_id: int, number: int, **values: Any) -> None:
    await conn.execute(
        sa.update(articles).where(articles.c.dev_org_id == dev_org_id, articles.c.number == number).values(**values)
    )


async def delete_article(conn: AsyncConnection, dev_org_id: int, number: int) -> None:
    await conn.execute(
        sa.delete(article_owners).where(
            article_owners.c.dev_org_id == dev_org_id, article_owners.c.article_number == number
        )
    )
    await conn.execute(sa.delete(articles).where(articles.c.dev_org_id == dev_org_id, articles.c.number == number))


async def set_owners(conn: AsyncConnection, dev_org_id: int, article_number: int, user_numbers: Sequence[int]) -> None:
    """Replace the article's owners with these users, in this order."""
    await conn.execute(
        sa.delete(article_owners).where(
            article_owners.c.dev_org_id == dev_org_id, article_owners.c.article_number == article_number
        )
    )
    if user_numbers:
        await conn.execute(
            sa.insert(article_owners),
            [
                {"dev_org_id": dev_org_id, "article_number": article_number, "position": index, "user_number": user}
                for index, user in enumerate(user_numbers)
            ],
        )


async def owners_of(conn: AsyncConnection, dev_org_id: int, article_numbers: Iterable[int]) -> dict[int, list[int]]:
    """Article number -> its owners' user numbers in order, in one query."""
    wanted = sorted(set(article_numbers))
    if not wanted:
        return {}
    query = (
        sa.select(article_owners.c.article_number, article_owners.c.user_number)
        .where(article_owners.c.dev_org_id == dev_org_id, one_of(article_owners.c.article_number, wanted))
        .order_by(article_owners.c.article_number, article_owners.c.position)
    )
    found: dict[int, list[int]] = {}
    for row in (await conn.execute(query)).all():
        found.setdefault(row.article_number, []).append(row.user_number)
    return found


def _filtered(query: Any, dev_org_id: int, filters: ArticleFilters) -> Any:
    query = query.where(articles.c.dev_org_id == dev_org_id)
    if filters.article_types:
        query = query.where(one_of(articles.c.article_type, filters.article_types))
    if filters.created_by is not None:
        query = query.where(one_of(articles.c.created_by, filters.created_by))
    if filters.modified_by is not None:
        query = query.where(one_of(articles.c.modified_by, filters.modified_by))
    if filters.owned_by is not None:
        owned = sa.select(article_owners.c.article_number).where(
            article_owners.c.dev_org_id == dev_org_id,
            article_owners.c.article_number == articles.c.number,
            one_of(article_owners.c.user_number, filters.owned_by),
        )
        query = query.where(owned.exists())
    return query


async def list_articles(
    conn: AsyncConnection, dev_org_id: int, filters: ArticleFilters, page: Window
) -> Sequence[Row[Any]]:
    """A page of matching articles in number order (descending when walking backwards)."""
    query = _filtered(sa.select(articles), dev_org_id, filters)
    return (await conn.execute(number_page(query, articles.c.number, page))).all()


async def count_articles(conn: AsyncConnection, dev_org_id: int, filters: ArticleFilters) -> int:
    query = _filtered(sa.select(sa.func.count()).select_from(articles), dev_org_id, filters)
    return int((await conn.execute(query)).scalar_one())
