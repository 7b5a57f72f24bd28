"""Apps with hardening settings for the tests in this folder: each test states the settings it changes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from conftest import Actor, running
from incidentd import db as database
from incidentd.app import create_app
from incidentd.config import Settings
from incidentd.identity import service as identity
from incidentd.principal import ADMIN


@dataclass
class Served:
    app: Any
    client: httpx.AsyncClient

    @property
    def db(self) -> database.Database:
        return self.app.state.db


@contextlib.asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[Served]:
    """A started app on `settings` with `changes` applied (validated like environment settings), and a client."""
    app = create_app(Settings(**{**settings.model_dump(), **changes}))
    async with running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://incidentd.test") as client:
            yield Served(app, client)


@dataclass
class TokenHolder(Actor):
    """An actor whose token's number is known (per-token settings name the token's DON)."""

    token_number: int = 0

    @property
    def token_don(self) -> str:
        return self.org.don("auth_token", self.token_number)


async def new_org(app: Any, slug: str | None = None) -> TokenHolder:
    """An org with a unique slug (Redis is shared between test runs), its admin dev user and a token."""
    db: database.Database = app.state.db
    slug = slug or f"t{uuid.uuid4().hex[:12]}"
    async with db.write() as conn:
        org = await identity.create_org(conn, partition=db.settings.don_partition, display_name=slug, slug=slug)
        user = await identity.create_user(conn, org, email=f"owner@{slug}.test", role=ADMIN)
        token = await identity.issue_token(conn, org, user.number)
    return TokenHolder(org, user.number, "dev_user", token.secret, token.number)


async def another_token(app: Any, holder: TokenHolder) -> TokenHolder:
    """A second token of the same principal."""
    db: database.Database = app.state.db
    async with db.write() as conn:
        token = await identity.issue_token(conn, holder.org, holder.user_number)
    return TokenHolder(holder.org, holder.user_number, holder.user_type, token.secret, token.number)
