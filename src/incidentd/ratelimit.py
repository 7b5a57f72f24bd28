"""Rate limits per principal: a fixed window (DevRev's: 5 minutes) counted by the `limits` library.

The count lives in process memory (`memory://`, the default) or in Redis (`redis://...`), shared by every worker
and machine. Counting never touches the database. When the storage fails the server serves anyway (fail open),
logs it at most once a minute, and tries the storage again after a second.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import structlog
from limits.aio.storage import Storage
from limits.storage import storage_from_string
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from incidentd.config import Settings
from incidentd.errors import TooManyRequests
from incidentd.kit import ids
from incidentd.metrics import Metrics
from incidentd.principal import Principal
from incidentd.web import send_error

log = structlog.get_logger("incidentd")

# After a storage failure, requests skip the storage this long (so an outage adds no latency to each request).
RETRY_STORAGE_AFTER_SECONDS = 1.0
FAILURE_LOG_EVERY_SECONDS = 60.0
# Redis must answer quickly or the request goes on without it.
STORAGE_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class WindowState:
    """Where a principal stands in its current window after this request was counted."""

    limit: int
    count: int
    reset_at: float  # epoch seconds when the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    def retry_after(self, now: float) -> int:
        return max(1, math.ceil(self.reset_at - now))

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", str(self.limit).encode()),
            (b"x-ratelimit-remaining", str(max(0, self.limit - self.count)).encode()),
            (b"x-ratelimit-reset", str(math.ceil(self.reset_at)).encode()),
        ]


def open_storage(url: str) -> Storage:
    """The `limits` storage a setting names: memory:// or redis[s]://... (always the asyncio variants)."""
    if url.startswith("memory://"):
        return storage_from_string("async+memory://")  # type: ignore[return-value]
    return storage_from_string(  # type: ignore[return-value]
        f"async+{url}",
        implementation="redispy",
        key_prefix="incidentd",
        socket_timeout=STORAGE_TIMEOUT_SECONDS,
        socket_connect_timeout=STORAGE_TIMEOUT_SECONDS,
    )


class RateLimiter:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.metrics = metrics
        self.limit = settings.rate_limit_requests
        self.window = settings.rate_limit_window_seconds
        self.storage = open_storage(settings.rate_limit_storage)
        self.token_limits: dict[tuple[str, str, int], int] = {}
        for don, limit in settings.rate_limit_token_limits.items():
            parsed = ids.try_parse(don)
            assert parsed is not None and parsed.org_slug is not None and parsed.partition is not None  # settings
            self.token_limits[(parsed.partition, parsed.org_slug, parsed.number)] = limit
        # When each principal's current window ends, so that counting a request is one storage call.
        self._window_ends: dict[str, float] = {}
        self._skip_storage_until = 0.0
        self._failure_logged_at = -math.inf

    def budget(self, principal: Principal) -> tuple[int, str]:
        """The window size a request is held to (0 = unlimited) and the count it goes into: a token with its own
        limit has its own count; every other request counts for its principal."""
        org = principal.org
        # The org slug (not the row id) names the count, so that servers sharing a Redis agree on it.
        key = f"{org.partition}/{org.slug}/{principal.user_number}"
        if self.token_limits and principal.token_number is not None:
            own = self.token_limits.get((org.partition, org.slug, principal.token_number))
            if own is not None:
                return own, f"{key}/token/{principal.token_number}"
        return self.limit, key

    async def count(self, principal: Principal) -> WindowState | None:
        """Count one request of `principal`; None when it is not limited or the storage failed (fail open)."""
        limit, key = self.budget(principal)
        if limit == 0:
            return None
        now = time.time()
        if now < self._skip_storage_until:
            self.metrics.rate_limit_storage_errors += 1
            return None
        try:
            count = await self.storage.incr(key, self.window)
            window_end = self._window_ends.get(key)
            if count == 1:
                window_end = now + self.window
            elif window_end is None or window_end <= now:
                window_end = await self.storage.get_expiry(key)
            self._window_ends[key] = window_end
        except Exception as exc:
            self._storage_failed(exc, now)
            return None
        return WindowState(limit, count, window_end)

    def _storage_failed(self, exc: Exception, now: float) -> None:
        self.metrics.rate_limit_storage_errors += 1
        self._skip_storage_until = now + RETRY_STORAGE_AFTER_SECONDS
        if now - self._failure_logged_at >= FAILURE_LOG_EVERY_SECONDS:
            self._failure_logged_at = now
            log.warning("rate limit storage unreachable; serving without rate limits", error=str(exc))

    async def close(self) -> None:
        """Close the storage's connections (Redis); the memory storage has none."""
        bridge = getattr(self.storage, "bridge", None)
        client = getattr(bridge, "storage", None)
        if client is not None:
            await client.aclose()


class RateLimitMiddleware:
    """Counts every authenticated request, answers 429 over the limit, and puts the X-RateLimit-* headers on
    every authenticated response. Public paths (/health, /ready, /metrics) carry no principal and pass through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal = scope.get("user")
        limiter: RateLimiter | None = scope["app"].state.rate_limiter
        if limiter is None or not isinstance(principal, Principal):
            await self.app(scope, receive, send)
            return
        state = await limiter.count(principal)
        if state is None:
            await self.app(scope, receive, send)
            return
        headers = state.headers()
        if not state.allowed:
            limiter.metrics.rate_limit_rejections += 1
            retry_after = state.retry_after(time.time())
            error = TooManyRequests(
                f"the rate limit of {state.limit} requests per {limiter.window} seconds is used up; "
                f"retry in {retry_after} seconds",
                retry_after=retry_after,
            )
            await send_error(send, error, headers)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]  # type: ignore[typeddict-item]
            await send(message)

        await self.app(scope, receive, send_with_headers)
