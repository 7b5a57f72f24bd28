"""A bound on how deeply JSON nests, checked on the raw text before it is decoded.

msgspec decodes recursively: ~1,000 nested arrays exhaust Python's recursion limit (a RecursionError, which was a
500). No request of DevRev's API nests more than a few levels (a custom field's value may hold objects), so text
nesting deeper than `MAX_JSON_DEPTH` is refused as a parse error before any decoder sees it.
"""

from __future__ import annotations

from incidentd.errors import ParseError

MAX_JSON_DEPTH = 64

_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'[]{}"')
_OPENING = b"[{"


def json_depth_exceeds(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `raw` opens more than `limit` arrays/objects inside one another (brackets inside
    strings do not count). Text that is not JSON may answer either way; its decoder reports it."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # Bytes-level work only (C loops): most bodies open fewer brackets than the limit and stop here.
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _brackets_outside_strings(data)
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


def _brackets_outside_strings(data: bytes) -> bytes:
    """The brackets of JSON text that are not inside its strings, in order; all in C loops (a regular expression
    over the strings took ten times longer than decoding a body of many small objects).

    Escaped backslashes go first (pairing from the left, as JSON reads them), then escaped quotes. Of the rest only
    brackets and quotes are kept; two adjacent quotes are an empty string or the end and start of two strings, and
    removing them leaves every other quote's parity. What remains splits on quotes into outside, inside, outside..."""
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = unescaped.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    return b"".join(structure.split(b'"')[::2]) if b'"' in structure else structure


def check_json_depth(raw: bytes | str, *, what: str) -> None:
    """400 parse_error when the JSON text `raw` (the request body, a parameter: `what`) nests too deeply."""
    if json_depth_exceeds(raw):
        raise ParseError(f"{what} nests arrays and objects deeper than {MAX_JSON_DEPTH} levels")
