"""Regenerate `devrev-webhooks.yaml`: DevRev's `/webhooks.*` paths (the `webhooks.event` path included: it is the
shape of what the server sends to receivers) with every schema they reach, unchanged.

    python tests/spec/extract_webhooks.py ../shared/reference/openapi-beta.yaml
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import yaml
from extract_subset import refs

PATHS = re.compile(r"^/webhooks\.(create|get|list|update|delete|event)$")


def main(source: str) -> None:
    spec = yaml.safe_load(Path(source).read_text())
    paths = {path: item for path, item in spec["paths"].items() if PATHS.match(path)}
    components: dict[str, dict[str, Any]] = {}
    pending = refs(paths)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        components.setdefault(section, {})[name] = spec["components"][section][name]
        pending |= refs(spec["components"][section][name])
    components["securitySchemes"] = spec["components"]["securitySchemes"]
    subset = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "security": spec.get("security", []),
        "paths": dict(sorted(paths.items())),
        "components": {section: dict(sorted(items.items())) for section, items in sorted(components.items())},
    }
    target = Path(__file__).with_name("devrev-webhooks.yaml")
    target.write_text(yaml.safe_dump(subset, sort_keys=False, width=120))
    print(f"{target}: {len(paths)} paths, {sum(len(v) for v in components.values())} components")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/openapi-beta.yaml")
