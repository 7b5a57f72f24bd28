"""The bounds every request field carries, in one place: named caps and the msgspec types that apply them.

A request Struct annotates each string, list, map and integer with one of these (or a domain type built from
these caps and its column's size), so that an over-long or out-of-range value is 400 invalid_field naming the
field while decoding, before any service or database sees it, and /openapi.json shows the limit.
tests/hardening/test_request_bounds.py fails when a request field has no bound; docs/compatibility.md ("Limits")
lists them. The bounds apply to requests only: what is stored is read back whatever its size.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from incidentd.errors import InvalidField
from incidentd.kit.numbers import INT64_MAX, INT64_MIN

MAX_VALUES = 1_000  # items of a list: filters, owned_by, tags, a fragment's fields, ...
MAX_KEYS = 1_000  # keys of a map: custom_fields, a field descriptor's ui, ...
MAX_ID = 256  # an id, DON or display id (a DON with a 64-character org slug is about 100)
MAX_NAME = 256  # titles, names, labels, enum names, sort keys, filter values of names (the columns hold 256)
MAX_TEXT = 65_536  # bodies, descriptions, notes, patterns
MAX_DATE = 64  # an RFC 3339 timestamp (`2026-12-05T01:02:03.123456789+05:30` is 35)
MAX_CURSOR = 16_384  # a cursor the server wrote: sort values (a title, a group key) and an id, base64
MAX_EMAIL = 320  # RFC 5321's longest address; the column holds 320
MAX_URL = 2_048

# Meta of a list and of a map: apply as `Annotated[list[Id], VALUES]`.
VALUES = msgspec.Meta(max_length=MAX_VALUES)
KEYS = msgspec.Meta(max_length=MAX_KEYS)

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID)]
Ids = Annotated[list[Id], VALUES]
Name = Annotated[str, msgspec.Meta(max_length=MAX_NAME)]
Names = Annotated[list[Name], VALUES]
Text = Annotated[str, msgspec.Meta(max_length=MAX_TEXT)]
Date = Annotated[str, msgspec.Meta(max_length=MAX_DATE)]
Cursor = Annotated[str, msgspec.Meta(max_length=MAX_CURSOR)]
Email = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EMAIL)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL)]
# Every integer a request carries fits a signed 64-bit column (BIGINT); columns that hold less declare their own.
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]
# An integer compared with a 32-bit column (INTEGER on PostgreSQL): ordinals.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
Int32 = Annotated[int, msgspec.Meta(ge=INT32_MIN, le=INT32_MAX)]


def check_length(value: str | None, cap: int, *, field_name: str) -> None:
    """The bound of a wire field, for callers that do not decode a request (the CLI): 400 invalid_field past it."""
    if value is not None and len(value) > cap:
        raise InvalidField(f"{field_name}: must be at most {cap} characters", field_name=field_name)
