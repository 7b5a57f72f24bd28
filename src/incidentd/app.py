"""create_app(settings) -> the ASGI application. The lifespan opens the database and closes it."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import re
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig

from incidentd import __version__, apidocs, draining
from incidentd import db as database
from incidentd.auth import PUBLIC_PATHS, TokenAuthentication, authorization_header, provide_principal
from incidentd.config import Settings, get_settings
from incidentd.errors import NotFound, ServiceUnavailable, Unauthenticated
from incidentd.idempotency import service as idempotency
from incidentd.idempotency.middleware import IdempotencyMiddleware
from incidentd.logs import configure_logging, configured_secrets
from incidentd.metrics import MEDIA_TYPE
from incidentd.openapi_document import WireJsonRenderPlugin, openapi_document
from incidentd.ratelimit import RateLimiter, RateLimitMiddleware
from incidentd.routes import ROUTES
from incidentd.timeline import service as timeline
from incidentd.web import BoundedJsonRequest, IncidentdApp, metrics_of
from incidentd.webapp import AUTH_EXCLUDE, handle_any_exception
from incidentd.webapp import router as web_router
from incidentd.webhooks import delivery as webhook_delivery


def provide_db(state: State) -> database.Database:
    db: database.Database = state.db
    return db


@get("/health", operation_id="health", include_in_schema=False)
async def health() -> dict[str, str]:
    """Liveness: the process answers. No database."""
    return {"status": "ok"}


@get("/ready", operation_id="ready", include_in_schema=False)
async def ready(state: State) -> Response[dict[str, str]]:
    """Readiness: the database answers and its schema is at the migrations' head."""
    db: database.Database = state.db
    await db.ping()
    if not await database.is_at_head(db.engine):
        raise ServiceUnavailable("the database schema is not at the latest migration")
    return Response({"status": "ready"})


@get("/metrics", operation_id="metrics", include_in_schema=False)
async def metrics(request: Request[Any, Any, Any], state: State) -> Response[bytes]:
    """This process's metrics in Prometheus' text format; only with the configured bearer token."""
    expected: str | None = state.settings.metrics_token
    if expected is None:
        raise NotFound("route not found")  # off: exactly like a route that does not exist
    given = authorization_header(request.headers) or ""
    if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
        raise Unauthenticated("GET /metrics needs 'Authorization: Bearer <INCIDENTD_METRICS_TOKEN>'")
    text = metrics_of(request.scope).render(state.get("db"))
    text += await webhook_delivery.render_metrics(state.get("db"), state.get("deliverer"))
    return Response(text.encode(), media_type=MEDIA_TYPE)


@get("/openapi.json", operation_id="openapi", include_in_schema=False)
async def openapi(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The OpenAPI document of the wire as it is: DevRev's error bodies, the bearer scheme, every limit."""
    return Response(openapi_document(request.app))


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level, configured_secrets(settings))

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = database.Database(settings)
        if settings.migrate_on_start:
            await database.upgrade(db.engine)
        app.state.db = db
        cleanup = asyncio.create_task(idempotency.purge_periodically(db, settings.idempotency_cleanup_seconds))
        sweep = asyncio.create_task(timeline.sweep_periodically(db, settings.timeline_sweep_seconds))
        # Webhook delivery in this process (`incidentd worker` does it apart); tests turn it off unless they test it.
        load = app.load if isinstance(app, IncidentdApp) else None
        deliverer = webhook_delivery.Deliverer(db, load=load) if settings.webhook_delivery else None
        app.state.deliverer = deliverer
        delivering = asyncio.create_task(deliverer.run()) if deliverer is not None else None
        try:
            yield
        finally:
            draining.begin()  # open event streams end (draining.py)
            for task in (cleanup, sweep):
                task.cancel()
            for task in (cleanup, sweep):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if deliverer is not None and delivering is not None:
                await webhook_delivery.stop(deliverer, delivering)
            if app.state.rate_limiter is not None:
                await app.state.rate_limiter.close()
            await db.dispose()

    public = "|".join(re.escape(path) for path in sorted(PUBLIC_PATHS))
    app = IncidentdApp(
        route_handlers=[*ROUTES, health, ready, metrics, openapi, apidocs.static_files(), web_router()],
        dependencies={
            "db": Provide(provide_db, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        # Outermost first: who is calling, then their rate limit, then their idempotency keys.
        middleware=[
            # The web app (AUTH_EXCLUDE) has sessions of its own.
            DefineMiddleware(TokenAuthentication, exclude=[f"^({public})(/.*)?$", "^/docs", AUTH_EXCLUDE]),
            RateLimitMiddleware,
            IdempotencyMiddleware,
        ],
        exception_handlers={Exception: handle_any_exception},
        request_class=BoundedJsonRequest,
        lifespan=[lifespan],
        state=State({"settings": settings}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="incidentd",
            version=__version__,
            description="DevRev's Incidents REST API, self-hosted.",
            path="/docs",
            # Swagger UI's files come from the package (/docs works offline); /docs/openapi.json is our document.
            render_plugins=[apidocs.swagger_page(), WireJsonRenderPlugin()],
        ),
        debug=False,
    )
    limited = settings.rate_limit_requests > 0 or any(settings.rate_limit_token_limits.values())
    app.state.rate_limiter = RateLimiter(settings, app.metrics) if limited else None
    app.state.in_flight_keys = idempotency.InFlight()
    return app
