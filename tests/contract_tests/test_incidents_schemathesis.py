"""schemathesis against the pinned incident contract (`tests/spec/devrev-incidents.yaml`), in-process.

Every operation of the spec (create, update, delete, and the GET and POST forms of get, list and group) gets
generated requests, valid and invalid (schemathesis' positive and negative modes), sent to the real app with a
real token on a seeded database. Checks: no server error, a status code the spec lists, the content type the
spec lists, and a body that matches the spec's response schema.

Cases per operation: `INCIDENTD_SCHEMATHESIS_EXAMPLES` (default 100; the dedicated CI step sets 1000, and then
schemathesis' coverage phase runs too). The requests each operation's Hypothesis phase actually sent are counted
and must reach that number; the counts by phase and mode are printed (and written to
`INCIDENTD_SCHEMATHESIS_REPORT` when set, for CI under pytest-xdist).

The spec is loaded as vendored except for two exclusions, both recorded with their reasons in
docs/compatibility.md ("Real clients and generated input"): `discriminated` (OpenAPI's `discriminator`, which
JSON Schema validation does not know: DevRev's union branches overlap, so as plain `oneOf` every valid body
fails) and `with_no_value_group_keys` (the group of incidents without a value, which the spec cannot write).
"""

from __future__ import annotations

import collections
import copy
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi

from clients.live_server import bootstrap_token, report_line
from incidentd.app import create_app
from incidentd.config import Settings

pytestmark = pytest.mark.schemathesis

SPEC = Path(__file__).parent.parent / "spec" / "devrev-incidents.yaml"
EXAMPLES = int(os.environ.get("INCIDENTD_SCHEMATHESIS_EXAMPLES", "100"))
FULL_RUN = 1000
REPORT_TO = os.environ.get("INCIDENTD_SCHEMATHESIS_REPORT")
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance"]
SEEDED_INCIDENTS = 6
INCIDENT_DON = "don:core:dvrv-us-1:devo/default:incident"
GROUP_FIELDS = ("severity", "stage", "reported_by", "source", "subtype", "owned_by", "applies_to_parts", "created_by")


