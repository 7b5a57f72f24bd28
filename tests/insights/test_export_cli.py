"""incidentd export: the same stream as incidents.export, to a file, with a progress line and a summary."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import build_corpus, ok
from typer.testing import CliRunner

from conftest import Actor
from incidentd.cli import app as cli
from incidentd.config import get_settings


@pytest.fixture
def incidentd(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("INCIDENTD_DATABASE_URL", database_url)
    yield CliRunner()
    get_settings.cache_clear()


async def test_export_writes_what_the_api_streams_with_progress(client, app, admin: Actor, incidentd, tmp_path: Path):
    await build_corpus(client, app, admin, 12)
    streamed = (await client.post("/incidents.export", json={"severity": [1, 2, 3]}, headers=admin.headers)).text
    target = tmp_path / "out.ndjson"
    result = await asyncio.to_thread(
        incidentd.invoke, cli, ["export", str(target), "--filter", '{"severity": [1, 2, 3]}']
    )
    assert result.exit_code == 0, result.output
    assert target.read_text() == streamed
    count = len(streamed.splitlines())
    assert f"wrote {count:,} incidents to {target}" in result.stdout
    assert f"exported {count:,} of {count:,} (100%)" in result.stderr and "/s" in result.stderr
    assert not (tmp_path / ".out.ndjson.partial").exists()

    table = tmp_path / "out.csv"
    assert (await asyncio.to_thread(incidentd.invoke, cli, ["export", str(table), "--format", "csv"])).exit_code == 0
    rows = list(csv.DictReader(table.open()))
    everything = await ok(await client.post("/incidents.list", json={"limit": 100}, headers=admin.headers))
    assert {row["id"] for row in rows} == {incident["id"] for incident in everything["incidents"]}
    assert json.loads(streamed.splitlines()[0])["id"] in {row["id"] for row in rows}


async def test_export_names_a_bad_filter_or_format(admin: Actor, incidentd, tmp_path: Path):
    bad_json = incidentd.invoke(cli, ["export", str(tmp_path / "x"), "--filter", "{"])
    assert bad_json.exit_code == 2 and "--filter is not JSON" in bad_json.stderr
    bad_format = incidentd.invoke(cli, ["export", str(tmp_path / "x"), "--format", "xml"])
    assert bad_format.exit_code == 2 and "format" in bad_format.stderr
    arguments = ["export", str(tmp_path / "x"), "--filter", '{"severity": ["sev9"]}']
    bad_filter = await asyncio.to_thread(incidentd.invoke, cli, arguments)
    assert bad_filter.exit_code == 1 and "sev9" in bad_filter.stderr
    assert not (tmp_path / "x").exists()


def test_export_help_explains_it():
    text = " ".join(CliRunner().invoke(cli, ["export", "--help"], terminal_width=100).stdout.split())
    assert "progress line (count, rate, ETA)" in text and "--filter" in text and "ndjson" in text
