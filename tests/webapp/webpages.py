"""Shared steps of the web app tests: a password for a user, logging in through the login form, CSRF tokens
read from pages as a browser would."""

from __future__ import annotations

import re
from typing import Any

import httpx

from incidentd.logins import service as logins
from incidentd.principal import OrgScope

PASSWORD = "correct horse battery staple"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


async def give_password(app: Any, org: OrgScope, email: str, password: str = PASSWORD) -> None:
    await logins.set_password(app.state.db, org, email, password)


async def log_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD, org: str | None = None
) -> httpx.Response:
    """Fill in and send the login form; the answer (303 to the board when it worked)."""
    form_page = await client.get("/web/login")
    assert form_page.status_code == 200
    data = {"csrf_token": csrf_of(form_page.text), "email": email, "password": password, "next": "/web/incidents"}
    if org is not None:
        data["org"] = org
    return await client.post("/web/login", data=data)


async def logged_in(app: Any, client: httpx.AsyncClient, org: OrgScope, email: str) -> str:
    """Log `email` in (with a password set for it); the session's CSRF token."""
    await give_password(app, org, email)
    answer = await log_in(client, email)
    assert answer.status_code == 303, answer.text
    board = await client.get("/web/incidents")
    assert board.status_code == 200, board.text
    return csrf_of(board.text)
