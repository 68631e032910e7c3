"""A cache for expensive views, shared by workers through Redis and invalidated by bus events.

``get_or_set(key, compute, ttl=..., topics=..., model=...)`` returns the cached value of
``key`` or computes, stores and returns it. Values go to Redis as JSON (``model`` is the pydantic
model or type they validate back into), and each worker keeps those it read or wrote in memory;
without ``OPSSIGHT_REDIS_URL`` they stay in this process. Either way callers share the objects
they get: they must not change them.

Invalidation is by *generations*, not by deleting keys. Publishing an event counts a generation
for its topic and parent topics before any listener sees it (``events.RedisBus.publish``: INCR
and PUBLISH in one Redis transaction). A value is stored with the generations of its ``topics``
read *before* it was computed, and served only while they are unchanged (a read takes the
generations first, in one small round trip, then the value unless this worker holds it). So:

- a listener woken by an event always reads the new generation and recomputes;
- a value computed while an event was published is stored under the old generation, never
  served;
- nothing has to be subscribed for an invalidation to take effect: a worker that just started,
  or whose pub/sub reader is reconnecting, still never serves a value older than the last event.

``ttl`` bounds the age of a value anyway: views over "the last N days" end at the time they were
computed, and an event published while Redis was unreachable did not count (its value may be
served until the TTL). ``OPSSIGHT_CACHE_TTL_SECONDS=0`` turns caching off. While Redis is down,
values are computed every time (one warning per outage). Concurrent misses of one key in a
process compute it once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import redis
import structlog
from pydantic import TypeAdapter

from opssight.config import get_settings
from opssight.events import GENERATION_PREFIX, get_bus

log = structlog.get_logger(__name__)

T = TypeVar("T")
KEY_PREFIX = "opssight:cache:"
RETRY_REDIS_AFTER_SECONDS = 5.0
MEMORY_ENTRIES = 512
MISS: Any = object()

Generations = tuple[int, ...]


class LocalValues:
    """Values in this process, with the generations they were computed under (least recently
    used dropped beyond ``MEMORY_ENTRIES``)."""

    def __init__(self) -> None:
        self._values: OrderedDict[str, tuple[Generations, float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, generations: Generations) -> Any:
        with self._lock:
            entry = self._values.get(key)
            if entry is None or entry[0] != generations or entry[1] < time.monotonic():
                return MISS
            self._values.move_to_end(key)
            return entry[2]

    def put(self, key: str, generations: Generations, value: Any, ttl: float) -> None:
        with self._lock:
            self._values[key] = (generations, time.monotonic() + ttl, value)
            self._values.move_to_end(key)
            while len(self._values) > MEMORY_ENTRIES:
                self._values.popitem(last=False)


class MemoryStore:
    """This process's values; generations counted by the in-process bus."""

    def __init__(self) -> None:
        self._local = LocalValues()

    def read(self, key: str, topics: Sequence[str], model: Any) -> tuple[Generations, Any]:
        generations = get_bus().generations(topics)
        return generations, self._local.get(key, generations)

    def write(self, key: str, generations: Generations, value: Any, ttl: float, model: Any) -> None:
        self._local.put(key, generations, value, ttl)


