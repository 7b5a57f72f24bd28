"""incidentd backup / restore: a consistent copy of a SQLite database taken while the server writes, checked,
and loaded back; on PostgreSQL the commands print what pg_dump / pg_restore to run."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from conftest import ON_POSTGRES, Actor, running
from incidentd import backup as backups
from incidentd.app import create_app
from incidentd.cli import app as cli
from incidentd.config import Settings, get_settings

sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="incidentd backup copies SQLite databases (PostgreSQL: pg_dump)")


@pytest.fixture
def incidentd(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("INCIDENTD_DATABASE_URL", database_url)
    yield CliRunner()
    get_settings.cache_clear()


def numbers_in(path: Path) -> set[int]:
    connection = sqlite3.connect(path)
    try:
        return {row[0] for row in connection.execute("SELECT number FROM incidents")}
    finally:
        connection.close()


@sqlite_only
async def test_a_backup_under_write_load_holds_every_incident_answered_before_it_began(
    client: httpx.AsyncClient, admin: Actor, settings: Settings, tmp_path: Path
):
    source = backups.sqlite_file(settings.database_url)
    assert source is not None
    answered: list[int] = []
    stop = asyncio.Event()

    async def writer(index: int) -> None:
        while not stop.is_set():
            body = {"title": f"load {index}", "body": "x" * 2000, "severity": 1 + index % 4}
            response = await client.post("/incidents.create", json=body, headers=admin.headers)
            assert response.status_code == 201, response.text
            answered.append(int(response.json()["incident"]["id"].rsplit("/", 1)[1]))

    writers = [asyncio.create_task(writer(index)) for index in range(4)]
    while len(answered) < 200:  # noqa: ASYNC110 (the writers answer no event; polling their count is the point)
        await asyncio.sleep(0.01)
    before = set(answered)  # every create answered before the backup began
    copy = await asyncio.to_thread(backups.backup, source, tmp_path / "copy.db")
    during = len(answered) - len(before)
    stop.set()
    await asyncio.gather(*writers)

    assert during > 0, "the writers kept writing while the copy was taken"
    assert backups.inspect(copy.path).incidents == copy.incidents
    connection = sqlite3.connect(copy.path)
    assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    connection.close()
    held = numbers_in(copy.path)
    assert before <= held
    assert held <= set(answered)  # nothing that was never answered (rolled back) is in it
    assert not (tmp_path / ".copy.db.partial").exists()

    # The copy is a working database: a server on it answers with the same incidents and the same token.
    copied = Settings(database_url=f"sqlite+aiosqlite:///{copy.path}", auto_migrate=False, log_format="console")
    async with (
        running(create_app(copied)) as second,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://copy.test") as http,
    ):
        number = min(before)
        response = await http.get("/incidents.get", params={"id": f"INC-{number}"}, headers=admin.headers)
        assert response.status_code == 200, response.text
        assert response.json()["incident"]["title"].startswith("load ")


@sqlite_only
async def test_restore_replaces_the_database_with_a_checked_backup(
    client: httpx.AsyncClient, admin: Actor, settings: Settings, tmp_path: Path
):
    for index in range(5):
        response = await client.post("/incidents.create", json={"title": f"kept {index}"}, headers=admin.headers)
        assert response.status_code == 201
    source = backups.sqlite_file(settings.database_url)
    assert source is not None
    copy = await asyncio.to_thread(backups.backup, source, tmp_path / "copy.db")
    assert copy.incidents == 5
    # A database elsewhere with other content is replaced by the copy, and left in WAL mode as the server runs it.
    other = tmp_path / "other.db"
    connection = sqlite3.connect(other)
    connection.execute("CREATE TABLE junk (x)")
    connection.commit()
    connection.close()
    restored = backups.restore(copy.path, other)
    assert restored.incidents == 5 and numbers_in(other) == {1, 2, 3, 4, 5}
    connection = sqlite3.connect(other)
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert connection.execute("SELECT name FROM sqlite_master WHERE name = 'junk'").fetchone() is None
    connection.close()


@sqlite_only
def test_the_cli_backs_up_refuses_to_overwrite_and_restores_only_a_sound_copy(
    incidentd: CliRunner, database_url: str, tmp_path: Path
):
    target = tmp_path / "nightly.db"
    result = incidentd.invoke(cli, ["backup", str(target)])
    assert result.exit_code == 0, result.output
    assert "integrity ok" in result.stdout and target.is_file()
    again = incidentd.invoke(cli, ["backup", str(target)])
    assert again.exit_code == 1 and "exists" in again.stderr

    live = backups.sqlite_file(database_url)
    assert live is not None
    declined = incidentd.invoke(cli, ["restore", str(target)], input="n\n")
    assert declined.exit_code == 1 and "Aborted" in declined.output

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    refused = incidentd.invoke(cli, ["restore", str(broken), "--yes"])
    assert refused.exit_code == 1 and "not an incidentd SQLite database" in refused.stderr
    assert backups.inspect(live).revision  # the live database is untouched

    restored = incidentd.invoke(cli, ["restore", str(target), "--yes"])
    assert restored.exit_code == 0, restored.output
    assert "restored" in restored.stdout


def test_on_postgresql_the_commands_print_the_pg_dump_and_pg_restore_to_run(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("INCIDENTD_DATABASE_URL", "postgresql://ops:s3cret@db.internal:5432/incidentd")
    try:
        runner = CliRunner()
        dumped = runner.invoke(cli, ["backup", "/backups/incidentd.dump"])
        assert dumped.exit_code == 2
        assert (
            "pg_dump --format=custom --no-owner --file=/backups/incidentd.dump "
            "'postgresql://ops@db.internal:5432/incidentd'" in dumped.stderr
        )
        loaded = runner.invoke(cli, ["restore", "/backups/incidentd.dump"])
        assert loaded.exit_code == 2
        assert "pg_restore --no-owner --exit-on-error --dbname='postgresql://ops@db.internal:5432/incidentd'" in (
            loaded.stderr
        )
        assert "s3cret" not in dumped.output + loaded.output
    finally:
        get_settings.cache_clear()


def test_help_explains_backup_and_restore():
    runner = CliRunner()
    text = runner.invoke(cli, ["backup", "--help"], terminal_width=100).stdout
    assert "while the server keeps serving" in text and "pg_dump" in text
    text = runner.invoke(cli, ["restore", "--help"], terminal_width=100).stdout
    assert "stop the server first" in text and "--yes" in text
