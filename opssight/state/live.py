"""Live updates: one background listener per browser tab waits on the bus and refreshes views.

A view is a state class that registers the topics it shows with ``live_view`` and has
``_live_params()`` (read under the state lock: what this tab is looking at, or None when the
view is not on screen), ``_fetch(params)`` (a sync read run in a worker thread, outside the
lock) and ``_apply(data)``. Bursts of events are coalesced so each view is re-read once.
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
                    for view in views_for(topics):
                        await self._refresh(view)
        finally:
            LIVE_CLIENTS.dec()
            if _LISTENERS.get(token) is me:
                del _LISTENERS[token]

    async def _refresh(self, view: type[rx.State]) -> None:
        async with self:
            params = (await self.get_state(view))._live_params()
        if params is None:
            return
        try:
            data = await asyncio.to_thread(view._fetch, params)
        except SQLAlchemyError as exc:
            log.warning("live.refresh_failed", view=view.__name__, error=str(exc))
            return
        async with self:
            (await self.get_state(view))._apply(data)
