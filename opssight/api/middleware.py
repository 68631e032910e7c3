"""Request ids, security headers and request metrics on every HTTP response, pages included."""

from __future__ import annotations

import os
import time

import httpx
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opssight.config import get_settings
from opssight.telemetry import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger("opssight.http")


def content_security_policy(github_url: str) -> str:
    """The page policy; the GitHub web origin (github.com or an Enterprise Server) may receive
    the sign-in redirect (``form-action`` covers a form's redirects) and serve avatars.

    Reflex's frontend runs server-sent client actions (toasts, scripts) through ``eval`` and
    inlines its bootstrap script, hence ``'unsafe-eval'`` and ``'unsafe-inline'``; everything
    else is this origin only.
    """
    github = str(httpx.URL(github_url).copy_with(path="/", query=None)).rstrip("/")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
            "style-src 'self' 'unsafe-inline'",
            f"img-src 'self' data: blob: https://avatars.githubusercontent.com {github}",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "frame-ancestors 'none'",
            "base-uri 'self'",
            f"form-action 'self' {github}",
            "object-src 'none'",
        ]
    )


def security_headers(github_url: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"strict-transport-security", b"max-age=31536000; includeSubDomains"),
        (b"referrer-policy", b"strict-origin-when-cross-origin"),
        (b"content-security-policy", content_security_policy(github_url).encode()),
    ]


API_PREFIXES = ("/health", "/metrics", "/api/")


def route_label(path: str) -> str:
    """Low-cardinality route label: API paths as they are, everything else is the frontend."""
    if path.startswith(API_PREFIXES):
        return path
    return "/_event" if path.startswith("/_event") else "frontend"


class HttpMiddleware:
    """Pure ASGI (websockets pass through untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = security_headers(get_settings().github_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _header(scope, b"x-request-id") or os.urandom(16).hex()
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.extend(self.headers)
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = route_label(scope["path"])
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(route).observe(elapsed)
            if status >= 500:
                log.error("http.error", path=scope["path"], status=status)
            structlog.contextvars.reset_contextvars(**bound)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")[:100]
    return None
