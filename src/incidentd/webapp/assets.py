"""The web app's static files under content-hashed names, cached by browsers for a year.

A file's URL holds the start of its SHA-256, so a new release's file has a new URL and a browser never serves a
stale copy; the files are read once per process (they are part of the package)."""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/web/static"
SERVED = ("app.css", "htmx.min.js", "live.js")
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    content: bytes
    media_type: str


@cache
def assets() -> tuple[dict[str, str], dict[str, Asset]]:
    """(file name -> hashed name, hashed name -> asset)."""
    names: dict[str, str] = {}
    files: dict[str, Asset] = {}
    for name in SERVED:
        content = (STATIC_DIR / name).read_bytes()
        stem, _, suffix = name.rpartition(".")
        hashed = f"{stem}.{hashlib.sha256(content).hexdigest()[:12]}.{suffix}"
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        names[name] = hashed
        files[hashed] = Asset(content, f"{media_type}; charset=utf-8")
    return names, files


def url_of(name: str) -> str:
    """The URL of a static file (`app.css` -> /web/static/app.<hash>.css)."""
    return f"{STATIC_PATH}/{assets()[0][name]}"


def find(hashed: str) -> Asset | None:
    return assets()[1].get(hashed)
