"""create_app(settings) -> the ASGI application. The lifespan opens the database and closes it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from incidentd import __version__
from incidentd import db as database
from incidentd.auth import PUBLIC_PATHS, TokenAuthentication, provide_principal
from incidentd.config import Settings, get_settings
from incidentd.errors import ServiceUnavailable
from incidentd.logs import configure_logging
from incidentd.routes import ROUTES
from incidentd.web import IncidentdApp, handle_exception


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


@get("/openapi.json", operation_id="openapi", include_in_schema=False)
async def openapi_document(request: Any) -> Response[dict[str, Any]]:
    return Response(request.app.openapi_schema.to_schema())


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    configure_logging(settings.log_format, settings.log_level)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = database.Database(settings)
        if settings.migrate_on_start:
            await database.upgrade(db.engine)
        app.state.db = db
        try:
            yield
        finally:
            await db.dispose()

    public = "|".join(re.escape(path) for path in sorted(PUBLIC_PATHS))
    return IncidentdApp(
        route_handlers=[*ROUTES, health, ready, openapi_document],
        dependencies={
            "db": Provide(provide_db, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
        },
        middleware=[DefineMiddleware(TokenAuthentication, exclude=[f"^({public})(/.*)?$", "^/docs"])],
        exception_handlers={Exception: handle_exception},
        lifespan=[lifespan],
        state=State({"settings": settings}),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="incidentd",
            version=__version__,
            description="DevRev's Incidents REST API, self-hosted.",
            path="/docs",
            render_plugins=[SwaggerRenderPlugin(path="/")],
        ),
        debug=False,
    )
