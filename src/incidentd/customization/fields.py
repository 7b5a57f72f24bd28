"""Custom fields: the rules of DevRev's field descriptors and of the values objects give them. Pure (no I/O).

- `check_descriptor`: is a descriptor of a fragment being set well formed (its checks fit its type, its default
  is a valid value)? Errors are 400s naming `fields[2].max_len`.
- `normalise`: a request's value -> the stored value (timestamps in UTC RFC 3339, ids as DONs, doubles as
  floats), or `CustomizationValidationError` with DevRev's subtype (`wrong_type`, `enum_out_of_range`,
  `date_parse_error`, ...) and the field's name.
- `index_entries` / `filter_keys`: the keys a stored value is indexed by, and the keys a filter looks for.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from datetime import date
from typing import Any

import msgspec

from incidentd.customization import patterns
from incidentd.customization.schemas import FieldDescriptor, UenumValue
from incidentd.errors import CustomizationValidationError, InvalidField
from incidentd.kit import ids
from incidentd.kit.numbers import integer_from_text
from incidentd.kit.time import parse_rfc3339, to_rfc3339
from incidentd.principal import OrgScope

SUPPORTED_TYPES = ("bool", "int", "double", "text", "rich_text", "tokens", "enum", "uenum", "date", "timestamp", "id")
TEXT_TYPES = ("text", "rich_text", "tokens")
NUMBER_TYPES = ("int", "double")
TEXT_CHECKS = ("contains", "eq_len", "max_len", "min_len", "pattern", "prefix", "suffix")
NUMBER_CHECKS = ("gt", "gte", "lt", "lte")
ARRAY_CHECKS = ("eq_items", "max_items", "min_items")
ENUM_MEMBERS = ("is_overridable", "translated_values")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_KEY = 255  # longer values are indexed by their digest (a B-tree entry must stay small on PostgreSQL)
INT64 = (-(2**63), 2**63 - 1)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The value shape of a group key (DevRev's field-value types) per element type.
GROUP_VALUE_TYPES = {"bool": "bool", "int": "int", "uenum": "int", "double": "double", "date": "date"}
GROUP_VALUE_TYPES |= {"timestamp": "date_time", "id": "id"}


def element_type(descriptor: FieldDescriptor) -> str:
    """The type of the field's values, or of each element of an array field."""
    return descriptor.base_type if descriptor.field_type == "array" and descriptor.base_type else descriptor.field_type


def same_type(a: FieldDescriptor, b: FieldDescriptor) -> bool:
    return a.field_type == b.field_type and element_type(a) == element_type(b)


def group_value_type(descriptors: list[FieldDescriptor], value: Any) -> str:
    """DevRev's field-value type of a group key (an array field groups by element): that of the first declared
    type that holds `value` (None: the no-value group)."""
    for descriptor in descriptors:
        kind = element_type(descriptor)
        if _holds(kind, value):
            return GROUP_VALUE_TYPES.get(kind, "string")
    return "string"


def _holds(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool):
        return kind == "bool"
    if isinstance(value, int):
        return kind in ("int", "uenum")
    if isinstance(value, float):
        return kind == "double"
    return kind not in ("bool", "int", "uenum", "double")


def group_order(value: Any) -> list[Any]:
    """Where a group key sorts among the keys of one field: booleans, then numbers, then strings (by code point,
    which is their UTF-8 byte order)."""
    if isinstance(value, bool):
        return [0, int(value)]
    if isinstance(value, int | float):
        return [1, value]
    return [2, str(value)]


# descriptors -----------------------------------------------------------------------------------------


