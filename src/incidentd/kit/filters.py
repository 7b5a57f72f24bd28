"""The bound on list filters: every list a list or group request filters by holds at most MAX_VALUES values.

A filter's values are bound as one parameter (kit.rows.one_of), so their number no longer makes statements of its
own; the cap bounds the work one request asks for (parsing ids, matching them) and answers 400 naming the field.
"""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from incidentd.errors import InvalidField
from incidentd.kit.bounds import MAX_VALUES

__all__ = ["MAX_VALUES", "check_list_lengths"]


def check_list_lengths(request: msgspec.Struct, prefix: str = "") -> None:
    """400 invalid_field naming the first list of `request` (its nested Structs, and its custom field filters'
    values) that holds more than MAX_VALUES values."""
    for attribute, encode_name in _fields(type(request)):
        value = getattr(request, attribute)
        name = f"{prefix}{encode_name}"
        if isinstance(value, msgspec.Struct):
            check_list_lengths(value, f"{name}.")
        elif isinstance(value, dict):
            for key, item in value.items():
                _check(item, f"{name}.{str(key).removeprefix(f'{name}.')}")
        else:
            _check(value, name)


@functools.cache
def _fields(kind: type[msgspec.Struct]) -> tuple[tuple[str, str], ...]:
    # msgspec.structs.fields resolves the class's annotations at every call: 1.6 ms per list or search request.
    return tuple((field.name, field.encode_name) for field in msgspec.structs.fields(kind))


def _check(value: Any, name: str) -> None:
    if isinstance(value, list | tuple | set | frozenset) and len(value) > MAX_VALUES:
        raise InvalidField(f"{name} holds {len(value)} values; a filter takes at most {MAX_VALUES}", field_name=name)
