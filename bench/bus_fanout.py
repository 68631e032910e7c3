"""Event bus fan-out: publish → every subscriber, in-process vs Redis, in one run.

Prints events/s, p50/p99 publish-to-receive latency and lost notices for each backend at a few
subscriber counts, plus the Redis/in-process ratio. Services publish from worker threads, so
this does too.

    .venv/bin/python bench/bus_fanout.py [--events 2000] [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from opssight.events import QUEUE_SIZE, Event, RedisBus, make_bus


async def run(redis_url: str | None, subscribers: int, events: int) -> dict[str, float]:
    """Publish ``events`` from a thread in bursts no larger than a listener queue, then report.

    Listener queues are bounded (a full queue drops its oldest notice: listeners re-read state),
    so each burst waits until every subscriber has drained it; drops are counted, not hidden.
    """
    bus = make_bus(redis_url)
    latencies: list[float] = []
    received = [0] * subscribers
    burst = QUEUE_SIZE // 2

    async def listen(index: int, ready: asyncio.Event) -> None:
        async with bus.subscribe("bench") as subscription:
            ready.set()
            async for event in subscription:
                latencies.append(time.perf_counter() - float(event.keys["t"]))
                received[index] += 1

    readies = [asyncio.Event() for _ in range(subscribers)]
    tasks = [asyncio.create_task(listen(i, r)) for i, r in enumerate(readies)]
    await asyncio.gather(*(r.wait() for r in readies))

    def publish(count: int) -> None:
        for _ in range(count):
            bus.publish(Event(topic="bench", keys={"t": repr(time.perf_counter())}))

    started = time.perf_counter()
    sent = 0
    while sent < events:
        count = min(burst, events - sent)
        await asyncio.to_thread(publish, count)
        sent += count
        deadline = time.perf_counter() + 5
        while min(received) < sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.0005)
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if isinstance(bus, RedisBus):
        await bus.aclose()
    ordered = sorted(latencies)
    return {
        "rate": sent / elapsed,
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000,
        "lost": subscribers * sent - sum(received),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    print(f"{'backend':<11} {'subs':>4} {'events/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'lost':>6}")
    for subscribers in (1, 10, 50):
        rates = {}
        for name, url in (("in-process", None), ("redis", args.redis)):
            r = asyncio.run(run(url, subscribers, args.events))
            rates[name] = r["rate"]
            print(
                f"{name:<11} {subscribers:>4} {r['rate']:>10,.0f} {r['p50']:>8.2f} "
                f"{r['p99']:>8.2f} {r['lost']:>6.0f}"
            )
        print(
            f"{'redis/local':<11} {subscribers:>4} {rates['redis'] / rates['in-process']:>10.2f}x"
        )


if __name__ == "__main__":
    main()