def check_descriptor(descriptor: FieldDescriptor, *, path: str, org: OrgScope) -> FieldDescriptor:
    """Validate one descriptor of a fragment being set; returns it with its `default_value` normalised. `path`
    names it in errors (`fields[2]`)."""
    if not NAME.match(descriptor.name) or "__" in descriptor.name:
        raise InvalidField(
            f"'{descriptor.name}' is not a field name: lower-case letters, digits and single underscores, "
            "starting with a letter, at most 64 characters",
            field_name=f"{path}.name",
        )
    is_array = descriptor.field_type == "array"
    if is_array and descriptor.base_type is None:
        raise InvalidField("an array field needs base_type", field_name=f"{path}.base_type")
    if not is_array and descriptor.base_type is not None:
        raise InvalidField("base_type applies to array fields only", field_name=f"{path}.base_type")
    kind = element_type(descriptor)
    if kind not in SUPPORTED_TYPES:
        raise CustomizationValidationError(
            f"{kind} fields are not supported; use one of {', '.join(SUPPORTED_TYPES)} (or an array of one)",
            subtype="unsupported_type",
            field_name=f"{path}.{'base_type' if is_array else 'field_type'}",
        )
    applicable = {
        *(TEXT_CHECKS if kind in TEXT_TYPES else ()),
        *(NUMBER_CHECKS if kind in NUMBER_TYPES else ()),
        *(ARRAY_CHECKS if is_array else ()),
        *(("allowed_values",) if kind in ("enum", "uenum") else ()),
        *(ENUM_MEMBERS if kind == "enum" else ()),
        *(("id_type",) if kind == "id" else ()),
    }
    for member in (*TEXT_CHECKS, *NUMBER_CHECKS, *ARRAY_CHECKS, "allowed_values", *ENUM_MEMBERS, "id_type"):
        if getattr(descriptor, member) is not None and member not in applicable:
            raise InvalidField(
                f"{member} does not apply to {descriptor.field_type} fields", field_name=f"{path}.{member}"
            )
    for member in ("eq_len", "max_len", "min_len", "eq_items", "max_items", "min_items"):
        if (getattr(descriptor, member) or 0) < 0:
            raise InvalidField(f"{member} must not be negative", field_name=f"{path}.{member}")
    for member in NUMBER_CHECKS:
        bound = getattr(descriptor, member)
        if isinstance(bound, float) and not math.isfinite(bound):
            raise InvalidField(f"{member} must be a finite number", field_name=f"{path}.{member}")
    if descriptor.pattern is not None:
        _check_pattern(descriptor.pattern, field_name=f"{path}.pattern")
    changes: dict[str, Any] = {}
    if kind in ("enum", "uenum"):
        changes["allowed_values"] = _allowed_values(descriptor, kind, path)
    for index, name in enumerate(descriptor.id_type or []):
        if not _id_kinds(name):
            raise InvalidField(f"'{name}' is not an id type", field_name=f"{path}.id_type[{index}]")
    checked = msgspec.structs.replace(descriptor, **changes)
    if checked.default_value is not None:
        default = normalise(checked, checked.default_value, field_name=f"{path}.default_value", org=org)
        checked = msgspec.structs.replace(checked, default_value=default)
    return checked


def _check_pattern(pattern: str, *, field_name: str) -> None:
    try:
        patterns.compile_pattern(pattern)
    except patterns.PatternError as exc:
        raise InvalidField(str(exc), field_name=field_name) from None


def _allowed_values(descriptor: FieldDescriptor, kind: str, path: str) -> list[Any]:
    field_name = f"{path}.allowed_values"
    values = descriptor.allowed_values
    if not values:
        raise InvalidField(f"{kind} fields need at least one allowed value", field_name=field_name)
    if kind == "enum":
        if not all(isinstance(value, str) and value for value in values):
            raise InvalidField("enum allowed values are non-empty strings", field_name=field_name)
        if len(set(values)) != len(values):
            raise InvalidField("enum allowed values must be distinct", field_name=field_name)
        return list(values)
    try:
        members = [msgspec.convert(value, UenumValue) for value in values]
    except msgspec.ValidationError as exc:
        raise InvalidField(f"uenum allowed values are {{id, label, ordinal}}: {exc}", field_name=field_name) from None
    if len({member.id for member in members}) != len(members):
        raise InvalidField("uenum allowed values must have distinct ids", field_name=field_name)
    return [msgspec.to_builtins(member) for member in members]


def _id_kinds(name: str) -> set[str]:
    """The kinds an id type names: DevRev's DON type (`devu`, `incident`) or incidentd's kind name (`dev_user`)."""
    return {kind.name for kind in ids.KINDS.values() if name in (kind.name, kind.segment)}


# values ----------------------------------------------------------------------------------------------


def _invalid(subtype: str, field_name: str, message: str) -> CustomizationValidationError:
    return CustomizationValidationError(f"{field_name}: {message}", subtype=subtype, field_name=field_name)


