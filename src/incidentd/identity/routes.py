"""/dev-users.* and /auth-tokens.*: HTTP in, service call, wire object out."""

from __future__ import annotations

import msgspec
from litestar.handlers import HTTPRouteHandler

from incidentd.db import Database
from incidentd.identity import schemas, service
from incidentd.kit.time import now_ms
from incidentd.kit.wire import Empty
from incidentd.principal import Principal
from incidentd.routing import read, write


async def get_self(
    data: schemas.DevUsersSelfRequest, principal: Principal, db: Database
) -> schemas.DevUsersSelfResponse:
    return schemas.DevUsersSelfResponse(dev_user=await service.self_user(db, principal))


async def get_dev_user(
    data: schemas.DevUsersGetRequest, principal: Principal, db: Database
) -> schemas.DevUsersGetResponse:
    return schemas.DevUsersGetResponse(dev_user=await service.get_dev_user(db, principal, data.id))


async def list_dev_users(
    data: schemas.DevUsersListRequest, principal: Principal, db: Database
) -> schemas.DevUsersListResponse:
    page = await service.list_dev_users(db, principal, data)
    return schemas.DevUsersListResponse(
        dev_users=page.dev_users, next_cursor=page.next_cursor, prev_cursor=page.prev_cursor
    )


async def create_dev_user(
    data: schemas.DevUsersCreateRequest, principal: Principal, db: Database
) -> schemas.DevUsersCreateResponse:
    user = await service.create_dev_user(
        db, principal, email=data.email, state=data.state, full_name=data.full_name, display_name=data.display_name
    )
    return schemas.DevUsersCreateResponse(dev_user=user)


async def create_token(
    data: schemas.AuthTokensCreateRequest, principal: Principal, db: Database
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


async def list_tokens(
    data: schemas.AuthTokensListRequest, principal: Principal, db: Database
) -> schemas.AuthTokensListResponse:
    tokens = await service.list_tokens(
        db, principal, subject=data.subject, requested_token_type=data.requested_token_type
    )
    return schemas.AuthTokensListResponse(tokens=tokens)


async def delete_token(data: schemas.AuthTokensDeleteRequest, principal: Principal, db: Database) -> Empty:
    await service.revoke_token(db, principal.org, data.token_id, caller=principal)
    return Empty()


class _WithheldToken(msgspec.Struct, kw_only=True):
    """What an Idempotency-Key keeps of auth-tokens.create's answer: the secret's hash, never the secret."""

    token_hash: str
    expires_in: int
    token_type: str
    scope: str | None = None


class TokenAnswerSecrets:
    """auth-tokens.create's answer holds the new token's secret: a replay answers the token's metadata and a note."""

    REPLAY_MESSAGE = (
        "this is a replay of the auth-tokens.create request with this Idempotency-Key; the token it created (see "
        "'token') is shown only once, so its secret is not in this answer. If the first answer was lost, revoke "
        "that token with auth-tokens.delete and create another with a new Idempotency-Key."
    )

    def withheld(self, body: bytes) -> bytes:
        answer = msgspec.json.decode(body, type=schemas.AuthTokensCreateResponse)
        kept = _WithheldToken(
            token_hash=service.hash_token(answer.access_token),
            expires_in=answer.expires_in,
            token_type=answer.token_type,
            scope=answer.scope,
        )
        return msgspec.json.encode(kept)

    async def replayed(self, db: Database, principal: Principal, stored: bytes) -> bytes:
        kept = msgspec.json.decode(stored, type=_WithheldToken)
        replay = schemas.AuthTokensCreateReplayResponse(
            expires_in=kept.expires_in,
            token_type="bearer",
            message=self.REPLAY_MESSAGE,
            scope=kept.scope,
            token=await service.token_of_hash(db, principal, kept.token_hash),
        )
        return msgspec.json.encode(replay)


ROUTES: list[HTTPRouteHandler] = [
    *read("/dev-users.self", "dev-users-self", get_self),
    *read("/dev-users.get", "dev-users-get", get_dev_user),
    *read("/dev-users.list", "dev-users-list", list_dev_users),
    *write("/dev-users.create", "dev-users-create", create_dev_user, status_code=201),
    *write(
        "/auth-tokens.create", "auth-tokens-create", create_token, status_code=201, answer_secrets=TokenAnswerSecrets()
    ),
    *read("/auth-tokens.list", "auth-tokens-list", list_tokens),
    *write("/auth-tokens.delete", "auth-tokens-delete", delete_token),
]
