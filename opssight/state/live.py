"""Live updates: one background listener per browser tab waits on the bus and refreshes views.

A view is a state class that registers the topics it shows with ``live_view`` and has
``_live_params()`` (read under the state lock: what this tab is looking at, or None when the
view is not on screen; compared with ``==``), ``_fetch(params)`` (a sync read run in a worker
thread, outside the lock) and ``_apply(data)``. Bursts of events are coalesced so each view is
re-read once.

Each state lock is a round trip of the tab's state through Reflex's state manager (with Redis:
lock, load and unpickle the states read, save, unlock), the bulk of a worker's CPU per tab and
event with many tabs (bench/live_clients.py). So a listener takes it once per event: it fetches each view
for the params that view had at its last refresh, then reads the current params and applies the
data only where they are still the same; a view whose params changed is fetched again and
applied under a second lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

import reflex as rx
import structlog
from reflex.utils.prerequisites import get_app
from sqlalchemy.exc import SQLAlchemyError

from opssight.events import get_bus
from opssight.state.session import principal, protected
from opssight.telemetry import LIVE_CLIENTS

log = structlog.get_logger(__name__)

COALESCE_SECONDS = 0.05
CHECK_SECONDS = 15.0  # a quiet listener checks this often that its tab and session are still there
_VIEWS: dict[str, list[type[rx.State]]] = {}
_LISTENERS: dict[str, asyncio.Task[Any]] = {}
FAILED: Any = object()  # a view's read that failed (logged): nothing to apply


class LiveView(Protocol):
    def _live_params(self) -> Any: ...

    @staticmethod
    def _fetch(params: Any) -> Any: ...

    def _apply(self, data: Any) -> None: ...


def live_view(*topics: str):
    """Class decorator: refresh this state whenever one of ``topics`` is published."""

    def register(cls: type[rx.State]) -> type[rx.State]:
        for topic in topics:
            _VIEWS.setdefault(topic, []).append(cls)
        return cls

    return register


def views_for(topics: Iterable[str]) -> list[type[rx.State]]:
    found: list[type[rx.State]] = []
    for topic in topics:
        for wanted, views in _VIEWS.items():
            if topic == wanted or topic.startswith(wanted + "."):
                found.extend(v for v in views if v not in found)
    return found


def _connected(token: str) -> bool:
    """Whether this worker still holds the tab's socket (a forged or orphaned listener stops)."""
    namespace = get_app().app.event_namespace
    return namespace is None or token in namespace.token_to_sid


class LiveState(rx.State):
    @rx.event(background=True)
    @protected("read")
    async def start(self) -> None:
        """Started by every page's on_load; the newest listener of a tab replaces older ones.

        The caller is checked again before each refresh: a session revoked meanwhile stops it.
        """
        token = self.router.session.client_token
        me = asyncio.current_task()
        previous = _LISTENERS.get(token)
        if previous is not None and previous is not me and not previous.done():
            previous.cancel()
        _LISTENERS[token] = me
        LIVE_CLIENTS.inc()
        shown: dict[type[rx.State], Any] = {}  # each view's params at its last refresh
        try:
            async with get_bus().subscribe(*_VIEWS) as subscription:
                queue = subscription.queue
                while True:
                    try:
                        topics = {(await asyncio.wait_for(queue.get(), CHECK_SECONDS)).topic}
                    except TimeoutError:
                        topics = set()
                    await asyncio.sleep(COALESCE_SECONDS)
                    while not queue.empty():
                        topics.add(queue.get_nowait().topic)
                    if not _connected(token):
                        log.info("live.stopped", reason="tab disconnected")
                        return
                    who = await principal(self)
                    if who is None or "read" not in who.permissions:
                        log.info("live.stopped", reason="session ended")
                        return
                    if views := views_for(topics):
                        await self._refresh(views, shown)
        finally:
            LIVE_CLIENTS.dec()
            if _LISTENERS.get(token) is me:
                del _LISTENERS[token]

    async def _refresh(self, views: list[type[rx.State]], shown: dict[type[rx.State], Any]) -> None:
        """Re-read ``views``: fetched for their ``shown`` params, applied in one state lock where
        those still hold; the others fetched for their current params and applied in a second."""
        fetched = {
            view: (params, await _read(view, params))
            for view in views
            if (params := shown.get(view)) is not None
        }
        changed: dict[type[rx.State], Any] = {}
        async with self:
            for view in views:
                state = await self.get_state(view)
                params = shown[view] = state._live_params()
                if params is None:
                    continue
                if view not in fetched or fetched[view][0] != params:
                    changed[view] = params
                elif (data := fetched[view][1]) is not FAILED:
                    state._apply(data)
        if not changed:
            return
        fetched = {view: (params, await _read(view, params)) for view, params in changed.items()}
        async with self:
            for view, (params, data) in fetched.items():
                state = await self.get_state(view)
                if data is not FAILED and state._live_params() == params:
                    state._apply(data)


async def _read(view: type[rx.State], params: Any) -> Any:
    """``view._fetch(params)`` in a worker thread, or ``FAILED`` (logged) if the database failed."""
    try:
        return await asyncio.to_thread(view._fetch, params)
    except SQLAlchemyError as exc:
        log.warning("live.refresh_failed", view=view.__name__, error=str(exc))
        return FAILED
