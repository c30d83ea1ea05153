"""Test session fixtures: a real JACK server (dummy driver) for MIDI through real ports."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TIMEOUT_S = 10.0
"""Every wait in the tests derives from this one constant."""

ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("STAGE_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def jack_server() -> Iterator[str]:
    """A JACK dummy server of our own (unique name), realtime mode, 48 kHz / 128 frames.

    Sets JACK_DEFAULT_SERVER so every JACK client in this process (rtmidi included) uses it.
    """
    jackd = shutil.which("jackd")
    if jackd is None:
        pytest.skip("jackd is not installed (make test installs jackd2)")
    name = f"stage-test-{os.getpid()}"
    proc = subprocess.Popen(
        [jackd, "-n", name, "-R", "-d", "dummy", "-r", "48000", "-p", "128"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ.setdefault("JACK_NO_AUDIO_RESERVATION", "1")
    deadline = time.monotonic() + TIMEOUT_S
    lsp = shutil.which("jack_lsp")
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            pytest.skip(f"jackd failed to start: {err.strip()[-300:]}")
        if lsp is None:
            time.sleep(1.0)
            break
        check = subprocess.run([lsp, "-s", name], capture_output=True, text=True)
        if check.returncode == 0 and "system" in check.stdout + check.stderr:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pytest.skip("jackd did not come up in time")
        time.sleep(0.1)
    try:
        yield name
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
