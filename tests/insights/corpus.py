"""A small corpus of incidents with hand-set lifecycle dates (out of order, skipped stages, open and closed), and
an independent Python reading of them, for the insights tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from conftest import Actor
from incidentd.incidents.tables import incident_documents
from incidentd.incidents.tables import incidents as incidents_table

DAY = 86_400_000
BASE = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)


def rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_of(value: str | None) -> int | None:
    if value is None:
        return None
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return response.json()


async def build_corpus(client: httpx.AsyncClient, app: Any, admin: Actor, count: int, seed: int = 7) -> list[dict]:
    """`count` incidents with random severities, owners, regions and dates; their wire objects."""
    rng = random.Random(seed)
    headers = admin.headers
    fragment = {
        "type": "tenant_fragment",
        "description": "incident fields",
        "leaf_type": "incident",
        "fields": [{"name": "region", "field_type": "enum", "allowed_values": ["eu", "us"]}],
    }
    await ok(await client.post("/schemas.custom.set", json=fragment, headers=headers), 201)
    me = (await ok(await client.get("/dev-users.self", headers=headers)))["dev_user"]["id"]
    other = (
        await ok(
            await client.post("/dev-users.create", json={"email": "sre@x.test", "state": "shadow"}, headers=headers),
            201,
        )
    )["dev_user"]["id"]
    closing: dict[str, int | None] = {}
    for index in range(count):
        created = BASE + rng.randrange(0, 120) * DAY + rng.randrange(0, DAY)
        fields: dict[str, Any] = {"title": f"incident {index}"}
        start = created
        if rng.random() < 0.6:
            start = created + rng.randrange(-3 * DAY, DAY)  # identified before or after the create
            fields["identified_date"] = rfc3339(start)
        if rng.random() < 0.8:
            fields["acknowledged_date"] = rfc3339(start + rng.randrange(-DAY, 5 * DAY))  # sometimes before start
        if rng.random() < 0.6:
            fields["mitigated_date"] = rfc3339(start + rng.randrange(0, 10 * DAY))
        if rng.random() < 0.5:
            # Far from now either way, so "still open past the target" does not change during the test.
            fields["target_close_date"] = rfc3339(start + rng.choice([-400, 2, 5, 4000]) * DAY)
        if rng.random() < 0.8:
            fields["severity"] = rng.randint(1, 4)
        if rng.random() < 0.7:
            fields["owned_by"] = rng.sample([me, other], rng.randint(1, 2))
        if rng.random() < 0.7:
            fields["custom_fields"] = {"tnt__region": rng.choice(["eu", "us"])}
            fields["custom_schema_spec"] = {"tenant_fragment": True}
        if rng.random() < 0.6:
            fields["stage"] = "resolved"
            fields["stage_validation_options"] = ["allow_non_start"]
        incident = (await ok(await client.post("/incidents.create", json=fields, headers=headers), 201))["incident"]
        closing[incident["id"]] = start + rng.randrange(-2 * DAY, 20 * DAY) if fields.get("stage") else None
        number = int(incident["id"].rsplit("/", 1)[1])
        async with app.state.db.write() as conn:  # history: created and closed in the past
            await conn.execute(
                sa.update(incidents_table)
                .where(incidents_table.c.dev_org_id == admin.org.dev_org_id, incidents_table.c.number == number)
                .values(created_date=created, actual_close_date=closing[incident["id"]])
            )
            # Written behind the service's back: its stored answer no longer matches (incidents.documents).
            await conn.execute(
                sa.delete(incident_documents).where(
                    incident_documents.c.dev_org_id == admin.org.dev_org_id,
                    incident_documents.c.incident_number == number,
                )
            )
    listed = await ok(await client.post("/incidents.list", json={"limit": 100}, headers=headers))
    found = listed["incidents"]
    while listed.get("next_cursor"):
        body = {"limit": 100, "cursor": listed["next_cursor"]}
        listed = await ok(await client.post("/incidents.list", json=body, headers=headers))
        found += listed["incidents"]
    assert len(found) == count
    return found


# the truth, computed from wire objects ---------------------------------------------------------------

DURATION_DATES = {
    "time_to_acknowledge": "acknowledged_date",
    "time_to_mitigate": "mitigated_date",
    "time_to_resolve": "actual_close_date",
}


def durations(incident: dict) -> dict[str, int | None]:
    start = ms_of(incident.get("identified_date")) or ms_of(incident["created_date"])
    assert start is not None
    found: dict[str, int | None] = {}
    for name, date in DURATION_DATES.items():
        end = ms_of(incident.get(date))
        found[name] = None if end is None else max(0, end - start)
    return found


def group_keys(incident: dict, group_by: str | None) -> list[Any]:
    if group_by is None:
        return [None]
    if group_by == "severity":
        return [incident["severity"]["id"] if "severity" in incident else None]
    if group_by == "stage":
        return [incident["stage"]["stage"]["name"]]
    if group_by == "owned_by":
        return [owner["id"] for owner in incident.get("owned_by", [])] or [None]
    if group_by.startswith("custom_fields."):
        return [incident.get("custom_fields", {}).get(group_by.removeprefix("custom_fields."))]
    raise AssertionError(group_by)


def bucket_of(ms: int, bucket: str) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":
        day -= timedelta(days=day.weekday())
    elif bucket == "month":
        day = day.replace(day=1)
    return rfc3339(int(day.timestamp() * 1000))


def stats(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    n = len(ordered)

    def rank(percent: int) -> int:
        return ordered[-(-percent * n // 100) - 1]  # the value at rank ceil(p n / 100)

    return {
        "count": n,
        "mean": sum(ordered) / n,
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1],
    }


def expected_metrics(
    incidents: list[dict], group_by: str | None, bucket: str | None, bucket_date: str, now: int
) -> dict[tuple[Any, Any], dict[str, Any]]:
    cells: dict[tuple[Any, Any], list[dict]] = {}
    for incident in incidents:
        date = ms_of(incident.get(bucket_date))
        if bucket is not None and date is None:
            continue
        when = bucket_of(date, bucket) if bucket is not None and date is not None else None
        for key in group_keys(incident, group_by):
            cells.setdefault((key, when), []).append(incident)
    found = {}
    for cell, members in cells.items():
        measured = [durations(incident) for incident in members]
        targets = [
            (ms_of(incident["target_close_date"]), ms_of(incident.get("actual_close_date")))
            for incident in members
            if "target_close_date" in incident
        ]
        breached = sum(1 for target, closed in targets if (closed > target if closed is not None else target < now))
        target_close: dict[str, Any] = {"count": len(targets), "breached": breached}
        if targets:
            target_close["breach_rate"] = breached / len(targets)
        found[cell] = {
            "count": len(members),
            "open_count": sum(1 for incident in members if "actual_close_date" not in incident),
            **{
                name: stats([d[name] for d in measured if d[name] is not None])  # type: ignore[misc]
                for name in DURATION_DATES
            },
            "target_close": target_close,
        }
    return found


def answered_cells(body: dict) -> dict[tuple[Any, Any], dict[str, Any]]:
    found = {}
    for group in body["groups"]:
        key = group.pop("key", None)
        value = None if key is None else (key.get("name") if key["type"] == "stage" else key.get("value"))
        found[(value, group.pop("bucket", None))] = group
    return found
