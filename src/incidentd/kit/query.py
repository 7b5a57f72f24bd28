"""GET query parameters -> the same request Struct as the POST body.

DevRev's GET forms use `explode: false` (comma-separated arrays), literal dotted names
(`staged_info.is_staged`), and DevRev's TypeScript SDK wraps values in double quotes, integers too
(`severity="1","2"`). Unknown parameters are `invalid_field`.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from incidentd.errors import InvalidField
from incidentd.kit import wire
from incidentd.kit.nesting import check_json_depth


def split_values(text: str) -> list[str]:
    """Split on commas outside double quotes, then strip one pair of surrounding quotes from each value."""
    values: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            current.append(char)
        elif char == "," and not quoted:
            values.append("".join(current))
            current = []
        else:
            current.append(char)
    values.append("".join(current))
    return [unquote(value) for value in values if value != ""]


def unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1]
    return text


@functools.lru_cache(maxsize=4096)
def _field_type(root: type, path: tuple[str, ...]) -> Any:
    """The msgspec type of a (dotted) parameter of `root`; remembered, since inspecting a Struct is slow."""
    info: Any = msgspec.inspect.type_info(root)
    for part in path:
        info = wire.unwrap_optional(info)
        if not isinstance(info, msgspec.inspect.StructType):
            return None
        fields = {field.encode_name: field.type for field in info.fields}
        if part not in fields:
            return None
        info = fields[part]
    return wire.unwrap_optional(info)


def _is_array(info: Any) -> bool:
    return isinstance(info, msgspec.inspect.ListType | msgspec.inspect.SetType | msgspec.inspect.FrozenSetType)


def parse_query(query_string: str | bytes, into: type) -> Any:
    """Parse a query string into the request Struct `into`, raising DevRev errors that name the parameter."""
    if isinstance(query_string, bytes):
        query_string = query_string.decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(query_string, keep_blank_values=True, max_num_fields=1000)
    except ValueError as exc:
        raise InvalidField(f"the query string could not be parsed: {exc}", field_name="query") from None
    document: dict[str, Any] = {}
    for name, raw in pairs:
        path = name.split(".")
        info = _field_type(into, tuple(path))
        if info is None or isinstance(info, msgspec.inspect.StructType):
            raise InvalidField(f"unknown query parameter '{name}'", field_name=name)
        target = document
        for part in path[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidField(f"query parameter '{name}' conflicts with another", field_name=name)
            target = child
        leaf = path[-1]
        if _is_array(info):
            target.setdefault(leaf, [])
            if not isinstance(target[leaf], list):
                raise InvalidField(f"query parameter '{name}' conflicts with another", field_name=name)
            target[leaf].extend(split_values(raw))
        elif isinstance(info, msgspec.inspect.DictType | msgspec.inspect.AnyType):
            check_json_depth(raw, what=f"query parameter '{name}'")
            try:
                target[leaf] = msgspec.json.decode(unquote(raw) or "{}")
            except msgspec.DecodeError:
                raise InvalidField(f"query parameter '{name}' must be a JSON object", field_name=name) from None
        elif leaf in target:
            raise InvalidField(f"query parameter '{name}' is given more than once", field_name=name)
        else:
            target[leaf] = unquote(raw)
    return wire.convert(document, into)
