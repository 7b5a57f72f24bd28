"""/dev-users.* and /auth-tokens.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from incidentd.db import Database
from incidentd.identity import schemas, service
from incidentd.kit.query import parse_query
from incidentd.kit.time import now_ms
from incidentd.kit.wire import Empty
from incidentd.principal import Principal


class DevUserController(Controller):
    tags = ["dev-users"]

    @get("/dev-users.self", operation_id="dev-users-self-get")
    async def self_get(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.DevUsersSelfResponse:
        parse_query(request.scope["query_string"], schemas.DevUsersSelfRequest)
        return schemas.DevUsersSelfResponse(dev_user=await service.self_user(db, principal))

    @post("/dev-users.self", operation_id="dev-users-self", status_code=200)
    async def self_post(
        self, data: schemas.DevUsersSelfRequest, principal: Principal, db: Database
    ) -> schemas.DevUsersSelfResponse:
        return schemas.DevUsersSelfResponse(dev_user=await service.self_user(db, principal))

    @get("/dev-users.get", operation_id="dev-users-get-query")
    async def get_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.DevUsersGetResponse:
        data = parse_query(request.scope["query_string"], schemas.DevUsersGetRequest)
        return schemas.DevUsersGetResponse(dev_user=await service.get_dev_user(db, principal, data.id))

    @post("/dev-users.get", operation_id="dev-users-get", status_code=200)
    async def get_post(
        self, data: schemas.DevUsersGetRequest, principal: Principal, db: Database
    ) -> schemas.DevUsersGetResponse:
        return schemas.DevUsersGetResponse(dev_user=await service.get_dev_user(db, principal, data.id))

    @get("/dev-users.list", operation_id="dev-users-list-query")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.DevUsersListResponse:
        data = parse_query(request.scope["query_string"], schemas.DevUsersListRequest)
        return await self._list(data, principal, db)

    @post("/dev-users.list", operation_id="dev-users-list", status_code=200)
    async def list_post(
        self, data: schemas.DevUsersListRequest, principal: Principal, db: Database
    ) -> schemas.DevUsersListResponse:
        return await self._list(data, principal, db)

    async def _list(
        self, data: schemas.DevUsersListRequest, principal: Principal, db: Database
    ) -> schemas.DevUsersListResponse:
        page = await service.list_dev_users(db, principal, data)
        return schemas.DevUsersListResponse(
            dev_users=page.dev_users, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
        )

    @post("/dev-users.create", operation_id="dev-users-create", status_code=201)
    async def create(
        self, data: schemas.DevUsersCreateRequest, principal: Principal, db: Database
    ) -> schemas.DevUsersCreateResponse:
        user = await service.create_dev_user(
            db,
            principal,
            email=data.email,
            state=data.state,
            full_name=data.full_name,
            display_name=data.display_name,
        )
        return schemas.DevUsersCreateResponse(dev_user=user)


class AuthTokenController(Controller):
    tags = ["auth-tokens"]

    @post("/auth-tokens.create", operation_id="auth-tokens-create", status_code=201)
    async def create(
        self, data: schemas.AuthTokensCreateRequest, principal: Principal, db: Database
    ) -> schemas.AuthTokensCreateResponse:
        issued = await service.create_token(
            db,
            principal,
            act_as=data.act_as,
            expires_in_days=data.expires_in,
            token_hint=data.token_hint,
            requested_token_type=data.requested_token_type,
            scope=data.scope,
        )
        expires_at = issued.row.expires_at
        return schemas.AuthTokensCreateResponse(
            access_token=issued.secret,
            expires_in=max(0, (expires_at - now_ms()) // 1000) if expires_at is not None else 0,
            token_type="bearer",
            scope=data.scope,
        )

    @get("/auth-tokens.list", operation_id="auth-tokens-list-query")
    async def list_query(
        self, request: Request[Any, Any, Any], principal: Principal, db: Database
    ) -> schemas.AuthTokensListResponse:
        data = parse_query(request.scope["query_string"], schemas.AuthTokensListRequest)
        return await self._list(data, principal, db)

    @post("/auth-tokens.list", operation_id="auth-tokens-list", status_code=200)
    async def list_post(
        self, data: schemas.AuthTokensListRequest, principal: Principal, db: Database
    ) -> schemas.AuthTokensListResponse:
        return await self._list(data, principal, db)

    async def _list(
        self, data: schemas.AuthTokensListRequest, principal: Principal, db: Database
    ) -> schemas.AuthTokensListResponse:
        tokens = await service.list_tokens(
            db, principal, subject=data.subject, requested_token_type=data.requested_token_type
        )
        return schemas.AuthTokensListResponse(tokens=tokens)

    @post("/auth-tokens.delete", operation_id="auth-tokens-delete", status_code=200)
    async def delete(self, data: schemas.AuthTokensDeleteRequest, principal: Principal, db: Database) -> Empty:
        await service.revoke_token(db, principal.org, data.token_id, current=principal.token_number)
        return Empty()
