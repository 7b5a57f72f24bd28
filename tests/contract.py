"""Validate responses against DevRev's response schemas (the vendored spec subsets), with jsonschema.

OpenAPI 3.0 is not JSON Schema; two translations make DevRev's documents checkable:
- `discriminator` + `oneOf`: the branch is chosen by the discriminator property (several branches of DevRev's
  unions have identical shapes, so plain `oneOf` would reject every valid value);
- `additionalProperties: false` on an object without properties (fern's "no extra fields of its own" inside an
  `allOf`) is dropped, since in JSON Schema it would forbid the fields the other `allOf` members define.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SPEC_DIR = Path(__file__).parent / "spec"
DOCUMENTS = ("devrev-incidents.yaml", "devrev-objects.yaml", "devrev-timeline.yaml", "devrev-links.yaml")


def _translate(node: Any) -> Any:
    if isinstance(node, list):
        return [_translate(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _translate(value) for key, value in node.items()}
    if node.get("additionalProperties") is False and not node.get("properties"):
        del node["additionalProperties"]
    if node.get("nullable") is True and "type" in node:
        node["type"] = [node["type"], "null"]
    discriminator = node.pop("discriminator", None)
    if discriminator and "oneOf" in node and discriminator.get("mapping"):
        prop = discriminator["propertyName"]
        mapping = discriminator["mapping"]
        node.pop("oneOf")
        branches = [
            {"if": {"properties": {prop: {"const": value}}, "required": [prop]}, "then": {"$ref": ref}}
            for value, ref in mapping.items()
        ]
        node.setdefault("allOf", []).extend(branches)
        node["allOf"].append({"properties": {prop: {"enum": list(mapping)}}, "required": [prop]})
    return node


@cache
def _document(name: str) -> dict[str, Any]:
    spec = yaml.safe_load((SPEC_DIR / name).read_text())
    return {"paths": spec["paths"], "components": _translate(copy.deepcopy(spec["components"]))}


@cache
def _registry() -> Registry:
    resources = [(f"urn:{name}", DRAFT202012.create_resource(_document(name))) for name in DOCUMENTS]
    return Registry().with_resources(resources)


def _operation(path: str, method: str) -> tuple[str, dict[str, Any]]:
    for name in DOCUMENTS:
        item = _document(name)["paths"].get(path)
        if item and method.lower() in item:
            return name, item[method.lower()]
    raise KeyError(f"{method} {path} is not in the vendored DevRev spec")


def response_schema(path: str, method: str, status: int) -> dict[str, Any] | None:
    name, operation = _operation(path, method)
    response = operation["responses"].get(str(status))
    if response is None:
        raise AssertionError(f"{method} {path} has no {status} response in DevRev's spec")
    if "$ref" in response:
        ref_name = response["$ref"].rsplit("/", 1)[-1]
        response = _document(name)["components"]["responses"][ref_name]
    content = response.get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content["schema"]
    return {"$ref": f"urn:{name}#{schema['$ref'][1:]}"} if "$ref" in schema else schema


def assert_conforms(path: str, method: str, status: int, body: Any) -> None:
    """Assert that `body` is a valid `status` response of `method path` in DevRev's spec."""
    schema = response_schema(path, method, status)
    if schema is None:
        assert body in (None, {}, b"", ""), f"{method} {path} {status} has no body in the spec, got {body!r}"
        return
    validator = jsonschema.Draft202012Validator(schema, registry=_registry(), format_checker=None)
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        details = "\n".join(f"  at {list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])
        raise AssertionError(f"{method} {path} {status} does not match DevRev's schema:\n{details}")


def assert_component(document: str, component: str, body: Any) -> None:
    """Assert that `body` is a valid `component` schema of a vendored document (for answers DevRev's spec has no
    operation for, such as incidentd's extensions, or statuses it does not declare)."""
    schema = {"$ref": f"urn:{document}#/components/schemas/{component}"}
    validator = jsonschema.Draft202012Validator(schema, registry=_registry(), format_checker=None)
    errors = sorted(validator.iter_errors(body), key=lambda error: list(error.absolute_path))
    if errors:
        details = "\n".join(f"  at {list(e.absolute_path)}: {e.message[:300]}" for e in errors[:10])
        raise AssertionError(f"not a valid {component} of {document}:\n{details}")


async def bad(client: Any, actor: Any, path: str, body: dict[str, Any], kind: str, field_name: str | None) -> Any:
    """POST `body` to `path`, expecting a 400 of type `kind` naming `field_name` (and conforming to the spec)."""
    response = await client.post(path, json=body, headers=actor.headers)
    assert response.status_code == 400, response.text
    assert_conforms(path, "post", 400, response.json())
    assert response.json()["type"] == kind
    assert response.json().get("field_name") == field_name
    return response.json()
