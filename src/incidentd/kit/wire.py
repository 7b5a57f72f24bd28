"""Shared wire types (DevRev's summaries) and the mapping from decoding failures to DevRev errors."""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any

import msgspec

from incidentd.errors import (
    ApiError,
    InvalidEnumValue,
    InvalidField,
    MissingRequiredField,
    ParseError,
    UnexpectedJsonType,
)
from incidentd.kit.numbers import INT64_MAX, INT64_MIN


class Request(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Base of request bodies: unknown fields are rejected (invalid_field), and so is text with a NUL character
    (PostgreSQL cannot store one; rejected on SQLite too, so both databases take the same input)."""

    def __post_init__(self) -> None:
        # Runs while msgspec decodes or converts, which reports the error at this Struct's path; nested Structs
        # have checked themselves already.
        for name, wire_name in zip(self.__struct_fields__, self.__struct_encode_fields__, strict=True):
            where = _nul_in(getattr(self, name))
            if where is not None:
                raise ValueError(f"Text in `{join_path(wire_name, where)}` contains a NUL character")


def _nul_in(value: Any) -> str | None:
    """Where in `value` (a path relative to it: "", "[2]", "key") a string holds a NUL character, if anywhere."""
    if isinstance(value, str):
        return "" if "\x00" in value else None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            where = _nul_in(item)
            if where is not None:
                return join_path(f"[{index}]", where)
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in str(key):
                return ""
            where = _nul_in(item)
            if where is not None:
                return join_path(str(key), where)
    return None


class Response(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Base of response objects: unset optional fields are left out, as DevRev does."""


class UserSummary(Response):
    type: str
    id: str
    display_id: str | None = None
    display_name: str | None = None
    email: str | None = None
    full_name: str | None = None
    state: str | None = None


class DateTimeFilter(Request):
    """DevRev's `date-time-filter`: both bounds inclusive, RFC 3339 (`kit.time.parse_window` reads them)."""

    after: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    before: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class Empty(Response):
    """`{}`: the answer of delete operations."""


# decoding errors -----------------------------------------------------------------------------------

_JSON_TYPES = {
    "str": "string",
    "int": "number",
    "float": "number",
    "bool": "bool",
    "null": "null",
    "None": "null",
    "object": "object",
    "array": "array",
    "list": "array",
    "dict": "object",
    "datetime": "string",
}
_EXPECTED = re.compile(r"^Expected `([^`]*)`, got `([^`]*)`")
_MISSING = re.compile(r"^Object missing required field `([^`]*)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `([^`]*)`")
_ENUM = re.compile(r"^Invalid enum value (.*?)(?: - at|$)")
_AT = re.compile(r" - at `\$(.*)`$")
_AT_KEY = re.compile(r" - at `key` in `\$(.*)`$")
_NUL = re.compile(r"^Text in `([^`]*)` contains a NUL character")
# msgspec's messages for values outside a Meta constraint: "Expected `int` <= 100", "Expected `str` of length
# >= 1", "Expected `array` of length <= 50".
_BOUND = re.compile(r"^Expected `([^`]*)` (of length )?(<=|>=|<|>) (\S+)$")
_BOUND_WORDS = {"<=": "at most", ">=": "at least", "<": "less than", ">": "greater than"}
_BOUND_UNITS = {"str": " characters", "array": " items", "object": " keys", "bytes": " bytes"}


def _json_type(text: str) -> str:
    for part in re.split(r"[ |]+", text):
        base = part.split("[")[0].strip()
        if base in _JSON_TYPES and base not in ("null", "None"):
            return _JSON_TYPES[base]
    return _JSON_TYPES.get(text.strip(), "object")


def join_path(parent: str, child: str) -> str:
    if not parent:
        return child
    if not child:
        return parent
    return f"{parent}{child}" if child.startswith("[") else f"{parent}.{child}"


def decoding_error(message: str, path: str = "") -> ApiError:
    """Turn msgspec's message about the value at `path` (dotted, `tags[1].tag_id`) into a DevRev error."""
    key_of = ""
    if match := _AT_KEY.search(message):
        path = join_path(path, match.group(1).lstrip("."))
        message = message[: match.start()]
        key_of = "a key of "
    elif match := _AT.search(message):
        # msgspec writes a map's key as `[...]`: the error names the map (`fields[0].translated_values`)
        path = join_path(path, match.group(1).lstrip(".").split("[...]")[0])
        message = message[: match.start()]
    if match := _EXPECTED.match(message):
        expected, actual = match.groups()
        field = path or "body"
        kinds = {kind.strip() for kind in expected.split("|")} - {"null", "None"}
        if actual == "float" and "int" in kinds and "float" not in kinds:
            # The JSON type is right (DevRev's types say "expected number, got number"); the value is not.
            return InvalidField(f"{field}: expected an integer, got a fraction", field_name=field)
        if kinds == {"int"}:
            got = _json_type(actual)
            return UnexpectedJsonType(
                f"{field}: expected an integer, got {got}", field_name=field, expected="number", actual=got
            )
        return UnexpectedJsonType(
            f"{path or 'body'}: expected {_json_type(expected)}, got {_json_type(actual)}",
            field_name=path or "body",
            expected=_json_type(expected),
            actual=_json_type(actual),
        )
    if match := _MISSING.match(message):
        field = join_path(path, match.group(1))
        return MissingRequiredField(f"missing required field '{field}'", field_name=field)
    if match := _UNKNOWN.match(message):
        field = join_path(path, match.group(1))
        return InvalidField(f"unknown field '{field}'", field_name=field)
    if match := _BOUND.match(message):
        kind, of_length, comparison, bound = match.groups()
        unit = _BOUND_UNITS.get(kind, "") if of_length else ""
        unit = unit.removesuffix("s") if bound == "1" else unit  # "at least 1 character"
        field = path or "body"
        return InvalidField(f"{key_of}{field}: must be {_BOUND_WORDS[comparison]} {bound}{unit}", field_name=field)
    if match := _NUL.match(message):
        field = join_path(path, match.group(1))
        return InvalidField(f"{field}: text must not contain NUL characters", field_name=field)
    if match := _ENUM.match(message):
        return InvalidEnumValue(
            f"{path}: invalid enum value {match.group(1)}",
            field_name=path,
            value=match.group(1).strip("'\""),
            allowed_values=[],
        )
    if message.startswith(("Integer value out of range", "Number out of range")) and path:
        return InvalidField(f"{path}: the number is out of range", field_name=path)
    if message.startswith(("JSON is malformed", "Input data was truncated", "Invalid")) and not path:
        return ParseError(f"the request body is not valid JSON: {message}")
    return InvalidField(f"{path or 'body'}: {message}", field_name=path or "body")


class _OutOfRange:
    """Stands, while locating, for a number that no 64-bit integer or double holds."""


_OUT_OF_RANGE = _OutOfRange()


def _integer(text: str) -> Any:
    # int() of more than 4,300 digits raises; no such integer is in range anyway.
    if len(text.lstrip("-")) > 19:
        return _OUT_OF_RANGE
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else _OUT_OF_RANGE


def _double(text: str) -> Any:
    value = float(text)
    return _OUT_OF_RANGE if math.isinf(value) else value


def number_out_of_range(raw: bytes) -> ApiError | None:
    """400 invalid_field naming the field (`impact.count`, `custom_fields.tnt__x`, `tags[2]`) of the first number in
    a JSON body beyond a 64-bit integer or a double, or None when there is none (or the body is no JSON). msgspec's
    untyped decoder refuses such a number without naming where (`$[...]`); this second parse, on that error only,
    keeps the keys. The caller has bounded the body's nesting."""
    try:
        document = json.loads(raw, parse_int=_integer, parse_float=_double)
    except (ValueError, RecursionError):
        return None
    path = _path_to_out_of_range(document)
    if path is None:
        return None
    field = path or "body"
    return InvalidField(f"{field}: the number is out of range (a 64-bit integer at most)", field_name=field)


def _path_to_out_of_range(value: Any, path: str = "") -> str | None:
    if value is _OUT_OF_RANGE:
        return path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found = _path_to_out_of_range(child, join_path(path, f"[{key}]" if isinstance(key, int) else key))
        if found is not None:
            return found
    return None


def with_allowed_values(error: ApiError, root: type, allowed_for: Any) -> ApiError:
    """Fill `allowed_values` of an invalid_enum_value error from the request type (see `allowed_values`)."""
    if isinstance(error, InvalidEnumValue) and not error.fields.get("allowed_values"):
        error.fields["allowed_values"] = allowed_for(root, error.fields["field_name"])
    return error


def allowed_values(root: type, path: str) -> list[str]:
    """The enum values the field at `path` accepts, by walking the Struct types."""
    info: Any = msgspec.inspect.type_info(root)
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        info = unwrap_optional(info)
        if part.startswith("["):
            info = getattr(info, "item_type", info)
            continue
        fields = {f.encode_name: f.type for f in getattr(info, "fields", ())}
        if part not in fields:
            return []
        info = fields[part]
    info = unwrap_optional(info)
    info = unwrap_optional(getattr(info, "item_type", info))
    if isinstance(info, msgspec.inspect.EnumType):
        return [str(member.value) for member in info.cls]
    if isinstance(info, msgspec.inspect.LiteralType):
        return [str(value) for value in info.values]
    return []


def unwrap_optional(info: Any) -> Any:
    """The type inside `T | None` (and inside its bounds, `Annotated[T, Meta]`); of a wider union, its list or
    Struct member (the shape a path walks into)."""
    info = _unbounded(info)
    if isinstance(info, msgspec.inspect.UnionType):
        inner = [_unbounded(t) for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
        if len(inner) == 1:
            return inner[0]
        lists = [t for t in inner if isinstance(t, msgspec.inspect.ListType)]
        structs = [t for t in inner if isinstance(t, msgspec.inspect.StructType)]
        return (lists or structs or [info])[0]
    return info


def _unbounded(info: Any) -> Any:
    return info.type if isinstance(info, msgspec.inspect.Metadata) else info


def decode(raw: bytes, into: type[Any]) -> Any:
    """Decode a JSON body into a request Struct, raising DevRev errors."""
    try:
        return msgspec.json.decode(raw or b"{}", type=into)
    except msgspec.ValidationError as exc:
        raise with_allowed_values(decoding_error(str(exc)), into, allowed_values) from None
    except msgspec.DecodeError as exc:
        raise ParseError(f"the request body is not valid JSON: {exc}") from None


def convert(value: Any, into: type[Any]) -> Any:
    """Convert already-parsed values (GET query parameters) into a request Struct, raising DevRev errors."""
    try:
        return msgspec.convert(value, type=into, strict=False)
    except msgspec.ValidationError as exc:
        raise with_allowed_values(decoding_error(str(exc)), into, allowed_values) from None
