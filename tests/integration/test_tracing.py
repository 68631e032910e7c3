"""OpenTelemetry traces: with ``OPSSIGHT_OTEL_EXPORTER_OTLP_ENDPOINT`` set, a local collector
receives OTLP/HTTP protobuf spans of HTTP requests (served by granian, as in production) and of
job passes; unset, nothing is sent and the SDK is never imported."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from opssight import tracing
from opssight.api.auth import STATE_COOKIE
from opssight.config import get_settings
from tests.api_server import ApiServer
from tests.support import free_port


def _value(value: AnyValue) -> object:
    return getattr(value, value.WhichOneof("value")) if value.WhichOneof("value") else None


class Collector:
    """An OTLP/HTTP receiver: every POST to /v1/traces, decoded, with its content type."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, ExportTraceServiceRequest]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/v1/traces":
                    export = ExportTraceServiceRequest.FromString(body)
                    collector.requests.append((self.headers["Content-Type"], export))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def spans(self) -> list[tuple[dict[str, object], Span]]:
        """(resource attributes, span) of every span received."""
        found = []
        for _, export in self.requests:
            for resource_spans in export.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope_spans.spans]
        return found

    def wait_for(self, name: str, timeout: float = 15.0) -> tuple[dict[str, object], Span]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for resource, span in self.spans():
                if span.name == name:
                    return resource, span
            time.sleep(0.1)
        raise AssertionError(f"no span {name!r}; got {[s.name for _, s in self.spans()]}")


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    yield receiver
    receiver.server.shutdown()


def _attributes(span: Span) -> dict[str, object]:
    return {a.key: _value(a.value) for a in span.attributes}


def _serve(tmp_path: Path, **env: str) -> ApiServer:
    env = {"OPSSIGHT_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}", **env}
    server = ApiServer(env | {"OTEL_BSP_SCHEDULE_DELAY": "100"}, tmp_path / "api.log")
    server.start()
    return server


def test_http_requests_are_traced_to_the_collector(tmp_path: Path, collector: Collector) -> None:
    server = _serve(
        tmp_path,
        OPSSIGHT_OTEL_EXPORTER_OTLP_ENDPOINT=f"{collector.url}/",
        OPSSIGHT_OTEL_SERVICE_NAME="opssight-test",
    )
    try:
        response = httpx.get(f"{server.url}/health?code=oauth-secret")
        assert response.status_code == 200
        assert httpx.get(f"{server.url}/no-such-page").status_code == 404
        # the app still reads its query string: a refused GitHub sign-in says why
        callback = httpx.get(
            f"{server.url}/api/auth/github/callback?state=s1&error=access_denied",
            cookies={STATE_COOKIE: "s1./"},
        )
        assert callback.headers["location"] == "/login?error=denied"
        resource, span = collector.wait_for("GET /health")
        collector.wait_for("GET frontend")  # named like the metrics' route label
    finally:
        server.stop()
    assert collector.requests[0][0] == "application/x-protobuf"
    assert resource["service.name"] == "opssight-test"
    assert span.kind == Span.SpanKind.SPAN_KIND_SERVER
    attributes = _attributes(span)
    assert attributes.get("http.method", attributes.get("http.request.method")) == "GET"
    status = attributes.get("http.status_code", attributes.get("http.response.status_code"))
    assert status == 200
    assert "/health" in str(attributes.get("http.target", attributes.get("url.path")))
    everything = repr([_attributes(s) for _, s in collector.spans()])
    assert "oauth-secret" not in everything, "query strings stay out of traces"
    assert "access_denied" not in everything


def test_nothing_is_sent_when_the_endpoint_is_unset(tmp_path: Path, collector: Collector) -> None:
    server = _serve(tmp_path)
    try:
        for _ in range(3):
            assert httpx.get(f"{server.url}/health").status_code == 200
        time.sleep(1.0)  # ten export intervals, were an exporter there
    finally:
        server.stop()
    assert collector.requests == []


def test_the_tracing_sdk_is_not_imported_when_off() -> None:
    """(redis-py imports the SDK's metrics part itself when it is installed.)"""
    ours = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation")
    probe = (
        "import sys; from opssight.api import create_api; create_api(); "
        "import opssight.jobs.runner; from opssight import tracing; "
        "print(tracing.span('x') is tracing.span('y'), "
        f"any(m.startswith({ours!r}) for m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]


def test_job_passes_and_their_failures_are_spans(
    monkeypatch: pytest.MonkeyPatch, collector: Collector
) -> None:
    monkeypatch.setattr(tracing, "_provider", None)
    monkeypatch.setattr(tracing, "_tracer", None)
    monkeypatch.setenv("OPSSIGHT_OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    get_settings.cache_clear()
    assert tracing.configure(get_settings())
    try:
        with (
            tracing.span("job github.sync"),
            tracing.span("github.sync.repository", repository="octo-org/api"),
        ):
            pass
        with pytest.raises(RuntimeError), tracing.span("job retention"):
            raise RuntimeError("database away")
        tracing.flush()
    finally:
        provider = tracing.provider()
        assert provider is not None
        provider.shutdown()
    _, job = collector.wait_for("job github.sync")
    _, repository = collector.wait_for("github.sync.repository")
    assert repository.parent_span_id == job.span_id
    assert repository.trace_id == job.trace_id
    assert _attributes(repository) == {"repository": "octo-org/api"}
    _, failed = collector.wait_for("job retention")
    assert failed.status.code == Status.StatusCode.STATUS_CODE_ERROR
    assert [event.name for event in failed.events] == ["exception"]


def test_a_bad_endpoint_stops_the_start_with_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "OPSSIGHT_DATA_DIR": str(tmp_path),
        "OPSSIGHT_OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318",
    }
    done = subprocess.run(
        [sys.executable, "-m", "opssight.cli", "migrate"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "opssight: configuration error: OPSSIGHT_OTEL_EXPORTER_OTLP_ENDPOINT: "
        "must start with http:// or https://"
    ]
