"""The OpenAPI document `/openapi.json` serves: Litestar's, completed so that it describes the wire as it is.

Litestar documents each operation's request and success response from the handlers' Structs. What the other
layers answer it cannot see, so this module adds, every part derived from the code that does it:
- DevRev's error bodies `{"type", "message", ...}` (incidentd.errors) for every status an operation can answer,
  in place of Litestar's `{status_code, detail, extra}`, under DevRev's names (`error-bad-request`, ...);
- DevRev's bearer scheme (`auth-token`) on every operation but the public ones (auth.PUBLIC_PATHS);
- the `Idempotency-Key` header of authenticated POSTs, with its length limit;
- the msgspec `Meta` bounds Litestar's generator drops (those of list items and maps; the GET forms' query
  parameters), and `additionalProperties: false` where a request Struct rejects unknown fields.
"""

from __future__ import annotations

import copy
import inspect
import types
from typing import Any, Union, get_args, get_origin, get_type_hints

import msgspec
from litestar import Litestar
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from incidentd import errors
from incidentd.auth import PUBLIC_PATHS
from incidentd.idempotency.service import MAX_KEY_LENGTH
from incidentd.routing import query_fields

SECURITY_SCHEME = "auth-token"
_STATE_KEY = "openapi_document"

# DevRev's names of its error responses and schemas (`#/components/responses/<name>`, `error-<name>`); 405, 409
# and 413 are ours (DevRev documents 409 for a few operations under the same name).
RESPONSE_NAMES = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "request-entity-too-large",
    429: "too-many-requests",
    500: "internal-server-error",
    503: "service-unavailable",
}

_RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
_RESPONSE_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}},
    429: {
        "Retry-After": _RETRY_AFTER,
        "X-RateLimit-Limit": {"description": "Requests allowed per window.", "schema": {"type": "integer"}},
        "X-RateLimit-Remaining": {"description": "Requests left in this window.", "schema": {"type": "integer"}},
        "X-RateLimit-Reset": {"description": "When the window ends (epoch seconds).", "schema": {"type": "integer"}},
    },
    503: {"Retry-After": _RETRY_AFTER},
}

# Operations that address one object by its id answer 404 when there is none (`<type>.<verb>`).
_ADDRESSES_ONE_OBJECT = {"get", "update", "delete", "locate", "upload", "download", "replace", "merge"}


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The app's document, built on first use and kept on the app's state."""
    document: dict[str, Any] | None = app.state.get(_STATE_KEY)
    if document is None:
        document = describe_wire(app)
        app.state[_STATE_KEY] = document
    return document


class WireJsonRenderPlugin(JsonRenderPlugin):
    """Serves `openapi_document` where Litestar serves its own (`/docs/openapi.json`, which /docs loads)."""

    def render(self, request: Any, openapi_schema: dict[str, Any]) -> bytes:
        return self.render_json(request, openapi_document(request.app))


def describe_wire(app: Litestar) -> dict[str, Any]:
    document = copy.deepcopy(app.openapi_schema.to_schema())
    components = document.setdefault("components", {})
    components["responses"] = _error_responses(components.setdefault("schemas", {}), app)
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "Every operation but the public ones needs `Authorization: Bearer <token>` (the bare "
            "token is accepted as well, as DevRev's SDKs send it).",
        }
    }
    document["security"] = [{SECURITY_SCHEME: []}]
    request_types = _request_types(app)
    for path, path_item in document.get("paths", {}).items():
        public = is_public(path)
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            _complete_operation(operation, path, method, public)
            request_type = request_types.get(path)
            if method == "get" and request_type is not None:
                _bound_query_parameters(operation.get("parameters", []), request_type)
    for struct in _structs(request_types.values()):
        _bound_struct(components["schemas"].get(struct.__name__), struct)
    return document


def is_public(path: str) -> bool:
    """Whether a path answers without a token (the authentication middleware's own list)."""
    return any(path == public or path.startswith(f"{public}/") for public in PUBLIC_PATHS)


# errors ------------------------------------------------------------------------------------------------------


def statuses(path: str, method: str, *, public: bool) -> list[int]:
    """The error statuses an operation can answer: 400 for any input, 401 / 429 from the authentication and rate
    limit layers (not on public paths), 403, 404 where one object is addressed, 409 (Idempotency-Key, or a
    duplicate) and 413 (body size) on POSTs, 500 and 503 (database unavailable) everywhere."""
    found = [400, 403, 500, 503]
    if not public:
        found += [401, 429]
    if path.rsplit(".", 1)[-1] in _ADDRESSES_ONE_OBJECT:
        found.append(404)
    if method == "post":
        found += [409, 413]
    return sorted(found)


def _complete_operation(operation: dict[str, Any], path: str, method: str, public: bool) -> None:
    responses = operation["responses"]
    for status in [key for key in responses if key.startswith(("4", "5"))]:
        del responses[status]  # Litestar's {status_code, detail, extra}: never on the wire
    for status in statuses(path, method, public=public):
        responses[str(status)] = {"$ref": f"#/components/responses/{RESPONSE_NAMES[status]}"}
    if public:
        operation["security"] = []
    elif method == "post":
        operation.setdefault("parameters", []).append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes the POST safe to retry: a finished request with the same key and body is "
                "answered again from its stored answer.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
            }
        )


