"""The /docs page: Swagger UI served from files shipped in this package, so it renders without internet.

Litestar's Swagger page loads its script, stylesheet and favicon from CDNs by default; on a machine without
internet access that page stays blank. The files in static/ come unmodified from the npm package swagger-ui-dist
(version and licence: static/README.md).
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).parent / "static"
# Under /docs, which answers without a token (auth.PUBLIC_PATHS).
STATIC_PATH = "/docs/static"


def swagger_page() -> SwaggerRenderPlugin:
    """The Swagger UI page at /docs, referring to the packaged files only."""
    return SwaggerRenderPlugin(
        path="/",
        js_url=f"{STATIC_PATH}/swagger-ui-bundle.js",
        css_url=f"{STATIC_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{STATIC_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{STATIC_PATH}/favicon-32x32.png'>",
    )


def static_files() -> Router:
    """The route that serves the packaged files. They change only with an incidentd release, so a browser may
    keep them for a day."""
    return create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        name="docs-static",
        cache_control=CacheControlHeader(max_age=86_400),
    )
