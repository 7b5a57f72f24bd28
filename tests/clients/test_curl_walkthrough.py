"""The README's curl walk-throughs, run verbatim against a real server: each must print what the README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from clients.live_server import bootstrap_token, serving

pytestmark = pytest.mark.clients

README = Path(__file__).parents[2] / "README.md"
MARKER = "<!-- walkthrough: run verbatim by tests/clients/test_curl_walkthrough.py -->"
LINKS_MARKER = "<!-- links walkthrough: run verbatim by tests/clients/test_curl_walkthrough.py -->"
TIMELINE_MARKER = "<!-- timeline walkthrough: run verbatim by tests/clients/test_curl_walkthrough.py -->"
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def fenced_block_after(text: str, anchor: str, language: str) -> str:
    start = text.index(anchor)
    opening = text.index(f"```{language}\n", start) + len(f"```{language}\n")
    return text[opening : text.index("```", opening)]


@pytest.mark.parametrize("marker", [MARKER, TIMELINE_MARKER, LINKS_MARKER], ids=["incidents", "timeline", "links"])
def test_the_readme_walkthrough_runs_as_written(marker: str, database_url: str, tmp_path: Path) -> None:
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"the walk-through needs {tool}"
    readme = README.read_text()
    section = readme[readme.index(marker) :]  # each walk-through's block, then the first "It prints:" after it
    script = fenced_block_after(section, marker, "sh")
    expected = fenced_block_after(section, "It prints:", "text").splitlines()
    token = bootstrap_token(database_url)
    with serving(database_url, tmp_path) as server:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            env={**os.environ, "INCIDENTD": server.url, "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    printed = done.stdout.splitlines()
    assert len(printed) == len(expected), done.stdout
    for line, wanted in zip(printed, expected, strict=True):
        pattern = TIMESTAMP.pattern.join(re.escape(piece) for piece in TIMESTAMP.split(wanted))
        assert re.fullmatch(pattern, line), f"printed {line!r}, the README says {wanted!r}"