def _error_responses(schemas: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """One response per status, its body a `oneOf` over the error types of that status (discriminated by
    `type`), each type's own fields read off incidentd.errors."""
    by_status: dict[int, list[type[errors.ApiError]]] = {}
    for error_class in _error_classes():
        by_status.setdefault(error_class.status, []).append(error_class)
    responses: dict[str, Any] = {}
    for status, classes in sorted(by_status.items()):
        name = RESPONSE_NAMES[status]
        mapping: dict[str, str] = {}
        for error_class in sorted(classes, key=lambda cls: cls.type):
            variant = f"error-{name}-{error_class.type.replace('_', '-')}"
            schemas[variant] = _error_schema(error_class, variant)
            mapping[error_class.type] = f"#/components/schemas/{variant}"
        schemas[f"error-{name}"] = {
            "title": f"error-{name}",
            "oneOf": [{"$ref": ref} for ref in mapping.values()],
            "discriminator": {"propertyName": "type", "mapping": mapping},
        }
        response: dict[str, Any] = {
            "description": _describe(status, app),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/error-{name}"}}},
        }
        if status in _RESPONSE_HEADERS:
            response["headers"] = _RESPONSE_HEADERS[status]
        responses[name] = response
    return responses


def _describe(status: int, app: Litestar) -> str:
    if status == 413:
        settings = app.state.settings
        return (
            f"413 Request Entity Too Large: a JSON body over {settings.max_body_bytes} bytes "
            f"(INCIDENTD_MAX_BODY_BYTES), or an artifact over {settings.max_artifact_bytes} bytes."
        )
    return f"{status} {RESPONSE_NAMES[status].replace('-', ' ').title()}."


def _error_classes() -> list[type[errors.ApiError]]:
    """Every error type the server raises: ApiError's subclasses that name a type of their own."""
    found: list[type[errors.ApiError]] = []
    pending = list(errors.ApiError.__subclasses__())
    while pending:
        error_class = pending.pop()
        pending += error_class.__subclasses__()
        if all(error_class.type != other.type for other in found):
            found.append(error_class)
    return found


_SAMPLES: dict[Any, Any] = {str: "x", int: 1, bool: True, list: []}


def _error_schema(error_class: type[errors.ApiError], title: str) -> dict[str, Any]:
    """The body of `error_class`. Its fields are the constructor's keyword parameters that `body()` carries (some
    only become headers, e.g. 503's retry_after), so they are read off an instance built from sample values."""
    signature = inspect.signature(error_class.__init__)
    hints = get_type_hints(error_class.__init__)
    keywords = [p for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    sample = {p.name: _SAMPLES[get_origin(_present(hints[p.name])) or _present(hints[p.name])] for p in keywords}
    carried = set(error_class("sample", **sample).body()) - {"type", "message"}
    properties: dict[str, Any] = {
        "type": {"type": "string", "const": error_class.type},
        "message": {"type": "string"},
    }
    required = ["type", "message"]
    for parameter in keywords:
        if parameter.name in carried:
            properties[parameter.name] = msgspec.json.schema(_present(hints[parameter.name]))
            if parameter.default is inspect.Parameter.empty:
                required.append(parameter.name)
    return {
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _present(hint: Any) -> Any:
    """`X` of `X | None`: a None field is left out of the body."""
    if get_origin(hint) in (Union, types.UnionType):
        kept = [arg for arg in get_args(hint) if arg is not type(None)]
        return kept[0] if len(kept) == 1 else hint
    return hint


# limits ------------------------------------------------------------------------------------------------------


def _request_types(app: Litestar) -> dict[str, type]:
    """The request Struct of each documented path (the GET form of a read takes the same one as its POST)."""
    found: dict[str, type] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            data = handler.parsed_fn_signature.parameters.get("data")
            annotation = getattr(data, "annotation", None)
            if handler.include_in_schema and isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
                found[route.path] = annotation
    return found


def _structs(roots: Any) -> list[type]:
    """Every Struct reachable from `roots`, nested ones included."""
    found: dict[type, None] = {}

    def visit(info: msgspec.inspect.Type) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in found:
                return
            found[info.cls] = None
            for field in info.fields:
                visit(field.type)
        for child in _children(info):
            visit(child)

    for info in msgspec.inspect.multi_type_info(list(roots)):
        visit(info)
    return list(found)


def _children(info: msgspec.inspect.Type) -> list[msgspec.inspect.Type]:
    if isinstance(info, msgspec.inspect.Metadata):
        return [info.type]
    if isinstance(info, msgspec.inspect.UnionType):
        return list(info.types)
    if isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType):
        return [info.item_type]
    if isinstance(info, msgspec.inspect.VarTupleType):
        return [info.item_type]
    if isinstance(info, msgspec.inspect.DictType):
        return [info.value_type]
    return []


def _bound_struct(schema: dict[str, Any] | None, struct: type) -> None:
    if schema is None or schema.get("title") != struct.__name__:
        return
    if struct.__struct_config__.forbid_unknown_fields:  # type: ignore[attr-defined]
        schema["additionalProperties"] = False
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    properties = schema.get("properties", {})
    for field in info.fields:
        if field.encode_name in properties:
            bound(properties[field.encode_name], field.type)


def _bound_query_parameters(parameters: list[dict[str, Any]], request_type: type) -> None:
    """The GET form's parameters (routing.query_parameters: dotted names for nested Structs) get the bounds of
    the fields they stand for."""
    fields = {name: field.type for name, field, _ in query_fields(request_type)}
    for parameter in parameters:
        if parameter.get("in") == "query" and parameter["name"] in fields:
            bound(parameter["schema"], fields[parameter["name"]])


_JSON_TYPES: list[tuple[Any, str]] = [
    (msgspec.inspect.StrType, "string"),
    (msgspec.inspect.IntType, "integer"),
    (msgspec.inspect.FloatType, "number"),
    (msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType, "array"),
    (msgspec.inspect.VarTupleType, "array"),
    (msgspec.inspect.DictType, "object"),
]

# msgspec.Meta's constraints by JSON type -> JSON Schema keywords.
_KEYWORDS = {
    "string": {"min_length": "minLength", "max_length": "maxLength", "pattern": "pattern"},
    "integer": {
        "ge": "minimum",
        "le": "maximum",
        "gt": "exclusiveMinimum",
        "lt": "exclusiveMaximum",
        "multiple_of": "multipleOf",
    },
    "array": {"min_length": "minItems", "max_length": "maxItems"},
    "object": {"min_length": "minProperties", "max_length": "maxProperties"},
}
_KEYWORDS["number"] = _KEYWORDS["integer"]


def bound(schema: dict[str, Any], info: msgspec.inspect.Type) -> None:
    """Put the msgspec constraints of `info` into `schema` (the part of it of the matching JSON type), items and
    map values included; a keyword already present (Litestar puts some next to a `oneOf`) is left alone."""
    inner = _without_null(info)
    alternatives = inner.types if isinstance(inner, msgspec.inspect.UnionType) else (inner,)
    for alternative in alternatives:
        extra: dict[str, Any] = {}
        if isinstance(alternative, msgspec.inspect.Metadata):
            extra = alternative.extra_json_schema or {}
            alternative = alternative.type
        json_type = next((name for kind, name in _JSON_TYPES if isinstance(alternative, kind)), None)
        target = _part_of_type(schema, json_type) if json_type else None
        if target is None:
            continue
        keywords = _KEYWORDS[json_type]  # type: ignore[index]
        wanted = {keyword: getattr(alternative, constraint, None) for constraint, keyword in keywords.items()}
        # A limit a service enforces (not msgspec) is declared as Meta(extra_json_schema={...}).
        wanted |= {keyword: value for keyword, value in extra.items() if keyword in keywords.values()}
        for keyword, value in wanted.items():
            if value is not None and keyword not in schema and keyword not in target:
                target[keyword] = value
        if json_type == "array" and isinstance(target.get("items"), dict):
            bound(target["items"], alternative.item_type)  # type: ignore[attr-defined]
        if json_type == "object" and isinstance(target.get("additionalProperties"), dict):
            bound(target["additionalProperties"], alternative.value_type)  # type: ignore[attr-defined]
        key_type = getattr(alternative, "key_type", None)
        if json_type == "object" and isinstance(key_type, msgspec.inspect.StrType) and key_type.max_length:
            target.setdefault("propertyNames", {"maxLength": key_type.max_length})  # a map's keys (custom fields)


def _without_null(info: msgspec.inspect.Type) -> msgspec.inspect.Type:
    if not isinstance(info, msgspec.inspect.UnionType):
        return info
    kept = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
    if len(kept) == 1:
        return kept[0]
    return msgspec.inspect.UnionType(types=tuple(kept))


def _part_of_type(schema: dict[str, Any], json_type: str) -> dict[str, Any] | None:
    if schema.get("type") == json_type:
        return schema
    for alternative in [*schema.get("oneOf", []), *schema.get("anyOf", [])]:
        if isinstance(alternative, dict) and alternative.get("type") == json_type:
            return alternative
    return None
