"""The README's timeline walk-through (comments and history with curl), run verbatim against a real server: it
must print what the README says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_curl_walkthrough import README, TIMESTAMP, fenced_block_after

from clients.live_server import bootstrap_token, serving

pytestmark = pytest.mark.clients

MARKER = "<!-- timeline walkthrough: run verbatim by tests/clients/test_timeline_curl_walkthrough.py -->"


def test_the_readme_timeline_walkthrough_runs_as_written(database_url: str, tmp_path: Path) -> None:
    for tool in ("bash", "curl", "jq"):
        assert shutil.which(tool), f"the walk-through needs {tool}"
    readme = README.read_text()
    section = readme[readme.index(MARKER) :]
    script = fenced_block_after(section, MARKER, "sh")
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
