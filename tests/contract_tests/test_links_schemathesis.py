"""schemathesis against DevRev's links operations (`tests/spec/devrev-links.yaml`), in-process, as
test_incidents_schemathesis.py does for incidents: generated requests, valid and invalid, against the real app on
a seeded database; no server error, statuses, content types and bodies as the spec says.

The spec is loaded as vendored with the exclusions recorded in docs/compatibility.md: `discriminated` (as for
incidents) and `with_undeclared_statuses`: DevRev declares no 409 for links.create and links.replace and no 404
for links.replace, which incidentd answers for a duplicate link and for a link that does not exist."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from test_incidents_schemathesis import CHECKS, EXAMPLES, FULL_RUN, REPORT_TO, Served, discriminated

from clients.live_server import bootstrap_token, report_line
from incidentd.app import create_app
from incidentd.config import Settings

pytestmark = pytest.mark.schemathesis

SPEC = Path(__file__).parent.parent / "spec" / "devrev-links.yaml"
ORG = "don:core:dvrv-us-1:devo/default"
SEEDED_INCIDENTS = 6
LINK_TYPES = ("is_related_to", "is_duplicate_of", "is_parent_of", "is_follow_up_of", "is_merged_into")


def with_undeclared_statuses(spec: dict[str, Any]) -> dict[str, Any]:
    """The documented exclusion: 409 on links.create and links.replace (the org has that link already) and 404 on
    links.replace (no such link), DevRev's error responses that its spec declares on other operations."""
    spec = copy.deepcopy(spec)
    paths = spec["paths"]
    for path, statuses in (("/links.create", ("409",)), ("/links.replace", ("404", "409"))):
        for status in statuses:
            name = {"404": "not-found", "409": "conflict"}[status]
            paths[path]["post"]["responses"][status] = {"$ref": f"#/components/responses/{name}"}
    spec["components"]["responses"].setdefault(
        "conflict",
        {
            "description": "Conflict.",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/error-conflict"}}},
        },
    )
    return spec


def _load() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC.read_text())
    # error-conflict is not reached by DevRev's links paths; it is taken unchanged from the objects subset.
    objects = yaml.safe_load((SPEC.parent / "devrev-objects.yaml").read_text())["components"]["schemas"]
    for name in ("error-conflict", "error-conflict-conflict", "error-conflict-type"):
        spec["components"]["schemas"].setdefault(name, objects[name])
    return discriminated(with_undeclared_statuses(spec))


schema = schemathesis.openapi.from_dict(_load())
schema.config.update(base_url="http://testserver")
schema.config.generation.update(modes=["positive", "negative"], with_security_parameters=False)
schema.config.checks.update(included_check_names=CHECKS)
schema.config.phases.coverage.enabled = EXAMPLES >= FULL_RUN


def _seed(http: Any, headers: dict[str, str]) -> None:
    """Incidents, one object of each other kind, and links among them, so that get, list, delete and replace
    find real links for the ids `with_known_ids` swaps in."""

    def created(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = http.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()[key]

    me = http.get("/dev-users.self", headers=headers).json()["dev_user"]
    incidents = [created("/incidents.create", {"title": f"Incident {n}"}, "incident") for n in range(SEEDED_INCIDENTS)]
    product = created("/parts.create", {"type": "product", "name": "Checkout", "owned_by": [me["id"]]}, "part")
    created("/accounts.create", {"display_name": "Acme"}, "account")
    created("/articles.create", {"title": "Runbook", "owned_by": [me["id"]], "resource": {}}, "article")
    for n in range(1, SEEDED_INCIDENTS):
        body = {"source": incidents[0]["id"], "link_type": "is_related_to", "target": incidents[n]["id"]}
        created("/links.create", body, "link")
    created(
        "/links.create", {"source": incidents[1]["id"], "link_type": "is_related_to", "target": product["id"]}, "link"
    )


@pytest.fixture
def served(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Served]:
    token = bootstrap_token(settings.database_url)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token}"}
    failures_before = request.session.testsfailed
    try:
        with schemathesis.python.asgi.get_client(app) as http:
            _seed(http, headers)
            yield (served := Served(app, headers))
    finally:
        schemathesis.python.asgi.shutdown_lifespans()
    total = sum(served.sent.values())
    fuzzed = sum(count for (phase, _), count in served.sent.items() if phase == "fuzzing")
    operation = request.node.name.partition("[")[2].rstrip("]")
    summary = f"schemathesis {operation}: {total} requests"
    report_line(request.config, summary)
    if REPORT_TO:  # under pytest-xdist a worker's terminal lines are not shown: CI prints this file
        with open(REPORT_TO, "a") as out:
            out.write(summary + "\n")
    if request.session.testsfailed == failures_before:
        assert fuzzed >= EXAMPLES, f"{request.node.name}: {fuzzed} fuzzed requests, {EXAMPLES} required"


_OBJECTS = [f"INC-{n}" for n in range(1, SEEDED_INCIDENTS + 1)] + ["PROD-1", "ACC-1", "ART-1"]


def with_known_ids(case: Any) -> None:
    """Point some generated ids at seeded objects and links, deterministically from the generated value, so that
    every operation also reaches its success paths (and creates meet their duplicates)."""
    for container in (case.body, case.query):
        if not isinstance(container, dict):
            continue
        value = container.get("id")
        if isinstance(value, str) and len(value) % 3 != 2:
            container["id"] = f"{ORG}:link/{1 + len(value) % SEEDED_INCIDENTS}"
        for name in ("source", "target", "object"):
            value = container.get(name)
            if isinstance(value, str) and len(value) % 4 != 3:
                container[name] = _OBJECTS[len(value) % len(_OBJECTS)]
        value = container.get("link_type")
        if isinstance(value, str) and len(value) % 2:
            container["link_type"] = LINK_TYPES[len(value) % len(LINK_TYPES)]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_link_operations_hold_to_the_contract(case: Any, served: Served) -> None:
    with_known_ids(case)
    served.sent[(str(case.meta.phase.name), str(case.meta.generation.mode))] += 1
    case.call_and_validate(app=served.app, headers=served.headers)