def discriminated(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with each discriminated `oneOf` made exclusive the JSON Schema way: every branch also requires
    its discriminator value. Branches that say `additionalProperties: false` without properties of their own
    (fern's "nothing beyond the base" inside an `allOf`) lose that keyword, which in JSON Schema would forbid
    the base's own fields (`type`, `message`)."""
    spec = copy.deepcopy(spec)
    schemas = spec["components"]["schemas"]

    def branch_schema(ref: str) -> dict[str, Any]:
        return schemas[ref.rsplit("/", 1)[-1]]

    def rewrite(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                rewrite(item)
            return
        if not isinstance(node, dict):
            return
        discriminator = node.get("discriminator")
        if discriminator and discriminator.get("mapping") and "oneOf" in node:
            prop = discriminator["propertyName"]
            branches = []
            for value, ref in discriminator["mapping"].items():
                target = branch_schema(ref)
                if target.get("additionalProperties") is False and not target.get("properties"):
                    del target["additionalProperties"]
                branches.append(
                    {"allOf": [{"$ref": ref}, {"properties": {prop: {"enum": [value]}}, "required": [prop]}]}
                )
            node["oneOf"] = branches
            del node["discriminator"]
        for value in node.values():
            rewrite(value)

    rewrite(spec)
    return spec


def with_no_value_group_keys(spec: dict[str, Any]) -> dict[str, Any]:
    """The documented exclusion (docs/compatibility.md): the key of the group of incidents that have no value for
    the grouped field is `{"type": T}` alone. DevRev's `field-value` has no way to say "no value" (every type but
    `stage` requires one), so exactly that shape is accepted as a group key, and nothing else is relaxed."""
    spec = copy.deepcopy(spec)
    no_value = {
        "type": "object",
        "properties": {"type": {"type": "string", "enum": ["int", "id", "string"]}},
        "required": ["type"],
        "additionalProperties": False,
    }
    group = spec["components"]["schemas"]["incidents-group"]
    group["properties"]["key"] = {"anyOf": [{"$ref": "#/components/schemas/field-value"}, no_value]}
    return spec


schema = schemathesis.openapi.from_dict(with_no_value_group_keys(discriminated(yaml.safe_load(SPEC.read_text()))))
schema.config.update(base_url="http://testserver")
schema.config.generation.update(modes=["positive", "negative"], with_security_parameters=False)
schema.config.checks.update(included_check_names=CHECKS)
# The coverage phase (boundary and near-boundary values of every parameter, a few hundred requests per
# operation) runs in the full run only; the quick default run of the whole suite fuzzes.
schema.config.phases.coverage.enabled = EXAMPLES >= FULL_RUN


def _seed(http: asgi.ASGIClient, headers: dict[str, str]) -> None:
    """Incidents with owners, parts, tags, severities and stages, so that get, list and group answer with full
    objects (and update and delete find real incidents for the generated ids that `with_known_ids` swaps in)."""

    def created(path: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        response = http.post(path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()[key]

    me = http.get("/dev-users.self", headers=headers).json()["dev_user"]
    tag = created("/tags.create", {"name": "payments"}, "tag")
    part = created("/parts.create", {"type": "product", "name": "Checkout", "owned_by": [me["id"]]}, "part")
    stages = ["triage", "acknowledged", "fixing", "mitigated", "resolved", "canceled"]
    for number in range(SEEDED_INCIDENTS):
        body: dict[str, Any] = {"title": f"Incident {number}", "body": "Seeded for schemathesis."}
        if number % 2 == 0:
            body |= {"owned_by": [me["id"]], "applies_to_parts": [part["id"]], "tags": [{"tag_id": tag["id"]}]}
        if number % 3 != 2:
            body |= {"severity": 1 + number % 4, "reported_by": 1 + number % 3}
        if number:
            body |= {"stage": {"stage": stages[number]}, "stage_validation_options": ["allow_non_start"]}
        created("/incidents.create", body, "incident")


@dataclass
class Served:
    app: Any
    headers: dict[str, str]
    # Requests sent, by (phase, generation mode).
    sent: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)


@pytest.fixture
def served(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Served]:
    """The real app on a fresh seeded database, started inside schemathesis' own event loop (its ASGI client
    runs the lifespan there), with a real token."""
    token = bootstrap_token(settings.database_url)
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token}"}
    failures_before = request.session.testsfailed
    try:
        with asgi.get_client(app) as http:
            _seed(http, headers)
            yield (served := Served(app, headers))
    finally:
        asgi.shutdown_lifespans()
    total = sum(served.sent.values())
    fuzzed = sum(count for (phase, _), count in served.sent.items() if phase == "fuzzing")
    detail = ", ".join(f"{phase}/{mode} {count}" for (phase, mode), count in sorted(served.sent.items()))
    operation = request.node.name.partition("[")[2].rstrip("]")
    summary = f"schemathesis {operation}: {total} requests ({detail})"
    report_line(request.config, summary)
    if REPORT_TO:  # under pytest-xdist a worker's terminal lines are not shown: CI prints this file
        with open(REPORT_TO, "a") as out:
            out.write(summary + "\n")
    if request.session.testsfailed == failures_before:
        assert fuzzed >= EXAMPLES, f"{request.node.name}: {fuzzed} fuzzed requests, {EXAMPLES} required"


def with_known_ids(case: Any) -> None:
    """Point some generated ids and group fields at seeded objects, deterministically from the generated value
    (so Hypothesis can still shrink), so that update, delete, get and group also reach their success paths."""
    for container in (case.body, case.query):
        if not isinstance(container, dict):
            continue
        value = container.get("id")
        if isinstance(value, str) and len(value) % 3 != 2:
            number = 1 + len(value) % SEEDED_INCIDENTS
            container["id"] = f"INC-{number}" if len(value) % 2 else f"{INCIDENT_DON}/{number}"
        group_by = container.get("group_by")
        if isinstance(group_by, str) and len(group_by) % 4 != 3:
            container["group_by"] = GROUP_FIELDS[len(group_by) % len(GROUP_FIELDS)]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_incident_operations_hold_to_the_contract(case: Any, served: Served) -> None:
    with_known_ids(case)
    served.sent[(str(case.meta.phase.name), str(case.meta.generation.mode))] += 1
    case.call_and_validate(app=served.app, headers=served.headers)
