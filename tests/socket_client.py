"""A Reflex client without a browser: connects to ``/_event`` as the frontend does and sends any
event by name (for the forged-event tests).

The frontend opens a Socket.IO websocket at ``/_event`` (namespace ``/_event``) with its tab
token in ``?token=``, puts its ``<root state>.hydrate_and_load`` event in the CONNECT packet, and
then emits ``"event"`` messages ``{name, payload, router_data}``. The backend answers with
``"event"`` messages ``{delta, events}`` and no final marker, so replies are collected until the
socket has been quiet for a while.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import socketio

NAMESPACE = "/_event"
ROOT_STATE = "reflex___state____state"


@dataclass
class Replies:
    """What the backend sent back for one event."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def events(self) -> list[dict[str, Any]]:
        return [e for m in self.messages for e in (m.get("events") or [])]

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [m["delta"] for m in self.messages if m.get("delta")]

    def state_vars(self, state: str) -> dict[str, Any]:
        """Every value sent for ``state`` (its full name), later deltas winning."""
        merged: dict[str, Any] = {}
        for delta in self.deltas:
            merged.update(delta.get(state) or {})
        return merged

    def redirects(self) -> list[str]:
        return [
            str((e.get("payload") or {}).get("path"))
            for e in self.events
            if e.get("name") == "_redirect"
        ]

    def mentions(self, text: str) -> bool:
        """``text`` appears in one of the events (a toast's message, say)."""
        return any(text in repr(e) for e in self.events)


class SocketClient:
    """One browser tab: its own token (so its own state), an optional Cookie header."""

    def __init__(self, url: str, *, cookie: str | None = None, pathname: str = "/") -> None:
        self.url, self.cookie, self.pathname = url.rstrip("/"), cookie, pathname
        self.token = str(uuid.uuid4())
        self.sio = socketio.AsyncClient(reconnection=False)
        self._inbox: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._last = time.monotonic()
        self.hydrated = Replies()
        self.sio.on("event", self._receive, namespace=NAMESPACE)

    async def _receive(self, data: Any) -> None:
        if isinstance(data, dict):
            self._inbox.append(data)
        self._last = time.monotonic()
        self._arrived.set()

    def router_data(self) -> dict[str, Any]:
        return {"pathname": self.pathname, "asPath": self.pathname, "query": {}}

    def event(self, name: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": name, "payload": payload or {}, "router_data": self.router_data()}

    async def connect(self, *, quiet: float = 1.0, timeout: float = 15.0) -> Replies:
        """Connect with the hydrate event in the CONNECT packet; the hydrate's replies."""
        headers = {"Origin": self.url}
        if self.cookie:
            headers["Cookie"] = self.cookie
        await self.sio.connect(
            f"{self.url}?token={self.token}",
            headers=headers,
            transports=["websocket"],
            socketio_path="/_event",
            namespaces=[NAMESPACE],
            auth={"event": self.event(f"{ROOT_STATE}.hydrate_and_load")},
            wait_timeout=timeout,
        )
        self.hydrated = await self._collect(0, quiet=quiet, timeout=timeout)
        return self.hydrated

    async def send(
        self, name: str, payload: dict[str, Any] | None = None, *, quiet: float = 1.2,
        timeout: float = 15.0, until: Callable[[Replies], bool] | None = None,
    ) -> Replies:  # fmt: skip
        """Emit one event; everything received until ``quiet`` seconds pass without a message
        (and, with ``until``, not before the replies satisfy it, however slow the server)."""
        start = len(self._inbox)
        await self.sio.emit("event", self.event(name, payload), namespace=NAMESPACE)
        return await self._collect(start, quiet=quiet, timeout=timeout, until=until)

    async def _collect(
        self, start: int, *, quiet: float, timeout: float,
        until: Callable[[Replies], bool] | None = None,
    ) -> Replies:  # fmt: skip
        began = time.monotonic()
        deadline = began + timeout
        while (now := time.monotonic()) < deadline:
            if until is not None and not until(Replies(list(self._inbox[start:]))):
                pass  # what is awaited has not come yet
            elif len(self._inbox) > start:
                if now - max(self._last, began) >= quiet:
                    break
            elif now - began >= 3 * quiet + 2:
                break  # nothing at all came back
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=quiet / 4)
        return Replies(list(self._inbox[start:]))

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()

    async def __aenter__(self) -> SocketClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
