"""Helpers shared by the test fixtures: service checks, free ports, a private redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from opssight import db, events
from opssight.config import get_settings
from opssight.services import cache, source_config

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_service(message: str) -> None:
    """Skip locally, fail under CI: a CI run must never silently test less."""
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(
    url: str,
    process: subprocess.Popen,
    log: Path | None = None,
    *,
    timeout: float,
    path: str = "/ping",
) -> None:
    """Poll ``url + path`` until it answers 200; RuntimeError (with the end of ``log``) if the
    process exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text()[-4000:] if log else ""
            raise RuntimeError(f"{url} exited ({process.returncode}):\n{tail}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tail = log.read_text()[-4000:] if log else ""
    raise RuntimeError(f"{url}{path} did not answer within {timeout:.0f} s:\n{tail}")


def reset_caches() -> None:
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    events.get_bus.cache_clear()
    source_config.invalidate()
    cache.get_cache.cache_clear()


class RedisProcess:
    """A private redis-server on a free port, which a test may stop and start again."""

    def __init__(self, binary: str, port: int) -> None:
        self.binary, self.port = binary, port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.2).ping()
                return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def private_redis_server(purpose: str) -> Iterator[RedisProcess]:
    """A redis-server of the test's own, stopped at the end."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service(f"redis-server is needed on PATH {purpose}")
    server = RedisProcess(binary, free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()
