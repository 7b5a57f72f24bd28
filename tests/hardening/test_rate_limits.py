"""Rate limits: a fixed window per principal, X-RateLimit-* headers, 429 with Retry-After, per-token limits,
one count shared through Redis by several servers, and fail-open when the storage is gone."""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from harness import another_token, new_org, serving

from contract import assert_conforms
from incidentd.config import Settings
from incidentd.identity import repository as identity_repository
from test_outages import TcpProxy

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def window_headers(response) -> tuple[int, int, int]:
    return (
        int(response.headers["x-ratelimit-limit"]),
        int(response.headers["x-ratelimit-remaining"]),
        int(response.headers["x-ratelimit-reset"]),
    )


def assert_too_many(response, *, limit: int) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert_conforms("/dev-users.self", "get", 429, body)
    assert body["type"] == "too_many_requests"
    assert set(body) == {"type", "message", "retry_after"}
    assert body["retry_after"] == int(response.headers["retry-after"]) >= 1
    assert window_headers(response)[:2] == (limit, 0)
    return body["retry_after"]


async def test_every_authenticated_response_carries_the_window(settings: Settings):
    async with serving(settings, rate_limit_requests=10) as served:
        holder = await new_org(served.app)
        started = time.time()
        answers = [
            await served.client.get("/dev-users.self", headers=holder.headers),
            await served.client.post(
                "/dev-users.create", json={"email": "a@x.test", "state": "shadow"}, headers=holder.headers
            ),
            await served.client.post("/dev-users.create", json={"state": "shadow"}, headers=holder.headers),
            await served.client.get("/dev-users.get", params={"id": "DEVU-999"}, headers=holder.headers),
            await served.client.post("/incidents.create", json={"title": "x", "nope": 1}, headers=holder.headers),
        ]
        assert [r.status_code for r in answers] == [200, 201, 400, 404, 400]
        windows = [window_headers(response) for response in answers]
        assert [remaining for _, remaining, _ in windows] == [9, 8, 7, 6, 5]
        assert {limit for limit, _, _ in windows} == {10}
        resets = {reset for _, _, reset in windows}
        assert len(resets) == 1
        assert started + 300 - 1 <= resets.pop() <= math.ceil(time.time()) + 300

        # Public paths and unauthenticated answers are not counted and carry no window.
        for response in (
            await served.client.get("/health"),
            await served.client.get("/ready"),
            await served.client.get("/dev-users.self"),
        ):
            assert "x-ratelimit-limit" not in response.headers
        assert window_headers(await served.client.get("/dev-users.self", headers=holder.headers))[1] == 4


async def test_over_the_limit_is_429_with_retry_after_and_has_no_effect(settings: Settings):
    async with serving(settings, rate_limit_requests=3) as served:
        holder = await new_org(served.app)
        other = await new_org(served.app)
        for _ in range(3):
            assert (await served.client.get("/dev-users.self", headers=holder.headers)).status_code == 200
        response = await served.client.post(
            "/dev-users.create", json={"email": "late@x.test", "state": "shadow"}, headers=holder.headers
        )
        retry_after = assert_too_many(response, limit=3)
        assert 295 <= retry_after <= 300
        assert abs(int(response.headers["x-ratelimit-reset"]) - (time.time() + retry_after)) <= 2
        listed = await served.client.get("/dev-users.list", headers=other.headers)
        assert listed.status_code == 200  # another principal has its own window
        assert_too_many(await served.client.get("/dev-users.list", headers=holder.headers), limit=3)
        # Nothing was created by the rejected request.
        async with served.db.read() as conn:
            assert await identity_repository.get_user_by_email(conn, holder.org.dev_org_id, "late@x.test") is None


async def test_a_new_window_starts_when_the_old_one_ends(settings: Settings):
    async with serving(settings, rate_limit_requests=2, rate_limit_window_seconds=1) as served:
        holder = await new_org(served.app)
        for _ in range(2):
            assert (await served.client.get("/dev-users.self", headers=holder.headers)).status_code == 200
        response = await served.client.get("/dev-users.self", headers=holder.headers)
        retry_after = assert_too_many(response, limit=2)
        assert retry_after == 1
        await asyncio.sleep(max(0.0, int(response.headers["x-ratelimit-reset"]) - time.time()) + 0.05)
        again = await served.client.get("/dev-users.self", headers=holder.headers)
        assert again.status_code == 200
        assert window_headers(again)[:2] == (2, 1)


