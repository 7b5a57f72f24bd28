"""/health (liveness, no database), /ready (database + migrations at head) and /metrics (Prometheus text, only
with its bearer token): no authentication and no rate limit."""

from __future__ import annotations

import re

import sqlalchemy as sa
from harness import new_org, serving

from incidentd.config import Settings

METRICS_TOKEN = "scrape-me-please-0123456789"
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
_SAMPLE = re.compile(r'^([a-z_]+)(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? (-?[0-9.e+-]+|\+Inf)$')


def parse_exposition(text: str) -> dict[str, float]:
    """Prometheus' text format, strictly: HELP/TYPE comments, then `name{labels} value` lines."""
    assert text.endswith("\n")
    samples: dict[str, float] = {}
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# "):
            kind, name = line.split(" ")[1:3]
            assert kind in ("HELP", "TYPE"), line
            declared.add(name)
            continue
        match = _SAMPLE.match(line)
        assert match, line
        family = re.sub(r"_(bucket|sum|count)$", "", match.group(1))
        assert family in declared or match.group(1) in declared, line
        samples[match.group(1) + (match.group(2) or "")] = float(match.group(4))
    return samples


async def test_health_and_ready_answer_without_a_token_and_are_not_rate_limited(settings: Settings):
    async with serving(settings, rate_limit_requests=1) as served:
        for _ in range(3):
            health = await served.client.get("/health")
            assert (health.status_code, health.json()) == (200, {"status": "ok"})
            ready = await served.client.get("/ready")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            assert "x-ratelimit-limit" not in health.headers and "x-ratelimit-limit" not in ready.headers


async def test_ready_is_503_while_the_schema_is_behind_the_migrations(settings: Settings):
    async with serving(settings) as served:
        async with served.db.write() as conn:
            await conn.execute(sa.text("UPDATE alembic_version SET version_num = '0003_incidents'"))
        response = await served.client.get("/ready")
        assert response.status_code == 503
        assert response.json()["type"] == "service_unavailable"
        assert "migration" in response.json()["message"]
        assert "retry-after" in response.headers
        assert (await served.client.get("/health")).status_code == 200


async def test_metrics_are_off_unless_a_token_is_set(client):
    response = await client.get("/metrics", headers=SCRAPE)
    assert response.status_code == 404
    assert response.json() == {"type": "not_found", "message": "route not found"}


async def test_metrics_need_their_bearer_token(settings: Settings):
    async with serving(settings, metrics_token=METRICS_TOKEN) as served:
        holder = await new_org(served.app)
        for headers in ({}, {"Authorization": "Bearer wrong"}, holder.headers, {"Authorization": METRICS_TOKEN}):
            response = await served.client.get("/metrics", headers=headers)
            assert response.status_code == 401
            assert response.json()["type"] == "unauthenticated"
            assert response.headers["www-authenticate"] == "Bearer"
        twice = [("Authorization", f"Bearer {METRICS_TOKEN}"), ("Authorization", "Bearer wrong")]
        response = await served.client.get("/metrics", headers=twice)
        assert response.status_code == 400
        assert response.json()["type"] == "bad_request"


async def test_metrics_count_requests_latency_pool_rate_limits_and_replays(settings: Settings):
    async with serving(settings, metrics_token=METRICS_TOKEN, rate_limit_requests=4) as served:
        holder = await new_org(served.app)
        client = served.client
        assert (await client.get("/dev-users.self", headers=holder.headers)).status_code == 200
        assert (await client.get("/dev-users.self", headers=holder.headers)).status_code == 200
        keyed = {**holder.headers, "Idempotency-Key": "m1"}
        assert (await client.post("/tags.create", json={"name": "a"}, headers=keyed)).status_code == 201
        assert (await client.post("/tags.create", json={"name": "a"}, headers=keyed)).status_code == 201
        assert (await client.get("/dev-users.self", headers=holder.headers)).status_code == 429
        assert (await client.get("/no-such-route")).status_code == 404

        response = await client.get("/metrics", headers=SCRAPE)
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert "x-ratelimit-limit" not in response.headers
        text = response.text
        for family, kind in (
            ("incidentd_http_requests_total", "counter"),
            ("incidentd_http_request_duration_seconds", "histogram"),
            ("incidentd_rate_limit_rejections_total", "counter"),
            ("incidentd_idempotent_replays_total", "counter"),
            ("incidentd_db_pool_connections_in_use", "gauge"),
            ("incidentd_db_pool_size", "gauge"),
        ):
            assert f"# TYPE {family} {kind}\n" in text
        samples = parse_exposition(text)

        def requests(method: str, operation: str, status: int) -> float:
            labels = f'{{method="{method}",operation="{operation}",status="{status}"}}'
            return samples[f"incidentd_http_requests_total{labels}"]

        assert requests("GET", "/dev-users.self", 200) == 2
        assert requests("GET", "/dev-users.self", 429) == 1
        assert requests("POST", "/tags.create", 201) == 2
        assert requests("GET", "unmatched", 404) == 1

        latency = 'incidentd_http_request_duration_seconds_{}{{method="GET",operation="/dev-users.self"{}}}'
        assert samples[latency.format("count", "")] == 3
        assert samples[latency.format("bucket", ',le="+Inf"')] == 3
        assert samples[latency.format("sum", "")] > 0
        buckets = [value for name, value in samples.items() if name.startswith(latency.format("bucket", "")[:-1])]
        assert buckets == sorted(buckets)  # cumulative

        assert samples["incidentd_rate_limit_rejections_total"] == 1
        assert samples["incidentd_idempotent_replays_total"] == 1
        assert samples["incidentd_db_pool_connections_in_use"] == 0
        assert samples["incidentd_db_pool_size"] == settings.db_pool_size
        assert samples["incidentd_db_pool_max_connections"] >= settings.db_pool_size

        # Pool use is read at scrape time.
        async with served.db.engine.connect():
            samples = parse_exposition((await client.get("/metrics", headers=SCRAPE)).text)
            assert samples["incidentd_db_pool_connections_in_use"] == 1
