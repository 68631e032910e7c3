"""A real Prometheus on loopback scraping a tiny exporter the test controls.

``prometheus_server`` starts Debian's ``prometheus`` with its own config and data directory,
scraping (every second) an exporter that serves the Prometheus text format: gauges the test sets
with ``exporter.set(name, value, **labels)``, plus the usual golden-signal metric names. It waits
for ``/-/ready`` and for the exporter's first scrape, and skips (fails under CI) when the binary
is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, missing_service, reset_caches

PROMETHEUS = "/usr/bin/prometheus"
START_TIMEOUT = 60.0

# Present from the start so golden-signal detection has something to find.
GOLDEN_SERIES = """\
# TYPE http_requests_total counter
http_requests_total{code="200",handler="/api"} 120
http_requests_total{code="500",handler="/api"} 3
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{handler="/api",le="0.1"} 100
http_request_duration_seconds_bucket{handler="/api",le="1"} 120
http_request_duration_seconds_bucket{handler="/api",le="+Inf"} 123
http_request_duration_seconds_sum{handler="/api"} 14.5
http_request_duration_seconds_count{handler="/api"} 123
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 4.2
"""


class Exporter:
    """A stdlib HTTP server answering ``/metrics`` with the gauges set so far."""

    def __init__(self) -> None:
        self._gauges: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = exporter.render().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.address = f"127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def set(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(labels.items())))] = value

    def render(self) -> str:
        with self._lock:
            gauges = dict(self._gauges)
        lines = [GOLDEN_SERIES]
        for (name, labels), value in sorted(gauges.items()):
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value}\n" if labels else f"{name} {value}\n")
        return "".join(lines)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class PrometheusServer:
    url: str
    exporter: Exporter
    version: str


def _wait_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                up = httpx.get(f"{url}/api/v1/query", params={"query": "up"}, timeout=2).json()
                if up["data"]["result"]:  # the exporter was scraped once
                    return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready after {START_TIMEOUT}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """Prometheus on 127.0.0.1 (its own config and data dir) scraping the test's exporter."""
    binary = shutil.which("prometheus") or (PROMETHEUS if Path(PROMETHEUS).exists() else None)
    if binary is None:
        missing_service(
            f"The `prometheus` binary is needed ({PROMETHEUS}; Debian package `prometheus`)"
        )
    exporter = Exporter()
    home = tmp_path_factory.mktemp("prometheus")
    config = home / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: exporter\n"
        f"    static_configs:\n      - targets: ['{exporter.address}']\n"
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = home / "prometheus.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={home / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-lifecycle"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        _wait_ready(url, process, log)
        info = httpx.get(f"{url}/api/v1/status/buildinfo", timeout=2).json()
        yield PrometheusServer(url, exporter, info["data"]["version"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        exporter.close()


@pytest.fixture
def prometheus(
    prometheus_server: PrometheusServer, monkeypatch: pytest.MonkeyPatch, settings_database: None
) -> PrometheusServer:
    """Settings with two sources: the real server (``local``, the first) and one nothing
    listens on (``gone``)."""
    gone = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OPSSIGHT_PROMETHEUS_URL", f"local={prometheus_server.url},gone={gone}")
    monkeypatch.setenv("OPSSIGHT_PROMETHEUS_TIMEOUT_SECONDS", "2")
    reset_caches()
    return prometheus_server
