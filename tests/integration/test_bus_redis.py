"""The Redis bus between processes, and how it behaves while Redis is down and after it returns."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest

from opssight.events import Event, RedisBus, Subscription
from tests.support import RedisProcess, free_port


@pytest.fixture
async def buses() -> AsyncIterator[list[RedisBus]]:
    """Buses made by a test; their reader tasks are stopped before the loop closes."""
    made: list[RedisBus] = []
    yield made
    for bus in made:
        for task in bus._readers.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        bus._client.close()


def new_bus(buses: list[RedisBus], url: str) -> RedisBus:
    bus = RedisBus(url)
    buses.append(bus)
    return bus


async def wait_for_marker(subscription: Subscription, marker: str) -> Event:
    """The next event carrying ``marker`` (the shared Redis may carry other runs' events)."""
    while True:
        event = await subscription.queue.get()
        if event.keys.get("marker") == marker:
            return event


async def publish_until_received(
    publisher: RedisBus, subscription: Subscription, topic: str, timeout: float
) -> Event:
    """Publish every 0.2 s until the subscriber gets it: the reader connects asynchronously."""
    marker = uuid.uuid4().hex

    async def keep_publishing() -> None:
        while True:
            publisher.publish(Event(topic=topic, keys={"marker": marker}))
            await asyncio.sleep(0.2)

    pump = asyncio.create_task(keep_publishing())
    try:
        return await asyncio.wait_for(wait_for_marker(subscription, marker), timeout)
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


async def test_event_published_on_one_bus_reaches_another(
    redis_url: str, buses: list[RedisBus]
) -> None:
    subscriber_bus, publisher_bus = new_bus(buses, redis_url), new_bus(buses, redis_url)
    assert subscriber_bus.backend == "redis"
    assert subscriber_bus.ping() >= 0
    async with subscriber_bus.subscribe("connectors") as subscription:
        event = await publish_until_received(publisher_bus, subscription, "connectors.gh", 5)
    assert event.topic == "connectors.gh"


async def test_topic_filter_applies_to_remote_events(redis_url: str, buses: list[RedisBus]) -> None:
    subscriber_bus, publisher_bus = new_bus(buses, redis_url), new_bus(buses, redis_url)
    async with subscriber_bus.subscribe("k8s") as subscription:
        await publish_until_received(publisher_bus, subscription, "k8s", 5)  # reader is live
        marker = uuid.uuid4().hex
        publisher_bus.publish(Event(topic="alerts", keys={"marker": marker, "n": "1"}))
        publisher_bus.publish(Event(topic="k8s.prod", keys={"marker": marker, "n": "2"}))
        event = await asyncio.wait_for(wait_for_marker(subscription, marker), 5)
    assert (event.topic, event.keys["n"]) == ("k8s.prod", "2")


async def test_event_keys_and_time_survive_the_trip(redis_url: str, buses: list[RedisBus]) -> None:
    subscriber_bus, publisher_bus = new_bus(buses, redis_url), new_bus(buses, redis_url)
    async with subscriber_bus.subscribe("jobs") as subscription:
        await publish_until_received(publisher_bus, subscription, "jobs", 5)
        marker = uuid.uuid4().hex
        sent = Event(topic="jobs.run", keys={"marker": marker, "run": "7"})
        publisher_bus.publish(sent)
        received = await asyncio.wait_for(wait_for_marker(subscription, marker), 5)
    assert received == sent


async def test_event_published_right_after_subscribing_is_delivered(
    redis_url: str, buses: list[RedisBus]
) -> None:
    subscriber_bus, publisher_bus = new_bus(buses, redis_url), new_bus(buses, redis_url)
    async with subscriber_bus.subscribe("connectors") as subscription:
        marker = uuid.uuid4().hex
        publisher_bus.publish(Event(topic="connectors", keys={"marker": marker}))
        await asyncio.wait_for(wait_for_marker(subscription, marker), 1)


async def test_redis_outage_degrades_to_local_delivery_and_recovers(
    private_redis: RedisProcess, buses: list[RedisBus]
) -> None:
    bus = new_bus(buses, private_redis.url)
    async with bus.subscribe("connectors") as subscription:
        await publish_until_received(bus, subscription, "connectors", 5)

        private_redis.stop()
        with pytest.raises(Exception):  # noqa: B017  (any client error: Redis really is down)
            bus.ping()
        marker = uuid.uuid4().hex
        bus.publish(Event(topic="connectors", keys={"marker": marker}))  # must not raise
        local = await asyncio.wait_for(wait_for_marker(subscription, marker), 2)
        assert local.topic == "connectors"

        private_redis.start()
        other_process = new_bus(buses, private_redis.url)
        remote = await publish_until_received(other_process, subscription, "connectors", 10)
        assert remote.topic == "connectors"
        assert bus.ping() >= 0


async def test_publish_with_redis_down_from_the_start(buses: list[RedisBus]) -> None:
    bus = new_bus(buses, f"redis://127.0.0.1:{free_port()}/0")
    async with bus.subscribe("alerts") as subscription:
        for n in range(3):  # the second and third go straight to local delivery
            bus.publish(Event(topic="alerts", keys={"marker": "down", "n": str(n)}))
        received = [
            (await asyncio.wait_for(wait_for_marker(subscription, "down"), 5)).keys["n"]
            for _ in range(3)
        ]
    assert received == ["0", "1", "2"]
