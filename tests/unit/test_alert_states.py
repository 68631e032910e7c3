"""The alert state machine, every (state, observation) pair, and annotation templating."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opssight.services.alerting.history import fingerprint, render
from opssight.services.alerting.states import Observation, Snapshot, State, step

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(minutes=10)
FOR = 300.0

VALUE, ABSENT, NODATA = Observation("value", 7.0), Observation("absent"), Observation("nodata")
ERROR = Observation("error", error="parse error")

# an instance in each state, as the machine leaves it
NEVER = Snapshot()
NORMAL = Snapshot(State.NORMAL, None, None, None, 1.0)
PENDING_LONG = Snapshot(State.PENDING, T0, None, None, 3.0)  # pending for 10 minutes
PENDING_NEW = Snapshot(State.PENDING, NOW - timedelta(seconds=10), None, None, 3.0)
FIRING = Snapshot(State.FIRING, T0, T0 + timedelta(minutes=5), None, 9.0)
RESOLVED = Snapshot(State.RESOLVED, T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2))
NODATA_FIRED = Snapshot(State.NODATA, T0, T0 + timedelta(minutes=5), None, 9.0)
NODATA_PENDING = Snapshot(State.NODATA, T0, None, None, 3.0)
ERROR_FIRED = Snapshot(State.ERROR, T0, T0 + timedelta(minutes=5), None, 9.0, "down")
ERROR_NEW = Snapshot(State.ERROR, None, None, None, None, "down")


def states(prev: Snapshot, seen: Observation, for_seconds: float = FOR) -> State:
    return step(prev, seen, for_seconds=for_seconds, now=NOW).state


@pytest.mark.parametrize(
    ("prev", "value", "absent", "nodata", "error"),
    [
        (NEVER, State.PENDING, State.NORMAL, State.NORMAL, State.ERROR),
        (NORMAL, State.PENDING, State.NORMAL, State.NORMAL, State.ERROR),
        (PENDING_LONG, State.FIRING, State.NORMAL, State.NODATA, State.ERROR),
        (PENDING_NEW, State.PENDING, State.NORMAL, State.NODATA, State.ERROR),
        (FIRING, State.FIRING, State.RESOLVED, State.NODATA, State.ERROR),
        (RESOLVED, State.PENDING, State.RESOLVED, State.RESOLVED, State.ERROR),
        (NODATA_FIRED, State.FIRING, State.RESOLVED, State.NODATA, State.ERROR),
        (NODATA_PENDING, State.PENDING, State.NORMAL, State.NODATA, State.ERROR),
        (ERROR_FIRED, State.FIRING, State.RESOLVED, State.NODATA, State.ERROR),
        (ERROR_NEW, State.PENDING, State.NORMAL, State.NODATA, State.ERROR),
    ],
    ids=lambda p: p.state.value if isinstance(p, Snapshot) else None,
)
def test_every_state_and_observation(prev, value, absent, nodata, error):
    assert states(prev, VALUE) == value
    assert states(prev, ABSENT) == absent
    assert states(prev, NODATA) == nodata
    assert states(prev, ERROR) == error


def test_without_a_for_duration_a_holding_condition_fires_at_once():
    fired = step(NEVER, VALUE, for_seconds=0, now=NOW)
    assert (fired.state, fired.started_at, fired.firing_at, fired.value) == (
        State.FIRING,
        NOW,
        NOW,
        7.0,
    )
    again = step(RESOLVED, VALUE, for_seconds=0, now=NOW)
    assert (again.state, again.firing_at, again.resolved_at) == (State.FIRING, NOW, None)


def test_pending_keeps_its_start_and_fires_exactly_at_the_for_duration():
    pending = step(NEVER, VALUE, for_seconds=FOR, now=T0)
    assert (pending.state, pending.started_at) == (State.PENDING, T0)
    almost = step(pending, VALUE, for_seconds=FOR, now=T0 + timedelta(seconds=299))
    assert (almost.state, almost.started_at) == (State.PENDING, T0)
    fired = step(almost, VALUE, for_seconds=FOR, now=T0 + timedelta(seconds=300))
    assert (fired.state, fired.started_at, fired.firing_at) == (
        State.FIRING,
        T0,
        T0 + timedelta(seconds=300),
    )


def test_resolution_keeps_the_episode_times_and_records_when():
    resolved = step(FIRING, ABSENT, for_seconds=FOR, now=NOW)
    assert (resolved.started_at, resolved.firing_at, resolved.resolved_at) == (
        T0,
        FIRING.firing_at,
        NOW,
    )
    assert not resolved.was_firing


def test_an_error_keeps_the_message_and_a_firing_instance_keeps_its_firing_time():
    failed = step(FIRING, ERROR, for_seconds=FOR, now=NOW)
    assert (failed.state, failed.error, failed.firing_at) == (
        State.ERROR,
        "parse error",
        FIRING.firing_at,
    )
    back = step(failed, VALUE, for_seconds=FOR, now=NOW)
    assert (back.state, back.error, back.firing_at) == (State.FIRING, None, FIRING.firing_at)


def test_a_new_pending_after_an_old_resolution_is_not_firing():
    pending = step(RESOLVED, VALUE, for_seconds=FOR, now=NOW)
    assert pending.state == State.PENDING and pending.started_at == NOW
    assert not pending.was_firing


def test_annotations_are_rendered_with_labels_and_value():
    rendered = render(
        {"summary": "{{ $labels.instance }} at {{$value}}", "missing": "[{{ $labels.nope }}]"},
        {"instance": "web-1"},
        0.25,
    )
    assert rendered == {"summary": "web-1 at 0.25", "missing": "[]"}
    assert render({"v": "{{ $value }}"}, {}, None) == {"v": ""}


def test_fingerprints_ignore_label_order_and_differ_by_scope():
    assert fingerprint("1", {"a": "x", "b": "y"}) == fingerprint("1", {"b": "y", "a": "x"})
    assert fingerprint("1", {"a": "x"}) != fingerprint("2", {"a": "x"})
