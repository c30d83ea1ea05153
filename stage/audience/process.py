"""Start the audience service as a child process (what ``stage run``/``stage demo`` do),
so phones never share a process with the real-time loop."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0


@dataclass
class ServiceHandle:
    """A running audience service: its URLs, its token and a clean ``stop()``."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    token: str
    show_id: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def engine_url(self) -> str:
        return f"ws://{self.host}:{self.port}/engine"

    @property
    def join_url(self) -> str:
        return f"{self.base_url}/?show={self.show_id}"

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(f"{self.base_url}/health", timeout=1.0) as response:
                data: dict[str, object] = json.load(response)
                return data
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout_s: float = 5.0) -> int:
        """SIGTERM (the service closes its sockets), then SIGKILL past ``timeout_s``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def __enter__(self) -> ServiceHandle:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_service_process(host: str, port: int, token: str, show_id: str, *,
                          redis_url: str | None = None, workers: int = 1,
                          public_url: str | None = None, role: str = "leader",
                          secret_hex: str | None = None, log_path: Path | None = None,
                          wait: bool = True) -> ServiceHandle:
    """Run ``stage audience`` in a child process; with ``wait``, return once it answers."""
    command = [sys.executable, "-m", "stage.cli", "audience", "--host", host, "--port",
               str(port), "--token", token, "--show-id", show_id, "--workers", str(workers),
               "--role", role]
    if redis_url:
        command += ["--redis", redis_url]
    if public_url:
        command += ["--public-url", public_url]
    env = dict(os.environ)
    if secret_hex:
        env["STAGE_AUDIENCE_SECRET"] = secret_hex
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    handle = ServiceHandle(process, host, port, token, show_id)
    if wait:
        deadline = time.monotonic() + START_TIMEOUT_S
        while handle.health() is None:
            if process.poll() is not None or time.monotonic() > deadline:
                handle.stop()
                raise RuntimeError(f"audience service did not start on {host}:{port}")
            time.sleep(0.05)
    return handle
