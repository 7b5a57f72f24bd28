"""DevRev's operations as Litestar route handlers, declared once per operation.

A domain writes one adapter per operation, `async def get(data: XGetRequest, principal, db) -> XGetResponse`,
and declares it with `read(...)` (answers GET with query parameters *and* POST with a JSON body, as DevRev's
get / list / group operations do) or `write(...)` (POST only). The request and response types come from the
adapter's annotations, so the OpenAPI document and the wire stay the same Structs.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, get_type_hints

from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler

from incidentd.kit.query import parse_query

Adapter = Callable[..., Awaitable[Any]]


def _tag(path: str) -> str:
    return path.lstrip("/").split(".")[0]


def _handler(call: Adapter, parameters: list[inspect.Parameter], hints: dict[str, Any], body: Adapter) -> Adapter:
    """A function Litestar can inspect: `body`, dressed with the given parameters and their annotations."""
    body.__signature__ = inspect.Signature(parameters, return_annotation=hints["return"])  # type: ignore[attr-defined]
    body.__annotations__ = {p.name: hints[p.name] for p in parameters} | {"return": hints["return"]}
    body.__name__ = call.__name__
    body.__qualname__ = call.__qualname__
    body.__module__ = call.__module__
    body.__doc__ = call.__doc__
    return body


def write(path: str, operation_id: str, call: Adapter, *, status_code: int = 200) -> list[HTTPRouteHandler]:
    """A POST-only operation (create answers 201, the others 200)."""
    hints = get_type_hints(call)
    parameters = list(inspect.signature(call).parameters.values())

    async def via_post(**kwargs: Any) -> Any:
        return await call(**kwargs)

    handler = _handler(call, parameters, hints, via_post)
    return [post(path, operation_id=operation_id, status_code=status_code, tags=[_tag(path)])(handler)]


def read(path: str, operation_id: str, call: Adapter) -> list[HTTPRouteHandler]:
    """An operation that answers GET (query parameters, DevRev's `explode: false` forms) and POST (JSON body)
    with the same request type; DevRev names the POST form `<operation>-post`."""
    hints = get_type_hints(call)
    request_type = hints["data"]
    parameters = list(inspect.signature(call).parameters.values())
    wants_request = any(p.name == "request" for p in parameters)

    async def via_get(request: Request[Any, Any, Any], **kwargs: Any) -> Any:
        data = parse_query(request.scope["query_string"], request_type)
        return await call(data=data, **({"request": request} if wants_request else {}), **kwargs)

    get_parameters = [
        inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY),
        *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in parameters if p.name not in ("data", "request")),
    ]
    get_hints = {**hints, "request": Request[Any, Any, Any]}
    return [
        get(path, operation_id=operation_id, tags=[_tag(path)])(_handler(call, get_parameters, get_hints, via_get)),
        *write(path, f"{operation_id}-post", call),
    ]
