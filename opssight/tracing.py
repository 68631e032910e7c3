"""Optional OpenTelemetry traces, sent over OTLP/HTTP to ``OPSSIGHT_OTEL_EXPORTER_OTLP_ENDPOINT``.

Off while the variable is unset: then nothing from the OpenTelemetry SDK is imported and
``span`` returns a shared no-op context. When on (the ``otel`` extra installed), each process
has a tracer provider with a batching OTLP/HTTP exporter; ``HttpTracing`` opens a server span
per HTTP request and ``span`` an internal span (job passes, GitHub sync). The exporter also
reads the standard ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*`` and ``OTEL_TRACES_SAMPLER``
variables.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import AsyncIterator, Callable
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Receive, Scope, Send

from opssight.config import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
_QUERY = "opssight.query_string"
_NO_SPAN = contextlib.nullcontext()

_provider: TracerProvider | None = None
_tracer: Tracer | None = None


def installed() -> bool:
    """The ``otel`` extra is importable (checked without importing it)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in MODULES)
    except ModuleNotFoundError:  # a parent package is missing
        return False


def configure(settings: Settings) -> bool:
    """Install this process's tracer provider when an endpoint is set (once); whether on."""
    global _provider, _tracer
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint is None or _provider is not None:
        return _provider is not None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": settings.otel_service_name, "service.version": version("opssight")}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{endpoint}/v1/traces")))
    _provider, _tracer = provider, provider.get_tracer("opssight")
    return True


def provider() -> TracerProvider | None:
    return _provider


def span(name: str, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """An internal span around a block (its exception recorded), or nothing when off."""
    if _tracer is None:
        return _NO_SPAN
    return _tracer.start_as_current_span(name, attributes=attributes)


def flush() -> None:
    """Send the spans still queued (worker processes exit without running atexit hooks)."""
    if _provider is not None:
        _provider.force_flush()


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """A lifespan task: flush when the worker stops."""
    try:
        yield
    finally:
        flush()


class HttpTracing:
    """A server span per HTTP request (OpenTelemetry's ASGI middleware), named by
    ``route_name(path)``. Websockets pass untouched; query strings stay out of the span (an
    OAuth callback carries its code there) but reach the app."""

    def __init__(self, app: ASGIApp, route_name: Callable[[str], str]) -> None:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        def details(scope: Scope) -> tuple[str, dict[str, str]]:
            return f"{scope.get('method', 'HTTP')} {route_name(scope['path'])}", {}

        async def with_query(scope: Scope, receive: Receive, send: Send) -> None:
            await app({**scope, "query_string": scope[_QUERY]}, receive, send)

        self.app = app
        self.traced = OpenTelemetryMiddleware(
            with_query,
            default_span_details=details,
            tracer_provider=_provider,
            exclude_spans=["receive", "send"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hidden = {**scope, "query_string": b"", _QUERY: scope.get("query_string", b"")}
        await self.traced(hidden, receive, send)
