"""Ceiling F: the fastest this stack can answer without a database.

A minimal Litestar + msgspec app that decodes the same create body into the same request Struct and encodes a
same-size incident (a real one, captured from incidentd by the benchmark) — the HTTP + JSON work every request
pays, and nothing else. Served by uvicorn exactly like incidentd (same workers, same loop, same flags).
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
from litestar import Litestar, get, post

from incidentd.incidents.schemas import Incident, IncidentResponse, IncidentsCreateRequest

_INCIDENT = msgspec.json.decode(Path(os.environ["CEILING_INCIDENT_JSON"]).read_bytes(), type=Incident)


@post("/incidents.create", status_code=201)
async def create(data: IncidentsCreateRequest) -> IncidentResponse:
    return IncidentResponse(incident=_INCIDENT)


@get("/incidents.get")
async def get_incident(id: str) -> IncidentResponse:
    return IncidentResponse(incident=_INCIDENT)


def create_app() -> Litestar:
    return Litestar([create, get_incident], debug=False)
