"""/articles.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from incidentd.articles import schemas, service
from incidentd.db import Database
from incidentd.kit.query import parse_query
from incidentd.kit.wire import Empty
from incidentd.principal import Principal


class ArticleController(Controller):
    tags = ["articles"]

    @post("/articles.create", operation_id="create-article", status_code=201)
    async def create(
        self, data: schemas.ArticlesCreateRequest, principal: Principal, db: Database
    ) -> schemas.ArticlesCreateResponse:
        return schemas.ArticlesCreateResponse(article=await service.create(db, principal, data))

    @get("/articles.get", operation_id="get-article")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.ArticlesGetResponse:
        data = parse_query(request.scope["query_string"], schemas.ArticlesGetRequest)
        return schemas.ArticlesGetResponse(article=await service.get(db, principal, data.id))

    @post("/articles.get", operation_id="get-article-post", status_code=200)
    async def get_post(
        self, data: schemas.ArticlesGetRequest, principal: Principal, db: Database
    ) -> schemas.ArticlesGetResponse:
        return schemas.ArticlesGetResponse(article=await service.get(db, principal, data.id))

    @get("/articles.list", operation_id="list-articles")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.ArticlesListResponse:
        data = parse_query(request.scope["query_string"], schemas.ArticlesListRequest)
        return await self._list(data, principal, db)

    @post("/articles.list", operation_id="list-articles-post", status_code=200)
    async def list_post(
        self, data: schemas.ArticlesListRequest, principal: Principal, db: Database
    ) -> schemas.ArticlesListResponse:
        return await self._list(data, principal, db)

    async def _list(
        self, data: schemas.ArticlesListRequest, principal: Principal, db: Database
    ) -> schemas.ArticlesListResponse:
        page = await service.list_articles(db, principal, data)
        return schemas.ArticlesListResponse(
            articles=page.articles, total=page.total, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
        )

    @post("/articles.update", operation_id="update-article", status_code=200)
    async def update(
        self, data: schemas.ArticlesUpdateRequest, principal: Principal, db: Database
    ) -> schemas.ArticlesUpdateResponse:
        return schemas.ArticlesUpdateResponse(article=await service.update(db, principal, data))

    @post("/articles.delete", operation_id="delete-article", status_code=200)
    async def delete(self, data: schemas.ArticlesDeleteRequest, principal: Principal, db: Database) -> Empty:
        await service.delete(db, principal, data.id)
        return Empty()
