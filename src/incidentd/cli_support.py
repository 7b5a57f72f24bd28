"""What every `incidentd` command shares: reading settings with the flags written over them, running async
work against the database, finding the org a command names, and the common options."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError

from incidentd import db as database
from incidentd.config import Settings, UnparsableSetting, get_settings, invalid_settings
from incidentd.errors import ApiError
from incidentd.identity import service as identity
from incidentd.principal import OrgScope


def command_group(description: str) -> typer.Typer:
    # Plain help (click's): Rich's tables label even flags with a type (`--help <bool>`) and draw boxes around them.
    return typer.Typer(help=description, no_args_is_help=True, rich_markup_mode=None)


T = TypeVar("T")

DatabaseOption = typer.Option(None, "--database-url", help="Database URL (env INCIDENTD_DATABASE_URL).")
OrgOption = typer.Option(None, "--org", help="Org slug; may be left out when there is only one org.")


# The flags whose names are not their setting's name with dashes.
FLAG_NAMES = {"shutdown_timeout_seconds": "--shutdown-timeout"}


def command_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with the flags that were given written over them (and exported, so that
    server worker processes see the same settings). An invalid setting ends the command with one line per
    setting on stderr (its name, value and what is allowed) and exit code 2, like an invalid flag."""
    flags = {}
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"INCIDENTD_{name.upper()}"] = str(value)
            flags[name] = FLAG_NAMES.get(name, "--" + name.replace("_", "-"))
    get_settings.cache_clear()
    try:
        return get_settings()
    except (ValidationError, UnparsableSetting) as exc:
        for line in invalid_settings(exc, flags):
            typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None


def run_with_database(settings: Settings, work: Callable[[database.Database], Awaitable[T]]) -> T:
    async def main() -> T:
        db = database.Database(settings)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except ApiError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


async def org_scope(db: database.Database, settings: Settings, org: str) -> OrgScope:
    """The org a command names, read in a transaction of its own (find_org says when there is none)."""
    async with db.read() as conn:
        return await identity.find_org(conn, settings.don_partition, org)