class RedisStore:
    """Values shared by every worker: ``<generations>|<json>`` under ``opssight:cache:<key>``.

    Each worker also keeps the values it read or wrote in memory, under their generations: a
    read first takes the generations (one small round trip) and fetches and parses the value only
    when this worker does not hold it already (many tabs re-read one view on each event)."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._local = LocalValues()

    def read(self, key: str, topics: Sequence[str], model: Any) -> tuple[Generations, Any]:
        counters = self._redis.mget([GENERATION_PREFIX + topic for topic in topics])
        generations = tuple(int(c or 0) for c in counters)
        value = self._local.get(key, generations)
        if value is not MISS:
            return generations, value
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.get(KEY_PREFIX + key)
            pipe.pttl(KEY_PREFIX + key)
            stored, left_ms = pipe.execute()
        if stored is None:
            return generations, MISS
        tag, _, text = stored.partition(b"|")
        if tag != _tag(generations):
            return generations, MISS
        try:
            value = _adapter(model).validate_json(text)
        except ValueError:  # stored by another version of the app: compute it again
            return generations, MISS
        self._local.put(key, generations, value, max(left_ms, 0) / 1000)
        return generations, value

    def write(self, key: str, generations: Generations, value: Any, ttl: float, model: Any) -> None:
        text = _adapter(model).dump_json(value)
        self._redis.set(KEY_PREFIX + key, _tag(generations) + b"|" + text, px=int(ttl * 1000))
        self._local.put(key, generations, value, ttl)


def _tag(generations: Generations) -> bytes:
    return ",".join(map(str, generations)).encode()


@lru_cache(maxsize=64)
def _adapter(model: Any) -> TypeAdapter:
    return TypeAdapter(model)


Store = MemoryStore | RedisStore


class Cache:
    """``get_or_set`` over a store; a store that fails is skipped for a few seconds."""

    def __init__(self, store: Store, ttl: float) -> None:
        self.store, self.ttl = store, ttl
        self._flights: dict[str, list] = {}  # key -> [lock, callers]: only while in use
        self._flights_guard = threading.Lock()
        self._down_until = 0.0

    def get_or_set(
        self, key: str, compute: Callable[[], T], *, topics: Sequence[str], model: Any,
        ttl: float | None = None,
    ) -> T:  # fmt: skip
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        if ttl <= 0 or time.monotonic() < self._down_until:
            return compute()
        generations, value = self._read(key, topics, model)
        if value is not MISS or generations is None:
            return compute() if value is MISS else value
        # concurrent misses of this key in this process wait for the first one's value
        with self._flight(key):
            generations, value = self._read(key, topics, model)
            if value is not MISS or generations is None:
                return compute() if value is MISS else value
            value = compute()
            try:
                self.store.write(key, generations, value, ttl, model)
            except redis.RedisError as exc:
                self._degrade(exc)
            return value

    @contextmanager
    def _flight(self, key: str) -> Iterator[None]:
        """This key's lock (one per key, so a view computed inside another's compute never waits
        on its caller)."""
        with self._flights_guard:
            flight = self._flights.setdefault(key, [threading.Lock(), 0])
            flight[1] += 1
        try:
            with flight[0]:
                yield
        finally:
            with self._flights_guard:
                flight[1] -= 1
                if flight[1] == 0:
                    del self._flights[key]

    def _read(self, key: str, topics: Sequence[str], model: Any) -> tuple[Generations | None, Any]:
        try:
            return self.store.read(key, topics, model)
        except redis.RedisError as exc:
            self._degrade(exc)
            return None, MISS

    def _degrade(self, exc: redis.RedisError) -> None:
        if time.monotonic() >= self._down_until + RETRY_REDIS_AFTER_SECONDS:
            log.warning("cache.unavailable", error=str(exc))
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS


@lru_cache
def get_cache() -> Cache:
    """The process-wide cache: Redis when ``OPSSIGHT_REDIS_URL`` is set, else in-process."""
    settings = get_settings()
    store = RedisStore(settings.redis_url) if settings.redis_url else MemoryStore()
    return Cache(store, settings.cache_ttl_seconds)


def get_or_set(
    key: str, compute: Callable[[], T], *, topics: Sequence[str], model: Any,
    ttl: float | None = None,
) -> T:  # fmt: skip
    """``compute()``'s value for ``key``, cached until an event on one of ``topics`` (or ``ttl``,
    at most ``OPSSIGHT_CACHE_TTL_SECONDS``); ``model`` is its type (for JSON in Redis)."""
    return get_cache().get_or_set(key, compute, topics=topics, model=model, ttl=ttl)
