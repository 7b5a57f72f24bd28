"""Every route the app serves, domain by domain. A domain adds its `ROUTES` here."""

from __future__ import annotations

from litestar.handlers import HTTPRouteHandler

from incidentd.accounts import routes as accounts
from incidentd.articles import routes as articles
from incidentd.artifacts import routes as artifacts
from incidentd.customization import routes as customization
from incidentd.identity import routes as identity
from incidentd.incidents import routes as incidents
from incidentd.links import routes as links
from incidentd.parts import routes as parts
from incidentd.tags import routes as tags
from incidentd.timeline import routes as timeline
from incidentd.webhooks import routes as webhooks

ROUTES: list[HTTPRouteHandler] = [
    *identity.ROUTES,
    *customization.ROUTES,
    *tags.ROUTES,
    *accounts.ROUTES,
    *parts.ROUTES,
    *artifacts.ROUTES,
    *articles.ROUTES,
    *incidents.ROUTES,
    *links.ROUTES,
    *timeline.ROUTES,
    *webhooks.ROUTES,
]
