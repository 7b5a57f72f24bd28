"""HTTP plumbing shared by every route: DevRev error responses, request ids and the per-request log line."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import msgspec
import structlog
from litestar import Litestar, Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    SerializationException,
    ValidationException,
)
from litestar.types import Message, Receive, Scope, Send

from incidentd.db import is_unavailable
from incidentd.errors import (
    ApiError,
    BadRequestError,
    Forbidden,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ParseError,
    RequestEntityTooLarge,
    ServiceUnavailable,
    TooManyRequests,
    Unauthenticated,
)
from incidentd.kit.load import RequestLoad
from incidentd.kit.nesting import check_json_depth
from incidentd.kit.wire import allowed_values, decoding_error, number_out_of_range, with_allowed_values
from incidentd.metrics import UNMATCHED, Metrics

log = structlog.get_logger("incidentd")

REQUEST_ID_HEADER = "x-request-id"
# The handler's `data` parameter at the start of a path in msgspec's message: "... - at `$.data.impact.count`".
_DATA_PATH = re.compile(r"`\$\.data(?=[.\[`])")


def error_response(error: ApiError) -> Response[Any]:
    return Response(
        content=msgspec.json.encode(error.body()),
        status_code=error.status,
        media_type="application/json",
        headers=error.headers(),
    )


async def send_body(
    send: Send, status: int, body: bytes, media_type: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Send a whole response from a layer that answers without the framework (it runs outside a handler)."""
    start_headers = [
        (b"content-type", media_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
        *(headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(send: Send, error: ApiError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send `error` as a DevRev error body, with its own headers (Retry-After, ...) and `headers`."""
    own = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in error.headers().items()]
    await send_body(send, error.status, msgspec.json.encode(error.body()), "application/json", [*own, *(headers or [])])


def _from_http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> ApiError:
    if isinstance(exc, ValidationException):
        problems = exc.extra if isinstance(exc.extra, list) else []
        error: ApiError | None = None
        if _DATA_PATH.search(str(exc.__cause__)):
            # msgspec's own message keeps the whole path; Litestar's `key` drops every "data." in it
            # (`sync_metadata.origin_system` became `sync_metaorigin_system`) and the `key` of a map key.
            error = decoding_error(_DATA_PATH.sub("`$", str(exc.__cause__)))
        elif problems and isinstance(problems[0], dict):
            key = str(problems[0].get("key") or "")
            error = decoding_error(str(problems[0].get("message", "")), "" if key == "data" else key)
        if error is None:
            return BadRequestError(str(exc.detail))
        body_type = _body_type(request)
        return with_allowed_values(error, body_type, allowed_values) if body_type else error
    if isinstance(exc, NotFoundException):
        return NotFound("route not found")
    if isinstance(exc, MethodNotAllowedException):
        allowed = sorted(str(exc.headers.get("allow", "")).replace(" ", "").split(",")) if exc.headers else []
        return MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}", allowed=allowed)
    if exc.status_code == 413:
        limit = request.app.state.settings.max_body_bytes
        return RequestEntityTooLarge(f"the request body exceeds {limit} bytes", max_bytes=limit)
    if exc.status_code == 400:
        return ParseError(f"the request body could not be parsed: {exc.detail}")
    if exc.status_code == 401:
        return Unauthenticated(str(exc.detail))
    if exc.status_code == 403:
        return Forbidden(str(exc.detail))
    if exc.status_code == 429:
        return TooManyRequests(str(exc.detail), retry_after=1)
    if exc.status_code == 503:
        return ServiceUnavailable(str(exc.detail))
    return BadRequestError(str(exc.detail)) if exc.status_code < 500 else _internal(request, exc)


def _body_type(request: Request[Any, Any, Any]) -> type | None:
    """The request Struct the matched handler decodes its body into, if any."""
    handler = request.scope.get("route_handler")
    parameter = handler.parsed_fn_signature.parameters.get("data") if handler is not None else None
    return getattr(parameter, "annotation", None)


def _internal(request: Request[Any, Any, Any], exc: BaseException) -> ApiError:
    reference_id = uuid.uuid4().hex
    log.error(
        "unhandled exception",
        reference_id=reference_id,
        request_id=request.scope.get("state", {}).get("request_id"),
        method=request.method,
        path=request.url.path,
        exc_info=exc,
    )
    return InternalError("an internal error occurred; quote the reference id", reference_id=reference_id)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The one exception-to-response function: everything leaves as a DevRev error body."""
    if isinstance(exc, ApiError):
        error = exc
    elif isinstance(exc, HTTPException):
        error = _from_http_exception(request, exc)
    elif is_unavailable(exc):
        error = ServiceUnavailable("the database is unavailable; retry later")
    else:
        error = _internal(request, exc)
    return error_response(error)


class BoundedJsonRequest(Request[Any, Any, Any]):
    """A request whose JSON body is refused (400 parse_error) when it nests deeper than the decoder can follow."""

    async def json(self) -> Any:
        body = await self.body()
        check_json_depth(body, what="the request body")
        try:
            return await super().json()
        except SerializationException as exc:
            raise number_out_of_range(body) or ParseError(f"the request body could not be parsed: {exc}") from None


class IncidentdApp(Litestar):
    """Litestar with one outermost layer that sees every request, matched routes or not: request id, log line and
    request metrics."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = Metrics()
        self.load = RequestLoad()  # webhook delivery yields to requests (webhooks/delivery.py)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id  # type: ignore[typeddict-unknown-key]
        status = 500
        header = (REQUEST_ID_HEADER.encode(), request_id.encode())

        async def send_with_request_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]  # type: ignore[typeddict-item]
            await send(message)

        working = not str(scope.get("path", "")).endswith(".stream")  # an open event stream waits, it does not work
        if working:
            self.load.began()
        try:
            await super().__call__(scope, receive, send_with_request_id)
        finally:
            if working:
                self.load.ended()
            elapsed = time.perf_counter() - started
            method = str(scope.get("method"))
            self.metrics.observe_request(method, scope.get("path_template", UNMATCHED), status, elapsed)
            principal = scope.get("user")
            log.info(
                "request",
                request_id=request_id,
                method=method,
                path=scope.get("path"),
                principal=getattr(principal, "user_don", None),
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


def metrics_of(scope: Scope) -> Metrics:
    """The metrics of the app serving `scope`."""
    app: IncidentdApp = scope["app"]  # type: ignore[assignment]
    return app.metrics


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            if 0 < len(text) <= 128 and text.isprintable():
                return text
    return None
