"""/articles.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.articles import schemas, service
from incidentd.db import Database
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.routing import read, write


async def create_article(
    data: schemas.ArticlesCreateRequest, principal: Principal, db: Database
) -> schemas.ArticlesCreateResponse:
    return schemas.ArticlesCreateResponse(article=await service.create(db, principal, data))


async def get_article(
    data: schemas.ArticlesGetRequest, principal: Principal, db: Database
) -> schemas.ArticlesGetResponse:
    return schemas.ArticlesGetResponse(article=await service.get(db, principal, data.id))


async def list_articles(
    data: schemas.ArticlesListRequest, principal: Principal, db: Database
) -> schemas.ArticlesListResponse:
    page = await service.list_articles(db, principal, data)
    return schemas.ArticlesListResponse(
        articles=page.articles, total=page.total, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
    )


async def update_article(
    data: schemas.ArticlesUpdateRequest, principal: Principal, db: Database
) -> schemas.ArticlesUpdateResponse:
    return schemas.ArticlesUpdateResponse(article=await service.update(db, principal, data))


async def delete_article(data: schemas.ArticlesDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


ROUTES: list[HTTPRouteHandler] = [
    *write("/articles.create", "create-article", create_article, status_code=201),
    *read("/articles.get", "get-article", get_article),
    *read("/articles.list", "list-articles", list_articles),
    *write("/articles.update", "update-article", update_article),
    *write("/articles.delete", "delete-article", delete_article),
]
