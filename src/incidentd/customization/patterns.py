r"""The `pattern` of custom text fields: regular expressions an org supplies, compiled and matched by RE2.

Python's `re` backtracks: `^(a+)+$` took 6 s to reject 27 `a`s and a `!`, on the event loop, while every other
org's request waited. RE2 matches in time linear in the value, and has no syntax that needs backtracking
(backreferences, lookaround, possessive quantifiers): a pattern that uses it is rejected when the schema is set.

Linear is not cheap: when RE2's DFA gives up (bounded repetitions of wide classes, `(?:.{0,10}[a-m]){9}A`),
its NFA costs up to (bytes of value) x (instructions of the compiled pattern) x about 30 ns; `.{0,1000}` three
times over 64 KB took 22 s. So a pattern compiles to at most MAX_PROGRAM instructions, and the value it is
matched against is at most MATCH_BUDGET / instructions bytes (a 20-instruction pattern such as
`^[A-Z]{2,3}-\d{1,6}$` matches values of 50 KB; the largest, 250 bytes): one match costs at most about 35 ms
(measured worst: 36 ms). A pattern's size counts Unicode classes by their UTF-8 byte trie (`\pL` is 1,200
instructions), so `^[\p{L}\p{N} ]{1,64}$` is too large where `^[\p{L}\p{N} ]+$` with `max_len: 64` is not.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import re2

MAX_LENGTH = 1_000  # characters of a pattern
MAX_PROGRAM = 4_000  # instructions of a compiled pattern
MATCH_BUDGET = 1_000_000  # (bytes of a value) x (instructions of its pattern)

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would print every rejected pattern to stderr
_OPTIONS.never_capture = True  # only whether it matches counts: no submatch bookkeeping


class PatternError(ValueError):
    """A pattern RE2 cannot (or should not) run; the message says why, in words for the org that wrote it."""


@dataclass(frozen=True)
class Pattern:
    text: str
    regexp: re2._Regexp

    @property
    def max_value_bytes(self) -> int:
        """The longest value (UTF-8 bytes) this pattern is matched against."""
        return MATCH_BUDGET // max(1, self.regexp.programsize)

    def search(self, value: str) -> bool:
        """Does the pattern match somewhere in `value` (JSON Schema's reading of `pattern`)? A value longer than
        `max_value_bytes` is a PatternError."""
        size = len(value.encode())
        if size > self.max_value_bytes:
            raise PatternError(
                f"is {size} bytes; values of a field with this pattern are at most {self.max_value_bytes} bytes"
            )
        return self.regexp.search(value) is not None


@functools.lru_cache(maxsize=512)
def compile_pattern(text: str) -> Pattern:
    """The pattern `text` compiled by RE2, or a PatternError: too long, not RE2 syntax, or too large."""
    if len(text) > MAX_LENGTH:
        raise PatternError(f"a pattern is at most {MAX_LENGTH} characters")
    try:
        regexp = re2.compile(text, _OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise PatternError(
            f"'{text}' is not a regular expression incidentd runs ({reason}); patterns use RE2 syntax, "
            "without backreferences or lookaround"
        ) from None
    if regexp.programsize > MAX_PROGRAM:
        raise PatternError(
            f"the pattern compiles to {regexp.programsize} instructions, more than {MAX_PROGRAM}; "
            "use smaller repetition counts or classes, and max_len for a length"
        )
    return Pattern(text, regexp)
