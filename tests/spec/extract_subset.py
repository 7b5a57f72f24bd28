"""Regenerate the vendored subsets of DevRev's beta spec, each with every schema its paths reach:
`devrev-objects.yaml` (identity, tags, parts, accounts, articles, artifacts, stages/states, schemas),
`devrev-timeline.yaml` (timeline-entries) and `devrev-links.yaml` (links).

    python tests/spec/extract_subset.py ../shared/reference/openapi-beta.yaml

`devrev-incidents.yaml` beside them is the pinned incident contract, copied unchanged (see PROVENANCE.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml

PATHS = re.compile(
    r"^/(dev-users\.(self|get|list|create)|auth-tokens\.(create|list|delete)|tags\.(create|get|list|update|delete)"
    r"|parts\.(create|get|list|update|delete)|accounts\.(create|get|list|update|delete)"
    r"|articles\.(create|get|list|update|delete)|artifacts\.(prepare|get|locate)"
    r"|stages\.custom\.(get|list)|states\.custom\.(get|list)|schemas\.custom\.(set|get|list)|schemas\.subtypes\.list)$"
)

TIMELINE_PATHS = re.compile(r"^/timeline-entries\.(create|get|list|update|delete)$")
LINK_PATHS = re.compile(r"^/links\.(create|get|list|delete|replace)$")
SUBSETS = {"devrev-objects.yaml": PATHS, "devrev-timeline.yaml": TIMELINE_PATHS, "devrev-links.yaml": LINK_PATHS}


def refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                found |= refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs(item)
    return found


def main(source: str) -> None:
    spec = yaml.safe_load(Path(source).read_text())
    for target, pattern in SUBSETS.items():
        extract(spec, pattern, Path(__file__).with_name(target))


def extract(spec: dict[str, Any], pattern: re.Pattern[str], target: Path) -> None:
    paths = {path: item for path, item in spec["paths"].items() if pattern.match(path)}
    components: dict[str, dict[str, Any]] = {}
    pending = refs(paths) | refs(spec.get("security", []))
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        node = spec["components"][section][name]
        components.setdefault(section, {})[name] = node
        pending |= refs(node)
    components["securitySchemes"] = spec["components"]["securitySchemes"]
    subset = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec.get("servers", []),
        "security": spec.get("security", []),
        "paths": dict(sorted(paths.items())),
        "components": {section: dict(sorted(items.items())) for section, items in sorted(components.items())},
    }
    target.write_text(yaml.safe_dump(subset, sort_keys=False, width=120))
    print(f"{target}: {len(paths)} paths, {sum(len(v) for v in components.values())} components")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/openapi-beta.yaml")
