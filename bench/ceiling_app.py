"""Ceiling F: the fastest this stack can answer without a database.

A minimal Litestar + msgspec app that decodes the same create body into the same request Struct and encodes a
same-size incident (a real one, captured from incidentd by the benchmark) — the HTTP + JSON work every request
pays, and nothing else. Served exactly like incidentd (`incidentd.cli.run_server`: uvicorn, same workers, same
shared socket, same flags):

    python bench/ceiling_app.py PORT WORKERS
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


if __name__ == "__main__":
    import sys

    import uvicorn

    from incidentd import serving
    from incidentd.cli import run_server

    port, workers = int(sys.argv[1]), int(sys.argv[2])
    run_server(
        uvicorn.Config(
            "ceiling_app:create_app",
            factory=True,
            host="127.0.0.1",
            port=port,
            workers=workers,
            # The same event loop and HTTP protocol as the server it is the ceiling of.
            loop=serving.loop_factory(os.environ.get("INCIDENTD_EVENT_LOOP", "auto")),
            http=serving.BoundedHttpToolsProtocol,
            log_level="warning",
            access_log=False,
        )
    )
