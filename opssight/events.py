"""The event bus: services publish small ``Event(topic, keys)`` after a commit; listeners re-read.

``InProcessBus`` fans out to subscribers in this process (the embedded default). ``RedisBus``
publishes on a Redis channel and runs one reader per process that feeds the same local fan-out,
so every worker sees every event. A Redis outage never raises to the caller: publishing logs and
falls back to local delivery, and the reader reconnects with backoff.

Publishing also counts a *generation* per topic and per parent topic (``k8s.prod`` counts
``k8s`` too), before any listener can see the event: in Redis (``opssight:gen:<topic>``, in the
same transaction as the PUBLISH) or in this process. ``services.cache`` serves a cached view
only while the generations it was computed under are unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from functools import lru_cache

import redis
import redis.asyncio as aioredis
import structlog
from pydantic import BaseModel, Field

from opssight.config import get_settings

log = structlog.get_logger(__name__)

CHANNEL = "opssight:events"
GENERATION_PREFIX = "opssight:gen:"
QUEUE_SIZE = 256
RECONNECT_MAX_SECONDS = 5.0
SUBSCRIBE_WAIT_SECONDS = 2.0


class Event(BaseModel):
    """A change notice: which topic moved and the natural keys of what changed, never a payload."""

    topic: str
    keys: dict[str, str] = Field(default_factory=dict)
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def topic_tags(topic: str) -> list[str]:
    """The topic and its parents, whose generations an event on it moves: ``k8s``, ``k8s.prod``."""
    parts = topic.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def topic_matches(topic: str, wanted: tuple[str, ...]) -> bool:
    """``k8s`` matches ``k8s.prod``; an empty filter matches everything."""
    return not wanted or any(topic == w or topic.startswith(w + ".") for w in wanted)


class Subscription:
    """One listener's queue, bound to the event loop it waits on."""

    def __init__(self, topics: tuple[str, ...]) -> None:
        self.topics = topics
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=QUEUE_SIZE)

    def offer(self, event: Event) -> None:
        """Thread-safe hand-over; a full queue drops its oldest notice (listeners re-read)."""
        self.loop.call_soon_threadsafe(self._put, event)

    def _put(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()


class InProcessBus:
    """Fan-out to the subscribers of this process; publish is thread-safe and never blocks."""

    backend = "in-process"

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._generations: Counter[str] = Counter()

    def publish(self, event: Event) -> None:
        self._count(event.topic)
        self._deliver_locally(event)

    def _count(self, topic: str) -> None:
        with self._lock:
            self._generations.update(topic_tags(topic))

    def generations(self, topics: Iterable[str]) -> tuple[int, ...]:
        """How many events this process published on each topic (with its sub-topics)."""
        with self._lock:
            return tuple(self._generations[topic] for topic in topics)

    def _deliver_locally(self, event: Event) -> None:
        with self._lock:
            targets = [s for s in self._subscriptions if topic_matches(event.topic, s.topics)]
        for subscription in targets:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                subscription.offer(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, *topics: str) -> AsyncIterator[Subscription]:
        subscription = Subscription(tuple(topics))
        with self._lock:
            self._subscriptions.add(subscription)
        try:
            await self._on_subscribe()
            yield subscription
        finally:
            with self._lock:
                self._subscriptions.discard(subscription)

    async def _on_subscribe(self) -> None:
        """Hook for buses that need a reader running before events can arrive."""

    def ping(self) -> float:
        return 0.0


class RedisBus(InProcessBus):
    """Redis pub/sub between processes; local fan-out inside each process."""

    backend = "redis"

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self._client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._readers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._listening: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
        self._down_until = 0.0

    def publish(self, event: Event) -> None:
        if time.monotonic() < self._down_until:
            self._deliver_locally(event)
            return
        try:
            with self._client.pipeline(transaction=True) as pipe:
                for tag in topic_tags(event.topic):
                    pipe.incr(GENERATION_PREFIX + tag)
                pipe.publish(CHANNEL, event.model_dump_json())
                pipe.execute()
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + 2.0
            log.warning("bus.publish_degraded", error=str(exc), topic=event.topic)
            self._deliver_locally(event)

    async def _on_subscribe(self) -> None:
        """Start this loop's reader and wait (briefly, Redis may be down) until it listens."""
        loop = asyncio.get_running_loop()
        reader = self._readers.get(loop)
        if reader is None or reader.done():
            listening = self._listening[loop] = asyncio.Event()
            self._readers[loop] = loop.create_task(
                self._read_forever(listening), name="opssight-bus"
            )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening[loop].wait(), SUBSCRIBE_WAIT_SECONDS)

    async def aclose(self) -> None:
        """Stop this loop's reader (tests and shutdown)."""
        reader = self._readers.pop(asyncio.get_running_loop(), None)
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read_forever(self, listening: asyncio.Event) -> None:
        delay = 0.2
        while True:
            client = aioredis.Redis.from_url(self.url, socket_connect_timeout=1)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._dispatch(await pubsub.get_message(timeout=1))  # confirms the subscribe
                    listening.set()
                    if delay > 0.2:
                        log.info("bus.reconnected", backend=self.backend)
                    delay = 0.2
                    async for message in pubsub.listen():
                        self._dispatch(message)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError, ValueError) as exc:
                listening.clear()
                log.warning("bus.reader_down", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
            finally:
                await client.aclose()

    def _dispatch(self, message: dict | None) -> None:
        if message and message.get("type") == "message":
            self._deliver_locally(Event.model_validate_json(message["data"]))

    def ping(self) -> float:
        started = time.perf_counter()
        self._client.ping()
        return (time.perf_counter() - started) * 1000


Bus = InProcessBus | RedisBus


def make_bus(redis_url: str | None) -> Bus:
    return RedisBus(redis_url) if redis_url else InProcessBus()


@lru_cache
def get_bus() -> Bus:
    """The process-wide bus chosen by ``OPSSIGHT_REDIS_URL``."""
    return make_bus(get_settings().redis_url)
