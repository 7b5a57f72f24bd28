"""schemathesis against DevRev's timeline-entries operations (`tests/spec/devrev-timeline.yaml`), in-process,
as `test_incidents_schemathesis` does for incidents (same checks, modes, case counts and report).

One documented exclusion besides `discriminated` (docs/compatibility.md, "Timeline entries"): DevRev declares no
404 for timeline-entries.create, update and delete, although each names an object or entry that may not exist;
incidentd answers 404 `not_found` there as DevRev's own guidance does, so the spec's shared 404 response is added
to those three operations and nothing else is relaxed."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from test_incidents_schemathesis import CHECKS, EXAMPLES, FULL_RUN, SEEDED_INCIDENTS, Served, _seed, discriminated

from clients.live_server import bootstrap_token, report_line
from incidentd.app import create_app
from incidentd.config import Settings

pytestmark = pytest.mark.schemathesis

SPEC = Path(__file__).parent.parent / "spec" / "devrev-timeline.yaml"
INCIDENT_DON = "don:core:dvrv-us-1:devo/default:incident"


def with_not_found_on_writes(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for operation in ("create", "update", "delete"):
        responses = spec["paths"][f"/timeline-entries.{operation}"]["post"]["responses"]
        responses.setdefault("404", {"$ref": "#/components/responses/not-found"})
    return spec


schema = schemathesis.openapi.from_dict(with_not_found_on_writes(discriminated(yaml.safe_load(SPEC.read_text()))))
schema.config.update(base_url="http://testserver")
schema.config.generation.update(modes=["positive", "negative"], with_security_parameters=False)
schema.config.checks.update(included_check_names=CHECKS)
schema.config.phases.coverage.enabled = EXAMPLES >= FULL_RUN


@pytest.fixture
def served(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Served]:
    """The real app on a seeded database (incidents, each with its change events and two comments)."""
    token = bootstrap_token(settings.database_url)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token}"}
    failures_before = request.session.testsfailed
    try:
        with asgi.get_client(app) as http:
            _seed(http, headers)
            for number in range(1, SEEDED_INCIDENTS + 1):
                for index in range(2):
                    body = {"type": "timeline_comment", "object": f"INC-{number}", "body": f"note {index}"}
                    response = http.post(
                        "/timeline-entries.create", json=body | {"labels": ["seeded"]}, headers=headers
                    )
                    assert response.status_code == 201, response.text
            yield (served := Served(app, headers))
    finally:
        asgi.shutdown_lifespans()
    total = sum(served.sent.values())
    fuzzed = sum(count for (phase, _), count in served.sent.items() if phase == "fuzzing")
    detail = ", ".join(f"{phase}/{mode} {count}" for (phase, mode), count in sorted(served.sent.items()))
    operation = request.node.name.partition("[")[2].rstrip("]")
    report_line(request.config, f"schemathesis {operation}: {total} requests ({detail})")
    if request.session.testsfailed == failures_before:
        assert fuzzed >= EXAMPLES, f"{request.node.name}: {fuzzed} fuzzed requests, {EXAMPLES} required"


def with_known_ids(case: Any) -> None:
    """Point some generated ids at seeded incidents and entries, deterministically from the generated value, so
    that every operation also reaches its success path. Entry numbers: each seeded incident has a change event
    and then two comments; entry numbers run across the org."""
    for container in (case.body, case.query):
        if not isinstance(container, dict):
            continue
        target = container.get("object")
        if isinstance(target, str) and len(target) % 3 != 2:
            number = 1 + len(target) % SEEDED_INCIDENTS
            container["object"] = f"INC-{number}" if len(target) % 2 else f"{INCIDENT_DON}/{number}"
        value = container.get("id")
        if isinstance(value, str) and len(value) % 3 != 2:
            incident = 1 + len(value) % SEEDED_INCIDENTS
            entry = 3 * (incident - 1) + 1 + len(value) % 3  # its change event or one of its comments
            kind = "change_event" if entry % 3 == 1 else "comment"
            container["id"] = f"{INCIDENT_DON}/{incident}:{kind}/{entry}"


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_timeline_operations_hold_to_the_contract(case: Any, served: Served) -> None:
    with_known_ids(case)
    served.sent[(str(case.meta.phase.name), str(case.meta.generation.mode))] += 1
    case.call_and_validate(app=served.app, headers=served.headers)
