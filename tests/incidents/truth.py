"""An independent model of list/group semantics, computed in Python over the incidents the API returned."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any


def number(incident: dict[str, Any]) -> int:
    return int(incident["display_id"].split("-")[1])


def millis(text: str | None) -> int | None:
    if text is None:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000 + 0.5)


def sort_value(incident: dict[str, Any], field: str) -> Any:
    if field == "severity":
        return incident["severity"]["id"] if "severity" in incident else None
    if field == "title":
        return incident["title"].encode()
    return millis(incident.get(field))


def ordered(incidents: list[dict[str, Any]], sort_by: list[str] | None) -> list[dict[str, Any]]:
    """Sort as the contract says: keys in order, NULL largest, ties broken by the number in the direction of
    the first key; default created_date:desc."""
    keys = [(entry.split(":")[0], entry.split(":")[1] == "desc") for entry in (sort_by or ["created_date:desc"])]
    keys.append(("number", keys[0][1]))

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for field, descending in keys:
            left = number(a) if field == "number" else sort_value(a, field)
            right = number(b) if field == "number" else sort_value(b, field)
            if left == right:
                continue
            if left is None:
                result = 1
            elif right is None:
                result = -1
            else:
                result = -1 if left < right else 1
            return -result if descending else result
        return 0

    return sorted(incidents, key=functools.cmp_to_key(compare))


def ids_of(incident: dict[str, Any], field: str) -> set[str]:
    if field == "customer_ids":
        return {item["id"] for item in incident.get("impact", {}).get("customer_ids", [])}
    return {item["id"] for item in incident.get(field, [])}


def matches(incident: dict[str, Any], filters: dict[str, Any], extra: dict[str, Any]) -> bool:
    """Does `incident` pass every filter? `extra` holds what the wire object does not show (related_docs)."""
    for name, wanted in filters.items():
        if name in ("owned_by", "applies_to_parts", "pia", "playbooks"):
            if not ids_of(incident, name) & set(wanted):
                return False
        elif name == "related_docs":
            if not extra.get(incident["id"], set()) & set(wanted):
                return False
        elif name == "created_by":
            if incident["created_by"]["id"] not in wanted:
                return False
        elif name in ("severity", "reported_by"):
            if name not in incident or incident[name]["id"] not in wanted:
                return False
        elif name == "stage":
            if incident["stage"]["stage"]["name"] not in wanted and incident["stage"]["stage"]["id"] not in wanted:
                return False
        elif name == "title":
            if incident["title"] not in wanted:
                return False
        elif name == "subtype":
            if incident.get("subtype") not in wanted:
                return False
        elif name == "staged_info":
            if extra.get(("staged", incident["id"]), False) != wanted["is_staged"]:
                return False
        elif name.endswith("_date"):
            value = millis(incident.get(name))
            if value is None:
                return False
            if wanted.get("after") and value < millis(wanted["after"]):
                return False
            if wanted.get("before") and value > millis(wanted["before"]):
                return False
        elif name == "sync_metadata":
            sync = incident.get("sync_metadata", {})
            for key, values in wanted.items():
                if key in ("external_reference", "origin_system"):
                    if sync.get(key) not in values:
                        return False
                else:
                    side = sync.get(key, {})
                    for part, options in values.items():
                        actual = side.get(part)
                        actual = actual["id"] if isinstance(actual, dict) else actual
                        if actual not in options:
                            return False
        elif name == "custom_fields":
            fields = incident.get("custom_fields", {})
            for key, options in wanted.items():
                options = options if isinstance(options, list) else [options]
                if key not in fields or fields[key] not in options:
                    return False
        else:
            raise AssertionError(f"no model for filter {name}")
    return True
