"""The in-process bus: topic filtering, cross-thread delivery, bounded queues, unsubscribe."""

from __future__ import annotations

import asyncio
import threading

from opssight import events
from opssight.events import QUEUE_SIZE, Event, InProcessBus, Subscription

WAIT = 2.0


async def next_event(subscription: Subscription) -> Event:
    return await asyncio.wait_for(subscription.queue.get(), WAIT)


async def settle() -> None:
    """Let call_soon_threadsafe hand-overs already scheduled run."""
    for _ in range(3):
        await asyncio.sleep(0)


async def test_prefix_topics_are_delivered_and_others_are_not() -> None:
    bus = InProcessBus()
    async with bus.subscribe("k8s") as subscription:
        bus.publish(Event(topic="alerts", keys={"id": "a1"}))
        bus.publish(Event(topic="k8s.prod", keys={"pod": "web-1"}))
        bus.publish(Event(topic="k8sx", keys={"id": "not-a-child"}))
        bus.publish(Event(topic="k8s", keys={"id": "end"}))
        first = await next_event(subscription)
        second = await next_event(subscription)
        await settle()
        assert subscription.queue.empty()
    assert (first.topic, first.keys) == ("k8s.prod", {"pod": "web-1"})
    assert (second.topic, second.keys) == ("k8s", {"id": "end"})


async def test_subscriber_without_topics_gets_everything() -> None:
    bus = InProcessBus()
    async with bus.subscribe() as subscription:
        for topic in ("alerts", "k8s.prod", "connectors"):
            bus.publish(Event(topic=topic))
        received = [(await next_event(subscription)).topic for _ in range(3)]
    assert received == ["alerts", "k8s.prod", "connectors"]


async def test_each_subscriber_gets_its_own_copy() -> None:
    bus = InProcessBus()
    async with bus.subscribe("alerts") as one, bus.subscribe("alerts", "k8s") as two:
        bus.publish(Event(topic="alerts", keys={"id": "x"}))
        bus.publish(Event(topic="k8s.dev"))
        assert (await next_event(one)).keys == {"id": "x"}
        assert (await next_event(two)).keys == {"id": "x"}
        assert (await next_event(two)).topic == "k8s.dev"
        await settle()
        assert one.queue.empty()


async def test_publish_from_another_thread_reaches_the_async_subscriber() -> None:
    bus = InProcessBus()
    async with bus.subscribe("jobs") as subscription:
        published_from: list[str] = []

        def worker() -> None:
            published_from.append(threading.current_thread().name)
            bus.publish(Event(topic="jobs.sync", keys={"run": "42"}))

        thread = threading.Thread(target=worker, name="sync-worker")
        thread.start()
        event = await next_event(subscription)
        thread.join(timeout=WAIT)
    assert published_from == ["sync-worker"]
    assert event.topic == "jobs.sync"
    assert event.keys == {"run": "42"}


async def test_publish_from_a_thread_pool_reaches_the_subscriber() -> None:
    bus = InProcessBus()
    async with bus.subscribe("db") as subscription:
        await asyncio.to_thread(bus.publish, Event(topic="db.commit", keys={"n": "1"}))
        assert (await next_event(subscription)).keys == {"n": "1"}


async def test_full_queue_drops_the_oldest_notices() -> None:
    bus = InProcessBus()
    extra = 5
    async with bus.subscribe("flood") as subscription:
        for n in range(QUEUE_SIZE + extra):
            bus.publish(Event(topic="flood", keys={"n": str(n)}))
        await settle()
        assert subscription.queue.qsize() == QUEUE_SIZE
        received = [int(subscription.queue.get_nowait().keys["n"]) for _ in range(QUEUE_SIZE)]
    assert received == list(range(extra, QUEUE_SIZE + extra))


async def test_nothing_is_enqueued_after_the_subscription_ends() -> None:
    bus = InProcessBus()
    async with bus.subscribe("alerts") as subscription:
        bus.publish(Event(topic="alerts", keys={"when": "inside"}))
        assert (await next_event(subscription)).keys == {"when": "inside"}
    bus.publish(Event(topic="alerts", keys={"when": "after"}))
    await settle()
    assert subscription.queue.empty()


async def test_subscription_ends_even_when_the_listener_fails() -> None:
    bus = InProcessBus()
    kept: list[Subscription] = []
    try:
        async with bus.subscribe("alerts") as subscription:
            kept.append(subscription)
            raise RuntimeError("listener crashed")
    except RuntimeError:
        pass
    bus.publish(Event(topic="alerts"))
    await settle()
    assert kept[0].queue.empty()


async def test_async_iteration_yields_events_in_order() -> None:
    bus = InProcessBus()
    async with bus.subscribe("x") as subscription:
        for n in range(3):
            bus.publish(Event(topic="x", keys={"n": str(n)}))

        async def first_three() -> list[str]:
            seen = []
            async for event in subscription:
                seen.append(event.keys["n"])
                if len(seen) == 3:
                    return seen
            return seen

        assert await asyncio.wait_for(first_three(), WAIT) == ["0", "1", "2"]


def test_publish_with_a_closed_subscriber_loop_does_not_raise() -> None:
    bus = InProcessBus()

    async def subscribe_and_leave_open() -> Subscription:
        manager = bus.subscribe("x")
        return await manager.__aenter__()  # never exited: its loop closes under it

    loop = asyncio.new_event_loop()
    subscription = loop.run_until_complete(subscribe_and_leave_open())
    loop.close()
    bus.publish(Event(topic="x"))  # must not raise to the publisher
    assert subscription.queue.empty()


def test_default_bus_is_in_process_without_redis() -> None:
    bus = events.get_bus()
    assert isinstance(bus, InProcessBus)
    assert bus.backend == "in-process"
    assert bus.ping() == 0.0
    assert events.get_bus() is bus


def test_topic_matching() -> None:
    assert events.topic_matches("k8s.prod", ("k8s",))
    assert events.topic_matches("k8s", ("k8s",))
    assert events.topic_matches("anything", ())
    assert not events.topic_matches("k8sx", ("k8s",))
    assert not events.topic_matches("alerts", ("k8s", "jobs"))
