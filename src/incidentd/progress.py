"""A one-line progress display for long CLI commands (export, import): count, rate, ETA, redrawn in place on a
terminal at most ten times a second, and written once at the end otherwise (logs stay readable)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class ProgressLine:
    def __init__(self, verb: str, total: int | None, stream: TextIO | None = None) -> None:
        self.verb, self.total, self.done = verb, total, 0
        self.stream = stream or sys.stderr
        self.started = self._drawn = time.monotonic()
        self.live = self.stream.isatty()

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if self.live and now - self._drawn >= 0.1:
            self._drawn = now
            self.stream.write("\r" + self.line() + "\x1b[K")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.verb} {self.done:,}"
        if self.total:
            text += f" of {self.total:,} ({100 * self.done / self.total:.0f}%)"
        text += f"  {rate:,.0f}/s  elapsed {_clock(elapsed)}"
        if self.total and rate > 0 and self.done < self.total:
            text += f"  ETA {_clock((self.total - self.done) / rate)}"
        return text

    def finish(self) -> None:
        self.stream.write(("\r" if self.live else "") + self.line() + ("\x1b[K\n" if self.live else "\n"))
        self.stream.flush()
