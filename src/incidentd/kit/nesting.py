"""A bound on how deeply JSON nests, checked on the raw text before it is decoded.

msgspec decodes recursively: ~1,000 nested arrays exhaust Python's recursion limit (a RecursionError, which was a
500). No request of DevRev's API nests more than a few levels (a custom field's value may hold objects), so text
nesting deeper than `MAX_JSON_DEPTH` is refused as a parse error before any decoder sees it.
"""

from __future__ import annotations

import re

from incidentd.errors import ParseError

MAX_JSON_DEPTH = 64

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_OPENING = b"[{"


def json_depth_exceeds(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` opens more than `limit` arrays/objects inside one another (brackets inside
    strings do not count). Text that is not JSON may answer either way; its decoder reports it."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # Bytes-level work only (C loops): most bodies open fewer brackets than the limit and stop here.
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    # Depth is the running count of opened minus closed brackets. A chunk of `limit` brackets can only carry it past
    # `limit` if the depth before it plus the chunk's openings exceed `limit`; only such chunks are walked bracket
    # by bracket (a 1 MB body of brackets takes milliseconds either way).
    depth = 0
    for start in range(0, len(brackets), max(limit, 1)):
        chunk = brackets[start : start + max(limit, 1)]
        opened = chunk.count(b"[") + chunk.count(b"{")
        if depth + opened > limit:
            for byte in chunk:
                depth = depth + 1 if byte in _OPENING else depth - 1
                if depth > limit:
                    return True
        else:
            depth += 2 * opened - len(chunk)
    return False


def check_json_depth(raw: bytes | str, *, what: str) -> None:
    """400 parse_error when the JSON text `raw` (the request body, a parameter: `what`) nests too deeply."""
    if json_depth_exceeds(raw):
        raise ParseError(f"{what} nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")
