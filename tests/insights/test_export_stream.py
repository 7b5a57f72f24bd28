"""incidents.export: NDJSON of wire incidents and CSV of flat columns, every match in created order, streamed by
keyset pages; filters, validation in DevRev's shape, and isolation between orgs."""

from __future__ import annotations

import csv
import io
import json

import pytest
from corpus import build_corpus, ok

from conftest import Actor, make_org
from incidentd.incidents import exporting

COUNT = 30


@pytest.fixture
async def corpus(client, app, admin: Actor) -> list[dict]:
    return await build_corpus(client, app, admin, COUNT)


def by_id(incidents: list[dict]) -> dict[str, dict]:
    return {incident["id"]: incident for incident in incidents}


async def test_ndjson_holds_every_incident_as_get_answers_it_in_several_pages(client, admin, corpus, monkeypatch):
    monkeypatch.setattr(exporting, "PAGE", 7)  # several keyset pages, one partial
    response = await client.post("/incidents.export", json={}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert 'filename="incidents.ndjson"' in response.headers["content-disposition"]
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == COUNT
    assert by_id(lines) == by_id(corpus)
    order = [(line["created_date"], int(line["id"].rsplit("/", 1)[1])) for line in lines]
    assert order == sorted(order)  # oldest first; no incident twice


async def test_filters_select_what_is_exported_and_get_answers_as_post(client, admin, corpus):
    wanted = {i["id"] for i in corpus if i.get("severity", {}).get("id") == 1 and "actual_close_date" in i}
    body = {"severity": [1], "stage": ["resolved"]}
    post = await client.post("/incidents.export", json=body, headers=admin.headers)
    get = await client.get("/incidents.export", params={"severity": "1", "stage": "resolved"}, headers=admin.headers)
    assert post.text == get.text
    assert {json.loads(line)["id"] for line in post.text.splitlines()} == wanted


async def test_csv_has_the_documented_columns_and_custom_fields(client, admin, corpus):
    response = await client.get("/incidents.export", params={"format": "csv"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [*exporting.CSV_COLUMNS, "custom_fields.tnt__region"]
    assert len(rows) == COUNT
    truth = by_id(corpus)
    for row in rows:
        incident = truth[row["id"]]
        assert row["display_id"] == incident["display_id"] and row["title"] == incident["title"]
        assert row["severity"] == incident.get("severity", {}).get("label", "")
        assert row["stage"] == incident["stage"]["stage"]["name"]
        assert row["state"] == incident["stage"]["state"]["name"]
        assert row["owned_by"].split() == [owner["display_id"] for owner in incident.get("owned_by", [])]
        for date in ("created_date", "acknowledged_date", "mitigated_date", "actual_close_date", "target_close_date"):
            assert row[date] == incident.get(date, "")
        assert row["custom_fields.tnt__region"] == incident.get("custom_fields", {}).get("tnt__region", "")


async def test_an_empty_org_exports_nothing_but_the_csv_header(client, admin):
    assert (await client.post("/incidents.export", json={}, headers=admin.headers)).text == ""
    header = (await client.post("/incidents.export", json={"format": "csv"}, headers=admin.headers)).text
    assert header == ",".join(exporting.CSV_COLUMNS) + "\r\n"


@pytest.mark.parametrize(
    ("body", "field", "error_type"),
    [
        ({"format": "xml"}, "format", "invalid_enum_value"),
        ({"severity": ["sev9"]}, "severity[0]", "invalid_enum_value"),
        ({"custom_fields": {"tnt__nope": 1}}, "custom_fields.tnt__nope", "invalid_field"),
        ({"owned_by": ["x"] * 1001}, "owned_by", "invalid_field"),
        ({"limit": 5}, "limit", "invalid_field"),
    ],
)
async def test_bad_requests_are_400_naming_the_field_before_any_byte(client, admin, body, field, error_type):
    response = await client.post("/incidents.export", json=body, headers=admin.headers)
    assert response.status_code == 400, response.text
    assert response.json()["type"] == error_type and response.json()["field_name"] == field


async def test_another_org_exports_none_of_this_orgs_incidents(client, app, admin, corpus):
    stranger = await make_org(app, "stranger")
    assert (await client.post("/incidents.export", json={}, headers=stranger.headers)).text == ""
    owner = next(owner["id"] for incident in corpus for owner in incident.get("owned_by", []))
    filtered = await client.post("/incidents.export", json={"owned_by": [owner]}, headers=stranger.headers)
    assert filtered.status_code == 200 and filtered.text == ""
    assert (await ok(await client.post("/incidents.metrics", json={}, headers=admin.headers)))["groups"]
