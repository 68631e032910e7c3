"""The alert state machine: one pure function from (what was, what the query saw, now) to what is.

Normal → Pending (the condition holds, waiting for the rule's for-duration) → Firing → Resolved
(the condition stopped holding). NoData: the query returned nothing for a rule that had active
series; Error: the query failed (bad PromQL, unreachable source), with the message. An instance
that comes back from NoData or Error to a holding condition returns to Firing if it was firing
and never resolved, else it starts pending again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal


class State(StrEnum):
    NORMAL = "Normal"
    PENDING = "Pending"
    FIRING = "Firing"
    RESOLVED = "Resolved"
    NODATA = "NoData"
    ERROR = "Error"


ACTIVE = frozenset({State.PENDING, State.FIRING, State.NODATA, State.ERROR})
"""States in which an instance is still followed (not Normal or Resolved)."""


@dataclass(frozen=True)
class Snapshot:
    """An instance's state and the times of its current episode."""

    state: State = State.NORMAL
    started_at: datetime | None = None
    firing_at: datetime | None = None
    resolved_at: datetime | None = None
    value: float | None = None
    error: str | None = None

    @property
    def was_firing(self) -> bool:
        """Fired in this episode and not resolved since (kept through NoData and Error)."""
        return self.firing_at is not None and (
            self.resolved_at is None or self.resolved_at < self.firing_at
        )


@dataclass(frozen=True)
class Observation:
    """What one evaluation saw for an instance: its series with ``value``, the series
    ``absent`` from a non-empty result, ``nodata`` (an empty result), or an ``error``."""

    kind: Literal["value", "absent", "nodata", "error"]
    value: float | None = None
    error: str | None = None


def step(prev: Snapshot, seen: Observation, *, for_seconds: float, now: datetime) -> Snapshot:
    """The instance's next snapshot. ``prev`` is ``Snapshot()`` for an instance never seen."""
    if seen.kind == "error":
        return replace(prev, state=State.ERROR, error=seen.error)
    if seen.kind == "nodata":
        if prev.state in ACTIVE:
            return replace(prev, state=State.NODATA, error=None)
        return prev
    if seen.kind == "absent":
        if prev.was_firing and prev.state in ACTIVE:
            return replace(prev, state=State.RESOLVED, resolved_at=now, error=None)
        if prev.state in ACTIVE:
            return replace(prev, state=State.NORMAL, started_at=None, error=None)
        return prev
    # the condition holds
    if prev.state in ACTIVE and prev.was_firing:
        return replace(prev, state=State.FIRING, value=seen.value, error=None)
    started = prev.started_at if prev.state == State.PENDING else now
    assert started is not None
    if now - started >= timedelta(seconds=for_seconds):
        return Snapshot(State.FIRING, started, now, None, seen.value)
    return Snapshot(State.PENDING, started, prev.firing_at, prev.resolved_at, seen.value)
