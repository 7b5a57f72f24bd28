"""`incidentd` run as a person runs it the first time: a subprocess in an empty directory, on an empty database."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def incidentd(directory: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run one `incidentd` command to its end in `directory`, with the environment's INCIDENTD_* settings left out."""
    return subprocess.run(
        [sys.executable, "-m", "incidentd", *args],
        cwd=directory,
        env={**clean_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.upper().startswith("INCIDENTD_")}


@dataclass
class Served:
    url: str
    output: str  # stdout up to the line that says where it listens


@contextlib.contextmanager
def served(directory: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """`incidentd serve --port 0` in `directory` until the block ends; ready when it has said where it listens.
    `env`: INCIDENTD_* settings of this run (the environment's own are left out)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "incidentd", "serve", "--port", "0", *args],
        cwd=directory,
        env={**clean_environment(), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read_stdout() -> None:  # in a thread: a server that never says where it listens must not hang the test
        for line in process.stdout or ():
            lines.put(line)

    threading.Thread(target=read_stdout, daemon=True).start()
    try:
        output = ""
        deadline = time.monotonic() + 60
        while (listening := re.search(r"^incidentd listening on (http://[^\s,]+)", output, re.MULTILINE)) is None:
            try:
                output += lines.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(f"serve did not say where it listens: {output!r}") from None
            assert process.poll() is None or not lines.empty(), f"serve ended: {output!r}"
        url = listening.group(1)
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.1)
        yield Served(url, output)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
