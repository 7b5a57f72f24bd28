"""DevRev's operations as Litestar route handlers, declared once per operation.

A domain writes one adapter per operation, `async def get(data: XGetRequest, principal, db) -> XGetResponse`,
and declares it with `read(...)` (answers GET with query parameters *and* POST with a JSON body, as DevRev's
get / list / group operations do) or `write(...)` (POST only). The request and response types come from the
adapter's annotations, so the OpenAPI document and the wire stay the same Structs.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

import msgspec
from litestar import Request, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIType, Operation, Parameter, Schema

from incidentd.idempotency.service import ANSWER_SECRETS, AnswerSecrets
from incidentd.kit.query import parse_query
from incidentd.kit.wire import unwrap_optional

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


# What an adapter may ask for besides its `data`, taken straight from the request: the caller (set by the
# authentication middleware) and the database. Litestar's dependency injection resolves two independent
# dependencies in a task group of their own, which cost a twentieth of a get's CPU (py-spy).
_FROM_REQUEST: dict[str, Callable[[Request[Any, Any, Any]], Any]] = {
    "principal": lambda request: request.user,
    "db": lambda request: request.app.state.db,
}


def _wrapped(
    call: Adapter, parameters: list[inspect.Parameter], hints: dict[str, Any], data: Callable[..., Any] | None
) -> Adapter:
    """A handler for Litestar that calls `call` with what it asks for: `data` (read from the request by `data`
    when given, else parsed by Litestar from the body), the caller, the database and the request."""
    wanted = [p.name for p in parameters]
    injected = [(name, _FROM_REQUEST[name]) for name in wanted if name in _FROM_REQUEST]
    passes_request = "request" in wanted

    async def handle(request: Request[Any, Any, Any], **kwargs: Any) -> Any:
        if data is not None:
            kwargs["data"] = data(request)
        for name, take in injected:
            kwargs[name] = take(request)
        if passes_request:
            kwargs["request"] = request
        return await call(**kwargs)

    kept = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in parameters
        if p.name not in _FROM_REQUEST and p.name != "request" and not (data is not None and p.name == "data")
    ]
    signature = [inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY), *kept]
    return _handler(call, signature, {**hints, "request": Request[Any, Any, Any]}, handle)


def write(
    path: str,
    operation_id: str,
    call: Adapter,
    *,
    status_code: int = 200,
    answer_secrets: AnswerSecrets | None = None,
    **answer: Any,
) -> list[HTTPRouteHandler]:
    """A POST-only operation (create answers 201, the others 200); `answer_secrets` when its answer holds a secret
    that an Idempotency-Key's stored answer must not keep; `answer`: how a non-JSON answer is documented
    (`media_type`, `response_description`)."""
    hints = get_type_hints(call)
    parameters = list(inspect.signature(call).parameters.values())
    handler = _wrapped(call, parameters, hints, data=None)
    opt = {ANSWER_SECRETS: answer_secrets} if answer_secrets is not None else {}
    return [
        post(path, operation_id=operation_id, status_code=status_code, tags=[_tag(path)], opt=opt, **answer)(handler)
    ]


def read(path: str, operation_id: str, call: Adapter, **answer: Any) -> list[HTTPRouteHandler]:
    """An operation that answers GET (query parameters, DevRev's `explode: false` forms) and POST (JSON body)
    with the same request type; DevRev names the POST form `<operation>-post`. `answer` as for `write`."""
    hints = get_type_hints(call)
    request_type = hints["data"]
    parameters = list(inspect.signature(call).parameters.values())

    def from_query(request: Request[Any, Any, Any]) -> Any:
        return parse_query(request.scope["query_string"], request_type)

    handler = _wrapped(call, parameters, hints, data=from_query)
    documented = _with_query_parameters(request_type)
    return [
        get(path, operation_id=operation_id, tags=[_tag(path)], operation_class=documented, **answer)(handler),
        *write(path, f"{operation_id}-post", call, **answer),
    ]


# OpenAPI: the GET form's query parameters, derived from the same request Struct the POST form takes ----------

_SCALARS = {
    msgspec.inspect.StrType: OpenAPIType.STRING,
    msgspec.inspect.IntType: OpenAPIType.INTEGER,
    msgspec.inspect.FloatType: OpenAPIType.NUMBER,
    msgspec.inspect.BoolType: OpenAPIType.BOOLEAN,
}


def _schema(info: Any) -> Schema:
    info = unwrap_optional(info)
    if isinstance(info, msgspec.inspect.Metadata):  # Annotated[..., Meta]: openapi_document adds the bounds
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):  # e.g. severity: int | str -> documented as its first form
        info = info.types[0]
    if isinstance(info, msgspec.inspect.ListType):
        return Schema(type=OpenAPIType.ARRAY, items=_schema(info.item_type))
    if isinstance(info, msgspec.inspect.LiteralType):
        return Schema(type=OpenAPIType.STRING, enum=list(info.values))
    for kind, openapi_type in _SCALARS.items():
        if isinstance(info, kind):
            return Schema(type=openapi_type)
    return Schema(type=OpenAPIType.OBJECT)


def query_fields(request_type: type, prefix: str = "") -> list[tuple[str, msgspec.inspect.Field, bool]]:
    """The request Struct's leaf fields as the GET form names them: nested Structs give dotted names
    (`staged_info.is_staged`). Each comes with whether it sits at the top level."""
    found: list[tuple[str, msgspec.inspect.Field, bool]] = []
    info = msgspec.inspect.type_info(request_type)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        name = f"{prefix}{field.encode_name}"
        inner = unwrap_optional(field.type)
        if isinstance(inner, msgspec.inspect.StructType):
            found += [(leaf, f, False) for leaf, f, _ in query_fields(inner.cls, f"{name}.")]
        else:
            found.append((name, field, not prefix))
    return found


def query_parameters(request_type: type) -> list[Parameter]:
    """One query parameter per leaf field of the request Struct; arrays are comma-separated (`explode: false`),
    as DevRev documents its GET forms."""
    return [
        Parameter(
            name=name,
            param_in="query",
            schema=_schema(field.type),
            required=field.required and top_level,
            explode=False,
        )
        for name, field, top_level in query_fields(request_type)
    ]


def _with_query_parameters(request_type: type) -> type[Operation]:
    parameters = query_parameters(request_type)

    @dataclass
    class QueryOperation(Operation):
        def __post_init__(self) -> None:
            self.parameters = [*(self.parameters or []), *parameters]

    return QueryOperation