async def test_a_token_with_its_own_limit_has_its_own_count(settings: Settings):
    async with serving(settings, rate_limit_requests=2) as probe:
        holder = await new_org(probe.app, "overridden")
        second = await another_token(probe.app, holder)
    async with serving(settings, rate_limit_requests=2, rate_limit_token_limits={holder.token_don: 5}) as served:
        for expected in range(4, -1, -1):
            response = await served.client.get("/dev-users.self", headers=holder.headers)
            assert response.status_code == 200
            assert window_headers(response)[:2] == (5, expected)
        assert_too_many(await served.client.get("/dev-users.self", headers=holder.headers), limit=5)
        # The principal's other token is held to the server's limit, in the principal's own count.
        for expected in (1, 0):
            response = await served.client.get("/dev-users.self", headers=second.headers)
            assert window_headers(response)[:2] == (2, expected)
        assert_too_many(await served.client.get("/dev-users.self", headers=second.headers), limit=2)


async def test_a_token_limit_of_zero_means_unlimited(settings: Settings):
    async with serving(settings) as probe:
        holder = await new_org(probe.app, "unlimited")
    async with serving(settings, rate_limit_requests=1, rate_limit_token_limits={holder.token_don: 0}) as served:
        for _ in range(3):
            response = await served.client.get("/dev-users.self", headers=holder.headers)
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers


def test_token_limits_must_name_auth_tokens_by_don():
    with pytest.raises(ValueError, match="auth token DON"):
        Settings(rate_limit_token_limits={"TOKEN-1": 10})
    with pytest.raises(ValueError, match="auth token DON"):
        Settings(rate_limit_token_limits={"don:identity:dvrv-us-1:devo/x:devu/1": 10})
    with pytest.raises(ValueError):
        Settings(rate_limit_storage="memcached://127.0.0.1")


async def test_two_servers_share_one_count_through_redis(settings: Settings):
    async with (
        serving(settings, rate_limit_requests=4, rate_limit_storage=REDIS_URL) as first,
        serving(settings, rate_limit_requests=4, rate_limit_storage=REDIS_URL) as second,
    ):
        holder = await new_org(first.app)  # the same database: both servers know the token
        remaining = []
        for served in (first, second, first, second):
            response = await served.client.get("/dev-users.self", headers=holder.headers)
            assert response.status_code == 200
            remaining.append(window_headers(response)[1])
        assert remaining == [3, 2, 1, 0]
        assert_too_many(await second.client.get("/dev-users.self", headers=holder.headers), limit=4)
        assert_too_many(await first.client.get("/dev-users.self", headers=holder.headers), limit=4)


async def test_redis_unreachable_fails_open_logs_once_and_recovers(settings: Settings, capsys):
    proxy = TcpProxy(REDIS_HOST, REDIS_PORT)
    await proxy.start()
    url = f"redis://127.0.0.1:{proxy.port}/0"
    async with serving(settings, rate_limit_requests=3, rate_limit_storage=url) as served:
        holder = await new_org(served.app)
        response = await served.client.get("/dev-users.self", headers=holder.headers)
        assert window_headers(response)[:2] == (3, 2)

        await proxy.cut()
        capsys.readouterr()
        for _ in range(6):  # past the limit: nothing is counted while the storage is gone
            started = time.monotonic()
            response = await served.client.get("/dev-users.self", headers=holder.headers)
            assert response.status_code == 200
            assert "x-ratelimit-limit" not in response.headers
            assert time.monotonic() - started < 1
        await asyncio.sleep(1.1)  # past the pause after a failure: the storage is tried (and fails) again
        assert (await served.client.get("/dev-users.self", headers=holder.headers)).status_code == 200
        logged = capsys.readouterr().err
        assert logged.count("rate limit storage unreachable") == 1

        metrics = served.app.metrics
        assert metrics.rate_limit_storage_errors >= 7

        await proxy.start()  # Redis is back on the same address
        await asyncio.sleep(1.1)
        response = await served.client.get("/dev-users.self", headers=holder.headers)
        assert response.status_code == 200
        assert window_headers(response)[:2] == (3, 1)
    await proxy.cut()
