"""OpsSight's HTTP API (``create_api``; or the whole app, to watch its start) served by granian
in a process of its own, on a free port, for clients that live outside the test process
(ansible-playbook and its callback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support import ROOT, free_port

GRANIAN = Path(sys.executable).parent / "granian"


class ApiServer:
    """Start, stop and start again on the same port (a test takes OpsSight down and back)."""

    def __init__(
        self, env: dict[str, str], log: Path, app: str = "opssight.api:create_api", workers: int = 1
    ) -> None:
        self.app, self.workers = app, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OPSSIGHT_")} | env
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as out:
            self.process = subprocess.Popen(
                [str(GRANIAN), "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--workers", str(self.workers), self.app],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the API server exited:\n{self.log.read_text()[-3000:]}")
            try:
                httpx.get(f"{self.url}/health", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"the API server did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None