def normalise(descriptor: FieldDescriptor, value: Any, *, field_name: str, org: OrgScope) -> Any:
    """The stored form of `value` for this field, or a CustomizationValidationError naming `field_name`."""
    if descriptor.field_type != "array":
        return _scalar(descriptor, element_type(descriptor), value, field_name, org)
    if not isinstance(value, list):
        raise _invalid("wrong_type", field_name, f"expected an array of {descriptor.base_type}")
    items = [
        _scalar(descriptor, element_type(descriptor), item, f"{field_name}[{index}]", org)
        for index, item in enumerate(value)
    ]
    for member, holds, wording in (
        ("eq_items", lambda n, bound: n == bound, "exactly"),
        ("min_items", lambda n, bound: n >= bound, "at least"),
        ("max_items", lambda n, bound: n <= bound, "at most"),
    ):
        bound = getattr(descriptor, member)
        if bound is not None and not holds(len(items), bound):
            raise _invalid("invalid_argument", field_name, f"needs {wording} {bound} items")
    return items


def _scalar(descriptor: FieldDescriptor, kind: str, value: Any, field_name: str, org: OrgScope) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise _invalid("wrong_type", field_name, "expected a boolean")
        return value
    if kind in NUMBER_TYPES:
        return _number(descriptor, kind, value, field_name)
    if kind in TEXT_TYPES:
        if not isinstance(value, str):
            raise _invalid("wrong_type", field_name, "expected a string")
        _check_text(descriptor, value, field_name)
        return value
    if kind == "enum":
        if not isinstance(value, str):
            raise _invalid("wrong_type", field_name, "expected a string (one of the allowed values)")
        if value not in (descriptor.allowed_values or []):
            allowed = ", ".join(descriptor.allowed_values or [])
            raise _invalid("enum_out_of_range", field_name, f"'{value}' is not one of {allowed}")
        return value
    if kind == "uenum":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid("wrong_type", field_name, "expected an integer (the id of an allowed value)")
        allowed_ids = [member["id"] for member in descriptor.allowed_values or []]
        if value not in allowed_ids:
            raise _invalid("enum_out_of_range", field_name, f"{value} is not one of {allowed_ids}")
        return value
    if kind == "date":
        return _date(value, field_name)
    if kind == "timestamp":
        if not isinstance(value, str):
            raise _invalid("wrong_type", field_name, "expected an RFC 3339 timestamp string")
        try:
            return to_rfc3339(parse_rfc3339(value, field_name=field_name))
        except (InvalidField, OverflowError, ValueError):
            raise _invalid("timestamp_parse_error", field_name, f"'{value}' is not an RFC 3339 timestamp") from None
    return _id(descriptor, value, field_name, org)


