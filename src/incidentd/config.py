"""Settings: environment variables with the INCIDENTD_ prefix, overridden by CLI flags."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./incidentd.db"


def normalize_database_url(url: str) -> str:
    """Map plain SQLite / PostgreSQL URLs onto the async drivers incidentd uses."""
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INCIDENTD_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(default=1, ge=1)
    don_partition: str = "dvrv-us-1"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_format: Literal["console", "json"] = "console"
    log_level: str = "info"
    # How long a request may wait for the database (pool slot, lock, connect) before it answers 503.
    db_wait_seconds: float = Field(default=5.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)
    # FULL survives a power loss; NORMAL survives a process crash only (see docs/compatibility.md).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # Upgrade the schema on start. Default: on for SQLite (embedded), off for PostgreSQL (`incidentd db upgrade`).
    auto_migrate: bool | None = None
    bootstrap_admin_email: str = "admin@incidentd.local"
    # Uploaded artifact contents, one file each (and the derived signing secret when none is set).
    artifacts_dir: Path = Path("./incidentd-artifacts")
    # Signs upload and download links. Unset: a random secret is created once in `artifacts_dir`, so restarts
    # and every worker sharing the directory agree on it.
    artifacts_secret: str | None = Field(default=None, min_length=16)
    max_artifact_bytes: int = Field(default=100 * 1024 * 1024, ge=1)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
