"""Artifact contents on disk: one file per artifact under the artifacts directory, written atomically (a temporary
file in the same directory tree, fsynced, then renamed into place), and the derived link-signing secret."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from incidentd.errors import RequestEntityTooLarge
from incidentd.logs import mask_secret

# Received data is gathered up to this size and then written by a worker thread, so the event loop never waits
# on the disk and at most this much of an upload is held in memory.
WRITE_BUFFER_BYTES = 1024 * 1024
SECRET_FILE = "signing-secret"
_INCOMING = "incoming"


@dataclass(frozen=True)
class Received:
    """An upload written to a temporary file, not yet published under its storage key."""

    temp_path: Path
    size: int
    sha256: str


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_of(self, storage_key: str) -> Path:
        return self.root / storage_key

    async def receive(self, pieces: AsyncIterator[bytes], *, max_bytes: int) -> Received:
        """Write `pieces` to a temporary file, counting and hashing them; 413 past `max_bytes`."""
        incoming = self.root / _INCOMING
        await asyncio.to_thread(incoming.mkdir, parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=incoming, prefix="upload-")
        temp_path = Path(name)
        digest = hashlib.sha256()
        size = 0
        pending = bytearray()
        try:
            with os.fdopen(descriptor, "wb") as file:
                async for piece in pieces:
                    size += len(piece)
                    if size > max_bytes:
                        raise RequestEntityTooLarge(
                            f"the artifact exceeds the limit of {max_bytes} bytes", max_bytes=max_bytes
                        )
                    digest.update(piece)
                    pending += piece
                    if len(pending) >= WRITE_BUFFER_BYTES:
                        await asyncio.to_thread(file.write, bytes(pending))
                        pending.clear()
                await asyncio.to_thread(_finish, file, bytes(pending))
        except BaseException:
            # Synchronously: this must happen on cancellation too, and an unlink is quick.
            _remove(temp_path)
            raise
        return Received(temp_path, size, digest.hexdigest())

    async def publish(self, received: Received, storage_key: str) -> None:
        """Move a received upload into place under `storage_key` (replacing what was there)."""
        await asyncio.to_thread(_rename_durably, received.temp_path, self.path_of(storage_key))

    def discard(self, received: Received) -> None:
        _remove(received.temp_path)

    async def size_of(self, storage_key: str) -> int | None:
        """The stored content's size, or None when there is no file."""
        try:
            return (await asyncio.to_thread(self.path_of(storage_key).stat)).st_size
        except FileNotFoundError:
            return None

    def signing_secret(self) -> bytes:
        """The secret stored in the directory, created on first use by whichever process gets there first; from
        then on masked in the log like the configured secrets (logging may have been configured again since)."""
        secret = _stored_secret(str(self.root.resolve()))
        mask_secret(secret.decode("utf-8"))
        return secret


def _finish(file: BinaryIO, tail: bytes) -> None:
    file.write(tail)
    file.flush()
    os.fsync(file.fileno())


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _rename_durably(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
    # The rename itself is durable only once its directory entry is.
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@lru_cache(maxsize=16)
def _stored_secret(root: str) -> bytes:
    path = Path(root) / SECRET_FILE
    if not path.exists():
        Path(root).mkdir(parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=root, prefix="secret-")  # mode 0600
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
                file.flush()
                os.fsync(file.fileno())
            # A hard link never replaces an existing file: concurrent first uses all end up reading one secret.
            os.link(name, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(name)
    secret = path.read_text().strip()
    if not secret:
        raise RuntimeError(f"the artifacts signing secret {path} is empty; delete it to create a new one")
    return secret.encode("utf-8")
