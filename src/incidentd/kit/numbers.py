"""Integers written as text (query parameters, enum ids sent as strings, custom field filters).

`int()` accepts more than a client means by a number: any Unicode decimal digits (`int("٣") == 3`), underscores
(`"1_000"`) and surrounding whitespace, and raises ValueError past 4,300 digits; `str.isdigit()` is true for `"²"`,
which `int()` then refuses. Text is an integer here only when it is ASCII digits with an optional sign, and short
enough for a 64-bit integer.
"""

from __future__ import annotations

import re

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}", re.ASCII)


def integer_from_text(text: str) -> int | None:
    """The 64-bit integer `text` spells in ASCII digits (an optional sign; no spaces, underscores or other
    digits), or None."""
    if not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if INT64_MIN <= value <= INT64_MAX else None


def quoted(value: object, limit: int = 64) -> str:
    """`value` as text to quote back in an error message, cut to `limit` characters."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"
