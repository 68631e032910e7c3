"""Rate limits on the public doors over HTTP: 429 with Retry-After beyond the limit, per client
address, shared by two app instances (workers) through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
import redis

from opssight.api import create_api
from tests.support import RedisProcess, reset_caches

WEBHOOK = "/api/webhooks/github"


def app_client(address: str = "10.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_api(), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch, settings_database: None) -> Callable[..., None]:
    def configure(ingest: int = 6000, sign_in: int = 120, **more: str) -> None:
        monkeypatch.setenv("OPSSIGHT_GITHUB_WEBHOOK_SECRET", "rate-limit-test-secret-0123456789")
        monkeypatch.setenv("OPSSIGHT_RATE_LIMIT_WEBHOOKS_PER_MINUTE", str(ingest))
        monkeypatch.setenv("OPSSIGHT_RATE_LIMIT_PER_MINUTE", str(sign_in))
        for name, value in more.items():
            monkeypatch.setenv(f"OPSSIGHT_{name.upper()}", value)
        reset_caches()

    return configure


async def post_webhooks(client: httpx.AsyncClient, count: int) -> list[httpx.Response]:
    """Unsigned deliveries: refused 401 by the route, but each one is a request to count."""
    return [await client.post(WEBHOOK, content=b"{}") for _ in range(count)]


async def test_a_burst_beyond_the_limit_gets_429_with_retry_after(limits) -> None:
    limits(ingest=5)
    async with app_client() as client:
        under = await post_webhooks(client, 5)
        assert [r.status_code for r in under] == [401] * 5, "under the limit the route answers"
        over = await post_webhooks(client, 3)
    assert [r.status_code for r in over] == [429] * 3
    assert 1 <= int(over[0].headers["retry-after"]) <= 120
    assert over[0].json()["result"] == "rate_limited"
    assert over[0].headers["x-content-type-options"] == "nosniff", "answered inside HttpMiddleware"


async def test_each_client_address_has_its_own_count(limits) -> None:
    limits(ingest=2)
    async with app_client("10.0.0.1") as first, app_client("10.0.0.2") as second:
        assert [r.status_code for r in await post_webhooks(first, 3)] == [401, 401, 429]
        # a new app instance has counts of its own: the second client, same limit, fresh
        assert [r.status_code for r in await post_webhooks(second, 2)] == [401, 401]


async def test_behind_a_proxy_the_forwarded_address_is_limited(limits) -> None:
    limits(ingest=1, proxy_hops="1")
    async with app_client("10.9.9.9") as proxy:  # every request comes from the proxy
        answers = [
            await proxy.post(WEBHOOK, content=b"{}", headers={"X-Forwarded-For": f"spoof, {ip}"})
            for ip in ("203.0.113.1", "203.0.113.2", "203.0.113.1")
        ]
    assert [r.status_code for r in answers] == [401, 401, 429]


async def test_sign_in_doors_refuse_json_with_429_and_browsers_with_a_message(limits) -> None:
    limits(sign_in=2)
    async with app_client() as client:
        me = [await client.get("/api/auth/me", headers={"Accept": "application/json"})
              for _ in range(3)]  # fmt: skip
        page = await client.post(
            "/api/auth/login",
            data={"login": "admin", "password": "x"},
            headers={"Accept": "text/html,application/xhtml+xml"},
        )
        webhook = await client.post(WEBHOOK, content=b"{}")
    assert [r.status_code for r in me] == [401, 401, 429]
    assert page.status_code == 303 and page.headers["location"] == "/login?error=rate_limited"
    assert int(page.headers["retry-after"]) >= 1
    assert webhook.status_code == 401, "the ingest doors have a limit of their own"


async def test_a_limit_of_zero_is_no_limit(limits) -> None:
    limits(ingest=0)
    async with app_client() as client:
        assert {r.status_code for r in await post_webhooks(client, 30)} == {401}


@pytest.fixture
async def shared(private_redis: RedisProcess, limits) -> AsyncIterator[RedisProcess]:
    limits(ingest=10, redis_url=private_redis.url)
    yield private_redis


async def test_two_workers_share_the_count_through_redis(shared: RedisProcess) -> None:
    store = redis.Redis.from_url(shared.url)
    async with app_client() as worker_a, app_client() as worker_b:
        assert {r.status_code for r in await post_webhooks(worker_a, 10)} == {401}
        for _ in range(100):  # worker A adds its hits to the shared count in the background
            counts = [int(store.get(k)) for k in store.keys("opssight:rl:ingest:10.0.0.1:*")]
            if sum(counts) >= 10:
                break
            await asyncio.sleep(0.05)
        assert sum(counts) == 10
        refused = await post_webhooks(worker_b, 3)
        assert [r.status_code for r in refused] == [429] * 3, "B knows A's ten requests"
        assert int(refused[0].headers["retry-after"]) >= 1


async def test_without_redis_counts_are_per_worker_and_limits_still_hold(
    shared: RedisProcess,
) -> None:
    shared.stop()
    try:
        async with app_client() as client:
            answers = await post_webhooks(client, 12)
        assert [r.status_code for r in answers] == [401] * 10 + [429] * 2
    finally:
        shared.start()
