"""Rate limits on the public doors (``services.request_limits``), before any route work.

Ingest (GitHub and Alertmanager webhooks, the Ansible callback) and sign-in (password and
GitHub sign-in, the OAuth callback, ``/api/auth/me``) have a limit each, per client address:
``OPSSIGHT_RATE_LIMIT_WEBHOOKS_PER_MINUTE`` and ``OPSSIGHT_RATE_LIMIT_PER_MINUTE``. Beyond it: 429
with ``Retry-After``, or for a browser navigation a redirect to the sign-in page saying so.
Other paths pass through at the cost of one dict lookup.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from opssight.config import get_settings
from opssight.services.auth.navigation import LOGIN_PAGE
from opssight.services.request_limits import Limiter

INGEST = ("/api/webhooks/github", "/api/webhooks/alertmanager", "/api/automation/events")
SIGN_IN = (
    "/api/auth/login", "/api/auth/github/login", "/api/auth/github/callback", "/api/auth/me",
)  # fmt: skip
CODE = "rate_limited"


def client_address(scope: Scope, proxy_hops: int) -> str:
    """The peer's address, or behind ``proxy_hops`` proxies the one they saw (X-Forwarded-For)."""
    peer = scope.get("client")
    address = peer[0] if peer else "unknown"
    if proxy_hops:
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops = [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
                if hops:
                    address = hops[max(0, len(hops) - proxy_hops)]
    return address[:64]


def _wants_html(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"accept":
            return b"text/html" in value
    return False


class RateLimitMiddleware:
    """Pure ASGI; one ``Limiter`` per door group and app (per worker)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        settings = get_settings()
        self.proxy_hops = settings.proxy_hops
        self.limiters: dict[str, Limiter] = {}
        groups = (
            ("ingest", INGEST, settings.rate_limit_webhooks_per_minute),
            ("sign-in", SIGN_IN, settings.rate_limit_per_minute),
        )
        for name, paths, limit in groups:
            if limit:
                limiter = Limiter(name, limit, settings.redis_url)
                self.limiters.update(dict.fromkeys(paths, limiter))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self.limiters.get(scope["path"]) if scope["type"] == "http" else None
        if limiter is None:
            await self.app(scope, receive, send)
            return
        client = client_address(scope, self.proxy_hops)
        retry_after = limiter.check(client)
        if retry_after is None:
            retry_after = await limiter.check_shared(client)
        if not retry_after:
            await self.app(scope, receive, send)
            return
        headers = [(b"retry-after", str(retry_after).encode())]
        if limiter.name == "sign-in" and _wants_html(scope):
            status, body = 303, b""
            headers.append((b"location", f"{LOGIN_PAGE}?error={CODE}".encode()))
        else:
            status = 429
            detail = f"more than {limiter.limit} requests a minute from {client}; retry later"
            body = json.dumps({"result": CODE, "detail": detail}).encode()
            headers.append((b"content-type", b"application/json"))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
