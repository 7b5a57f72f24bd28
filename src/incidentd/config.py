"""Settings: environment variables with the INCIDENTD_ prefix, overridden by CLI flags."""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings import SettingsError as UnparsableSetting

from incidentd.kit import ids

# The largest search window a server ranks, and a search cursor may carry (a client can forge a cursor).
MAX_SEARCH_RANK_WINDOW = 1_000_000

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
    # The event loop uvicorn serves on: auto and uvloop are uvloop with a server that accepts every waiting
    # connection at once (`serving.AcceptingLoop`; auto falls back to asyncio without uvloop).
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # The largest request head (request line and headers) and URL a client may send: 431 / 414 past them.
    max_header_bytes: int = Field(default=64 * 1024, ge=1024)
    max_url_bytes: int = Field(default=8 * 1024, ge=256)
    don_partition: str = "dvrv-us-1"
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_format: Literal["console", "json"] = "console"
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    # How long a request may wait for the database (pool slot, lock, connect) before it answers 503.
    db_wait_seconds: float = Field(default=5.0, gt=0)
    db_pool_size: int = Field(default=10, ge=1)
    # Connections a PostgreSQL pool may open past db_pool_size under a burst, each closed again when returned.
    # 0: the pool is steady (a request past the pool waits for a connection, up to db_wait_seconds). Churned
    # connections cost a connect and asyncpg's type lookups again (about 0.3 s each on a Citus coordinator).
    db_pool_overflow: int = Field(default=0, ge=0)
    # PostgreSQL: connections of each process's own small pool for point reads (a get's stored document: one
    # statement, no unit of work, below SQLAlchemy; `Database.first_row`). 0: every read goes through the pool above.
    db_point_read_pool_size: int = Field(default=4, ge=0)
    # FULL survives a power loss; NORMAL survives a process crash only (see docs/compatibility.md).
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # How much of the SQLite file is read through a memory map (0: none; the trade-off: docs/compatibility.md).
    sqlite_mmap_mb: int = Field(default=0, ge=0)
    # Upgrade the schema on start. Default: on for SQLite (embedded), off for PostgreSQL (`incidentd db upgrade`).
    auto_migrate: bool | None = None
    bootstrap_admin_email: str = "admin@incidentd.local"
    # Uploaded artifact contents, one file each (and the derived signing secret when none is set).
    artifacts_dir: Path = Path("./incidentd-artifacts")
    # Signs upload and download links. Unset: a random secret is created once in `artifacts_dir`, so restarts
    # and every worker sharing the directory agree on it.
    artifacts_secret: str | None = Field(default=None, min_length=16)
    max_artifact_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Requests per principal in one fixed window (DevRev's window is 5 minutes); 0 turns rate limiting off.
    rate_limit_requests: int = Field(default=10_000, ge=0)
    rate_limit_window_seconds: int = Field(default=300, ge=1)
    # Where the counts live: memory:// (each process counts alone) or redis://host:port/db (shared by every
    # worker and machine that uses the same Redis database).
    rate_limit_storage: str = "memory://"
    # Per-token window sizes, a JSON object {"<auth token DON>": requests} (0 = unlimited); such a token has a count
    # of its own, apart from its principal's.
    rate_limit_token_limits: dict[str, int] = Field(default_factory=dict)
    # Idempotency-Key records: how long a key is remembered, how long a retry waits for the first request with
    # its key to finish before answering 409, and how often expired records are deleted.
    idempotency_ttl_seconds: int = Field(default=86_400, ge=1)
    idempotency_wait_seconds: float = Field(default=5.0, gt=0)
    idempotency_cleanup_seconds: float = Field(default=60.0, gt=0)
    # How often expired timeline entries are deleted (reads stop showing them at their expires_at already).
    timeline_sweep_seconds: float = Field(default=60.0, gt=0)
    # GET /metrics answers only when this is set, and only to `Authorization: Bearer <metrics_token>`.
    metrics_token: str | None = Field(default=None, min_length=16)
    # On SIGTERM / SIGINT, requests in flight get this long to finish before they are cancelled.
    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    # Webhooks (docs/compatibility.md "Webhooks"). Their secrets are stored encrypted (AES-GCM) with a key derived
    # from this setting; unset, from the instance secret kept in `artifacts_dir` (created once, shared by workers).
    webhook_secrets_key: str | None = Field(default=None, min_length=16)
    # Whether this server process delivers webhook events itself (`incidentd worker` delivers either way).
    webhook_delivery: bool = True
    # How often an idle delivery loop looks for work other processes committed (its own commits wake it at once).
    webhook_poll_seconds: float = Field(default=0.5, gt=0)
    # Retries: exponential backoff from the first delay, capped per attempt, with jitter; dead-lettered after the
    # retry window. Each attempt times out after `webhook_timeout_seconds` (DevRev's 3 s).
    webhook_retry_first_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_retry_window_seconds: float = Field(default=86_400.0, gt=0)
    webhook_timeout_seconds: float = Field(default=3.0, gt=0)
    # Sends in flight at once per delivering process, and per webhook (each webhook's client keeps that many
    # connections alive between sends).
    webhook_max_connections: int = Field(default=32, ge=1)
    webhook_max_in_flight: int = Field(default=4, ge=1)
    # While API requests queue in this process (4 or more in flight at once: kit/load.py), its delivery passes
    # (fan-out, claims, outcomes) come at most this often: delivery yields the event loop and SQLite's writer lock
    # to requests, and catches up when they thin out (docs/performance.md, "Delivery that yields to requests").
    # 0: passes as soon as there is work, however busy the process.
    webhook_busy_pass_seconds: float = Field(default=0.5, ge=0, le=60)
    # Refuse receivers whose address (resolved at connect time) is private, loopback or link-local.
    webhook_deny_private: bool = False
    # How long a process holds a claimed delivery (PostgreSQL) or the delivery turn (SQLite) without renewing it.
    webhook_lease_seconds: float = Field(default=30.0, gt=0)
    # How long committed events are kept (for replay and /events.stream) after they were delivered.
    events_retention_seconds: float = Field(default=7 * 86_400.0, gt=0)
    # GET /events.stream (docs/compatibility.md "Events stream"). On, every change records its event (with or
    # without webhooks); off, only the types an active webhook receives, and the route answers 404. Open streams are
    # capped per org and per process; an idle stream looks for other processes' commits every poll (this
    # process's own commits wake it at once) and sends a heartbeat comment so that proxies keep it open.
    events_stream: bool = True
    events_stream_max_per_org: int = Field(default=16, ge=1)
    events_stream_max_per_process: int = Field(default=256, ge=1)
    events_stream_poll_seconds: float = Field(default=1.0, gt=0)
    events_stream_heartbeat_seconds: float = Field(default=15.0, gt=0)

    # The web app (docs/web.md): how long a session lasts idle and at most, how long a login link is valid,
    # login attempts per window (per email and per client address), and whether X-Forwarded-Proto is believed
    # (behind a TLS-terminating proxy that sets it: session cookies are then Secure).
    web_session_idle_seconds: int = Field(default=8 * 3600, ge=60)
    web_session_max_seconds: int = Field(default=7 * 86_400, ge=60)
    web_login_link_seconds: int = Field(default=15 * 60, ge=60)
    web_login_attempts: int = Field(default=10, ge=1)
    web_login_window_seconds: int = Field(default=300, ge=1)
    web_trust_forwarded_proto: bool = False
    # How often the board asks for changes (seconds).
    web_board_refresh_seconds: int = Field(default=5, ge=1)

    # incidents.search on PostgreSQL: the text search configuration documents and queries are cut with (`simple`:
    # words as written, as on SQLite; `english`: stems, stop words). Changing it needs `incidentd search reindex`.
    search_language: str = Field(default="simple", pattern=r"^[a-z_]{1,63}$")
    # incidents.search ranks the newest this many incidents matching a query (in tiers: every word in the title,
    # then some in the title or tag names, then the rest), and lists older matches after them, newest first: a
    # query's cost stays bounded however many incidents match (docs/compatibility.md, "Relevance").
    search_rank_window: int = Field(default=10_000, ge=1, le=MAX_SEARCH_RANK_WINDOW)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        if value.split("://", 1)[0] not in ("memory", "redis", "rediss"):
            raise ValueError("use memory:// or a redis:// / rediss:// URL")
        return value

    @field_validator("rate_limit_token_limits")
    @classmethod
    def _token_dons(cls, value: dict[str, int]) -> dict[str, int]:
        for token, limit in value.items():
            parsed = ids.try_parse(token)
            if parsed is None or parsed.kind.name != "auth_token" or parsed.org_slug is None:
                raise ValueError(f"'{token}' is not an auth token DON (don:identity:<partition>:devo/<org>:token/<n>)")
            if limit < 0:
                raise ValueError(f"the limit of '{token}' is negative (0 means unlimited)")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


# Settings whose values are never printed, not even when they are invalid.
SECRET_SETTINGS = {"metrics_token", "artifacts_secret", "webhook_secrets_key"}


def invalid_settings(exc: ValidationError | UnparsableSetting, flags: dict[str, str] | None = None) -> list[str]:
    """One line per invalid setting of `exc`, each naming the environment variable (and the flag it came from,
    among `flags`: setting name -> flag), the value as given and what is allowed."""
    flags = flags or {}
    if isinstance(exc, UnparsableSetting):  # pydantic-settings could not decode a JSON value
        found = re.search(r'field "(\w+)"', str(exc))
        name = found.group(1) if found else "?"
        return [_line(name, None, "expected a JSON object", flags)]
    lines = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else "?"
        lines.append(_line(name, error.get("input"), _expected(name, error), flags))
    return lines


def _line(name: str, value: Any, expected: str, flags: dict[str, str]) -> str:
    variable = f"INCIDENTD_{name.upper()}"
    raw = next((given for key, given in os.environ.items() if key.upper() == variable), value)
    if name in SECRET_SETTINGS:
        shown = f" ({len(str(raw))} characters, not shown)"
    else:
        shown = "=" + repr(re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(raw)))  # no password of a URL
    given_as = f" (from {flags[name]})" if name in flags else ""
    return f"invalid setting {variable}{shown}{given_as}: {expected}"


def _expected(name: str, error: Any) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "literal_error":
        return "expected one of " + ", ".join(str(value) for value in _literal_values(name))
    if kind == "bool_parsing":
        return "expected true or false"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return "expected a whole number"
    if kind in ("float_parsing", "float_type"):
        return "expected a number"
    comparisons = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if kind in comparisons:
        bound = next(iter(ctx.values()))
        return f"expected a number {comparisons[kind]} {bound}"
    if kind == "string_too_short":
        return f"expected at least {ctx['min_length']} characters"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _literal_values(name: str) -> tuple[Any, ...]:
    """The values a Literal[...] setting allows."""
    return get_args(Settings.model_fields[name].annotation)
