"""/accounts.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from incidentd.accounts import schemas, service
from incidentd.db import Database
from incidentd.kit.query import parse_query
from incidentd.kit.wire import Empty
from incidentd.principal import Principal


class AccountController(Controller):
    tags = ["accounts"]

    @post("/accounts.create", operation_id="accounts-create", status_code=201)
    async def create(
        self, data: schemas.AccountsCreateRequest, principal: Principal, db: Database
    ) -> schemas.AccountsCreateResponse:
        created = await service.create(db, principal, data)
        return schemas.AccountsCreateResponse(account=created.account, default_rev_org=created.default_rev_org)

    @get("/accounts.get", operation_id="accounts-get")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.AccountsGetResponse:
        data = parse_query(request.scope["query_string"], schemas.AccountsGetRequest)
        return schemas.AccountsGetResponse(account=await service.get(db, principal, data.id))

    @post("/accounts.get", operation_id="accounts-get-post", status_code=200)
    async def get_post(
        self, data: schemas.AccountsGetRequest, principal: Principal, db: Database
    ) -> schemas.AccountsGetResponse:
        return schemas.AccountsGetResponse(account=await service.get(db, principal, data.id))

    @get("/accounts.list", operation_id="accounts-list")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.AccountsListResponse:
        data = parse_query(request.scope["query_string"], schemas.AccountsListRequest)
        return await self._list(data, principal, db)

    @post("/accounts.list", operation_id="accounts-list-post", status_code=200)
    async def list_post(
        self, data: schemas.AccountsListRequest, principal: Principal, db: Database
    ) -> schemas.AccountsListResponse:
        return await self._list(data, principal, db)

    async def _list(
        self, data: schemas.AccountsListRequest, principal: Principal, db: Database
    ) -> schemas.AccountsListResponse:
        page = await service.list_accounts(db, principal, data)
        return schemas.AccountsListResponse(
            accounts=page.accounts, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
        )

    @post("/accounts.update", operation_id="accounts-update", status_code=200)
    async def update(
        self, data: schemas.AccountsUpdateRequest, principal: Principal, db: Database
    ) -> schemas.AccountsUpdateResponse:
        return schemas.AccountsUpdateResponse(account=await service.update(db, principal, data))

    @post("/accounts.delete", operation_id="accounts-delete", status_code=200)
    async def delete(self, data: schemas.AccountsDeleteRequest, principal: Principal, db: Database) -> Empty:
        await service.delete(db, principal, data.id)
        return Empty()
