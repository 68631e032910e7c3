"""The GitHub rate budget shared by every worker through a Redis hash.

Each reading is merged into the hash in a WATCH/MULTI transaction (a later window wins; within a
window, the lower count), so workers never raise each other's count. While Redis is down the
budget carries on with this process's own copy and logs one warning per outage.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import redis
import structlog

from opssight.integrations.github import MemoryRateBudget, RateState

log = structlog.get_logger(__name__)

RETRY_REDIS_AFTER_SECONDS = 5.0
EXPIRE_AFTER_RESET_SECONDS = 60


class RedisRateBudget:
    """A ``RateBudget`` every worker shares; degrades to an in-memory copy, never raises."""

    def __init__(self, redis_url: str, key: str = "opssight:github:rate") -> None:
        self.key = key
        self._redis = redis.Redis.from_url(
            redis_url, socket_connect_timeout=1, socket_timeout=1, decode_responses=True
        )
        self._local = MemoryRateBudget()
        self._down_until = 0.0
        self._degraded = False

    def update(self, headers: Mapping[str, str]) -> None:
        state = RateState.from_headers(headers)
        if state is None:
            return
        self._local.record(state)
        if self._redis_up():
            try:
                self._redis.transaction(lambda pipe: self._merge(pipe, state), self.key)
            except redis.RedisError as exc:
                self._degrade(exc)
            else:
                self._recovered()

    def state(self) -> RateState | None:
        if self._redis_up():
            try:
                shared = _from_hash(self._redis.hgetall(self.key))
            except redis.RedisError as exc:
                self._degrade(exc)
            else:
                self._recovered()
                if shared is not None:
                    self._local.record(shared)
        return self._local.state()

    def wait_seconds(self, now: float) -> float:
        state = self.state()
        return 0.0 if state is None else state.wait_seconds(now)

    def close(self) -> None:
        self._redis.close()

    def _merge(self, pipe: redis.client.Pipeline, state: RateState) -> None:
        current = _from_hash(pipe.hgetall(self.key))
        merged = state if current is None else current.merge(state)
        pipe.multi()
        pipe.hset(
            self.key,
            mapping={
                "limit": merged.limit,
                "remaining": merged.remaining,
                "reset": merged.reset,
                "resource": merged.resource,
            },
        )
        pipe.expireat(self.key, merged.reset + EXPIRE_AFTER_RESET_SECONDS)

    def _redis_up(self) -> bool:
        """False for a few seconds after a failure, so an outage does not slow every request."""
        return time.monotonic() >= self._down_until

    def _degrade(self, exc: redis.RedisError) -> None:
        if not self._degraded:
            log.warning("github.rate_budget_degraded", key=self.key, error=str(exc))
        self._degraded = True
        self._down_until = time.monotonic() + RETRY_REDIS_AFTER_SECONDS

    def _recovered(self) -> None:
        if self._degraded:
            log.info("github.rate_budget_shared_again", key=self.key)
        self._degraded = False


def _from_hash(fields: Mapping[str, str]) -> RateState | None:
    try:
        return RateState(
            limit=int(fields["limit"]),
            remaining=int(fields["remaining"]),
            reset=int(fields["reset"]),
            resource=fields.get("resource", "core"),
        )
    except (KeyError, ValueError):
        return None
