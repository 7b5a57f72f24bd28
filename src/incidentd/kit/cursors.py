"""Opaque keyset cursors: the sort values and id of a boundary row, the direction, and a fingerprint of the
filters and sort they were made for (a cursor reused with other filters is a bad request)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Literal

import msgspec

from incidentd.errors import BadRequestError

Direction = Literal["after", "before"]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# What the server writes into a cursor: scalars, and lists of them two levels deep at most (a group's rank is
# `[0, [1, value]]`). Decoding into exactly this type refuses anything else a client may forge, deep nesting
# included (which would exhaust the decoder's recursion), as an invalid cursor.
Scalar = int | float | str | bool | None
Value = Scalar | list[Scalar | list[Scalar]]


class Position(msgspec.Struct, array_like=True):
    values: list[Value]  # sort key values of the boundary row, then its id
    direction: Direction
    fingerprint: str


def fingerprint(*parts: Any) -> str:
    """A short, stable digest of the request parts a cursor depends on (filters, sort)."""
    encoded = msgspec.json.encode(parts, order="sorted")
    return hashlib.blake2b(encoded, digest_size=8).hexdigest()


def encode(values: list[Any], direction: Direction, fingerprint: str) -> str:
    raw = msgspec.msgpack.encode(Position(values, direction, fingerprint))
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode(cursor: str, expected_fingerprint: str) -> Position:
    """Decode a cursor made by `encode`; anything else, or a cursor of other filters, is 400 bad_request."""
    try:
        padded = cursor.strip() + "=" * (-len(cursor.strip()) % 4)
        position = msgspec.msgpack.decode(base64.urlsafe_b64decode(padded.encode("ascii")), type=Position)
    except (ValueError, binascii.Error, msgspec.DecodeError, msgspec.ValidationError, UnicodeEncodeError):
        raise BadRequestError("the cursor is not valid") from None
    if position.fingerprint != expected_fingerprint:
        raise BadRequestError("the cursor was made for other filters or another sort order")
    # The fingerprint is no signature, so a client can forge a cursor; the server only ever writes 64-bit
    # integers (numbers, epoch ms, enum ids), and a larger one would fail in the database driver.
    if not _within_int64(position.values):
        raise BadRequestError("the cursor is not valid")
    return position


def _within_int64(value: Any) -> bool:
    if isinstance(value, list):
        return all(_within_int64(item) for item in value)
    return not isinstance(value, int) or INT64_MIN <= value <= INT64_MAX