def _number(descriptor: FieldDescriptor, kind: str, value: Any, field_name: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid("wrong_type", field_name, f"expected {'an integer' if kind == 'int' else 'a number'}")
    if kind == "int":
        if isinstance(value, float):
            raise _invalid("wrong_type", field_name, "expected an integer")
        if not INT64[0] <= value <= INT64[1]:
            raise _invalid("invalid_argument", field_name, "is outside the 64-bit integer range")
    else:
        value = float(value)
        if not math.isfinite(value):
            raise _invalid("wrong_type", field_name, "expected a finite number")
    for member, holds, wording in (
        ("gt", lambda v, bound: v > bound, "greater than"),
        ("gte", lambda v, bound: v >= bound, "at least"),
        ("lt", lambda v, bound: v < bound, "less than"),
        ("lte", lambda v, bound: v <= bound, "at most"),
    ):
        bound = getattr(descriptor, member)
        if bound is not None and not holds(value, bound):
            raise _invalid("invalid_argument", field_name, f"must be {wording} {bound}")
    return value


def _check_text(descriptor: FieldDescriptor, value: str, field_name: str) -> None:
    length = len(value)
    if descriptor.eq_len is not None and length != descriptor.eq_len:
        raise _invalid("invalid_argument", field_name, f"must be exactly {descriptor.eq_len} characters")
    if descriptor.min_len is not None and length < descriptor.min_len:
        raise _invalid("invalid_argument", field_name, f"must be at least {descriptor.min_len} characters")
    if descriptor.max_len is not None and length > descriptor.max_len:
        raise _invalid("invalid_argument", field_name, f"must be at most {descriptor.max_len} characters")
    if descriptor.prefix is not None and not value.startswith(descriptor.prefix):
        raise _invalid("invalid_argument", field_name, f"must start with '{descriptor.prefix}'")
    if descriptor.suffix is not None and not value.endswith(descriptor.suffix):
        raise _invalid("invalid_argument", field_name, f"must end with '{descriptor.suffix}'")
    if descriptor.contains is not None and descriptor.contains not in value:
        raise _invalid("invalid_argument", field_name, f"must contain '{descriptor.contains}'")
    if descriptor.pattern is not None:
        _check_pattern_match(descriptor.pattern, value, field_name)


def _check_pattern_match(pattern: str, value: str, field_name: str) -> None:
    # JSON Schema's reading of `pattern`: the expression matches somewhere in the value (anchor it to match all).
    try:
        matched = patterns.compile_pattern(pattern).search(value)
    except patterns.PatternError as exc:
        raise _invalid("invalid_argument", field_name, str(exc)) from None
    if not matched:
        raise _invalid("invalid_argument", field_name, f"must match the pattern '{pattern}'")


def _date(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise _invalid("wrong_type", field_name, "expected a date string (YYYY-MM-DD)")
    text = value.strip()
    try:
        if not _DATE.match(text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise _invalid("date_parse_error", field_name, f"'{value}' is not a date (YYYY-MM-DD)") from None


def _id(descriptor: FieldDescriptor, value: Any, field_name: str, org: OrgScope) -> str:
    if not isinstance(value, str):
        raise _invalid("wrong_type", field_name, "expected an id string")
    parsed = ids.try_parse(value)
    if parsed is None:
        raise _invalid("id_parse_error", field_name, f"'{value}' is not an id")
    if descriptor.id_type and not any(parsed.kind.name in _id_kinds(name) for name in descriptor.id_type):
        raise _invalid("id_type_not_allowed", field_name, f"'{value}' is not an id of {', '.join(descriptor.id_type)}")
    if not org.owns(parsed):
        raise _invalid("invalid_argument", field_name, f"'{value}' names no object of this org")
    return org.don(parsed.kind.name, parsed.number)


# index -----------------------------------------------------------------------------------------------


def index_key(value: Any) -> tuple[str, str | None]:
    """(key, long value) of one stored scalar: its canonical JSON, or for JSON over 255 characters a digest
    (and the JSON itself, so that group keys can show the value)."""
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(encoded) <= MAX_KEY:
        return encoded, None
    return "#" + hashlib.sha256(encoded.encode()).hexdigest(), encoded


def index_entries(value: Any) -> list[tuple[int, str, str | None]]:
    """(position, key, long value) of each distinct scalar of a stored value (an array's elements in order, a
    repeated one once, so an incident counts once per group). Positions count the entries from 0: an incident
    has a value exactly when it has an entry at position 0."""
    keys: dict[str, str | None] = {}
    for element in value if isinstance(value, list) else [value]:
        if element is not None:
            key, long_value = index_key(element)
            keys.setdefault(key, long_value)
    return [(position, key, long_value) for position, (key, long_value) in enumerate(keys.items())]


def key_value(key: str, long_value: str | None) -> Any:
    """The stored scalar behind an index key."""
    return json.loads(long_value if key.startswith("#") and long_value is not None else key)


def filter_keys(descriptors: list[FieldDescriptor], value: Any, *, field_name: str, org: OrgScope) -> set[str]:
    """The index keys a filter value matches: the value read as an element of each of the field's declared
    types (ctype__ fields of two subtypes may differ). A string also reads as a number or a boolean, as GET
    forms send them. No declared type accepts the value: the error of the first one."""
    keys: set[str] = set()
    first_error: CustomizationValidationError | None = None
    for descriptor in descriptors:
        kind = element_type(descriptor)
        try:
            stored = _scalar(_unchecked(descriptor), kind, _from_text(kind, value), field_name, org)
        except CustomizationValidationError as error:
            first_error = first_error or error
            continue
        keys.add(index_key(stored)[0])
    if not keys and first_error is not None:
        raise first_error
    return keys


def _unchecked(descriptor: FieldDescriptor) -> FieldDescriptor:
    """The descriptor without its value checks: a filter may name any value of the field's type."""
    cleared = dict.fromkeys((*TEXT_CHECKS, *NUMBER_CHECKS), None)
    return msgspec.structs.replace(descriptor, **cleared)


def _from_text(kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if kind in ("int", "uenum") and (number := integer_from_text(text)) is not None:
        return number  # ASCII digits only: int() would also take "٣" and fail on 5,000 digits
    try:
        if kind == "double":
            return float(text)
    except ValueError:
        return value
    if kind == "bool" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value
