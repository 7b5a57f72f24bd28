"""Authentication: `Authorization: Bearer <token>` or the bare token (DevRev's SDKs send it so)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from incidentd.errors import BadRequestError, Unauthenticated
from incidentd.identity import service as identity
from incidentd.principal import Principal

# Paths that answer without a token.
PUBLIC_PATHS = {"/health", "/ready", "/metrics", "/openapi.json", "/docs", "/artifacts.download", "/artifacts.upload"}


def authorization_header(headers: Any) -> str | None:
    """The request's one Authorization header value (None without one); two or more are 400 `bad_request`, as the
    first one winning would let a proxy and the server disagree on who is calling."""
    values = headers.getall("authorization", [])
    if len(values) > 1:
        raise BadRequestError(f"the Authorization header is sent {len(values)} times; send it once")
    return values[0] if values else None


def token_from_header(value: str | None) -> str:
    """The token in an Authorization header value; raises Unauthenticated for a missing or malformed one."""
    if value is None or not value.strip():
        raise Unauthenticated("the Authorization header is missing")
    parts = value.strip().split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1 and parts[0].lower() != "bearer":
        return parts[0]
    raise Unauthenticated("the Authorization header is malformed; send 'Bearer <token>'")


class TokenAuthentication(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        token = token_from_header(authorization_header(connection.headers))
        state = connection.app.state
        principal = await identity.authenticate(state.db, state.settings.don_partition, token)
        return AuthenticationResult(user=principal, auth=token)


def provide_principal(request: Any) -> Principal:
    principal: Principal = request.user
    return principal
