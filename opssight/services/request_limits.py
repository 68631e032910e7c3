"""Request rate limits per client address: a sliding window of one minute, shared by workers.

The estimate for a client is ``previous minute's count x the part of it still in the window +
this minute's count`` (the sliding-window counter): no burst of twice the limit at a minute's
edge, two integers per client. Refused requests are not counted.

Cheap on the hot path: each worker decides from its own copy of the counts, in memory. With
Redis, it adds its hits to the shared count of the minute (``opssight:rl:<name>:<client>:<minute>``,
INCRBY + EXPIRE, reading the previous minute's in the same round trip) in the background, every
``limit / 100`` hits or every second, whichever comes first; only a client's first request of a
minute on a worker waits for the shared count. So the workers together may let through about
one second of traffic (and 1% of the limit) each beyond the limit: a limit against floods, not an
exact quota. While Redis is away, each worker limits on its own counts (one warning per outage).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

import redis
import redis.asyncio as aioredis
import structlog

log = structlog.get_logger(__name__)

WINDOW_SECONDS = 60
SYNC_SECONDS = 1.0
RETRY_REDIS_AFTER_SECONDS = 5.0
PRUNE_ABOVE = 10_000  # clients remembered before old minutes are dropped
KEY_PREFIX = "opssight:rl:"


@dataclass(slots=True)
class Count:
    """One client's counts in one window, as this worker knows them."""

    window: int
    total: int = 0  # this window's hits: every worker's as last synced, plus ours since
    pending: int = 0  # our hits not yet added to the shared count
    previous: int = 0  # the previous window's total
    synced_at: float = 0.0
    syncing: bool = False
    warned: bool = False

    def estimate(self, elapsed: float) -> float:
        return self.previous * (1 - elapsed / WINDOW_SECONDS) + self.total

    def retry_after(self, limit: int, elapsed: float) -> int:
        """Seconds until the estimate drops below ``limit``."""
        if self.total >= limit:  # wait for the next window, then for this one to fade enough
            wait = WINDOW_SECONDS - elapsed + WINDOW_SECONDS * (1 - limit / self.total)
        else:
            wait = WINDOW_SECONDS * (1 - (limit - self.total) / self.previous) - elapsed
        return max(1, math.ceil(wait))


class Limiter:
    """``limit`` requests per minute and client; ``redis_url`` shares the counts."""

    def __init__(self, name: str, limit: int, redis_url: str | None = None) -> None:
        self.name, self.limit, self.redis_url = name, limit, redis_url
        self.sync_every = max(1, limit // 100)
        self._counts: dict[str, Count] = {}
        self._clients: dict[asyncio.AbstractEventLoop, aioredis.Redis] = {}
        self._tasks: set[asyncio.Task] = set()
        self._down_until = 0.0

    def check(self, client: str) -> int | None:
        """0: allowed (and counted); > 0: refused, retry after that many seconds; None: this
        worker has no count for the client yet this minute (await ``check_shared``)."""
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        count = self._counts.get(client)
        if count is None or count.window != window:
            if self._shared():
                return None
            count = self._roll(client, count, window)
        return self._decide(client, count, now - window * WINDOW_SECONDS)

    async def check_shared(self, client: str) -> int:
        """``check`` after reading the client's shared counts of this minute and the last."""
        window = int(time.time() // WINDOW_SECONDS)
        count = self._counts.get(client)
        if count is None or count.window != window:
            count = self._roll(client, count, window)
            await self._sync(client, count)
        return self._decide(client, count, time.time() - window * WINDOW_SECONDS)

    def _roll(self, client: str, old: Count | None, window: int) -> Count:
        if len(self._counts) >= PRUNE_ABOVE:
            self._counts = {k: c for k, c in self._counts.items() if c.window >= window - 1}
        previous = old.total if old is not None and old.window == window - 1 else 0
        count = self._counts[client] = Count(window, previous=previous)
        return count

    def _decide(self, client: str, count: Count, elapsed: float) -> int:
        if count.estimate(elapsed) >= self.limit:
            if not count.warned:  # once per client and minute
                count.warned = True
                log.warning("http.rate_limited", limit=self.name, client=client)
            return count.retry_after(self.limit, elapsed)
        count.total += 1
        if self._shared():
            count.pending += 1
            if not count.syncing and (
                count.pending >= self.sync_every
                or time.monotonic() - count.synced_at >= SYNC_SECONDS
            ):
                self._sync_later(client, count)
        return 0

    def _sync_later(self, client: str, count: Count) -> None:
        count.syncing = True
        task = asyncio.get_running_loop().create_task(self._sync(client, count))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _shared(self) -> bool:
        return self.redis_url is not None and time.monotonic() >= self._down_until

    async def _sync(self, client: str, count: Count) -> None:
        """Add our pending hits to the shared count; take the totals back."""
        count.syncing = True
        sent = count.pending
        key = f"{KEY_PREFIX}{self.name}:{client}:"
        try:
            async with self._client().pipeline(transaction=False) as pipe:
                pipe.incrby(f"{key}{count.window}", sent)
                pipe.expire(f"{key}{count.window}", 2 * WINDOW_SECONDS)
                pipe.get(f"{key}{count.window - 1}")
                total, _, previous = await pipe.execute()
        except (redis.RedisError, OSError) as exc:
            if time.monotonic() >= self._down_until + RETRY_REDIS_AFTER_SECONDS:
                log.warning("http.rate_limit_unshared", limit=self.name, error=str(exc))
            self._down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS
            count.pending = 0  # counted here only
        else:
            count.pending -= sent
            count.total = int(total) + count.pending
            count.previous = max(count.previous, int(previous or 0))
        finally:
            count.synced_at = time.monotonic()
            count.syncing = False
        if count.pending >= self.sync_every and self._shared():  # hits that came meanwhile
            self._sync_later(client, count)

    def _client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = aioredis.Redis.from_url(
                self.redis_url, socket_connect_timeout=1, socket_timeout=1
            )
        return client
