"""Timestamps: stored as integer epoch milliseconds (UTC), written as RFC 3339 with milliseconds and `Z`."""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime, timedelta

from incidentd.errors import InvalidField

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_ms() -> int:
    return _time.time_ns() // 1_000_000


def to_rfc3339(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Integer arithmetic: float seconds would round some milliseconds the wrong way.
    return (value - _EPOCH) // timedelta(milliseconds=1)


def parse_rfc3339(value: str, *, field_name: str) -> int:
    """Parse an RFC 3339 timestamp with any offset (a date alone means midnight UTC) to epoch ms."""
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidField(f"'{value}' is not an RFC 3339 timestamp", field_name=field_name) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return from_datetime(parsed)
