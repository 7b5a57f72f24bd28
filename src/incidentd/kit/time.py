"""Timestamps: stored as integer epoch milliseconds (UTC), written as RFC 3339 with milliseconds and `Z`."""

from __future__ import annotations

import time as _time
from datetime import UTC, datetime, timedelta

from incidentd.errors import InvalidField

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def now_ms() -> int:
    return _time.time_ns() // 1_000_000


def to_rfc3339(epoch_ms: int) -> str:
    # isoformat always writes four year digits (strftime's %Y writes "407" for the year 407, which is not RFC 3339).
    # A naive UTC datetime: no offset to write and strip (a quarter faster, and a list page writes hundreds).
    try:
        return (_NAIVE_EPOCH + timedelta(milliseconds=epoch_ms)).isoformat(timespec="milliseconds") + "Z"
    except OverflowError:
        # Inputs are checked to stay within the years 1 to 9999, but a row written before those checks (a token
        # expiring after 9999) must not make every page that shows it fail: such a time is written as the bound.
        return "9999-12-31T23:59:59.999Z" if epoch_ms > 0 else "0001-01-01T00:00:00.000Z"


def from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Integer arithmetic: float seconds would round some milliseconds the wrong way.
    return (value - _EPOCH) // timedelta(milliseconds=1)


_EARLIEST_MS = from_datetime(datetime(1, 1, 1, tzinfo=UTC))
_LATEST_MS = from_datetime(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))


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
    epoch_ms = from_datetime(parsed)
    # An offset can carry 0001-01-01 or 9999-12-31 past the years UTC can write (and RFC 3339 allows).
    if not _EARLIEST_MS <= epoch_ms <= _LATEST_MS:
        raise InvalidField(f"'{value}' is outside the years 0001 to 9999 in UTC", field_name=field_name)
    return epoch_ms


def parse_window(after: str | None, before: str | None, *, field_name: str) -> tuple[int | None, int | None]:
    """A date-time filter's bounds as epoch ms (None: unbounded); errors name `<field_name>.after` / `.before`."""
    return (
        parse_rfc3339(after, field_name=f"{field_name}.after") if after is not None else None,
        parse_rfc3339(before, field_name=f"{field_name}.before") if before is not None else None,
    )
