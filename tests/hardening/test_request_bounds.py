"""Every field a caller can send is bounded (issue 14): each string, list and map has a maximum length, each integer
a range, checked while decoding so that an over-long value is a DevRev-shaped 400 naming the field, never a 500
(PostgreSQL refuses what its columns cannot hold) and never unbounded work.

The walk below visits every request Struct reachable from the registered routes: a field added without a bound
fails it. Values at exactly a cap are accepted; values just over it are 400 `invalid_field` naming the field, on
SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
from litestar.routes import HTTPRoute

# Fields whose values may be any JSON, each bounded otherwise: the body size (INCIDENTD_MAX_BODY_BYTES), the JSON
# depth (64) and the checks of the service that reads them.
ANY_JSON = {
    # a custom field's value: checked against the field's descriptor (type, max_len, max_items, ...)
    "IncidentsCreateRequest.custom_fields{}",
    "IncidentsUpdateRequest.custom_fields{}",
    "IncidentsListRequest.custom_fields{}",
    "IncidentsGroupRequest.custom_fields{}",
    # a descriptor's default value: checked as a value of the field it describes
    "FieldDescriptor.default_value",
    # enum / uenum allowed values: strings or {id, label, ordinal} (customization.fields converts them into
    # UenumValue, whose fields are bounded)
    "FieldDescriptor.allowed_values[]",
    # DevRev's opaque UI, MFZ and OASIS hints of a field and a fragment's path: stored and echoed, never read
    "FieldDescriptor.ui{}",
    "FieldDescriptor.mfz{}",
    "FieldDescriptor.oasis{}",
    "CustomSchemaFragmentsSetRequest.path[]{}",
}


def request_types(app: Any) -> dict[str, type]:
    """The request Struct of every registered route (by path)."""
    found: dict[str, type] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            data = handler.parsed_fn_signature.parameters.get("data")
            annotation = getattr(data, "annotation", None)
            if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
                found[route.path] = annotation
    return found


def unbounded(info: Any, where: str, seen: set[type]) -> Iterator[str]:
    """Where (`Struct.field[]{}`) a type reachable from `info` has no bound."""
    if isinstance(info, msgspec.inspect.Metadata):
        yield from unbounded(info.type, where, seen)
    elif isinstance(info, msgspec.inspect.StructType):
        if info.cls in seen:
            return
        seen.add(info.cls)
        for field in info.fields:
            yield from unbounded(field.type, f"{info.cls.__name__}.{field.encode_name}", seen)
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from unbounded(member, where, seen)
    elif isinstance(info, msgspec.inspect.StrType):
        if info.max_length is None:
            yield f"{where}: a string without max_length"
    elif isinstance(info, msgspec.inspect.IntType):
        if (info.ge, info.gt) == (None, None) or (info.le, info.lt) == (None, None):
            yield f"{where}: an integer without a range"
    elif isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType):
        if info.max_length is None:
            yield f"{where}: a list without max_length"
        yield from unbounded(info.item_type, f"{where}[]", seen)
    elif isinstance(info, msgspec.inspect.DictType):
        if info.max_length is None:
            yield f"{where}: a map without max_length"
        yield from unbounded(info.key_type, f"{where} key", seen)
        yield from unbounded(info.value_type, f"{where}{{}}", seen)
    elif isinstance(info, msgspec.inspect.AnyType):
        if where not in ANY_JSON:
            yield f"{where}: any JSON, not in ANY_JSON"
    elif not isinstance(
        info,
        msgspec.inspect.BoolType
        | msgspec.inspect.NoneType
        | msgspec.inspect.LiteralType
        # IEEE doubles: JSON storage holds every one, and a literal beyond their range is refused while parsing
        | msgspec.inspect.FloatType,
    ):
        yield f"{where}: {type(info).__name__} is not known to be bounded"


def test_every_request_field_is_bounded(app: Any):
    types = request_types(app)
    assert len(types) > 40, types  # every domain's operations, not an empty walk
    seen: set[type] = set()
    problems = [problem for root in types.values() for problem in unbounded(msgspec.inspect.type_info(root), "", seen)]
    assert problems == [], "\n".join(problems)


def test_the_walk_finds_an_unbounded_field():
    class Unbounded(msgspec.Struct):
        name: str
        numbers: list[int]
        mapping: dict[str, str]

    found = list(unbounded(msgspec.inspect.type_info(Unbounded), "", set()))
    assert found == [
        "Unbounded.name: a string without max_length",
        "Unbounded.numbers: a list without max_length",
        "Unbounded.numbers[]: an integer without a range",
        "Unbounded.mapping: a map without max_length",
        "Unbounded.mapping key: a string without max_length",
        "Unbounded.mapping{}: a string without max_length",
    ]
