"""/accounts.*: HTTP in, service call, wire object out."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.accounts import schemas, service
from incidentd.db import Database
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.routing import read, write


async def create_account(
    data: schemas.AccountsCreateRequest, principal: Principal, db: Database
) -> schemas.AccountsCreateResponse:
    created = await service.create(db, principal, data)
    return schemas.AccountsCreateResponse(account=created.account, default_rev_org=created.default_rev_org)


async def get_account(
    data: schemas.AccountsGetRequest, principal: Principal, db: Database
) -> schemas.AccountsGetResponse:
    return schemas.AccountsGetResponse(account=await service.get(db, principal, data.id))


async def list_accounts(
    data: schemas.AccountsListRequest, principal: Principal, db: Database
) -> schemas.AccountsListResponse:
    page = await service.list_accounts(db, principal, data)
    return schemas.AccountsListResponse(
        accounts=page.accounts, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
    )


async def update_account(
    data: schemas.AccountsUpdateRequest, principal: Principal, db: Database
) -> schemas.AccountsUpdateResponse:
    return schemas.AccountsUpdateResponse(account=await service.update(db, principal, data))


async def delete_account(data: schemas.AccountsDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.delete(db, principal, data.id)
    return Empty()


ROUTES: list[HTTPRouteHandler] = [
    *write("/accounts.create", "accounts-create", create_account, status_code=201),
    *read("/accounts.get", "accounts-get", get_account),
    *read("/accounts.list", "accounts-list", list_accounts),
    *write("/accounts.update", "accounts-update", update_account),
    *write("/accounts.delete", "accounts-delete", delete_account),
]
