"""`stage run` as a performer starts it (real JACK ports, the audience service in its own
process): the console's API sees the song and its bar timing, the engine's health, and a
panic that comes back answered by the engine's outputs."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from conftest import TIMEOUT_S
from pages_support import wait_for
from test_audience_service import free_port

ROOT = Path(__file__).resolve().parents[1]


def _api(port: int, token: str, path: str, body: bytes | None = None) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body,
                                     method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=2.0) as response:
        return json.load(response)


def _token(log: Path) -> str:
    deadline = time.monotonic() + 3 * TIMEOUT_S
    while time.monotonic() < deadline:
        found = re.search(r"console token (\S+)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"stage run printed no console token: {log.read_text()[-2000:]}")


def test_stage_run_reports_health_and_music_and_obeys_the_console_panic(
        jack_server: str, tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "run.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "stage.cli", "run", "--setlist", "setlists/demo.toml",
         "--out", "pages-run-out", "--virtual", "--seconds", "20",
         "--audience-port", str(port)],
        cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        token = _token(log)
        state = wait_for(lambda: (s := _api(port, token, "/api/state"))["engine"]["health"]
                         and s["music"] and s["music"]["at"] is not None and s,
                         timeout=3 * TIMEOUT_S)
        music, health = state["music"], state["engine"]["health"]
        assert music["song"] and music["bpm"] > 0 and music["meter"] == [4, 4]
        assert health["outputs"] == ["pages-run-out"] and health["sent"] > 0
        assert health["send_ms"]["n"] > 0 and health["link"]["rtt_ms"] is not None
        assert isinstance(health["xruns"], int)  # counted on the show's JACK server
        assert _api(port, token, "/api/panic", b"{}")["engines"] == 1
        panic = wait_for(lambda: (p := _api(port, token, "/api/state")["engine"]["panic"])
                         and p.get("done_ms") and p)
        assert panic["outputs"] == 1 and panic["done_ms"] >= panic["asked_ms"]
        wait_for(lambda: _api(port, token, "/api/state")["engine"]["health"]["panics"] == 1)
    except Exception:
        print(log.read_text(errors="replace")[-3000:])  # shown by pytest on failure
        raise
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0
