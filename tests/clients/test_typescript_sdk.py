"""DevRev's TypeScript SDK (`@devrev/typescript-sdk`, pinned in tests/clients/package.json and its lockfile)
against a real incidentd: `sdk-walkthrough.ts`, compiled with `tsc --strict` and run with node.

`npm ci --prefix tests/clients` installs the SDK (CI does it in its own step); when it has not run, this test
runs it (bounded in time). Without node and npm on the machine the test is skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from clients.live_server import bootstrap_token, serving
from contract import assert_conforms

pytestmark = pytest.mark.clients

HERE = Path(__file__).parent


def installed_sdk() -> Path:
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed for DevRev's TypeScript SDK")
    modules = HERE / "node_modules"
    if not (modules / "@devrev" / "typescript-sdk").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=300, capture_output=True)
    return modules


def compiled(out_dir: Path) -> Path:
    """Type-check and compile the walk-through; a type error (a field the SDK's types do not have) fails here."""
    modules = installed_sdk()
    done = subprocess.run(
        [str(modules / ".bin" / "tsc"), "-p", str(HERE / "tsconfig.json"), "--outDir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out_dir / "sdk-walkthrough.js"


def test_the_typescript_sdk_drives_every_incident_operation(database_url: str, tmp_path: Path) -> None:
    script = compiled(tmp_path / "build")
    token = bootstrap_token(database_url)
    record = tmp_path / "answers.jsonl"
    with serving(database_url, tmp_path) as server:
        done = subprocess.run(
            ["node", str(script)],
            env={
                **os.environ,
                "NODE_PATH": str(HERE / "node_modules"),
                "INCIDENTD_URL": server.url,
                "INCIDENTD_TOKEN": token,
                "RECORD_TO": str(record),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\nserver log:\n{server.log_tail()}"
    assert "ok 13 incidents.delete" in done.stdout, done.stdout
    answers = [json.loads(line) for line in record.read_text().splitlines()]
    operations = {(answer["method"], answer["path"]) for answer in answers}
    for form in ("get", "post"):
        for operation in ("get", "list", "group"):
            assert (form, f"/incidents.{operation}") in operations, f"{form.upper()} /incidents.{operation} not called"
    for operation in ("create", "list", "update", "delete"):
        assert f"timeline-entries.{operation}" in done.stdout, done.stdout
    assert ("get", "/timeline-entries.list") in operations and ("post", "/timeline-entries.list") in operations
    # links (the links helper's block of the walk-through)
    assert "links.delete" in done.stdout, done.stdout
    for form, operation in [("post", "create"), ("get", "list"), ("post", "list"), ("get", "get"), ("post", "delete")]:
        assert (form, f"/links.{operation}") in operations, f"{form.upper()} /links.{operation} not called"
    for answer in answers:
        assert_conforms(answer["path"], answer["method"], answer["status"], answer["body"])
