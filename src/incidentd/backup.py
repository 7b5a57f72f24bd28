"""Backups of a SQLite database while the server runs, and restoring one (the `incidentd backup` / `restore`
commands). PostgreSQL has its own tools: `postgres_commands` says the exact pg_dump and pg_restore commands.

A backup is `VACUUM INTO` a temporary file beside the target, run on a connection of its own: it reads one
snapshot (a read transaction, which in WAL mode never blocks the server's writers nor waits for them), so the copy
holds exactly the writes committed when it began, compacted. The copy is checked (`PRAGMA integrity_check`),
flushed to disk and only then renamed to the target, so a target that exists is always a whole, checked copy."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

BUSY_MS = 30_000


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Copy:
    path: Path
    bytes: int
    incidents: int
    revision: str
    seconds: float


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database URL; None for another database (or an in-memory one)."""
    url = sa.engine.make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def backup(source: Path, target: Path) -> Copy:
    """Copy the SQLite database `source` to `target` (which must not exist) while other processes read and write
    it; the copy holds every transaction committed before the copy began."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    if target.exists():
        raise BackupError(f"{target} exists; choose a new path (a backup never overwrites a file)")
    started = time.perf_counter()
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    connection = sqlite3.connect(source, isolation_level=None)  # read-write: a WAL database's readers need its -shm
    try:
        connection.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        connection.execute("VACUUM INTO ?", (str(partial),))
    finally:
        connection.close()
    try:
        checked = inspect(partial)
        with partial.open("rb+") as file:
            os.fsync(file.fileno())
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)
    return Copy(target, target.stat().st_size, checked.incidents, checked.revision, time.perf_counter() - started)


def restore(copy: Path, target: Path) -> Copy:
    """Replace the SQLite database `target` with the backup `copy`, page by page through SQLite's backup API
    (which locks `target` for the duration, so no reader sees half of it). Stop the server first: a running
    server remembers rows (users, stages) that the restored database may not hold."""
    started = time.perf_counter()
    checked = inspect(copy)
    source = sqlite3.connect(f"file:{copy}?mode=ro", uri=True, isolation_level=None)
    destination = sqlite3.connect(target, isolation_level=None)
    try:
        destination.execute(f"PRAGMA busy_timeout={BUSY_MS}")
        source.backup(destination)
        destination.execute("PRAGMA journal_mode=WAL")  # as the server runs it (the copy was written without)
        destination.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        source.close()
        destination.close()
    return Copy(target, target.stat().st_size, checked.incidents, checked.revision, time.perf_counter() - started)


@dataclass(frozen=True)
class _Checked:
    incidents: int
    revision: str


def inspect(path: Path) -> _Checked:
    """Check that `path` is a whole incidentd database: it opens, passes `PRAGMA integrity_check`, and has a
    migration revision; how many incidents it holds."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
        try:
            problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise BackupError(f"{path} fails PRAGMA integrity_check: {'; '.join(problems[:5])}")
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            incidents = connection.execute("SELECT count(*) FROM incidents").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not an incidentd SQLite database ({exc})") from None
    if revision is None:
        raise BackupError(f"{path} has no migration revision: not an incidentd database")
    return _Checked(int(incidents), str(revision[0]))


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def postgres_commands(database_url: str, path: str) -> tuple[str, str]:
    """The pg_dump command that backs up a PostgreSQL database to `path`, and the pg_restore command that loads
    it into an empty database (the password, if the URL has one, left out: give it as PGPASSWORD)."""
    given = sa.engine.make_url(database_url)
    url = sa.engine.URL.create("postgresql", given.username, None, given.host, given.port, given.database, given.query)
    plain = url.render_as_string(hide_password=False)
    return (
        f"pg_dump --format=custom --no-owner --file={path} '{plain}'",
        f"pg_restore --no-owner --exit-on-error --dbname='{plain}' {path}",
    )
