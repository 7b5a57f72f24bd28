"""Wire types of /dev-users.* and /auth-tokens.* (DevRev's field names and shapes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from incidentd.kit import ids
from incidentd.kit.bounds import VALUES, Cursor, Email, Id, Name, Text
from incidentd.kit.pages import PageLimit
from incidentd.kit.time import to_rfc3339
from incidentd.kit.wire import Request, Response, UserSummary
from incidentd.principal import OrgScope

UserState = Literal["active", "deactivated", "deleted", "locked", "shadow", "unassigned"]
ListMode = Literal["after", "before"]
# DevRev allows up to 2**32 - 1 days; an expiry must stay within the year 9999 (what RFC 3339 and the token list
# can write), and a hundred years is beyond any token's use. 0 (or none) is a token that never expires.
MAX_EXPIRES_IN_DAYS = 36_500
ExpiresInDays = Annotated[int, msgspec.Meta(ge=0, le=MAX_EXPIRES_IN_DAYS)]
# A user's names: the columns hold 256 (kit.bounds.MAX_NAME).
UserName = Name
MAX_TOKEN_TYPE = 80  # requested_token_type: the column holds 80
MAX_SCOPE = 1_024  # scope: the column holds 1,024
TokenType = Annotated[str, msgspec.Meta(max_length=MAX_TOKEN_TYPE)]
Scope = Annotated[str, msgspec.Meta(max_length=MAX_SCOPE)]


class DevUser(Response):
    type: str
    id: str
    display_id: str | None = None
    display_name: str | None = None
    email: str | None = None
    full_name: str | None = None
    state: str | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    modified_by: UserSummary | None = None
    modified_date: str | None = None
    role: Literal["admin", "member"] | None = None  # incidentd's extension: what the user may administer


class DevUsersSelfRequest(Request):
    pass


class DevUsersSelfResponse(Response):
    dev_user: DevUser


class DevUsersGetRequest(Request):
    id: Id


class DevUsersGetResponse(Response):
    dev_user: DevUser


class DevUsersListRequest(Request):
    cursor: Cursor | None = None
    email: Annotated[list[Email], VALUES] | None = None
    limit: PageLimit | None = None
    mode: ListMode | None = None
    state: Annotated[list[UserState], VALUES] | None = None


class DevUsersListResponse(Response):
    dev_users: list[DevUser]
    next_cursor: str | None = None
    prev_cursor: str | None = None


class DevUsersCreateRequest(Request):
    email: Email
    state: Literal["shadow", "active"]
    full_name: UserName | None = None
    display_name: UserName | None = None


class DevUsersCreateResponse(Response):
    dev_user: DevUser


class AuthToken(Response):
    id: str
    display_id: str | None = None
    created_by: UserSummary | None = None
    created_date: str | None = None
    expires_at: str | None = None
    issued_at: str | None = None
    requested_token_type: str | None = None
    scopes: list[str] | None = None
    status: Literal["active", "expired", "revoked"] | None = None
    subject: str | None = None
    token_hint: str | None = None
    last_used_at: str | None = None


class AuthTokensCreateRequest(Request):
    act_as: Id | None = None
    aud: Annotated[list[Name], VALUES] | None = None
    client_id: Name | None = None
    expires_in: ExpiresInDays | None = None  # days, as DevRev's request says
    grant_type: Name | None = None
    requested_token_type: TokenType | None = None
    scope: Scope | None = None
    subject_token: Text | None = None  # a token of another issuer (a JWT may run to kilobytes)
    subject_token_type: Name | None = None
    token_hint: Name | None = None  # the column holds 256


class AuthTokensCreateResponse(Response):
    access_token: str
    expires_in: int  # seconds until the token expires; 0 for a token without expiry
    token_type: Literal["bearer"]
    scope: str | None = None


class AuthTokensCreateReplayResponse(Response):
    """A replay of auth-tokens.create for its Idempotency-Key: the token's secret is shown once and never stored,
    so `access_token` is absent; `token` says which token the first request created (to revoke it if the secret
    was lost) and `message` says why (an extension of DevRev's answer, docs/compatibility.md)."""

    expires_in: int
    token_type: Literal["bearer"]
    message: str
    scope: str | None = None
    token: AuthToken | None = None


class AuthTokensListRequest(Request):
    client_id: Name | None = None
    requested_token_type: TokenType | None = None
    subject: Id | None = None


class AuthTokensListResponse(Response):
    tokens: list[AuthToken]


class AuthTokensDeleteRequest(Request):
    token_id: Id | None = None


# rows -> wire ----------------------------------------------------------------------------------------


def user_summary(row: Any, org: OrgScope) -> UserSummary:
    """DevRev's user-summary of a users row, of whatever principal kind."""
    return UserSummary(
        type=row.user_type,
        id=org.don(row.user_type, row.number),
        display_id=ids.to_display(row.user_type, row.number),
        display_name=row.display_name,
        email=row.email,
        full_name=row.full_name,
        state=row.state,
    )


def dev_user(row: Any, org: OrgScope, users: dict[int, Any]) -> DevUser:
    """The dev-user object; `users` holds the rows of its creator and modifier (resolved in one query)."""
    creator = users.get(row.created_by) if row.created_by is not None else None
    modifier = users.get(row.modified_by) if row.modified_by is not None else None
    return DevUser(
        type=row.user_type,
        id=org.don(row.user_type, row.number),
        display_id=ids.to_display(row.user_type, row.number),
        display_name=row.display_name,
        email=row.email,
        full_name=row.full_name,
        state=row.state,
        created_by=user_summary(creator, org) if creator is not None else None,
        created_date=to_rfc3339(row.created_date),
        modified_by=user_summary(modifier, org) if modifier is not None else None,
        modified_date=to_rfc3339(row.modified_date),
        role=row.role,
    )


def auth_token(row: Any, org: OrgScope, *, status: str, subject: str) -> AuthToken:
    return AuthToken(
        id=org.don("auth_token", row.number),
        display_id=ids.to_display("auth_token", row.number),
        created_date=to_rfc3339(row.issued_at),
        issued_at=to_rfc3339(row.issued_at),
        expires_at=to_rfc3339(row.expires_at) if row.expires_at is not None else None,
        last_used_at=to_rfc3339(row.last_used_at) if row.last_used_at is not None else None,
        requested_token_type=row.requested_token_type,
        scopes=row.scopes.split() if row.scopes else None,
        status=status,  # type: ignore[arg-type]
        subject=subject,
        token_hint=row.token_hint,
    )
