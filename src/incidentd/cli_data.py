"""The data commands of `incidentd`: backup and restore (SQLite), export, and import (NDJSON exports and
Netflix Dispatch databases). `incidentd.cli` registers them on the command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from incidentd import db as database
from incidentd.cli_support import DatabaseOption, OrgOption, command_settings, org_scope, run_with_database

# backup and restore (SQLite; PostgreSQL: pg_dump) -------------------------------------------------------


def backup(
    path: str = typer.Argument(..., help="Where to write the copy (a new file)."),
    database_url: str = DatabaseOption,
) -> None:
    """Copy the SQLite database to PATH while the server keeps serving (reads and writes go on).

    The copy holds every write answered before the backup began, is compacted, passes PRAGMA integrity_check,
    and appears at PATH only once whole. On PostgreSQL this prints the pg_dump command to use instead."""
    from incidentd import backup as backups

    settings = command_settings(database_url=database_url)
    source = backups.sqlite_file(settings.database_url)
    if source is None:
        dump, _ = backups.postgres_commands(settings.database_url, path)
        typer.echo("incidentd backup copies SQLite databases; back up PostgreSQL with pg_dump:", err=True)
        typer.echo(f"  {dump}", err=True)
        raise typer.Exit(2)
    try:
        copy = backups.backup(source, Path(path))
    except backups.BackupError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"backed up {source} to {copy.path}: {copy.incidents:,} incidents, {copy.bytes / 1e6:,.1f} MB, "
        f"schema {copy.revision}, integrity ok, in {copy.seconds:.1f} s"
    )


def restore(
    path: str = typer.Argument(..., help="A copy written by `incidentd backup`."),
    yes: bool = typer.Option(False, "--yes", help="Replace the database without asking."),
    database_url: str = DatabaseOption,
) -> None:
    """Replace the SQLite database with a backup (stop the server first; start it again afterwards).

    The backup is checked (PRAGMA integrity_check, an incidentd schema) before anything is replaced; a backup of
    an older schema is migrated when the server starts. On PostgreSQL this prints the pg_restore command."""
    from incidentd import backup as backups

    settings = command_settings(database_url=database_url)
    target = backups.sqlite_file(settings.database_url)
    if target is None:
        _, load = backups.postgres_commands(settings.database_url, path)
        typer.echo("incidentd restore loads SQLite backups; restore a pg_dump file into an empty database:", err=True)
        typer.echo(f"  {load}", err=True)
        raise typer.Exit(2)
    if not yes:
        typer.confirm(f"Replace every row of {target} with {path}?", abort=True)
    try:
        copy = backups.restore(Path(path), target)
    except backups.BackupError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"restored {path} into {target}: {copy.incidents:,} incidents, schema {copy.revision}")


# export ------------------------------------------------------------------------------------------------


def export_command(
    path: str = typer.Argument(..., help="The file to write (replaced if it exists)."),
    org: str = OrgOption,
    export_format: str = typer.Option("ndjson", "--format", help="ndjson (wire incidents, one a line) or csv."),
    filters: str = typer.Option(
        "{}", "--filter", help="The list filters as JSON, as incidents.list takes them: '{\"severity\": [1, 2]}'."
    ),
    include: list[str] = typer.Option(
        [],
        "--include",
        help='timeline: each NDJSON line becomes {"incident": ..., "timeline": [...]} with the incident\'s '
        'comments (private ones too) and change events; links: adds "links": [...], the links whose first incident '
        "end it is (each link on one line). Repeat for both; `incidentd import` reads them.",
    ),
    database_url: str = DatabaseOption,
) -> None:
    """Write every incident of an org that matches the filters to a file, oldest first, as incidents.export
    streams them (NDJSON of wire incidents, or CSV), with a progress line (count, rate, ETA).

    Reads the database directly (the server may keep running); memory holds one page of incidents."""
    import msgspec

    from incidentd.incidents import exporting
    from incidentd.incidents.export_schemas import IncidentsExportRequest
    from incidentd.principal import Principal
    from incidentd.progress import ProgressLine

    settings = command_settings(database_url=database_url)
    try:
        body = msgspec.json.decode(filters)
        if not isinstance(body, dict):
            raise msgspec.ValidationError("expected a JSON object")
        extra: dict[str, Any] = {"format": export_format, **({"include": include} if include else {})}
        request = msgspec.convert({**body, **extra}, IncidentsExportRequest)
    except msgspec.ValidationError as exc:
        typer.secho(f"error: --filter / --format / --include: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except msgspec.DecodeError as exc:
        typer.secho(f"error: --filter is not JSON: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")

    async def work(db: database.Database) -> int:
        scope = await org_scope(db, settings, org)
        progress = ProgressLine("exported", None)
        principal = Principal(scope, 0, "sys_user")  # reads as the org; the export checks no role
        export = await exporting.export_incidents(db, principal, request, progress=progress.advance, everything=True)
        progress.total = export.total
        with partial.open("wb") as file:
            async for chunk in export.chunks:
                file.write(chunk)
        partial.replace(target)
        progress.finish()
        return progress.done

    written = run_with_database(settings, work)
    typer.echo(f"wrote {written:,} incidents to {target}")


# import ------------------------------------------------------------------------------------------------


def import_command(
    path: str = typer.Argument(
        None, help="An NDJSON export (incidentd export, incidents.export); not with --from dispatch."
    ),
    org: str = OrgOption,
    source: str = typer.Option("ndjson", "--from", help="ndjson (FILE, the default) or dispatch (--database-url)."),
    database_url: str = typer.Option(
        None,
        "--database-url",
        help="incidentd's database (env INCIDENTD_DATABASE_URL); with --from dispatch, the Dispatch PostgreSQL "
        "database to read (incidentd's is then --target-database-url or the environment's).",
    ),
    target_database_url: str = typer.Option(
        None, "--target-database-url", help="With --from dispatch: incidentd's database (env INCIDENTD_DATABASE_URL)."
    ),
    dispatch_schema: str = typer.Option(
        "dispatch_organization_default", "--dispatch-schema", help="With --from dispatch: the organization's schema."
    ),
) -> None:
    """Load incidents into an org: an NDJSON export (of this server or another, SQLite or PostgreSQL), or a
    Netflix Dispatch database (--from dispatch), with a progress line (count, rate, ETA) and a summary.

    Display numbers are kept when free in the org, else new ones are given; users are matched by email or
    display name, tags, product parts and accounts by name (all created when missing), other parts and articles
    by name (left out when missing), stages by name; custom fields must be declared in the org first.
    Running it again is harmless: records imported already and unchanged are skipped, changed ones are
    rewritten (an import map remembers each record). Imports write no webhook events. Exits 1 when a record
    failed (each is listed). See docs/compatibility.md."""
    from incidentd.imports import service as imports
    from incidentd.progress import ProgressLine

    if source not in ("ndjson", "dispatch"):
        typer.secho("error: --from takes ndjson or dispatch", fg=typer.colors.RED, err=True)
        raise typer.Exit(2)
    if source == "dispatch":
        if not database_url or path:
            typer.secho("error: --from dispatch reads --database-url (no FILE)", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        settings = command_settings(database_url=target_database_url)
    else:
        if not path:
            typer.secho("error: FILE is required (an NDJSON export)", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        if not Path(path).is_file():
            typer.secho(f"error: {path} is not a file", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        settings = command_settings(database_url=database_url)

    async def work(db: database.Database) -> imports.Summary:
        scope = await org_scope(db, settings, org)
        if source == "dispatch":
            from incidentd.imports import dispatch

            progress = ProgressLine("imported", None)

            def started(total: int) -> None:
                progress.total = total

            summary = await dispatch.import_database(
                db, scope, database_url, schema=dispatch_schema, started=started, progress=progress.advance
            )
        else:
            from incidentd.imports import ndjson

            total, highest = ndjson.scan(_file_lines(path))
            progress = ProgressLine("imported", total)
            summary = await ndjson.import_lines(
                db, scope, _file_lines(path), highest=highest, progress=progress.advance
            )
        progress.finish()
        return summary

    summary = run_with_database(settings, work)
    typer.echo(summary.line())
    for failure in summary.failures:
        typer.secho(f"failed: {failure}", fg=typer.colors.RED, err=True)
    if any("custom_fields." in failure for failure in summary.failures):
        typer.echo(
            "hint: declare the org's custom fields first (schemas.custom.set, the same fragment names)", err=True
        )
    if summary.failed:
        raise typer.Exit(1)


def _file_lines(path: str) -> Iterator[bytes]:
    """A file's lines, read as they are consumed (an import file may be larger than memory)."""
    with Path(path).open("rb") as file:
        yield from file
