"""The `incidentd` command on a first run: what it prints, where it listens, how it says a setting is wrong."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from first_run import clean_environment, incidentd, served
from incidentd.cli import app
from incidentd.config import Settings, get_settings

TOKEN = re.compile(r"idt_[A-Za-z0-9_-]+")


def test_seed_on_an_empty_database_prints_the_admin_token_once_and_it_lets_its_holder_in(tmp_path: Path):
    first = incidentd(tmp_path, "seed", "--count", "3", "--random-seed", "1")
    assert first.returncode == 0, first.stderr
    assert "Created dev org 'default' (don:identity:dvrv-us-1:devo/default) and its admin dev user." in first.stdout
    assert "shown once" in first.stdout
    tokens = TOKEN.findall(first.stdout)
    assert tokens and set(tokens) == {tokens[0]}  # the token itself, and in the curl line
    assert f'curl -H "Authorization: Bearer {tokens[0]}" http://127.0.0.1:8080/dev-users.self' in first.stdout

    again = incidentd(tmp_path, "seed", "--count", "3")
    assert again.returncode == 0, again.stderr
    assert TOKEN.search(again.stdout) is None and "Created dev org" not in again.stdout

    with served(tmp_path, "--workers", "2") as server:  # a later serve creates nothing and shows no token
        assert TOKEN.search(server.output) is None
        assert re.search(r"^incidentd listening on http://127\.0\.0\.1:\d+ \(2 workers\)$", server.output, re.M)
        answer = httpx.get(f"{server.url}/dev-users.self", headers={"Authorization": f"Bearer {tokens[0]}"})
        assert answer.status_code == 200
        assert answer.json()["dev_user"]["email"] == "admin@incidentd.local"


def test_serve_on_an_empty_database_prints_the_token_then_the_address_it_listens_on(tmp_path: Path):
    with served(tmp_path) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url) and not server.url.endswith(":0")
        token = TOKEN.search(server.output)
        assert token is not None
        assert server.output.index(token.group()) < server.output.index("incidentd listening on")
        answer = httpx.get(f"{server.url}/dev-users.self", headers={"Authorization": f"Bearer {token.group()}"})
        assert answer.status_code == 200


def test_an_invalid_setting_ends_a_real_process_with_one_line_and_no_traceback(tmp_path: Path):
    result = incidentd(tmp_path, "serve", env={"INCIDENTD_LOG_FORMAT": "xml"})
    assert result.returncode == 2
    assert result.stderr == "error: invalid setting INCIDENTD_LOG_FORMAT='xml': expected one of console, json\n"
    assert result.stdout == ""
    assert not list(tmp_path.iterdir())  # nothing created: no database, no artifacts directory


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private copy of the environment for in-process commands (they export their flags into it), run in an
    empty directory (a command that wrongly went ahead would make its database there)."""
    copy = clean_environment()
    monkeypatch.setattr(os, "environ", copy)
    monkeypatch.chdir(tmp_path)
    yield copy
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("command", "variables", "line"),
    [
        (["serve"], {"INCIDENTD_LOG_FORMAT": "xml"}, "INCIDENTD_LOG_FORMAT='xml': expected one of console, json"),
        (
            ["seed"],
            {"INCIDENTD_LOG_LEVEL": "loud"},
            "INCIDENTD_LOG_LEVEL='loud': expected one of debug, info, warning, error, critical",
        ),
        (["db", "upgrade"], {"INCIDENTD_PORT": "http"}, "INCIDENTD_PORT='http': expected a whole number"),
        (
            ["org", "list"],
            {"INCIDENTD_AUTO_MIGRATE": "maybe"},
            "INCIDENTD_AUTO_MIGRATE='maybe': expected true or false",
        ),
        (
            ["token", "list"],
            {"INCIDENTD_SQLITE_SYNCHRONOUS": "OFF"},
            "INCIDENTD_SQLITE_SYNCHRONOUS='OFF': expected one of FULL, NORMAL",
        ),
        (["serve", "--workers", "0"], {}, "INCIDENTD_WORKERS='0' (from --workers): expected a number >= 1"),
        (
            ["serve", "--shutdown-timeout", "0"],
            {},
            "INCIDENTD_SHUTDOWN_TIMEOUT_SECONDS='0.0' (from --shutdown-timeout): expected a number > 0.0",
        ),
        (
            ["user", "create"],
            {"INCIDENTD_EVENT_LOOP": "trio"},
            "INCIDENTD_EVENT_LOOP='trio': expected one of auto, uvloop, asyncio",
        ),
        (
            ["token", "create", "--user", "DEVU-1"],
            {"INCIDENTD_RATE_LIMIT_TOKEN_LIMITS": "{oops"},
            "INCIDENTD_RATE_LIMIT_TOKEN_LIMITS='{oops': expected a JSON object",
        ),
        (
            ["org", "create", "Acme"],
            {"INCIDENTD_RATE_LIMIT_STORAGE": "memcached://cache:s3cret@host"},
            "INCIDENTD_RATE_LIMIT_STORAGE='memcached://cache:***@host': use memory:// or a redis:// / rediss:// URL",
        ),
        (
            ["token", "revoke", "TOKEN-1"],
            {"INCIDENTD_METRICS_TOKEN": "s3cret"},
            "INCIDENTD_METRICS_TOKEN (6 characters, not shown): expected at least 16 characters",
        ),
    ],
)
def test_every_command_names_an_invalid_setting_its_value_and_what_is_allowed_in_one_line(
    environment: dict[str, str], command: list[str], variables: dict[str, str], line: str
):
    environment.update(variables)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: invalid setting {line}\n"
    assert result.stdout == ""
    assert "s3cret" not in result.output


def test_settings_read_log_levels_in_any_case():
    assert Settings(log_level="WARNING").log_level == "warning"


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in getattr(command, "commands", {}).items():  # a group's commands
        yield from _commands(sub, (*path, name))


def test_help_lists_flags_plainly():
    runner = CliRunner()
    paths = list(_commands(typer.main.get_command(app)))
    assert ("serve",) in paths and ("token", "create") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], prog_name="incidentd", terminal_width=100)
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: incidentd" in result.stdout
        assert "<bool>" not in result.stdout and "╭" not in result.stdout, (path, result.stdout)
    serve_help = runner.invoke(app, ["serve", "--help"], prog_name="incidentd", terminal_width=100).stdout
    assert re.search(r"^  --port <int>\s+Port", serve_help, re.MULTILINE)
    assert re.search(r"^  --help\s+Show this message and exit.", serve_help, re.MULTILINE)
